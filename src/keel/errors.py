"""The one error root of Keel and its stable error codes.

Every error Keel raises on purpose is a :class:`KeelError`. Each class carries a stable ``code``
that users, scripts and the API can rely on; the full list is in ``docs/errors.md``. Third-party
exceptions are translated into one of these at the adapter that calls the library.

The tree::

    KeelError                      E-INTERNAL   internal (exit 1)
    ├── UserError                  E-USER       the caller can fix it (exit 2)
    │   ├── ManifestError          E-MANIFEST   manifests that do not load or validate
    │   ├── NotFoundError          E-NOT-FOUND  a named resource does not exist
    │   ├── InUseError             E-IN-USE     a deletion would leave dangling references
    │   ├── ConfigError            E-CONFIG     bad settings, paths or database URL
    │   ├── PolicyError            E-POLICY     a policy module that does not load
    │   ├── DeniedError            E-DENIED     a compliance policy denies the change
    │   ├── AuthenticationError    E-AUTH       no valid credentials (HTTP 401)
    │   ├── RateLimitError         E-RATE       too many requests from one principal (HTTP 429)
    │   ├── ForbiddenError         E-FORBIDDEN  the access policy refuses the principal
    │   ├── LifecycleError         E-LIFECYCLE  a model version cannot make that transition
    │   ├── EventError             E-EVENT      an OpenLineage event breaks the schema
    │   └── LedgerError            E-LEDGER     malformed keys, notes, checkpoints or proofs
    ├── IntegrityError             E-INTEGRITY  the ledger failed verification (exit 3)
    └── StoreError                 E-STORE      the database failed (exit 1)
"""

from __future__ import annotations

from dataclasses import dataclass


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


class KeelError(Exception):
    """Root of every error Keel raises on purpose.

    Attributes:
        code: Stable error code, such as ``E-MANIFEST``.
        hint: One line telling the user what to do next, or ``""``.
        exit_code: Process exit status the CLI uses: 2 for user errors, 1 for internal ones.
    """

    code = "E-INTERNAL"
    exit_code = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UserError(KeelError):
    """An error the caller can fix by changing the input or the command."""

    code = "E-USER"
    exit_code = 2


class ManifestError(UserError):
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
            hint=hint or "fix the lines above; nothing was changed",
        )
        self.problems = problems


class NotFoundError(UserError):
    """A named resource does not exist."""

    code = "E-NOT-FOUND"


class InUseError(UserError):
    """Deleting or pruning would leave other resources pointing at nothing.

    Attributes:
        problems: Each reference that would dangle.
    """

    code = "E-IN-USE"

    def __init__(self, message: str, problems: list[Problem], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


class ConfigError(UserError):
    """Settings, paths or the database URL are wrong."""

    code = "E-CONFIG"


class PolicyError(UserError):
    """A Rego module does not load: a syntax error, a forbidden built-in, a reserved package.

    Attributes:
        problems: Each problem, located by file and line.
    """

    code = "E-POLICY"

    def __init__(self, problems: list[Problem], *, hint: str = "") -> None:
        super().__init__(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the policies",
            hint=hint or "fix the lines above; no policy was changed",
        )
        self.problems = problems


class DeniedError(UserError):
    """A compliance policy denies a change (admission): the workload may run nowhere.

    Attributes:
        problems: Each denial, with the rule that made it.
    """

    code = "E-DENIED"

    def __init__(self, problems: list[Problem], *, hint: str = "") -> None:
        count = len(problems)
        super().__init__(
            f"{count} denial{'s' if count != 1 else ''} by the policy in force",
            hint=hint or "nothing was changed; `keel policy eval --workload NAME` shows why",
        )
        self.problems = problems


class AuthenticationError(UserError):
    """A request without valid credentials: none, malformed, unknown, expired or revoked.

    The message never repeats the credential.
    """

    code = "E-AUTH"


class RateLimitError(UserError):
    """A principal sent more requests than its rate allows.

    Attributes:
        retry_after_s: Seconds until a request would be accepted again.
    """

    code = "E-RATE"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, hint="wait Retry-After seconds, or ask for a higher limit")
        self.retry_after_s = retry_after_s


class ForbiddenError(UserError):
    """The access policy refuses a principal an action (the refusal is in the ledger).

    Attributes:
        policies: The policies that decided (a ``forbid``'s id, or none for default deny).
    """

    code = "E-FORBIDDEN"

    def __init__(self, message: str, policies: list[str], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.policies = policies


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


class StoreError(KeelError):
    """The database failed in a way the caller cannot fix by changing the input."""

    code = "E-STORE"


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
