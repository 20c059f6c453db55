#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench-backup`: pgBackRest backup, restore, replica creation and archiving on a running cluster.

Runs against a converged cluster in Docker containers (default: the molecule
containers pgha-m-1..3, cluster pg-test; --sandbox for the sandbox's), finds
the leader through Patroni's REST API and a replica, and measures, every
command through `docker exec`:

  1. data: `pgbench -i -s SCALE` into the database --database on the leader,
     then a full backup: its duration, and MB/s of the database's size
     (pg_database_size) and of the cluster's (pgBackRest's own figure);
  2. `pgbackrest restore` into a scratch directory on the replica's container,
     against a copy of the replica's own data directory (tar | tar, then
     sync) into the same scratch place: the disk's copy speed, same run;
  3. a replica's data from the repository (`restore --type=standby`) against
     `pg_basebackup -X stream -c fast` from the leader, same data;
  4. archiving under `pgbench -c 4 -j 2 -T DURATION` on the leader: WAL
     segments waiting (.ready files in pg_wal/archive_status) sampled once a
     second, max and median, whether the backlog is back to <= 1 within
     --drain seconds after the load, WAL generated and archived per second.

The figures print as a Markdown table and as JSON (--json FILE as well).
MB is 2^20 bytes, as PostgreSQL counts (a WAL segment is 16 MB). Progress
and each step's duration go to standard error.

Left behind: the full backup in the repository (it counts toward the
stanza's retention_full: the oldest full backup may be expired;
--expire-backup removes this one at the end). The database is dropped and
the scratch directory removed unless --keep. The replication password
(for pg_basebackup) is read from the inventory, or PGHA_REPLICATION_PASSWORD,
and reaches the container on standard input into a 0600 .pgpass file: never
on a command line or in an environment variable.
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

# The collection's own Patroni client and pgBackRest info parser, not installed packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))
from ansible_collections.pgha.cloud.plugins.module_utils import patroni_core, pgbackrest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MB = 2 ** 20
MOLECULE = {"containers": "pgha-m-1,pgha-m-2,pgha-m-3", "inventory": "molecule/default/inventory"}
SANDBOX = {"containers": "pgha-sandbox-1,pgha-sandbox-2,pgha-sandbox-3", "inventory": "inventories/sandbox",
           "patroni_ca": "inventories/sandbox/.pki/ca.crt"}
CONFIG_FILE = "/etc/pgbackrest/pgbackrest.conf"
SCRATCH = "/var/lib/postgresql/pgha-bench-scratch"
# The file that marks a scratch directory as this tool's: only such a directory is ever removed.
MARKER = ".pgha-bench-scratch"
# pgbench -i: about 15 MB per scale unit (tables and indexes).
MB_PER_SCALE = 15
# Filesystems whose writes never reach a disk: no place for a disk figure.
MEMORY_FS = ("tmpfs", "ramfs")
# Where the replication password may come from instead of the inventory.
SECRET_ENV = "PGHA_REPLICATION_PASSWORD"


def say(msg):
    print(f"[bench-backup {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- pure helpers

def mb_per_s(size_bytes, seconds):
    """Throughput in MB/s (MB = 2^20 bytes), one decimal; None without a size or a positive duration."""
    if size_bytes is None or not seconds or seconds <= 0:
        return None
    return round(size_bytes / MB / seconds, 1)


def ratio(a, b):
    """a / b to three decimals; None when either is missing or b is zero."""
    if a is None or not b:
        return None
    return round(a / b, 3)


def mb(size_bytes):
    return None if size_bytes is None else round(size_bytes / MB, 1)


def space_needed(scale, copies):
    """Bytes the run needs free on the containers' disk: the pgbench data `copies` times, plus 2 GB of WAL."""
    return scale * MB_PER_SCALE * MB * copies + 2048 * MB


def pgpass_line(host, port, user, password, database="replication"):
    """One .pgpass line; `:` and `\\` escaped as libpq wants (replication connections match "replication")."""
    def esc(value):
        return str(value).replace("\\", "\\\\").replace(":", "\\:")
    return ":".join(esc(v) for v in (host, port, database, user, password)) + "\n"


def scratch_errors(path, data_dir):
    """Why `path` cannot be the scratch directory ([] when it can)."""
    p = os.path.normpath(path or "")
    data = os.path.normpath(data_dir or "/nonexistent")
    errors = []
    if not os.path.isabs(p) or p in ("/", "/tmp", "/var", "/var/lib", "/var/lib/postgresql"):
        errors.append(f"--scratch {path!r} must be an absolute path of a directory of its own")
    elif p == data or p.startswith(data + "/") or data.startswith(p + "/"):
        errors.append(f"--scratch {path!r} must lie outside the data directory {data_dir}")
    return errors


def pick_replica(view, wanted=None, hosts=()):
    """The replica to restore on: `wanted` by name, else a streaming replica that is not synchronous
    (the sync standby acknowledges commits), else any streaming one; only members in `hosts` count."""
    replicas = [m for m in patroni_core.members_of(view) if patroni_core.is_streaming(m)
                and (not hosts or m.get("host") in hosts)]
    if wanted:
        return next((m for m in replicas if m.get("name") == wanted), None)
    async_ = [m for m in replicas if m.get("role") not in patroni_core.SYNC_ROLES]
    return (async_ or replicas or [None])[0]


def container_of(member, addresses):
    """The container whose address (or name) is the member's host (or name); None if no container is."""
    for name, ips in addresses.items():
        if member.get("host") in ips or member.get("name") == name:
            return name
    return None


def analyse_archive(samples, load_start, load_end, drain_s=30.0, segment_bytes=16 * MB):
    """Figures of the archive-lag samples taken around a write load.

    samples: dicts with t (epoch s), ready (segments waiting), lsn (bytes),
    archived (pg_stat_archiver.archived_count), failed (failed_count) and
    last_wal. The max counts every sample from the load's start on (the
    backlog peaks as the load ends); the median the samples during the load.
    kept_up: the backlog was back to <= 1 segment within `drain_s` after the
    load stopped (None: no sample after it). Rates are per second of load;
    archived_per_s counts up to the sample where the backlog had drained (or
    the last one).
    """
    during = [s for s in samples if load_start <= s["t"] <= load_end]
    after = [s for s in samples if s["t"] > load_end]
    from_start = [s for s in samples if s["t"] >= load_start]
    before = [s for s in samples if s["t"] < load_start]
    first = before[-1] if before else (from_start[0] if from_start else None)
    drained = next((s for s in after if s["ready"] <= 1 and s["t"] - load_end <= drain_s), None)
    end = drained or (from_start[-1] if from_start else None)
    load_s = load_end - load_start
    out = {
        "samples": len(samples),
        "waiting_max": max((s["ready"] for s in from_start), default=None),
        "waiting_median": statistics.median(s["ready"] for s in during) if during else None,
        "waiting_at_end_of_load": during[-1]["ready"] if during else None,
        "kept_up": (drained is not None) if after else None,
        "drained_after_s": round(drained["t"] - load_end, 1) if drained else None,
        "wal_generated_mb": None, "wal_generated_mb_per_s": None,
        "archived_segments": None, "archived_per_s": None, "archived_mb_per_s": None,
        "failed": None, "last_archived_wal": end["last_wal"] if end else None,
    }
    if first is None or end is None:
        return out
    at_load_end = during[-1] if during else end
    wal = at_load_end["lsn"] - first["lsn"]
    archived = end["archived"] - first["archived"]
    span = end["t"] - first["t"]
    out.update({
        "wal_generated_mb": mb(wal),
        "wal_generated_mb_per_s": mb_per_s(wal, load_s),
        "archived_segments": archived,
        "archived_per_s": round(archived / span, 2) if span > 0 else None,
        "archived_mb_per_s": mb_per_s(archived * segment_bytes, span),
        "failed": end["failed"] - first["failed"],
    })
    return out


def parse_sample(line, t):
    """One sampler line `ready|lsn|archived|failed|last_wal` (psql -At) as a sample dict; None if garbled."""
    parts = line.strip().split("|")
    if len(parts) != 5:
        return None
    try:
        return {"t": t, "ready": int(parts[0]), "lsn": int(float(parts[1])), "archived": int(parts[2]),
                "failed": int(parts[3]), "last_wal": parts[4] or None}
    except ValueError:
        return None


def pgbench_tps(output):
    m = re.search(r"^tps = ([0-9.]+)", output or "", re.M)
    return float(m.group(1)) if m else None


def table(summary):
    """The figures as a Markdown table: measure, figure, baseline of the same run, ratio."""
    def f(v, unit=""):
        return "—" if v is None else f"{v}{unit}"
    b, r, s, a = (summary.get(k) or {} for k in ("backup", "restore", "standby", "archive"))
    rows = [
        ("data", f"pgbench scale {summary.get('scale')}, database {f(b.get('database_mb'), ' MB')}, "
                 f"cluster {f(b.get('cluster_mb'), ' MB')}, loaded in {f(summary.get('load_s'), ' s')}",
         "—", "—"),
        ("full backup (pgbackrest backup)",
         f"{f(b.get('s'), ' s')}, {f(b.get('database_mb_per_s'), ' MB/s')} of the database, "
         f"{f(b.get('cluster_mb_per_s'), ' MB/s')} of the cluster; repository {f(b.get('repo_mb'), ' MB')}",
         "—", "—"),
        (f"restore on {r.get('container', '?')} (pgbackrest restore)",
         f"{f(r.get('s'), ' s')}, {f(r.get('mb_per_s'), ' MB/s')} ({f(r.get('mb'), ' MB')})",
         f"disk copy (tar to tar, sync): {f(r.get('copy_s'), ' s')}, {f(r.get('copy_mb_per_s'), ' MB/s')} "
         f"({f(r.get('copy_mb'), ' MB')})",
         f(r.get("mb_per_s_ratio"), "× the copy's MB/s")),
        (f"replica data on {s.get('container', '?')} from the repository (restore --type=standby)",
         f"{f(s.get('s'), ' s')}, {f(s.get('mb_per_s'), ' MB/s')} ({f(s.get('mb'), ' MB')})",
         f"pg_basebackup from the leader: {f(s.get('basebackup_s'), ' s')}, "
         f"{f(s.get('basebackup_mb_per_s'), ' MB/s')} ({f(s.get('basebackup_mb'), ' MB')})",
         f(s.get("time_ratio"), "× pg_basebackup's time")),
        (f"archiving under pgbench -c 4 -j 2 -T {a.get('duration_s', '?')}",
         f"waiting segments max {f(a.get('waiting_max'))}, median {f(a.get('waiting_median'))}; "
         f"kept up: {({True: 'yes', False: 'no'}).get(a.get('kept_up'), '—')}"
         + (f" (<= 1 waiting {a['drained_after_s']} s after the load)" if a.get("drained_after_s") is not None
            else ""),
         f"WAL generated {f(a.get('wal_generated_mb'), ' MB')} "
         f"({f(a.get('wal_generated_mb_per_s'), ' MB/s')}); "
         f"archived {f(a.get('archived_segments'))} segments, {f(a.get('archived_per_s'), '/s')} "
         f"({f(a.get('archived_mb_per_s'), ' MB/s')}); failed {f(a.get('failed'))}",
         f(round(a["tps"], 1) if a.get("tps") is not None else None, " TPS")),
    ]
    out = ["| measure | figure | baseline / detail (same run) | ratio |", "|---|---|---|---|"]
    out += [f"| {m} | {v} | {base} | {q} |" for m, v, base, q in rows]
    return "\n".join(out) + "\n"


def step_lines(steps):
    """Each step's duration, one line each."""
    return "".join(f"- {name}: {s} s\n" for name, s in steps)


# ---------------------------------------------------------------- Docker

class CommandFailed(Exception):
    pass


class Docker:
    """`docker exec` and `docker inspect`; every output passes through scrub() before it is shown."""

    def __init__(self, secrets=()):
        self.secrets = [s for s in secrets if s]

    def scrub(self, text):
        for value in self.secrets:
            text = text.replace(value, "********")
        return text

    def _run(self, argv, stdin=None, timeout=None):
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except FileNotFoundError:
            raise SystemExit("docker is not installed or not on PATH: this benchmark runs every command "
                             "through `docker exec`") from None

    def inspect(self, container):
        """(running, [addresses]) of a container; None when Docker does not know it."""
        res = self._run(["docker", "inspect", "-f",
                         "{{.State.Running}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                         container], timeout=30)
        if res.returncode != 0:
            if "permission denied" in res.stderr.lower() or "cannot connect" in res.stderr.lower():
                raise SystemExit(f"docker inspect {container}: {res.stderr.strip()}")
            return None
        words = res.stdout.split()
        return (words[:1] == ["true"]), words[1:]

    def exec(self, container, argv, user="postgres", stdin=None, env=None, check=True, timeout=None):
        """Run argv in the container as `user`: the CompletedProcess; CommandFailed if check and rc != 0."""
        # Only names of files go into env (PGPASSFILE): `ps` on the host shows this command line.
        cmd = ["docker", "exec", *(["-i"] if stdin is not None else []), "-u", user,
               *[f"--env={k}={v}" for k, v in (env or {}).items()], container, *argv]
        res = self._run(cmd, stdin=stdin, timeout=timeout)
        if check and res.returncode != 0:
            text = self.scrub((res.stderr.strip() or res.stdout.strip())[-1500:])
            raise CommandFailed(f"{container}: `{' '.join(argv)}` exited {res.returncode}: {text}")
        return res

    def sh(self, container, script, **kw):
        return self.exec(container, ["sh", "-c", script], **kw)

    def popen(self, container, argv, user="postgres"):
        return subprocess.Popen(["docker", "exec", "-u", user, container, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


# ---------------------------------------------------------------- the cluster

class Bench:
    """One run: the containers, the leader and the replica, and the steps."""

    def __init__(self, args, docker):
        self.a = args
        self.d = docker
        self.steps = []
        self.scratch_made = set()
        self.created_db = False

    # -- helpers
    def timed(self, name, fn, *args, **kw):
        say(f"{name} ...")
        started = time.monotonic()
        out = fn(*args, **kw)
        took = round(time.monotonic() - started, 1)
        self.steps.append((name, took))
        say(f"{name}: {took} s")
        return out, took

    def psql(self, container, query, database="postgres"):
        res = self.d.exec(container, [f"{self.a.bin_dir}/psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                                      "-d", database, "-c", query])
        return res.stdout.strip()

    def pgbackrest(self, container, *argv, **kw):
        return self.d.exec(container, ["pgbackrest", f"--config={self.a.config}",
                                       f"--stanza={self.a.cluster}", *argv], **kw)

    # -- preflight
    def find_cluster(self):
        names = [c for c in self.a.containers.split(",") if c]
        addresses = {}
        for name in names:
            state = self.d.inspect(name)
            if state is None:
                raise SystemExit(f"container {name} does not exist: start the cluster (for the molecule "
                                 "containers `molecule converge -s default`, for the sandbox `make sandbox`) "
                                 "or name its containers with --containers")
            if not state[0]:
                raise SystemExit(f"container {name} is not running: `docker start {name}`, or name the "
                                 "cluster's containers with --containers")
            addresses[name] = state[1]
        urls = [f"https://{ip}:{self.a.patroni_port}" for ips in addresses.values() for ip in ips]
        if not urls:
            raise SystemExit(f"the containers {', '.join(names)} have no network address")
        transport = patroni_core.stdlib_transport(ca_file=self.a.patroni_ca)
        client = patroni_core.PatroniClient(urls, transport, timeout=3, retries=1,
                                            option_names={"urls": "--containers (their addresses, port "
                                                          "--patroni-port)", "ca": "--patroni-ca"})
        try:
            view = client.cluster()
        except patroni_core.PatroniError as e:
            raise SystemExit(e.message) from None
        if view.get("scope", self.a.cluster) != self.a.cluster:
            raise SystemExit(f"refusing to run: Patroni at {urls[0]} serves {view.get('scope')!r}, not "
                             f"--cluster {self.a.cluster!r}")
        leader = patroni_core.running_primary(view)
        if not leader:
            raise SystemExit(f"the cluster has no running primary: {patroni_core.describe_members(view)}")
        hosts = {ip for ips in addresses.values() for ip in ips} | set(addresses)
        replica = pick_replica(view, self.a.replica, hosts)
        if not replica:
            raise SystemExit(f"no streaming replica{' named ' + self.a.replica if self.a.replica else ''} "
                             f"among --containers: {patroni_core.describe_members(view)}")
        self.leader, self.replica = leader, replica
        self.lc, self.rc = container_of(leader, addresses), container_of(replica, addresses)
        if not self.lc or not self.rc:
            raise SystemExit("the leader or the replica is not one of --containers "
                             f"({patroni_core.describe_members(view)})")
        say(f"leader {leader['name']} ({self.lc}, {leader['host']}), replica {replica['name']} "
            f"({self.rc}, {replica['host']})")

    def check_setup(self):
        for c in (self.lc, self.rc):
            res = self.d.exec(c, ["test", "-x", f"{self.a.bin_dir}/pgbench"], check=False)
            if res.returncode != 0:
                raise SystemExit(f"{c}: no {self.a.bin_dir}/pgbench; give PostgreSQL's bin directory "
                                 "with --bin-dir")
            res = self.d.exec(c, ["test", "-r", self.a.config], check=False)
            if res.returncode != 0:
                raise SystemExit(f"{c}: {self.a.config} is missing or not readable by postgres: pgBackRest "
                                 "is not configured on this member; deploy with pgbackrest_method and "
                                 "pgbackrest_repo (roles/pgbackrest), or give the file with --config")
        archive = self.psql(self.lc, "SELECT current_setting('archive_mode') || ' ' || "
                                     "current_setting('archive_command')")
        if "pgbackrest" not in archive or not archive.startswith(("on", "always")):
            raise SystemExit(f"{self.lc}: archive_mode/archive_command are {archive!r}, not pgBackRest's: "
                             "the cluster does not archive into a repository; deploy it with "
                             "pgbackrest_method and pgbackrest_repo (roles/pgbackrest)")
        res = self.pgbackrest(self.lc, "--output=json", "info", check=False)
        try:
            info = pgbackrest.parse_info(res.stdout).get(self.a.cluster)
        except pgbackrest.PgbackrestError as e:
            info, res.stderr = None, f"{res.stderr} ({e})"
        if res.returncode != 0 or not info or info["status_code"] not in (0, 2):
            why = (info or {}).get("status_message") or self.d.scrub(res.stderr.strip()[-500:])
            raise SystemExit(f"{self.lc}: pgbackrest info for stanza {self.a.cluster} failed ({why}); "
                             "create the stanza (roles/pgbackrest, tasks_from: stanza) or name it with "
                             "--cluster")
        self.data_dir = self.psql(self.rc, "SHOW data_directory")
        errors = scratch_errors(self.a.scratch, self.data_dir)
        if errors:
            raise SystemExit("; ".join(errors))
        parent = os.path.dirname(self.a.scratch.rstrip("/"))
        fs = self.d.exec(self.rc, ["stat", "-f", "-c", "%T", parent]).stdout.strip()
        if fs in MEMORY_FS:
            raise SystemExit(f"{self.rc}: {parent} is on {fs}, not on a disk: give --scratch a place on the "
                             "container's disk")
        avail = int(self.d.exec(self.rc, ["df", "-B1", "--output=avail", parent]).stdout.split()[-1])
        need = space_needed(self.a.scale, 4)  # the three members' copies and the scratch one
        if avail < need:
            raise SystemExit(f"{self.rc}: {mb(avail)} MB free under {parent}, about {mb(need)} MB needed for "
                             f"scale {self.a.scale}: free space or lower --scale")
        # current_setting gives "16MB"; pg_settings' unit "B" is not a size pg_size_bytes reads.
        self.segment_bytes = int(self.psql(self.lc,
                                           "SELECT pg_size_bytes(current_setting('wal_segment_size'))"))
        say(f"pgBackRest configured, archive_command {archive.split(' ', 1)[1]!r}; scratch {self.a.scratch} "
            f"on {fs}, {mb(avail)} MB free")

    # -- scratch directories on the replica's container
    def scratch_root(self):
        root = self.a.scratch
        res = self.d.exec(self.rc, ["test", "-e", root], check=False)
        if res.returncode == 0:
            if self.d.exec(self.rc, ["test", "-e", f"{root}/{MARKER}"], check=False).returncode != 0:
                raise SystemExit(f"{self.rc}: {root} exists and is not this tool's (no {MARKER}): remove it "
                                 "or give another --scratch")
            self.remove_scratch()
        self.d.exec(self.rc, ["mkdir", "-m", "0700", root])
        self.d.exec(self.rc, ["touch", f"{root}/{MARKER}"])
        self.scratch_made.add(root)

    def fresh(self, name):
        path = f"{self.a.scratch}/{name}"
        self.d.exec(self.rc, ["rm", "-rf", "--one-file-system", path])
        self.d.exec(self.rc, ["mkdir", "-m", "0700", path])
        return path

    def size_of(self, path):
        return int(self.d.exec(self.rc, ["du", "-sb", path]).stdout.split()[0])

    def drop(self, path):
        self.d.exec(self.rc, ["rm", "-rf", "--one-file-system", path], check=False)

    def remove_scratch(self):
        root = self.a.scratch
        if self.d.exec(self.rc, ["test", "-e", f"{root}/{MARKER}"], check=False).returncode == 0:
            self.d.exec(self.rc, ["rm", "-rf", "--one-file-system", root], check=False)

    # -- 1. data and backup
    def load_data(self):
        db = self.a.database
        if self.psql(self.lc, f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
            say(f"database {db} exists: pgbench -i re-creates its pgbench_* tables; it is left in place "
                "at the end")
        else:
            self.created_db = True
            self.psql(self.lc, f'CREATE DATABASE "{db}"')
        self.d.exec(self.lc, [f"{self.a.bin_dir}/pgbench", "-i", "-q", "-s", str(self.a.scale), db])
        self.psql(self.lc, "CHECKPOINT")
        target = self.psql(self.lc, "SELECT pg_current_wal_lsn()")
        deadline = time.time() + 900
        while time.time() < deadline:  # the replica's copy is part of step 2's baseline
            if self.psql(self.rc, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t":
                return
            time.sleep(2)
        raise SystemExit(f"{self.rc}: the replica did not replay up to {target} within 900 s")

    def backup(self):
        db = self.a.database
        db_bytes = int(self.psql(self.lc, f"SELECT pg_database_size('{db}')"))
        _res, took = self.timed("full backup", self.pgbackrest, self.lc, "--type=full", "backup")
        info = pgbackrest.parse_info(self.pgbackrest(self.lc, "--output=json", "info").stdout)[self.a.cluster]
        last = info["backups"][-1]
        self.label = last["label"]
        return {"s": took, "label": last["label"], "database_mb": mb(db_bytes),
                "database_mb_per_s": mb_per_s(db_bytes, took), "cluster_mb": mb(last["database_size"]),
                "cluster_mb_per_s": mb_per_s(last["database_size"], took), "repo_mb": mb(last["repo_size"]),
                "pgbackrest_s": last["stop"] - last["start"]}

    # -- 2. restore against a disk copy
    def restore(self, name, *extra):
        path = self.fresh(name)
        _res, took = self.timed(f"pgbackrest restore {' '.join(extra)}".strip(), self.pgbackrest, self.rc,
                                f"--pg1-path={path}", f"--set={self.label}", *extra, "restore")
        size = self.size_of(path)
        self.drop(path)
        return took, size

    def disk_copy(self):
        path = self.fresh("copy")
        src = shlex.quote(self.data_dir)
        # A running replica's files may change or vanish underway: tar says so and goes on (rc 1).
        script = (f"tar -C {src} --warning=no-file-changed --warning=no-file-removed --ignore-failed-read "
                  f"'--exclude=./pg_wal/*' --exclude=./postmaster.pid -cf - . | tar -C {shlex.quote(path)} "
                  f"-xf - ; rc=$?; sync -f {shlex.quote(path)}; exit $rc")
        res, took = self.timed("disk copy (tar | tar, sync) of the replica's data directory", self.d.sh,
                               self.rc, script, check=False)
        if res.returncode not in (0, 1):
            raise CommandFailed(f"{self.rc}: copy of {self.data_dir} failed: {res.stderr.strip()[-500:]}")
        size = self.size_of(path)
        self.drop(path)
        return took, size

    def step_restore(self):
        took, size = self.restore("restore")
        copy_s, copy_size = self.disk_copy()
        out = {"container": self.rc, "s": took, "mb": mb(size), "mb_per_s": mb_per_s(size, took),
               "copy_s": copy_s, "copy_mb": mb(copy_size), "copy_mb_per_s": mb_per_s(copy_size, copy_s)}
        out["mb_per_s_ratio"] = ratio(out["mb_per_s"], out["copy_mb_per_s"])
        return out

    # -- 3. replica from the repository against pg_basebackup
    def basebackup(self):
        password = self.a.replication_password
        path = self.fresh("basebackup")
        passfile = f"{self.a.scratch}/.pgpass"
        host = self.leader["host"]
        self.d.sh(self.rc, f"umask 077 && cat > {shlex.quote(passfile)}",
                  stdin=pgpass_line(host, self.leader.get("port") or 5432, self.a.replication_user, password))
        dsn = (f"host={host} port={self.leader.get('port') or 5432} user={self.a.replication_user} "
               f"sslmode=verify-full sslrootcert={self.a.pg_ca}")
        try:
            _res, took = self.timed("pg_basebackup from the leader", self.d.exec, self.rc,
                                    [f"{self.a.bin_dir}/pg_basebackup", "-d", dsn, "-D", path, "-X", "stream",
                                     "-c", "fast", "--no-password"], env={"PGPASSFILE": passfile})
        finally:
            self.drop(passfile)
        size = self.size_of(path)
        self.drop(path)
        return took, size

    def step_standby(self):
        took, size = self.restore("standby", "--type=standby")
        bb_s, bb_size = self.basebackup()
        return {"container": self.rc, "s": took, "mb": mb(size), "mb_per_s": mb_per_s(size, took),
                "basebackup_s": bb_s, "basebackup_mb": mb(bb_size),
                "basebackup_mb_per_s": mb_per_s(bb_size, bb_s), "time_ratio": ratio(took, bb_s)}

    # -- 4. archiving under load
    SAMPLE = ("SELECT (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') || '|' || "
              "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') || '|' || archived_count || '|' || failed_count "
              "|| '|' || coalesce(last_archived_wal, '') FROM pg_stat_archiver")

    def sample(self):
        t = time.time()
        res = self.d.exec(self.lc, [f"{self.a.bin_dir}/psql", "-XAtq", "-d", "postgres", "-c", self.SAMPLE],
                          check=False, timeout=10)
        return parse_sample(res.stdout, t) if res.returncode == 0 else None

    def step_archive(self):
        samples = []
        deadline = time.time() + 120
        while True:  # start from an archive that has caught up
            s = self.sample()
            if (s and s["ready"] <= 1) or time.time() > deadline:
                break
            time.sleep(1)
        samples += [s] if s else []
        say(f"pgbench -c 4 -j 2 -T {self.a.duration} on {self.lc}; sampling the archive once a second")
        load_start = time.time()
        proc = self.d.popen(self.lc, [f"{self.a.bin_dir}/pgbench", "-n", "-c", "4", "-j", "2",
                                      "-T", str(self.a.duration), self.a.database])
        result = {}
        reader = threading.Thread(target=lambda: result.update(zip(("out", "err"), proc.communicate())))
        reader.start()
        tick = load_start
        while reader.is_alive():
            s = self.sample()
            if s:
                samples.append(s)
            tick += 1
            time.sleep(max(0.0, tick - time.time()))
        load_end = time.time()
        if proc.returncode != 0:
            raise CommandFailed(f"{self.lc}: pgbench exited {proc.returncode}: "
                                f"{self.d.scrub(result.get('err', ''))[-500:]}")
        while time.time() - load_end <= self.a.drain:
            s = self.sample()
            if s:
                samples.append(s)
                if s["ready"] <= 1:
                    break
            time.sleep(1)
        self.steps.append((f"pgbench write load and archive drain ({self.a.duration} s load)",
                           round(time.time() - load_start, 1)))
        out = analyse_archive(samples, load_start, load_end, self.a.drain, self.segment_bytes)
        out.update({"duration_s": self.a.duration, "tps": pgbench_tps(result.get("out")),
                    "series": [[round(s["t"] - load_start, 1), s["ready"]] for s in samples]})
        return out

    # -- cleanup
    def cleanup(self):
        if getattr(self, "rc", None) and self.scratch_made and not self.a.keep:
            self.remove_scratch()
        if getattr(self, "lc", None) and self.created_db and not self.a.keep:
            self.d.exec(self.lc, [f"{self.a.bin_dir}/psql", "-XAtq", "-d", "postgres", "-c",
                                  f'DROP DATABASE IF EXISTS "{self.a.database}" WITH (FORCE)'], check=False)
            say(f"dropped database {self.a.database}")
        if getattr(self, "label", None) and self.a.expire_backup:
            res = self.pgbackrest(self.lc, f"--set={self.label}", "expire", check=False)
            say(f"expire --set={self.label}: rc {res.returncode}")

    def run(self):
        summary = {"cluster": self.a.cluster, "scale": self.a.scale,
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            self.timed("find the leader and a replica (Patroni REST API)", self.find_cluster)
            summary.update(leader=self.leader["name"], replica=self.replica["name"])
            self.timed("check containers, pgBackRest and the scratch place", self.check_setup)
            self.scratch_root()
            _o, summary["load_s"] = self.timed(f"pgbench -i -s {self.a.scale} into {self.a.database}",
                                               self.load_data)
            summary["backup"] = self.backup()
            say(json.dumps(summary["backup"]))
            summary["restore"] = self.step_restore()
            say(json.dumps(summary["restore"]))
            summary["standby"] = self.step_standby()
            say(json.dumps(summary["standby"]))
            summary["archive"] = self.step_archive()
            say(json.dumps({k: v for k, v in summary["archive"].items() if k != "series"}))
        finally:
            self.cleanup()
        summary["steps"] = self.steps
        return summary


# ---------------------------------------------------------------- command line

def find_ca(given, environ=None, root=ROOT, home=None):
    """The Patroni CA file: --patroni-ca, else $PGHA_PATRONI_CA, else the molecule scenario's (the CA
    beside molecule's inventory: $MOLECULE_EPHEMERAL_DIRECTORY/inventory/.pki/ca.crt, else
    ~/.cache/molecule/<checkout>/default/inventory/.pki/ca.crt). None when none exists."""
    environ = os.environ if environ is None else environ
    if given:
        return given
    if environ.get("PGHA_PATRONI_CA"):
        return environ["PGHA_PATRONI_CA"]
    home = Path(home or Path.home())
    candidates = []
    if environ.get("MOLECULE_EPHEMERAL_DIRECTORY"):
        candidates.append(Path(environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory" / ".pki" / "ca.crt")
    molecule = home / ".cache" / "molecule"
    candidates.append(molecule / Path(root).name / "default" / "inventory" / ".pki" / "ca.crt")
    candidates += sorted(molecule.glob("*/default/inventory/.pki/ca.crt"))
    return next((str(c) for c in candidates if c.is_file()), None)


def replication_password(inventory, environ=None):
    """pg_replication_password: $PGHA_REPLICATION_PASSWORD, else the inventory's group_vars/all.yml."""
    environ = os.environ if environ is None else environ
    if environ.get(SECRET_ENV):
        return environ[SECRET_ENV]
    path = Path(inventory) / "group_vars" / "all.yml"
    try:
        value = (yaml.safe_load(path.read_text()) or {}).get("pg_replication_password")
    except (OSError, yaml.YAMLError):
        value = None
    if not isinstance(value, str) or not value or "{{" in value:
        raise SystemExit(f"no plain pg_replication_password in {path} (vaulted or templated?): put it in "
                         f"the environment variable {SECRET_ENV}")
    return value


def build_parser():
    p = argparse.ArgumentParser(prog="pgha_bench_backup.py", description=__doc__.split("\n\n", maxsplit=1)[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sandbox", action="store_true",
                   help="the sandbox's containers, inventory and CA (make sandbox) instead of molecule's")
    p.add_argument("--containers", help=f"the cluster's containers, comma-separated (default "
                                        f"{MOLECULE['containers']}; with --sandbox {SANDBOX['containers']})")
    p.add_argument("--cluster", default="pg-test",
                   help="cluster name = pgBackRest stanza (default %(default)s)")
    p.add_argument("--inventory", help=f"inventory directory holding group_vars/all.yml with "
                                       f"pg_replication_password (default {MOLECULE['inventory']})")
    p.add_argument("--patroni-ca", help="CA of Patroni's REST API (the deployment's .pki/ca.crt); default "
                                        "$PGHA_PATRONI_CA, else the molecule scenario's")
    p.add_argument("--patroni-port", type=int, default=8008)
    p.add_argument("--replica",
                   help="member name of the replica to restore on (default: an asynchronous one)")
    p.add_argument("--scale", type=int, default=150,
                   help="pgbench scale, about 15 MB each (default %(default)s)")
    p.add_argument("--database", default="bench", help="database pgbench fills (default %(default)s)")
    p.add_argument("--duration", type=int, default=60,
                   help="seconds of pgbench write load (default %(default)s)")
    p.add_argument("--drain", type=float, default=30.0,
                   help="seconds after the load within which the archive must be back to <= 1 waiting "
                        "segment (default %(default)s)")
    p.add_argument("--scratch", default=SCRATCH,
                   help="scratch directory on the replica's container, on its disk (default %(default)s)")
    p.add_argument("--config", default=CONFIG_FILE,
                   help="pgbackrest.conf in the containers (default %(default)s)")
    p.add_argument("--bin-dir", default="/usr/lib/postgresql/15/bin",
                   help="PostgreSQL's bin directory in the containers (default %(default)s)")
    p.add_argument("--pg-ca", default="/etc/pgha/tls/ca.crt",
                   help="CA file in the containers for pg_basebackup's verify-full (default %(default)s)")
    p.add_argument("--replication-user", default="replicator")
    p.add_argument("--keep", action="store_true", help="keep the database and the scratch directory")
    p.add_argument("--expire-backup", action="store_true",
                   help="remove the benchmark's backup from the repository at the end "
                        "(pgbackrest expire --set)")
    p.add_argument("--json", metavar="FILE", help="write the JSON summary here as well")
    return p


def parse_args(argv=None):
    p = build_parser()
    a = p.parse_args(argv)
    bed = SANDBOX if a.sandbox else MOLECULE
    a.containers = a.containers or bed["containers"]
    a.inventory = a.inventory or str(ROOT / bed["inventory"])
    if not a.patroni_ca and a.sandbox:
        a.patroni_ca = str(ROOT / SANDBOX["patroni_ca"])
    if a.scale < 1:
        p.error("--scale must be 1 or more")
    if a.duration < 1:
        p.error("--duration must be 1 second or more")
    if a.drain <= 0:
        p.error("--drain must be a positive number of seconds")
    if len([c for c in a.containers.split(",") if c]) < 2:
        p.error("--containers needs the leader's container and at least one replica's")
    errors = scratch_errors(a.scratch, None)
    if errors:
        p.error("; ".join(errors))
    return a


def main(argv=None):
    a = parse_args(argv)
    a.patroni_ca = find_ca(a.patroni_ca)
    if not a.patroni_ca or not Path(a.patroni_ca).is_file():
        raise SystemExit(f"no CA for Patroni's REST API{' at ' + a.patroni_ca if a.patroni_ca else ''}: give "
                         "the deployment's .pki/ca.crt with --patroni-ca (the molecule scenario's is beside "
                         "its inventory in ~/.cache/molecule/<checkout>/default/inventory/.pki/)")
    a.replication_password = replication_password(a.inventory)
    bench = Bench(a, Docker([a.replication_password]))
    try:
        summary = bench.run()
    except CommandFailed as e:
        raise SystemExit(f"failed: {e}") from None
    text = json.dumps(summary, indent=2, sort_keys=True)
    print(table(summary))
    print(step_lines(summary["steps"]))
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
