#!/usr/bin/env bash
# tests/slurm/cluster.sh - a real single-node SLURM cluster for the xstilts tests.
#
#   tests/slurm/cluster.sh install   apt packages (slurm-wlm, slurmctld, slurmd, slurm-client, munge)
#   tests/slurm/cluster.sh start     install if needed, write configs, start munged/slurmctld/slurmd,
#                                    wait until the node is idle, srun smoke tests
#   tests/slurm/cluster.sh stop      cancel all jobs, stop slurmd, slurmctld, munged, remove the
#                                    generated slurm.conf (SLURM clients would wait on a dead controller)
#                                    (`stop --purge` also deletes SLURM state and logs)
#   tests/slurm/cluster.sh status    print daemons + sinfo; exit 0 when the node accepts jobs
#
# No accounting (no slurmdbd, no MariaDB): `sacct` does not work, so the Snakemake profile
# used against this cluster MUST set `slurm-status-command: squeue` (profiles/slurm-test does).
# Fake GPUs: gres "gpu" backed by mknod'ed character devices, so `--gpus=1` / `--gres=gpu:1`
# jobs are accepted and SLURM sets CUDA_VISIBLE_DEVICES.
# No systemd needed: every daemon is started directly. Idempotent: running `start` again
# leaves healthy daemons alone and restarts them only when a generated config changed.
#
# Settings (environment):
#   XSTILTS_SLURM_GPUS=2            fake GPUs on the node (0: no gres)
#   XSTILTS_SLURM_CPUS=$(nproc)     CPUs advertised by the node
#   XSTILTS_SLURM_MEM_MB=90% of MemTotal
#   XSTILTS_SLURM_PARTITION=debug   the (default) partition
#   XSTILTS_SLURM_MIN_JOB_AGE=300   seconds finished jobs stay visible in `squeue --states=all`
#                                   (the plugin only honours squeue if >= 3 x init seconds)
#   XSTILTS_SLURM_NO_INSTALL=1      never call apt-get
#
# Exit codes: 0 ok; 1 error; 3 `status`: not running;
#   77 cannot run here: not root and no password-less sudo (tests skip with the message);
#   78 cannot run here: SLURM missing and no apt-get (not Debian/Ubuntu).
set -uo pipefail

EX_NOPRIV=77
EX_UNSUPPORTED=78

GPUS="${XSTILTS_SLURM_GPUS:-2}"
CPUS="${XSTILTS_SLURM_CPUS:-$(nproc)}"
MEM_MB="${XSTILTS_SLURM_MEM_MB:-$(awk '/^MemTotal:/{print int($2 / 1024 * 0.9)}' /proc/meminfo)}"
PARTITION="${XSTILTS_SLURM_PARTITION:-debug}"
MIN_JOB_AGE="${XSTILTS_SLURM_MIN_JOB_AGE:-300}"
NODE="$(hostname -s)"
CLUSTER=xstiltsci
CONF=/etc/slurm
STATE=/var/lib/slurm
LOGS=/var/log/slurm
FAKEGPU_DIR="$STATE/xstilts-fakegpu"
PACKAGES=(slurm-wlm slurmctld slurmd slurm-client munge)

T0=$(date +%s.%N)
say() { printf '[cluster.sh %5.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{print a-b}')" "$*"; }
fail() { say "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------ privileges
SUDO=()
need_root() {
  if [ "$(id -u)" -eq 0 ]; then return 0; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then SUDO=(sudo -n); return 0; fi
  echo "cluster.sh: needs root or password-less sudo to install and run SLURM daemons (uid $(id -u))" >&2
  exit "$EX_NOPRIV"
}
as_root() { "${SUDO[@]}" "$@"; }

# ------------------------------------------------------------------ helpers
alive() { # pidfile -> 0 if its process runs and is not a zombie
  local f="$1" pid
  [ -r "$f" ] || return 1
  pid="$(cat "$f" 2>/dev/null)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" != Z ]
}
kill_pidfile() { # pidfile name: TERM, wait up to 20 s, then KILL
  local f="$1" name="$2" pid i
  if alive "$f"; then
    pid="$(cat "$f")"
    say "stopping $name (pid $pid)"
    as_root kill "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do alive "$f" || break; sleep 0.2; done
    if alive "$f"; then say "$name still alive, SIGKILL"; as_root kill -9 "$pid" 2>/dev/null || true; sleep 0.5; fi
  fi
  as_root rm -f "$f"
}
wait_until() { # seconds what cmd... (bounded polling)
  local secs="$1" what="$2" deadline
  shift 2
  deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "timeout after ${secs}s waiting for $what"
      show_logs
      exit 1
    fi
    sleep 0.3
  done
}
show_logs() {
  local f
  for f in "$LOGS/slurmctld.log" "$LOGS/slurmd.log" "$LOGS/daemons.out"; do
    [ -r "$f" ] && { echo "---- tail $f"; tail -n 25 "$f"; }
  done
  return 0
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
have_binaries() { local b; for b in slurmctld slurmd sbatch srun squeue scontrol sinfo munged munge; do command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || return 1; done; }
ctld_up() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { timeout 10 sinfo -h -n "$NODE" -o '%t' 2>/dev/null | head -n 1; }
node_ready() {
  case "$(node_state)" in
    idle|mix|alloc|comp) return 0 ;;
    drain*|drng|down*|inval*|fail*)
      as_root timeout 10 scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
      return 1 ;;
    *) return 1 ;;
  esac
}
munge_ok() { timeout 10 bash -c 'munge -n | unmunge' >/dev/null 2>&1; }

# ------------------------------------------------------------------ install
do_install() {
  local missing=() p
  if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  elif have_binaries; then
    return 0
  else
    echo "cluster.sh: SLURM is not installed and this is not a Debian/Ubuntu system (no dpkg/apt-get)" >&2
    exit "$EX_UNSUPPORTED"
  fi
  if [ "${#missing[@]}" -eq 0 ]; then say "packages present"; return 0; fi
  if [ "${XSTILTS_SLURM_NO_INSTALL:-0}" = 1 ]; then fail "missing packages ${missing[*]} and XSTILTS_SLURM_NO_INSTALL=1"; fi
  command -v apt-get >/dev/null 2>&1 || { echo "cluster.sh: missing ${missing[*]} and no apt-get" >&2; exit "$EX_UNSUPPORTED"; }
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -type f -name '*Packages*' 2>/dev/null | head -n 1)" ]; then
    say "apt lists empty: apt-get update"
    as_root timeout 300 apt-get update -qq || fail "apt-get update failed"
  fi
  if ! as_root timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    say "install failed, retrying after apt-get update"
    as_root timeout 300 apt-get update -qq || fail "apt-get update failed"
    as_root timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || fail "apt-get install ${missing[*]} failed"
  fi
  say "installed ${missing[*]}"
}

# ------------------------------------------------------------------ configs
CHANGED=0
put_file() { # tmpfile dest mode
  if ! as_root cmp -s "$1" "$2"; then
    as_root install -m "$3" "$1" "$2"
    CHANGED=1
    say "wrote $2"
  fi
}
write_configs() {
  local tmp gres_node="" gres_types="" last i dev
  tmp="$(mktemp -d)"
  as_root mkdir -p "$CONF" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS"
  if [ "$GPUS" -gt 0 ]; then
    gres_types="GresTypes=gpu"
    gres_node=" Gres=gpu:$GPUS"
    as_root mkdir -p "$FAKEGPU_DIR"
    for i in $(seq 0 $((GPUS - 1))); do
      dev="$FAKEGPU_DIR/nvidia$i"
      if [ ! -c "$dev" ]; then
        as_root rm -f "$dev"
        # char device 1:3 (= /dev/null). Without CAP_MKNOD fall back to a plain file:
        # jobs still run, but slurmd then does not set CUDA_VISIBLE_DEVICES.
        as_root mknod -m 666 "$dev" c 1 3 2>/dev/null || as_root touch "$dev"
      fi
    done
    last=$((GPUS - 1))
    echo "NodeName=$NODE Name=gpu File=$FAKEGPU_DIR/nvidia[0-$last]" > "$tmp/gres.conf"
  else
    : > "$tmp/gres.conf"
  fi
  cat > "$tmp/slurm.conf" <<EOF
# written by xstilts tests/slurm/cluster.sh: single-node test cluster, no accounting, no cgroups
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# no cgroups (containers / gVisor): track processes by pid, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
MailProg=/bin/true
# trust CPUs/RealMemory below even when they exceed the hardware
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no slurmdbd: sacct does not work -> Snakemake needs slurm-status-command: squeue
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=$MIN_JOB_AGE
# oversized requests fail at sbatch time instead of pending forever
EnforcePartLimits=ALL
InactiveLimit=0
KillWait=30
Waittime=0
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB$gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  put_file "$tmp/slurm.conf" "$CONF/slurm.conf" 644
  put_file "$tmp/gres.conf" "$CONF/gres.conf" 644
  rm -rf "$tmp"
}

# ------------------------------------------------------------------ daemons
start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating munge key"
    as_root mkdir -p /etc/munge
    as_root dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  as_root chown munge:munge /etc/munge /etc/munge/munge.key
  as_root chmod 0700 /etc/munge
  as_root chmod 0400 /etc/munge/munge.key
  as_root mkdir -p /run/munge /var/log/munge /var/lib/munge
  as_root chown munge:munge /run/munge /var/log/munge /var/lib/munge
  as_root chmod 0755 /run/munge
  if alive /run/munge/munged.pid && munge_ok; then return 0; fi
  kill_pidfile /run/munge/munged.pid munged
  say "starting munged"
  as_root runuser -u munge -- /usr/sbin/munged </dev/null >>"$LOGS/daemons.out" 2>&1 \
    || fail "munged failed to start (see $LOGS/daemons.out, /var/log/munge/munged.log)"
  wait_until 20 munged munge_ok
}

do_start() {
  need_root
  do_install
  have_binaries || fail "SLURM binaries missing after install"
  # on a systemd host the packages may have started their own daemons: ours own the ports
  if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
    as_root systemctl stop slurmd slurmctld >/dev/null 2>&1 || true
  fi
  write_configs
  start_munge
  if [ "$CHANGED" = 1 ]; then
    # slurmctld and slurmd must both see the same slurm.conf/gres.conf
    kill_pidfile /run/slurmd.pid slurmd
    kill_pidfile /run/slurmctld.pid slurmctld
  fi
  if ! alive /run/slurmctld.pid; then
    say "starting slurmctld"
    as_root slurmctld </dev/null >>"$LOGS/daemons.out" 2>&1 || { show_logs; fail "slurmctld failed to start"; }
  fi
  wait_until 60 "slurmctld (scontrol ping)" ctld_up
  if ! alive /run/slurmd.pid; then
    say "starting slurmd"
    as_root slurmd </dev/null >>"$LOGS/daemons.out" 2>&1 || { show_logs; fail "slurmd failed to start"; }
  fi
  wait_until 60 "node $NODE to become idle" node_ready
  smoke_test
  timeout 10 sinfo -o '%P %a %l %D %t %c %m %G %N'
  say "SLURM up: cluster=$CLUSTER node=$NODE partition=$PARTITION cpus=$CPUS mem_mb=$MEM_MB gpus=$GPUS"
}

smoke_test() {
  local out
  out="$(timeout 60 srun -p "$PARTITION" -t 1 -n 1 hostname 2>&1)" || { show_logs; fail "srun smoke test failed: $out"; }
  say "srun ok ($out)"
  if [ "$GPUS" -gt 0 ]; then
    out="$(timeout 60 srun -p "$PARTITION" -t 1 -n 1 --gpus=1 printenv CUDA_VISIBLE_DEVICES 2>&1)" \
      || { show_logs; fail "srun --gpus=1 smoke test failed: $out"; }
    say "srun --gpus=1 ok (CUDA_VISIBLE_DEVICES=${out:-<unset>})"
  fi
}

do_stop() {
  need_root
  if command -v scontrol >/dev/null 2>&1 && ctld_up; then
    local ids
    ids="$(timeout 10 squeue -h -o '%i' 2>/dev/null | tr '\n' ' ')"
    if [ -n "${ids// /}" ]; then
      # shellcheck disable=SC2086
      as_root timeout 20 scancel $ids >/dev/null 2>&1 || true
      say "cancelled jobs: $ids"
    fi
  fi
  kill_pidfile /run/slurmd.pid slurmd
  kill_pidfile /run/slurmctld.pid slurmctld
  kill_pidfile /run/munge/munged.pid munged
  # our generated slurm.conf goes with the daemons: one naming a controller that is not running
  # makes every SLURM client wait (the Snakemake SLURM plugin runs `scontrol show config` at
  # each Snakemake start: 9 s); `start` writes it again
  if [ -f "$CONF/slurm.conf" ] && head -1 "$CONF/slurm.conf" | grep -q '^# written by xstilts tests/slurm/cluster.sh'; then
    as_root rm -f "$CONF/slurm.conf"
  fi
  if [ "${1:-}" = "--purge" ]; then
    say "purging SLURM state and logs"
    as_root rm -rf "$STATE/slurmctld" "$STATE/slurmd" "$FAKEGPU_DIR" "$LOGS"
  fi
  say "stopped"
}

do_status() {
  local rc=0 st
  for d in munged:/run/munge/munged.pid slurmctld:/run/slurmctld.pid slurmd:/run/slurmd.pid; do
    if alive "${d#*:}"; then echo "${d%%:*}: running (pid $(cat "${d#*:}"))"; else echo "${d%%:*}: stopped"; rc=3; fi
  done
  if [ "$rc" = 0 ]; then
    st="$(node_state)"
    echo "node $NODE: ${st:-unknown}"
    timeout 10 sinfo -o '%P %a %l %D %t %c %m %G %N' 2>/dev/null || true
    case "$st" in idle|mix|alloc|comp) ;; *) rc=3 ;; esac
  fi
  return "$rc"
}

case "${1:-}" in
  install) need_root; do_install ;;
  start) do_start ;;
  stop) shift; do_stop "${1:-}" ;;
  status) do_status; exit $? ;;
  *) echo "usage: $0 {install|start|stop [--purge]|status}" >&2; exit 2 ;;
esac
