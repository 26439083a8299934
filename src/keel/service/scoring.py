"""The demo's model server, run for real: uvicorn on loopback, decisions recorded to a workspace.

:class:`ModelServer` trains the demo's two credit model versions and serves them with uvicorn
on a free loopback port: each request is answered by the version Keel says the workload serves,
and the app records each decision through :class:`keel.decisions.Recorder` into this workspace.
:meth:`ModelServer.score` sends it applications over HTTP as customers would.
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
from keel.service import corrections, decisions
from keel.service.workspace import Workspace

MODEL = "credit-scoring@3.1"
PREVIOUS = "credit-scoring@3.0"
"""The version before it, approved: what a rollback serves."""
WORKLOAD = "credit-decision-api"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Scored:
    """What the demo's model server decided for one batch of applications.

    Attributes:
        decisions: Decisions per ``(model@version, outcome)``, as the clients saw them.
        customers: The customers' identifiers, in the order they first applied.
    """

    decisions: Counter[tuple[str, str]]
    customers: list[str]


class _WorkspaceSink:
    """The recorder's sink: the workspace's decision service, acting as the model server."""

    def __init__(self, workspace: Workspace, principal: str) -> None:
        self.workspace = workspace
        self.principal = principal

    def record_decisions(self, records: list[dict[str, Any]]) -> decisions.Recorded:
        return decisions.record(self.workspace, records, actor=self.principal)


class ModelServer:
    """The demo's ``credit-decision-api``, served for real on loopback until closed.

    Both approved versions are loaded (3.1 trained on the latest window, 3.0 on an older one);
    each request is answered by the version Keel says the workload serves now, so a monitor's
    rollback swaps it without a restart. Every decision is recorded through the SDK.

    Args:
        workspace: Where the decisions are recorded and the served version is read.
        principal: Who the model server records as.

    Raises:
        KeelError: If the server did not start.
    """

    def __init__(self, workspace: Workspace, *, principal: str) -> None:
        import uvicorn

        self.recorder = Recorder(
            _WorkspaceSink(workspace, principal), model=MODEL, workload=WORKLOAD
        )
        models = {MODEL: train(), PREVIOUS: train(rows=5_000, seed=7)}
        app = scoring_app(
            models, self.recorder, lambda: corrections.serving(workspace, WORKLOAD).model
        )
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(
            target=self.server.run, name="keel-demo-model-server", daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise KeelError("the demo model server did not start on 127.0.0.1")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def score(self, applications: int = 200, customers: int = 40, *, seed: int = 11) -> Scored:
        """Send applications over HTTP as customers would.

        Args:
            applications: Applications to send.
            customers: Distinct customers applying (``customer-0000``...).
            seed: The synthetic traffic's seed.

        Returns:
            What was decided, by which version.
        """
        import httpx

        seen: Counter[tuple[str, str]] = Counter()
        names: list[str] = []
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for customer, body in _applications(applications, customers, seed):
                if customer not in names:
                    names.append(customer)
                answer = client.post("/score", json=body, headers={"X-Customer": customer})
                answer.raise_for_status()
                decided = answer.json()
                seen[(decided["model"], decided["decision"])] += 1
        return Scored(seen, names)

    def close(self) -> int:
        """Stop serving and send every decision buffered.

        Returns:
            Records the recorder sent.

        Raises:
            KeelError: If a decision was not recorded.
        """
        if self.server.should_exit:
            return self.recorder.sent
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.recorder.close()
        if self.recorder.pending() or self.recorder.last_error is not None:
            raise KeelError(
                f"the demo's decisions were not all recorded: {self.recorder.last_error}"
            )
        return self.recorder.sent


def _applications(count: int, customers: int, seed: int = 11) -> list[tuple[str, dict[str, Any]]]:
    from keel.monitor.synthetic import credit_traffic

    rows = credit_traffic(count, seed=seed).to_dict("records")
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
