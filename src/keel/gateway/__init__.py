"""The agent gateway: sensitive data in tool calls, each call's verdict, the MCP proxy.

``detectors``, ``screening``, ``calls``, ``upstreams`` and ``duplicates`` are pure
computation. ``proxy`` talks MCP (the official SDK) to the agent and to the real servers, and
is handed what it needs from the store (how to record a call, where approvals wait): the
service layer loads the agent, records, and serves (``keel gateway``,
``POST /v1/agents/{agent}/tool-calls:check``). ``bank_tools`` is the demo's MCP server.
"""
