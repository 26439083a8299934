"""The trust ledger as a service: record, checkpoint, verify, prove, show, erase.

Every state change the service layer makes calls :func:`record` inside its own write
transaction, so the change and its ledger entries commit together or not at all; the same
transaction signs a checkpoint of the new tree.

Keys live outside the database, in ``<workspace>/.keel/ledger/``: ``signing.key`` (mode 0600,
created on first use) and ``verifiers`` (every public key the log has used, so checkpoints
signed before a rotation keep verifying). ``verified-checkpoint`` remembers the last
checkpoint this workspace verified; the next verification checks that the log still extends it.

Trust: a verification is only as good as the key it trusts. Files in ``.keel/`` can be replaced
by whoever can write the database, so :func:`verify` prefers keys from outside: ``--key`` files,
or keys pinned per log in ``known_logs`` (like SSH's ``known_hosts``; pinning the workspace's
key on first use is an explicit ``--pin``). A key rotation is itself a ledger entry, in a
checkpoint signed by the old and the new key, so a pinned key vouches for its successors.

Invariants:
    * Every write signs a checkpoint of the new tree in its own transaction, so a log with
      entries always has a checkpoint of its full size; verification fails without one.
    * A key signs only a log whose latest checkpoint it signed (or the first one): a replaced
      ``signing.key`` is refused at the next write instead of signing silently.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from keel import progress
from keel.errors import ConfigError, IntegrityError, LedgerError, NotFoundError
from keel.ledger import (
    Checkpoint,
    InclusionProof,
    Signer,
    Verifier,
    canonical_entry,
    commit,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    opening_digest,
    proof_keys,
    range_hash,
    verify_consistency,
)
from keel.service.workspace import Unit, Workspace
from keel.store.ledger import LedgerRepository

KEY_FILE = "signing.key"
VERIFIERS_FILE = "verifiers"
VERIFIED_FILE = "verified-checkpoint"

_SIGNERS: dict[Path, tuple[int, Signer]] = {}
"""Parsed signing keys by file, with the file's modification time (rotation replaces it)."""


# -- keys -------------------------------------------------------------------------------------
def _key_dir(workspace: Workspace) -> Path:
    return workspace.settings.state_dir / "ledger"


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read, whole or not at all (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _add_verifier(workspace: Workspace, verifier: Verifier) -> None:
    path = _key_dir(workspace) / VERIFIERS_FILE
    known = path.read_text().splitlines() if path.exists() else []
    if verifier.encode() not in known:
        path.write_text("\n".join([*known, verifier.encode()]) + "\n")


def signer(workspace: Workspace) -> Signer:
    """The log's signing key, created (mode 0600) on first use.

    Args:
        workspace: The workspace.

    Returns:
        The signer; its name is the log's origin.
    """
    path = _key_dir(workspace) / KEY_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    if stamp is not None:
        cached = _SIGNERS.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        loaded = Signer.parse(path.read_text())
        _SIGNERS[path] = (stamp, loaded)
        return loaded
    created = Signer.generate(f"keel.local/ledger/{secrets.token_hex(8)}")
    _write_private(path, created.encode() + "\n")
    _add_verifier(workspace, created.verifier)
    return created


def verifiers(workspace: Workspace) -> list[Verifier]:
    """Every public key this log has signed with (current and rotated-out).

    Args:
        workspace: The workspace.

    Returns:
        The verifiers.
    """
    current = signer(workspace).verifier
    path = _key_dir(workspace) / VERIFIERS_FILE
    known = [Verifier.parse(line) for line in path.read_text().splitlines() if line.strip()]
    return known if current in known else [*known, current]


def rotate_key(workspace: Workspace, *, actor: str) -> Verifier:
    """Replace the signing key; old checkpoints keep verifying with the old public key.

    The new key keeps the log's name (its origin) and gets a new key ID. The rotation is a
    ``ledger.key_rotated`` entry naming the new public key, in a checkpoint signed by both
    keys: whoever trusts the old key learns the new one from the log itself.

    Args:
        workspace: The workspace.
        actor: Who rotates it (recorded with the entry).

    Returns:
        The new public key.
    """
    old = signer(workspace)
    _add_verifier(workspace, old.verifier)
    new = Signer.generate(old.name)
    entry = {
        "type": "ledger.key_rotated",
        "key": new.verifier.encode(),
        "previous": old.verifier.encode(),
    }
    with workspace.unit(actor, write=True) as unit:
        record(unit, [entry], cosigner=new)
    # Only once the rotation is in the log: a crash before this line leaves the old key,
    # which co-signed the rotation and so still signs this log.
    _add_verifier(workspace, new.verifier)
    _write_private(_key_dir(workspace) / KEY_FILE, new.encode() + "\n")
    return new.verifier


# -- writing ----------------------------------------------------------------------------------
_LOG_KEYS: set[tuple[str, int]] = set()
"""(database, key ID) pairs whose key was checked to be the log's, in this process."""


def _check_log_key(repo: LedgerRepository, key: Signer, database: str) -> None:
    """Refuse to sign with a key that did not sign the log's latest checkpoint.

    Raises:
        LedgerError: If the key is not the log's (a replaced ``signing.key``).
    """
    if (database, key.verifier.key_id) in _LOG_KEYS:
        return
    latest = repo.latest_checkpoint()
    if latest is not None:
        try:
            Checkpoint.open(latest[2], [key.verifier], key.name)
        except LedgerError:
            raise LedgerError(
                f"the signing key {key.verifier.key_id:08x} did not sign this log's latest"
                f" checkpoint (size {latest[0]}): it is not this log's key, so it signs nothing",
                hint="restore the log's signing.key; rotate keys with keel ledger rotate-key",
            ) from None
    _LOG_KEYS.add((database, key.verifier.key_id))


def _sign_checkpoint(
    repo: LedgerRepository,
    key: Signer,
    size: int,
    now: datetime,
    root: bytes | None = None,
    *,
    database: str,
    cosigner: Signer | None = None,
) -> str:
    _check_log_key(repo, key, database)
    root = repo.root(size) if root is None else root
    note = Checkpoint(key.name, size, root).sign(key)
    if cosigner is not None:
        note = cosigner.cosign(note)
    repo.add_checkpoint(size, root, note, now)
    return note


def record(
    unit: Unit,
    entries: list[dict[str, Any]],
    personal: dict[str, Any] | None = None,
    *,
    cosigner: Signer | None = None,
    plain: bool = False,
) -> tuple[int, int]:
    """Append entries inside a writing unit of work and sign a checkpoint.

    The unit's principal, if any, is committed as ``personal.actor``.

    Args:
        unit: The unit of work, holding the write lock.
        entries: JSON objects to append, in order.
        personal: Personal values to attach to every entry as salted commitments, under the
            entry's ``personal`` key; their openings go to the erasable payload table.
        cosigner: A second key that signs the checkpoint too (a key rotation's new key).
        plain: The entries hold only plain values, validated by the caller (see
            :func:`keel.ledger.canonical_entry`); their canonical form is written unchecked.

    Returns:
        The index of the first new entry and the new tree size.

    Raises:
        LedgerError: If the signing key is not the log's key; nothing is written then.
    """
    workspace = unit.workspace
    repo = unit.repository(LedgerRepository)
    now = datetime.now(UTC)
    commitments: dict[str, str] = {}
    payloads = []
    actor = unit.principal
    values = ({"actor": actor} if actor is not None else {}) | (personal or {})
    for field, value in values.items():
        made = commit(value)
        commitments[field] = made.digest
        payloads.append((made.digest, made.salt, made.value))
    encoded = [
        canonical_entry({**entry, "personal": commitments} if commitments else entry, plain=plain)
        for entry in entries
    ]
    repo.put_payloads(payloads)
    first, size, root = repo.append(encoded, now)
    _sign_checkpoint(
        repo, signer(workspace), size, now, root, database=_database(workspace), cosigner=cosigner
    )
    return first, size


def _database(workspace: Workspace) -> str:
    return workspace.settings.database_url


def append(
    workspace: Workspace,
    entries: list[dict[str, Any]],
    personal: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
) -> tuple[int, int]:
    """Append entries in a transaction of their own (a decision with no state change).

    Args:
        workspace: The workspace.
        entries: JSON objects to append.
        personal: Personal values to commit to (see :func:`record`).
        actor: The principal that made the entries (see :func:`record`).

    Returns:
        The index of the first new entry and the new tree size.
    """
    with workspace.unit(actor, write=True) as unit:
        return record(unit, entries, personal)


def checkpoint(workspace: Workspace) -> str:
    """Sign a checkpoint of the log as it is now.

    Args:
        workspace: The workspace.

    Returns:
        The signed checkpoint note.
    """
    key = signer(workspace)
    with workspace.unit(write=True) as unit:
        repo = unit.repository(LedgerRepository)
        now = datetime.now(UTC)
        return _sign_checkpoint(repo, key, repo.size(), now, database=_database(workspace))


def erase(workspace: Workspace, commitment: str, reason: str, *, actor: str) -> None:
    """Erase a personal value; its commitment, the entries and every proof stay valid.

    The caller decides whether the actor may (``admin`` on the ``Ledger``).

    Args:
        workspace: The workspace.
        commitment: The ``sha256:<hex>`` commitment.
        reason: Why (recorded in the ledger too).
        actor: Who erases (recorded with the entry).

    Raises:
        NotFoundError: If no opening of that commitment is stored.
    """
    with workspace.unit(actor, write=True) as unit:
        if not unit.repository(LedgerRepository).erase(commitment, reason, datetime.now(UTC)):
            raise NotFoundError(f"no stored personal value for {commitment}")
        entry = {"type": "ledger.erase", "commitment": commitment, "reason": reason}
        record(unit, [entry])


# -- reading ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ShownEntry:
    """An entry as ``keel ledger show`` prints it, personal values opened where not erased."""

    index: int
    created_at: datetime
    entry: dict[str, Any]
    personal: dict[str, Any]


def show(workspace: Workspace, start: int = 0, limit: int = 50) -> list[ShownEntry]:
    """Entries from an index on.

    Args:
        workspace: The workspace.
        start: First index.
        limit: Most entries to return.

    Returns:
        The entries.
    """
    import orjson

    with workspace.unit() as unit:
        repo = unit.repository(LedgerRepository)
        rows = repo.entries(start, start + max(limit, 0))
        decoded = [(i, t, orjson.loads(e)) for i, e, t in rows]
        wanted = {c for _, _, e in decoded for c in (e.get("personal") or {}).values()}
        openings = repo.payloads(wanted)
    shown = []
    for index, created, entry in decoded:
        personal: dict[str, Any] = {}
        for field, digest in (entry.get("personal") or {}).items():
            salt, value, reason = openings.get(digest, (None, None, None))
            if (
                salt is not None
                and value is not None
                and opening_digest(salt, value.encode()) == digest
            ):
                personal[field] = orjson.loads(value)
            else:
                personal[field] = f"<erased: {reason}>" if reason else "<unavailable>"
        shown.append(ShownEntry(index, created, entry, personal))
    return shown


def size(workspace: Workspace) -> int:
    """How many entries the log holds.

    Args:
        workspace: The workspace.

    Returns:
        The log's size.
    """
    with workspace.unit() as unit:
        return unit.repository(LedgerRepository).size()


def latest_checkpoint(workspace: Workspace) -> str:
    """The most recent signed checkpoint.

    Args:
        workspace: The workspace.

    Returns:
        The signed note.

    Raises:
        NotFoundError: If nothing was checkpointed yet.
    """
    with workspace.unit() as unit:
        latest = unit.repository(LedgerRepository).latest_checkpoint()
    if latest is None:
        raise NotFoundError("the ledger has no checkpoint yet", hint="run keel ledger checkpoint")
    return latest[2]


def prove(workspace: Workspace, index: int) -> InclusionProof:
    """An offline-verifiable proof that an entry is in the latest checkpoint.

    Args:
        workspace: The workspace.
        index: The entry's index.

    Returns:
        The proof (entry, path and signed checkpoint).

    Raises:
        NotFoundError: If the entry is not covered by a checkpoint yet.
    """
    return prove_many(workspace, [index])[0]


def prove_many(workspace: Workspace, indices: list[int]) -> list[InclusionProof]:
    """Proofs for many entries against the latest checkpoint, reading the tree once.

    Args:
        workspace: The workspace.
        indices: Entry indices.

    Returns:
        One proof per index, in the same order.

    Raises:
        NotFoundError: If an entry is not covered by a checkpoint yet.
    """
    with workspace.unit() as unit:
        repo = unit.repository(LedgerRepository)
        latest = repo.latest_checkpoint()
        covered = latest[0] if latest else 0
        for index in indices:
            if not 0 <= index < covered:
                raise NotFoundError(
                    f"entry {index} is not in the latest checkpoint (size {covered})",
                    hint="run keel ledger checkpoint first, or pick a smaller index",
                )
        assert latest is not None
        size, _root, note = latest
        ranges = {index: inclusion_ranges(index, size) for index in indices}
        nodes = repo.nodes(proof_keys(r for rs in ranges.values() for r in rs))
        entries = repo.entries_at(indices)
    return [
        InclusionProof(entries[i], i, [range_hash(s, e, nodes) for s, e in ranges[i]], note)
        for i in indices
    ]


def verify_proof(text: str, verifier_keys: list[str]) -> tuple[Checkpoint, InclusionProof]:
    """Check a ``tlog-proof`` file offline, with nothing but the log's public key.

    Args:
        text: The proof file's text.
        verifier_keys: Trusted public keys (``name+id+base64``).

    Returns:
        The checkpoint the entry is proved in, and the parsed proof.

    Raises:
        LedgerError: If the key, the format, the signature or the proof is bad.
    """
    keys = [Verifier.parse(key) for key in verifier_keys]
    proof = InclusionProof.parse(text)
    return proof.verify(keys), proof


def open_commitment(entry: bytes, salt_b64: str, value: str) -> str:
    """Check that a salt and canonical value open a commitment the entry holds.

    Args:
        entry: A (proved) entry's bytes.
        salt_b64: The commitment's salt, base64.
        value: The committed value's canonical JSON.

    Returns:
        The entry field that holds the commitment.

    Raises:
        LedgerError: If the salt is not base64 or the opening matches no commitment of the
            entry.
    """
    try:
        salt = base64.b64decode(salt_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LedgerError(f"the opening's salt is not base64: {exc}") from exc
    digest = opening_digest(salt, value.encode())
    found = orjson.loads(entry)
    held = {key: v for key, v in found.items() if isinstance(v, str)}
    held |= {f"personal.{key}": v for key, v in (found.get("personal") or {}).items()}
    for field, commitment in held.items():
        if commitment == digest:
            return str(field)
    raise LedgerError(
        "the opening does not open any commitment of the proved entry: the content was altered,"
        " or the opening belongs to another record"
    )


# -- verification -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of a successful verification.

    Attributes:
        size: Entries recomputed.
        checkpoints: Signed checkpoints checked.
        latest_note: The newest checkpoint, or ``None`` for an empty log.
        previous_size: The size verified last time from this workspace, if any.
        trust: Whose keys were trusted: ``given`` (``--key``), ``pinned`` (``known_logs``) or
            ``unpinned`` (the workspace's own files, which whoever writes the database may
            have replaced too).
        origin: The log's name, from its checkpoints.
        pinned: Whether this verification pinned the keys it trusted (``--pin``).
    """

    size: int
    checkpoints: int
    latest_note: str | None
    previous_size: int | None
    trust: str = "unpinned"
    origin: str | None = None
    pinned: bool = False


# -- trust ------------------------------------------------------------------------------------
def _workspace_verifiers(workspace: Workspace) -> list[Verifier]:
    path = _key_dir(workspace) / VERIFIERS_FILE
    if not path.exists():
        return []
    return [Verifier.parse(line) for line in path.read_text().splitlines() if line.strip()]


def pinned_keys(workspace: Workspace, origin: str) -> list[Verifier]:
    """The keys pinned for a log in the ``known_logs`` file.

    Args:
        workspace: The workspace (its settings name the file).
        origin: The log's name.

    Returns:
        The pinned keys, none when the log was never pinned.

    Raises:
        ConfigError: If the file cannot be read or holds a malformed line.
    """
    path = workspace.settings.known_logs
    try:
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the pinned ledger keys in {path}: {error}") from None
    keys = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, _, key = line.partition(" ")
        if name != origin:
            continue
        try:
            keys.append(Verifier.parse(key))
        except LedgerError as error:
            raise ConfigError(f"{path}:{number}: {error.message}") from None
    return keys


def pin_keys(workspace: Workspace, origin: str, keys: list[Verifier]) -> None:
    """Pin keys for a log in the ``known_logs`` file (trust on first use, made explicit).

    Args:
        workspace: The workspace (its settings name the file).
        origin: The log's name.
        keys: The keys to trust for it from now on.
    """
    path = workspace.settings.known_logs
    known = {v.encode() for v in pinned_keys(workspace, origin)}
    new = [f"{origin} {v.encode()}\n" for v in keys if v.encode() not in known]
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.writelines(new)


def _trusted(
    workspace: Workspace, given: list[Verifier] | None, origin: str | None
) -> tuple[str, list[Verifier]]:
    if given:
        return "given", given
    pinned = pinned_keys(workspace, origin) if origin else []
    if pinned:
        return "pinned", pinned
    return "unpinned", _workspace_verifiers(workspace)


def _pairs(level: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes, bytes]]:
    for left_index, left in level:
        right = next(level, None)
        if right is None:
            return
        yield left_index >> 1, left, right[1]


ROTATION = b'"ledger.key_rotated"'


def _verify_leaves(
    repo: LedgerRepository, size: int, done: Callable[[int], None]
) -> list[tuple[int, Verifier]]:
    """Check every entry against its leaf hash; return the key rotations the log announces."""
    leaves = repo.scan_level(0)
    expected = 0
    rotations = []
    for index, entry in repo.scan_entries():
        if ROTATION in entry:
            announced = orjson.loads(entry)
            if announced.get("type") == "ledger.key_rotated":
                rotations.append((index, Verifier.parse(str(announced.get("key", "")))))
        if index >= size:
            raise IntegrityError(
                f"entry {index} lies beyond the log's recorded size of {size}",
                first_bad_index=index,
            )
        if index != expected:
            raise IntegrityError(f"entry {expected} is missing", first_bad_index=expected)
        stored = next(leaves, None)
        if stored is None or stored[0] != index or stored[1] != leaf_hash(entry):
            raise IntegrityError(
                f"entry {index} does not match its leaf hash", first_bad_index=index
            )
        expected += 1
        if not expected % 4096:
            done(4096)
    if expected != size:
        bad = min(expected, size)
        raise IntegrityError(
            f"the log holds {expected} entries but records a size of {size}", first_bad_index=bad
        )
    if next(leaves, None) is not None:
        raise IntegrityError("a leaf hash exists beyond the last entry", first_bad_index=size)
    return rotations


def _verify_level(repo: LedgerRepository, level: int, size: int) -> None:
    stored = repo.scan_level(level)
    count = 0
    for index, left, right in _pairs(repo.scan_level(level - 1)):
        node = next(stored, None)
        if node is None or node[0] != index or node[1] != node_hash(left, right):
            first = index << level
            raise IntegrityError(
                f"subtree hash at level {level}, index {index} is wrong", first_bad_index=first
            )
        count += 1
    if count != size >> level or next(stored, None) is not None:
        raise IntegrityError(
            f"level {level} holds the wrong number of subtree hashes",
            first_bad_index=count << level,
        )


def verify(
    workspace: Workspace, keys: list[str] | None = None, *, pin: bool = False
) -> VerifyReport:
    """Recompute the whole tree from the entries and check every checkpoint.

    Steps: every entry hashes to its stored leaf, indices have no gap, every stored subtree
    hash is the hash of its children, the newest checkpoint covers every entry, every
    checkpoint is signed by a trusted key and matches the tree at its size, and the log is
    consistent with the checkpoint this workspace verified last time (a consistency proof is
    built and checked). On success that checkpoint is replaced by the newest one.

    Trusted keys: ``keys`` if given, else the keys pinned for the log in ``known_logs``, else
    the workspace's own (reported as ``unpinned``). A ``ledger.key_rotated`` entry, once a
    checkpoint signed by a trusted key covers it, adds the new key it names.

    Args:
        workspace: The workspace.
        keys: Public keys to trust (an auditor's copy, ``name+id+base64``), instead of the
            pinned ones.
        pin: Pin the keys trusted here for this log (trust on first use, made explicit).

    Returns:
        What was verified, and whose keys it trusted.

    Raises:
        IntegrityError: Naming the first bad index where there is one.
        LedgerError: If a given key is malformed.
    """
    given = [Verifier.parse(key) for key in keys or []]
    verified = _key_dir(workspace) / VERIFIED_FILE
    # Read before the snapshot, which then covers it however other verifications race.
    before = verified.read_text() if verified.exists() else None
    with workspace.unit(snapshot=True) as unit:  # others may append meanwhile
        repo = unit.repository(LedgerRepository)
        size = repo.size()
        checkpoints = repo.checkpoints()
        origin = _origin(checkpoints)
        trust, trusted = _trusted(workspace, given, origin)
        with progress.step(f"verifying {size:,} entries", total=size) as done:
            rotations = _verify_leaves(repo, size, done)
        with progress.step("verifying the tree's inner hashes"):
            for level in range(1, size.bit_length()):
                _verify_level(repo, level, size)
        covered = checkpoints[-1][0] if checkpoints else 0
        if covered < size:
            raise IntegrityError(
                f"entries {covered} to {size - 1} are covered by no signed checkpoint: the"
                " checkpoints were removed, or entries were written without the log's key",
                first_bad_index=covered,
            )
        known = list(trusted)
        good_size = 0
        for tree_size, root, note in checkpoints:
            if tree_size > size:
                raise IntegrityError(
                    f"a checkpoint covers {tree_size} entries but the log has {size}",
                    first_bad_index=size,
                )
            try:
                signed = Checkpoint.open(note, known, origin)
            except LedgerError as exc:
                raise IntegrityError(
                    f"checkpoint of size {tree_size}: {exc.message} ({trust} keys)",
                    first_bad_index=None,
                ) from exc
            if (signed.size, signed.root) != (tree_size, root) or repo.root(tree_size) != root:
                raise IntegrityError(
                    f"the tree at size {tree_size} does not match its signed checkpoint;"
                    f" an entry at index {good_size} or later was altered",
                    first_bad_index=good_size,
                )
            known += [key for index, key in rotations if index < tree_size and key not in known]
            good_size = tree_size
        previous = _check_previous(before, repo, known, size) if before is not None else None
    latest = checkpoints[-1][2] if checkpoints else None
    if latest is not None:
        _write_private(verified, latest)
    if pin and origin is not None:
        pin_keys(workspace, origin, trusted)
    return VerifyReport(
        size, len(checkpoints), latest, previous, trust, origin, pin and origin is not None
    )


def _origin(checkpoints: list[tuple[int, bytes, str]]) -> str | None:
    """The log's name: the origin line of its first checkpoint (checked by the signatures)."""
    if not checkpoints:
        return None
    return checkpoints[0][2].split("\n", 1)[0]


def _check_previous(text: str, repo: LedgerRepository, keys: list[Verifier], size: int) -> int:
    try:
        before = Checkpoint.open(text, keys)
    except LedgerError as exc:
        raise IntegrityError(
            f"the checkpoint verified last time no longer verifies: {exc.message}",
            first_bad_index=None,
        ) from exc
    if before.size > size:
        raise IntegrityError(
            f"the log has {size} entries but {before.size} were verified before: it was truncated",
            first_bad_index=size,
        )
    if before.size == 0:
        return 0
    ranges = consistency_ranges(before.size, size)
    nodes = repo.nodes(proof_keys(ranges))
    path_hashes = [range_hash(s, e, nodes) for s, e in ranges]
    if not verify_consistency(before.size, size, before.root, repo.root(size), path_hashes):
        raise IntegrityError(
            f"the log is not consistent with the checkpoint of size {before.size} verified"
            " before: history was rewritten",
            first_bad_index=0,
        )
    return before.size
