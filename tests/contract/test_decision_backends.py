"""Decision records on every store backend: all-or-nothing batches, retries, subjects, proofs,
erasure and retention, with the ledger verifying throughout."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
import sqlalchemy as sa

from keel.decisions import instant
from keel.errors import DecisionError, LedgerError, NotFoundError, StoreError
from keel.service import Workspace, apply_manifests, decisions, ledger
from keel.service.actor import Actor
from keel.service.decisions import FEW
from keel.store import decisions as store_decisions
from keel.store.bulk import timestamp
from keel.store.database import Database
from keel.store.decisions import DecisionRepository, NewDecision, subject_query
from keel.store.schema import decisions as decisions_table
from schema_revisions import downgrade, upgrade

SYSTEM = Actor.system("tests")

MODELS = """\
kind: Model
name: scorer
spec:
  risk_tier: minimal
  purpose: Test scoring
  versions:
    - {version: "1", parameters_billion: 0.1, state: approved}
    - {version: "2", parameters_billion: 0.1}
---
kind: Model
name: lender
spec:
  risk_tier: high
  purpose: Credit decisions
  owner: credit-risk
  oversight_contact: credit@example.com
  risk_assessment: approved
  logging_enabled: true
  versions:
    - {version: "1", parameters_billion: 0.1}
"""


@pytest.fixture
def estate(workspace: Workspace, tmp_path: Path) -> Workspace:
    """Two models: scorer@1 approved (minimal risk), scorer@2 draft, lender@1 (high risk)
    approved here directly (its approvals are not what these tests are about)."""
    manifest = tmp_path / "models.yaml"
    manifest.write_text(MODELS)
    apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    with workspace.database.engine.begin() as conn:
        conn.execute(sa.text("UPDATE model_versions SET state = 'approved' WHERE model = 'lender'"))
    return workspace


def make(n: int, *, subject: str | None = "cust-1", minutes_ago: float = 1, **extra: Any) -> dict:
    decided = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    record: dict[str, Any] = {
        "id": f"d-{n}",
        "model": "scorer@1",
        "decided_at": decided.isoformat(),
        "input_digest": "sha256:" + hashlib.sha256(str(n).encode()).hexdigest(),
        "output": {"decision": "approve" if n % 3 else "deny", "score": n / 100},
        "explanation": {"reason_codes": [f"R{n % 4}"]},
    }
    if subject is not None:
        record["subject"] = subject
    return record | extra


def of_subject_list(workspace: Workspace, subject: str) -> list[decisions.ShownDecision]:
    found, more = decisions.of_subject(workspace, subject)
    assert not more
    return found


def opening(workspace: Workspace, record_id: str) -> tuple[bytes, str] | None:
    """What the proof route hands out with a proof: the content's salt and canonical JSON."""
    stored = decisions.prove(workspace, record_id)[1].stored
    return None if stored.salt is None or stored.opening is None else (stored.salt, stored.opening)


def size(workspace: Workspace) -> int:
    return ledger.size(workspace)


def dump(workspace: Workspace, query: str, skip: tuple[str, ...] = ()) -> str:
    with workspace.database.engine.connect() as conn:
        found = conn.execute(sa.text(query)).mappings().all()
    return str([{k: v for k, v in row.items() if k not in skip} for row in found])


def rows(workspace: Workspace) -> int:
    with workspace.database.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one())


def test_records_become_leaves_whose_content_opens_offline(estate: Workspace) -> None:
    done = decisions.record(estate, [make(n) for n in range(5)], actor="user:model-server")
    assert (done.stored, done.duplicates) == (5, 0)
    shown = decisions.show(estate, "d-4")
    assert shown.content == {
        "output": {"decision": "approve", "score": 0.04},
        "explanation": {"reason_codes": ["R0"]},
        "subject": "cust-1",
    }
    # The leaf holds no personal value: only digests, the commitment and the model's facts.
    proof, _ = decisions.prove(estate, "d-4")
    key = ledger.signer(estate).verifier.encode()
    checkpoint, parsed = ledger.verify_proof(proof, [key])
    assert checkpoint.size == done.size and parsed.index == shown.stored.ledger_index
    leaf = orjson.loads(parsed.entry)
    assert leaf["type"] == "decision" and leaf["model"] == "scorer@1"
    assert b"cust-1" not in parsed.entry and b"approve" not in parsed.entry
    opened = opening(estate, "d-4")
    assert opened is not None
    salt, content = opened
    assert content.encode() == rfc8785.dumps(shown.content)
    assert ledger.open_commitment(parsed.entry, base64.b64encode(salt).decode(), content) == (
        "content"
    )
    altered = content.replace("approve", "deny!!!")
    with pytest.raises(LedgerError, match="does not open"):
        ledger.open_commitment(parsed.entry, base64.b64encode(salt).decode(), altered)
    assert ledger.verify(estate).size == done.size


def test_a_batch_with_any_bad_record_stores_nothing_and_names_each(estate: Workspace) -> None:
    decisions.record(estate, [make(0)], actor="user:s")
    before = (size(estate), rows(estate))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    batch = [
        make(1),
        make(2, model="scorer@2"),  # draft
        make(3, model="ghost@1"),  # not registered
        make(4, decided_at=future),
        make(5, decided_at="2026-11-30T10:00:00"),  # no timezone
        make(6, workload="no-such-workload"),
        make(7, output="x" * 20_000),  # content over 16 KiB
        {k: v for k, v in make(8).items() if k != "output"},
        make(1),  # repeats records[0]
        make(0, output="something else"),  # id already stored with another decision
        make(10, input_digest="md5:abc", colour="red"),
        "not an object",
    ]
    with pytest.raises(DecisionError) as caught:
        decisions.record(estate, batch, actor="user:s")
    found = {(p.path, p.field) for p in caught.value.problems}
    assert found == {
        ("records[1]", "model"),
        ("records[2]", "model"),
        ("records[3]", "decided_at"),
        ("records[4]", "decided_at"),
        ("records[5]", "workload"),
        ("records[6]", "output"),
        ("records[7]", "output"),
        ("records[8]", "id"),
        ("records[9]", "id"),
        ("records[10]", "input_digest"),
        ("records[10]", "colour"),
        ("records[11]", ""),
    }
    assert "11 of 12 records are refused" in str(caught.value)
    assert "is draft" in next(p.message for p in caught.value.problems if p.path == "records[1]")
    assert (size(estate), rows(estate)) == before  # nothing of the batch landed


def test_a_retry_is_recognised_and_a_reused_id_is_refused(estate: Workspace) -> None:
    batch = [make(n) for n in range(4)]
    first = decisions.record(estate, batch, actor="user:s")
    again = decisions.record(estate, [*batch, make(9)], actor="user:s")
    assert (again.stored, again.duplicates) == (1, 4)
    assert again.first_index == first.size  # only the new record was appended
    assert size(estate) == again.size == first.size + 1
    changed = batch[2] | {"output": {"decision": "deny"}}  # same id, time and input
    with pytest.raises(DecisionError) as caught:
        decisions.record(estate, [changed], actor="user:s")
    assert "already records another decision" in caught.value.problems[0].message
    assert size(estate) == again.size


def test_a_subjects_records_are_found_by_keyed_hash_only(estate: Workspace) -> None:
    batch = [make(n, subject=f"cust-{n % 3}", minutes_ago=10 - n) for n in range(9)]
    batch.append(make(99, subject=None))
    decisions.record(estate, batch, actor="user:s")
    mine = of_subject_list(estate, "cust-1")
    assert [d.stored.id for d in mine] == ["d-7", "d-4", "d-1"]  # newest first
    assert all(d.content and d.content["subject"] == "cust-1" for d in mine)
    assert of_subject_list(estate, "cust-404") == []
    # The subject is in clear only inside the content's opening (erasable), never in what is
    # searched or in the ledger.
    assert "cust-1" not in dump(estate, "SELECT * FROM decisions", skip=("opening",))
    assert "cust-1" not in dump(estate, "SELECT entry FROM ledger_entries")


def test_erasing_a_subject_blanks_contents_and_keeps_every_proof(estate: Workspace) -> None:
    batch = [make(n, subject=f"cust-{n % 2}") for n in range(6)]
    decisions.record(estate, batch, actor="user:s")
    proof_before, _ = decisions.prove(estate, "d-1")
    assert decisions.erase_subject(estate, "cust-1", "Art. 17 request", actor="user:a") == 3
    gone = decisions.show(estate, "d-1")
    assert gone.content is None and gone.gone == "erasure: Art. 17 request"
    assert opening(estate, "d-1") is None
    assert of_subject_list(estate, "cust-1") == []
    assert len(of_subject_list(estate, "cust-0")) == 3  # the other subject is untouched
    key = ledger.signer(estate).verifier.encode()
    ledger.verify_proof(proof_before, [key])  # an old proof still verifies
    ledger.verify_proof(decisions.prove(estate, "d-1")[0], [key])
    assert ledger.verify(estate).size == size(estate)
    with pytest.raises(NotFoundError):
        decisions.erase_subject(estate, "cust-1", "again", actor="user:a")
    assert "cust-1" not in dump(estate, "SELECT * FROM decisions")  # no trace of them left
    assert "cust-0" in dump(estate, "SELECT * FROM decisions")
    cust_0 = [i for i, d in enumerate(batch) if d["subject"] == "cust-0"]
    first = decisions.show(estate, "d-0").stored.ledger_index
    engine = estate.database.engine  # theirs are gone
    assert subject_entries(engine) == expect(engine, [], [first + i for i in cust_0])
    erased = [s.entry for s in ledger.show(estate, size(estate) - 1)]
    assert erased[0]["type"] == "decision.erased" and "cust-1" not in str(erased)


def test_records_stored_before_migration_0018_are_found_through_the_new_subject_index(
    estate: Workspace,
) -> None:
    batch = [make(n, subject=f"cust-{n % 3}" if n % 4 else None) for n in range(12)]
    decisions.record(estate, batch, actor="user:s")
    downgrade(estate.database.engine, "0017")  # the subject index on the rows, as before
    decisions_before = dump(estate, "SELECT * FROM decisions ORDER BY id")
    upgrade(estate.database.engine)
    first = decisions.show(estate, "d-0").stored.ledger_index
    subjects = [first + n for n in range(12) if n % 4]
    assert subject_entries(estate.database.engine) == (subjects, [])
    assert dump(estate, "SELECT * FROM decisions ORDER BY id") == decisions_before
    for who in range(3):
        found = [d.stored.id for d in decisions.of_subject(estate, f"cust-{who}")[0]]
        assert sorted(found) == sorted(f"d-{n}" for n in range(12) if n % 4 and n % 3 == who)


def test_retention_prunes_contents_by_risk_tier_and_refuses_records_already_past_it(
    estate: Workspace,
) -> None:
    estate = Workspace(replace(estate.settings, decision_retention_days=1.0), estate.database)
    with pytest.raises(DecisionError) as caught:
        decisions.record(estate, [make(0, minutes_ago=25 * 60)], actor="user:s")
    assert "older than the retention period" in caught.value.problems[0].message
    batch = [make(1, minutes_ago=23 * 60), make(2, minutes_ago=60, model="lender@1"), make(3)]
    decisions.record(estate, batch, actor="user:s")
    assert decisions.show(estate, "d-2").stored.expires_at - decisions.show(
        estate, "d-2"
    ).stored.decided_at == timedelta(days=183)  # high risk: six months at least
    assert decisions.prune(estate, actor="user:a") == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert decisions.prune(estate, actor="user:a", now=later) == 1  # d-1 only
    assert decisions.show(estate, "d-1").gone == "retention"
    assert decisions.show(estate, "d-3").content is not None
    assert decisions.prune(estate, actor="user:a", now=later + timedelta(days=2)) == 1  # d-3
    assert decisions.show(estate, "d-2").content is not None  # lender: still kept
    _, _, counts = decisions.summary(estate, None, later - timedelta(days=3), later)
    assert counts["scorer@1"][FEW] == 2  # pruned records keep counting, without an outcome
    assert ledger.verify(estate).size == size(estate)


def test_summary_counts_outcomes_in_whole_hours_and_merges_small_ones(estate: Workspace) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    at = [hour + timedelta(minutes=m) for m in (1, 5, 20, 59, 61, 62)]
    batch = [
        make(n, decided_at=at[n % 6].isoformat(), output="deny" if n in (0, 6, 12) else "approve")
        for n in range(18)
    ]
    batch += [make(100 + n, model="lender@1", output=bool(n % 2), decided_at=at[0].isoformat())
              for n in range(12)]  # fmt: skip
    decisions.record(estate, batch, actor="user:s")
    # Asking for one minute of the first hour counts the whole hour: 12 of scorer's 18.
    start, end, found = decisions.summary(
        estate, None, hour + timedelta(minutes=4), hour + timedelta(minutes=6)
    )
    assert (start, end) == (hour, hour + timedelta(hours=1))
    assert dict(found["scorer@1"]) == {"approve": 9, FEW: 3}  # the 3 denials are not named
    assert dict(found["lender@1"]) == {"true": 6, "false": 6}
    _, _, scorer = decisions.summary(estate, "scorer", hour, hour + timedelta(hours=2))
    assert sum(scorer["scorer@1"].values()) == 18 and "lender@1" not in scorer
    _, _, none = decisions.summary(estate, "lender@2", hour, hour + timedelta(hours=2))
    assert none == {}


def test_a_long_history_says_that_older_records_were_left_out(
    estate: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    decisions.record(estate, [make(n, minutes_ago=n) for n in range(6)], actor="user:s")
    monkeypatch.setattr(decisions, "MAX_SUBJECT_RECORDS", 5)
    found, more = decisions.of_subject(estate, "cust-1")
    assert more and [d.stored.id for d in found] == [f"d-{n}" for n in range(5)]
    monkeypatch.setattr(decisions, "MAX_SUBJECT_RECORDS", 6)
    assert decisions.of_subject(estate, "cust-1")[1] is False


def test_a_malformed_record_id_is_not_found_and_touches_no_sql(estate: Workspace) -> None:
    decisions.record(estate, [make(1)], actor="user:s")
    for bad in ("d-1' OR '1'='1", "../d-1", "", "x" * 65):
        with pytest.raises(NotFoundError, match="not a record id"):
            decisions.show(estate, bad)
    assert decisions.show(estate, "d-1").stored.id == "d-1"


WORKLOADS = """\
kind: Workload
name: scoring-batch
spec:
  kind: batch_inference
  model: scorer@1
  compute: {accelerators: [L4], count: 1, hours: 1}
  decision_retention_days: 2
---
kind: Workload
name: lending
spec:
  kind: batch_inference
  model: lender@1
  compute: {accelerators: [L4], count: 1, hours: 1}
  decision_retention_days: 1
"""


def test_a_workload_keeps_its_decisions_for_its_own_retention(
    estate: Workspace, tmp_path: Path
) -> None:
    manifest = tmp_path / "workloads.yaml"
    manifest.write_text(WORKLOADS)
    apply_manifests(estate, [str(manifest)], actor=SYSTEM)
    batch = [
        make(1, workload="scoring-batch"),
        make(2),
        make(3, model="lender@1", workload="lending"),
    ]
    decisions.record(estate, batch, actor="user:s")
    kept = {}
    for n in (1, 2, 3):
        stored = decisions.show(estate, f"d-{n}").stored
        kept[n] = stored.expires_at - stored.decided_at
    assert kept == {1: timedelta(days=2), 2: timedelta(days=183), 3: timedelta(days=183)}
    three_days_ago = 3 * 24 * 60
    with pytest.raises(DecisionError) as caught:
        decisions.record(
            estate,
            [make(5, minutes_ago=three_days_ago), make(4, workload="scoring-batch",
                                                        minutes_ago=three_days_ago)],
            actor="user:s",
        )  # fmt: skip
    (problem,) = caught.value.problems  # only the workload's record is past its retention
    assert (problem.path, problem.field) == ("records[1]", "decided_at")
    assert "older than the retention period" in problem.message
    decisions.record(estate, [make(5, minutes_ago=three_days_ago)], actor="user:s")


def test_stored_times_are_the_records_times_on_every_backend(database: Database) -> None:
    """The store cuts SQLite's text from the instant a record carries and formats an expiry
    once per second: the rows hold what SQLAlchemy itself writes, and read back as sent."""
    pick = random.Random(21)
    periods = [timedelta(days=183), timedelta(days=2), timedelta(seconds=1),
               timedelta(days=0.1), timedelta(days=1 / 7), timedelta(microseconds=999_999)]  # fmt: skip
    edges = [datetime(2024, 2, 28, 23, 59, 59, 999_999, tzinfo=UTC),
             datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
             datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)]  # fmt: skip
    times = edges + [
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=pick.randrange(10**14))
        for _ in range(300)
    ]
    times += [t + timedelta(microseconds=1) for t in times[:100]]  # same seconds, other ends
    rows = [
        NewDecision(f"d-{n}", n, "scorer@1", None, t, instant(t), periods[n % 6],
                    "sha256:" + "0" * 64, "sha256:" + "1" * 64, None, None, b"s" * 16, "{}")
        for n, t in enumerate(times)
    ]  # fmt: skip
    now = datetime(2026, 12, 2, 2, 0, 0, 1, tzinfo=UTC)
    with database.engine.begin() as conn:
        DecisionRepository(conn).insert(rows, now)
    with database.engine.connect() as conn:
        stored = DecisionRepository(conn).get(r.id for r in rows)
        raw = {
            ident: (decided, expires)
            for ident, decided, expires in conn.execute(
                sa.select(decisions_table.c.id, sa.cast(decisions_table.c.decided_at, sa.Text),
                          sa.cast(decisions_table.c.expires_at, sa.Text))
            )
        }  # fmt: skip
        written = {
            r.id: tuple(
                str(timestamp(conn, column, value))
                for column, value in ((decisions_table.c.decided_at, r.decided_at),
                                      (decisions_table.c.expires_at, r.decided_at + r.kept_for))
            )
            for r in rows
        }  # fmt: skip
    for r in rows:
        got = stored[r.id]
        assert (got.decided_at, got.expires_at, got.received_at) == (
            r.decided_at,
            r.decided_at + r.kept_for,
            now,
        ), r
    if database.engine.dialect.name == "sqlite":  # the very text SQLAlchemy would write
        assert raw == written


def subject_entries(
    engine: sa.Engine, index: str = "decision_subjects"
) -> tuple[list[int], list[int]]:
    """The ledger indices in the subject index (or another ``index``) and in its staging table.

    PostgreSQL stages nothing: its entries are expected in the index, wherever SQLite's are.
    """
    with engine.connect() as conn:
        indexed, staged = (
            sorted(i for (i,) in conn.execute(sa.text(f"SELECT ledger_index FROM {table}")))
            for table in (index, f"{index}_staged")
        )
    if engine.dialect.name == "postgresql":
        assert staged == []
    return indexed, staged


def id_entries(engine: sa.Engine) -> tuple[list[int], list[int]]:
    """The ledger indices in SQLite's id index and its staging table (none on PostgreSQL)."""
    found = subject_entries(engine, "decision_ids")
    if engine.dialect.name == "postgresql":
        assert found == ([], [])
    return found


@contextlib.contextmanager
def ran_statements(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements the engine's connections run meanwhile, as sent to the driver."""
    ran: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        ran.append((args[2], args[3]))  # (conn, cursor, statement, parameters, ...)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield ran
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def expect(engine: sa.Engine, indexed: list[int], staged: list[int]) -> tuple[list[int], ...]:
    """Where SQLite's entries are expected; PostgreSQL's are all in the index."""
    if engine.dialect.name == "sqlite":
        return indexed, staged
    return sorted(indexed + staged), []


def test_subject_entries_are_staged_then_merged_and_found_wherever_they_are(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup finds a subject's records in the subject index and in its staging table (SQLite
    stages entries, PostgreSQL does not), tells apart keys that share the indexed prefix (rare,
    not impossible), and uses the indexes."""
    monkeypatch.setattr(store_decisions, "STAGED_ENTRIES", 20)
    prefix = "0123456789ab"
    keys = [prefix + "c" * 20, prefix + "d" * 20, "f" * 32]
    moment = datetime(2026, 12, 1, 12, tzinfo=UTC)
    rows = [
        NewDecision(f"d-{n}", n, "scorer@1", None, moment + timedelta(seconds=n), instant(
            moment + timedelta(seconds=n)), timedelta(days=1), "sha256:" + "0" * 64,
            "sha256:" + "1" * 64, None if n == 29 else keys[n % 3], None, b"s" * 16, "{}")
        for n in range(30)
    ]  # fmt: skip
    with database.engine.begin() as conn, pytest.raises(StoreError, match="consecutive"):
        DecisionRepository(conn).insert([rows[0], rows[2], rows[1]], moment)  # not a batch
    assert subject_entries(database.engine) == ([], [])
    for batch, indexed, staged in (
        (rows[:12], [], list(range(12))),  # 12 entries: staged
        (rows[12:22], list(range(22)), []),  # 22 entries: merged
        (rows[22:], list(range(22)), list(range(22, 29))),  # d-29 has no subject: no entry
    ):
        with database.engine.begin() as conn:
            DecisionRepository(conn).insert(batch, moment)
        assert subject_entries(database.engine) == expect(database.engine, indexed, staged)
    with database.engine.connect() as conn:
        repo = DecisionRepository(conn)
        for k, key in enumerate(keys):
            found = [d.id for d in repo.of_subject(key, 100)]
            assert found == [f"d-{n}" for n in reversed(range(k, 29, 3))]
        assert [d.id for d in repo.of_subject(keys[0], 3)] == ["d-27", "d-24", "d-21"]
        assert repo.of_subject(prefix + "e" * 20, 100) == []
        query = subject_query(keys[0], 100).compile(conn, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "sqlite":
            plan = str(conn.execute(sa.text(f"EXPLAIN QUERY PLAN {query}")).all())
            used = ("decision_subjects USING PRIMARY KEY", "USING INTEGER PRIMARY KEY")
        else:  # a table this small is scanned by choice: forbid that to see what can be used
            conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = str(conn.execute(sa.text(f"EXPLAIN {query}")).all())
            used = ("decision_subjects_pkey", "decisions_pkey")
        assert all(name in plan for name in used), plan
    with database.engine.begin() as conn:  # blanked records leave both tables
        DecisionRepository(conn).blank(["d-0", "d-3", "d-25", "d-29"], "erasure: test", moment)
    assert subject_entries(database.engine) == expect(
        database.engine, [i for i in range(22) if i not in (0, 3)], [22, 23, 24, 26, 27, 28]
    )
    with database.engine.connect() as conn:
        found = [d.id for d in DecisionRepository(conn).of_subject(keys[0], 100)]
    assert found == [f"d-{n}" for n in (27, 24, 21, 18, 15, 12, 9, 6)]


def test_ids_are_found_wherever_their_entries_are_and_each_is_held_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite finds ids through its id index, staged or merged, and each of its two tables
    refuses an id twice; PostgreSQL finds them through its unique index on ``id``."""
    monkeypatch.setattr(store_decisions, "STAGED_ENTRIES", 20)
    moment = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ids = [f"d-{n}" if n % 2 else str(uuid.UUID(int=random.Random(n).getrandbits(128)))
           for n in range(30)]  # fmt: skip
    rows = [
        NewDecision(ids[n], n, "scorer@1", None, moment, instant(moment), timedelta(days=1),
                    "sha256:" + "0" * 64, "sha256:" + "1" * 64, None, str(n), b"s" * 16, "{}")
        for n in range(30)
    ]  # fmt: skip
    engine = database.engine
    sqlite = engine.dialect.name == "sqlite"
    for batch, indexed, staged in (
        (rows[:12], [], list(range(12))),
        (rows[12:22], list(range(22)), []),
        (rows[22:], list(range(22)), list(range(22, 30))),
    ):
        with engine.begin() as conn:
            DecisionRepository(conn).insert(batch, moment)
        assert id_entries(engine) == ((indexed, staged) if sqlite else ([], []))
    unknown = ["d-404", str(uuid.UUID(int=404))]
    with engine.connect() as conn, ran_statements(engine) as lookups:
        repo = DecisionRepository(conn)
        for wanted in (ids, ids[:3] + ids[25:] + unknown, unknown):
            known = [i for i in wanted if i in ids]
            assert repo.existing(wanted) == set(known)
            got = repo.get(wanted)
            assert {i: d.outcome for i, d in got.items()} == {i: str(ids.index(i)) for i in known}
    if sqlite:  # no lookup scans the rows: the statements they ran, explained
        assert len(lookups) == 6
        with engine.connect() as conn:
            for statement, parameters in lookups:
                explained = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plan = str(explained.all())
                assert "decision_ids USING PRIMARY KEY" in plan, plan
                assert "decision_ids_staged USING PRIMARY KEY" in plan, plan
                assert "SCAN decisions" not in plan, plan

    def store_again(stored: str) -> None:
        """A new row with a stored id, then (SQLite) what merging would do with its entry."""
        with engine.begin() as conn:
            DecisionRepository(conn).insert([rows[0]._replace(id=stored, ledger_index=30)], moment)
            monkeypatch.setattr(store_decisions, "STAGED_ENTRIES", 1)
            DecisionRepository(conn).insert([rows[1]._replace(id="new", ledger_index=31)], moment)

    for stored in (ids[3], ids[25]):  # merged, staged: a table or the unique index refuses it
        with pytest.raises(sa.exc.IntegrityError):
            store_again(stored)
    assert id_entries(engine) == ((list(range(22)), list(range(22, 30))) if sqlite else ([], []))
    with engine.begin() as conn:  # blanking finds its rows through the index too
        DecisionRepository(conn).blank([ids[3], ids[26]], "erasure: test", moment)
    with engine.connect() as conn:
        got = DecisionRepository(conn).get(ids)
    assert sorted(i for i, d in got.items() if d.gone_reason) == sorted([ids[3], ids[26]])
    assert len(got) == 30


def test_records_stored_before_migration_0019_keep_their_ids_unique_and_found(
    estate: Workspace,
) -> None:
    """Migration 0019 keys the rows by ledger index and builds SQLite's id index from them;
    downgrading restores the index on ``id``."""
    engine = estate.database.engine
    batch = [make(n) for n in range(12)]
    decisions.record(estate, batch, actor="user:s")

    def btrees() -> list[str]:  # SQLite: the B-trees that hold the rows and their indexes
        with engine.connect() as conn:
            return sorted(
                name for (name,) in conn.execute(sa.text(
                    "SELECT name FROM sqlite_master WHERE tbl_name = 'decisions'"
                    " AND type IN ('table', 'index')"))
            )  # fmt: skip

    def unique_indexes() -> list[str]:  # PostgreSQL: the unique indexes, with their columns
        with engine.connect() as conn:
            return sorted(
                f"{name} {d[d.index('USING'):]}"
                for name, d in conn.execute(sa.text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'decisions'"
                    " AND indexdef LIKE 'CREATE UNIQUE%'"))
            )  # fmt: skip

    sqlite = engine.dialect.name == "sqlite"
    downgrade(engine, "0018")
    before = dump(estate, "SELECT * FROM decisions ORDER BY id")
    if sqlite:
        assert btrees() == [
            "decisions", "ix_decisions_expiry", "ix_decisions_ledger_index",
            "ix_decisions_model_time", "sqlite_autoindex_decisions_1",
        ]  # fmt: skip
    else:
        assert unique_indexes() == [
            "decisions_pkey USING btree (id)",
            "ix_decisions_ledger_index USING btree (ledger_index)",
        ]
    upgrade(engine)
    assert dump(estate, "SELECT * FROM decisions ORDER BY id") == before
    first = decisions.show(estate, "d-0").stored.ledger_index
    if sqlite:
        assert btrees() == ["decisions", "ix_decisions_expiry", "ix_decisions_model_time"]
        assert id_entries(engine) == ([first + n for n in range(12)], [])
        with engine.connect() as conn:
            entries = conn.execute(sa.text("SELECT id, ledger_index FROM decision_ids"))
            assert sorted(entries) == sorted((f"d-{n}", first + n) for n in range(12))
    else:
        assert unique_indexes() == [
            "decisions_pkey USING btree (ledger_index)",
            "ix_decisions_id USING btree (id)",
        ]
        assert id_entries(engine) == ([], [])
    again = decisions.record(estate, [*batch, make(12)], actor="user:s")
    assert (again.stored, again.duplicates) == (1, 12)
    with pytest.raises(DecisionError, match="records"):
        decisions.record(estate, [batch[5] | {"output": {"decision": "x"}}], actor="user:s")
    assert decisions.show(estate, "d-7").stored.ledger_index == first + 7
