"""C2SP signed notes and checkpoints, checked by an independent verifier written from the spec."""

from __future__ import annotations

import base64
import hashlib

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.errors import LedgerError
from keel.ledger import (
    Checkpoint,
    InclusionProof,
    Signer,
    Verifier,
    canonical_entry,
    canonical_json,
    open_note,
)
from keel.ledger.merkle import leaf_hash


def spec_verify(note: str, name: str, public_key: bytes) -> str:
    """c2sp.org/signed-note, from the text: split at the last blank line, check our key's line."""
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    for line in signatures.splitlines():
        dash, key_name, blob = line.split(" ")
        assert dash == "\u2014"
        raw = base64.b64decode(blob)
        if key_name == name and raw[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], text.encode())
            return text
    raise AssertionError("no signature from the key")


def test_signatures_verify_independently() -> None:
    signer = Signer.generate("example.com/log")
    checkpoint = Checkpoint("example.com/log", 42, hashlib.sha256(b"x").digest())
    note = checkpoint.sign(signer)
    text = spec_verify(note, "example.com/log", signer.verifier.public_key)
    lines = text.splitlines()
    assert lines == ["example.com/log", "42", base64.b64encode(checkpoint.root).decode()]
    assert Checkpoint.open(note, [signer.verifier]) == checkpoint


def test_the_spec_example_key_id_rule() -> None:
    # Independent key from the cryptography package: Keel's key ID and encoding agree with it.
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    verifier = Verifier("witness.example/w1", public)
    expected = int.from_bytes(
        hashlib.sha256(b"witness.example/w1\n\x01" + public).digest()[:4], "big"
    )
    assert verifier.key_id == expected
    assert Verifier.parse(verifier.encode()) == verifier
    signature = private.sign(b"hello\n")
    blob = base64.b64encode(expected.to_bytes(4, "big") + signature).decode()
    note = f"hello\n\n\u2014 witness.example/w1 {blob}\n"
    assert open_note(note, [verifier]) == ("hello\n", [verifier])


def test_unknown_signature_lines_are_ignored() -> None:
    signer = Signer.generate("example.com/log")
    other = Signer.generate("witness.example")
    note = signer.sign("a\nb\n")
    cosigned = note + other.sign("a\nb\n").split("\n\n")[1]
    text, good = open_note(cosigned, [signer.verifier])
    assert text == "a\nb\n"
    assert good == [signer.verifier]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda n: n.replace("42", "43", 1), "does not verify"),
        (lambda n: n.replace("\n\n", "\n", 1), "blank line"),
        (lambda n: n.rstrip("\n"), "end with a newline"),
        (lambda n: n.replace("\u2014 ", "- "), "malformed signature line"),
        (lambda n: n.replace("\n\n", "\n\x07\n", 1), "control characters"),
    ],
)
def test_tampered_notes_are_rejected(mutate: object, fragment: str) -> None:
    signer = Signer.generate("example.com/log")
    note = Checkpoint("example.com/log", 42, bytes(32)).sign(signer)
    with pytest.raises(LedgerError, match=fragment):
        Checkpoint.open(mutate(note), [signer.verifier])  # type: ignore[operator]


def test_a_note_from_an_unknown_key_is_rejected() -> None:
    note = Signer.generate("example.com/log").sign("x\n")
    stranger = Signer.generate("example.com/log").verifier  # same name, other key
    with pytest.raises(LedgerError, match="no signature from a trusted key"):
        open_note(note, [stranger])


def test_keys_round_trip_and_reject_garbage() -> None:
    signer = Signer.generate("keel.local/ledger/abc")
    assert Signer.parse(signer.encode()) == signer
    assert signer.encode().startswith("PRIVATE+KEY+keel.local/ledger/abc+")
    for bad in ["", "a+b", "PRIVATE+KEY+x+00000000+!!!", "name+zz+AAAA", "na me+00+AAAA"]:
        with pytest.raises(LedgerError):
            Verifier.parse(bad) if not bad.startswith("PRIVATE") else Signer.parse(bad)
    text = signer.verifier.encode()
    with pytest.raises(LedgerError, match="key ID does not match"):
        Verifier.parse(text.replace(text.split("+")[1], "00000000"))


def test_checkpoint_text_rules() -> None:
    with pytest.raises(LedgerError, match="decimal"):
        Checkpoint.parse_text("o\n012\nAAAA\n")
    with pytest.raises(LedgerError, match="32 bytes"):
        Checkpoint.parse_text("o\n1\nAAAA\n")
    extension = Checkpoint.parse_text(f"o\n1\n{base64.b64encode(bytes(32)).decode()}\nextra line\n")
    assert extension.size == 1


def test_tlog_proof_round_trip_and_tampering() -> None:
    signer = Signer.generate("example.com/log")
    entry = b'{"a":1}'
    root = leaf_hash(entry)  # a one-entry tree
    note = Checkpoint("example.com/log", 1, root).sign(signer)
    proof = InclusionProof(entry, 0, [], note)
    text = proof.encode()
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    parsed = InclusionProof.parse(text)
    assert parsed == proof
    assert parsed.verify([signer.verifier]).size == 1
    forged = text.replace(base64.b64encode(entry).decode(), base64.b64encode(b'{"a":2}').decode())
    with pytest.raises(LedgerError, match="not proved"):
        InclusionProof.parse(forged).verify([signer.verifier])
    with pytest.raises(LedgerError, match="first line"):
        InclusionProof.parse("garbage\n\n" + note)
    with pytest.raises(LedgerError, match="bad index"):
        InclusionProof.parse(text.replace("index 0", "index -1"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.text(max_size=30)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=500)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_canonical_entries_are_rfc8785(entry: dict[str, object]) -> None:
    try:
        expected = rfc8785.dumps(entry)
    except rfc8785.CanonicalizationError:
        with pytest.raises(LedgerError):
            canonical_entry(entry)
        return
    assert canonical_entry(entry) == expected


@settings(max_examples=3000)
@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1e-6, max_value=1e17)
    | st.floats(min_value=-1e17, max_value=-1e-6)
    | st.integers(-(10**6), 10**6).map(lambda n: n / 1000)
    | st.integers(-(2**60), 2**60).map(float)
)
def test_floats_take_the_fast_way_only_where_it_is_rfc8785(value: float) -> None:
    assert canonical_json([value, {"x": value}]) == rfc8785.dumps([value, {"x": value}])


plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.sampled_from("0123456789.-e+ ,:[]{}aZ"), max_size=12)
    | st.text(st.sampled_from('a."\\\x7f\x1f\n\u00e9'), max_size=3)  # to escape, or not ASCII
    | st.integers(-(2**53) + 1, 2**53 - 1).map(float)
    | st.sampled_from([0.0, -0.0, 1.0, -1.0, 10.0, 100.5, 0.05, 1e15, 9007199254740991.0])
    | st.floats(min_value=1e-5, max_value=1e15),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(st.sampled_from('0.1-ab"\\\x7f'), max_size=6), children, max_size=5
        )
    ),
    max_leaves=30,
)


@settings(max_examples=3000)
@given(plain_values)
def test_integral_floats_are_written_as_integers_on_the_fast_way(value: object) -> None:
    # ASCII strings full of digits, dots and brackets next to integral floats: the fast way
    # rewrites orjson's "N.0" in place and must leave every string as it is; strings and keys
    # with characters to escape (or DEL, or not ASCII) must go the general way.
    assert canonical_json(value) == rfc8785.dumps(value)
