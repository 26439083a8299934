# Sourced by scripts/test.sh: a Ray cluster on loopback for the runtime tests, a head and two
# worker nodes, each node holding one site's custom resource (site:ray-a on the head, site:ray-b
# and site:ray-c on the workers), so a test can prove each job ran on its site's node. Sets
# KEEL_TEST_RAY_ADDRESS (the dashboard URL that Ray's job submission client talks to). Needs
# the ray package in .venv (pip install -e '.[ray]'). Returns non-zero when Ray cannot start.
# Facts this relies on: ../shared/ENGINES.md (--node-ip-address 127.0.0.1, ports away from
# Ray's worker port range). Each node's dashboard agent gets its own ports: on one machine the
# defaults collide, the workers' agents then advertise port -1 and their jobs' logs cannot be read.
_keel_ray_up() {
  .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "http://127.0.0.1:$1/api/version" >/dev/null 2>&1
}
_keel_ray() {
  local ray=.venv/bin/ray port=6390 dashboard=8266
  [ -x "$ray" ] || return 1
  if ! _keel_ray_up "$dashboard"; then
    export RAY_ENABLE_UV_RUN_RUNTIME_ENV=0 RAY_USAGE_STATS_ENABLED=0
    "$ray" start --head --node-ip-address 127.0.0.1 --port "$port" --dashboard-host 127.0.0.1 \
      --dashboard-port "$dashboard" --num-cpus 1 --resources '{"site:ray-a": 100}' \
      --object-store-memory 100000000 --dashboard-agent-listen-port 52401 \
      --include-dashboard true --disable-usage-stats >/tmp/keel-ray-head.log 2>&1 || return 1
    "$ray" start --address "127.0.0.1:$port" --node-ip-address 127.0.0.1 --num-cpus 1 \
      --resources '{"site:ray-b": 100}' --object-store-memory 100000000 \
      --dashboard-agent-listen-port 52402 --dashboard-agent-grpc-port 52412 \
      --runtime-env-agent-port 52422 --metrics-export-port 52432 --disable-usage-stats >/tmp/keel-ray-b.log 2>&1 || return 1
    "$ray" start --address "127.0.0.1:$port" --node-ip-address 127.0.0.1 --num-cpus 1 \
      --resources '{"site:ray-c": 100}' --object-store-memory 100000000 \
      --dashboard-agent-listen-port 52403 --dashboard-agent-grpc-port 52413 \
      --runtime-env-agent-port 52423 --metrics-export-port 52433 --disable-usage-stats >/tmp/keel-ray-c.log 2>&1 || return 1
  fi
  for _ in $(seq 1 60); do
    _keel_ray_up "$dashboard" && break
    sleep 1
  done
  _keel_ray_up "$dashboard" || return 1
  KEEL_TEST_RAY_ADDRESS="http://127.0.0.1:$dashboard"
}
_keel_ray
