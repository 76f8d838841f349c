#!/usr/bin/env bash
# A real SLURM on this machine: installs it from the distribution's packages (slurmctld, slurmd,
# munge; Debian/Ubuntu apt), starts a one-node cluster on localhost, runs the tiny cohort's data
# rules, cis stage and PredictDB export with `--workflow-profile profiles/slurm` through
# snakemake-executor-plugin-slurm, checks in the controller's records that every job went
# through SLURM, and that the outputs equal those of a local run (`--cores 2`).
#
#   bash tests/cluster/slurm.sh          # as root (CI); about 3 minutes on 2 cores
#
# Fails loudly, never skips: when the packages cannot be installed, when not root, or when
# /etc/slurm/slurm.conf belongs to a SLURM this script did not set up (it is never touched).
# The cluster has no accounting database (no slurmdbd), so the executor plugin is told to
# query job states with squeue (`--slurm-status-command squeue`); the jobs' final states are
# read from the controller's job-completion file. Work folder: $MILAGE_SLURM_DIR
# (default /tmp/milage-slurm), wiped at the start; its logs stay after the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${MILAGE_SLURM_DIR:-/tmp/milage-slurm}
CONF=/etc/slurm/slurm.conf            # jobs' nested srun reads it there (SLURM_CONF is dropped)
MARK="# written by milage tests/cluster/slurm.sh"
CTLD_PORT=6917                        # not SLURM's defaults: no clash with a SLURM of the host
SLURMD_PORT=6918

fail() { echo "slurm.sh: FAILED: $*" >&2; exit 1; }
say() { echo "slurm.sh: $*"; }
SECONDS=0

[ "$(id -u)" = 0 ] || fail "must run as root (it installs packages and starts slurmd, which
  runs jobs as their user); CI runs it as root. Run: sudo bash tests/cluster/slurm.sh"

# --- packages --------------------------------------------------------------------------------
PACKAGES="slurmctld slurmd slurm-client munge"
have_slurm() { command -v slurmctld && command -v slurmd && command -v munged &&
               command -v sbatch && command -v squeue; } >/dev/null
if ! have_slurm; then
    command -v apt-get >/dev/null || fail "SLURM is not installed and apt-get is missing;
  install $PACKAGES with this system's package manager"
    APTLOG=${TMPDIR:-/tmp}/milage-slurm-apt.log
    say "installing $PACKAGES"
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d 101: the packages' init scripts do not start daemons (this script does)
    POLICY=/usr/sbin/policy-rc.d
    [ -e $POLICY ] || { printf '#!/bin/sh\nexit 101\n' > $POLICY; chmod +x $POLICY; ADDED_POLICY=1; }
    ok=0
    apt-get install -y -q --no-install-recommends $PACKAGES >"$APTLOG" 2>&1 ||
        { apt-get update -q >>"$APTLOG" 2>&1 &&
          apt-get install -y -q --no-install-recommends $PACKAGES >>"$APTLOG" 2>&1; } ||
        ok=1
    [ -n "${ADDED_POLICY:-}" ] && rm -f $POLICY
    if [ $ok != 0 ] || ! have_slurm; then
        tail -20 "$APTLOG" >&2
        fail "could not install SLURM ($PACKAGES) with apt-get (log above, in $APTLOG)"
    fi
    rm -f "$APTLOG"
fi
say "$(slurmctld -V) installed"
python3 -c "import snakemake_executor_plugin_slurm" 2>/dev/null || {
    say "installing the executor plugin: pip install -e \".[slurm]\""
    pip install -q -e ".[slurm]" || fail "pip install -e \".[slurm]\" failed"; }

# --- a one-node cluster ----------------------------------------------------------------------
if [ -e $CONF ] && ! head -1 $CONF | grep -qF "$MARK"; then
    fail "$CONF exists and was not written by this script: this machine has its own SLURM,
  which this test does not touch. Run it on a machine (or container) without one."
fi
running() {         # alive and not a zombie (daemons are re-parented to pid 1, which may not reap)
    local state
    state=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}
stop_daemons() {   # the daemons a run of this script started, by the pids they wrote
    for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" "$WORK/munge/munged.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        case "$(cat /proc/"$pid"/comm 2>/dev/null)" in
            slurmd|slurmctld|munged) running "$pid" && kill "$pid" 2>/dev/null
                for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done ;;
        esac
        rm -f "$pidfile"
    done
}
cleanup() {
    stop_daemons
    if [ -e $CONF ] && head -1 $CONF | grep -qF "$MARK"; then rm -f $CONF; fi
}
stop_daemons      # left by an interrupted run
trap cleanup EXIT
[ -n "$WORK" ] && [ "$WORK" != / ] && rm -rf "$WORK"
mkdir -p "$WORK"/{munge,state,spool,log}
chmod 711 "$WORK/munge"

# munge, on its own socket and key (the host's munge, if any, is left alone)
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$WORK/munge/munge.key"
SOCKET=$WORK/munge/munge.socket
munged --force --socket="$SOCKET" --key-file="$WORK/munge/munge.key" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
    --seed-file="$WORK/munge/munged.seed" || fail "munged did not start ($WORK/munge/munged.log)"
munge -n --socket="$SOCKET" | unmunge --socket="$SOCKET" >/dev/null ||
    fail "munge does not decode its own credential ($WORK/munge/munged.log)"

HOST=$(hostname -s)                       # reached at 127.0.0.1: no DNS needed
NODE=$(slurmd -C | head -1)               # NodeName=... CPUs=... RealMemory=MB
CPUS=$(sed -E 's/.* CPUs=([0-9]+).*/\1/' <<<"$NODE")
MEMORY=$(sed -E 's/.*RealMemory=([0-9]+).*/\1/' <<<"$NODE")
MEMORY=$((MEMORY * 95 / 100))             # below what slurmd measures, or the node drains
NODE=$(sed -E "s/^NodeName=[^ ]+/NodeName=$HOST/; s/RealMemory=[0-9]+/RealMemory=$MEMORY/" \
       <<<"$NODE")
cat > $CONF <<EOF
$MARK; removed when it ends
ClusterName=milage-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/log/jobcomp.txt
MinJobAge=300
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld || fail "slurmctld did not start ($WORK/log/slurmctld.log)"
slurmd || fail "slurmd did not start ($WORK/log/slurmd.log)"
for _ in $(seq 60); do
    [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ] && break
    sleep 0.5
done
[ "$(sinfo -h -N -o %t)" = idle ] || { sinfo -N -l; tail -5 "$WORK"/log/*.log
    fail "the node did not come up idle"; }
say "cluster up after ${SECONDS}s: $NODE, partition debug"

# --- the workflow, through SLURM and locally -------------------------------------------------
# A rule asking more memory than the node has would be refused by sbatch: name it now.
BIGGEST=$(grep -ho "mem_mb[=:] *[0-9]*" workflow/rules/*.smk profiles/slurm/config.yaml |
          grep -o "[0-9]*$" | sort -n | tail -1)
[ "$BIGGEST" -le "$MEMORY" ] || fail "a rule asks mem_mb=$BIGGEST, more than this node's
  ${MEMORY} MB: SLURM would refuse it"
TARGETS=$(python3 tests/cluster/compare.py targets)
for run in slurm local; do python3 tests/cluster/compare.py config "$WORK/$run"; done

# the local run alongside: the SLURM run mostly waits between status checks
(snakemake -s workflow/Snakefile --directory "$WORK/local" --configfile "$WORK/local/config.yaml" \
    --cores 2 $TARGETS >"$WORK/local.log" 2>&1) &
LOCAL=$!
say "snakemake --workflow-profile profiles/slurm --jobs 4 --slurm-status-command squeue $TARGETS"
snakemake -s workflow/Snakefile --directory "$WORK/slurm" --configfile "$WORK/slurm/config.yaml" \
    --workflow-profile profiles/slurm --jobs 4 --slurm-status-command squeue \
    --slurm-init-seconds-before-status-checks 1 $TARGETS >"$WORK/slurm.log" 2>&1 ||
    { tail -40 "$WORK/slurm.log"; fail "the SLURM run failed (log above, $WORK/slurm.log)"; }
wait $LOCAL || { tail -40 "$WORK/local.log"; fail "the local run failed ($WORK/local.log)"; }
say "both runs done after ${SECONDS}s"

# --- checks ----------------------------------------------------------------------------------
# every Snakemake job was a SLURM job, submitted to the controller and COMPLETED there
python3 - "$WORK" <<'EOF'
import re, sys
from pathlib import Path

work = Path(sys.argv[1])
log = (work / "slurm.log").read_text()
steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", log)
assert steps, "the SLURM run did not report all its steps done"
n_jobs = int(steps[-1][1])
submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: .*/rule_(\w+)/", log))
ctld = (work / "log" / "slurmctld.log").read_text()
accepted = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", ctld))
states = dict(re.findall(r"JobId=(\d+) .*?JobState=(\w+)",
                         (work / "log" / "jobcomp.txt").read_text()))
print(f"{'SLURM job':>9}  {'state':<10} rule")
for job, rule in sorted(submitted.items(), key=lambda kv: int(kv[0])):
    print(f"{job:>9}  {states.get(job, '?'):<10} {rule}")
assert len(submitted) == n_jobs, f"{n_jobs} Snakemake jobs but {len(submitted)} sbatch submissions"
assert set(submitted) <= accepted, f"not seen by slurmctld: {set(submitted) - accepted}"
bad = {j: states.get(j) for j in submitted if states.get(j) != "COMPLETED"}
assert not bad, f"SLURM jobs not COMPLETED: {bad}"
print(f"slurm.sh: {n_jobs} Snakemake jobs = {len(submitted)} SLURM jobs, each accepted by "
      f"slurmctld (_slurm_rpc_submit_batch_job) and COMPLETED (jobcomp)")
EOF
python3 tests/cluster/compare.py compare "$WORK/slurm/results/tiny" "$WORK/local/results/tiny"
say "PASSED in ${SECONDS}s"
