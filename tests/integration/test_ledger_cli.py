"""keel ledger as an auditor uses it: verify, prove, and verify a proof offline."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

from test_cli import (
    DEMO_GOVERNANCE_ENTRIES,
    DEMO_REGISTRY_ENTRIES,
    DEMO_RESOURCES,
    DEMO_WORKLOADS,
    keel,
)

# Resources and the registry's records of the first apply, the plan, one decision per workload,
# then the monitor: three checks, four alerts raised on the drifted window and resolved on the
# next. Then the registry and lineage step: three evaluations, validation, the registrant's
# refused approval, two approvals, the move to approved, an erasure. One checkpoint per
# transaction: the apply, the plan, three monitor runs and six registry and lineage changes.
# Readiness is assessed twice (after the plan, and before the ledger is verified), one entry
# and one checkpoint each. The demo's model server records one decision per application, 200
# then 60 after the rollback (in batches whose number depends on timing: at least one
# checkpoint). The drifted window's rollback is asked for (one monitor.action entry) and
# approved (another, with 3.0's move from approved to deployed), one checkpoint each.
# The agents' sessions through the MCP gateway: nine tool calls, one of them approved (the
# request and the decision).
DEMO_DECISIONS = 260
DEMO_ROLLBACK_ENTRIES = 3
DEMO_AGENT_ENTRIES = 9 + 2
DEMO_ENTRIES = (
    DEMO_DECISIONS
    + DEMO_AGENT_ENTRIES
    + DEMO_ROLLBACK_ENTRIES
    + DEMO_RESOURCES
    + DEMO_GOVERNANCE_ENTRIES
    + DEMO_REGISTRY_ENTRIES
    + 1
    + DEMO_WORKLOADS
    + 3
    + 4
    + 4
    + 3
    + 1
    + 1
    + 2
    + 1
    + 1
    + 2
)
DEMO_CHECKPOINTS = 1 + 1 + 3 + 6 + 2 + 2
# The dispatch step adds: fra-dc1 taken down and brought back (an estate.configured entry and
# a plan with its decisions each time), and the runs' entries, whose number depends on how far
# each service got before it was moved or stopped (counted from the ledger itself), in at
# least one checkpoint per apply, plan and dispatch cycle that recorded something.
DISPATCH_FIXED_ENTRIES = 2 * (1 + 1 + DEMO_WORKLOADS)


def test_demo_ledger_verify_prove_and_offline_check(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    demo = keel("demo", "--keep", str(ws), cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    shown = keel("-w", str(ws), "ledger", "show", "--from", "0", "--limit", "1000", cwd=tmp_path)
    types = Counter(json.loads(line)["entry"]["type"] for line in shown.stdout.splitlines())
    runs = sum(n for kind, n in types.items() if kind.startswith("run."))
    assert types["run.submitted"] >= types["run.finished"] > 0 and types["run.cancelled"] > 0
    entries = DEMO_ENTRIES + DISPATCH_FIXED_ENTRIES + runs
    assert sum(types.values()) == entries
    assert f"verified the ledger: {entries} entries recomputed" in demo.stdout
    verified = keel("-w", str(ws), "ledger", "verify", cwd=tmp_path)
    assert verified.returncode == 0
    checkpoints = int(verified.stdout.split(" entries, ")[1].split()[0])
    assert checkpoints >= DEMO_CHECKPOINTS + 4 + 3
    assert verified.stdout.startswith(
        f"ok: {entries} entries, {checkpoints} checkpoints verified; consistent with"
    )
    assert f"{checkpoints} signed checkpoints checked" in demo.stdout
    pubkey = keel("-w", str(ws), "ledger", "pubkey", cwd=tmp_path).stdout.strip()
    proved = keel(
        "-w",
        str(ws),
        "ledger",
        "prove",
        "41",
        "--out",
        str(tmp_path / "e.tlog-proof"),
        cwd=tmp_path,
    )
    assert proved.returncode == 0, proved.stderr
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    checked = keel(
        "ledger", "verify-proof", str(tmp_path / "e.tlog-proof"), "--key", pubkey, cwd=auditor
    )
    assert checked.returncode == 0, checked.stderr
    assert "ok: entry 41 is in keel.local/ledger/" in checked.stdout
    assert not (auditor / ".keel").exists()  # offline: no workspace, no database
    forged = (tmp_path / "e.tlog-proof").read_text().replace("index 41", "index 42")
    (tmp_path / "f.tlog-proof").write_text(forged)
    rejected = keel(
        "ledger", "verify-proof", str(tmp_path / "f.tlog-proof"), "--key", pubkey, cwd=auditor
    )
    assert rejected.returncode == 2
    assert "error[E-LEDGER]: entry 42 is not proved" in rejected.stderr


def test_tampering_exits_3_and_names_the_index(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert keel("demo", "--keep", str(ws), cwd=tmp_path).returncode == 0
    db = sqlite3.connect(ws / ".keel" / "keel.db")
    db.execute(
        "UPDATE ledger_entries SET entry = replace(entry, ?, ?) WHERE idx = 57",
        ('"generation":1', '"generation":2'),
    )
    db.commit()
    db.close()
    result = keel("-w", str(ws), "ledger", "verify", cwd=tmp_path)
    assert result.returncode == 3
    assert "error[E-INTEGRITY]: entry 57 does not match its leaf hash" in result.stderr


def test_show_and_erase(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert keel("demo", "--keep", str(ws), cwd=tmp_path).returncode == 0
    shown = keel("-w", str(ws), "ledger", "show", "--from", "5", "--limit", "2", cwd=tmp_path)
    lines = shown.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('{"index":5,')
    commitment = lines[0].split('"actor":"')[1].split('"')[0]
    erased = keel("-w", str(ws), "ledger", "erase", commitment, "--reason", "test", cwd=tmp_path)
    assert erased.returncode == 0, erased.stderr
    again = keel(
        "-w", str(ws), "ledger", "show", "--from", "5", "--limit", "1", cwd=tmp_path
    ).stdout
    assert '"personal":{"actor":"<erased: test>"}' in again
    assert keel("-w", str(ws), "ledger", "verify", cwd=tmp_path).returncode == 0
