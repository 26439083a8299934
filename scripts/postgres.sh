# Sourced by scripts/test.sh: make a local PostgreSQL available for the tests and set
# KEEL_TEST_DATABASE_URL. Installs the Debian package when it is missing (needs root).
# Returns non-zero when no server can be had.
_keel_pg() {
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing PostgreSQL (apt-get)" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || return 1
    else
      return 1
    fi
  fi
  local cluster version name
  cluster=$(pg_lsclusters --no-header | head -n 1)
  if [ -z "$cluster" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$version" main >/dev/null || return 1
    cluster=$(pg_lsclusters --no-header | head -n 1)
  fi
  version=$(echo "$cluster" | awk '{print $1}')
  name=$(echo "$cluster" | awk '{print $2}')
  pg_ctlcluster "$version" "$name" start 2>/dev/null || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$(echo "$cluster" | awk '{print $3}')" && break
    sleep 1
  done
  local port
  port=$(echo "$cluster" | awk '{print $3}')
  pg_isready -q -h 127.0.0.1 -p "$port" || return 1
  su postgres -c "psql -q -p $port -c \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'keel') THEN CREATE ROLE keel LOGIN SUPERUSER PASSWORD 'keel'; END IF; END\\\$\\\$;\"" >/dev/null || return 1
  su postgres -c "psql -q -p $port -tc \"SELECT 1 FROM pg_database WHERE datname = 'keel_test'\"" | grep -q 1 \
    || su postgres -c "createdb -p $port -O keel keel_test" || return 1
  KEEL_TEST_DATABASE_URL="postgresql://keel:keel@127.0.0.1:$port/keel_test"
}
_keel_pg
