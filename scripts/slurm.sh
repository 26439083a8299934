# Sourced by scripts/test.sh: a single-node Slurm (slurmctld + slurmd, with munge) on this
# machine for the runtime tests, with one partition per test site. Installs Debian's slurm-wlm
# and munge when missing (needs root) and sets KEEL_TEST_SLURM_CONF. Returns non-zero when no
# Slurm can be had. Facts this relies on: ../shared/ENGINES.md (no systemd, ports away from the
# defaults, every state file under one writable folder).
_keel_slurm() {
  if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Slurm and munge (apt-get)" >&2
      (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 \
        || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null)) || return 1
    else
      return 1
    fi
  fi
  [ "$(id -u)" = "0" ] || return 1
  local root=/tmp/keel-slurm host
  host=$(hostname)
  mkdir -p "$root"/{state,spool,log} /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || su -s /bin/sh munge -c "munged --force" || munged --force || return 1
  cat > "$root/slurm.conf" <<CONF
ClusterName=keeltest
SlurmctldHost=$host
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$root/state
SlurmdSpoolDir=$root/spool
SlurmctldPidFile=$root/slurmctld.pid
SlurmdPidFile=$root/slurmd.pid
SlurmctldLogFile=$root/log/slurmctld.log
SlurmdLogFile=$root/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=86400
ReturnToService=2
SchedulerParameters=sched_interval=1
NodeName=$host CPUs=8 State=UNKNOWN
PartitionName=keel-a Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=keel-b Nodes=$host MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$root/slurm.conf"
  if ! scontrol ping >/dev/null 2>&1; then
    [ -f "$root/slurmctld.pid" ] && kill "$(cat "$root/slurmctld.pid")" 2>/dev/null
    [ -f "$root/slurmd.pid" ] && kill "$(cat "$root/slurmd.pid")" 2>/dev/null
    slurmctld -f "$SLURM_CONF" || return 1
    slurmd -f "$SLURM_CONF" || return 1
  fi
  for _ in $(seq 1 30); do
    sinfo -h -o "%a %T" 2>/dev/null | grep -q "up idle" && break
    sleep 1
  done
  sinfo -h -o "%a %T" 2>/dev/null | grep -q "up idle" || { scontrol update nodename="$host" state=resume >/dev/null 2>&1; sleep 2; }
  sinfo -h -o "%a %T" 2>/dev/null | grep -Eq "up (idle|mixed|allocated)" || return 1
  KEEL_TEST_SLURM_CONF="$SLURM_CONF"
  unset SLURM_CONF
}
_keel_slurm
