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


class _UnconvertibleError(Exception):
    """A value of a type :func:`_input` does not handle (regopy's own converter takes it)."""


def _input(lib: Any, value: Any) -> int:
    """A rego-cpp input handle for a JSON-like value, built with one C call per node.

    ``regopy.Input`` does the same through a Python function per node that checks the value
    against the abstract collection types and copies each string into a ctypes buffer; this
    dispatches on the exact type and passes bytes: a quarter of the time on the benchmark's
    documents, half on the demo estate's (which list the candidate sites). The caller frees the
    handle.

    Raises:
        _UnconvertibleError: For a type other than ``dict``, ``list``, ``tuple``, ``str``, ``int``,
            ``float``, ``bool`` and ``None``.
        RuntimeError: If rego-cpp refused a node.
    """
    string, integer, real = lib.regoInputString, lib.regoInputInt, lib.regoInputFloat
    boolean, null, item = lib.regoInputBoolean, lib.regoInputNull, lib.regoInputObjectItem
    obj, array = lib.regoInputObject, lib.regoInputArray
    handle = lib.regoNewInput()

    def add(value: Any) -> int:  # returns the OR of rego-cpp's codes: 0 when all went well
        kind = type(value)
        if kind is str:
            return int(string(handle, value.encode()))
        if kind is dict:
            failed = 0
            for key, member in value.items():
                if type(key) is not str:
                    raise _UnconvertibleError
                failed |= string(handle, key.encode()) | add(member) | item(handle)
            return failed | int(obj(handle, len(value)))
        if kind is list or kind is tuple:
            failed = 0
            for member in value:
                failed |= add(member)
            return failed | int(array(handle, len(value)))
        if kind is bool:
            return int(boolean(handle, value))
        if kind is int:
            return int(integer(handle, value))
        if kind is float:
            return int(real(handle, value))
        if value is None:
            return int(null(handle))
        raise _UnconvertibleError

    try:
        if add(value):
            raise RuntimeError("rego-cpp refused the input document")
    except BaseException:
        lib.regoFreeInput(handle)
        raise
    return int(handle)


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
        from regopy import rego_shared

        self.regopy = regopy
        self.shared = rego_shared
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
                self.set_input(document)
                value, error = _value(self.interpreter.query_bundle(self.bundle))
            except Exception as failure:
                value, error = None, str(failure)
            self.conn.send(("result", index, value, error, time.perf_counter_ns() - started))
            self.evaluated += 1
            if self.evaluated % COLLECT_EVERY == 0:
                gc.collect()

    def set_input(self, document: Any) -> None:
        """Make ``document`` the input of the next evaluation."""
        try:
            handle = _input(self.shared.rego, document)
        except _UnconvertibleError:
            self.interpreter.set_input(document)
            return
        try:
            self.shared.rego_set_input(self.interpreter._impl, handle)
        finally:
            self.shared.rego.regoFreeInput(handle)

    def query(self, queries: list[str], document: Any) -> None:
        if document is not None:
            self.set_input(document)
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
