#!/usr/bin/env bash
# Install Keel with its test tools and engine clients, start PostgreSQL, a single-node Slurm and
# a three-node Ray cluster on this machine, run the linters and the whole test suite.
# Used by the README's second command and by CI (.ci/run). With CI=true, a PostgreSQL, Slurm or
# Ray that cannot be started is a failure, not a skip. The services stay up for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q -c constraints.txt -e '.[dev,ray,kubernetes]'
# Bytecode for the editable source tree: the suite starts `keel` as a process hundreds of
# times, and with PYTHONDONTWRITEBYTECODE set each start would compile Keel's modules again.
.venv/bin/python -m compileall -q src >/dev/null

# The dashboard's browser tests drive Debian's Chromium through Playwright.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (browser tests)"
    apt-get install -y -q chromium >/dev/null 2>&1 \
      || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
      || echo "warning: chromium could not be installed; browser tests will be skipped" >&2
  else
    echo "warning: chromium is missing; browser tests will be skipped" >&2
  fi
fi

if [ -z "${KEEL_TEST_DATABASE_URL:-}" ]; then
  if source scripts/postgres.sh; then
    export KEEL_TEST_DATABASE_URL
  elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL could not be started and CI=true: failing" >&2
    exit 1
  else
    echo "warning: no PostgreSQL; its tests will be skipped" >&2
  fi
fi

# The runtime contract tests run against real engines (tests/contract/test_runtime_contract.py).
if [ -z "${KEEL_TEST_SLURM_CONF:-}" ]; then
  echo "== starting Slurm (slurmctld, slurmd, munge)"
  if source scripts/slurm.sh; then
    export KEEL_TEST_SLURM_CONF
  elif [ "${CI:-}" = "true" ]; then
    echo "Slurm could not be started and CI=true: failing" >&2
    exit 1
  else
    echo "warning: no Slurm; its tests will be skipped" >&2
  fi
fi
echo "== ruff"; .venv/bin/ruff check src tests bench && .venv/bin/ruff format --check src tests bench
echo "== mypy"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
# The engine tests run first, one at a time, with a Ray cluster this script starts and then
# stops: Ray's daemons keep a 2-core machine busy, and the rest of the suite runs without them.
ENGINE_TESTS=(tests/contract/test_runtime_contract.py tests/integration/test_engine_dispatch.py)
if [ "$#" -eq 0 ]; then
  started_ray=""
  if [ -z "${KEEL_TEST_RAY_ADDRESS:-}" ]; then
    echo "== starting a Ray cluster (a head and two workers on loopback)"
    if source scripts/ray.sh; then
      export KEEL_TEST_RAY_ADDRESS
      started_ray=yes
    elif [ "${CI:-}" = "true" ]; then
      echo "Ray could not be started and CI=true: failing (see /tmp/keel-ray-*.log)" >&2
      exit 1
    else
      echo "warning: no Ray; its tests will be skipped" >&2
    fi
  fi
  echo "== pytest: the engines (local processes, Slurm, Ray)"
  engines=0
  .venv/bin/pytest -p no:cacheprovider "${ENGINE_TESTS[@]}" || engines=$?
  if [ -n "$started_ray" ]; then
    .venv/bin/ray stop --force >/dev/null 2>&1 || true
    unset KEEL_TEST_RAY_ADDRESS
  fi
  [ "$engines" -eq 0 ] || exit "$engines"
  echo "== pytest: everything else"
  .venv/bin/pytest -n 2 -p no:cacheprovider "${ENGINE_TESTS[@]/#/--ignore=}"
else
  echo "== pytest"; .venv/bin/pytest -n 2 -p no:cacheprovider "$@"
fi
