"""Model decision records as a service: record, find, prove, summarise, prune, erase.

A batch of records is checked whole (:func:`keel.decisions.check_records`, then against the
registry: the model version must exist and be approved or deployed, the workload must exist),
then appended to the ledger as one leaf per record, with the records' rows and the openings of
their content commitments, in one transaction. A batch is all or nothing, except records the
workspace already holds with the same id, model, time and input digest: a sender's retry,
counted as ``duplicates`` and not stored twice.

Retention: a record keeps its content until ``decided_at`` plus the workspace's
``decision_retention_days`` (never less than :data:`HIGH_RISK_MIN_DAYS` for a high-risk model).
:func:`prune` then erases the content's opening; :func:`erase_subject` does the same at once
for every record of one subject. Leaves, the tree and every proof stay valid.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from keel.decisions import DecisionRecord, check_records, instant, refuse, subject_key
from keel.decisions.record import RECORD_ID, subject_keyer
from keel.errors import NotFoundError, Problem
from keel.estate.resources import ModelSpec, MonitorSpec
from keel.ledger import opening_digest
from keel.ledger.entry import SALT_BYTES
from keel.memory import paused_gc
from keel.registry.lifecycle import USABLE_STATES
from keel.service import ledger
from keel.service.stored import load_estate
from keel.service.workspace import Unit, Workspace
from keel.store.decisions import DecisionRepository, NewDecision, StoredDecision
from keel.store.ledger import LedgerRepository
from keel.store.monitors import MonitorRepository
from keel.store.registry import RegistryRepository
from keel.store.resources import ResourceRepository

HIGH_RISK_MIN_DAYS = 183.0
"""Shortest retention of a high-risk model's decisions: six months (EU AI Act Art. 19, 26(6))."""
MAX_SUBJECT_RECORDS = 10_000
"""Most records one subject lookup returns."""
PRUNE_BATCH = 5_000
"""Records pruned per transaction."""
MIN_OUTCOME_COUNT = 5
"""Fewest decisions an outcome must have in a summary to be counted under its own name."""
FEW = f"(fewer than {MIN_OUTCOME_COUNT} each)"
"""Where a summary counts outcomes that have fewer than :data:`MIN_OUTCOME_COUNT` decisions."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """Where a batch landed.

    Attributes:
        stored: Records stored now.
        duplicates: Records the workspace held already (a retry), not stored again.
        first_index: The ledger index of the first stored record (the log's size if none).
        size: The log's size after the batch.
    """

    stored: int
    duplicates: int
    first_index: int
    size: int


@dataclass(frozen=True, slots=True)
class ShownDecision:
    """A record with its content opened, or why it cannot be.

    Attributes:
        stored: The record's row.
        content: ``{"output", "explanation", "subject"}`` or ``None`` once pruned or erased.
        gone: Why the content is gone (``retention``, ``erasure: <reason>``), or ``None``.
    """

    stored: StoredDecision
    content: dict[str, Any] | None
    gone: str | None


def _retention(
    workspace: Workspace, risk_tier: str | None, workload_days: float | None = None
) -> timedelta:
    """A record's retention: its workload's, else the setting; six months at least if high-risk."""
    days = workload_days or workspace.settings.decision_retention_days
    if risk_tier == "high":
        days = max(days, HIGH_RISK_MIN_DAYS)
    return timedelta(days=days)


LONGEST_RETENTION = timedelta(days=36_500)
"""No retention is longer: records older than this are refused before any read."""


def _registry_problems(
    unit: Unit, records: list[DecisionRecord], raws_index: dict[str, int]
) -> tuple[dict[str, str | None], dict[str, float], list[Problem]]:
    """Risk tiers, workloads' own retention, and records of unknown versions or workloads.

    Returns:
        Risk tier by model name, retention in days by workload (where it sets one), problems.
    """
    states = unit.repository(RegistryRepository).states()
    names: set[str] = set()
    usable: dict[str, str | None] = {}  # by name@version: why it may not decide, or None
    for model in {r.model for r in records}:
        name, _, version = model.partition("@")
        names.add(name)
        state = states.get((name, version))
        if state is None:
            usable[model] = f"{model} is not registered"
        elif state not in USABLE_STATES:
            usable[model] = f"{model} is {state}; only approved or deployed versions decide"
        else:
            usable[model] = None
    workloads = {r.workload for r in records if r.workload is not None}
    specs = unit.repository(ResourceRepository).specs(
        [("Model", n) for n in names] + [("Workload", w) for w in workloads]
    )
    tiers = {n: specs.get(("Model", n), {}).get("risk_tier") for n in names}
    kept = {
        w: float(days)
        for w in workloads
        if (days := specs.get(("Workload", w), {}).get("decision_retention_days")) is not None
    }
    problems = []

    def bad(record: DecisionRecord, field: str, message: str) -> None:
        where, name = f"records[{raws_index[record.id]}]", f"Decision/{record.id}"
        problems.append(Problem(where, 0, name, field, message))

    for record in records:
        if (refused := usable[record.model]) is not None:
            bad(record, "model", refused)
        if record.workload is not None and ("Workload", record.workload) not in specs:
            bad(record, "workload", f"no workload {record.workload!r} in the estate")
    return tiers, kept, problems


def _duplicates(
    unit: Unit, records: list[DecisionRecord], raws_index: dict[str, int]
) -> tuple[list[DecisionRecord], list[Problem]]:
    """The records not stored yet, and problems for ids stored with another decision.

    A record whose id is stored is a retry when the leaf's facts match and its content opens
    the stored commitment (the stored salt is reused to compare; a content erased since can
    no longer be compared, and the leaf's facts decide).
    """
    repo = unit.repository(DecisionRepository)
    known = repo.existing(r.id for r in records)
    if not known:
        return records, []
    stored = repo.get(known)
    fresh, problems = [], []
    for record in records:
        old = stored.get(record.id)
        if old is None:
            fresh.append(record)
            continue
        same = (old.model, old.decided_at, old.input_digest) == (
            record.model,
            record.decided_at,
            record.input_digest,
        ) and (old.salt is None or opening_digest(old.salt, record.content_json) == old.content)
        if not same:
            where = f"records[{raws_index[record.id]}]"
            message = (
                f"id already records another decision ({old.model} at"
                f" {old.decided_at.isoformat()}, ledger entry {old.ledger_index})"
            )
            problems.append(Problem(where, 0, f"Decision/{record.id}", "id", message))
    return fresh, problems


def record(workspace: Workspace, raws: list[Any], *, actor: str) -> Recorded:
    """Store a batch of decision records, all or none (retries of stored ones are skipped).

    The cyclic collector is paused meanwhile: a batch builds tens of thousands of short-lived
    objects without cycles, and collecting them as they come cost 7% of a record's instructions.

    Args:
        workspace: The workspace.
        raws: The records as sent (JSON objects; see :class:`keel.decisions.DecisionRecord`).
        actor: Who sends them (credited in the ledger).

    Returns:
        What was stored and where.

    Raises:
        DecisionError: Naming every refused record and field; nothing was stored.
    """
    with paused_gc():
        return _record(workspace, raws, actor)


def _record(workspace: Workspace, raws: list[Any], actor: str) -> Recorded:
    now = datetime.now(UTC)
    records, problems = check_records(raws, now=now, retention=LONGEST_RETENTION)
    raws_index: dict[str, int] = {}
    for index, raw in enumerate(raws):  # where each good record was sent (its first place)
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            raws_index.setdefault(raw["id"], index)
    with workspace.unit(actor, write=True) as unit:
        tiers, kept, unknown = _registry_problems(unit, records, raws_index)
        periods = {  # by name@version and workload: a record's content is kept so long
            (model, workload): _retention(
                workspace, tiers.get(model.partition("@")[0]), kept.get(workload or "")
            )
            for model, workload in {(r.model, r.workload) for r in records}
        }
        cutoffs = {key: now - period for key, period in periods.items()}
        expired = [
            Problem(
                f"records[{raws_index[r.id]}]",
                0,
                f"Decision/{r.id}",
                "decided_at",
                f"{r.decided_text} is older than the retention period (it ended"
                f" {instant(r.decided_at + periods[r.model, r.workload])}); the record would be"
                " pruned at once",
            )
            for r in records
            if r.decided_at <= cutoffs[r.model, r.workload]
        ]
        fresh, repeated = _duplicates(unit, records, raws_index)
        problems += unknown + expired + repeated
        if problems:
            raise refuse(problems, len(raws))
        repo = unit.repository(DecisionRepository)
        if not fresh:
            size = unit.repository(LedgerRepository).size()
            return Recorded(0, len(records), size, size)
        key = subject_keyer(repo.index_key())
        random = os.urandom(SALT_BYTES * len(fresh))
        salts = [random[i : i + SALT_BYTES] for i in range(0, len(random), SALT_BYTES)]
        commitments = [
            opening_digest(salt, r.content_json) for r, salt in zip(fresh, salts, strict=True)
        ]
        leaves = [r.leaf(c) for r, c in zip(fresh, commitments, strict=True)]
        first, size = ledger.record(unit, leaves, plain=True)
        repo.insert(
            [
                NewDecision(
                    r.id,
                    first + i,
                    r.model,
                    r.workload,
                    r.decided_at,
                    r.decided_text,
                    periods[r.model, r.workload],
                    r.input_digest,
                    commitments[i],
                    None if r.subject is None else key(r.subject),
                    r.outcome(),
                    salts[i],
                    r.content_json.decode(),
                )
                for i, r in enumerate(fresh)
            ],
            now,
        )
    return Recorded(len(fresh), len(records) - len(fresh), first, size)


def _opened(stored: StoredDecision) -> ShownDecision:
    salt, value = stored.salt, stored.opening
    if salt is None or value is None:
        return ShownDecision(stored, None, stored.gone_reason or "missing")
    if opening_digest(salt, value.encode()) != stored.content:
        return ShownDecision(stored, None, "the stored opening does not open the leaf's commitment")
    return ShownDecision(stored, orjson.loads(value), None)


def of_subject(workspace: Workspace, subject: str) -> tuple[list[ShownDecision], bool]:
    """Records about one subject, newest first (at most :data:`MAX_SUBJECT_RECORDS`).

    Args:
        workspace: The workspace.
        subject: The subject's identifier, as the model server sent it.

    Returns:
        The records, contents opened, and whether older ones were left out.
    """
    with workspace.unit() as unit:
        repo = unit.repository(DecisionRepository)
        found = repo.of_subject(subject_key(repo.index_key(), subject), MAX_SUBJECT_RECORDS + 1)
    return [_opened(d) for d in found[:MAX_SUBJECT_RECORDS]], len(found) > MAX_SUBJECT_RECORDS


def show(workspace: Workspace, record_id: str) -> ShownDecision:
    """One record, its content opened when it is still held.

    Args:
        workspace: The workspace.
        record_id: The record's id.

    Returns:
        The record.

    Raises:
        NotFoundError: If no record has that id.
    """
    if not RECORD_ID.match(record_id):
        raise NotFoundError(f"no decision record {record_id[:80]!r}: not a record id")
    with workspace.unit() as unit:
        found = unit.repository(DecisionRepository).get([record_id]).get(record_id)
    if found is None:
        raise NotFoundError(f"no decision record {record_id!r}")
    return _opened(found)


def prove(workspace: Workspace, record_id: str) -> tuple[str, ShownDecision]:
    """A record's tlog-proof against the latest checkpoint, and the record with its opening.

    Args:
        workspace: The workspace.
        record_id: The record's id.

    Returns:
        The ``tlog-proof`` text and the record.

    Raises:
        NotFoundError: If no record has that id.
    """
    shown = show(workspace, record_id)
    return ledger.prove(workspace, shown.stored.ledger_index).encode(), shown


def _hour(moment: datetime, *, up: bool) -> datetime:
    floor = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return floor + timedelta(hours=1) if up and floor != moment else floor


def summary(
    workspace: Workspace, model: str | None, since: datetime, until: datetime
) -> tuple[datetime, datetime, dict[str, Counter[str]]]:
    """Decision counts per model version and outcome, in whole hours, small counts merged.

    Counts are aggregates anyone with ``read`` on the ledger sees, so they must not single out
    one decision: the range is widened to whole hours (UTC), and outcomes with fewer than
    :data:`MIN_OUTCOME_COUNT` decisions are merged under :data:`FEW`. This limits, but does
    not prevent, inference by someone who knows the other decisions of that hour.

    Args:
        workspace: The workspace.
        model: ``name@version``, ``name`` or ``None`` for all.
        since: First decision time included (rounded down to the hour).
        until: Decision times before it are included (rounded up to the hour).

    Returns:
        The range counted, and outcome counts by model version (pruned or unlabelled outcomes
        under ``""``).
    """
    start, end = _hour(since, up=False), _hour(until, up=True)
    with workspace.unit() as unit:
        rows = unit.repository(DecisionRepository).summary(model, start, end)
    found: dict[str, Counter[str]] = {}
    for name, outcome, count in rows:
        found.setdefault(name, Counter())[outcome or ""] += count
    for name, counts in found.items():
        merged: Counter[str] = Counter()
        for outcome, count in counts.items():
            merged[outcome if count >= MIN_OUTCOME_COUNT else FEW] += count
        found[name] = merged
    return start, end, found


def prune(workspace: Workspace, *, actor: str, now: datetime | None = None) -> int:
    """Erase the content of every record whose retention ended; leaves and proofs stay.

    Args:
        workspace: The workspace.
        actor: Who prunes (credited in the ledger).
        now: The time (now by default).

    Returns:
        How many records were pruned.
    """
    moment = now or datetime.now(UTC)
    pruned = 0
    while True:
        with workspace.unit(actor, write=True) as unit:
            repo = unit.repository(DecisionRepository)
            expired = repo.expired(moment, PRUNE_BATCH)
            if not expired:
                return pruned
            repo.blank(expired, "retention", moment)
            entry = {"type": "decision.pruned", "records": len(expired), "before": instant(moment)}
            ledger.record(unit, [entry])
        pruned += len(expired)


def erase_subject(workspace: Workspace, subject: str, reason: str, *, actor: str) -> int:
    """Erase the content of every record about one subject (a GDPR Art. 17 request).

    The records' rows, leaves and proofs stay; the content can no longer be opened and the
    records can no longer be found by the subject.

    Args:
        workspace: The workspace.
        subject: The subject's identifier.
        reason: Why (recorded in the ledger, without the subject).
        actor: Who erases.

    Returns:
        How many records were erased.

    Raises:
        NotFoundError: If no record is about that subject.
    """
    now = datetime.now(UTC)
    with workspace.unit(actor, write=True) as unit:
        repo = unit.repository(DecisionRepository)
        key = subject_key(repo.index_key(), subject)
        found = repo.of_subject(key, 1 << 62)
        if not found:
            raise NotFoundError("no decision record is about that subject (or it was erased)")
        repo.blank([d.id for d in found], f"erasure: {reason}", now)
        entry = {"type": "decision.erased", "records": len(found), "reason": reason}
        ledger.record(unit, [entry])
    return len(found)


@dataclass(frozen=True, slots=True)
class MonitorAtTime:
    """What a monitor of the deciding workload said when the decision was made.

    Attributes:
        monitor: The monitor's name.
        checked_at: Its latest check before the decision, or ``None``.
        status: That check's status (``ok``, ``firing``), or ``None``.
        firing: Conditions whose alerts were firing at that moment.
    """

    monitor: str
    checked_at: datetime | None
    status: str | None
    firing: list[str]


@dataclass(frozen=True, slots=True)
class DecisionSheet:
    """One decision in context, for the person it is about or a regulator (GDPR Art. 22).

    Attributes:
        decision: The record, content opened while held.
        state: The model version's lifecycle state now.
        risk_tier: Its model's EU AI Act risk tier.
        approvals: ``(principal, when, declared)`` of approvals given before the decision;
            ``declared`` ones were given before Keel (registered with the version), so they
            count whenever the decision was made.
        trained_on: The datasets the version was trained on (registry and lineage).
        monitors: The deciding workload's monitors at the decision's time.
    """

    decision: ShownDecision
    state: str | None
    risk_tier: str | None
    approvals: list[tuple[str, datetime, bool]]
    trained_on: list[str]
    monitors: list[MonitorAtTime]


def sheet(workspace: Workspace, record_id: str) -> DecisionSheet:
    """A decision with its model version's approvals, training data and monitors at the time.

    Args:
        workspace: The workspace.
        record_id: The record's id.

    Returns:
        The sheet.

    Raises:
        NotFoundError: If no record has that id.
    """
    shown = show(workspace, record_id)
    stored = shown.stored
    when = stored.decided_at
    name, _, version = stored.model.partition("@")
    estate = load_estate(workspace)
    with workspace.unit() as unit:
        registry = unit.repository(RegistryRepository)
        found = registry.version(name, version)
        events = registry.events(name, version) if found else []
        monitors = unit.repository(MonitorRepository)
        watching = sorted(
            monitor
            for monitor, spec in estate.specs(MonitorSpec).items()
            if stored.workload is not None and spec.workload == stored.workload
        )
        at_time = []
        for monitor in watching:
            check = monitors.check_at(monitor, when)
            firing = sorted(
                alert.condition
                for alert in monitors.alerts(monitor)
                if (alert.raised_at) <= when
                and (alert.resolved_at is None or (alert.resolved_at) > when)
            )
            at_time.append(
                MonitorAtTime(
                    monitor,
                    None if check is None else (check[0]),
                    None if check is None else check[1],
                    firing,
                )
            )
    model = estate.specs(ModelSpec).get(name)
    trained = list((found.record.get("trained_on") if found else None) or [])
    approvals = [
        (e.principal or "", (e.at), bool(e.detail.get("declared")))
        for e in events
        if e.type == "approved" and ((e.at) <= when or e.detail.get("declared"))
    ]
    return DecisionSheet(
        shown,
        None if found is None else found.state,
        None if model is None else model.risk_tier,
        approvals,
        sorted(trained),
        at_time,
    )
