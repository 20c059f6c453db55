# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in fault kinds (--fault-kind), and the two ways they are injected.

- The Docker form (the sandbox, `make bench`, the figures in docs/results.md):
  the drill runs fault_plan()'s commands itself with `docker kill`/`docker
  exec` right after reading the clock that becomes the fault's time, and
  undoes them with `docker start`/`docker exec`.
- --handoff (playbooks/drill.yml, on real hosts or on a container test bed
  with drill_crash_method=docker): the drill touches no host. It writes a
  request (Handoff) and the play runs the task file FAULT_PLAYBOOKS names in
  playbooks/faults/ over the inventory's connection, reporting the host's
  clock just before the fault (reported_fault_time).

A switchover is the drill's own POST /switchover on both paths. For the
other kinds the command that does the damage is the same on both paths, and
tests/unit/test_drill.py checks that fault_plan() and the playbooks stay
alike. The Docker form does not run the playbooks: that would change what it
measures (the fault's time would be a reported one after an Ansible run, a
held etcd fault would last drill_hold plus the play's time to undo it), it
would need an inventory where --container-pattern suffices, and the
playbooks' extras (undo timers, the sysrq crash, the inventory's etcd group)
are for real hosts. The drill.yml column of docs/results.md shows the
difference in fault_injected_s and healed_after_s.
"""

import json
import os
import re
import shlex
import subprocess
import time
import urllib.parse
from pathlib import Path

from . import patroni_api
from .common import log, scrub

FAULT_KINDS = ("crash", "postmaster-kill", "patroni-stop", "patroni-freeze", "partition", "switchover",
               "etcd-member-loss", "etcd-quorum-loss")

# Faults after which another member must lead; for the others the same
# server may come back (Patroni restarts a crashed postmaster in place).
LEADER_CHANGE_KINDS = ("crash", "partition", "switchover", "patroni-stop", "patroni-freeze")

# Faults that are held for --hold seconds and healed before recovery is awaited.
HELD_KINDS = ("etcd-member-loss", "etcd-quorum-loss")

# Faults that are undone after recovery (by fault_plan's commands or the --handoff
# agent); Patroni heals the others itself.
UNDONE_KINDS = ("crash", "patroni-stop", "patroni-freeze", "partition", "etcd-member-loss",
                "etcd-quorum-loss")

# The task file of playbooks/faults/ that injects (and undoes) each kind for
# playbooks/drill.yml, per drill_crash_method for a crash; none for a
# switchover. The Docker form's counterpart is fault_plan().
FAULT_PLAYBOOKS = {
    "crash": ("crash-sysrq", "crash-docker"),
    "postmaster-kill": ("postmaster-kill",),
    "patroni-stop": ("patroni-stop",),
    "patroni-freeze": ("patroni-freeze",),
    "partition": ("partition",),
    "switchover": (),
    "etcd-member-loss": ("etcd",),
    "etcd-quorum-loss": ("etcd",),
}

# A fault time reported by the agent (the faulty host's clock) is trusted only
# between the request and its answer, give or take this many seconds.
CLOCK_SLACK_S = 5.0


def container_for(member, pattern):
    """Container name of a Patroni member: {name}, {host} and {seq} (the name's trailing number)."""
    seq = re.search(r"(\d+)$", member["name"])
    return pattern.format(name=member["name"], host=member["host"], seq=seq.group(1) if seq else "")


def docker(*argv, check=True, timeout=120):
    res = subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"docker {' '.join(argv)} failed: {res.stderr.strip()}")
    return res


def fault_plan(kind, leader, members, pattern, data_directory, peers):
    """The commands that inject and undo one fault kind: (inject, restore, target containers).

    Commands are argv lists for docker; `peers` are the addresses the leader
    is cut from in a partition.
    """
    c = container_for(leader, pattern)
    if kind == "crash":
        return [["kill", c]], [["start", c]], [c]
    if kind == "postmaster-kill":
        return [["exec", c, "sh", "-c", 'kill -KILL "$(head -n1 "$1/postmaster.pid")"', "sh",
                 data_directory]], [], [c]
    if kind == "patroni-stop":
        return ([["exec", c, "systemctl", "stop", "patroni"]],
                [["exec", c, "systemctl", "start", "patroni"]], [c])
    if kind == "patroni-freeze":
        # Patroni's own process only: PostgreSQL, in the same unit, runs on.
        freeze = "systemctl kill --kill-whom=main --signal=SIG{} patroni"
        return ([["exec", c, "sh", "-c", freeze.format("STOP")]],
                [["exec", c, "sh", "-c", freeze.format("CONT")]], [c])
    if kind == "partition":
        cut = 'for a; do ip route add blackhole "$a/32"; done'
        heal = 'for a; do ip route del blackhole "$a/32" 2>/dev/null; done; true'
        return ([["exec", c, "sh", "-c", cut, "sh", *peers]],
                [["exec", c, "sh", "-c", heal, "sh", *peers]], [c])
    if kind in ("etcd-member-loss", "etcd-quorum-loss"):
        others = [m for m in members if m["name"] != leader["name"]]
        count = 1 if kind == "etcd-member-loss" else len(members) // 2 + 1
        targets = [c] + [container_for(m, pattern) for m in others][:count - 1]
        return ([["exec", t, "systemctl", "stop", "etcd"] for t in targets],
                [["exec", t, "systemctl", "start", "etcd"] for t in targets], targets)
    raise ValueError(f"no docker plan for fault kind {kind!r}")


def etcd_leader_host(status):
    """The address of the etcd leader from `etcdctl endpoint status --cluster -w json`, None if unknown."""
    try:
        entries = json.loads(status)
    except (TypeError, ValueError):
        return None
    for e in entries if isinstance(entries, list) else []:
        st = e.get("Status") or {}
        if st.get("leader") and st.get("leader") == (st.get("header") or {}).get("member_id"):
            return urllib.parse.urlsplit(e.get("Endpoint", "")).hostname
    return None


def etcd_leader_of(container):
    """Which host leads etcd now, asked inside a test-bed container (None if etcdctl is not there)."""
    try:
        # pgha-etcdctl: the etcd role's wrapper (TLS, root's credentials from a root-only file).
        res = docker("exec", container, "pgha-etcdctl", "endpoint", "status", "--cluster", "-w", "json",
                     check=False, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return etcd_leader_host(res.stdout) if res.returncode == 0 else None


class Handoff:
    """Hands the steps of a fault to an outside agent (playbooks/drill.yml) through files.

    For each step ("inject", then "restore" for the faults in UNDONE_KINDS)
    the drill writes DIR/<step>.json and waits for DIR/<step>.done.json:
    {"rc": int, "output": str, "fault_at": seconds since the epoch or null}.
    The agent must write the answer whole (write, then rename).
    """

    def __init__(self, directory, timeout):
        self.dir, self.timeout = Path(directory), timeout

    def ask(self, step, request):
        """Write the request, wait for the answer: its JSON, or None after the timeout."""
        path = self.dir / f"{step}.json"
        part = self.dir / f".{step}.json.part"
        part.write_text(json.dumps(request) + "\n")
        os.replace(part, path)
        answer = self.dir / f"{step}.done.json"
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            try:
                return json.loads(answer.read_text())
            except (FileNotFoundError, ValueError):
                time.sleep(0.05)
        return None


def reported_fault_time(answer, asked_at, answered_at, slack=CLOCK_SLACK_S):
    """When the fault landed: (time, source).

    The agent reads the clock of the faulty host just before the fault and
    reports it as `fault_at`. A time before the request or long after the
    answer means the host's clock and this one disagree; the request time is
    used then (the earliest the fault can have landed, so later figures come
    out longer, never shorter).
    """
    try:
        reported = float(answer.get("fault_at"))
    except (AttributeError, TypeError, ValueError):
        return asked_at, "request (no time reported)"
    if asked_at - slack <= reported <= answered_at + slack:
        return reported, "reported by the injecting host"
    return asked_at, f"request (reported time off by {round(reported - asked_at, 1)} s: clocks differ?)"


def inject(args, plan, leader, handoff, data_directory):
    """Inject the fault now: (fault_at, fault_time_source, rc, output with the secrets masked).

    The clock is read first and nothing but the branch to the fault's own
    command comes between: the fault's time is where the outage is measured
    from. With --handoff it is the time the injecting host reports (see
    reported_fault_time); no answer stops the drill (SystemExit).
    """
    fault_at = time.time()
    fault_time_source = "drill"
    if args.fault:
        res = subprocess.run(shlex.split(args.fault), capture_output=True, text=True, check=False)
        fault_rc, fault_out = res.returncode, (res.stdout + res.stderr).strip()[-500:]
    elif args.fault_kind == "switchover":
        fault_rc, fault_out = patroni_api.switchover(leader, os.environ.get("PGHA_PATRONI_AUTH"))
        fault_rc = 0 if fault_rc == 200 else fault_rc
    elif handoff:
        asked_at = fault_at
        answer = handoff.ask("inject", {"kind": args.fault_kind, "leader": leader["name"],
                                        "host": leader["host"], "data_directory": data_directory,
                                        "asked_at": asked_at})
        if answer is None:
            raise SystemExit(f"nobody answered the fault request in {args.handoff} within "
                             f"{args.handoff_timeout} s; no fault was injected by this drill")
        fault_at, fault_time_source = reported_fault_time(answer, asked_at, time.time())
        fault_rc, fault_out = answer.get("rc", 0), str(answer.get("output", ""))[-500:]
    else:
        fault_rc, fault_out = 0, ""
        for cmd in plan[0]:
            res = docker(*cmd, check=False)
            fault_rc, fault_out = fault_rc or res.returncode, (fault_out + res.stderr).strip()[-500:]
    return fault_at, fault_time_source, fault_rc, scrub(fault_out)


def restore(handoff, args, plan, leader):
    """Undo the fault (docker plan or outside agent); the time it was undone, None if nothing was."""
    if handoff:
        if args.fault_kind not in UNDONE_KINDS:
            return None
        answer = handoff.ask("restore", {"kind": args.fault_kind, "leader": leader["name"],
                                         "host": leader["host"]})
        if answer is None:
            log(f"nobody answered the restore request within {args.handoff_timeout} s: "
                f"the {args.fault_kind} fault on {leader['name']} may still be in place")
            return None
        if answer.get("rc"):
            log(f"restoring failed (rc {answer.get('rc')}): {scrub(str(answer.get('output', '')))}")
        return time.time()
    for cmd in plan[1]:
        docker(*cmd, check=False)
    return time.time() if plan[1] else None
