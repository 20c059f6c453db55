# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drill's clients: writers, readers and probes, and the checks on the drill's database.

Writers (and, in a partition, a writer inside the isolated container) commit
numbered rows; readers query the replica service; EntryProbe opens fresh
connections through each entry point, RestPoller asks each member's REST API
what it is. Each appends to a plain list that the analysis reads afterwards.
"""

import itertools
import os
import subprocess
import threading
import time

import psycopg
from psycopg import sql

from . import patroni_api
from .common import DATABASE, DATABASE_MARK, DATABASE_NAME, SERVER, TABLE, log, safe_dsn

# Ids written on the isolated side start here, far from the outside writers'.
INSIDE_ID_BASE = 1_000_000_000

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
                    "RETURNING __SERVER__", (rid,))
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
""".replace("__SERVER__", SERVER)


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
                                        "RETURNING " + SERVER).format(TABLE), (rid, self.wid))
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
                    f"SELECT {SERVER}, pg_is_in_recovery()").fetchone()
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
        url = patroni_api.member_url(self.member, "/patroni")
        while not self.stop.is_set():
            at = time.time()
            body = patroni_api.member_status(url, timeout=0.5)
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
                        f"SELECT {SERVER}, pg_is_in_recovery()").fetchone()
                self.samples.append((at, self.index, took, server, rec))
            except psycopg.Error:
                self.samples.append((at, self.index, None, None, None))
            self.stop.wait(self.interval)


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


def prepare_database(admin_dsn):
    """Make the drill's database when it is missing (or is a leftover of the drill's own); True if it is ours.

    A database of that name that the drill did not make (no mark) is kept:
    the inventory declares it, as pgbouncer pools only declared databases.
    """
    with psycopg.connect(admin_dsn, connect_timeout=5, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (DATABASE_NAME,)).fetchone()
        if row is not None and row[0] != DATABASE_MARK:
            return False
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(DATABASE))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(DATABASE))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(DATABASE, sql.Literal(DATABASE_MARK)))
    return True


def _drop_on_primary(dsns, statement, what, hint, timeout):
    """Run a DROP through the first entry point that takes it (a standby refuses it); False on timeout."""
    deadline = time.time() + timeout
    error = None
    while True:
        for dsn in dsns:
            try:
                with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
                    conn.execute(statement)
                    return True
            except psycopg.Error as exc:
                error = exc
        if time.time() > deadline:
            log(f"could not drop the {what} ({error}); {hint}")
            return False
        time.sleep(1)


def drop_table(dsns, timeout=60):
    """Drop the drill's table (in a database it keeps) through an entry point that leads to a primary."""
    return _drop_on_primary(dsns, sql.SQL("DROP TABLE IF EXISTS {}").format(TABLE),
                            f"table {DATABASE_NAME}.pgha_drill", "drop it on the primary", timeout)


def drop_database(dsns, timeout=60):
    """Drop the drill's database through the first entry point that leads to a primary."""
    return _drop_on_primary(dsns, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(DATABASE),
                            f"database {DATABASE_NAME}",
                            f"drop it on the primary with DROP DATABASE {DATABASE_NAME} WITH (FORCE)",
                            timeout)


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
