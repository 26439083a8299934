"""keel plan as a user runs it: JSON fields, explanations, the ledger entry, bad options."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import orjson
from test_cli import (
    DEMO_GOVERNANCE_ENTRIES,
    DEMO_REGISTRY_ENTRIES,
    DEMO_RESOURCES,
    DEMO_WORKLOADS,
    keel,
)

from timing_estate import GRID, fra_only


def test_plan_json_explain_and_ledger(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    assert keel("apply", "-f", "estate", cwd=tmp_path).returncode == 0
    result = keel("plan", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    for key in (
        "placements",
        "unplaced",
        "totals",
        "solver",
        "bound",
        "gap",
        "estate_digest",
        "policy_digest",
    ):
        assert key in plan
    first = plan["placements"][0]
    for key in (
        "workload",
        "site",
        "pool",
        "devices",
        "cost_usd",
        "energy_kwh",
        "carbon_kgco2e",
        "latency_ms",
        "egress_gb",
        "reasons",
        "period",
    ):
        assert key in first
    kinds = {
        w["name"]: w["spec"]["kind"]
        for w in json.loads(keel("get", "workloads", "-o", "json", cwd=tmp_path).stdout)["items"]
    }
    for p in plan["placements"]:  # services cost per month, jobs per run
        services = ("online_inference", "agent")
        assert p["period"] == ("month" if kinds[p["workload"]] in services else "run")
    for period in ("month", "run"):  # totals add like with like
        placed = [p for p in plan["placements"] if p["period"] == period]
        assert placed
        for quantity in ("cost_usd", "energy_kwh", "carbon_kgco2e"):
            total = sum(p[quantity] for p in placed)
            assert abs(plan["totals"][f"{quantity}_per_{period}"] - total) < 0.01
    assert "cost_usd" not in plan["totals"]  # no total mixes a month with a run
    assert plan["unplaced"] == []
    search = [p for p in plan["placements"] if p["workload"] == "doc-search-api"]
    assert len({p["site"] for p in search}) >= 2  # replicas split Paris, New York, Singapore
    estate_digest = json.loads(keel("get", "site", "fra-dc1", "-o", "json", cwd=tmp_path).stdout)
    assert estate_digest["kind"] == "Site"
    first_plan_entry = DEMO_RESOURCES + DEMO_GOVERNANCE_ENTRIES + DEMO_REGISTRY_ENTRIES
    shown = keel("ledger", "show", "--from", str(first_plan_entry), cwd=tmp_path).stdout
    entry = json.loads(shown.splitlines()[0])["entry"]
    assert entry["type"] == "plan.committed"
    assert entry["plan_id"] == plan["plan_id"]
    assert entry["estate_digest"] == plan["estate_digest"]

    why = json.loads(
        keel("plan", "--explain", "trading-desk-copilot", "-o", "json", cwd=tmp_path).stdout
    )
    text = keel("plan", "--explain", "trading-desk-copilot", cwd=tmp_path).stdout
    assert "chosen:" in text and "par-edge" in text
    assert "rejected sites:" in text and "latency" in text
    assert [c["site"] for c in why["chosen"]] == ["par-edge"]
    assert "latency" in why["rejected"]["fra-dc1"]
    # The ledger holds one decision per workload, with the digest of this very explanation.
    decisions = [json.loads(line)["entry"] for line in shown.splitlines()[1:]]
    assert len(decisions) == DEMO_WORKLOADS
    assert {d["type"] for d in decisions} == {"placement.decided"}
    [copilot] = [d for d in decisions if d["workload"] == "trading-desk-copilot"]
    assert copilot["placed_at"] == ["par-edge/l4"]
    assert why["rejections"]  # the details shown on request are not part of the digest
    recorded = {key: value for key, value in why.items() if key != "rejections"}
    digest = (
        "sha256:" + hashlib.sha256(orjson.dumps(recorded, option=orjson.OPT_SORT_KEYS)).hexdigest()
    )
    assert copilot["explanation_digest"] == digest

    exact = json.loads(
        keel(
            "plan", "--solver", "exact", "--objective", "carbon", "-o", "json", cwd=tmp_path
        ).stdout
    )
    assert exact["solver"] == "exact"
    assert exact["objective"] == "carbon"
    # The exact solver's own bound beats the LP's.
    assert exact["bound_method"] == "milp" and exact["gap"] is not None and exact["gap"] < 0.001
    assert exact["placeable_at_most"] == exact["placed_replicas"] and exact["unplaceable"] == 0
    table = keel("plan", "--no-commit", cwd=tmp_path).stdout
    assert "per month (services):" in table and "per run (jobs, one run each):" in table
    assert "above the cheapest plan placing as many replicas (a lower bound from the LP" in table


def test_plan_rejects_bad_options(tmp_path: Path) -> None:
    keel("init", "estate", cwd=tmp_path)
    keel("apply", "-f", "estate", cwd=tmp_path)
    size_before = _ledger_size(tmp_path)
    bad = keel("plan", "--objective", "cheap", cwd=tmp_path)
    assert bad.returncode == 2
    assert "error[E-USER]: unknown objective 'cheap'" in bad.stderr
    missing = keel("plan", "--explain", "trading-desk-copilo", cwd=tmp_path)
    assert missing.returncode == 2
    assert "did you mean 'trading-desk-copilot'" in missing.stderr
    for budget, said in (("0", "--budget 0"), ("fast", "--budget 'fast'"), ("2h", "3600")):
        refused = keel("plan", "--budget", budget, cwd=tmp_path)
        assert refused.returncode == 2 and said in refused.stderr, (budget, refused.stderr)
    assert _ledger_size(tmp_path) == size_before  # nothing recorded


def test_a_plan_with_a_time_budget_says_so_and_records_it(tmp_path: Path) -> None:
    keel("init", "estate", cwd=tmp_path)
    keel("apply", "-f", "estate", cwd=tmp_path)
    plan = json.loads(keel("plan", "--budget", "30s", "-o", "json", cwd=tmp_path).stdout)
    assert plan["budget_s"] == 30 and plan["plan_id"] is not None
    assert plan["unplaced"] == []  # the demo estate is solved well within 30 s
    shown = keel("ledger", "show", "--from", str(plan["ledger_index"]), cwd=tmp_path).stdout
    entry = json.loads(shown.splitlines()[0])["entry"]
    assert entry["type"] == "plan.committed" and entry["budget_s"] == 30
    text = keel("plan", "--budget", "1m", "--no-commit", cwd=tmp_path).stdout
    assert "(budget 60 s)" in text
    unbudgeted = json.loads(keel("plan", "--no-commit", "-o", "json", cwd=tmp_path).stdout)
    assert "budget_s" not in unbudgeted


def test_plan_diff_after_a_site_goes_down(tmp_path: Path) -> None:
    keel("init", "estate", cwd=tmp_path)
    keel("apply", "-f", "estate", cwd=tmp_path)
    first = json.loads(keel("plan", "-o", "json", cwd=tmp_path).stdout)
    sites = tmp_path / "estate" / "sites.yaml"
    text = sites.read_text()
    marker = "name: ams-private\nlabels: {owner: group-it, tier: core}\nspec:\n"
    assert marker in text
    sites.write_text(text.replace(marker, marker + "  available: false\n"))
    assert keel("apply", "-f", "estate", cwd=tmp_path).returncode == 0
    result = keel("plan", "--diff", "--commit", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    replanned = json.loads(result.stdout)
    assert replanned["plan_id"] == first["plan_id"] + 1
    assert replanned["previous_plan_id"] == first["plan_id"]
    moved = {m["workload"]: m for m in replanned["moves"]}
    on_ams = {p["workload"] for p in first["placements"] if p["site"] == "ams-private"}
    assert on_ams
    assert on_ams <= set(moved)
    for name in on_ams:
        assert "site_down" in moved[name]["why"]
    table = keel("plan", "--diff", cwd=tmp_path).stdout
    assert table.startswith(f"no moves against plan {replanned['plan_id']}")


def _ledger_size(root: Path) -> int:
    note = keel("ledger", "checkpoint", cwd=root).stdout
    return int(note.splitlines()[1])


def test_plan_commits_only_what_is_new(tmp_path: Path) -> None:
    nowhere = keel("plan", cwd=tmp_path)  # not a workspace: refused, nothing created
    assert nowhere.returncode == 2 and "is not a Keel workspace" in nowhere.stderr
    assert "keel apply -f DIR" in nowhere.stderr and not (tmp_path / ".keel").exists()
    deep = keel("--workspace", str(tmp_path / "no" / "such"), "apply", "-f", ".", cwd=tmp_path)
    assert deep.returncode == 2 and "neither it nor its parent" in deep.stderr
    assert not (tmp_path / "no").exists()
    (tmp_path / "empty.yaml").write_text(
        "kind: UserRegion\nname: r\nspec: {country: FR,"
        " location: {latitude: 1, longitude: 2}, users: 1}\n"
    )
    assert keel("apply", "-f", "empty.yaml", cwd=tmp_path).returncode == 0  # creates it
    empty = keel("plan", cwd=tmp_path)
    assert empty.returncode == 0 and "nothing to plan" in empty.stdout, empty.stderr
    keel("init", "estate", cwd=tmp_path)
    keel("apply", "-f", "estate", cwd=tmp_path)
    assert "committed plan 1" in keel("plan", cwd=tmp_path).stdout
    size = _ledger_size(tmp_path)
    again = keel("plan", cwd=tmp_path).stdout
    assert "unchanged: committed plan 1 decides the same" in again
    assert "no moves against plan 1" in keel("plan", "--diff", cwd=tmp_path).stdout
    assert _ledger_size(tmp_path) == size  # neither wrote anything
    forced = keel("plan", "--commit", cwd=tmp_path).stdout
    assert "committed plan 2" in forced and _ledger_size(tmp_path) > size
    assert (
        "not committed" in keel("plan", "--no-commit", "--objective", "carbon", cwd=tmp_path).stdout
    )
    changed = keel("plan", "--objective", "carbon", cwd=tmp_path).stdout
    assert "committed plan 3" in changed  # another objective is another decision


def test_plan_over_a_horizon_with_energy_prices_says_what_waiting_saves(tmp_path: Path) -> None:
    """``--energy-price``: the table says electricity is priced, why the job waits (cheaper
    electricity), what the priced runs' electricity costs, and which sites are not priced."""
    fra_only(tmp_path / "estate")
    assert keel("apply", "-f", "estate", cwd=tmp_path).returncode == 0
    env = {"KEEL_GRID_DATA": str(GRID)}
    done = keel("plan", "--no-commit", "--horizon", "48h", "--start", "2024-01-01T00:00Z",
                "--energy-price", cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "electricity priced by the hour at owned sites" in done.stdout
    assert "cheaper electricity than starting at once" in done.stdout
    assert "electricity of the 1 run(s) at owned sites: USD" in done.stdout
    assert "price: electricity not priced by the hour" in done.stdout  # sfo: no price file
    refused = keel("plan", "--no-commit", "--energy-price", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "--energy-price needs --horizon" in refused.stderr
