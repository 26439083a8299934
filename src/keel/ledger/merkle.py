"""Merkle hash trees exactly as RFC 9162 section 2.1 defines them, with proofs.

Hashes: ``leaf = SHA-256(0x00 || entry)``, ``node = SHA-256(0x01 || left || right)``, and the
hash of the empty tree is ``SHA-256("")``. A tree of ``n`` leaves splits at ``k``, the largest
power of two smaller than ``n``.

Storage is by *complete subtrees*: the node at ``(level, index)`` is the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``. Every range the RFC's recursion visits is a
sequence of such subtrees, so any proof needs only O(log n) stored hashes. Proof generation is
split in two pure steps: :func:`inclusion_ranges` / :func:`consistency_ranges` say which leaf
ranges the proof is made of, :func:`subtrees` says which stored nodes make up a range, and
:func:`range_hash` combines them once they are read.

Invariants:
    * Nothing here does I/O; callers read the nodes named by :func:`proof_keys`.
    * Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""``(level, index)`` of a complete subtree."""

LeafRange = tuple[int, int]
"""``[start, end)`` in leaf indices."""


def leaf_hash(entry: bytes) -> bytes:
    """The RFC 9162 hash of one log entry.

    Args:
        entry: The entry's bytes.

    Returns:
        ``SHA-256(0x00 || entry)``.
    """
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node.

    Args:
        left: Hash of the left child.
        right: Hash of the right child.

    Returns:
        ``SHA-256(0x01 || left || right)``.
    """
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (for ``n >= 2``).

    Args:
        n: A tree size of at least 2.

    Returns:
        ``k`` with ``k < n <= 2k``.
    """
    return 1 << ((n - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> list[NodeKey]:
    """The complete subtrees that make up a leaf range, left to right.

    Args:
        start: First leaf of the range.
        end: One past the last leaf.

    Returns:
        ``(level, index)`` keys whose leaves, concatenated, are exactly ``[start, end)``.
    """
    keys = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def range_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """The RFC 9162 hash of the leaves ``[start, end)``, from stored complete subtrees.

    Valid for every range the RFC's recursion produces (the whole tree and the ranges in its
    proofs), whose subtrees shrink from left to right.

    Args:
        start: First leaf.
        end: One past the last leaf.
        nodes: At least the hashes of ``subtrees(start, end)``.

    Returns:
        The range's hash; :data:`EMPTY_ROOT` for an empty range.
    """
    keys = subtrees(start, end)
    if not keys:
        return EMPTY_ROOT
    result = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        result = node_hash(nodes[key], result)
    return result


def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """Leaf ranges whose hashes form the inclusion proof of one leaf (RFC 9162 2.1.3.1).

    Args:
        index: The leaf, ``0 <= index < size``.
        size: The tree size.

    Returns:
        Ranges from the leaf's sibling up to the root's child.

    Raises:
        ValueError: If the index is not in the tree.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[LeafRange] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    path.reverse()
    return path


def consistency_ranges(old_size: int, new_size: int) -> list[LeafRange]:
    """Leaf ranges whose hashes form the consistency proof between two sizes (RFC 9162 2.1.4.1).

    Args:
        old_size: The earlier tree size, ``0 < old_size <= new_size``.
        new_size: The later tree size.

    Returns:
        The ranges, in proof order; empty when the sizes are equal.

    Raises:
        ValueError: If the sizes are not ordered or the old size is 0.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    proof: list[LeafRange] = []
    start, end, m, complete = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append((start + k, end))
            end = start + k
        else:
            proof.append((start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


def proof_keys(ranges: Iterable[LeafRange]) -> set[NodeKey]:
    """Every stored node needed to hash the given ranges.

    Args:
        ranges: Leaf ranges.

    Returns:
        The ``(level, index)`` keys to read.
    """
    return {key for start, end in ranges for key in subtrees(start, end)}


def right_edge(size: int) -> list[NodeKey]:
    """The complete subtrees on the right edge of a tree: what an append needs to read.

    Args:
        size: Current tree size.

    Returns:
        One key per set bit of ``size``, highest level first.
    """
    return subtrees(0, size)


def new_nodes(
    size: int, edge: Mapping[NodeKey, bytes], leaves: Sequence[bytes]
) -> list[tuple[int, int, bytes]]:
    """Every complete subtree created by appending leaves to a tree.

    Args:
        size: Tree size before the append.
        edge: Hashes of ``right_edge(size)``.
        leaves: Leaf hashes to append, in order.

    Returns:
        ``(level, index, hash)`` for the new leaves and every parent they complete.
    """
    pending = dict(edge)
    created: list[tuple[int, int, bytes]] = []
    for offset, leaf in enumerate(leaves):
        index, level, current = size + offset, 0, leaf
        created.append((0, index, current))
        pending[(0, index)] = current
        while index & 1:
            left = pending.pop((level, index - 1))
            del pending[(level, index)]
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            created.append((level, index, current))
            pending[(level, index)] = current
    return created


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    while not fn & 1 and fn != 0:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2).

    Args:
        index: The leaf's index.
        size: The tree size the proof is for.
        leaf: The leaf hash.
        proof: The inclusion path.
        root: The tree's root hash.

    Returns:
        Whether the proof shows the leaf at ``index`` in the tree with ``root``.
    """
    if index >= size or index < 0:
        return False
    if any(len(p) != HASH_SIZE for p in proof) or len(leaf) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof (RFC 9162 section 2.1.4.2).

    Args:
        old_size: The earlier tree size.
        new_size: The later tree size.
        old_root: Root hash at the earlier size.
        new_root: Root hash at the later size.
        proof: The consistency path.

    Returns:
        Whether the later tree extends the earlier one.
    """
    if old_size < 0 or old_size > new_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0
