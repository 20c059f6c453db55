#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure what a fault costs the clients of a cluster: write and read outage, lost commits.

    pgha_drill.py --confirm-cluster pg-test --fault-kind crash \
                  --dsn postgres://dbadmin@10.210.0.12:5433/postgres \
                  --dsn postgres://dbadmin@10.210.0.13:5433/postgres --out results/

Writers commit uniquely numbered rows through the given entry points (round
robin on reconnect) and record every acknowledgement with the server that gave
it. After a steady phase one fault is injected: either a shell command
(--fault) or a built-in fault kind (--fault-kind) aimed at the leader that
Patroni's REST API names at that moment, on a Docker-based test bed. Writing
goes on until commits succeed again and a settle period has passed; the
cluster is then restored (container started, network healed, services
started) and the acknowledged ids are compared with what the primary holds.

Readers (--readers, default 2) run a cheap query in a loop through the
replica service (--read-port 5434 on the same hosts, or --read-dsn) and record
each success with the server that answered and whether it was in recovery:
the read outage is the longest stretch without a successful read after the
fault, and the reads are split into those a replica served and those a
primary served (HAProxy's fallback when no replica passes its check).

A commit is counted as acknowledged only when COMMIT returned without a
warning: PostgreSQL turns a cancelled synchronous-replication wait into a
WARNING plus success, while the commit exists only locally and can be lost.
For the same reason the writers never set statement_timeout.

Fault kinds (the target is the current leader's container, named by
--container-pattern):
  crash             docker kill; restored with docker start
  postmaster-kill   SIGKILL to the postmaster; Patroni restarts or fails over
  patroni-stop      systemctl stop patroni (a clean hand-over); started again
  partition         blackhole routes to every peer and etcd member inside the
                    leader's container, its own address kept; a writer inside
                    that container goes on writing through its local HAProxy
  switchover        POST /switchover to the leader's REST API
  etcd-member-loss  etcd stopped on the leader's node for --hold seconds
  etcd-quorum-loss  etcd stopped on a majority of nodes for --hold seconds

With --handoff DIR the drill touches no container: it writes DIR/inject.json
(the leader it chose, its address and data directory) and waits for
DIR/inject.done.json from an outside agent that injected the fault (with the
host's clock reading in "fault_at"), then the same with restore.json for
faults that must be undone. playbooks/drill.yml is that agent on real hosts.

JSON goes to stdout (and --json); --out DIR also writes <label>.json, a
Markdown summary <label>.md and a timeline picture <label>.svg.

Secrets stay off command lines (`ps` shows them to every user): the database
password comes from PGPASSWORD (or libpq's password file) for every DSN
without one, Patroni's basic auth for a switchover from
PGHA_PATRONI_AUTH=user:password. --secrets-from FILE ("-": standard input)
reads both from a JSON object instead, for callers such as Ansible, whose
`environment:` keyword puts VAR=value on a shell's command line. DSNs in the
results and messages have their password removed.
"""

import argparse
import base64
import itertools
import json
import os
import re
import shlex
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
from psycopg import sql

TABLE = sql.Identifier("pgha_drill")
# The drill writes into a database of its own, created and dropped by itself.
DATABASE_NAME = "pgha_drill"
DATABASE = sql.Identifier(DATABASE_NAME)

# The only variables --secrets-from may set.
SECRET_VARIABLES = ("PGPASSWORD", "PGHA_PATRONI_AUTH")
FAULT_KINDS = ("crash", "postmaster-kill", "patroni-stop", "partition", "switchover",
               "etcd-member-loss", "etcd-quorum-loss")
# Faults after which another member must lead; for the others the same
# server may come back (Patroni restarts a crashed postmaster in place).
LEADER_CHANGE_KINDS = ("crash", "partition", "switchover", "patroni-stop")
# Faults that are held for --hold seconds and healed before recovery is awaited.
HELD_KINDS = ("etcd-member-loss", "etcd-quorum-loss")
# Faults an outside agent (--handoff) is asked to undo; Patroni heals the others itself.
UNDONE_KINDS = ("crash", "patroni-stop", "partition", "etcd-member-loss", "etcd-quorum-loss")
# A fault time reported by the agent (the faulty host's clock) is trusted only
# between the request and its answer, give or take this many seconds.
CLOCK_SLACK_S = 5.0
# Ids written on the isolated side start here, far from the outside writers'.
INSIDE_ID_BASE = 1_000_000_000
BUCKET_S = 0.1

# Runs inside the leader's container (Debian's python3-psycopg2 is on every
# node): commits numbered rows and prints one line per outcome; exits when its
# stdin closes, so the drill stops it by closing the pipe.
INSIDE_WRITER = r"""
import os, sys, threading, time
import psycopg2
dsn, rid = sys.argv[1], int(sys.argv[2])
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
conn = None
while True:
    try:
        if conn is None:
            conn = psycopg2.connect(dsn, connect_timeout=2)
        started = time.time()
        cur = conn.cursor()
        cur.execute("INSERT INTO pgha_drill (id, writer) VALUES (%s, -1) "
                    "RETURNING inet_server_addr()::text", (rid,))
        server = cur.fetchone()[0]
        del conn.notices[:]
        conn.commit()
        kind = "warned" if conn.notices else "ack"
        print(kind, rid, started, time.time(), server, flush=True)
        rid += 1
    except psycopg2.Error:
        print("error", 0, time.time(), time.time(), "-", flush=True)
        try:
            conn.close()
        except Exception:
            pass
        conn = None
        time.sleep(0.1)
"""


def log(msg):
    print(f"[drill {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- writers

class Writer(threading.Thread):
    """One client: connect through the entry points, commit numbered rows.

    Log entries: (kind, id, started, acked, server, writer) with kind ack,
    warned or error.
    """

    def __init__(self, wid, dsns, ids, stop, log):
        super().__init__(daemon=True)
        self.wid, self.dsns, self.ids, self.stop, self.log = wid, dsns, ids, stop, log
        self.warned = []

    def _connect(self, dsn):
        conn = psycopg.connect(dsn, connect_timeout=2, autocommit=False)
        conn.add_notice_handler(lambda diag: self.warned.append(diag.message_primary))
        return conn

    def run(self):
        conn = None
        entries = itertools.cycle(self.dsns)
        while not self.stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self._connect(next(entries))
                rid = next(self.ids)
                started = time.time()
                self.warned.clear()
                with conn.cursor() as cur:
                    cur.execute(sql.SQL("INSERT INTO {} (id, writer) VALUES (%s, %s) "
                                        "RETURNING inet_server_addr()::text").format(TABLE), (rid, self.wid))
                    server = cur.fetchone()[0]
                conn.commit()
                acked = time.time()
                if self.warned:  # success with a warning is not a durable commit
                    self.log.append(("warned", rid, started, acked, server, self.wid))
                else:
                    self.log.append(("ack", rid, started, acked, server, self.wid))
            except psycopg.Error:
                self.log.append(("error", None, time.time(), time.time(), None, self.wid))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
        if conn is not None:
            conn.close()


class Reader(threading.Thread):
    """One read client on the replica service: a cheap query every `interval` seconds.

    It keeps its connection, as a pooled client would, and moves to the next
    read entry point only when the connection breaks. Log entries:
    (kind, started, finished, server, in_recovery, reader) with kind ok or error.
    """

    def __init__(self, rid, dsns, stop, log, interval=0.05):
        super().__init__(daemon=True)
        self.rid, self.dsns, self.stop, self.log, self.interval = rid, dsns, stop, log, interval

    def run(self):
        conn = None
        entries = itertools.cycle(self.dsns)
        while not self.stop.is_set():
            started = time.time()
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(next(entries), connect_timeout=2, autocommit=True)
                server, in_recovery = conn.execute(
                    "SELECT inet_server_addr()::text, pg_is_in_recovery()").fetchone()
                self.log.append(("ok", started, time.time(), server, in_recovery, self.rid))
            except psycopg.Error:
                self.log.append(("error", started, time.time(), None, None, self.rid))
                if conn is not None:
                    conn.close()
                conn = None
                self.stop.wait(0.1)
                continue
            self.stop.wait(self.interval)
        if conn is not None:
            conn.close()


class InsideWriter:
    """A writer inside a container, through that node's own HAProxy (see INSIDE_WRITER)."""

    def __init__(self, container, dsn, password, start_id, log):
        self.log = log
        argv, env = inside_writer_command(container, dsn, password, start_id)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            parsed = parse_inside_line(line)
            if parsed:
                self.log.append(parsed)

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.thread.join(5)


def inside_writer_command(container, dsn, password, start_id, environ=None):
    """The docker command that starts the inside writer, and its environment: (argv, env).

    The password goes into the docker client's environment and on from there
    (`-e PGPASSWORD` without a value): on the command line, `ps` would show
    it on this machine. The DSN goes without one for the same reason.
    """
    env = dict(os.environ if environ is None else environ)
    pass_on = []
    if password:
        env["PGPASSWORD"] = password
        pass_on = ["-e", "PGPASSWORD"]
    return (["docker", "exec", "-i", *pass_on, container, "python3", "-c", INSIDE_WRITER, safe_dsn(dsn),
             str(start_id)], env)


def parse_inside_line(line):
    """One line of the inside writer -> a log entry (writer -1), or None if garbled."""
    parts = line.split()
    if len(parts) != 5 or parts[0] not in ("ack", "warned", "error"):
        return None
    try:
        rid = int(parts[1]) if parts[0] != "error" else None
        return (parts[0], rid, float(parts[2]), float(parts[3]),
                None if parts[4] == "-" else parts[4], -1)
    except ValueError:
        return None


# ---------------------------------------------------------------- Patroni REST and probes

# TLS for https Patroni URLs: the deployment's CA (--patroni-ca), else the system's.
PATRONI_TLS = {"context": None}


def use_patroni_ca(cafile):
    PATRONI_TLS["context"] = ssl.create_default_context(cafile=cafile) if cafile else None


def rest_get(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout, context=PATRONI_TLS["context"]) as resp:
        return json.loads(resp.read())


def rest_json(url, timeout=1.0):
    """GET a Patroni endpoint; 503 answers (replica on /primary, ...) still carry JSON."""
    try:
        return rest_get(url, timeout)
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def cluster_view(api_urls):
    """GET /cluster from the first member that answers."""
    for url in api_urls:
        view = rest_json(url.rstrip("/") + "/cluster", timeout=2)
        if view and "members" in view:
            return view
    return None


def leader_of(view):
    return next((m for m in (view or {}).get("members", []) if m.get("role") == "leader"), None)


def want_sync_of(view):
    """Whether the cluster runs a synchronous standby (then health needs one)."""
    return any(m.get("role") == "sync_standby" for m in (view or {}).get("members", []))


def cluster_healthy(view, expected_members, want_sync):
    """A running leader; every other member back and streaming on its timeline; a sync standby if wanted.

    "running" is not enough for a replica: an old primary demoted in place
    answers "running" on its old timeline until Patroni notices the
    divergence and stops it for pg_rewind, and a drill started then finds a
    member missing (or breaks the rewind by moving the leader).
    """
    members = (view or {}).get("members", [])
    leader = leader_of(view)
    if not leader or leader.get("state") != "running" or len(members) < expected_members:
        return False
    for m in members:
        if m is leader:
            continue
        if m.get("state") != "streaming":
            return False
        if leader.get("timeline") is not None and m.get("timeline") != leader.get("timeline"):
            return False
    return not want_sync or any(m.get("role") == "sync_standby" for m in members)


class RestPoller(threading.Thread):
    """Asks one member's /patroni what it thinks it is, every `interval` seconds.

    One thread per member, so that a dead member's timeouts do not slow the
    others' sampling. Samples: (t, member name, role, state, timeline); role
    None when the member did not answer.
    """

    def __init__(self, member, stop, samples, interval=0.2):
        super().__init__(daemon=True)
        self.member, self.stop, self.samples, self.interval = member, stop, samples, interval

    def run(self):
        url = self.member["api_url"].rsplit("/", 1)[0] + "/patroni"
        while not self.stop.is_set():
            at = time.time()
            body = rest_json(url, timeout=0.5)
            self.samples.append((at, self.member["name"], *((body.get("role"), body.get("state"),
                                 body.get("timeline")) if body else (None, None, None))))
            self.stop.wait(self.interval)


class EntryProbe(threading.Thread):
    """Opens a fresh connection through one entry point: set-up time and where it lands.

    Samples: (t, entry index, connect seconds or None, server, in_recovery).
    """

    def __init__(self, index, dsn, stop, samples, interval=0.25):
        super().__init__(daemon=True)
        self.index, self.dsn, self.stop, self.samples, self.interval = index, dsn, stop, samples, interval

    def run(self):
        while not self.stop.is_set():
            at = time.time()
            try:
                with psycopg.connect(self.dsn, connect_timeout=2, autocommit=True) as conn:
                    took = time.time() - at
                    server, rec = conn.execute(
                        "SELECT inet_server_addr()::text, pg_is_in_recovery()").fetchone()
                self.samples.append((at, self.index, took, server, rec))
            except psycopg.Error:
                self.samples.append((at, self.index, None, None, None))
            self.stop.wait(self.interval)


# ---------------------------------------------------------------- analysis (pure)

def _writer(entry):
    return entry[5] if len(entry) > 5 else 0


def _host(addr):
    return addr.split("/")[0] if addr else addr


def analyse(log, fault_at, new_server=True):
    """Write outage and recovery from the writers' log.

    new_server=True: recovery is the first commit acknowledged after the fault
    by a server other than the old primary. new_server=False (the same server
    may recover): the first acknowledgement a writer got after it had itself
    failed after the fault; no failure at all means the writes were never
    interrupted, and the outage is then the longest silence after the fault.
    The outage is the longest silence between consecutive acknowledgements
    from the last one before the fault up to recovery.
    """
    acks = sorted((e for e in log if e[0] == "ack"), key=lambda e: e[3])
    before = [e for e in acks if e[3] <= fault_at]
    old_servers = {e[4] for e in before[-20:]}
    if new_server:
        recovered = next((e for e in acks if e[3] > fault_at and e[4] not in old_servers), None)
    else:
        first_error = {}
        for e in sorted(log, key=lambda e: e[2]):
            if e[0] == "error" and e[2] > fault_at:
                first_error.setdefault(_writer(e), e[2])
        recovered = min((e for e in acks if _writer(e) in first_error and e[2] > first_error[_writer(e)]),
                        key=lambda e: e[3], default=None)
    start = before[-1][3] if before else fault_at
    if recovered is not None:
        end = recovered[3]
    elif not new_server and acks and not any(e[0] == "error" and e[2] > fault_at for e in log):
        end = acks[-1][3]  # never interrupted: the longest silence is the figure
    else:
        end = None
    result = {
        "acknowledged": len(acks),
        "warned_commits": sum(1 for e in log if e[0] == "warned"),
        "errors": sum(1 for e in log if e[0] == "error"),
        "interrupted": recovered is not None or end is None,
        "first_ack_after_fault": recovered[3] if recovered else None,
        "old_primaries": sorted(old_servers),
        "new_primary": recovered[4] if recovered else None,
        "last_ack_before_recovery": None,
        "write_outage_s": None,
    }
    if end is not None:
        times = [start] + [e[3] for e in acks if start < e[3] <= end]
        gaps = [(b - a, a) for a, b in zip(times, times[1:])] or [(0.0, start)]
        gap, gap_start = max(gaps)
        result["write_outage_s"] = round(gap, 3)
        result["last_ack_before_recovery"] = gap_start
    return result


def analyse_reads(log, fault_at, ended_at):
    """Read outage and who served the reads, from the readers' log (see Reader).

    The outage is the longest stretch without a successful read, from the last
    one before the fault to the moment the readers stopped (`ended_at`), so a
    read service that never came back shows the whole stretch with `resumed`
    False. Reads count as served by a replica when the server was in recovery;
    the others came from a primary: HAProxy's fallback when no replica passed
    its check, or a replica promoted under an open connection.
    """
    oks = sorted((e for e in log if e[0] == "ok"), key=lambda e: e[2])
    if not oks:
        return {"ok": 0, "errors": sum(1 for e in log if e[0] == "error"), "outage_s": None,
                "outage_from_s": None, "resumed": False, "before": {"replica": 0, "primary": 0},
                "after": {"replica": 0, "primary": 0}, "primary_after_s": None, "by_server": {}}
    before = [e for e in oks if e[2] <= fault_at]
    after = [e for e in oks if e[2] > fault_at]
    start = before[-1][2] if before else fault_at
    times = [start] + [e[2] for e in after] + [max(ended_at, start)]
    gap, gap_start = max((b - a, a) for a, b in zip(times, times[1:]))

    def roles(entries):
        replica = sum(1 for e in entries if e[4])
        return {"replica": replica, "primary": len(entries) - replica}

    by_server = {}
    for e in oks:
        by_server.setdefault(e[3], {"replica": 0, "primary": 0})["replica" if e[4] else "primary"] += 1
    on_primary = [e[2] for e in after if not e[4]]
    return {
        "ok": len(oks),
        "errors": sum(1 for e in log if e[0] == "error"),
        "outage_s": round(gap, 3),
        "outage_from_s": round(gap_start - fault_at, 3),
        "resumed": bool(after),
        "before": roles(before),
        "after": roles(after),
        # first and last read after the fault that a primary answered
        "primary_after_s": ([round(on_primary[0] - fault_at, 3), round(on_primary[-1] - fault_at, 3)]
                            if on_primary else None),
        "by_server": by_server,
    }


def server_intervals(log):
    """server -> [first ack, last ack] over every acknowledged commit."""
    spans = {}
    for e in log:
        if e[0] == "ack" and e[4]:
            first, last = spans.get(e[4], (e[3], e[3]))
            spans[e[4]] = (min(first, e[3]), max(last, e[3]))
    return spans


def overlaps(spans):
    """Pairs of servers whose acknowledgement spans overlap: [(a, b, seconds)], longest first.

    Two servers acknowledging writes in the same stretch of time means two
    writable primaries; a clean hand-over leaves the spans disjoint.
    """
    out = []
    names = sorted(spans)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            lo = max(spans[a][0], spans[b][0])
            hi = min(spans[a][1], spans[b][1])
            if hi > lo:
                out.append((a, b, round(hi - lo, 3)))
    return sorted(out, key=lambda o: -o[2])


def primary_runs(samples):
    """From RestPoller samples: member -> [(first, last), ...] stretches it answered as a running primary.

    A stretch ends at the member's next sample that is anything else (another
    role or state, or no answer), so a member that was primary before the
    fault and is primary again later has two stretches, not one span covering
    the time in between.
    """
    runs, current = {}, {}
    for at, name, role, state, _tl in sorted(samples):
        if role in ("primary", "master") and state == "running":
            first, _last = current.get(name, (at, at))
            current[name] = (first, at)
        elif name in current:
            runs.setdefault(name, []).append(current.pop(name))
    for name, span in current.items():
        runs.setdefault(name, []).append(span)
    return runs


def run_overlaps(runs):
    """Pairs of members whose primary stretches overlap: [(a, b, seconds)], longest first."""
    out = []
    names = sorted(runs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            total = sum(max(0.0, min(a_hi, b_hi) - max(a_lo, b_lo))
                        for a_lo, a_hi in runs[a] for b_lo, b_hi in runs[b])
            if total > 0:
                out.append((a, b, round(total, 3)))
    return sorted(out, key=lambda o: -o[2])


def transitions(samples, since):
    """Each member's changes of (role, state), in seconds from `since`: [[t, name, role, state, timeline]]."""
    last, out = {}, []
    for at, name, role, state, tl in sorted(samples):
        if last.get(name) != (role, state):
            last[name] = (role, state)
            out.append([round(at - since, 2), name, role, state, tl])
    return out


def leader_change(samples, fault_at, old_leader, same_ok=False):
    """First time after the fault that a member other than the old leader says it is a running primary.

    With same_ok, the old leader counts too once it answered as anything but
    a running primary after the fault (a postmaster restarted in place). A
    poll it did not answer in time does not count: on a loaded machine that
    happens to a healthy leader too.
    """
    seen_down = False
    for at, name, role, state, _tl in sorted(samples):
        if at <= fault_at:
            continue
        running_primary = role in ("primary", "master") and state == "running"
        if name == old_leader and role is not None and not running_primary:
            seen_down = True
        if running_primary and (name != old_leader or (same_ok and seen_down)):
            return at, name
    return None, None


def routed_at(probe_samples, fault_at, server, n_entries):
    """Per entry point: first probe after the fault that landed on `server` as a primary.

    When the entry point failed after the fault, only probes after its first
    failure count: a server that recovers in place answered before it broke too.
    """
    out = []
    for i in range(n_entries):
        mine = [s for s in sorted(probe_samples) if s[1] == i and s[0] > fault_at]
        failed = next((s[0] for s in mine if s[2] is None), fault_at)
        hit = next((at for at, _idx, took, srv, rec in mine if at > failed and took is not None
                    and _host(srv) == _host(server) and rec is False), None)
        out.append(hit)
    return out


def connect_times(probe_samples, lo, hi):
    """Median and max set-up time (s) of successful probe connections in [lo, hi)."""
    took = [s[2] for s in probe_samples if lo <= s[0] < hi and s[2] is not None]
    if not took:
        return None
    return {"median_ms": round(statistics.median(took) * 1000, 1), "max_ms": round(max(took) * 1000, 1),
            "n": len(took)}


def buckets(times, t0, t1, width=BUCKET_S):
    """Counts of `times` per `width` seconds from t0 to t1."""
    n = max(1, int(round((t1 - t0) / width, 6)) + 1)  # round: 1.4 / 0.1 is 13.999...
    counts = [0] * n
    for t in times:
        if t0 <= t <= t1:
            counts[min(n - 1, int((t - t0) / width))] += 1
    return counts


# ---------------------------------------------------------------- pictures and summary (pure)

def _esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timeline_svg(series, marks, t0, title, width=900, height=320, bucket=BUCKET_S, lane_titles=None):
    """An SVG bar chart of counts per bucket with vertical event marks.

    series: [(label, colour, counts)] or [(label, colour, counts, lane)],
    counts per bucket from t0. Lanes (0, 1, ...) are drawn one above the
    other, each with its own scale (commits and reads differ tenfold);
    lane_titles name their y axes. marks: [(label, seconds from t0, colour)],
    drawn across every lane.
    """
    lanes = sorted({s[3] if len(s) > 3 else 0 for s in series}) or [0]
    titles = list(lane_titles or []) + [f"commits per {int(bucket * 1000)} ms"] * len(lanes)
    lane_gap = 14
    left, right, top, bottom = 55, 15, 40, 45
    height += (len(lanes) - 1) * 150
    plot_w, plot_h = width - left - right, height - top - bottom
    lane_h = (plot_h - lane_gap * (len(lanes) - 1)) / len(lanes)
    n = max((len(s[2]) for s in series), default=1) or 1
    span = n * bucket

    def x_of(s):  # the local time scale
        return left + plot_w * (s / span)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="13" font-weight="bold">{_esc(title)}</text>']
    bar_w = plot_w / n
    for li, lane in enumerate(lanes):
        mine = [s for s in series if (s[3] if len(s) > 3 else 0) == lane]
        peak = max((max(s[2]) for s in mine if s[2]), default=0) or 1
        y0 = top + li * (lane_h + lane_gap)  # top of this lane
        base = y0 + lane_h
        out += [f'<line x1="{left}" y1="{base:.1f}" x2="{left + plot_w}" y2="{base:.1f}" stroke="#333"/>',
                f'<line x1="{left}" y1="{y0:.1f}" x2="{left}" y2="{base:.1f}" stroke="#333"/>',
                f'<text x="{left - 6}" y="{y0 + 4:.1f}" text-anchor="end">{peak}</text>',
                f'<text x="{left - 6}" y="{base:.1f}" text-anchor="end">0</text>',
                f'<text transform="translate(14 {y0 + lane_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
                f'{_esc(titles[li])}</text>']
        for k, (label, colour, counts, *_lane) in enumerate(mine):
            for i, c in enumerate(counts):
                if c:
                    h = lane_h * c / peak
                    out.append(f'<rect x="{left + i * bar_w:.2f}" y="{base - h:.2f}" '
                               f'width="{max(bar_w, 0.6):.2f}" height="{h:.2f}" fill="{colour}" '
                               'fill-opacity="0.8"/>')
            out.append(f'<rect x="{left + plot_w - 190}" y="{y0 + 4 + 14 * k:.1f}" width="10" height="10" '
                       f'fill="{colour}"/>')
            out.append(f'<text x="{left + plot_w - 175}" y="{y0 + 13 + 14 * k:.1f}">{_esc(label)}</text>')
    bottom_y = top + plot_h
    step = 5 if span <= 60 else 10 if span <= 150 else 30
    for s in range(0, int(span) + 1, step):
        x = x_of(s)
        out.append(f'<line x1="{x:.1f}" y1="{bottom_y}" x2="{x:.1f}" y2="{bottom_y + 4}" '
                   'stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom_y + 16}" text-anchor="middle">{s + t0:g}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">'
               f's from the fault</text>')
    for k, (label, at, colour) in enumerate(marks):
        if at is None:
            continue
        x = x_of(at - t0)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom_y}" stroke="{colour}" '
                   f'stroke-width="1.5" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x + 3:.1f}" y="{top + 10 + 12 * (k % 4)}" fill="{colour}">'
                   f'{_esc(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown_summary(result):
    """A short Markdown report of one drill."""
    def fmt(v, unit=""):
        return "—" if v is None else f"{v}{unit}"
    conn_b, conn_a = result.get("connect_before") or {}, result.get("connect_after") or {}
    rows = [
        ("fault", f"`{result.get('fault_kind') or result.get('fault')}`"),
        ("write outage", fmt(result.get("write_outage_s"), " s")),
        ("time to new leader", fmt(result.get("new_leader_after_s"), " s")),
        ("entry points route to it",
         ", ".join(fmt(v, " s") for v in result.get("routed_after_s") or []) or "—"),
        ("connection set-up before / after", f"{fmt(conn_b.get('median_ms'), ' ms')} / "
                                             f"{fmt(conn_a.get('median_ms'), ' ms')} (median)"),
        ("acknowledged commits", fmt(result.get("acknowledged"))),
        ("acknowledged on the isolated side after the fault", fmt(result.get("inside_acks_after_fault"))),
        ("commits that returned with a WARNING (not counted)", fmt(result.get("warned_commits"))),
        ("acknowledged commits lost", fmt(result.get("lost"))),
        ("servers acknowledging in overlapping time", fmt(result.get("overlap_pairs") or "none")),
        ("members saying 'primary' at overlapping times", fmt(result.get("rest_primary_overlaps") or "none")),
        ("old → new primary",
         f"{', '.join(result.get('old_primaries') or [])} → {fmt(result.get('new_primary'))}"),
        ("restored and healthy after", fmt(result.get("restored_after_s"), " s")),
    ]
    rows[2:2] = read_rows(result.get("reads"))
    lines = [f"### {result.get('label', 'drill')}", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def read_rows(reads):
    """Markdown rows for the read probe (none when it did not run)."""
    if not reads:
        return []
    outage = "—" if reads.get("outage_s") is None else f"{reads['outage_s']} s"
    if reads.get("outage_s") is not None and not reads.get("resumed"):
        outage = f"≥ {outage} (no read succeeded after the fault)"
    before, after = reads.get("before") or {}, reads.get("after") or {}
    span = reads.get("primary_after_s")
    return [
        ("read outage (replica service)", outage),
        ("reads served by a replica / by a primary, before the fault",
         f"{before.get('replica', 0)} / {before.get('primary', 0)}"),
        ("reads served by a replica / by a primary, after the fault",
         f"{after.get('replica', 0)} / {after.get('primary', 0)}"
         + (f" (primary from {span[0]} s to {span[1]} s)" if span else "")),
        ("failed reads", str(reads.get("errors", 0))),
    ]


# ---------------------------------------------------------------- faults on a Docker test bed

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


def switchover(leader, auth):
    """POST /switchover to the leader's REST API; Patroni picks the candidate."""
    body = json.dumps({"leader": leader["name"]}).encode()
    url = leader["api_url"].rsplit("/", 1)[0] + "/switchover"
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=60, context=PATRONI_TLS["context"]) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# ---------------------------------------------------------------- the drill

def default_api_urls(dsns, port):
    hosts = []
    for d in dsns:
        host = psycopg.conninfo.conninfo_to_dict(d).get("host")
        if host and host not in hosts:
            hosts.append(host)
    return [f"https://[{h}]:{port}" if ":" in h else f"https://{h}:{port}" for h in hosts]


def build_parser():
    p = argparse.ArgumentParser(
        prog="pgha_drill.py", description=__doc__.split("\n\n", maxsplit=1)[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsn", action="append", required=True,
                   help="entry point the writers go through (repeat), without a password: that comes "
                        "from PGPASSWORD or --secrets-from")
    fault = p.add_mutually_exclusive_group(required=True)
    fault.add_argument("--fault", help="shell command that injects the fault (nothing is restored)")
    fault.add_argument("--fault-kind", choices=FAULT_KINDS,
                       help="built-in fault on a Docker test bed (with --handoff: on any host)")
    p.add_argument("--confirm-cluster", required=True,
                   help="name of the cluster the entry points lead to; checked against Patroni's scope")
    p.add_argument("--patroni", action="append", metavar="URL",
                   help="Patroni REST URL (repeat); default: port --patroni-port on every --dsn host")
    p.add_argument("--patroni-port", type=int, default=8008)
    p.add_argument("--patroni-ca", metavar="FILE", default=os.environ.get("PGHA_PATRONI_CA"),
                   help="CA certificate that signed the REST API's certificates (the deployment's "
                        ".pki/ca.crt); default $PGHA_PATRONI_CA, else the system's CAs")
    # No option for Patroni's basic auth: on the command line it would show in `ps`.
    p.add_argument("--secrets-from", metavar="FILE",
                   help="JSON object with PGPASSWORD and/or PGHA_PATRONI_AUTH (user:password, for a "
                        "switchover) to use instead of the environment; - reads standard input")
    p.add_argument("--container-pattern", default="pgha-sandbox-{seq}",
                   help="container of a member, from {name}, {host}, {seq} (default: %(default)s)")
    p.add_argument("--peer", action="append", default=[], metavar="ADDR",
                   help="extra address to cut in a partition (default: every member's address)")
    p.add_argument("--inside-port", type=int, default=5433,
                   help="HAProxy port the isolated-side writer uses on 127.0.0.1 (default %(default)s)")
    p.add_argument("--no-inside-writer", action="store_true",
                   help="no writer inside the partitioned container")
    p.add_argument("--hold", type=float, default=30.0, help="seconds an etcd fault is held before healing")
    p.add_argument("--handoff", metavar="DIR",
                   help="with --fault-kind: do not touch any container; ask an outside agent to inject "
                        "and undo the fault through files in DIR (how playbooks/drill.yml runs a drill "
                        "on real hosts)")
    p.add_argument("--handoff-timeout", type=float, default=300.0,
                   help="seconds to wait for the agent's answer to each request (default %(default)s)")
    p.add_argument("--readers", type=int, default=2,
                   help="read clients on the replica service, 0 for none (default %(default)s)")
    p.add_argument("--read-dsn", action="append", metavar="DSN",
                   help="replica-service entry point the readers use (repeat); default: every --dsn "
                        "host on --read-port")
    p.add_argument("--read-port", type=int, default=5434,
                   help="port of the replica service on the --dsn hosts (default %(default)s)")
    p.add_argument("--read-interval", type=float, default=0.05,
                   help="pause between one reader's queries, in seconds (default %(default)s)")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--steady", type=float, default=5.0, help="seconds of writes before the fault")
    p.add_argument("--settle", type=float, default=3.0, help="seconds of writes after recovery")
    p.add_argument("--timeout", type=float, default=120.0, help="give up waiting for recovery after this")
    p.add_argument("--healthy-timeout", type=float, default=240.0,
                   help="seconds to wait for the cluster to be whole again after a restore")
    p.add_argument("--keep-table", action="store_true", help="keep the drill database for inspection")
    p.add_argument("--label", help="name of this drill in the outputs (default: the fault kind)")
    p.add_argument("--json", help="write the result here as well")
    p.add_argument("--out", help="directory for <label>.json, <label>.md and <label>.svg")
    return p


def parse_args(argv=None):
    """The parsed arguments, with the checks argparse cannot express."""
    p = build_parser()
    args = p.parse_args(argv)
    if args.handoff and not args.fault_kind:
        p.error("--handoff needs --fault-kind, the fault the outside agent is asked to inject")
    if args.handoff and args.fault_kind == "switchover":
        p.error("--handoff is for faults on a host; for a switchover the drill calls Patroni's REST API "
                "itself: leave --handoff out")
    if args.readers < 0:
        p.error("--readers must be 0 (no read probe) or more")
    if args.read_interval <= 0:
        p.error("--read-interval must be a positive number of seconds")
    return args


def read_dsns(dsns, port):
    """The replica service beside each write entry point: the same host and login on `port`, once each."""
    out = []
    for d in dsns:
        entry = psycopg.conninfo.make_conninfo(d, port=str(port))
        if entry not in out:
            out.append(entry)
    return out


def load_secrets(source, environ=None, stdin=None, allowed=None):
    """Put the secrets of a JSON object (--secrets-from: a file, or - for stdin) into the environment.

    Only the names in `allowed` (SECRET_VARIABLES) are taken; the values
    never appear in a message.
    """
    environ = os.environ if environ is None else environ
    allowed = SECRET_VARIABLES if allowed is None else allowed
    try:
        text = (stdin or sys.stdin).read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise SystemExit(f"cannot read --secrets-from {source}: {exc.strerror}") from None
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if (not isinstance(values, dict) or not values or not set(values) <= set(allowed)
            or not all(isinstance(v, str) for v in values.values())):
        raise SystemExit(f"--secrets-from {source}: expected a JSON object of strings with some of "
                         f"{', '.join(allowed)}")
    environ.update(values)


def scrub(text, environ=None):
    """`text` with the secrets of SECRET_VARIABLES masked: other programs' output goes into the results."""
    environ = os.environ if environ is None else environ
    for name in SECRET_VARIABLES:
        value = environ.get(name) or ""
        if name == "PGHA_PATRONI_AUTH":
            value = value.partition(":")[2]  # user:password; the user name is no secret
        if value:
            text = text.replace(value, "********")
    return text


def safe_dsn(dsn):
    """A DSN fit for a message: the password left out."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**info)


def _fresh_answer(dsn, query):
    """The boolean `query` returns on a fresh connection through `dsn`; False when it fails."""
    try:
        with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
            return conn.execute(query).fetchone()[0]
    except psycopg.Error:
        return False


def readable(dsn):
    """Whether a fresh connection through `dsn` answers a query."""
    return _fresh_answer(dsn, "SELECT true")


def drop_database(dsns, timeout=60):
    """Drop the drill's database through the first entry point that leads to a primary."""
    deadline = time.time() + timeout
    error = None
    while True:
        for dsn in dsns:
            try:
                with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(DATABASE))
                    return True
            except psycopg.Error as exc:
                error = exc
        if time.time() > deadline:
            log(f"could not drop the database {DATABASE_NAME} ({error}); drop it on the primary with "
                f"DROP DATABASE {DATABASE_NAME} WITH (FORCE)")
            return False
        time.sleep(1)


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


def writable(dsn):
    """Whether a fresh connection through `dsn` lands on a server that is not in recovery."""
    return _fresh_answer(dsn, "SELECT NOT pg_is_in_recovery()")


def wait_writable(dsns, timeout, check=writable):
    """Wait until every entry point leads to a writable primary (3 fresh connections in a row each)."""
    deadline = time.time() + timeout
    while True:
        if all(check(d) for d in dsns for _attempt in range(3)):
            return True
        if time.time() > deadline:
            return False
        time.sleep(1)


def wait_healthy(api_urls, expected, want_sync, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cluster_healthy(cluster_view(api_urls), expected, want_sync):
            return True
        time.sleep(1)
    return False


def main(argv=None):
    args = parse_args(argv)
    if args.secrets_from:
        load_secrets(args.secrets_from)
    if any(psycopg.conninfo.conninfo_to_dict(d).get("password") for d in args.dsn + (args.read_dsn or [])):
        log("a password in a DSN on the command line shows in `ps`: give it in PGPASSWORD instead")
    label = args.label or args.fault_kind or "custom"
    use_patroni_ca(args.patroni_ca)
    api_urls = args.patroni or default_api_urls(args.dsn, args.patroni_port)
    handoff = Handoff(args.handoff, args.handoff_timeout) if args.handoff else None

    admin_dsn = args.dsn[0]
    # Readers stay on the database of the given DSNs: they need no table.
    read_entry = (args.read_dsn or read_dsns(args.dsn, args.read_port)) if args.readers else []
    args.dsn = [psycopg.conninfo.make_conninfo(d, dbname=DATABASE_NAME) for d in args.dsn]
    with psycopg.connect(admin_dsn, connect_timeout=5, autocommit=True) as conn:
        scope = conn.execute("SELECT current_setting('cluster_name', true)").fetchone()[0]
        if scope != args.confirm_cluster:
            raise SystemExit(f"refusing to run: the entry point leads to cluster {scope!r}, "
                             f"not {args.confirm_cluster!r}")
        data_directory = conn.execute("SELECT current_setting('data_directory')").fetchone()[0]

    view = cluster_view(api_urls)
    if args.fault_kind and view:
        # A built-in fault starts from a whole cluster: an old primary may still
        # be on its way back (pg_rewind) from the previous drill.
        deadline = time.time() + args.healthy_timeout
        while not cluster_healthy(view, len(view.get("members", [])), want_sync_of(view)) \
                and time.time() < deadline:
            time.sleep(1)
            view = cluster_view(api_urls) or view
    if args.fault_kind and not view:
        raise SystemExit(f"no Patroni REST API answered at {api_urls}")
    members = (view or {}).get("members", [])
    if view and view.get("scope", args.confirm_cluster) != args.confirm_cluster:
        raise SystemExit(f"refusing to run: Patroni at {api_urls} serves {view.get('scope')!r}")
    leader = leader_of(view)
    if args.fault_kind and not leader:
        raise SystemExit("the cluster has no leader now; nothing to drill")
    want_sync = want_sync_of(view)
    expected = len(members)
    start_members = [[m.get("name"), m.get("role"), m.get("state"), m.get("timeline")] for m in members]

    # Every entry point must lead to a writable primary before the drill
    # starts: after a switchover a proxy with slow checks still sends new
    # connections to the old primary for a few seconds.
    admin_info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    entry_admin = [psycopg.conninfo.make_conninfo(d, dbname=admin_info.get("dbname") or "postgres")
                   for d in args.dsn]
    if not wait_writable(entry_admin, args.healthy_timeout):
        raise SystemExit(f"the entry points did not all lead to a writable primary within "
                         f"{args.healthy_timeout} s")
    if read_entry and not wait_writable(read_entry, args.healthy_timeout, check=readable):
        raise SystemExit(f"the read entry points ({', '.join(safe_dsn(d) for d in read_entry)}) did not "
                         f"answer within {args.healthy_timeout} s; name the replica service with "
                         "--read-dsn or --read-port, or switch the read probe off with --readers 0")
    with psycopg.connect(admin_dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(DATABASE))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(DATABASE))
    with psycopg.connect(args.dsn[0], connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, writer int, "
                             "at timestamptz DEFAULT now())").format(TABLE))

    # A crash of the node that also leads etcd costs an etcd election, and the
    # new etcd leader renews every lease, Patroni's leader key included.
    etcd_leader = (etcd_leader_of(container_for(leader, args.container_pattern))
                   if args.fault_kind and leader and not handoff else None)

    stop, probe_stop = threading.Event(), threading.Event()
    try:  # from here on, the drill database is dropped however the drill ends
        readers, rlog = [], []
        ids, wlog = itertools.count(1), []
        writers = [Writer(i, args.dsn[i % len(args.dsn):] + args.dsn[:i % len(args.dsn)], ids, stop, wlog)
                   for i in range(args.writers)]
        rest_samples, probe_samples = [], []
        watchers = ([RestPoller(m, probe_stop, rest_samples) for m in members]
                    + [EntryProbe(i, d, probe_stop, probe_samples) for i, d in enumerate(args.dsn)])
        readers = [Reader(i, read_entry[i % len(read_entry):] + read_entry[:i % len(read_entry)], stop, rlog,
                          args.read_interval) for i in range(args.readers if read_entry else 0)]
        for t in writers + readers + watchers:
            t.start()

        inside, inside_log = None, []
        plan = ([], [], [])
        if args.fault_kind and args.fault_kind != "switchover" and not handoff:
            peers = args.peer or [m["host"] for m in members if m["name"] != leader["name"]]
            plan = fault_plan(args.fault_kind, leader, members, args.container_pattern, data_directory, peers)
        if args.fault_kind == "partition" and not args.no_inside_writer and not handoff:
            info = psycopg.conninfo.conninfo_to_dict(args.dsn[0])
            inside_dsn = psycopg.conninfo.make_conninfo(host="127.0.0.1", port=args.inside_port,
                                                        dbname=DATABASE_NAME, user=info.get("user"))
            password = info.get("password") or os.environ.get("PGPASSWORD")
            inside = InsideWriter(container_for(leader, args.container_pattern), inside_dsn, password,
                                  INSIDE_ID_BASE, inside_log)

        time.sleep(args.steady)
        log(f"{label}: fault on {leader['name'] if leader else '?'}")
        fault_at = time.time()
        fault_time_source = "drill"
        if args.fault:
            res = subprocess.run(shlex.split(args.fault), capture_output=True, text=True, check=False)
            fault_rc, fault_out = res.returncode, (res.stdout + res.stderr).strip()[-500:]
        elif args.fault_kind == "switchover":
            fault_rc, fault_out = switchover(leader, os.environ.get("PGHA_PATRONI_AUTH"))
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
        fault_out = scrub(fault_out)
        injected_at = time.time()

        healed_at = None
        need_new = args.fault is not None or args.fault_kind in LEADER_CHANGE_KINDS
        if args.fault_kind in HELD_KINDS:
            time.sleep(args.hold)
            healed_at = restore(handoff, args, plan, leader) or time.time()
        deadline = fault_at + args.timeout + (args.hold if healed_at else 0)
        while time.time() < deadline:
            if analyse(wlog, fault_at, new_server=need_new)["first_ack_after_fault"] is not None:
                break
            # Faults that may not interrupt the writes at all (etcd, a fast restart):
            # once healed, or after a while with no failed commit, the figure stands.
            quiet = not any(e[0] == "error" and e[2] > fault_at for e in wlog)
            if not need_new and (healed_at or (quiet and time.time() > injected_at + 15)):
                if analyse(wlog, fault_at, new_server=False)["write_outage_s"] is not None:
                    break
            time.sleep(0.2)
        time.sleep(args.settle)
        stop.set()
        for w in writers + readers:
            w.join(10)
        if inside:
            inside.stop()
        ended_at = time.time()

        restore_started = time.time()
        if healed_at is None:
            healed_at = restore(handoff, args, plan, leader)
        healthy = (wait_healthy(api_urls, expected, want_sync, args.healthy_timeout)
                   if args.fault_kind else None)
        restored_after = round(time.time() - restore_started, 1) if args.fault_kind else None
        probe_stop.set()
        for t in watchers:
            t.join(5)

        result = analyse(wlog, fault_at, new_server=need_new)
        all_log = wlog + inside_log
        acked_ids = {e[1] for e in all_log if e[0] == "ack"}
        held = primary_rows(args.dsn)
        lost = acked_ids - held
        spans = server_intervals(all_log)
        rest_spans = primary_runs(rest_samples)
        new_at, new_name = (leader_change(rest_samples, fault_at, leader["name"], same_ok=not need_new)
                            if leader else (None, None))
        new_server = result["new_primary"]
        if new_server is None and new_name:
            new_server = next((m["host"] for m in members if m["name"] == new_name), None)
        # Where the same leader may stay (etcd faults), routing is only measured
        # after Patroni was seen restarting it: a probe that failed under load
        # is no re-route.
        routed = (routed_at(probe_samples, fault_at, new_server, len(args.dsn))
                  if new_server and (need_new or new_name) else [])
        # "after" starts once clients were routed again, or, for a fault the
        # writes rode out (etcd), once it was healed.
        settled_from = max([t for t in routed if t]
                           or [result["first_ack_after_fault"] or healed_at or ended_at])
        result.update({
            "label": label,
            "cluster": args.confirm_cluster,
            "fault": args.fault or args.fault_kind,
            "fault_kind": args.fault_kind,
            "fault_rc": fault_rc,
            "fault_output": fault_out,
            "fault_at": fault_at,
            "fault_time_source": fault_time_source,
            "fault_injected_s": round(injected_at - fault_at, 3),
            "healed_after_s": round(healed_at - fault_at, 3) if healed_at else None,
            "old_leader": leader["name"] if leader else None,
            "new_leader": new_name,
            "new_leader_after_s": round(new_at - fault_at, 3) if new_at else None,
            "routed_after_s": [round(t - fault_at, 3) if t else None for t in routed],
            "connect_before": connect_times(probe_samples, fault_at - args.steady, fault_at),
            "connect_after": connect_times(probe_samples, settled_from, ended_at + 1),
            "inside_acks_after_fault": (sum(1 for e in inside_log if e[0] == "ack" and e[3] > fault_at)
                                        if inside else None),
            "inside_warned": sum(1 for e in inside_log if e[0] == "warned") if inside else None,
            "lost_ids": sorted(lost)[:100],
            "lost": len(lost),
            "server_spans": {k: [round(v[0] - fault_at, 3), round(v[1] - fault_at, 3)]
                             for k, v in spans.items()},
            "overlap_pairs": [list(o) for o in overlaps(spans)],
            "rest_primary_overlaps": [list(o) for o in run_overlaps(rest_spans)],
            "rest_primary_spans": {k: [[round(a - fault_at, 2), round(b - fault_at, 2)] for a, b in v]
                                   for k, v in rest_spans.items()},
            "rest_transitions": transitions(rest_samples, fault_at),
            "healthy_after_restore": healthy,
            "start_members": start_members,
            "etcd_leader_at_start": etcd_leader,
            "etcd_leader_on_target": (etcd_leader == leader["host"]) if etcd_leader and leader else None,
            "healthy_at_start": cluster_healthy(view, expected, want_sync) if view else None,
            "restored_after_s": restored_after,
            "writers": args.writers,
            "reads": (dict(analyse_reads(rlog, fault_at, ended_at), readers=len(readers),
                           entry_points=[safe_dsn(d) for d in read_entry]) if readers else None),
        })
        t0 = -args.steady
        t1 = ended_at - fault_at
        result["timeline"] = {
            "bucket_s": BUCKET_S, "from_s": t0,
            "outside": buckets([e[3] - fault_at for e in wlog if e[0] == "ack"], t0, t1),
            "inside": (buckets([e[3] - fault_at for e in inside_log if e[0] == "ack"], t0, t1)
                       if inside else None),
            "reads_replica": (buckets([e[2] - fault_at for e in rlog if e[0] == "ok" and e[4]], t0, t1)
                              if readers else None),
            "reads_primary": (buckets([e[2] - fault_at for e in rlog if e[0] == "ok" and not e[4]], t0, t1)
                              if readers else None),
        }
    finally:
        stop.set()
        probe_stop.set()
        if not args.keep_table:
            drop_database([admin_dsn] + entry_admin)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.out:
        write_outputs(result, Path(args.out))
    return 0 if result["write_outage_s"] is not None else 2


def marks_of(result):
    """Event marks for the timeline, in seconds from the fault."""
    routed = [t for t in result.get("routed_after_s") or [] if t is not None]
    return [("fault", 0.0, "#c0392b"),
            ("new leader", result.get("new_leader_after_s"), "#8e44ad"),
            ("routed", max(routed) if routed else None, "#2c3e50"),
            ("healed", result.get("healed_after_s"), "#16a085")]


def write_outputs(result, out):
    out.mkdir(parents=True, exist_ok=True)
    label = result["label"]
    (out / f"{label}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (out / f"{label}.md").write_text(markdown_summary(result))
    tl = result["timeline"]
    series = [("commits through the entry points", "#2e86c1", tl["outside"])]
    if tl.get("inside"):
        series.append(("commits on the isolated side", "#e67e22", tl["inside"]))
    titles = [f"commits per {int(tl['bucket_s'] * 1000)} ms"]
    title = f"{label}: write outage {result.get('write_outage_s')} s"
    if tl.get("reads_replica") is not None:
        series += [("reads served by a replica", "#27ae60", tl["reads_replica"], 1),
                   ("reads served by a primary", "#c71585", tl["reads_primary"], 1)]
        titles.append(f"reads per {int(tl['bucket_s'] * 1000)} ms")
        title += f", read outage {(result.get('reads') or {}).get('outage_s')} s"
    title += f", lost {result.get('lost')}"
    (out / f"{label}.svg").write_text(timeline_svg(series, marks_of(result), tl["from_s"], title,
                                                   bucket=tl["bucket_s"], lane_titles=titles))


def primary_rows(dsns, timeout=60):
    """Ids held by the primary behind the entry points, asked once it answers again."""
    deadline = time.time() + timeout
    while True:
        for dsn in dsns:
            try:
                with psycopg.connect(dsn, connect_timeout=2) as conn:
                    if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        continue
                    return {r[0] for r in conn.execute(sql.SQL("SELECT id FROM {}").format(TABLE))}
            except psycopg.Error:
                pass
        if time.time() > deadline:
            raise SystemExit(f"no primary answered through {', '.join(safe_dsn(d) for d in dsns)} "
                             f"within {timeout} s")
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
