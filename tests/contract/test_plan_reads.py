"""Reading the latest plan on each store backend: how long a plan read is trusted."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keel.service import Workspace, apply_manifests, planning
from keel.service.actor import Actor
from keel.store.plans import PlanRepository

SYSTEM = Actor.system("tests")


def committed_elsewhere(workspace: Workspace) -> int:
    """A plan committed as another process (the CLI, another server) would: a new row, and
    nothing this process hears of."""
    with workspace.unit(write=True) as unit:
        repo = unit.repository(PlanRepository)
        found = repo.latest()
        assert found is not None
        data = found[1]
        digest = "sha256:" + hashlib.sha256(repr(data).encode()).hexdigest()
        return repo.add(data, digest, datetime.now(UTC))


@pytest.fixture
def planned(workspace: Workspace, demo_dir: Path) -> planning.PlanResult:
    apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    return planning.compute_plan(workspace)


def latest_id(workspace: Workspace, trusted_s: float = 0.0) -> int | None:
    found = planning.latest(workspace, trusted_s=trusted_s)
    assert found is not None
    return found.plan_id


def test_a_plan_read_is_trusted_for_its_time_and_never_past_this_process_s_own_commit(
    workspace: Workspace, planned: planning.PlanResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(planning.time, "monotonic", lambda: clock[0])
    first, _ = planning.commit_plan(workspace, planned, actor=SYSTEM)
    assert latest_id(workspace, trusted_s=5) == first
    second = committed_elsewhere(workspace)
    clock[0] += 4.9
    assert latest_id(workspace, trusted_s=5) == first  # trusted: the store was not asked
    assert latest_id(workspace) == second  # asked every time
    third = committed_elsewhere(workspace)
    clock[0] += 4.9
    assert latest_id(workspace, trusted_s=5) == second  # trusted since the read above
    clock[0] += 0.1
    assert latest_id(workspace, trusted_s=5) == third  # five seconds on: asked again
    fourth, _ = planning.commit_plan(workspace, planned, actor=SYSTEM)
    assert latest_id(workspace, trusted_s=3600) == fourth  # this process's commit: at once


def test_a_read_that_overlaps_this_process_s_commit_is_not_trusted_afterwards(
    workspace: Workspace, planned: planning.PlanResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that found the old plan while a commit finished is not served afterwards."""
    first, _ = planning.commit_plan(workspace, planned, actor=SYSTEM)
    assert latest_id(workspace) == first  # read once: the next read of that id keeps it
    done: list[int] = []
    read = PlanRepository.latest_id

    def read_then_let_a_commit_finish(repo: PlanRepository) -> int | None:
        found = read(repo)  # the old plan's id
        if not done:
            committer = threading.Thread(
                target=lambda: done.append(
                    planning.commit_plan(workspace, planned, actor=SYSTEM)[0]
                )
            )
            committer.start()
            committer.join()
        return found

    monkeypatch.setattr(PlanRepository, "latest_id", read_then_let_a_commit_finish)
    assert latest_id(workspace) == first  # asks the store, overlapping the commit
    assert done and done[0] != first
    assert latest_id(workspace, trusted_s=3600) == done[0]


def test_a_slower_read_of_an_older_plan_does_not_replace_a_newer_one(
    workspace: Workspace, planned: planning.PlanResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests at once: the one that read the older plan finishes last."""
    first, _ = planning.commit_plan(workspace, planned, actor=SYSTEM)
    assert latest_id(workspace) == first
    newer: list[int | None] = []
    read = PlanRepository.latest_id

    def read_then_let_another_read_finish(repo: PlanRepository) -> int | None:
        found = read(repo)
        if not newer:
            newer.append(committed_elsewhere(workspace))
            reader = threading.Thread(target=lambda: newer.append(latest_id(workspace)))
            reader.start()
            reader.join()
        return found

    monkeypatch.setattr(PlanRepository, "latest_id", read_then_let_another_read_finish)
    assert latest_id(workspace) == first  # this read found the older plan
    assert newer[1] == newer[0] != first  # the other read found the newer one, and finished first
    assert latest_id(workspace, trusted_s=3600) == newer[0]  # the newer plan is kept
