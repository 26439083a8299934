"""``keel.decisions.Recorder``: record a model server's decisions without slowing it down.

Example::

    import keel
    from keel.decisions import Recorder

    api = keel.Client("https://keel.example", token="keel_...")
    recorder = Recorder(api, model="credit-scoring@3.2", workload="credit-decision-api")

    @recorder.decides(subject=lambda application: application["customer_id"])
    def score(application: dict) -> dict:
        return {"decision": "approve", "score": 0.91}

The caller's thread only digests the input, stamps the time and appends to a buffer
(:meth:`Recorder.record`); a background thread sends batches to the sink (``keel.Client`` or a
local workspace's operations) every ``flush_s`` seconds or at ``batch`` records. A failed send
keeps the records and tries again later, so a server restart loses nothing; a retried batch
that the server stored already is recognised by its record ids.

Invariants:
    * Thread-safe: one lock guards the buffer; sends happen outside it.
    * Fork-safe: a child process starts with an empty buffer and its own sender thread (the
      parent's records are the parent's to send).
    * Bounded: past ``max_buffered`` unsent records, :meth:`Recorder.record` sends on the
      caller's thread (back-pressure) instead of growing without end.
    * Nothing good is lost to a bad neighbour: records the server refuses are dropped one by
      one, and the rest of their batch is sent again.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, Protocol, TypeVar

from keel.decisions.record import MAX_BATCH, input_digest, instant, new_record_id, now_instant
from keel.errors import DecisionError, KeelError, UserError

P = ParamSpec("P")
T = TypeVar("T")


def _refused(error: DecisionError, count: int) -> set[int]:
    """The positions in a batch of the records an error names (all, if it names none)."""
    found = set()
    for problem in error.problems:
        where = problem.path
        if where.startswith("records[") and where.endswith("]") and where[8:-1].isdigit():
            found.add(int(where[8:-1]))
    return found if found and max(found) < count else set(range(count))


class DecisionSink(Protocol):
    """Where a recorder sends batches: ``keel.Client`` or local operations."""

    def record_decisions(self, records: list[dict[str, Any]]) -> Any:
        """Store a batch of records (all or none)."""
        ...


_LIVE: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _after_fork() -> None:
    for recorder in list(_LIVE):
        recorder._reset_after_fork()


def _at_exit() -> None:
    for recorder in list(_LIVE):
        recorder.close()


os.register_at_fork(after_in_child=_after_fork)
atexit.register(_at_exit)


class Recorder:
    """Buffers decision records and sends them in the background.

    Args:
        sink: Where batches go.
        model: ``name@version`` of the deciding model version.
        workload: The serving workload, if any.
        flush_s: Longest a record waits in the buffer, in seconds.
        batch: Records per send (at most :data:`~keel.decisions.record.MAX_BATCH`).
        max_buffered: Unsent records past which ``record`` sends on the caller's thread.
    """

    def __init__(
        self,
        sink: DecisionSink,
        *,
        model: str,
        workload: str | None = None,
        flush_s: float = 1.0,
        batch: int = 1_000,
        max_buffered: int = 100_000,
    ) -> None:
        if not 1 <= batch <= MAX_BATCH:
            raise UserError(f"batch must be 1 to {MAX_BATCH} records, not {batch}")
        if flush_s <= 0 or max_buffered < batch:
            raise UserError("flush_s must be positive and max_buffered at least batch")
        self.sink = sink
        self.model = model
        self.workload = workload
        self.flush_s = flush_s
        self.batch = batch
        self.max_buffered = max_buffered
        self.sent = 0
        self.refused = 0
        self.last_error: KeelError | None = None
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        _LIVE.add(self)

    # -- the caller's side ----------------------------------------------------------------------
    def record(
        self,
        input: Any,
        output: Any,
        *,
        subject: str | None = None,
        explanation: Any = None,
        record_id: str | None = None,
        decided_at: datetime | None = None,
        model: str | None = None,
    ) -> str:
        """Buffer one decision.

        Args:
            input: The model's input as JSON; only its digest leaves this process.
            output: What the model answered (JSON).
            subject: Whom the decision is about (stored as a commitment, erasable).
            explanation: Reason codes or feature attributions (JSON).
            record_id: The record's id (by default :func:`~keel.decisions.record.new_record_id`:
                ordered by time, then random).
            decided_at: When it decided (now by default).
            model: The ``name@version`` that decided, when not the recorder's (a server that
                serves several versions, or swaps after a rollback).

        Returns:
            The record's id.

        Raises:
            DecisionError: If the input is not JSON.
            UserError: If the recorder was closed.
        """
        ident = record_id or new_record_id()
        item: dict[str, Any] = {
            "id": ident,
            "model": model or self.model,
            "decided_at": now_instant() if decided_at is None else instant(decided_at),
            "input_digest": input_digest(input),
            "output": output,
        }
        if self.workload is not None:
            item["workload"] = self.workload
        if subject is not None:
            item["subject"] = subject
        if explanation is not None:
            item["explanation"] = explanation
        with self._lock:
            if self._closed:
                raise UserError("this decision recorder is closed")
            self._buffer.append(item)
            waiting = len(self._buffer)
        if self._thread is None:
            self._start()
        if waiting >= self.max_buffered:
            self.flush()
        elif waiting >= self.batch:
            self._wake.set()
        return ident

    def decides(
        self,
        *,
        subject: Callable[..., str | None] | None = None,
        explanation: Callable[[Any], Any] | None = None,
    ) -> Callable[[Callable[P, T]], Callable[P, T]]:
        """A decorator that records every call of a predict function.

        The input is the call's arguments (``{"args": [...], "kwargs": {...}}``), the output
        its return value. ``subject`` and ``explanation`` are computed from the arguments and
        the return value respectively.

        Args:
            subject: Called with the function's arguments; returns the subject.
            explanation: Called with the output; returns reason codes or attributions.

        Returns:
            The decorator.
        """

        def wrap(function: Callable[P, T]) -> Callable[P, T]:
            @functools.wraps(function)
            def decided(*args: P.args, **kwargs: P.kwargs) -> T:
                output = function(*args, **kwargs)
                self.record(
                    {"args": list(args), "kwargs": kwargs},
                    output,
                    subject=subject(*args, **kwargs) if subject else None,
                    explanation=explanation(output) if explanation else None,
                )
                return output

            return decided

        return wrap

    # -- sending -------------------------------------------------------------------------------
    def flush(self) -> int:
        """Send everything buffered now, on this thread.

        A batch the sink refuses for some of its records (``E-DECISION``, naming them) is sent
        again without them: the refused records are dropped (they would never be accepted;
        :attr:`refused` counts them and :attr:`last_error` says why), the others are kept.

        Returns:
            How many records were stored or recognised as already stored.

        Raises:
            KeelError: If the sink could not be reached or failed (the records stay buffered
                and are sent again later), or refused records (after the others were sent).
        """
        sent = 0
        refusal: KeelError | None = None
        with self._send_lock:
            while True:
                with self._lock:
                    chunk = self._buffer[: self.batch]
                if not chunk:
                    break
                try:
                    self.sink.record_decisions(chunk)
                except DecisionError as error:
                    self.last_error = refusal = error
                    bad = _refused(error, len(chunk))
                    self.refused += len(bad)
                    with self._lock:  # the chunk is still the buffer's head: only we drop
                        self._buffer[: len(chunk)] = [
                            item for n, item in enumerate(chunk) if n not in bad
                        ]
                    continue
                except KeelError as error:
                    self.last_error = error
                    raise
                self._drop(len(chunk))
                sent += len(chunk)
                self.sent += len(chunk)
        if refusal is not None:
            raise refusal
        return sent

    def _drop(self, count: int) -> None:
        with self._lock:
            del self._buffer[:count]

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._run, name="keel-decision-recorder", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except KeelError:
                continue  # kept in the buffer (or dropped as bad); last_error says why

    def pending(self) -> int:
        """Records buffered and not yet sent."""
        with self._lock:
            return len(self._buffer)

    def close(self) -> None:
        """Send what is buffered (once) and stop the background thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.flush_s + 5)
        with contextlib.suppress(KeelError):  # last_error says why; pending() how many are left
            self.flush()

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._buffer = []
        self._thread = None
