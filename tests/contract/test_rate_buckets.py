"""Rate-limit buckets in the database, on each backend (what several API servers share)."""

from __future__ import annotations

import time

import pytest

from keel.store import Database
from keel.store.limits import RateBuckets


def _take(database: Database, key: str, rate: float, burst: int) -> float:
    """The wait for one token (0 when granted)."""
    with database.unlocked(durable=False) as conn:
        granted, wait = RateBuckets(conn).take(key, rate, burst)
    assert granted in (0, 1) and (granted == 1) == (wait == 0)
    return wait


def test_a_bucket_passes_its_burst_then_says_how_long_to_wait(database: Database) -> None:
    waits = [_take(database, "requests/user:ann", 2.0, 3) for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0 < waits[3] <= 0.5 and 0 < waits[4] <= 0.5  # 2 tokens/s: at most half a second
    # Another key has its own bucket; a refusal spends nothing.
    assert _take(database, "requests/user:bob", 2.0, 3) == 0.0
    time.sleep(waits[4] + 0.05)
    assert _take(database, "requests/user:ann", 2.0, 3) == 0.0


def test_a_bucket_refills_at_its_rate_and_no_further_than_its_burst(database: Database) -> None:
    for _ in range(2):
        assert _take(database, "failures/addr:10.0.0.1", 2.0, 2) == 0.0
    assert _take(database, "failures/addr:10.0.0.1", 2.0, 2) > 0
    time.sleep(2.0)  # 4 tokens' worth of time, but the bucket holds 2
    passed = [_take(database, "failures/addr:10.0.0.1", 2.0, 2) == 0.0 for _ in range(4)]
    assert passed[:2] == [True, True] and passed[2:] == [False, False]


@pytest.mark.parametrize("rate", [0.5, 100.0])
def test_the_wait_is_what_one_token_takes(database: Database, rate: float) -> None:
    # At 100 tokens/s a token comes back within 10 ms: on a loaded machine two takes in a row
    # can be further apart than that, so look at the first refusal of a few tries.
    for _ in range(20):
        _take(database, f"requests/r{rate}", rate, 1)
        wait = _take(database, f"requests/r{rate}", rate, 1)
        if wait > 0:
            break
    assert 0 < wait <= 1 / rate


def test_several_tokens_at_once_never_more_than_there_are(database: Database) -> None:
    with database.unlocked() as conn:
        buckets = RateBuckets(conn)
        assert buckets.take("requests/lease", 1.0, 10, want=4)[0] == 4
        assert buckets.take("requests/lease", 1.0, 10, want=4)[0] == 4
        assert buckets.take("requests/lease", 1.0, 10, want=4)[0] == 2  # what is left
        granted, wait = buckets.take("requests/lease", 1.0, 10, want=4)
        assert granted == 0 and 0 < wait <= 1.0


def test_a_principal_name_longer_than_the_column_still_has_one_bucket(database: Database) -> None:
    # An OIDC subject or a hostile client address can be long; the bucket must not fail.
    key = "requests/user:" + "x" * 2000
    assert _take(database, key, 1.0, 1) == 0.0
    assert _take(database, key, 1.0, 1) > 0  # the same bucket, spent
    assert _take(database, key + "y", 1.0, 1) == 0.0  # a different name, its own bucket


def test_pruning_deletes_only_idle_buckets_of_its_scope_and_changes_no_answer(
    database: Database,
) -> None:
    import sqlalchemy as sa

    for key in ("requests/idle", "requests/busy", "failures/idle"):
        assert _take(database, key, 1.0, 2) == 0.0
    with database.unlocked() as conn:  # as if the idle ones were last used 10 minutes ago
        conn.execute(sa.text("UPDATE rate_buckets SET at_s = at_s - 600 WHERE key LIKE '%/idle'"))
    with database.unlocked() as conn:
        assert RateBuckets(conn).prune("requests", idle_s=300) == 1
    with database.unlocked() as conn:
        keys = {k for (k,) in conn.execute(sa.text("SELECT key FROM rate_buckets"))}
    assert keys == {"requests/busy", "failures/idle"}
    # The pruned bucket answers as a full one would: its burst, then a wait.
    assert [_take(database, "requests/idle", 1.0, 2) == 0.0 for _ in range(3)] == [
        True,
        True,
        False,
    ]
