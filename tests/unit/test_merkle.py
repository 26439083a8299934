"""RFC 9162 Merkle trees: Keel against an independent reference and public test vectors.

The reference below is written from the RFC's definitions (sections 2.1.1, 2.1.3.1, 2.1.4.1),
recursively over the full list of leaves, without looking at Keel's code.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.ledger import merkle


# -- the reference, straight from RFC 9162 --------------------------------------------------
def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return ref_subproof(m, leaves, True)


# -- Keel, reading from a node store built the way the repository builds it -----------------
def build(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    size = 0
    for chunk_start in range(0, len(leaves), 3):  # appends in uneven batches
        chunk = leaves[chunk_start : chunk_start + 3]
        edge = {k: nodes[k] for k in merkle.right_edge(size)}
        for level, index, digest in merkle.new_nodes(
            size, edge, [merkle.leaf_hash(x) for x in chunk]
        ):
            nodes[(level, index)] = digest
        size += len(chunk)
    return nodes


def data(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


@pytest.mark.parametrize("n", range(0, 70))
def test_roots_and_every_proof_match_the_reference(n: int) -> None:
    leaves = data(n)
    nodes = build(leaves)
    assert merkle.range_hash(0, n, nodes) == ref_mth(leaves)
    for m in range(n):
        ranges = merkle.inclusion_ranges(m, n)
        path = [merkle.range_hash(s, e, nodes) for s, e in ranges]
        assert path == ref_path(m, leaves)
        assert merkle.verify_inclusion(m, n, merkle.leaf_hash(leaves[m]), path, ref_mth(leaves))
    for m in range(1, n + 1):
        ranges = merkle.consistency_ranges(m, n)
        proof = [merkle.range_hash(s, e, nodes) for s, e in ranges]
        assert proof == ref_proof(m, leaves)
        assert merkle.verify_consistency(m, n, ref_mth(leaves[:m]), ref_mth(leaves), proof)


@settings(max_examples=40, deadline=None)
@given(st.integers(70, 600), st.data())
def test_larger_trees(n: int, draw: st.DataObject) -> None:
    leaves = data(n)
    nodes = build(leaves)
    m = draw.draw(st.integers(0, n - 1))
    old = draw.draw(st.integers(1, n))
    path = [merkle.range_hash(s, e, nodes) for s, e in merkle.inclusion_ranges(m, n)]
    assert path == ref_path(m, leaves)
    proof = [merkle.range_hash(s, e, nodes) for s, e in merkle.consistency_ranges(old, n)]
    assert proof == ref_proof(old, leaves)


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 1 << 20, (1 << 20) + 12345, 10**9])
def test_proofs_read_logarithmically_many_nodes(n: int) -> None:
    bound = 2 * n.bit_length() + 2
    for m in {0, n // 2, n - 1}:
        assert len(merkle.proof_keys(merkle.inclusion_ranges(m, n))) <= bound
    assert len(merkle.proof_keys(merkle.consistency_ranges(max(1, n // 3), n))) <= bound
    assert len(merkle.right_edge(n)) == bin(n).count("1")


@settings(max_examples=200)
@given(st.integers(1, 300), st.data())
def test_tampered_proofs_fail(n: int, draw: st.DataObject) -> None:
    leaves = data(n)
    root = ref_mth(leaves)
    m = draw.draw(st.integers(0, n - 1))
    path = ref_path(m, leaves)
    leaf = merkle.leaf_hash(leaves[m])
    assert merkle.verify_inclusion(m, n, leaf, path, root)
    assert not merkle.verify_inclusion(m, n, merkle.leaf_hash(b"forged"), path, root)
    assert not merkle.verify_inclusion(m, n, leaf, [*path, root], root)
    if path:
        i = draw.draw(st.integers(0, len(path) - 1))
        bad = bytearray(path[i])
        bad[draw.draw(st.integers(0, 31))] ^= 1 << draw.draw(st.integers(0, 7))
        assert not merkle.verify_inclusion(
            m, n, leaf, [*path[:i], bytes(bad), *path[i + 1 :]], root
        )
        assert not merkle.verify_inclusion(m, n, leaf, path[:-1], root)
        if m > 0:
            assert not merkle.verify_inclusion(m - 1, n, leaf, path, root)


# -- public vectors ---------------------------------------------------------------------------
# The RFC 6962 reference tree used by transparency-dev/merkle, certificate-transparency-go and
# the C++ CT implementation: eight leaves and the root at each size.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
RFC6962_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


@pytest.mark.parametrize("size", range(1, 9))
def test_rfc6962_reference_roots(size: int) -> None:
    nodes = build(RFC6962_LEAVES[:size])
    assert merkle.range_hash(0, size, nodes).hex() == RFC6962_ROOTS[size]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


# Happy paths from transparency-dev/merkle testdata/inclusion/{1,2,3,4}/happy-path.json.
INCLUSION_VECTORS = [
    (
        0,
        8,
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        5,
        8,
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
        [
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        2,
        3,
        "rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=",
        "ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=",
        ["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="],
    ),
    (
        1,
        5,
        "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
        "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
        [
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
    ),
]

# Happy paths from transparency-dev/merkle testdata/consistency/{1,2,3,4}/happy-path.json.
CONSISTENCY_VECTORS = [
    (
        1,
        8,
        "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        6,
        8,
        "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        2,
        5,
        "+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=",
        "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
        [
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
    ),
    (
        6,
        7,
        "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=",
        "3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=",
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
]


@pytest.mark.parametrize(("index", "size", "root", "leaf", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, root: str, leaf: str, proof: list[str]) -> None:
    path = [b64(p) for p in proof]
    assert merkle.verify_inclusion(index, size, b64(leaf), path, b64(root))
    # The same proof, generated by Keel from the RFC 6962 tree, is identical.
    nodes = build(RFC6962_LEAVES[:size])
    assert [merkle.range_hash(s, e, nodes) for s, e in merkle.inclusion_ranges(index, size)] == path
    # The vectors' own negative cases: wrong leaf, index moved, size changed, garbage around.
    assert not merkle.verify_inclusion(index, size, b"WrongLeaf".ljust(32, b"\0"), path, b64(root))
    assert not merkle.verify_inclusion(index ^ 2, size, b64(leaf), path, b64(root))
    assert not merkle.verify_inclusion(index, size * 2, b64(leaf), path, b64(root))
    assert not merkle.verify_inclusion(index, size, b64(leaf), [*path, b64(root)], b64(root))
    assert not merkle.verify_inclusion(index, size, b64(leaf), [b64(root), *path], b64(root))


@pytest.mark.parametrize(("old", "new", "old_root", "new_root", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors(
    old: int, new: int, old_root: str, new_root: str, proof: list[str]
) -> None:
    path = [b64(p) for p in proof]
    assert merkle.verify_consistency(old, new, b64(old_root), b64(new_root), path)
    nodes = build(RFC6962_LEAVES[:new])
    assert [merkle.range_hash(s, e, nodes) for s, e in merkle.consistency_ranges(old, new)] == path
    assert not merkle.verify_consistency(old, new, b64(new_root), b64(old_root), path)
    assert not merkle.verify_consistency(old, new, b64(old_root), b64(new_root), path[:-1])
    assert not merkle.verify_consistency(old, new, b64(old_root), b64(new_root), [*path, path[0]])
    assert not merkle.verify_consistency(old, new, b64(old_root), b64(new_root), [])
    assert not merkle.verify_consistency(old + 1, new, b64(old_root), b64(new_root), path)


def test_edge_cases() -> None:
    root = ref_mth(data(5))
    assert merkle.verify_consistency(5, 5, root, root, [])
    assert not merkle.verify_consistency(5, 5, root, root, [root])
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [])
    assert not merkle.verify_consistency(6, 5, root, root, [])
    assert not merkle.verify_inclusion(0, 0, root, [], root)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_ranges(0, 5)
