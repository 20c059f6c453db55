# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pigsty's pg_conf tuning profiles: oltp, olap, tiny and crit.

In Pigsty, pg_conf names the Patroni template a cluster is rendered from;
each sizes PostgreSQL from the node's memory, CPUs and disk and sets a
workload's defaults. Here the same four profiles give PostgreSQL parameters
that the patroni role merges between the collection's base settings and the
user's pg_parameters (the user always wins), and `crit` also turns on
Patroni's synchronous_mode_strict, as in Pigsty. Parameters live in the DCS
and are one per cluster, so a cluster is sized after its smallest member
(memory, CPUs and the disk that holds the data directory).

What is left out of Pigsty's templates, on purpose: where logs go (they stay
in Patroni's journal), paths, TLS and archiving (the collection's own
settings), io_method and file_copy_method (PostgreSQL 18 builds differ),
sync_replication_slots (needs a dbname in primary_conninfo), and the
libraries Pigsty preloads when pg_libs is unset (pg_libs is never defaulted
here; crit's passwordcheck among them). Settings of a library
(auto_explain.*, pg_stat_statements.*) are written only when pg_libs loads it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.pgha.cloud.plugins.module_utils.cluster import as_int

PROFILES = ("oltp", "olap", "tiny", "crit")
STORAGE_TYPES = ("SSD", "HDD")
GIB = 1024 ** 3
MIN_MAX_CONN = 20


def profile(value):
    """pg_conf as a profile name ('oltp', ...), None when unset. ValueError names the fix."""
    if value in (None, ""):
        return None
    name = value[:-4] if isinstance(value, str) and value.endswith(".yml") else value
    if name not in PROFILES:
        raise ValueError(f"pg_conf is {value!r}; use one of Pigsty's profiles "
                         f"{', '.join(p + '.yml' for p in PROFILES)} (custom template files are not read: "
                         "set their parameters in pg_parameters)")
    return name


def max_conn(value):
    """pg_max_conn: None for 'auto' (or unset), else an int >= 20."""
    if value in (None, "", "auto"):
        return None
    number = as_int(value)
    if number is None or number < MIN_MAX_CONN:
        # Pigsty takes a value under 20 as auto; refuse it rather than drop it in silence.
        raise ValueError(f"pg_max_conn is {value!r}; use auto or a number of connections of at least "
                         f"{MIN_MAX_CONN}")
    return number


def buffer_ratio(value):
    """pg_shared_buffer_ratio: the share of memory for shared_buffers, 0.01 to 0.4 (default 0.25)."""
    if value in (None, ""):
        return 0.25
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        ratio = None
    if isinstance(value, bool) or ratio is None or not 0.01 <= ratio <= 0.4:
        raise ValueError(f"pg_shared_buffer_ratio is {value!r}; use a share of memory between 0.01 and 0.4 "
                         "(Pigsty's default 0.25)")
    return ratio


def storage_type(value):
    """pg_storage_type: SSD (default) or HDD."""
    if value in (None, ""):
        return "SSD"
    if value not in STORAGE_TYPES:
        raise ValueError(f"pg_storage_type is {value!r}; use SSD or HDD")
    return value


VARIABLES = ("pg_conf", "pg_max_conn", "pg_shared_buffer_ratio", "pg_storage_type")


def check(settings):
    """Error strings for the pg_conf family of one host's variables (`settings` maps name to value)."""
    errors = []
    for name, parse in zip(VARIABLES, (profile, max_conn, buffer_ratio, storage_type)):
        try:
            parse(settings.get(name))
        except ValueError as exc:
            errors.append(str(exc))
    try:
        crit = profile(settings.get("pg_conf")) == "crit"
    except ValueError:
        crit = False
    rpo = settings.get("pg_rpo")
    # Unset is 0 here; a value that is no integer is _rpo_errors' to report.
    if crit and as_int(rpo) not in (None, 0):
        errors.append(f"pg_conf crit.yml means synchronous replication in strict mode, and pg_rpo is {rpo!r} "
                      "(asynchronous); set pg_rpo: 0 or choose another pg_conf")
    return errors


def hardware(facts_by_host, data_dir):
    """{memory_mb, cpus, disk_bytes} of the smallest member, from each member's Ansible facts.

    The disk is the mount that holds `data_dir` (the longest mount point above
    it). ValueError names a member whose facts lack a figure.
    """
    memory, cpus, disk = [], [], []
    for host, facts in sorted(facts_by_host.items()):
        facts = facts or {}
        mem = facts.get("memtotal_mb")
        cpu = facts.get("processor_vcpus") or facts.get("processor_count")
        if not mem or not cpu:
            raise ValueError(f"host {host}: no memory or CPU count in its facts; gather them "
                             "(ansible.builtin.setup, gather_subset hardware) before sizing pg_conf")
        memory.append(int(mem))
        cpus.append(int(cpu))
        mounts = [m for m in facts.get("mounts") or []
                  if data_dir == m.get("mount") or data_dir.startswith(m.get("mount", "").rstrip("/") + "/")]
        if mounts:
            disk.append(int(max(mounts, key=lambda m: len(m["mount"])).get("size_total") or 0))
    if not memory:
        raise ValueError("no member to size pg_conf after")
    return {"memory_mb": min(memory), "cpus": min(cpus), "disk_bytes": min(disk) if disk else 0}


def _gb(value):
    return f"{int(value)}GB"


def parameters(name, hw, version, libraries=(), connections=None, ratio=0.25, storage="SSD", pooled=False):
    """PostgreSQL parameters of profile `name` for hardware `hw` (see hardware()).

    `connections` is pg_max_conn (None: the profile's own), `pooled` whether
    clients come through pgbouncer (oltp and crit then size for 500, not 1000).
    """
    version = int(version)
    mem, cpu = int(hw["memory_mb"]), int(hw["cpus"])
    olap, tiny, crit = name == "olap", name == "tiny", name == "crit"

    if connections is None:
        connections = 500 if olap else 250 if tiny else 500 if pooled else 1000
    heavy_locks = "citus" in libraries or "timescaledb" in libraries
    locks = connections * (2 if heavy_locks else 1) * (2 if olap else 1)
    buffers = math.ceil(mem * ratio)
    work_mem = min(max(buffers // connections, 16 if tiny else 64), 256 if tiny else 8192 if olap else 1024)
    # A twentieth of the disk in GB (1 to 100): WAL and temp-file bounds grow with the disk.
    twentieth = min(max(math.ceil(hw.get("disk_bytes", 0) / (20 * GIB)), 1), 100)

    if olap:
        workers, parallel = max(cpu + 12, 20), max(math.ceil(cpu * 0.8), 2)
        per_gather = max(cpu // 2, 2)
    elif tiny:
        workers, parallel, per_gather = max(cpu + 4, 12), max(cpu // 2, 1), 0
    else:
        workers, parallel = max(cpu + 8, 16), max(math.ceil(cpu * 0.5), 2)
        per_gather = 0 if crit else min(max(int(cpu * 0.2), 2), 8)
    maintenance_workers = max(int(cpu * 0.33), 1) if tiny else max(math.ceil(cpu * 0.33), 2)

    values = {
        "max_connections": connections,
        "superuser_reserved_connections": 10,
        "max_locks_per_transaction": locks,
        "max_prepared_transactions": connections if "citus" in libraries else 0,
        "shared_buffers": f"{buffers}MB",
        "maintenance_work_mem": f"{math.ceil(buffers * (0.5 if olap else 0.25))}MB",
        "effective_cache_size": f"{max(mem - buffers, 1)}MB",
        "work_mem": f"{work_mem}MB",
        "huge_pages": "try",
        "max_worker_processes": workers + 8,
        "max_parallel_workers": parallel,
        "max_parallel_workers_per_gather": per_gather,
        "max_parallel_maintenance_workers": maintenance_workers,
        "track_commit_timestamp": "on",
        "wal_level": "logical",
        "wal_log_hints": "on",
        "max_wal_senders": 50,
        "max_replication_slots": 50,
        "wal_buffers": "16MB",
        "wal_writer_delay": "10ms" if crit else "20ms",
        "wal_writer_flush_after": "0" if crit else "1MB",
        "commit_delay": 20,
        "commit_siblings": 10,
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": 0.95,
        "min_wal_size": _gb(min(twentieth, 200)),
        "max_wal_size": _gb(min(twentieth * 4, 2000)),
        "max_slot_wal_keep_size": _gb(min(twentieth * 6, 3000)),
        "temp_file_limit": _gb(min(twentieth * 4, 2000) if olap else min(twentieth, 200)),
        "vacuum_cost_delay": "10ms" if olap else "20ms",
        "vacuum_cost_limit": 10000 if olap else 2000,
        "bgwriter_delay": "10ms",
        "bgwriter_lru_maxpages": 800,
        "bgwriter_lru_multiplier": 5.0,
        "max_standby_archive_delay": "10min",
        "max_standby_streaming_delay": "3min",
        "wal_receiver_status_interval": "1s",
        "hot_standby_feedback": "on",
        "wal_receiver_timeout": "60s",
        "max_logical_replication_workers": 8,
        "max_sync_workers_per_subscription": 6,
        "default_statistics_target": 1000 if olap else 200 if tiny else 400,
        "log_checkpoints": "on",
        "log_lock_waits": "on",
        "log_temp_files": 1024,
        "log_replication_commands": "on",
        "log_statement": "ddl",
        "log_min_duration_statement": 100,
        "log_autovacuum_min_duration": "1s",
        "track_io_timing": "on",
        "track_functions": "all",
        "track_activity_query_size": 32768 if crit else 8192,
        "autovacuum_max_workers": 2 if tiny else 3,
        "autovacuum_naptime": "1min",
        "autovacuum_vacuum_threshold": 500,
        "autovacuum_analyze_threshold": 250,
        "autovacuum_vacuum_cost_delay": -1,
        "autovacuum_vacuum_cost_limit": -1,
        "autovacuum_freeze_max_age": 1000000000,
        "deadlock_timeout": "50ms",
        "idle_in_transaction_session_timeout": "1min" if crit else "10min",
    }
    if not tiny:
        values.update(autovacuum_vacuum_scale_factor=0.08, autovacuum_analyze_scale_factor=0.04)
    if not (olap or tiny):
        # Make parallel plans less eager on a transactional workload.
        values.update(parallel_setup_cost=2000, parallel_tuple_cost=0.2,
                      min_parallel_table_scan_size="32MB", min_parallel_index_scan_size="2MB")
    if olap:
        values.update(enable_partitionwise_join="on", enable_partitionwise_aggregate="on")
    if storage == "SSD":
        values.update(random_page_cost=1.1, effective_io_concurrency=200, maintenance_io_concurrency=100)
    if version >= 15:
        values["wal_compression"] = "lz4"
    if version >= 18:
        values["idle_replication_slot_timeout"] = "3d" if crit else "7d"
    if crit:
        values.update(log_connections="on", log_disconnections="on")
        if version <= 15:
            values["vacuum_defer_cleanup_age"] = 500000
    if "auto_explain" in libraries:
        values.update({"auto_explain.log_min_duration": "1s", "auto_explain.log_analyze": "on",
                       "auto_explain.log_verbose": "on", "auto_explain.log_timing": "on",
                       "auto_explain.log_nested_statements": "on"})
    if "pg_stat_statements" in libraries:
        values.update({"pg_stat_statements.max": 2500 if tiny else 10000, "pg_stat_statements.track": "all",
                       "pg_stat_statements.track_utility": "off", "pg_stat_statements.track_planning": "off"})
    return values


def settings(name, facts_by_host, data_dir, version, libraries=(), max_connections=None, ratio=None,
             storage=None, pooled=False):
    """{parameters, synchronous_mode_strict} for pg_conf `name`; {} when pg_conf is unset."""
    name = profile(name)
    if name is None:
        return {}
    hw = hardware(facts_by_host, data_dir)
    return {
        "parameters": parameters(name, hw, version, libraries, max_conn(max_connections), buffer_ratio(ratio),
                                 storage_type(storage), pooled),
        "synchronous_mode_strict": name == "crit",
        "hardware": hw,
    }
