"""Sensitive data in tool-call arguments and results, found offline.

Every detector proposes candidates with a pattern and keeps only those a well-kept library
validates, so a number that merely looks like a card or an IBAN is not reported:

=================  =========================================================================
kind               how it is found
=================  =========================================================================
``card``           13 to 19 digits (spaces or dashes allowed) with a card network's prefix,
                   passing the Luhn check (``python-stdnum``)
``iban``           a country code, two check digits and up to 30 letters or digits, valid
                   per ISO 13616 (``python-stdnum``, with the country's length and format)
``national_id``    a US social security number written ``123-45-6789`` or a Chinese
                   resident identity number (18 characters with its check character), valid
                   per ``python-stdnum``
``phone``          an international number (``+`` and country code) that ``phonenumbers``
                   parses as valid
``email``          an address with a dotted domain
``secret``         keys and tokens with a known shape (cloud, code hosts, chat, payment,
                   private keys, JWTs, basic-auth URLs), by ``detect-secrets``' pattern
                   plugins; its entropy and keyword guesses are not used (too many false
                   alarms on ordinary text)
=================  =========================================================================

A finding names its kind, where it is (a JSON path such as ``$.customer.iban``) and its span
in that string, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.cn import ric
from stdnum.us import ssn

KINDS = ("card", "iban", "national_id", "phone", "email", "secret")
UNSCANNED = ("too_deep", "too_slow")
"""Findings that say a part could not be scanned (it is then blocked, not forwarded)."""
MAX_DEPTH = 32
"""Nesting followed in a JSON value; deeper parts are reported as ``too_deep``."""

_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5)|35)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_RIC = re.compile(r"(?<![\dXx])\d{17}[\dXx](?![\dXx])")
_EMAIL = re.compile(
    r"(?<![\w.%+:/-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_SECRET_PLUGINS = (
    "AWSKeyDetector",
    "ArtifactoryDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "JwtTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """Sensitive data found: what, where (a JSON path) and its span in that string."""

    kind: str
    path: str
    start: int
    end: int


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            yield match.span()


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    for match in _IBAN.finditer(text):
        if stdnum_iban.is_valid(match.group()):
            yield match.span()


def _national_ids(text: str) -> Iterator[tuple[int, int]]:
    for match in _SSN.finditer(text):
        if ssn.is_valid(match.group()):
            yield match.span()
    for match in _RIC.finditer(text):
        if ric.is_valid(match.group()):
            yield match.span()


def _phones(text: str) -> Iterator[tuple[int, int]]:
    if "+" not in text:
        return
    for match in phonenumbers.PhoneNumberMatcher(text, None, leniency=phonenumbers.Leniency.VALID):
        yield match.start, match.end


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for match in _EMAIL.finditer(text):
        yield match.span()


@cache
def _secret_plugins() -> tuple[Any, ...]:
    """The pattern plugins, made once (``detect-secrets``' scan settings cost 0.4 ms a call).

    They are called directly, without the scanner's filters: a line marked ``pragma:
    allowlist secret`` would otherwise hide a key from the check.
    """
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    found = {cls.__name__: cls for cls in classes}
    return tuple(found[name]() for name in _SECRET_PLUGINS)


@cache
def _secret_patterns() -> tuple[re.Pattern[str], ...]:
    """Every plugin's patterns: a line none of them matches holds no secret."""
    return tuple(pattern for plugin in _secret_plugins() for pattern in plugin.denylist)


_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-.+/=]*")
"""What follows a reported secret and still belongs to the token. detect-secrets reports a
pattern's group when it has one: ``ghp`` of a GitHub token, ``glpat`` of a GitLab one, a JWT
without its signature; redacting only that would hand the rest of the key on."""


def _secrets(text: str) -> Iterator[tuple[int, int]]:
    plugins = _secret_plugins()
    patterns = _secret_patterns()
    for line_start, line in _lines(text):
        if not any(p.search(line) for p in patterns):  # the plugins' own work, skipped
            continue
        for plugin in plugins:
            for found in plugin.analyze_line(filename="arguments", line=line, line_number=1):
                value = found.secret_value or ""
                at = line.find(value) if value else -1
                if at < 0:
                    yield line_start, line_start + len(line)
                else:  # a plugin may report a prefix only (its pattern's group): take the token
                    end = _TOKEN_TAIL.match(line, at + len(value))
                    yield line_start + at, line_start + (end.end() if end else at + len(value))


def _lines(text: str) -> Iterator[tuple[int, str]]:
    at = 0
    for line in text.splitlines(keepends=True):
        yield at, line.rstrip("\r\n")
        at += len(line)


_DETECTORS = {
    "card": _cards,
    "iban": _ibans,
    "national_id": _national_ids,
    "phone": _phones,
    "email": _emails,
    "secret": _secrets,
}


Patterns = Mapping[str, Any]
"""Custom patterns by kind: ``regex`` module patterns, each searched under a time limit."""
PATTERN_TIMEOUT_S = 0.05
"""A custom pattern that takes longer on one string makes it unscannable (``too_slow``)."""


def scan_text(text: str, path: str = "$", patterns: Patterns | None = None) -> list[Finding]:
    """Every finding in one string, by kind then position.

    Overlaps are kept: a card number inside a secret is both. A custom pattern that runs past
    :data:`PATTERN_TIMEOUT_S` (catastrophic backtracking) is reported as ``too_slow``.
    """
    found = [
        Finding(kind, path, start, end)
        for kind, detect in _DETECTORS.items()
        for start, end in sorted(set(detect(text)))
    ]
    for kind, pattern in (patterns or {}).items():
        try:
            found += [
                Finding(kind, path, *m.span())
                for m in pattern.finditer(text, timeout=PATTERN_TIMEOUT_S)
                if m.end() > m.start()
            ]
        except TimeoutError:
            found.append(Finding("too_slow", path, 0, 0))
    return found


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{key!r}]"


class _UnscannableError(Exception):
    """A custom pattern ran out of time: the value is blocked, so scanning stops there."""

    def __init__(self, path: str) -> None:
        self.path = path


def scan(value: object, path: str = "$", patterns: Patterns | None = None) -> list[Finding]:
    """Every finding in a JSON value, keys as well as values.

    Numbers are scanned as their digits: a card number sent as a number is still one. The first
    string a custom pattern cannot finish in time ends the scan with a ``too_slow`` finding, so
    a hostile value costs at most one :data:`PATTERN_TIMEOUT_S` per pattern, not one per string.
    """
    try:
        return _scan(value, path, 0, patterns)
    except _UnscannableError as stopped:
        return [Finding("too_slow", stopped.path, 0, 0)]


def _text(text: str, path: str, patterns: Patterns | None) -> list[Finding]:
    found = scan_text(text, path, patterns)
    if any(f.kind == "too_slow" for f in found):
        raise _UnscannableError(path)
    return found


def _scan(value: object, path: str, depth: int, patterns: Patterns | None) -> list[Finding]:
    if depth > MAX_DEPTH:
        return [Finding("too_deep", path, 0, 0)]
    if isinstance(value, str):
        return _text(value, path, patterns)
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return _text(str(value), path, patterns)
    if isinstance(value, list):
        return [
            f
            for i, item in enumerate(value)
            for f in _scan(item, f"{path}[{i}]", depth + 1, patterns)
        ]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            where = _child(path, key)
            found += _text(key, where + "<key>", patterns)
            found += _scan(item, where, depth + 1, patterns)
        return found
    return []


def redact(value: object, findings: list[Finding], kinds: set[str]) -> object:
    """The value with the spans of ``kinds`` found in it replaced by ``[KIND]``."""
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for f in findings:
        if f.kind in kinds:
            spans.setdefault(f.path, []).append((f.start, f.end, f.kind))
    return _redact(value, "$", spans)


def _redact(value: object, path: str, spans: dict[str, list[tuple[int, int, str]]]) -> object:
    if isinstance(value, str | int | float) and not isinstance(value, bool) and path in spans:
        text = value if isinstance(value, str) else str(value)
        merged: list[list[Any]] = []
        for start, end, kind in sorted(spans[path]):
            if merged and start < merged[-1][1]:  # overlapping spans: one mark
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, kind])
        for start, end, kind in reversed(merged):
            text = text[:start] + f"[{kind.upper()}]" + text[end:]
        return text
    if isinstance(value, list):
        return [_redact(item, f"{path}[{i}]", spans) for i, item in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = _redact(item, _child(path, key), spans)
        return out
    return value
