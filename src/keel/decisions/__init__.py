"""Decision records: what models decided, about whom, and why, as ledger leaves.

Pure computation over records (checking, ledger leaves, keyed subject hashes) and the SDK that
model servers record with (:class:`Recorder`, and :class:`DecisionMiddleware` for ASGI apps).
Storage lives in :mod:`keel.store`; the service layer appends records to the ledger with their
rows in one transaction.
"""

from keel.decisions.middleware import DecisionMiddleware
from keel.decisions.record import (
    MAX_BATCH,
    DecisionRecord,
    check_records,
    input_digest,
    instant,
    refuse,
    subject_key,
)
from keel.decisions.recorder import DecisionSink, Recorder

__all__ = [
    "MAX_BATCH",
    "DecisionMiddleware",
    "DecisionRecord",
    "DecisionSink",
    "Recorder",
    "check_records",
    "input_digest",
    "instant",
    "refuse",
    "subject_key",
]
