r"""The gateway's file: which MCP servers it fronts and what each tool reads and sends.

.. code-block:: yaml

    servers:
      bank:                                   # a name, used in messages and the ledger
        command: [python3, -m, keel.gateway.bank_tools]   # stdio: a process the gateway starts
        env: {BANK_TOKEN: '${BANK_TOKEN}'}    # its environment (taken from the gateway's)
        timeout_s: 10                         # a call that takes longer fails (default 30)
      search:
        url: http://127.0.0.1:9000/mcp        # streamable HTTP
        headers: {Authorization: 'Bearer ${SEARCH_KEY}'}  # sent with every request
    tools:
      crm-read: {returns: confidential}       # its results carry confidential data
      case-create: {sink: confidential}       # it may receive up to confidential data
      web-search: {sink: public}              # what it receives leaves the bank
      customer-lookup: {reads: [eu-customer-profiles]}   # serves a dataset: Cedar decides
      payment-release: {sink: confidential, approval: true}   # waits for an approver
    approval_timeout_s: 300                   # then the waiting call is refused
    calls_per_minute: 120                     # the agent's rate (a tool may have its own)
    calls_per_session: 1000                   # a session's budget
    patterns:                                 # the bank's own kinds of sensitive data
      account_no: {regex: 'ACC-\d{8}', action: redact}
    actions: {email: allow}                   # a built-in kind's action, changed

Credentials for the servers come from the gateway's environment: ``${NAME}`` in a header or
an ``env`` value is replaced by the variable ``NAME`` when the gateway starts (a missing one is
an error naming it). A value that holds a key itself is refused: the file is configuration,
not a vault.

A tool's ``returns`` is the classification of what it gives back (default ``public``: its
results are still scanned). A tool's ``sink`` is the highest classification the place it
sends its arguments to may hold; without it, the tool's ``returns`` (a system that serves
confidential data is cleared to hold it). A tool not listed returns and receives ``public``
(fail closed: an unknown destination is outside).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import regex  # type: ignore[import-untyped]
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from keel.errors import UserError
from keel.estate.resources import CLASSIFICATION_ORDER, Classification
from keel.gateway.detectors import KINDS, UNSCANNED, scan_text
from keel.gateway.screening import DEFAULT_ACTIONS

Name = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")]
MAX_FILE_BYTES = 1 << 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Setting = Annotated[str, Field(max_length=4096)]


class Upstream(_Strict):
    """One MCP server: a command to start (stdio) or a URL (streamable HTTP)."""

    command: list[str] | None = Field(default=None, min_length=1, max_length=64)
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    headers: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")], Setting] = Field(
        default_factory=dict, max_length=32
    )
    """HTTP headers sent with every request (``url`` only); ``${NAME}`` from the environment."""
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")], Setting] = Field(
        default_factory=dict, max_length=64
    )
    """Environment variables of the server's process (``command`` only), besides the SDK's
    defaults (``HOME``, ``PATH`` ...); ``${NAME}`` from the gateway's environment."""

    @model_validator(mode="after")
    def _one_transport(self) -> Upstream:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (streamable HTTP)")
        if self.headers and self.url is None:
            raise ValueError("headers are for a url; a command's server takes env")
        if self.env and self.command is None:
            raise ValueError("env is for a command; a url's server takes headers")
        for field, values in (("headers", self.headers), ("env", self.env)):
            for name, value in values.items():
                if any(f.kind == "secret" for f in scan_text(_REFERENCE.sub("", value))):
                    raise ValueError(
                        f"{field}.{name} holds a key: put it in an environment variable and"
                        " write ${NAME}"
                    )
        return self

    def resolved(
        self, server: str, environ: Mapping[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and env of ``server`` (this) with ``${NAME}`` replaced from ``environ``.

        Raises:
            UserError: If a variable is not set, naming the field and the variable.
        """
        found: list[dict[str, str]] = []
        for field, values in (("headers", self.headers), ("env", self.env)):
            done = {}
            for name, value in values.items():
                missing = [v for v in _REFERENCE.findall(value) if v not in environ]
                if missing:
                    raise UserError(
                        f"servers.{server}.{field}.{name}: the environment variable"
                        f" {missing[0]} is not set",
                        hint="set it where the gateway runs",
                    )
                done[name] = _REFERENCE.sub(lambda m: environ[m[1]], value)
            found.append(done)
        return found[0], found[1]


class ToolRule(_Strict):
    """What a tool gives back and where what it is given goes.

    Without ``sink``, a tool receives up to what it returns: a system that serves restricted
    data is cleared to hold it (``crm-read`` may be asked again after its own answer).
    """

    returns: Classification = "public"
    sink: Classification | None = None
    approval: bool = False
    """High impact: each call waits for an approver before it is forwarded."""
    calls_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    """At most this many calls of the tool in any minute (the agent's, through this gateway)."""
    reads: list[Name] = Field(default_factory=list, max_length=64)
    """Datasets of the estate the tool serves: the agent must be allowed to read each (the
    access policy decides), and its results are at least their classification."""

    @property
    def receives(self) -> Classification:
        """The highest classification the tool may be sent."""
        return self.returns if self.sink is None else self.sink


class CustomPattern(_Strict):
    """A kind of sensitive data of the bank's own: a pattern and what finding it does."""

    regex: str = Field(min_length=1, max_length=500)
    action: Literal["redact", "block"] = "redact"

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return value


class Upstreams(_Strict):
    """The servers a gateway fronts and the labels of their tools."""

    servers: dict[Name, Upstream] = Field(min_length=1, max_length=64)
    tools: dict[str, ToolRule] = Field(default_factory=dict, max_length=4096)
    approval_timeout_s: float = Field(default=300.0, gt=0, le=86_400)
    """How long a call that needs an approver waits before it is refused."""
    calls_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    """At most this many forwarded calls of the agent in any minute."""
    calls_per_session: int | None = Field(default=None, ge=1, le=10_000_000)
    """A session's budget: at most this many forwarded calls."""
    patterns: dict[Name, CustomPattern] = Field(default_factory=dict, max_length=64)
    """Custom kinds of sensitive data, found in arguments and results like the built-in ones."""
    actions: dict[Literal["card", "iban", "national_id", "phone", "email", "secret"],
                  Literal["allow", "redact", "block"]] = Field(default_factory=dict)  # fmt: skip
    """What a built-in kind found in arguments does, instead of the default."""

    @model_validator(mode="after")
    def _own_kinds(self) -> Upstreams:
        clash = sorted(set(self.patterns) & {*KINDS, *UNSCANNED})
        if clash:
            raise ValueError(f"patterns {', '.join(clash)}: built-in kinds; name yours otherwise")
        return self

    def compiled(self) -> dict[str, Any]:
        """The custom patterns, compiled."""
        return {kind: regex.compile(p.regex) for kind, p in self.patterns.items()}

    def kind_actions(self) -> dict[str, Literal["allow", "redact", "block"]]:
        """What each kind found in arguments does: defaults, overrides, custom patterns."""
        found: dict[str, Literal["allow", "redact", "block"]] = dict(DEFAULT_ACTIONS)
        for kind, action in self.actions.items():
            found[kind] = action
        found.update({kind: p.action for kind, p in self.patterns.items()})
        return found

    def rule(self, tool: str) -> ToolRule:
        """The tool's labels; an unlisted tool returns and receives ``public`` data."""
        return self.tools.get(tool, ToolRule())


def rank(level: Classification) -> int:
    """A classification's place: ``public`` 0 up to ``restricted`` 3."""
    return CLASSIFICATION_ORDER.index(level)


def load(path: Path) -> Upstreams:
    """Read a gateway file.

    Raises:
        UserError: If it is missing, too large, not YAML or not valid, naming the field.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"{path}: cannot read the gateway file ({exc.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise UserError(f"{path}: {size:,} bytes; a gateway file holds at most 1 MiB")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not YAML ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a mapping with servers and tools")
    try:
        return Upstreams.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:5]
        ]
        raise UserError(f"{path}: {'; '.join(problems)}") from None
