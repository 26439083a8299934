"""The agent gateway's checks: sensitive data in tool calls, and each call's verdict.

Pure computation: the service layer loads the agent, records the verdicts in the ledger and
serves them (``POST /v1/agents/{agent}/tool-calls:check``).
"""
