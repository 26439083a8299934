"""The demo's model server, run for real: uvicorn on loopback, decisions recorded to a workspace.

:func:`serve_and_score` trains the demo's credit model, serves it with uvicorn on a free
loopback port (the app records each decision through :class:`keel.decisions.Recorder`, into
this workspace), sends it applications over HTTP as customers would, then stops the server and
flushes the recorder.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keel.decisions import Recorder, input_digest, instant
from keel.decisions.scoring import scoring_app, train
from keel.errors import KeelError
from keel.service import decisions
from keel.service.workspace import Workspace

MODEL = "credit-scoring@3.1"
WORKLOAD = "credit-decision-api"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Scored:
    """What the demo's model server decided.

    Attributes:
        url: Where it was served.
        decisions: Decisions per outcome, as the clients saw them.
        recorded: Records the recorder sent to the workspace.
        customers: The customers' identifiers, in the order they first applied.
    """

    url: str
    decisions: Counter[str]
    recorded: int
    customers: list[str]


class _WorkspaceSink:
    """The recorder's sink: the workspace's decision service, acting as the model server."""

    def __init__(self, workspace: Workspace, principal: str) -> None:
        self.workspace = workspace
        self.principal = principal

    def record_decisions(self, records: list[dict[str, Any]]) -> decisions.Recorded:
        return decisions.record(self.workspace, records, actor=self.principal)


def serve_and_score(
    workspace: Workspace, *, principal: str, applications: int = 200, customers: int = 40
) -> Scored:
    """Serve the demo model on loopback and send it applications.

    Args:
        workspace: Where the decisions are recorded.
        principal: Who the model server records as.
        applications: Applications to send.
        customers: Distinct customers applying (``customer-0000``...).

    Returns:
        What was decided and recorded.

    Raises:
        KeelError: If the server did not start or a decision was not recorded.
    """
    import httpx
    import uvicorn

    recorder = Recorder(_WorkspaceSink(workspace, principal), model=MODEL, workload=WORKLOAD)
    app = scoring_app(train(), recorder)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="keel-demo-model-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise KeelError("the demo model server did not start on 127.0.0.1")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    seen: Counter[str] = Counter()
    names: list[str] = []
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for customer, body in _applications(applications, customers):
                if customer not in names:
                    names.append(customer)
                answer = client.post("/score", json=body, headers={"X-Customer": customer})
                answer.raise_for_status()
                seen[answer.json()["decision"]] += 1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        recorder.close()
    if recorder.pending() or recorder.last_error is not None:
        raise KeelError(f"the demo's decisions were not all recorded: {recorder.last_error}")
    return Scored(url, seen, recorder.sent, names)


def _applications(count: int, customers: int) -> list[tuple[str, dict[str, Any]]]:
    from keel.monitor.synthetic import credit_traffic

    rows = credit_traffic(count, seed=11).to_dict("records")
    return [
        (
            f"customer-{number % customers:04d}",
            {
                "income": float(row["income"]),
                "age": int(row["age"]),
                "has_card": bool(row["has_card"]),
            },
        )
        for number, row in enumerate(rows)
    ]


def write_demo_decisions(path: Path, *, count: int = 60, customers: int = 12) -> Path:
    """Write decision records as the demo's model server would send them (JSON lines).

    Records ``d-0000``... are the demo model's answers to synthetic applications, decided over
    the last hour, so that the tour can record them without a model server.

    Args:
        path: The file to write.
        count: Records.
        customers: Distinct customers (``customer-0000``...).

    Returns:
        The file.
    """
    model = train()
    now = datetime.now(UTC)
    lines = []
    for number, (customer, application) in enumerate(_applications(count, customers)):
        answer = model.score(application)
        record = {
            "id": f"d-{number:04d}",
            "model": MODEL,
            "workload": WORKLOAD,
            "decided_at": instant(now - timedelta(seconds=60 * (count - number))),
            "input_digest": input_digest(application),
            "output": answer,
            "explanation": {"reason_codes": answer["reasons"]},
            "subject": customer,
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
