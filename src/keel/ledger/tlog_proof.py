"""Offline-verifiable inclusion proofs in the C2SP ``tlog-proof`` format.

::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry>
    index 73894
    <base64 hash>            (the inclusion path, leaf's sibling first)
    ...
    <empty line>
    <the signed checkpoint, verbatim>

Keel puts the entry itself in the ``extra`` line so that a verifier can hash it; the entry is
not trusted by virtue of being there: it is accepted only when its leaf hash is proved to be in
the signed tree.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from keel.errors import LedgerError
from keel.ledger.checkpoint import Checkpoint
from keel.ledger.merkle import leaf_hash, verify_inclusion
from keel.ledger.note import Verifier

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An entry, its index, its inclusion path and the signed checkpoint it is proved against."""

    entry: bytes
    index: int
    path: Sequence[bytes]
    checkpoint_note: str

    def encode(self) -> str:
        """The proof file's text.

        Returns:
            The ``tlog-proof`` text.
        """
        lines = [
            HEADER,
            f"extra {base64.b64encode(self.entry).decode()}",
            f"index {self.index}",
            *(base64.b64encode(h).decode() for h in self.path),
            "",
        ]
        return "\n".join(lines) + "\n" + self.checkpoint_note

    @classmethod
    def parse(cls, text: str) -> InclusionProof:
        """Read a proof file.

        Args:
            text: The ``tlog-proof`` text.

        Returns:
            The proof (not yet verified).

        Raises:
            LedgerError: If the text is not a well-formed proof.
        """
        if len(text) > MAX_PROOF_BYTES:
            raise LedgerError("proof file is larger than 1 MiB")
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise LedgerError("a tlog-proof needs an empty line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise LedgerError(f"not a tlog-proof: the first line must be {HEADER!r}")
        if len(lines) < 3 or not lines[1].startswith("extra "):
            raise LedgerError("a Keel tlog-proof carries the entry in an 'extra' line")
        if not lines[2].startswith("index "):
            raise LedgerError("missing 'index' line in the tlog-proof")
        number = lines[2].removeprefix("index ")
        if not number.isdigit() or (number.startswith("0") and number != "0"):
            raise LedgerError(f"bad index {number!r} in the tlog-proof")
        try:
            entry = base64.b64decode(lines[1].removeprefix("extra "), validate=True)
            path = [base64.b64decode(line, validate=True) for line in lines[3:]]
        except binascii.Error as exc:
            raise LedgerError(f"bad base64 in the tlog-proof: {exc}") from exc
        return cls(entry, int(number), path, note)

    def verify(self, verifiers: Iterable[Verifier]) -> Checkpoint:
        """Check the checkpoint's signature and the entry's inclusion in it.

        Args:
            verifiers: Trusted log keys.

        Returns:
            The checkpoint the entry is proved to be in.

        Raises:
            LedgerError: If the signature or the inclusion proof fails.
        """
        checkpoint = Checkpoint.open(self.checkpoint_note, verifiers)
        if not verify_inclusion(
            self.index, checkpoint.size, leaf_hash(self.entry), self.path, checkpoint.root
        ):
            raise LedgerError(
                f"entry {self.index} is not proved to be in the tree of size {checkpoint.size}"
            )
        return checkpoint
