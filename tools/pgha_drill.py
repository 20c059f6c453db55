#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure what a fault costs the clients of a cluster: write outage and lost commits.

    pgha_drill.py --dsn postgres://dbadmin:...@10.0.1.12:5433/postgres \
                  --dsn postgres://dbadmin:...@10.0.1.13:5433/postgres \
                  --fault 'docker kill pgha-sandbox-1' --confirm-cluster pg-test

Writers commit uniquely numbered rows through the given entry points (round
robin on reconnect) and record every acknowledgement. After a steady phase the
fault command runs; writing goes on until commits succeed again and a settle
period has passed. Then the acknowledged ids are compared with what the
current primary holds.

A commit is counted as acknowledged only when COMMIT returned without a
warning: PostgreSQL turns a cancelled synchronous-replication wait into a
WARNING plus success, while the commit exists only locally and can be lost.
For the same reason the writers never set statement_timeout.
"""

import argparse
import itertools
import json
import shlex
import subprocess
import sys
import threading
import time

import psycopg
from psycopg import sql

TABLE = sql.Identifier("pgha_drill")
# The drill writes into a database of its own, created and dropped by itself.
DATABASE_NAME = "pgha_drill"
DATABASE = sql.Identifier(DATABASE_NAME)


class Writer(threading.Thread):
    """One client: connect through the entry points, commit numbered rows."""

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
                    self.log.append(("warned", rid, started, acked, server))
                else:
                    self.log.append(("ack", rid, started, acked, server))
            except psycopg.Error:
                self.log.append(("error", None, time.time(), time.time(), None))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
        if conn is not None:
            conn.close()


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
            raise SystemExit(f"no primary answered through {dsns} within {timeout} s")
        time.sleep(1)


def analyse(log, fault_at):
    acks = sorted((e for e in log if e[0] == "ack"), key=lambda e: e[3])
    before = [e for e in acks if e[3] <= fault_at]
    old_servers = {e[4] for e in before[-20:]}
    # Recovery: the first commit acknowledged after the fault by a server other
    # than the old primary.
    recovered = next((e for e in acks if e[3] > fault_at and e[4] not in old_servers), None)
    # The outage is the silence that recovery ended: from the last commit
    # acknowledged before it (the old primary may go on acknowledging for a
    # while after the fault command starts, e.g. during a switchover request).
    last_before = max((e[3] for e in acks if recovered is None or e[3] < recovered[3]),
                      default=fault_at)
    return {
        "acknowledged": len(acks),
        "warned_commits": sum(1 for e in log if e[0] == "warned"),
        "errors": sum(1 for e in log if e[0] == "error"),
        "last_ack_before_recovery": last_before,
        "first_ack_after_fault": recovered[3] if recovered else None,
        "write_outage_s": round(recovered[3] - last_before, 3) if recovered else None,
        "old_primaries": sorted(old_servers),
        "new_primary": recovered[4] if recovered else None,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dsn", action="append", required=True, help="entry point to write through (repeat)")
    p.add_argument("--fault", required=True, help="shell command that injects the fault")
    p.add_argument("--confirm-cluster", required=True,
                   help="name of the cluster the entry points lead to; checked against Patroni's scope")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--steady", type=float, default=5.0, help="seconds of writes before the fault")
    p.add_argument("--settle", type=float, default=3.0, help="seconds of writes after recovery")
    p.add_argument("--timeout", type=float, default=120.0, help="give up waiting for recovery after this")
    p.add_argument("--keep-table", action="store_true", help="keep the drill database for inspection")
    p.add_argument("--json", help="write the result here as well")
    args = p.parse_args(argv)


    admin_dsn = args.dsn[0]
    args.dsn = [psycopg.conninfo.make_conninfo(d, dbname=DATABASE_NAME) for d in args.dsn]
    with psycopg.connect(admin_dsn, connect_timeout=5, autocommit=True) as conn:
        scope = conn.execute("SELECT current_setting('cluster_name', true)").fetchone()[0]
        if scope != args.confirm_cluster:
            raise SystemExit(f"refusing to run: the entry point leads to cluster {scope!r}, "
                             f"not {args.confirm_cluster!r}")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(DATABASE))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(DATABASE))
    with psycopg.connect(args.dsn[0], connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, writer int, "
                             "at timestamptz DEFAULT now())").format(TABLE))

    ids, stop, log = itertools.count(1), threading.Event(), []
    writers = [Writer(i, args.dsn[i % len(args.dsn):] + args.dsn[:i % len(args.dsn)], ids, stop, log)
               for i in range(args.writers)]
    for w in writers:
        w.start()
    time.sleep(args.steady)
    fault_at = time.time()
    fault = subprocess.run(shlex.split(args.fault), capture_output=True, text=True)
    deadline = fault_at + args.timeout
    while time.time() < deadline and analyse(log, fault_at)["first_ack_after_fault"] is None:
        time.sleep(0.2)
    time.sleep(args.settle)
    stop.set()
    for w in writers:
        w.join(10)

    result = analyse(log, fault_at)
    acked_ids = {e[1] for e in log if e[0] == "ack"}
    held = primary_rows(args.dsn)
    result.update({
        "cluster": args.confirm_cluster,
        "fault": args.fault,
        "fault_rc": fault.returncode,
        "fault_at": fault_at,
        "lost_ids": sorted(acked_ids - held)[:100],
        "lost": len(acked_ids - held),
    })
    if not args.keep_table:
        with psycopg.connect(admin_dsn, connect_timeout=5, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(DATABASE))
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return 0 if result["write_outage_s"] is not None else 2


if __name__ == "__main__":
    sys.exit(main())
