"""The parent's handle on a Rego worker process, with deadlines.

A policy that runs too long is stopped: the worker is killed, the input it was on fails closed
with an error, and a fresh worker (same modules, same data) takes the remaining inputs.

A :class:`RegoProcess` talks to one worker over one socket and is not safe to share between
threads; :class:`RegoPool` is: each call borrows an idle worker (starting one, up to a bound,
when none is idle), so concurrent requests of a server never interleave on a socket.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

DEFAULT_TIMEOUT_MS = 250.0
"""How long one evaluation may take before it is stopped and fails closed."""

_MODULE_PREFIX = "module"

START_TIMEOUT_S = 60.0
"""How long starting a worker and compiling a policy set may take."""


@dataclass(frozen=True, slots=True)
class CompileFailure:
    """Where and why a policy set failed to compile.

    Attributes:
        module: Index of the failing module in the list given to :meth:`RegoProcess.load`,
            or ``None`` when the failure is not tied to one.
        offset: Character offset of the error in that module's source, or -1.
        message: rego-cpp's message.
    """

    module: int | None
    offset: int
    message: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """One evaluation's result.

    Attributes:
        value: The query's value (``None`` when undefined or failed).
        error: Why it failed (an evaluation error or the deadline), or ``None``.
        elapsed_ns: Time spent in the worker (the deadline when it was stopped; 0 when cached).
        cached: Whether it is the kept result of an earlier evaluation of the same input.
    """

    value: Any
    error: str | None
    elapsed_ns: int
    cached: bool = False


class RegoProcess:
    """A worker process holding compiled Rego modules.

    Args:
        timeout_ms: Deadline for one evaluation.
    """

    def __init__(self, timeout_ms: float = DEFAULT_TIMEOUT_MS) -> None:
        self.timeout_ms = timeout_ms
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._loaded: tuple[list[str], Any, str | None] | None = None

    def _start(self) -> Connection:
        if self._conn is None:
            parent, child = socket.socketpair()
            fd = child.fileno()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "keel.policy.compliance.worker", str(fd)],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            child.close()
            self._conn = Connection(parent.detach())
        return self._conn

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def _exit_status(self) -> str:
        code = self._process.wait(5) if self._process is not None else None
        if code is not None and code < 0:
            return f"signal {-code}"
        return f"exit status {code}"

    def close(self) -> None:
        """Stop the worker (a later call starts a new one)."""
        self._kill()

    def __enter__(self) -> RegoProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _receive(self, timeout_s: float) -> Any:
        conn = self._start()
        if not conn.poll(timeout_s):
            raise TimeoutError
        return conn.recv()

    def load(
        self, sources: list[str], data: Any, query: str | None = None
    ) -> CompileFailure | None:
        """Compile modules and data (and a query to evaluate) in the worker.

        Args:
            sources: The source of every Rego module.
            data: The base document (``data``), JSON-encodable.
            query: The query :meth:`evaluate` runs, binding its result to ``x``.

        Returns:
            ``None`` when everything compiled, else where and why it did not.
        """
        named = [(f"{_MODULE_PREFIX}{i}.rego", source) for i, source in enumerate(sources)]
        self._start().send(("load", named, data, query))
        try:
            status, detail = self._receive(START_TIMEOUT_S)
        except (TimeoutError, EOFError):
            self._kill()
            return CompileFailure(None, -1, "the Rego worker did not answer while compiling")
        if status == "error":
            file = detail["file"].removeprefix(_MODULE_PREFIX).removesuffix(".rego")
            module = int(file) if file.isdigit() and int(file) < len(sources) else None
            return CompileFailure(module, detail["offset"], detail["message"])
        self._loaded = (sources, data, query)
        return None

    def _reload(self) -> None:
        assert self._loaded is not None, "load() first"
        sources, data, query = self._loaded
        failure = self.load(sources, data, query)
        assert failure is None, failure

    def evaluate(self, inputs: list[Any]) -> list[Outcome]:
        """Evaluate the loaded query once per input.

        Args:
            inputs: Input documents, JSON-encodable.

        Returns:
            One outcome per input, in order. An input that runs past the deadline gets an
            error outcome; the worker is restarted for the rest.
        """
        return self._run(("eval",), inputs)

    def query(self, queries: list[str], document: Any = None) -> list[Outcome]:
        """Run ad-hoc queries (binding ``x``) against the loaded modules.

        Args:
            queries: Queries such as ``x := data.pkg.test_rule``.
            document: The input document for every query.

        Returns:
            One outcome per query, in order; a query past the deadline fails and the rest run
            in a fresh worker.
        """
        return self._run(("query",), queries, document)

    def _run(self, command: tuple[str], items: list[Any], *extra: Any) -> list[Outcome]:
        outcomes: list[Outcome] = []
        timeout_s = self.timeout_ms / 1000.0
        while len(outcomes) < len(items):
            if self._conn is None:
                self._reload()
            batch = items[len(outcomes) :]
            assert self._conn is not None
            self._conn.send((*command, batch, *extra))
            for _ in batch:
                try:
                    _, _, value, error, elapsed_ns = self._receive(timeout_s)
                except (TimeoutError, EOFError) as failure:
                    why = (
                        f"stopped after {self.timeout_ms:g} ms (the policy took too long)"
                        if isinstance(failure, TimeoutError)
                        else f"the Rego worker crashed ({self._exit_status()})"
                    )
                    self._kill()
                    outcomes.append(Outcome(None, why, int(self.timeout_ms * 1e6)))
                    break
                outcomes.append(Outcome(value, error, elapsed_ns))
        return outcomes


DEFAULT_POOL_SIZE = max(1, min(4, os.cpu_count() or 1))
"""Most Rego workers one compiled policy runs in at once."""


class RegoPool:
    """Rego workers that share one compiled policy, safe to call from many threads.

    A call borrows an idle worker; when none is idle and fewer than ``size`` exist, it starts
    one (compiling the same modules and data); otherwise it waits for one. Closing the pool
    stops idle workers at once and busy ones when their call returns.

    Args:
        timeout_ms: Deadline for one evaluation.
        size: Most workers.
    """

    def __init__(self, timeout_ms: float = DEFAULT_TIMEOUT_MS, size: int = DEFAULT_POOL_SIZE):
        self.timeout_ms = timeout_ms
        self.size = max(1, size)
        self._idle: queue.LifoQueue[RegoProcess] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._loaded: tuple[list[str], Any, str | None] | None = None
        self._closed = False

    def load(
        self, sources: list[str], data: Any, query: str | None = None
    ) -> CompileFailure | None:
        """Compile modules and data in a first worker (see :meth:`RegoProcess.load`).

        Args:
            sources: The source of every Rego module.
            data: The base document.
            query: The query :meth:`evaluate` runs.

        Returns:
            ``None`` when everything compiled, else where and why it did not.
        """
        first = RegoProcess(self.timeout_ms)
        failure = first.load(sources, data, query)
        if failure is not None:
            first.close()
            return failure
        self._loaded = (sources, data, query)
        self._idle.put(first)
        return None

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[RegoProcess]:
        assert self._loaded is not None, "load() first"
        with self._slots:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = RegoProcess(self.timeout_ms)
                failure = worker.load(*self._loaded)
                assert failure is None, failure  # the same modules compiled in the first worker
            try:
                yield worker
            finally:
                with self._lock:
                    if self._closed:
                        worker.close()
                    else:
                        self._idle.put(worker)

    def evaluate(self, inputs: list[Any]) -> list[Outcome]:
        """Evaluate the loaded query once per input, in one worker (see :class:`RegoProcess`)."""
        with self._borrow() as worker:
            return worker.evaluate(inputs)

    def query(self, queries: list[str], document: Any = None) -> list[Outcome]:
        """Run ad-hoc queries in one worker (see :meth:`RegoProcess.query`)."""
        with self._borrow() as worker:
            return worker.query(queries, document)

    def close(self) -> None:
        """Stop the idle workers now and the busy ones when they finish."""
        with self._lock:
            self._closed = True
            while True:
                try:
                    self._idle.get_nowait().close()
                except queue.Empty:
                    break
