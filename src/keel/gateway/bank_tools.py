"""A small real MCP server of bank tools, for the demo and the tests.

It holds three made-up customers and offers the tools the demo's agents are granted:
``crm-read`` (a customer's record, with a card and a phone number), ``sanctions-screening``,
``case-create``, ``ticket-update``, ``web-search`` and ``spreadsheet-write``, plus
``email-send``, which no agent is granted. Nothing leaves the process: ``web-search`` and
``email-send`` only say what they would have sent.

Run it over stdio with ``python -m keel.gateway.bank_tools``, or over streamable HTTP with
``python -m keel.gateway.bank_tools --http PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

from mcp.server import MCPServer

CUSTOMERS: dict[str, dict[str, str]] = {
    "C-1001": {
        "name": "Marta Nowak",
        "country": "PL",
        "phone": "+48 601 234 567",
        "card": "4111 1111 1111 1111",
        "segment": "retail",
    },
    "C-1002": {
        "name": "Wei Zhang",
        "country": "CN",
        "phone": "+86 138 0013 8000",
        "card": "5555 5555 5555 4444",
        "segment": "private",
    },
    "C-1003": {
        "name": "Jonas Berg",
        "country": "DE",
        "phone": "+49 30 901820",
        "card": "3782 822463 10005",
        "segment": "retail",
    },
}
SANCTIONED = {"Ivan Sanctioned"}

server = MCPServer("keel-bank-tools", log_level="WARNING")
_cases: list[dict[str, str]] = []


@server.tool(name="crm-read")
def crm_read(customer_id: str) -> dict[str, Any]:
    """A customer's record by id (C-1001, C-1002, C-1003)."""
    found = CUSTOMERS.get(customer_id)
    if found is None:
        return {"error": f"no customer {customer_id}"}
    return {"id": customer_id, **found}


@server.tool(name="sanctions-screening")
def sanctions_screening(name: str) -> dict[str, Any]:
    """Whether a name is on the sanctions list."""
    return {"name": name, "listed": name in SANCTIONED}


@server.tool(name="case-create")
def case_create(customer_id: str, note: str) -> dict[str, Any]:
    """Open a review case on a customer."""
    _cases.append({"customer_id": customer_id, "note": note})
    return {"case": f"CASE-{len(_cases):04d}", "customer_id": customer_id}


@server.tool(name="ticket-update")
def ticket_update(ticket: str, comment: str) -> dict[str, Any]:
    """Add a comment to a service ticket."""
    return {"ticket": ticket, "comments": 1, "last": comment[:200]}


@server.tool(name="web-search")
def web_search(query: str) -> dict[str, Any]:
    """Search the web (here: says what would have been sent)."""
    return {"query": query, "results": [], "sent_to": "search.example.com"}


@server.tool(name="spreadsheet-write")
def spreadsheet_write(sheet: str, cell: str, value: str) -> dict[str, Any]:
    """Write one cell of a team spreadsheet."""
    return {"sheet": sheet, "cell": cell, "written": len(value)}


@server.tool(name="email-send")
def email_send(to: str, body: str) -> dict[str, Any]:
    """Send an e-mail (here: says what would have been sent)."""
    return {"to": to, "bytes": len(body), "sent": False}


def main(argv: list[str]) -> None:
    """Serve over stdio, or over streamable HTTP on loopback with ``--http PORT``."""
    if argv[:1] == ["--http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
