"""The one error root of Keel, its stable codes, and how each error crosses the wire.

Every error Keel raises on purpose is a :class:`KeelError`. Each class declares its stable
``code``, the HTTP status the API answers with and the exit status the CLI ends with, and
carries its facts (problems, policies, the event's location, the wait). :meth:`KeelError.to_body`
is the API's error body and :meth:`KeelError.from_body` rebuilds the same class, with the same
facts, in :class:`keel.Client` and the CLI over ``--server``. The codes are listed in
``docs/errors.md``.

The tree (code, HTTP status, exit status)::

    KeelError                      E-INTERNAL   500  1  internal
    ├── UserError                  E-USER       400  2  the caller can fix it
    │   ├── ManifestError          E-MANIFEST   400  2  manifests that do not load or validate
    │   ├── NotFoundError          E-NOT-FOUND  404  2  a named resource does not exist
    │   ├── InUseError             E-IN-USE     400  2  a deletion would leave references dangling
    │   ├── ConfigError            E-CONFIG     400  2  bad settings, paths or database URL
    │   ├── PolicyError            E-POLICY     400  2  a policy module that does not load
    │   ├── DeniedError            E-DENIED     400  2  a compliance policy denies the change
    │   ├── AuthenticationError    E-AUTH       401  2  no valid credentials
    │   ├── RateLimitError         E-RATE       429  2  too many requests
    │   ├── ForbiddenError         E-FORBIDDEN  403  2  the access policy refuses the principal
    │   ├── LifecycleError         E-LIFECYCLE  400  2  a model version cannot make that transition
    │   ├── EventError             E-EVENT      400  2  an OpenLineage event breaks the schema
    │   ├── DecisionError          E-DECISION   400  2  decision records that are refused
    │   ├── LedgerError            E-LEDGER     400  2  malformed keys, notes, checkpoints or proofs
    │   ├── DispatchError          E-DISPATCH   400  2  placed work its engine cannot run
    │   └── EngineError            E-ENGINE     502  2  an engine is unreachable or refused
    ├── IntegrityError             E-INTEGRITY  500  3  the ledger failed verification
    └── StoreError                 E-STORE      503  1  the database failed
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in user input.

    Attributes:
        path: The file the problem is in, or ``"<input>"``.
        line: The 1-based line, or 0 when unknown.
        resource: ``Kind/name`` of the resource, or ``""`` when not known yet.
        field: Dotted field path inside the resource (``spec.pools[0].count``), or ``""``.
        message: What is wrong, with a "did you mean ...?" where one fits.
    """

    path: str
    line: int
    resource: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        parts = [where]
        if self.resource:
            parts.append(self.resource)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The problem as the API sends it."""
        return {
            "path": self.path,
            "line": self.line,
            "resource": self.resource,
            "field": self.field,
            "message": self.message,
            "text": str(self),
        }

    @classmethod
    def from_json(cls, data: Any) -> Problem:
        """A problem from :meth:`to_json` (or the bare text older servers sent)."""
        if isinstance(data, Mapping):
            return cls(
                str(data.get("path", "")),
                int(data.get("line", 0) or 0),
                str(data.get("resource", "")),
                str(data.get("field", "")),
                str(data.get("message", "")),
            )
        return cls("<server>", 0, "", "", str(data))


class KeelError(Exception):
    """Root of every error Keel raises on purpose.

    Attributes:
        code: Stable error code, such as ``E-MANIFEST``.
        http_status: The status the API answers with.
        exit_code: Process exit status the CLI uses: 2 for user errors, 1 for internal ones.
        hint: One line telling the user what to do next, or ``""``.
    """

    code: ClassVar[str] = "E-INTERNAL"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def problems(self) -> list[Problem]:
        """The located problems the error carries (none unless the class has them)."""
        return []

    def details(self) -> dict[str, Any]:
        """The class's own facts, as body fields (beside code, message, hint, problems)."""
        return {}

    def to_body(self) -> dict[str, Any]:
        """The API's error body: ``{"error": {"code", "message", "hint"?, ...}}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        if self.problems:
            body["problems"] = [p.to_json() for p in self.problems]
        return {"error": body | self.details()}

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        return cls(message, hint=hint)

    @staticmethod
    def from_body(body: Any, status: int = 500, retry_after: str | None = None) -> KeelError:
        """Rebuild the error an API body describes, as its own class with its facts.

        Args:
            body: The decoded JSON body (``{"error": {...}}``), or anything else.
            status: The HTTP status (chooses the class when the body has no known code).
            retry_after: The ``Retry-After`` header, for ``E-RATE``.

        Returns:
            The error.
        """
        fields = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(fields, Mapping):
            kind: type[KeelError] = UserError if 400 <= status < 500 else KeelError
            return kind(f"HTTP {status}: {str(body)[:200]}")
        code = str(fields.get("code", ""))
        message = str(fields.get("message", ""))
        hint = str(fields.get("hint", ""))
        if code == RateLimitError.code and retry_after is not None:
            fields = {**fields, "retry_after_s": float(retry_after or 1)}
        kind = BY_CODE.get(code, UserError if 400 <= status < 500 else KeelError)
        return kind._from_fields(message, hint, fields)


class UserError(KeelError):
    """An error the caller can fix by changing the input or the command."""

    code = "E-USER"
    http_status = 400
    exit_code = 2


class _ProblemsError(UserError):
    """A user error that lists located problems."""

    def __init__(self, message: str, problems: list[Problem], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self._problems = problems

    @property
    def problems(self) -> list[Problem]:
        """Every problem found, in file and line order."""
        return self._problems

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        error = cls.__new__(cls)
        _ProblemsError.__init__(
            error,
            message,
            [Problem.from_json(p) for p in fields.get("problems") or []],
            hint=hint,
        )
        return error


class RequestError(_ProblemsError):
    """An API request whose body or query does not match the route's schema (HTTP 422).

    Attributes:
        problems: Each field that is wrong (``body.objective``).
    """

    code = "E-USER"
    http_status = 422


class ManifestError(_ProblemsError):
    """Manifests that cannot be read, parsed or validated.

    Attributes:
        problems: Every problem found, in file and line order.
    """

    code = "E-MANIFEST"

    def __init__(self, problems: list[Problem], *, hint: str = "") -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{count} {noun} in the manifests",
            problems,
            hint=hint or "fix the lines above; nothing was changed",
        )


class NotFoundError(UserError):
    """A named resource does not exist."""

    code = "E-NOT-FOUND"
    http_status = 404


class InUseError(_ProblemsError):
    """Deleting or pruning would leave other resources pointing at nothing.

    Attributes:
        problems: Each reference that would dangle.
    """

    code = "E-IN-USE"


class ConfigError(UserError):
    """Settings, paths or the database URL are wrong."""

    code = "E-CONFIG"


class PolicyError(_ProblemsError):
    """A Rego module does not load: a syntax error, a forbidden built-in, a reserved package.

    Attributes:
        problems: Each problem, located by file and line.
    """

    code = "E-POLICY"

    def __init__(self, problems: list[Problem], *, hint: str = "") -> None:
        super().__init__(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the policies",
            problems,
            hint=hint or "fix the lines above; no policy was changed",
        )


class DeniedError(_ProblemsError):
    """A compliance policy denies a change (admission): the workload may run nowhere.

    Attributes:
        problems: Each denial, with the rule that made it.
    """

    code = "E-DENIED"

    def __init__(self, problems: list[Problem], *, hint: str = "") -> None:
        count = len(problems)
        super().__init__(
            f"{count} denial{'s' if count != 1 else ''} by the policy in force",
            problems,
            hint=hint or "nothing was changed; `keel policy eval --workload NAME` shows why",
        )


class AuthenticationError(UserError):
    """A request without valid credentials: none, malformed, unknown, expired or revoked.

    The message never repeats the credential.
    """

    code = "E-AUTH"
    http_status = 401


class RateLimitError(UserError):
    """A principal sent more requests than its rate allows.

    Attributes:
        retry_after_s: Seconds until a request would be accepted again.
    """

    code = "E-RATE"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, hint="wait Retry-After seconds, or ask for a higher limit")
        self.retry_after_s = retry_after_s

    def details(self) -> dict[str, Any]:
        """The wait, in seconds."""
        return {"retry_after_s": self.retry_after_s}

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        return cls(message, float(fields.get("retry_after_s", 1.0)))


class ForbiddenError(UserError):
    """The access policy refuses a principal an action (the refusal is in the ledger).

    Attributes:
        policies: The policies that decided (a ``forbid``'s id, or none for default deny).
    """

    code = "E-FORBIDDEN"
    http_status = 403

    def __init__(self, message: str, policies: list[str], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.policies = policies

    def details(self) -> dict[str, Any]:
        """The policies that decided."""
        return {"policies": list(self.policies)}

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        return cls(message, [str(p) for p in fields.get("policies") or []], hint=hint)


class LifecycleError(UserError):
    """A model version cannot make the transition asked: wrong state, missing evaluations."""

    code = "E-LIFECYCLE"


class EventError(UserError):
    """An OpenLineage event that breaks the 2-0-2 schema or Keel's limits; nothing was stored.

    Attributes:
        index: Which event of the batch (0-based; the line number minus one for a file).
        path: Where in the event (``$.run.runId``).
        schema_path: The schema rule that failed.
    """

    code = "E-EVENT"

    def __init__(self, message: str, *, index: int, path: str, schema_path: str) -> None:
        super().__init__(message)
        self.index = index
        self.path = path
        self.schema_path = schema_path

    def details(self) -> dict[str, Any]:
        """Where in which event."""
        return {"index": self.index, "path": self.path, "schema_path": self.schema_path}

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        return cls(
            message,
            index=int(fields.get("index", 0)),
            path=str(fields.get("path", "$")),
            schema_path=str(fields.get("schema_path", "")),
        )


class DecisionError(_ProblemsError):
    """Decision records that are refused (malformed, unknown model version, duplicate id...).

    A batch is all or nothing: when this is raised, no record of the batch was stored.

    Attributes:
        problems: Each refused record (``records[3]``), field and why.
    """

    code = "E-DECISION"


class GridError(_ProblemsError):
    """A grid signal (carbon intensity, electricity price) that cannot be read or used.

    A file in an unknown format, times out of order or repeated, a value out of range for its
    unit, a zone without data for the horizon.

    Attributes:
        problems: Each bad line of the file (``file:line``), up to 20.
    """

    code = "E-GRID"


class TraceError(_ProblemsError):
    """A demand trace that cannot be read.

    An unknown format or columns, unreadable values, negative durations, times out of order
    where the format needs them in order.

    Attributes:
        problems: Each bad row of the file (``file:line``, with its column), up to 20.
    """

    code = "E-TRACE"


class UnreachableError(UserError):
    """The server a front end was pointed at (``--server``, ``KEEL_SERVER``) cannot be reached.

    Attributes:
        url: The server's URL as given.
    """

    code = "E-UNREACHABLE"
    http_status = 502

    def __init__(self, message: str, *, url: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.url = url

    def details(self) -> dict[str, Any]:
        """The URL that could not be reached."""
        return {"url": self.url}

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        return cls(message, url=str(fields.get("url", "")), hint=hint)


class DispatchError(_ProblemsError):
    """Placed work its engine cannot run, found before anything is submitted.

    A missing image for Kubernetes, a credential reference that does not resolve, an engine
    whose client library is not installed.

    Attributes:
        problems: Each workload or cluster, with the field that is wrong.
    """

    code = "E-DISPATCH"


class EngineError(UserError):
    """An execution engine (Ray, Slurm, Kubernetes, local processes) is unreachable or refused.

    Attributes:
        cluster: The ``Cluster`` resource whose engine failed.
        unreachable: ``True`` when the engine could not be reached at all (its runs are then
            ``unknown``, not failed); ``False`` when it answered with a refusal.
    """

    code = "E-ENGINE"
    http_status = 502

    def __init__(
        self, message: str, *, cluster: str, unreachable: bool = True, hint: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.cluster = cluster
        self.unreachable = unreachable

    def details(self) -> dict[str, Any]:
        """The cluster and whether it was reachable."""
        return {"cluster": self.cluster, "unreachable": self.unreachable}

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        return cls(
            message,
            cluster=str(fields.get("cluster", "")),
            unreachable=bool(fields.get("unreachable", True)),
            hint=hint,
        )


class StoreError(KeelError):
    """The database failed in a way the caller cannot fix by changing the input."""

    code = "E-STORE"
    http_status = 503


class LedgerError(UserError):
    """A key, signed note, checkpoint or proof is malformed or does not verify."""

    code = "E-LEDGER"


class IntegrityError(KeelError):
    """The ledger does not verify: an entry, hash or checkpoint was altered, removed or added.

    Attributes:
        first_bad_index: The first log index found wrong, or ``None`` when the failure is not
            tied to one entry (a bad checkpoint signature, say).
    """

    code = "E-INTEGRITY"
    exit_code = 3

    def __init__(self, message: str, *, first_bad_index: int | None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.first_bad_index = first_bad_index

    def details(self) -> dict[str, Any]:
        """The first bad index."""
        return {"first_bad_index": self.first_bad_index}

    @classmethod
    def _from_fields(cls, message: str, hint: str, fields: Mapping[str, Any]) -> KeelError:
        index = fields.get("first_bad_index")
        return cls(message, first_bad_index=None if index is None else int(index), hint=hint)


def _subclasses(root: type[KeelError]) -> list[type[KeelError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _subclasses(sub)
    return found


BY_CODE: dict[str, type[KeelError]] = {}
"""Every error class by its code (the wire's way back to the class); a code shared by a
subclass (``RequestError`` is ``E-USER`` too) maps to the most general class."""
for _cls in _subclasses(KeelError):
    if not _cls.__name__.startswith("_"):
        BY_CODE.setdefault(_cls.code, _cls)
