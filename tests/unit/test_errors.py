"""Every error class crosses the wire as itself, with its facts (code, status, problems...)."""

from __future__ import annotations

import pytest

from error_examples import all_classes, example, facts
from keel import errors
from keel.errors import BY_CODE, KeelError


@pytest.mark.parametrize("kind", all_classes(), ids=lambda k: k.__name__)
def test_every_error_round_trips_through_its_body(kind: type[KeelError]) -> None:
    error = example(kind)
    retry = "3" if isinstance(error, errors.RateLimitError) else None
    back = KeelError.from_body(error.to_body(), error.http_status, retry)
    expected = facts(error)
    if isinstance(error, errors.RateLimitError):  # Retry-After is whole seconds on the wire
        expected["details"] = {"retry_after_s": 3.0}
    if kind is errors.RequestError:  # a 422's body rebuilds as the general E-USER class
        expected["class"] = errors.UserError
        expected["problems"] = []
        expected["http_status"] = 400
    assert facts(back) == expected


def test_codes_statuses_and_exits_are_declared_once() -> None:
    assert BY_CODE["E-FORBIDDEN"] is errors.ForbiddenError
    assert BY_CODE["E-USER"] is errors.UserError  # not the 422 subclass that shares it
    statuses = {cls.code: cls.http_status for cls in BY_CODE.values()}
    assert statuses == {
        "E-INTERNAL": 500, "E-USER": 400, "E-MANIFEST": 400, "E-NOT-FOUND": 404,
        "E-IN-USE": 400, "E-CONFIG": 400, "E-POLICY": 400, "E-DENIED": 400, "E-AUTH": 401,
        "E-RATE": 429, "E-FORBIDDEN": 403, "E-LIFECYCLE": 400, "E-EVENT": 400,
        "E-LEDGER": 400, "E-INTEGRITY": 500, "E-STORE": 503, "E-UNREACHABLE": 502,
        "E-DISPATCH": 400, "E-ENGINE": 502, "E-DECISION": 400, "E-GRID": 400, "E-TRACE": 400,
    }  # fmt: skip
    assert {c.code for c in BY_CODE.values() if c.exit_code == 3} == {"E-INTEGRITY"}


def test_a_body_without_a_known_shape_is_still_an_error_of_the_right_kind() -> None:
    assert type(KeelError.from_body("<html>bad gateway</html>", 502)) is KeelError
    assert type(KeelError.from_body({"detail": "x"}, 404)) is errors.UserError
    unknown = KeelError.from_body({"error": {"code": "E-FUTURE", "message": "m"}}, 409)
    assert type(unknown) is errors.UserError and unknown.message == "m"
