"""Checkpoints in the C2SP ``tlog-checkpoint`` format, signed as C2SP notes.

The note text is three lines: the log's origin, the tree size in decimal and the base64 root
hash, each ending in a newline::

    keel.local/ledger/5f0c8a1e
    1024
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from keel.errors import LedgerError
from keel.ledger.merkle import HASH_SIZE
from keel.ledger.note import Signer, Verifier, open_note

_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the log's size and root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        """The note text of this checkpoint.

        Returns:
            Origin, size and base64 root, one per line.
        """
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def sign(self, signer: Signer) -> str:
        """Sign this checkpoint.

        Args:
            signer: The log's key.

        Returns:
            The signed note.
        """
        return signer.sign(self.text())

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        """Read a checkpoint's note text (extension lines are allowed and ignored).

        Args:
            text: The note text.

        Returns:
            The checkpoint.

        Raises:
            LedgerError: If the text is not a checkpoint.
        """
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
            raise LedgerError("a checkpoint has origin, size and root hash lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not _SIZE.match(size):
            raise LedgerError(f"checkpoint tree size {size!r} is not a decimal number")
        try:
            raw = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise LedgerError("checkpoint root hash is not base64") from exc
        if len(raw) != HASH_SIZE:
            raise LedgerError("checkpoint root hash is not 32 bytes")
        return cls(origin, int(size), raw)

    @classmethod
    def open(
        cls, note: str, verifiers: Iterable[Verifier], origin: str | None = None
    ) -> Checkpoint:
        """Verify a signed checkpoint and read it.

        Args:
            note: The signed note.
            verifiers: Trusted keys.
            origin: The expected origin, if known.

        Returns:
            The checkpoint.

        Raises:
            LedgerError: If the signature or the format is bad, or the origin differs.
        """
        text, _ = open_note(note, verifiers)
        checkpoint = cls.parse_text(text)
        if origin is not None and checkpoint.origin != origin:
            raise LedgerError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
        return checkpoint
