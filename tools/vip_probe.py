#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure how long the VIP takes to follow the leader after a fault, as a client sees it.

    PGPASSWORD=... vip_probe.py --vip 10.210.0.100 --confirm-cluster pg-test \
        --fault 'docker kill pgha-sandbox-1' \
        --patroni https://10.210.0.12:8008 --patroni https://10.210.0.13:8008 \
        --patroni-ca inventories/sandbox/.pki/ca.crt

Before the fault, the VIP must lead to a writable primary of the named
cluster; its timeline is noted. The fault command then starts (split like a
shell line, run without a shell) while several probes open fresh connections
to the VIP, each asking `pg_is_in_recovery()` and, on a primary, the timeline
of its current WAL file. The VIP has moved when a probe is answered by a
primary on a higher timeline: only a promoted member answers that way. The
probes also count answers from a server in recovery (the VIP on a replica).

With --patroni the probe also polls GET /cluster and notes when Patroni names
a new running leader, so the VIP's own delay behind Patroni is printed too.

The password comes from PGPASSWORD (or libpq's password file), never from
the command line, where `ps` would show it; --secrets-from FILE ("-":
standard input) reads {"PGPASSWORD": ...} instead, for callers such as
Ansible, whose `environment:` keyword puts VAR=value on a shell's command line.

JSON on stdout. Exit status 0 when the VIP moved within --timeout, 1 when it
did not (or the fault command failed; its stderr is in the JSON), 2 when the
cluster was not fit to start.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

# The collection's Patroni client (standard library only).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "module_utils"))
import patroni_core  # noqa: E402

QUERY = ("SELECT pg_is_in_recovery(), current_setting('cluster_name', true), "
         "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END")


def load_secrets(source, environ=None, stdin=None):
    """Put PGPASSWORD from a JSON object (--secrets-from: a file, or - for stdin) into the environment."""
    # The drill package's reader, beside this file; imported here so that a probe
    # without --secrets-from does not load it.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pgha_drill_lib.cli import load_secrets as drill_load_secrets

    drill_load_secrets(source, environ, stdin, allowed=("PGPASSWORD",))


def timeline_of(walfile):
    """Timeline of a WAL file name: its first 8 hex digits; None without one."""
    return int(walfile[:8], 16) if walfile else None


def probe_once(conninfo):
    """One fresh connection: (in_recovery, cluster name, timeline); raises psycopg.Error."""
    with psycopg.connect(conninfo, connect_timeout=2, autocommit=True) as conn:
        in_recovery, cluster, walfile = conn.execute(QUERY).fetchone()
    return in_recovery, cluster, timeline_of(walfile)


class Prober(threading.Thread):
    """Opens a fresh connection to the VIP again and again.

    Samples: (started, answered, in_recovery or None on failure, timeline).
    """

    def __init__(self, conninfo, stop, samples, interval, offset):
        super().__init__(daemon=True)
        self.conninfo, self.stop, self.samples = conninfo, stop, samples
        self.interval, self.offset = interval, offset

    def run(self):
        self.stop.wait(self.offset)
        while not self.stop.is_set():
            started = time.time()
            try:
                in_recovery, _cluster, timeline = probe_once(self.conninfo)
            except psycopg.Error:
                in_recovery, timeline = None, None
            self.samples.append((started, time.time(), in_recovery, timeline))
            self.stop.wait(self.interval)


def running_primary_name(view):
    """Name of the running read-write primary in a GET /cluster answer, or None."""
    member = patroni_core.running_primary(view)
    return member.get("name") if member else None


class LeaderWatch(threading.Thread):
    """Polls GET /cluster; samples: (time, running primary's name or None)."""

    def __init__(self, urls, stop, samples, interval=0.2, cafile=None):
        super().__init__(daemon=True)
        self.stop, self.samples, self.interval = stop, samples, interval
        # https URLs are checked against the deployment's CA when given. One try per member, the
        # one that answered first: a crashed member costs its timeout once, not at every poll.
        self.client = patroni_core.PatroniClient(
            urls, patroni_core.stdlib_transport(ca_file=cafile), timeout=1, retries=0, sticky=True,
            option_names={"urls": "--patroni", "ca": "--patroni-ca"})

    def run(self):
        while not self.stop.is_set():
            try:
                view = self.client.cluster()
            except patroni_core.PatroniError:
                view = None
            self.samples.append((time.time(), running_primary_name(view)))
            self.stop.wait(self.interval)


def moved_at(samples, timeline_before):
    """Answer time of the first probe served by a primary on a higher timeline, or None."""
    hits = [answered for _started, answered, in_recovery, timeline in samples
            if in_recovery is False and timeline is not None and timeline > timeline_before]
    return min(hits) if hits else None


def analyse(samples, leader_samples, fault_at, timeline_before, old_leader=None):
    """Seconds since the fault for each step, from the probes' and the leader watch's samples."""
    samples = sorted(s for s in samples if s[0] >= fault_at)
    moved = moved_at(samples, timeline_before)
    before_move = [s for s in samples if moved is None or s[1] < moved]
    old_answers = [s[1] for s in before_move if s[2] is False and s[3] == timeline_before]
    last_old = max(old_answers) if old_answers else None
    replica = [s[1] for s in samples if s[2] is True]
    failed = [s for s in samples if s[2] is None]
    new_leader = next((at for at, name in sorted(leader_samples)
                       if at >= fault_at and name and name != old_leader), None)

    def since(at):
        return None if at is None else round(at - fault_at, 2)

    gap_from = last_old if last_old is not None else fault_at
    return {
        "vip_moved_s": since(moved),
        "old_primary_last_answer_s": since(last_old),
        "vip_gap_s": None if moved is None else round(moved - gap_from, 2),
        "new_leader_s": since(new_leader),
        "vip_after_leader_s": None if moved is None or new_leader is None else round(moved - new_leader, 2),
        "replica_answers": len(replica),
        "replica_answer_window_s": [since(min(replica)), since(max(replica))] if replica else None,
        "failed_probes": len(failed),
        "probes": len(samples),
    }


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vip", required=True, help="the VIP (an address, no prefix)")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="dbadmin")
    p.add_argument("--dbname", default="postgres")
    p.add_argument("--confirm-cluster", required=True,
                   help="cluster the VIP must lead to (PostgreSQL's cluster_name, Patroni's scope)")
    p.add_argument("--fault", help="command that causes the move (without it: one probe, printed)")
    p.add_argument("--patroni", action="append", default=[], metavar="URL",
                   help="a member's REST API, to note when Patroni names the new leader (repeat)")
    p.add_argument("--patroni-ca", metavar="FILE", default=os.environ.get("PGHA_PATRONI_CA"),
                   help="CA certificate of the REST API (the deployment's .pki/ca.crt); "
                        "default $PGHA_PATRONI_CA, else the system's CAs")
    p.add_argument("--probes", type=int, default=4, help="parallel probe connections")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between two probes of one prober")
    p.add_argument("--timeout", type=float, default=120.0, help="give up when the VIP has not moved by then")
    p.add_argument("--secrets-from", metavar="FILE",
                   help='JSON object {"PGPASSWORD": ...} to use instead of the environment; '
                        "- reads standard input")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.probes < 1 or args.interval <= 0 or args.timeout <= 0:
        raise SystemExit("--probes must be >= 1, --interval and --timeout > 0")
    if args.secrets_from:
        load_secrets(args.secrets_from)
    # The password comes from PGPASSWORD (libpq), never from the command line.
    conninfo = psycopg.conninfo.make_conninfo(host=args.vip, port=args.port, user=args.user,
                                              dbname=args.dbname)
    try:
        in_recovery, cluster, timeline = probe_once(conninfo)
    except psycopg.Error as exc:
        print(f"the VIP {args.vip}:{args.port} does not answer: {exc}".strip(), file=sys.stderr)
        return 2
    if cluster != args.confirm_cluster:
        print(f"refusing to run: the VIP leads to cluster {cluster!r}, not {args.confirm_cluster!r}",
              file=sys.stderr)
        return 2
    before = {"vip": args.vip, "cluster": cluster, "in_recovery": in_recovery, "timeline": timeline}
    if in_recovery:
        print(json.dumps(before))
        print("the VIP leads to a server in recovery, not to the primary", file=sys.stderr)
        return 2
    if not args.fault:
        print(json.dumps(before))
        return 0

    stop = threading.Event()
    samples, leader_samples = [], []
    watch = LeaderWatch(args.patroni, stop, leader_samples, cafile=args.patroni_ca) if args.patroni else None
    if watch:
        watch.start()
        time.sleep(0.5)
    old_leader = next((name for _at, name in leader_samples if name), None)
    probers = [Prober(conninfo, stop, samples, args.interval, args.interval * i / args.probes)
               for i in range(args.probes)]
    fault_at = time.time()
    fault = subprocess.Popen(shlex.split(args.fault), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    for prober in probers:
        prober.start()
    deadline = fault_at + args.timeout
    finished = []
    waiter = threading.Thread(target=lambda: finished.append((fault.communicate()[1], time.time())),
                              daemon=True)
    waiter.start()
    while time.time() < deadline and moved_at(list(samples), timeline) is None:
        if finished and fault.returncode:
            break  # the fault command failed: nothing will move
        time.sleep(0.1)
    # Keep probing a moment after the move: a replica answering through the VIP then would count.
    stop.wait(1.0)
    stop.set()
    waiter.join(max(1.0, deadline - time.time()))
    if not finished:
        fault.kill()
        waiter.join()
    err, fault_end = finished[0]
    fault_s = round(fault_end - fault_at, 2)
    result = dict(before, timeline_before=timeline, fault=args.fault, fault_rc=fault.returncode,
                  fault_done_s=fault_s, old_leader=old_leader,
                  new_leader=next((n for _at, n in reversed(leader_samples) if n), None),
                  **analyse(list(samples), list(leader_samples), fault_at, timeline, old_leader))
    result.pop("timeline")
    if fault.returncode:
        err = err or ""
        if os.environ.get("PGPASSWORD"):  # the result is printed and kept: no password in it
            err = err.replace(os.environ["PGPASSWORD"], "********")
        result["fault_stderr"] = err[-2000:]
    print(json.dumps(result))
    return 0 if result["vip_moved_s"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
