"""Pigsty's pg_conf profiles: sizing, the profile's own settings, and the preflight's checks (pg_conf.py)."""

import pytest
from test_inventory_check import H1, H2, errors_of, only_error, set_all, valid_inventory

from ansible_collections.pgha.cloud.plugins.filter.pgha import pg_conf_settings
from ansible_collections.pgha.cloud.plugins.module_utils import pg_conf

GIB = 1024 ** 3
DATA = "/var/lib/postgresql/17/pg-test"


def facts(memory_mb=16384, cpus=8, mounts=(("/", 200 * GIB),)):
    return {"memtotal_mb": memory_mb, "processor_vcpus": cpus,
            "mounts": [{"mount": mount, "size_total": size} for mount, size in mounts]}


def sized(name, version=17, libraries=(), **hardware):
    return pg_conf.parameters(name, pg_conf.hardware({"h": facts(**hardware)}, DATA), version, libraries)


@pytest.mark.parametrize("value, name", [("oltp.yml", "oltp"), ("olap", "olap"), ("tiny.yml", "tiny"),
                                         ("crit.yml", "crit"), (None, None), ("", None)])
def test_profiles_are_pigsty_file_names_with_or_without_the_suffix(value, name):
    assert pg_conf.profile(value) == name


@pytest.mark.parametrize("value", ["custom.yml", "OLTP.yml", "oltp.yaml", 1])
def test_other_profiles_are_refused_with_what_to_do(value):
    pattern = r"pg_conf is .*oltp\.yml, olap\.yml, tiny\.yml, crit\.yml.*pg_parameters"
    with pytest.raises(ValueError, match=pattern):
        pg_conf.profile(value)


def test_oltp_sizes_memory_cpus_and_disk_as_pigsty_does():
    values = sized("oltp")
    assert values["max_connections"] == 1000
    assert values["shared_buffers"] == "4096MB"  # a quarter of 16 GiB
    assert values["effective_cache_size"] == "12288MB"
    assert values["maintenance_work_mem"] == "1024MB"
    assert values["work_mem"] == "64MB"  # 4096 MB / 1000 connections is under the 64 MB floor
    assert values["max_locks_per_transaction"] == 1000
    assert values["max_prepared_transactions"] == 0
    # 200 GiB disk: a twentieth is 10 GB.
    assert (values["min_wal_size"], values["max_wal_size"], values["max_slot_wal_keep_size"],
            values["temp_file_limit"]) == ("10GB", "40GB", "60GB", "10GB")
    assert (values["max_worker_processes"], values["max_parallel_workers"],
            values["max_parallel_workers_per_gather"],
            values["max_parallel_maintenance_workers"]) == (24, 4, 2, 3)
    assert values["wal_level"] == "logical" and values["wal_compression"] == "lz4"
    assert values["random_page_cost"] == 1.1 and values["parallel_setup_cost"] == 2000
    assert "idle_replication_slot_timeout" not in values  # PostgreSQL 18 only


def test_big_nodes_hit_the_caps():
    values = sized("oltp", memory_mb=4 * 1024 * 1024, cpus=128, mounts=(("/", 10 * 1024 * GIB),))
    assert values["work_mem"] == "1024MB"
    assert values["max_parallel_workers_per_gather"] == 8
    bounds = (values["min_wal_size"], values["max_wal_size"], values["temp_file_limit"])
    assert bounds == ("100GB", "400GB", "100GB")


def test_pooled_clients_halve_the_transactional_connections():
    hw = pg_conf.hardware({"h": facts()}, DATA)
    assert pg_conf.parameters("oltp", hw, 17, pooled=True)["max_connections"] == 500
    assert pg_conf.parameters("crit", hw, 17, pooled=True)["max_connections"] == 500
    assert pg_conf.parameters("olap", hw, 17, pooled=False)["max_connections"] == 500
    assert pg_conf.parameters("oltp", hw, 17, connections=300, pooled=True)["max_connections"] == 300


def test_olap_favours_big_queries():
    values = sized("olap", memory_mb=65536, cpus=16)
    assert values["max_connections"] == 500
    assert values["max_locks_per_transaction"] == 1000
    assert values["maintenance_work_mem"] == "8192MB"  # half the buffers
    assert values["work_mem"] == "64MB"
    assert values["max_parallel_workers_per_gather"] == 8 and values["max_parallel_workers"] == 13
    assert values["temp_file_limit"] == "40GB"
    assert values["enable_partitionwise_join"] == "on" and "parallel_setup_cost" not in values
    assert values["default_statistics_target"] == 1000


def test_tiny_stays_small_and_serial():
    values = sized("tiny", memory_mb=1024, cpus=1, mounts=(("/", 20 * GIB),))
    assert values["max_connections"] == 250
    assert values["shared_buffers"] == "256MB"
    assert values["work_mem"] == "16MB"
    assert values["max_parallel_workers_per_gather"] == 0
    assert values["max_parallel_workers"] == 1 and values["max_parallel_maintenance_workers"] == 1
    assert values["autovacuum_max_workers"] == 2 and "autovacuum_vacuum_scale_factor" not in values


def test_crit_is_strict_and_careful():
    settings = pg_conf.settings("crit.yml", {"h": facts()}, DATA, 15)
    assert settings["synchronous_mode_strict"] is True
    values = settings["parameters"]
    assert values["max_parallel_workers_per_gather"] == 0
    assert values["wal_writer_flush_after"] == "0"
    assert values["idle_in_transaction_session_timeout"] == "1min"
    assert values["log_connections"] == "on" and values["log_disconnections"] == "on"
    assert values["vacuum_defer_cleanup_age"] == 500000  # gone after PostgreSQL 15
    assert "vacuum_defer_cleanup_age" not in pg_conf.settings("crit", {"h": facts()}, DATA, 16)["parameters"]
    assert pg_conf.settings("oltp", {"h": facts()}, DATA, 18)["synchronous_mode_strict"] is False


def test_version_gates():
    assert "wal_compression" not in sized("oltp", version=14)
    assert sized("oltp", version=18)["idle_replication_slot_timeout"] == "7d"
    assert sized("crit", version=18)["idle_replication_slot_timeout"] == "3d"


def test_library_settings_only_for_loaded_libraries():
    assert not [name for name in sized("oltp") if "." in name]
    values = sized("oltp", libraries=("pg_stat_statements", "auto_explain"))
    assert values["pg_stat_statements.max"] == 10000 and values["auto_explain.log_min_duration"] == "1s"
    assert sized("oltp", libraries=("citus",))["max_prepared_transactions"] == 1000
    assert sized("oltp", libraries=("timescaledb",))["max_locks_per_transaction"] == 2000


def test_hdd_keeps_postgres_io_costs():
    hw = pg_conf.hardware({"h": facts()}, DATA)
    assert "random_page_cost" not in pg_conf.parameters("oltp", hw, 17, storage="HDD")


def test_the_cluster_is_sized_after_its_smallest_member_and_the_data_disk():
    members = {
        "a": facts(memory_mb=32768, cpus=16, mounts=(("/", 40 * GIB), ("/var/lib/postgresql", 400 * GIB))),
        "b": facts(memory_mb=8192, cpus=4, mounts=(("/", 40 * GIB), ("/var/lib/postgresql", 800 * GIB),
                                                   ("/var/lib/postgresql-old", 1 * GIB))),
    }
    assert pg_conf.hardware(members, DATA) == {"memory_mb": 8192, "cpus": 4, "disk_bytes": 400 * GIB}


def test_a_member_without_facts_is_named():
    with pytest.raises(ValueError, match="host b: no memory or CPU count"):
        pg_conf.hardware({"a": facts(), "b": {"mounts": []}}, DATA)


def test_without_a_profile_nothing_is_set_and_no_facts_are_needed():
    assert pg_conf.settings(None, {"a": {}}, DATA, 17) == {}


def test_the_filter_reads_the_members_facts():
    hostvars = {"a": {"ansible_facts": facts(memory_mb=2048)}, "b": {"ansible_facts": facts()}}
    result = pg_conf_settings(hostvars, ["a", "b"], conf="oltp.yml", data_dir=DATA, version=17,
                              libraries=["auto_explain"], ratio=0.5 / 2, pooled=True)
    assert result["parameters"]["shared_buffers"] == "512MB"
    assert result["parameters"]["max_connections"] == 500
    assert result["hardware"]["memory_mb"] == 2048


@pytest.mark.parametrize("name, value, fragment", [
    ("pg_max_conn", 10, "pg_max_conn is 10; use auto or a number of connections of at least 20"),
    ("pg_max_conn", "many", "pg_max_conn is 'many'"),
    ("pg_max_conn", 20.5, "pg_max_conn is 20.5; use auto or a number"),
    ("pg_shared_buffer_ratio", 0.6,
     "pg_shared_buffer_ratio is 0.6; use a share of memory between 0.01 and 0.4"),
    ("pg_storage_type", "NVMe", "pg_storage_type is 'NVMe'; use SSD or HDD"),
    ("pg_conf", "mine.yml", "pg_conf is 'mine.yml'"),
])
def test_the_preflight_refuses_bad_sizing_values(name, value, fragment):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    message = only_error(hostvars, groups)
    assert message.startswith("cluster pg-test, hosts 10.210.0.11, 10.210.0.12, 10.210.0.13: ")
    assert fragment in message


def test_the_preflight_accepts_pigsty_values():
    hostvars, groups = valid_inventory()
    for name, value in (("pg_conf", "crit.yml"), ("pg_max_conn", "auto"), ("pg_shared_buffer_ratio", 0.25),
                        ("pg_storage_type", "HDD")):
        set_all(hostvars, name, value)
    assert errors_of(hostvars, groups) == []


def test_crit_with_asynchronous_replication_is_refused():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_conf", "crit.yml")
    set_all(hostvars, "pg_rpo", 1048576)
    message = only_error(hostvars, groups)
    assert "pg_conf crit.yml means synchronous replication in strict mode, and pg_rpo is 1048576" in message


@pytest.mark.parametrize("rpo", [0, "0", "00", None])
def test_crit_with_synchronous_replication_is_accepted(rpo):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_conf", "crit.yml")
    set_all(hostvars, "pg_rpo", rpo)
    assert errors_of(hostvars, groups) == []


def test_members_must_agree_on_the_profile():
    hostvars, groups = valid_inventory()
    hostvars[H1]["pg_conf"] = "oltp.yml"
    hostvars[H2]["pg_conf"] = "olap.yml"
    assert "pg_conf differs between hosts of the cluster" in only_error(hostvars, groups)
