"""``DecisionMiddleware``: record every decision an ASGI model server answers.

Example (FastAPI, Starlette or any ASGI app)::

    app = FastAPI()
    recorder = Recorder(keel.Client(url, token=key), model="credit-scoring@3.2")
    app.add_middleware(
        DecisionMiddleware,
        recorder=recorder,
        paths={"/score"},
        subject=lambda body, headers: body["customer_id"],
    )

For each request to one of ``paths`` whose method is ``POST`` and whose answer is a 2xx JSON
body, the middleware records: the request's JSON body as the input (only its digest leaves the
process), the answer's JSON as the output, the subject that ``subject`` picks, and the
explanation that ``explanation`` picks from the answer. The request and the answer pass through
unchanged; a body that is not JSON is passed on and not recorded. Recording never fails a
request: it only appends to the recorder's buffer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import orjson

from keel.decisions.recorder import Recorder
from keel.errors import KeelError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1 << 20
"""Largest request or answer body recorded; larger ones pass through unrecorded."""


class DecisionMiddleware:
    """Records the decisions of an ASGI app's scoring routes.

    Args:
        app: The ASGI app.
        recorder: Where records go.
        paths: The routes that decide (exact paths).
        subject: Picks the subject from the request's JSON body and its headers (lower-case
            names), or ``None``.
        explanation: Picks the explanation from the answer's JSON, or ``None``.
        model: Picks the deciding ``name@version`` from the answer's JSON (the recorder's
            when it returns ``None``), or ``None``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        recorder: Recorder,
        paths: Collection[str],
        subject: Callable[[Any, dict[str, str]], str | None] | None = None,
        explanation: Callable[[Any], Any] | None = None,
        model: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.app = app
        self.model = model
        self.recorder = recorder
        self.paths = frozenset(paths)
        self.subject = subject
        self.explanation = explanation
        self.recorded = 0
        self.skipped = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request, recording it when it is a decision."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        request = bytearray()

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request) <= MAX_BODY_BYTES:
                request.extend(message.get("body", b""))
            return message

        status = 0
        json_answer = False
        answer = bytearray()

        async def send_and_keep(message: Message) -> None:
            nonlocal status, json_answer
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                json_answer = headers.get(b"content-type", b"").startswith(b"application/json")
            elif message["type"] == "http.response.body" and len(answer) <= MAX_BODY_BYTES:
                answer.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive_and_keep, send_and_keep)
        if 200 <= status < 300 and json_answer:
            self._record(scope, bytes(request), bytes(answer))
        else:
            self.skipped += 1

    def _record(self, scope: Scope, request: bytes, answer: bytes) -> None:
        if len(request) > MAX_BODY_BYTES or len(answer) > MAX_BODY_BYTES:
            self.skipped += 1
            return
        try:
            given, output = orjson.loads(request), orjson.loads(answer)
        except orjson.JSONDecodeError:
            self.skipped += 1
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            self.recorder.record(
                given,
                output,
                subject=self.subject(given, headers) if self.subject else None,
                explanation=self.explanation(output) if self.explanation else None,
                model=self.model(output) if self.model else None,
            )
        except (KeelError, KeyError, TypeError, ValueError):
            self.skipped += 1  # an input without an RFC 8785 form, or a picker that failed
            return
        self.recorded += 1
