"""Every store backend (SQLite, PostgreSQL) passes the same estate contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from keel.errors import InUseError, ManifestError, NotFoundError
from keel.service import Workspace, apply_manifests, delete_resource, get_resources
from keel.service.actor import Actor
from sample_manifests import SITE as SAMPLE_SITE
from schema_revisions import alembic_config, downgrade

SITE = SAMPLE_SITE.replace("name: fra-dc1\n", "name: fra-dc1\nlabels: {tier: core}\n")

DATASET = """\
kind: Dataset
name: {name}
spec: {{classification: internal, size_gb: {size}, replicas: [fra-dc1]}}
"""

SYSTEM = Actor.system("tests")
"""Trusted: these tests exercise the store, not access control."""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def dump(workspace: Workspace) -> list[tuple[Any, ...]]:
    """Everything stored, for before/after comparisons."""
    rows = []
    for kind in ("Site", "Dataset", "Link", "Workload", "Model", "UserRegion", "Agent"):
        for row in get_resources(workspace, kind):
            rows.append(
                (
                    row.kind,
                    row.name,
                    row.labels,
                    row.spec,
                    row.spec_digest,
                    row.generation,
                    row.updated_at,
                )
            )
    with workspace.database.read() as conn:
        from keel.store import ResourceRepository

        rows.append(ResourceRepository(conn).revision())
    return rows


@pytest.fixture
def estate_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    write(folder, "site.yaml", SITE)
    write(
        folder,
        "data.yaml",
        DATASET.format(name="d1", size=10) + "---\n" + DATASET.format(name="d2", size=20),
    )
    return folder


def test_apply_is_idempotent(workspace: Workspace, estate_dir: Path) -> None:
    first = apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    assert (first.count("created"), first.revision) == (3, 1)
    before = dump(workspace)
    second = apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    assert (second.count("unchanged"), second.revision) == (3, 1)
    assert second.estate_digest == first.estate_digest
    assert dump(workspace) == before


def test_demo_estate_round_trips(workspace: Workspace, demo_dir: Path) -> None:
    first = apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    assert first.count("created") >= 70
    again = apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    assert again.count("unchanged") == first.count("created")
    [site] = get_resources(workspace, "site", "aws-use1")
    assert site.resolved is not None
    assert site.resolved["pue"] == 1.15
    assert site.resolved["pools"][0]["usd_per_hour"] == 4.25


def test_changed_spec_bumps_generation_labels_do_not(
    workspace: Workspace, estate_dir: Path
) -> None:
    apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    write(
        estate_dir,
        "data.yaml",
        DATASET.format(name="d1", size=11) + "---\n" + DATASET.format(name="d2", size=20),
    )
    result = apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    [change] = [c for c in result.changes if c.action == "configured"]
    assert (change.name, change.generation, change.fields) == ("d1", 2, ("spec.size_gb",))
    [d1] = get_resources(workspace, "Dataset", "d1")
    assert d1.generation == 2
    assert d1.spec is not None and d1.spec["size_gb"] == 11
    write(estate_dir, "site.yaml", SITE.replace("tier: core", "tier: gold"))
    result = apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    [change] = [c for c in result.changes if c.action == "configured"]
    assert (change.name, change.generation, change.fields) == ("fra-dc1", 1, ("labels",))


def test_dry_run_writes_nothing(workspace: Workspace, estate_dir: Path) -> None:
    apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    before = dump(workspace)
    write(estate_dir, "more.yaml", DATASET.format(name="d3", size=1))
    result = apply_manifests(workspace, [str(estate_dir)], dry_run=True, actor=SYSTEM)
    assert result.count("created") == 1 and result.dry_run
    assert dump(workspace) == before


def test_prune_deletes_undeclared(workspace: Workspace, estate_dir: Path, tmp_path: Path) -> None:
    apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    (estate_dir / "data.yaml").write_text(DATASET.format(name="d1", size=10))
    result = apply_manifests(workspace, [str(estate_dir)], prune=True, actor=SYSTEM)
    assert [(c.kind, c.name) for c in result.changes if c.action == "deleted"] == [
        ("Dataset", "d2")
    ]
    assert [r.name for r in get_resources(workspace, "Dataset")] == ["d1"]


def test_prune_that_would_dangle_changes_nothing(workspace: Workspace, estate_dir: Path) -> None:
    apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    before = dump(workspace)
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(estate_dir / "data.yaml")], prune=True, actor=SYSTEM)
    assert any("Site 'fra-dc1' does not exist" in p.message for p in caught.value.problems)
    assert dump(workspace) == before


def test_partial_apply_sees_stored_references(
    workspace: Workspace, estate_dir: Path, tmp_path: Path
) -> None:
    apply_manifests(workspace, [str(estate_dir / "site.yaml")], actor=SYSTEM)
    result = apply_manifests(workspace, [str(estate_dir / "data.yaml")], actor=SYSTEM)
    assert result.count("created") == 2


@pytest.mark.parametrize(
    "bad",
    [
        "kind: Dataset\nname: d9\nspec: {classification: internal, size_gb: -1, replicas: [fra-dc1]}\n",
        "kind: Dataset\nname: d9\nspec: {classification: internal, size_gb: 1, replicas: [nowhere]}\n",
        "kind: Dataset\nname: d1\nspec: {classification: internal, size_gb: .nan, replicas: [fra-dc1]}\n",
        "kind: Datasett\nname: d9\nspec: {}\n",
        "kind: [unclosed\n",
    ],
    ids=["negative", "dangling", "nan", "unknown-kind", "syntax"],
)
def test_bad_input_leaves_the_store_exactly_as_it_was(
    workspace: Workspace, estate_dir: Path, bad: str
) -> None:
    apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    before = dump(workspace)
    # A good change in one file and a bad one in another: neither may land.
    write(
        estate_dir,
        "data.yaml",
        DATASET.format(name="d1", size=99) + "---\n" + DATASET.format(name="d2", size=20),
    )
    write(estate_dir, "zz-bad.yaml", bad)
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    assert any(p.path.endswith("zz-bad.yaml") and p.line >= 1 for p in caught.value.problems)
    assert dump(workspace) == before


def test_delete(workspace: Workspace, estate_dir: Path) -> None:
    apply_manifests(workspace, [str(estate_dir)], actor=SYSTEM)
    before = dump(workspace)
    with pytest.raises(InUseError) as caught:
        delete_resource(workspace, "site", "fra-dc1", actor=SYSTEM)
    assert {p.resource for p in caught.value.problems} == {"Dataset/d1", "Dataset/d2"}
    assert dump(workspace) == before
    with pytest.raises(NotFoundError, match="did you mean 'd1'"):
        delete_resource(workspace, "dataset", "d11", actor=SYSTEM)
    change = delete_resource(workspace, "datasets", "d2", actor=SYSTEM)
    assert (change.kind, change.name) == ("Dataset", "d2")
    assert [r.name for r in get_resources(workspace, "Dataset")] == ["d1"]


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from keel.service import Actor, Workspace, apply_manifests
    url, folder, name, rounds = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ws = Workspace.open(folder, database_url=url)
    template = "kind: Dataset\\nname: {n}\\nspec: {{classification: internal, size_gb: {s}, replicas: [fra-dc1]}}\\n"
    for i in range(1, rounds + 1):
        path = folder / f"{name}.yaml"
        path.write_text(template.format(n=name, s=i))
        apply_manifests(ws, [str(path)], actor=Actor.system("writer"))
    ws.close()
    """
)


def test_concurrent_applies_from_processes_lose_nothing(database_url: str, tmp_path: Path) -> None:
    site = write(tmp_path, "site.yaml", SITE)
    ws = Workspace.open(tmp_path, database_url=database_url)
    apply_manifests(ws, [str(site)], actor=SYSTEM)
    rounds, writers = 15, 3
    procs = []
    for index in range(writers):
        folder = tmp_path / f"w{index}"
        folder.mkdir()
        # Every writer of one log signs with the log's key (a key that did not sign the log's
        # latest checkpoint is refused), so the writers share the workspace's ledger keys.
        shutil.copytree(tmp_path / ".keel" / "ledger", folder / ".keel" / "ledger")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WRITER,
                    database_url,
                    str(folder),
                    f"data-{index}",
                    str(rounds),
                ],
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    datasets = {row.name: row for row in get_resources(ws, "Dataset")}
    assert sorted(datasets) == [f"data-{i}" for i in range(writers)]
    for row in datasets.values():
        assert row.generation == rounds  # every one of the writer's updates landed, in order
        assert row.spec is not None and row.spec["size_gb"] == rounds
    with ws.database.read() as conn:
        from keel.store import ResourceRepository

        revision, _ = ResourceRepository(conn).revision()
    assert revision == 1 + rounds * writers
    from keel.service import ledger

    assert ledger.verify(ws).size == 1 + rounds * writers  # one signed history, gap-free
    ws.close()


def test_resolved_values_refreshed_by_another_change_are_recorded(
    workspace: Workspace, tmp_path: Path
) -> None:
    from keel.service import ledger

    accelerator = (
        "kind: Accelerator\nname: acme-npu\nspec: {{vendor: acme, memory_gb: {gb}, power_w: 300}}\n"
    )
    site = SITE.replace("accelerator: H100-SXM", "accelerator: acme-npu")
    write(tmp_path / "a", "acc.yaml", accelerator.format(gb=64))
    write(tmp_path / "a", "site.yaml", site)
    apply_manifests(workspace, [str(tmp_path / "a")], actor=SYSTEM)
    write(tmp_path / "b", "acc.yaml", accelerator.format(gb=128))
    result = apply_manifests(workspace, [str(tmp_path / "b")], actor=SYSTEM)
    changed = {(c.kind, c.name): c for c in result.changes}
    assert changed[("Site", "fra-dc1")].fields == ("resolved",)
    assert changed[("Site", "fra-dc1")].generation == 1  # the spec did not change
    [stored] = get_resources(workspace, "Site", "fra-dc1")
    assert stored.resolved is not None and stored.resolved["pools"][0]["memory_gb"] == 128
    types = [(e.entry["type"], e.entry["kind"]) for e in ledger.show(workspace, 0, 100)]
    assert types[-2:] == [("estate.configured", "Accelerator"), ("estate.configured", "Site")]


def test_schema_revision_is_the_newest_migration() -> None:
    """The one-query start-up check compares with the newest migration, not a stale one."""
    from alembic.script import ScriptDirectory

    from keel.store.database import SCHEMA_REVISION

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [SCHEMA_REVISION]


def test_an_older_schema_is_migrated_on_open(database_url: str) -> None:
    """A database one migration behind is upgraded: the fast check does not skip it."""
    import sqlalchemy as sa

    from keel.store import database as store

    first = store.Database(database_url)
    downgrade(first.engine, "-1")
    first.close()
    store._migrated.clear()  # a new process: nothing known about this database
    again = store.Database(database_url)
    try:
        with again.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == store.SCHEMA_REVISION
    finally:
        again.close()


def test_a_plan_records_the_digest_of_the_estate_it_was_computed_from(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An apply that commits while a plan reads the estate does not lend the plan its digest."""
    import threading

    from keel.service import planning
    from keel.store import ResourceRepository

    write(tmp_path / "a", "site.yaml", SITE)
    apply_manifests(workspace, [str(tmp_path / "a")], actor=SYSTEM)
    with workspace.unit() as unit:
        _, before = unit.repository(ResourceRepository).revision()
    write(tmp_path / "b", "site.yaml", SITE)
    write(tmp_path / "b", "data.yaml", DATASET.format(name="late", size=1))
    listed = ResourceRepository.list
    applied: list[bool] = []

    def list_then_apply(repo: ResourceRepository, *args: Any, **kwargs: Any) -> Any:
        rows = listed(repo, *args, **kwargs)
        if not applied:  # another writer commits between the plan's reads
            applied.append(True)
            other = threading.Thread(
                target=apply_manifests, args=(workspace, [str(tmp_path / "b")]),
                kwargs={"actor": SYSTEM},
            )  # fmt: skip
            other.start()
            other.join()
        return rows

    monkeypatch.setattr(ResourceRepository, "list", list_then_apply)
    result = planning.compute_plan(workspace)
    monkeypatch.undo()
    with workspace.unit() as unit:
        _, after = unit.repository(ResourceRepository).revision()
    assert applied and after != before  # the apply did land
    assert result.plan.estate_digest == before  # the plan names the estate it read
    assert [d.name for d in get_resources(workspace, "Dataset")] == ["late"]
