"""Cost terms computed on access index exactly as the whole matrix would."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.placement.terms import Term

ROWS, COLS = 7, 5
RNG = np.random.default_rng(1)
LEFT, RIGHT = RNG.random(ROWS), RNG.random(COLS)
SITES = RNG.integers(0, 3, COLS)
BY_SITE = RNG.random((ROWS, 3))
WHOLE = {
    "outer": (
        Term((ROWS, COLS), lambda w, o: LEFT[w] * RIGHT[o] / 1000),
        np.outer(LEFT, RIGHT) / 1000,
    ),
    "gathered": (Term((ROWS, COLS), lambda w, o: BY_SITE[w, SITES[o]]), BY_SITE[:, SITES]),
}


def keys() -> st.SearchStrategy[Any]:
    row = st.integers(0, ROWS - 1)
    col = st.integers(0, COLS - 1)
    rows = st.lists(row, min_size=1, max_size=4).map(np.array)
    span = st.tuples(st.integers(0, ROWS), st.integers(0, ROWS)).map(lambda t: slice(*t))
    cols_span = st.tuples(st.integers(0, COLS), st.integers(0, COLS)).map(lambda t: slice(*t))
    paired = st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(row, min_size=n, max_size=n).map(np.array),
            st.lists(col, min_size=n, max_size=n).map(np.array),
        )
    )
    mask = st.lists(st.booleans(), min_size=ROWS, max_size=ROWS).map(np.array)
    return st.one_of(
        row,
        st.tuples(row, col),
        st.tuples(row, cols_span),
        st.tuples(span, col),
        st.tuples(span, cols_span),
        st.tuples(rows, cols_span),
        st.tuples(row, st.lists(col, min_size=1, max_size=4).map(np.array)),
        paired,
        st.tuples(mask, col),
    )


@pytest.mark.parametrize("kind", sorted(WHOLE))
@settings(max_examples=150, deadline=None)
@given(key=keys())
def test_a_term_indexes_as_the_whole_matrix(kind: str, key: Any) -> None:
    term, whole = WHOLE[kind]
    got = np.asarray(term[key])
    assert got.shape == whole[key].shape
    assert np.array_equal(got, whole[key])  # bit for bit, not approximately


def test_a_term_converts_to_the_whole_matrix() -> None:
    term, whole = WHOLE["outer"]
    assert np.array_equal(np.asarray(term), whole)
    assert np.array_equal(np.asarray(Term.dense(whole)), whole)
