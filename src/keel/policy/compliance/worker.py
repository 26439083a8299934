"""The Rego worker: a child process that owns one regopy interpreter.

rego-cpp cannot be interrupted from Python, so evaluation runs here, in a process the parent
can kill when a policy runs past its deadline (:mod:`keel.policy.compliance.process`). The
worker also keeps rego-cpp's diagnostics, which it prints on stdout and stderr, out of the
user's terminal.

This module imports only the standard library and regopy: it is the child's whole program.

Run as ``python -m keel.policy.compliance.worker FD``, where ``FD`` is the child's end of a
socket pair. Messages (pickled tuples over that socket), parent to child:

* ``("load", modules, data, query)``: compile ``modules`` (``[(name, source)]``) with base
  document ``data``; when ``query`` is given, build it into a bundle for ``eval``.
  Answers ``("ok", None)`` or ``("error", {"file", "offset", "message"})``.
* ``("eval", inputs)``: evaluate the bundle once per input, answering one
  ``("result", index, value, error, elapsed_ns)`` per input as soon as it is done.
* ``("query", queries, input)``: run each query against the modules, answering one
  ``("result", ...)`` per query (used for Rego unit tests).
"""

from __future__ import annotations

import gc
import os
import re
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

_LOCATION = re.compile(r"\(error \d+:(?P<file>[^|\s]+)\|(?P<offset>\d+)\|\d+")
_MESSAGE = re.compile(r"\(errormsg \d+:(?P<message>[^)\n]*)")
COLLECT_EVERY = 10_000
"""Evaluations between two full garbage collections in the worker."""
_ERROR_MESSAGE_KIND = 1801
_ERROR_CODE_KIND = 1803


def _compile_error(error: Exception) -> dict[str, Any]:
    text = str(error)
    where = _LOCATION.search(text)
    what = _MESSAGE.search(text)
    return {
        "file": where["file"] if where else "",
        "offset": int(where["offset"]) if where else -1,
        "message": what["message"].strip() if what else text.strip().splitlines()[0],
    }


def _error_text(output: Any) -> str:
    """The messages and codes inside an error output, as one line."""
    from regopy.rego_shared import (
        rego_node_get,
        rego_node_size,
        rego_node_type,
        rego_node_value,
    )

    found: list[str] = []

    def walk(impl: Any) -> None:
        kind = rego_node_type(impl)
        if kind in (_ERROR_MESSAGE_KIND, _ERROR_CODE_KIND):
            value = rego_node_value(impl)
            if value:
                found.append(str(value))
        for i in range(rego_node_size(impl)):
            walk(rego_node_get(impl, i))

    walk(output.node()._impl)
    return "; ".join(found) or "evaluation failed"


def _value(output: Any, error_prefix: str = "") -> tuple[Any, str | None]:
    if not output.ok():
        return None, error_prefix + _error_text(output)
    if not output.results:
        return None, None  # undefined
    return output.results[0].bindings.get("x"), None


class _Worker:
    """The interpreter and compiled bundle of one worker process."""

    def __init__(self, conn: Connection) -> None:
        import regopy

        self.regopy = regopy
        self.conn = conn
        self.interpreter: Any = None
        self.bundle: Any = None
        self.evaluated = 0

    def load(self, modules: list[tuple[str, str]], data: Any, query: str | None) -> None:
        self.interpreter = self.regopy.Interpreter()
        self.interpreter.strict_built_in_errors = True
        self.bundle = None
        try:
            for name, source in modules:
                self.interpreter.add_module(name, source)
            self.interpreter.add_data(data)
            if query is not None:
                self.bundle = self.interpreter.build(query, [])
                if not self.bundle.ok():
                    raise self.regopy.RegoError("the policy set does not compile")
        except Exception as failure:
            self.conn.send(("error", _compile_error(failure)))
            return
        self.conn.send(("ok", None))

    def evaluate(self, documents: list[Any]) -> None:
        for index, document in enumerate(documents):
            started = time.perf_counter_ns()
            try:
                self.interpreter.set_input(document)
                value, error = _value(self.interpreter.query_bundle(self.bundle))
            except Exception as failure:
                value, error = None, str(failure)
            self.conn.send(("result", index, value, error, time.perf_counter_ns() - started))
            self.evaluated += 1
            if self.evaluated % COLLECT_EVERY == 0:
                gc.collect()

    def query(self, queries: list[str], document: Any) -> None:
        if document is not None:
            self.interpreter.set_input(document)
        for index, query in enumerate(queries):
            started = time.perf_counter_ns()
            try:
                value, error = _value(self.interpreter.query(query))
            except Exception as failure:
                value, error = None, str(failure)
            self.conn.send(("result", index, value, error, time.perf_counter_ns() - started))


def main(conn: Connection) -> None:
    """Serve requests on ``conn`` until it closes.

    Args:
        conn: The child's end of the pipe.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # No collector pauses inside evaluations: reference counting frees what an evaluation
    # makes; a full collection runs every COLLECT_EVERY evaluations, between inputs.
    gc.disable()
    worker = _Worker(conn)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        command, *arguments = message
        if command == "load":
            worker.load(*arguments)
        elif command == "eval":
            worker.evaluate(*arguments)
        elif command == "query":
            worker.query(*arguments)


if __name__ == "__main__":
    main(Connection(int(sys.argv[1])))
