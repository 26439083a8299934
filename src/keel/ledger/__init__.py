"""The trust ledger: RFC 9162 Merkle trees, C2SP signed checkpoints and proofs.

Pure computation: hashing, proofs, notes and formats. Storage lives in :mod:`keel.store`;
the service layer ties appends to the state changes they record.
"""

from keel.ledger.checkpoint import Checkpoint
from keel.ledger.entry import (
    Commitment,
    canonical_entry,
    canonical_json,
    commit,
    opening_digest,
)
from keel.ledger.merkle import (
    EMPTY_ROOT,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    new_nodes,
    node_hash,
    proof_keys,
    range_hash,
    right_edge,
    verify_consistency,
    verify_inclusion,
)
from keel.ledger.note import Signer, Verifier, open_note
from keel.ledger.tlog_proof import InclusionProof

__all__ = [
    "EMPTY_ROOT",
    "Checkpoint",
    "Commitment",
    "InclusionProof",
    "Signer",
    "Verifier",
    "canonical_entry",
    "canonical_json",
    "commit",
    "consistency_ranges",
    "inclusion_ranges",
    "leaf_hash",
    "new_nodes",
    "node_hash",
    "open_note",
    "opening_digest",
    "proof_keys",
    "range_hash",
    "right_edge",
    "verify_consistency",
    "verify_inclusion",
]
