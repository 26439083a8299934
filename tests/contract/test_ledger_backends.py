"""The ledger on every store backend: appends, proofs, tamper detection, crashes, concurrency."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from keel.errors import IntegrityError, LedgerError
from keel.ledger import Checkpoint, leaf_hash
from keel.service import Workspace, apply_manifests, ledger
from keel.service.actor import Actor
from keel.store.ledger import LedgerRepository
from sample_manifests import SITE
from schema_revisions import downgrade, upgrade

SYSTEM = Actor.system("tests")
"""Trusted: these tests exercise the store, not access control."""


def fill(workspace: Workspace, count: int, batch: int = 7) -> None:
    for start in range(0, count, batch):
        ledger.append(
            workspace, [{"type": "test", "n": n} for n in range(start, min(start + batch, count))]
        )


def sql(workspace: Workspace, statement: str, **params: object) -> None:
    with workspace.database.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_append_prove_and_verify_offline(workspace: Workspace, tmp_path: Path) -> None:
    fill(workspace, 50)
    report = ledger.verify(workspace)
    assert (report.size, report.checkpoints) == (50, 8)
    key = ledger.signer(workspace).verifier.encode()
    for index in (0, 17, 49):
        proof = ledger.prove(workspace, index)
        checkpoint, parsed = ledger.verify_proof(proof.encode(), [key])
        assert checkpoint.size == 50
        assert parsed.entry == f'{{"n":{index},"type":"test"}}'.encode()


def test_node_reads_of_many_levels_and_long_index_lists_match_the_stored_levels(
    workspace: Workspace,
) -> None:
    fill(workspace, 1_300, batch=650)  # level 0 alone needs three statements' worth of ids
    with workspace.database.engine.connect() as conn:
        repo = LedgerRepository(conn)
        stored = {
            (level, index): digest
            for level in range(12)
            for index, digest in repo.scan_level(level)
        }
        asked = [key for key in stored if key[1] % 3 != 1] + [(0, 5_000), (40, 0)]
        assert repo.nodes(asked) == {key: stored[key] for key in asked if key in stored}
        assert repo.nodes([]) == {}


def _btrees(workspace: Workspace) -> dict[str, int]:
    """SQLite: the B-trees (tables and indexes) holding each of the two ledger tables."""
    with workspace.database.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT tbl_name, count(*) FROM sqlite_master"
            " WHERE tbl_name IN ('ledger_entries', 'ledger_nodes') AND rootpage > 0"
            " GROUP BY tbl_name"
        )
        return {name: int(count) for name, count in rows}


def test_a_ledger_written_in_the_old_layout_verifies_after_migration_0017(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Rebuilding the ledger's tables (0017) keeps every entry, node, proof and checkpoint."""
    engine = workspace.database.engine
    fill(workspace, 40)
    if engine.dialect.name == "sqlite":
        assert _btrees(workspace) == {"ledger_entries": 1, "ledger_nodes": 1}
    downgrade(engine, "0016")
    if engine.dialect.name == "sqlite":  # two B-trees a table before: rowid and the key
        assert _btrees(workspace) == {"ledger_entries": 2, "ledger_nodes": 2}
    fill(workspace, 33)  # written in the old layout
    before = ledger.verify(workspace)
    key = ledger.signer(workspace).verifier.encode()
    proofs = {index: ledger.prove(workspace, index) for index in (0, 39, 72)}
    upgrade(engine)
    if engine.dialect.name == "sqlite":
        assert _btrees(workspace) == {"ledger_entries": 1, "ledger_nodes": 1}
    fill(workspace, 9)
    after = ledger.verify(workspace)
    assert (before.size, after.size) == (73, 82)
    assert after.checkpoints == before.checkpoints + 2
    for index, proof in proofs.items():  # proofs made before still verify, and new ones too
        _, old = ledger.verify_proof(proof.encode(), [key])
        checkpoint, new = ledger.verify_proof(ledger.prove(workspace, index).encode(), [key])
        assert (checkpoint.size, new.index, new.entry) == (82, index, old.entry)


def test_state_change_and_ledger_entry_commit_together(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ledger, "record", broken)
    with pytest.raises(RuntimeError):
        apply_manifests(workspace, [str(site)], actor=SYSTEM)
    monkeypatch.undo()
    from keel.service import get_resources

    assert get_resources(workspace, "Site") == []  # neither the resource nor the entry landed
    with workspace.database.read() as conn:
        from keel.store.ledger import LedgerRepository

        assert LedgerRepository(conn).size() == 0
    result = apply_manifests(workspace, [str(site)], actor=SYSTEM)
    assert result.count("created") == 1
    [shown] = ledger.show(workspace)
    assert shown.entry["type"] == "estate.created"
    assert shown.entry["name"] == "fra-dc1"
    assert shown.entry["spec_digest"] == get_resources(workspace, "Site")[0].spec_digest
    assert shown.personal == {"actor": SYSTEM.principal}


TAMPERS: dict[str, tuple[Callable[[Workspace], None], int | None]] = {
    "entry changed": (
        lambda ws: sql(ws, "UPDATE ledger_entries SET entry = :e WHERE idx = 13", e='{"n":999}'),
        13,
    ),
    "leaf hash changed": (
        lambda ws: sql(
            ws, "UPDATE ledger_nodes SET hash = :h WHERE level = 0 AND idx = 21", h=bytes(32)
        ),
        21,
    ),
    "inner hash changed": (
        lambda ws: sql(
            ws, "UPDATE ledger_nodes SET hash = :h WHERE level = 2 AND idx = 3", h=bytes(32)
        ),
        12,
    ),
    "entry deleted": (lambda ws: sql(ws, "DELETE FROM ledger_entries WHERE idx = 30"), 30),
    "entry inserted": (
        lambda ws: sql(
            ws,
            "INSERT INTO ledger_entries (idx, entry, created_at) VALUES (40, '{}', CURRENT_TIMESTAMP)",
        ),
        40,
    ),
    "checkpoint re-rooted": (
        lambda ws: sql(
            ws, "UPDATE ledger_checkpoints SET root = :r WHERE tree_size = 28", r=bytes(32)
        ),
        21,
    ),
}


def rewrite_consistently(ws: Workspace, first: int, second: int) -> None:
    """Swap two entries and recompute every hash, as an attacker without the key would."""
    from keel.ledger import new_nodes
    from keel.store.ledger import LedgerRepository

    with ws.database.engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT idx, entry FROM ledger_entries ORDER BY idx")).all()
        entries = dict(rows)
        entries[first], entries[second] = entries[second], entries[first]
        conn.execute(sa.text("DELETE FROM ledger_nodes"))
        for i, e in entries.items():
            conn.execute(
                sa.text("UPDATE ledger_entries SET entry = :e WHERE idx = :i"), {"e": e, "i": i}
            )
        created = new_nodes(0, {}, [leaf_hash(entries[i].encode()) for i in sorted(entries)])
        conn.execute(
            sa.text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
            [{"l": level, "i": i, "h": h} for level, i, h in created],
        )
        assert LedgerRepository(conn).size() == len(entries)


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_tampering_is_detected_with_the_first_bad_index(workspace: Workspace, case: str) -> None:
    fill(workspace, 35)
    ledger.verify(workspace)
    tamper, first_bad = TAMPERS[case]
    tamper(workspace)
    with pytest.raises(IntegrityError) as caught:
        ledger.verify(workspace)
    assert caught.value.first_bad_index == first_bad, caught.value.message


def test_reordering_with_recomputed_hashes_is_caught_by_the_signed_checkpoints(
    workspace: Workspace,
) -> None:
    fill(workspace, 35)
    rewrite_consistently(workspace, 10, 11)
    with pytest.raises(IntegrityError) as caught:
        ledger.verify(workspace)
    assert caught.value.first_bad_index == 7  # checkpoints every 7 entries: 7 matched, 14 did not
    assert "does not match its signed checkpoint" in caught.value.message


def test_truncation_is_caught_against_the_checkpoint_verified_before(workspace: Workspace) -> None:
    fill(workspace, 20)
    ledger.verify(workspace)
    sql(workspace, "DELETE FROM ledger_entries")  # the whole history, wiped
    sql(workspace, "DELETE FROM ledger_nodes")
    sql(workspace, "DELETE FROM ledger_checkpoints")
    sql(workspace, "UPDATE ledger_meta SET size = 0")
    with pytest.raises(IntegrityError, match="truncated") as caught:
        ledger.verify(workspace)
    assert caught.value.first_bad_index == 0


def test_forged_checkpoint_signature_is_rejected(workspace: Workspace) -> None:
    fill(workspace, 5)
    with workspace.database.read() as conn:
        from keel.store.ledger import LedgerRepository

        size, _root, note = LedgerRepository(conn).latest_checkpoint()  # type: ignore[misc]
    forged = note.replace(note.split(" ")[-1], "AAAA" + note.split(" ")[-1][4:])
    sql(workspace, "UPDATE ledger_checkpoints SET note = :n WHERE tree_size = :s", n=forged, s=size)
    with pytest.raises(IntegrityError, match="checkpoint of size 5"):
        ledger.verify(workspace)


def test_key_rotation_keeps_old_checkpoints_valid(workspace: Workspace) -> None:
    fill(workspace, 10)
    old = ledger.signer(workspace).verifier
    new = ledger.rotate_key(workspace, actor=SYSTEM.principal)
    assert new.name == old.name and new.key_id != old.key_id
    fill(workspace, 4)
    report = ledger.verify(workspace)
    assert report.size == 15  # the rotation is an entry of its own
    proof = ledger.prove(workspace, 3)
    assert ledger.verify_proof(proof.encode(), [new.encode()])[0].size == 15
    with pytest.raises(LedgerError):
        ledger.verify_proof(proof.encode(), [old.encode()])


def _strip_checkpoints(workspace: Workspace) -> None:
    sql(workspace, "DELETE FROM ledger_checkpoints")
    (workspace.settings.state_dir / "ledger" / "verified-checkpoint").unlink(missing_ok=True)


def test_a_log_whose_checkpoints_were_deleted_does_not_verify(workspace: Workspace) -> None:
    fill(workspace, 12)
    ledger.verify(workspace)
    _strip_checkpoints(workspace)
    with pytest.raises(IntegrityError, match="covered by no signed checkpoint") as caught:
        ledger.verify(workspace)
    assert caught.value.first_bad_index == 0


def test_a_rewritten_log_with_recomputed_hashes_and_no_checkpoints_does_not_verify(
    workspace: Workspace,
) -> None:
    """Without any key: swap two entries, recompute every hash, delete the checkpoints and the
    workspace's memory of the last verification."""
    fill(workspace, 20)
    rewrite_consistently(workspace, 3, 4)
    _strip_checkpoints(workspace)
    with pytest.raises(IntegrityError, match="covered by no signed checkpoint"):
        ledger.verify(workspace)


def _resign_with_a_new_key(workspace: Workspace) -> str:
    """An attacker with write access to .keel/ and the database: a new key, a rewritten log,
    one checkpoint of the whole (forged) tree."""
    from keel.ledger import Checkpoint, Signer
    from keel.store.ledger import LedgerRepository

    rewrite_consistently(workspace, 3, 4)
    _strip_checkpoints(workspace)
    origin = ledger.signer(workspace).name
    evil = Signer.generate(origin)
    folder = workspace.settings.state_dir / "ledger"
    (folder / "signing.key").write_text(evil.encode() + "\n")
    (folder / "verifiers").write_text(evil.verifier.encode() + "\n")
    with workspace.database.engine.begin() as conn:
        repo = LedgerRepository(conn)
        size = repo.size()
        root = repo.root(size)
        note = Checkpoint(origin, size, root).sign(evil)
        repo.add_checkpoint(size, root, note, datetime.now(UTC))
    return evil.verifier.encode()


def test_a_log_resigned_with_a_swapped_key_fails_against_the_pinned_key(
    workspace: Workspace,
) -> None:
    fill(workspace, 20)
    original = ledger.signer(workspace).verifier.encode()
    pinned = ledger.verify(workspace, pin=True)
    assert (pinned.trust, pinned.pinned) == ("unpinned", True)
    assert ledger.verify(workspace).trust == "pinned"
    _resign_with_a_new_key(workspace)
    with pytest.raises(IntegrityError, match="no signature from a trusted key"):
        ledger.verify(workspace)  # the pinned key
    with pytest.raises(IntegrityError, match="no signature from a trusted key"):
        ledger.verify(workspace, [original])  # an auditor's copy of the key
    workspace.settings.known_logs.unlink()
    forged = ledger.verify(workspace)  # nothing pinned: only the workspace's own key is left
    assert forged.trust == "unpinned"  # which the report (and the CLI) says loudly


def test_a_replaced_signing_key_signs_nothing(workspace: Workspace) -> None:
    from keel.ledger import Signer

    fill(workspace, 5)
    key = workspace.settings.state_dir / "ledger" / "signing.key"
    key.write_text(Signer.generate(ledger.signer(workspace).name).encode() + "\n")
    with pytest.raises(LedgerError, match="not this log's key"):
        ledger.append(workspace, [{"type": "after-the-swap"}])
    with pytest.raises(LedgerError, match="not this log's key"):
        ledger.checkpoint(workspace)
    assert ledger.verify(workspace).size == 5  # nothing was written


def test_a_pinned_key_vouches_for_its_rotated_successor(workspace: Workspace) -> None:
    fill(workspace, 10)
    old = ledger.signer(workspace).verifier.encode()
    ledger.verify(workspace, pin=True)
    new = ledger.rotate_key(workspace, actor=SYSTEM.principal).encode()
    fill(workspace, 6)
    assert ledger.verify(workspace).size == 17  # the pinned old key, then the rotation entry
    assert ledger.verify(workspace, [old]).size == 17
    with pytest.raises(IntegrityError, match="no signature from a trusted key"):
        ledger.verify(workspace, [new])  # the new key alone cannot vouch for the old history
    (rotation,) = ledger.show(workspace, 10, 1)
    assert rotation.entry == {
        "type": "ledger.key_rotated",
        "key": new,
        "previous": old,
        "personal": rotation.entry["personal"],
    }


def test_erasure_keeps_every_proof_valid(workspace: Workspace) -> None:
    first, _ = ledger.append(
        workspace, [{"type": "decision", "what": "x"}], personal={"customer": "c-123"}
    )
    fill(workspace, 6)
    [entry] = ledger.show(workspace, first, 1)
    assert entry.personal == {"customer": "c-123"}
    commitment = entry.entry["personal"]["customer"]
    before = ledger.prove(workspace, first).encode()
    ledger.erase(workspace, commitment, "GDPR art. 17 request 42", actor="system:tests")
    [entry] = ledger.show(workspace, first, 1)
    assert entry.personal == {"customer": "<erased: GDPR art. 17 request 42>"}
    assert entry.entry["personal"]["customer"] == commitment
    assert ledger.verify(workspace).size == 8  # the erasure itself is an entry
    key = [ledger.signer(workspace).verifier.encode()]
    assert ledger.verify_proof(before, key)[0].size == 7  # the proof made before still holds
    assert ledger.verify_proof(ledger.prove(workspace, first).encode(), key)[0].size == 8


def test_threads_append_gap_free(workspace: Workspace) -> None:
    errors: list[BaseException] = []

    def worker(name: int) -> None:
        try:
            for n in range(10):
                ledger.append(
                    workspace, [{"thread": name, "n": n}, {"thread": name, "n": n, "b": 1}]
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = ledger.verify(workspace)
    assert report.size == 80
    indices = [e.index for e in ledger.show(workspace, 0, 100)]
    assert indices == list(range(80))


def test_verify_reads_one_snapshot_while_others_append(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verify sees one moment: an append, and another verification of it, that commit after it
    read the size neither break its reads nor make its log look truncated."""
    from keel.store.ledger import LedgerRepository

    fill(workspace, 9)
    size = LedgerRepository.size

    def size_then_append(repo: LedgerRepository) -> int:
        found = size(repo)
        if not appended:
            appended.append(1)  # another writer commits, and another verifier runs, meanwhile

            def append_and_verify() -> None:
                fill(workspace, 3)
                ledger.verify(workspace)

            writer = threading.Thread(target=append_and_verify)
            writer.start()
            writer.join()
        return found

    appended: list[int] = []
    monkeypatch.setattr(LedgerRepository, "size", size_then_append)
    report = ledger.verify(workspace)
    assert appended and report.size == 9  # verified as it was when it started
    monkeypatch.undo()
    assert ledger.verify(workspace).size == 12


APPENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from keel.service import Workspace, ledger
    url, folder, name, rounds = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ws = Workspace.open(folder, database_url=url)
    for n in range(rounds):
        first, size = ledger.append(ws, [{"writer": name, "n": n, "pad": "x" * 200}])
        print(first, flush=True)
    ws.close()
    """
)


def spawn(url: str, folder: Path, name: str, rounds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", APPENDER, url, str(folder), name, str(rounds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_processes_append_gap_free(workspace: Workspace, database_url: str, tmp_path: Path) -> None:
    ledger.signer(workspace)  # the processes share the workspace's key
    procs = [spawn(database_url, tmp_path, f"p{i}", 25) for i in range(3)]
    printed = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        printed += [int(x) for x in out.split()]
    assert sorted(printed) == list(range(75))
    assert ledger.verify(workspace).size == 75


def test_sigkill_mid_stream_loses_nothing_that_returned(
    workspace: Workspace, database_url: str, tmp_path: Path
) -> None:
    ledger.signer(workspace)
    proc = spawn(database_url, tmp_path, "victim", 100_000)
    assert proc.stdout is not None
    returned = []
    deadline = time.monotonic() + 60
    while len(returned) < 40 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            returned.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    returned += [int(x) for x in rest.split()]
    assert len(returned) >= 40
    report = ledger.verify(workspace)  # after the crash the log is whole
    assert report.size >= max(returned) + 1
    shown = {e.index for e in ledger.show(workspace, 0, 10_000)}
    assert set(returned) <= shown
    again = ledger.append(workspace, [{"after": "crash"}])
    assert again == (report.size, report.size + 1)


def test_checkpoint_text_is_a_c2sp_checkpoint(workspace: Workspace) -> None:
    fill(workspace, 3)
    note = ledger.latest_checkpoint(workspace)
    checkpoint = Checkpoint.open(note, [ledger.signer(workspace).verifier])
    assert checkpoint.size == 3
    assert checkpoint.origin == ledger.signer(workspace).name
    mode = (workspace.settings.state_dir / "ledger" / "signing.key").stat().st_mode & 0o777
    assert mode == 0o600
