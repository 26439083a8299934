"""C2SP signed notes with Ed25519 keys (c2sp.org/signed-note).

A signed note is a text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID || signature)``. The key ID of an Ed25519 key is the first four
bytes of ``SHA-256(key name || 0x0A || 0x01 || public key)``.

Keys travel as text, in the format the Go ``note`` package and C2SP tools use:

* signer: ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``
* verifier: ``<name>+<hex key id>+<base64(0x01 || 32-byte public key)>``

Invariants:
    * Verification ignores signature lines from unknown keys; a known key whose signature
      fails makes the whole note invalid; at least one known key must have signed.
    * Notes are valid UTF-8 without control characters other than newline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keel.errors import LedgerError

ED25519 = 0x01
EM_DASH = "\u2014"
MAX_SIGNATURES = 64


def key_id(name: str, public_key: bytes) -> int:
    """The C2SP key ID of an Ed25519 key.

    Args:
        name: Key name.
        public_key: 32-byte Ed25519 public key.

    Returns:
        The 32-bit key ID.
    """
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise LedgerError(f"invalid key name {name!r}: non-empty, no spaces, no '+'")


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that checks signatures."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> int:
        """The C2SP key ID."""
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        """The verifier key text (``name+id+base64``).

        Returns:
            The text.
        """
        blob = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{blob}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read a verifier key.

        Args:
            text: ``name+hexid+base64(0x01 || public key)``.

        Returns:
            The verifier.

        Raises:
            LedgerError: If the text is malformed or its key ID does not match.
        """
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise LedgerError("a verifier key has the form name+keyid+base64")
        name, hex_id, blob = parts
        _check_name(name)
        try:
            raw = base64.b64decode(blob, validate=True)
            wanted = int(hex_id, 16)
        except (binascii.Error, ValueError) as exc:
            raise LedgerError(f"malformed verifier key: {exc}") from exc
        if len(raw) != 33 or raw[0] != ED25519:
            raise LedgerError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
        verifier = cls(name, raw[1:])
        if verifier.key_id != wanted:
            raise LedgerError("verifier key ID does not match its name and key")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Check an Ed25519 signature.

        Args:
            message: Signed bytes.
            signature: 64-byte signature.

        Returns:
            Whether it is valid.
        """
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Signer:
    """A private key that signs notes."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> Signer:
        """Create a new random Ed25519 key.

        Args:
            name: Key name (the log origin, by convention).

        Returns:
            The signer.
        """
        _check_name(name)
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(name, seed)

    @property
    def verifier(self) -> Verifier:
        """The matching public key."""
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return Verifier(self.name, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def encode(self) -> str:
        """The signer key text; keep it secret.

        Returns:
            ``PRIVATE+KEY+name+id+base64``.
        """
        blob = base64.b64encode(bytes([ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id:08x}+{blob}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        """Read a signer key.

        Args:
            text: ``PRIVATE+KEY+name+hexid+base64(0x01 || seed)``.

        Returns:
            The signer.

        Raises:
            LedgerError: If the text is malformed.
        """
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise LedgerError("a signer key has the form PRIVATE+KEY+name+keyid+base64")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error as exc:
            raise LedgerError(f"malformed signer key: {exc}") from exc
        if len(raw) != 33 or raw[0] != ED25519:
            raise LedgerError("only Ed25519 signer keys are supported")
        signer = cls(parts[2], raw[1:])
        if f"{signer.verifier.key_id:08x}" != parts[3].lower():
            raise LedgerError("signer key ID does not match its key")
        return signer

    def sign(self, text: str) -> str:
        """Sign a note text.

        Args:
            text: The note text; must end with a newline.

        Returns:
            The signed note.
        """
        _check_text(text)
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        signature = key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id.to_bytes(4, "big") + signature).decode()
        return f"{text}\n{EM_DASH} {self.name} {blob}\n"

    def cosign(self, note: str) -> str:
        """Add this key's signature to a signed note (its text is what is signed).

        Args:
            note: A signed note.

        Returns:
            The note with one more signature line.

        Raises:
            LedgerError: If the note is malformed.
        """
        _check_text(note)
        split = note.rfind("\n\n")
        if split < 0:
            raise LedgerError("a signed note needs a blank line before its signatures")
        signed = self.sign(note[: split + 1])
        return note + signed[split + 2 :]


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise LedgerError("a note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise LedgerError("a note must not contain control characters other than newline")


def open_note(note: str, verifiers: Iterable[Verifier]) -> tuple[str, list[Verifier]]:
    """Verify a signed note and return its text.

    Args:
        note: The signed note.
        verifiers: Trusted keys.

    Returns:
        The note text and the known keys whose signatures verified.

    Raises:
        LedgerError: If the note is malformed, a known key's signature is bad, or no known
            key signed it.
    """
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise LedgerError("a signed note needs a blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise LedgerError(f"a signed note needs 1 to {MAX_SIGNATURES} signature lines")
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[Verifier] = []
    for line in lines:
        prefix = f"{EM_DASH} "
        if not line.startswith(prefix) or line.count(" ") != 2:
            raise LedgerError(f"malformed signature line: {line[:60]!r}")
        name, blob = line[len(prefix) :].split(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error as exc:
            raise LedgerError(f"signature of {name} is not base64") from exc
        if len(raw) < 5:
            raise LedgerError(f"signature of {name} is too short")
        verifier = known.get((name, int.from_bytes(raw[:4], "big")))
        if verifier is None:
            continue  # unknown keys are ignored (c2sp.org/signed-note)
        if not verifier.verify(text.encode(), raw[4:]):
            raise LedgerError(f"the signature of {name} does not verify")
        good.append(verifier)
    if not good:
        raise LedgerError("no signature from a trusted key")
    return text, good
