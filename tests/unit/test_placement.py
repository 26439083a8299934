"""The placement engine, re-checked by an independent checker, against brute force and baselines.

The checker below is written from the issue's rules, over the estate's specs and resolved
values with plain loops; it shares no code with the vectorised constraints it checks.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.estate import Estate, build_estate, load_manifests
from keel.estate.catalog import jurisdiction_members
from keel.estate.manifest import parse_bytes, to_resources
from keel.estate.resources import CLASSIFICATION_ORDER
from keel.placement.baselines import cheapest_ignoring_capacity, on_prem_first
from keel.placement.lagrangian import lagrangian
from keel.placement.milp import polish, relax
from keel.placement.plan import Plan, build_plan, explain
from keel.placement.problem import UNPLACED, Problem, compile_problem
from keel.placement.solver import check_capacity, solve, solve_fast, unplaced_penalty


def violations(estate: Estate, plan: Plan) -> list[str]:
    """Every hard-constraint violation in a plan, found without the engine's code."""
    found = []
    used: Counter[tuple[str, str]] = Counter()
    sites_of: dict[str, set[str]] = defaultdict(set)
    for p in plan.placements:
        w = estate.of_kind("Workload")[p.workload].spec
        site = estate.sites[p.site]
        pool = next(x for x in site.pools if x.name == p.pool)
        used[(p.site, p.pool)] += p.devices
        sites_of[p.workload].add(p.site)
        inputs = [estate.of_kind("Dataset")[d].spec for d in w.inputs]
        for d in inputs:
            if CLASSIFICATION_ORDER.index(d.classification) > CLASSIFICATION_ORDER.index(
                site.max_classification
            ):
                found.append(f"{p.workload}@{p.site}: classification")
            for jurisdiction in d.residency:
                if site.country not in jurisdiction_members(estate.catalog, jurisdiction):
                    found.append(f"{p.workload}@{p.site}: residency")
        if pool.accelerator not in w.compute.accelerators:
            found.append(f"{p.workload}@{p.site}: accelerator")
        if not site.available:
            found.append(f"{p.workload}@{p.site}: site down")
        name, _, version = w.model.partition("@")
        model = estate.of_kind("Model")[name].spec
        v = next((x for x in model.versions if x.version == version), model.versions[-1])
        training = w.kind in ("training", "fine_tuning")
        need = (
            (v.training_memory_gb or v.parameters_billion * 18)
            if training
            else (v.memory_gb or v.parameters_billion * 2)
        )
        if need > w.compute.count * pool.memory_gb + 1e-9:
            found.append(f"{p.workload}@{p.site}: memory")
        if w.latency_slo_ms is not None:
            nearest = min(estate.rtt_ms(p.site, region)[0] for region in w.serves)
            if nearest + w.service_time_ms > w.latency_slo_ms + 1e-9:
                found.append(f"{p.workload}@{p.site}: latency (serves no region)")
        if p.devices != w.compute.count * p.replicas:
            found.append(f"{p.workload}@{p.site}: gang size")
    for (site_name, pool_name), devices in used.items():
        pool = next(x for x in estate.sites[site_name].pools if x.name == pool_name)
        if devices > pool.count:
            found.append(f"{site_name}/{pool_name}: capacity {devices} > {pool.count}")
    for workload, sites in sites_of.items():
        spec = estate.of_kind("Workload")[workload].spec
        for region in spec.serves:
            if spec.latency_slo_ms is not None and not any(
                estate.rtt_ms(site, region)[0] + spec.service_time_ms <= spec.latency_slo_ms + 1e-9
                for site in sites
            ):
                found.append(f"{workload}: region {region} has no replica within the SLO")
        if len(sites) < spec.min_sites:
            found.append(f"{workload}: spread over {len(sites)} < {spec.min_sites} sites")
    return found


def demo_estate() -> Estate:
    resources, problems = load_manifests([str(Path(__file__).parents[2] / "src/keel/estate/demo")])
    estate, more = build_estate(resources)
    assert problems == [] and more == []
    return estate


@pytest.mark.parametrize("solver", ["fast", "exact"])
@pytest.mark.parametrize("objective", ["cost", "carbon", "latency", "balanced"])
def test_demo_plan_has_no_violations(solver: str, objective: str) -> None:
    estate = demo_estate()
    problem = compile_problem(estate, objective=objective)
    solution = solve(problem, solver, with_bound=False)
    plan = build_plan(problem, solution, objective)
    assert violations(estate, plan) == []
    placed = {p.workload for p in plan.placements}
    # The rules the demo estate exists to show.
    assert {p.site for p in plan.placements if p.workload.startswith("cn-")} <= {
        "sha-dc1",
        "ali-sh",
    }
    cn_personal = [
        p
        for p in plan.placements
        if p.workload in ("cn-mobile-assistant", "cn-service-desk", "cn-risk-retrain")
    ]
    assert cn_personal and all(p.site == "sha-dc1" for p in cn_personal)
    assert [p.site for p in plan.placements if p.workload == "trading-desk-copilot"] == ["par-edge"]
    assert {p.site for p in plan.placements if p.workload == "us-benefits-claims-triage"} <= {
        "ny-dc1",
        "aws-use1",
    }
    pretrain = [p for p in plan.placements if p.workload == "foundation-13b-pretrain"]
    assert pretrain and estate.sites[pretrain[0].site].kind == "public_cloud"
    restricted = [
        p
        for p in plan.placements
        if p.workload in ("fraud-detector-retrain", "nightly-aml-scoring")
    ]
    assert restricted and all(estate.sites[p.site].kind == "on_prem" for p in restricted)
    # Paris, New York and Singapore within 150 ms: replicas split the regions between them.
    assert "doc-search-api" in placed
    search_sites = {p.site for p in plan.placements if p.workload == "doc-search-api"}
    assert len(search_sites) >= 2
    assert plan.unplaced == []


def test_keel_beats_every_baseline_without_violations() -> None:
    problem = compile_problem(demo_estate())
    solution = solve(problem, "fast", with_bound=False)
    placed = int((solution.assignment != UNPLACED).sum())
    for baseline in (cheapest_ignoring_capacity(problem), on_prem_first(problem)):
        if baseline.capacity_violations == 0:
            assert (placed, -solution.objective) > (baseline.placed, -baseline.objective_usd)
    assert cheapest_ignoring_capacity(problem).capacity_violations > 0


def test_fast_is_near_exact_and_bound_holds_on_the_demo() -> None:
    problem = compile_problem(demo_estate())
    fast, exact = solve(problem, "fast"), solve(problem, "exact")
    assert exact.penalised <= fast.penalised + 1e-6
    assert exact.bound <= exact.objective + 1e-6
    assert fast.objective <= exact.objective * 1.02
    assert fast.gap is not None and 0 <= fast.gap < 0.02


def test_explanations_name_the_rules() -> None:
    estate = demo_estate()
    problem = compile_problem(estate)
    solution = solve(problem, "fast", with_bound=False)
    why = explain(problem, solution, "cn-mobile-assistant")
    assert why["chosen"][0]["site"] == "sha-dc1"
    assert "residency" in why["rejected"]["fra-dc1"]
    assert "residency" in why["rejected"]["ali-sh"] or "classification" in why["rejected"]["ali-sh"]
    copilot = explain(problem, solution, "trading-desk-copilot")
    assert copilot["rejected"]["fra-dc1"][0] in ("latency", "accelerator")
    assert "latency" in copilot["rejected"]["ams-private"]
    benefits = explain(problem, solution, "us-benefits-claims-triage")
    assert "residency" in benefits["rejected"]["fra-dc1"]
    for alternative in explain(problem, solution, "market-signal-backtest")["alternatives"]:
        assert alternative["delta_usd"] >= 0


# -- random instances -----------------------------------------------------------------------
ACCS = ["H100-SXM", "L4", "A100-SXM-80GB"]
COUNTRIES = [("DE", 50.1, 8.7), ("FR", 48.9, 2.3), ("US", 40.7, -74.0), ("CN", 31.2, 121.5)]
KINDS = ["on_prem", "private_cloud", "public_cloud", "edge"]


@st.composite
def estates(draw: st.DrawFn, max_sites: int = 4, max_workloads: int = 6) -> str:
    docs = []
    n_sites = draw(st.integers(1, max_sites))
    for s in range(n_sites):
        country, lat, lon = COUNTRIES[draw(st.integers(0, 3))]
        pools = [
            {
                "name": f"p{j}",
                "accelerator": draw(st.sampled_from(ACCS)),
                "count": draw(st.integers(1, 6)),
                "usd_per_hour": draw(st.sampled_from([0.5, 1.0, 2.0, 3.5])),
            }
            for j in range(draw(st.integers(1, 2)))
        ]
        docs.append(
            {
                "kind": "Site",
                "name": f"s{s}",
                "spec": {
                    "kind": "on_prem",
                    "country": country,
                    "location": {"latitude": lat, "longitude": lon},
                    "max_classification": draw(
                        st.sampled_from(["internal", "confidential", "restricted", "restricted"])
                    ),
                    "certifications": draw(
                        st.sampled_from([[], ["hipaa", "pci-dss"], ["hipaa", "pci-dss"], ["hipaa"]])
                    ),
                    "available": draw(st.sampled_from([True, True, True, False])) or s == 0,
                    "pools": pools,
                },
            }
        )
    docs.append(
        {
            "kind": "UserRegion",
            "name": "far-users",
            "spec": {"country": "US", "location": {"latitude": 40, "longitude": -74}},
        }
    )
    docs.append(
        {
            "kind": "UserRegion",
            "name": "users",
            "spec": {"country": "DE", "location": {"latitude": 50, "longitude": 8}},
        }
    )
    n_data = draw(st.integers(1, 3))
    for d in range(n_data):
        holder = draw(st.integers(0, n_sites - 1))
        site_spec = docs[holder]["spec"]
        ceiling = CLASSIFICATION_ORDER.index(site_spec["max_classification"])
        home = {"DE": "EU", "FR": "EU", "US": "US", "CN": "CN"}[site_spec["country"]]
        spec = {
            "classification": CLASSIFICATION_ORDER[draw(st.integers(0, ceiling))],
            "size_gb": draw(st.integers(0, 500)),
            "replicas": [f"s{holder}"],
            "tags": draw(
                st.lists(st.sampled_from(["phi", "pci", "personal"]), unique=True, max_size=1)
            ),
            "residency": draw(st.sampled_from([[], [home]])),
        }
        docs.append({"kind": "Dataset", "name": f"d{d}", "spec": spec})
    docs.append(
        {
            "kind": "Model",
            "name": "m",
            "spec": {
                "risk_tier": "minimal",
                "purpose": "x",
                "versions": [
                    {"version": "1", "parameters_billion": draw(st.sampled_from([0.5, 0.5, 7]))}
                ],
            },
        }
    )
    for w in range(draw(st.integers(1, max_workloads))):
        service = draw(st.booleans())
        spec = {
            "kind": "online_inference" if service else "training",
            "model": "m",
            "inputs": [f"d{draw(st.integers(0, n_data - 1))}"],
            "compute": {
                "accelerators": draw(st.lists(st.sampled_from(ACCS), min_size=2, unique=True)),
                "count": draw(st.integers(1, 4)),
                "replicas": draw(st.integers(1, 2)) if service else 1,
            },
        }
        if service:
            spec["latency_slo_ms"] = draw(st.sampled_from([5, 30, 400, 400]))
            spec["serves"] = draw(st.sampled_from([["users"], ["users"], ["users", "far-users"]]))
            spec["min_sites"] = draw(st.integers(1, spec["compute"]["replicas"]))
        else:
            spec["compute"]["hours"] = draw(st.sampled_from([1, 10]))
        docs.append({"kind": "Workload", "name": f"w{w}", "spec": spec})
    return yaml.safe_dump_all(docs)


def load(text: str) -> Estate:
    docs, problems = parse_bytes(text.encode(), "random.yaml")
    resources, more = to_resources(docs)
    estate, refs = build_estate(resources)
    assert problems == more == refs == [], [str(p) for p in problems + more + refs]
    return estate


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_random_plans_have_no_violations(text: str) -> None:
    estate = load(text)
    problem = compile_problem(estate)
    for solver in ("fast", "exact"):
        solution = solve(problem, solver, with_bound=False)
        assert check_capacity(problem, solution.assignment)
        assert violations(estate, build_plan(problem, solution, "balanced")) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_the_polish_keeps_every_rule_whether_or_not_its_plan_is_taken(text: str) -> None:
    """The LP-guided polish's own plan keeps capacity, spread and coverage, and places as many."""
    estate = load(text)
    problem = compile_problem(estate)
    searched = solve(problem, "fast", with_bound=False)
    unpolished = solve_fast(problem, polished=False)
    placed = int((unpolished != UNPLACED).sum())
    relaxation = relax(problem, placed)
    for widen in (0, 3):
        polished = polish(problem, unpolished, relaxation, widen=widen)
        if polished is None:
            continue
        assert check_capacity(problem, polished)
        assert int((polished != UNPLACED).sum()) >= placed
        plan = build_plan(problem, replace(searched, assignment=polished), "balanced")
        assert violations(estate, plan) == []


def brute_force(problem) -> float:  # type: ignore[no-untyped-def]
    costs = problem.item_costs()
    n_items, n_options = costs.shape
    penalty = unplaced_penalty(problem)
    demand = problem.demand[problem.item_workload]
    best = np.inf
    for choice in itertools.product(range(-1, n_options), repeat=n_items):
        total, used, ok = 0.0, np.zeros(n_options, dtype=np.int64), True
        for item, option in enumerate(choice):
            if option < 0:
                total += penalty
                continue
            if not np.isfinite(costs[item, option]):
                ok = False
                break
            used[option] += demand[item]
            total += costs[item, option]
        if not ok or (used > problem.capacity).any():
            continue
        for w in range(len(problem.workloads)):
            items = np.flatnonzero(problem.item_workload == w)
            sites = {problem.option_site[choice[i]] for i in items if choice[i] >= 0}
            if sites and len(sites) < problem.min_sites[w]:
                ok = False
            regions = problem.coverage.get(w)
            if regions is not None and sites and not regions[:, sorted(sites)].any(axis=1).all():
                ok = False
        if ok:
            best = min(best, total)
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates(max_sites=2, max_workloads=3))
def test_exact_matches_brute_force_on_tiny_instances(text: str) -> None:
    problem = compile_problem(load(text))
    n_items, n_options = problem.item_costs().shape
    if n_items > 5 or (n_options + 1) ** n_items > 20_000:
        return
    exact = solve(problem, "exact")
    assert exact.penalised == pytest.approx(brute_force(problem), rel=1e-9, abs=1e-6)
    assert exact.bound <= exact.objective + 1e-6
    bound = lagrangian(problem, exact.placed, exact.objective).bound
    assert bound <= exact.objective * (1 + 1e-9) + 1e-6
    fast = solve(problem, "fast", with_bound=False)
    assert fast.penalised >= exact.penalised - 1e-6


def test_an_infeasible_problem_gives_a_plan_not_an_exception() -> None:
    text = yaml.safe_dump_all(
        [
            {
                "kind": "Site",
                "name": "s0",
                "spec": {
                    "kind": "on_prem",
                    "country": "US",
                    "location": {"latitude": 40, "longitude": -74},
                    "pools": [{"name": "p", "accelerator": "L4", "count": 2, "usd_per_hour": 1}],
                },
            },
            {
                "kind": "Dataset",
                "name": "eu-data",
                "spec": {"classification": "internal", "size_gb": 1, "replicas": ["s0"]},
            },
            {
                "kind": "Dataset",
                "name": "cn-data",
                "spec": {
                    "classification": "internal",
                    "size_gb": 1,
                    "replicas": ["s0"],
                    "residency": ["US"],
                },
            },
            {
                "kind": "Model",
                "name": "m",
                "spec": {
                    "risk_tier": "minimal",
                    "purpose": "x",
                    "versions": [{"version": "1", "parameters_billion": 1}],
                },
            },
            {
                "kind": "Workload",
                "name": "big",
                "spec": {
                    "kind": "training",
                    "model": "m",
                    "inputs": ["eu-data"],
                    "compute": {"accelerators": ["L4"], "count": 8, "hours": 1},
                },
            },
            {
                "kind": "Workload",
                "name": "wrong-acc",
                "spec": {
                    "kind": "training",
                    "model": "m",
                    "inputs": ["cn-data"],
                    "compute": {"accelerators": ["H100-SXM"], "count": 1, "hours": 1},
                },
            },
        ]
    )
    problem = compile_problem(load(text))
    plan = build_plan(problem, solve(problem, "fast"), "balanced")
    assert plan.placements == []
    by_name = {u.workload: u for u in plan.unplaced}
    assert by_name["big"].reasons == ["capacity"]
    assert by_name["big"].relaxations == ["add 6 L4 at site s0"]
    assert by_name["wrong-acc"].reasons == ["accelerator"]
    assert by_name["wrong-acc"].relaxations == ["accept L4 (available at site s0)"]


def demo_with(edit: dict[str, str]) -> Estate:
    folder = Path(__file__).parents[2] / "src/keel/estate/demo"
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text()
        for old, new in edit.items():
            text = text.replace(old, new)
        found, problems = parse_bytes(text.encode(), path.name)
        assert problems == []
        docs += found
    resources, more = to_resources(docs)
    estate, refs = build_estate(resources)
    assert more == refs == []
    return estate


def test_replanning_moves_only_what_must_move() -> None:
    from keel.placement.replan import add_churn_penalty, diff

    before_problem = compile_problem(demo_estate())
    before = build_plan(
        before_problem, solve(before_problem, "fast", with_bound=False), "balanced"
    ).to_json()
    # A small price change: churn keeps everything where it is.
    cheaper = demo_with({"usd_per_hour: 3.90": "usd_per_hour: 3.80"})
    problem = compile_problem(cheaper)
    add_churn_penalty(problem, before)
    after = build_plan(problem, solve(problem, "fast", with_bound=False), "balanced").to_json()
    assert diff(problem, before, after) == []
    # A site going down: its workloads move, and the reason says so.
    down = demo_with(
        {
            "name: ams-private\nlabels: {owner: group-it, tier: core}\nspec:\n": "name: ams-private\nlabels: {owner: group-it, tier: core}\nspec:\n  available: false\n"
        }
    )
    problem = compile_problem(down)
    add_churn_penalty(problem, before)
    after = build_plan(problem, solve(problem, "fast", with_bound=False), "balanced").to_json()
    moves = diff(problem, before, after)
    on_ams = {p["workload"] for p in before["placements"] if p["site"] == "ams-private"}
    assert on_ams
    assert on_ams <= {m.workload for m in moves}
    for move in moves:
        if move.workload in on_ams:
            assert "site_down" in move.why
        assert not any(a.startswith("ams-private/") for a in move.after)
    assert (
        violations(down, build_plan(problem, solve(problem, "fast", with_bound=False), "balanced"))
        == []
    )


def test_the_front_ends_objectives_are_the_presets() -> None:
    """keel plan --objective lists names from keel.operations, which must not drift."""
    from keel.operations import OBJECTIVES
    from keel.placement.problem import PRESETS

    assert set(OBJECTIVES) == set(PRESETS)


def test_a_gap_the_bound_cannot_support_is_not_given() -> None:
    """Without a bound (or one at or below zero) there is no gap, never a made-up 0% or 100%."""
    problem = compile_problem(demo_estate())
    unbounded = solve(problem, "fast", with_bound=False)
    assert unbounded.gap is None and unbounded.bound_method == "none"
    bounded = solve(problem, "fast")
    assert bounded.gap is not None and bounded.bound_method == "lp"


def test_a_bound_too_weak_to_say_anything_gives_no_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid but weak bound (a gap of 50% or more) says nothing about the plan: no figure."""
    from keel.placement import solver
    from keel.placement.milp import Relaxation

    problem = compile_problem(demo_estate())
    real = solve(problem, "fast")
    assert real.gap is not None and real.gap < solver.UNINFORMATIVE_GAP
    weak_relaxation = Relaxation(real.placed, real.bound * 0.4)
    monkeypatch.setattr(solver, "relax", lambda *_args: weak_relaxation)
    weak = solve(problem, "fast")
    assert weak.bound == pytest.approx(real.bound * 0.4)  # still reported, and valid
    assert weak.gap is None


def test_every_rejection_carries_its_numbers_and_blames_the_right_pool() -> None:
    """Pool reasons name the pool at fault; site reasons come once per site, with numbers."""
    import re

    from keel.placement.plan import site_rejections
    from keel.placement.rejection import rejections
    from keel.placement.solver import solve

    estate = demo_estate()
    problem = compile_problem(estate)
    solve(problem, "fast")
    pools = {(s.name, p.name): p for s in estate.sites.values() for p in s.pools}
    checked = 0
    for w, workload in enumerate(problem.workloads):
        spec = estate.of_kind("Workload")[workload].spec
        found = rejections(problem, estate, workload, {})
        assert {r.site for r in found} == set(site_rejections(problem, w))
        for r in found:
            checked += 1
            if r.reason == "accelerator":
                pool = pools[(r.site, r.pool)]
                assert pool.accelerator not in spec.compute.accelerators  # never an L4 pool
                assert pool.accelerator in r.detail  # for an L4 workload
            elif r.reason == "capacity":
                match = re.search(r"needs ([\d,]+) devices; the pool has ([\d,]+)", r.detail)
                assert match is not None, r.detail
                needed, held = (int(x.replace(",", "")) for x in match.groups())
                assert r.pool is not None and held == pools[(r.site, r.pool)].count
                assert needed > held
            elif r.reason == "latency":
                shown, slo = (
                    float(x.replace(",", "")) for x in re.findall(r"([\d,.]+) ms", r.detail)
                )
                assert r.pool is None and slo == spec.latency_slo_ms and shown > slo
            elif r.reason in ("classification", "residency"):
                assert r.pool is None and r.dataset in spec.inputs and r.dataset in r.detail
    assert checked > 50  # the demo exercises every kind of reason
    assert {"accelerator", "latency", "classification", "residency", "capacity"} <= {
        r.reason for w in problem.workloads for r in rejections(problem, estate, w, {})
    }


def _every_option_relaxations(problem: Problem, w: int) -> list[str]:
    """The relaxations as first written: every option textualised, sorted, deduplicated."""
    from keel.placement.plan import ALTERNATIVES, SINGLE_REASONS, _texts

    suggestions = []
    for o in range(len(problem.option_site)):
        mask = int(problem.reasons[w, o])
        if mask == 0 or mask in SINGLE_REASONS:
            cost = float(problem.compute_usd[w, o] + problem.egress_usd[w, o])
            suggestions.append((cost, _texts(problem, w, np.array([o]))[0]))
    seen: list[str] = []
    for _, text in sorted(suggestions):
        if text not in seen:
            seen.append(text)
    return seen[:ALTERNATIVES]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_relaxations_from_the_cheapest_options_equal_those_from_every_option(text: str) -> None:
    """Texting only the cheapest options (the fast path) gives the same three suggestions."""
    from keel.placement.plan import relaxations

    for estate in (load(text), demo_estate()):
        problem = compile_problem(estate)
        for w in range(len(problem.workloads)):
            assert relaxations(problem, w) == _every_option_relaxations(problem, w)


def _first_fit_by_loops(problem: Problem) -> list[int]:
    """The on-premises-first baseline as first written: a loop over items and options."""
    from keel.placement.baselines import SITE_KIND_ORDER

    rank = [SITE_KIND_ORDER.index(problem.site_kind[s]) for s in problem.option_site]
    order = sorted(
        range(len(problem.option_site)),
        key=lambda o: (rank[o], problem.sites[problem.option_site[o]], o),
    )
    costs = problem.item_costs()
    demand = problem.demand[problem.item_workload]
    left = problem.capacity.copy()
    assignment = [UNPLACED] * costs.shape[0]
    for item in range(costs.shape[0]):
        for option in order:
            if np.isfinite(costs[item, option]) and left[option] >= demand[item]:
                assignment[item] = option
                left[option] -= demand[item]
                break
    return assignment


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_the_first_fit_baseline_places_as_the_loops_did(text: str) -> None:
    for estate in (load(text), demo_estate()):
        problem = compile_problem(estate)
        assert on_prem_first(problem).assignment.tolist() == _first_fit_by_loops(problem)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 1.0),
)
def test_two_cheapest_per_row_equal_a_partition(
    rows: int, columns: int, seed: int, infeasible: float
) -> None:
    """The argmin-and-masked-min shortcut gives what ``np.partition`` gives, ties and inf rows too."""
    from keel.placement.solver import _two_cheapest

    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 4, (rows, columns)).astype(np.float64)  # small values: many ties
    matrix[rng.random((rows, columns)) < infeasible] = np.inf
    best, second = _two_cheapest(matrix)
    ordered = np.sort(matrix, axis=1)
    assert np.array_equal(best, ordered[:, 0])
    assert np.array_equal(second, ordered[:, 1] if columns > 1 else np.full(rows, np.inf))
