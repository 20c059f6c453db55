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
  patroni-freeze    SIGSTOP to Patroni's process (PostgreSQL runs on); SIGCONT
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
import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from .analysis import analyse, cluster_healthy, drill_figures, leader_member, want_sync_of
from .clients import (
    INSIDE_ID_BASE,
    EntryProbe,
    InsideWriter,
    Reader,
    RestPoller,
    Writer,
    drop_database,
    drop_table,
    prepare_database,
    primary_rows,
    readable,
    wait_writable,
)
from .common import DATABASE_NAME, SECRET_VARIABLES, TABLE, log, safe_dsn
from .faults import (
    FAULT_KINDS,
    HELD_KINDS,
    LEADER_CHANGE_KINDS,
    Handoff,
    container_for,
    etcd_leader_of,
    fault_plan,
    inject,
    restore,
)
from .output import write_outputs
from .patroni_api import cluster_view, use_patroni_ca


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
    p.add_argument("--admin-dsn", metavar="DSN",
                   help="where the drill checks the cluster's name and creates and drops its database "
                        "(default: the first --dsn, on its own database, usually postgres); give the "
                        "default service (5436) when the primary service leads to pgbouncer, which serves "
                        "only the databases it pools (pgha_drill must be one of them)")
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
    p.add_argument("--keep-table", action="store_true",
                   help="keep the drill's table (and a database it made) for inspection")
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
    if any(psycopg.conninfo.conninfo_to_dict(d).get("password")
           for d in args.dsn + (args.read_dsn or []) + ([args.admin_dsn] if args.admin_dsn else [])):
        log("a password in a DSN on the command line shows in `ps`: give it in PGPASSWORD instead")
    label = args.label or args.fault_kind or "custom"
    use_patroni_ca(args.patroni_ca)
    api_urls = args.patroni or default_api_urls(args.dsn, args.patroni_port)
    handoff = Handoff(args.handoff, args.handoff_timeout) if args.handoff else None

    admin_dsn = args.admin_dsn or args.dsn[0]
    # Readers stay on the database of the given DSNs (they need no table), or
    # on the drill's when the admin DSN is apart (pgbouncer pools that one).
    args.dsn, given = [psycopg.conninfo.make_conninfo(d, dbname=DATABASE_NAME) for d in args.dsn], args.dsn
    read_entry = (args.read_dsn or read_dsns(args.dsn if args.admin_dsn else given, args.read_port)
                  if args.readers else [])
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
    leader = leader_member(view)
    if args.fault_kind and not leader:
        raise SystemExit("the cluster has no leader now; nothing to drill")
    want_sync = want_sync_of(view)
    expected = len(members)
    start_members = [[m.get("name"), m.get("role"), m.get("state"), m.get("timeline")] for m in members]

    # Every entry point must lead to a writable primary before the drill
    # starts: after a switchover a proxy with slow checks still sends new
    # connections to the old primary for a few seconds.
    admin_info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    # With --admin-dsn the entry points may reach the drill's database only
    # (pgbouncer): they are checked once it exists.
    entry_admin = [] if args.admin_dsn else [
        psycopg.conninfo.make_conninfo(d, dbname=admin_info.get("dbname") or "postgres") for d in args.dsn]
    if not wait_writable(entry_admin or [admin_dsn], args.healthy_timeout):
        raise SystemExit(f"the entry points did not all lead to a writable primary within "
                         f"{args.healthy_timeout} s")
    own_database = prepare_database(admin_dsn)
    if args.admin_dsn and not wait_writable(args.dsn, args.healthy_timeout):
        raise SystemExit(f"the entry points did not all lead to a writable primary within "
                         f"{args.healthy_timeout} s")
    if read_entry and not wait_writable(read_entry, args.healthy_timeout, check=readable):
        raise SystemExit(f"the read entry points ({', '.join(safe_dsn(d) for d in read_entry)}) did not "
                         f"answer within {args.healthy_timeout} s; name the replica service with "
                         "--read-dsn or --read-port, or switch the read probe off with --readers 0")
    with psycopg.connect(args.dsn[0], connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(TABLE))
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
        fault_at, fault_time_source, fault_rc, fault_out = inject(args, plan, leader, handoff, data_directory)
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

        result = drill_figures(
            wlog, inside_log if inside else None, rlog if readers else None, rest_samples, probe_samples,
            primary_rows(args.dsn), fault_at=fault_at, injected_at=injected_at, healed_at=healed_at,
            ended_at=ended_at, steady=args.steady, need_new=need_new, leader=leader, members=members,
            n_entries=len(args.dsn))
        if result["reads"] is not None:
            result["reads"].update(readers=len(readers), entry_points=[safe_dsn(d) for d in read_entry])
        result.update({
            "label": label,
            "cluster": args.confirm_cluster,
            "fault": args.fault or args.fault_kind,
            "fault_kind": args.fault_kind,
            "fault_rc": fault_rc,
            "fault_output": fault_out,
            "fault_time_source": fault_time_source,
            "old_leader": leader["name"] if leader else None,
            "healthy_after_restore": healthy,
            "start_members": start_members,
            "etcd_leader_at_start": etcd_leader,
            "etcd_leader_on_target": (etcd_leader == leader["host"]) if etcd_leader and leader else None,
            "healthy_at_start": cluster_healthy(view, expected, want_sync) if view else None,
            "restored_after_s": restored_after,
            "writers": args.writers,
        })
    finally:
        stop.set()
        probe_stop.set()
        if args.keep_table:
            pass
        elif own_database:
            drop_database([admin_dsn] + entry_admin)
        else:
            drop_table(args.dsn)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.out:
        write_outputs(result, Path(args.out))
    return 0 if result["write_outage_s"] is not None else 2
