"""Pigsty's variables: honoured, accepted when they ask for nothing new, or refused by name (pigsty.py)."""

from pathlib import Path

import pytest
from test_inventory_check import errors_of, only_error, set_all, valid_inventory

from ansible_collections.pgha.cloud.plugins.module_utils import inventory_check, pg_objects, pigsty

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, value", [
    ("pg_port", 5432), ("pg_port", "5432"), ("pgb_hba_rules", []), ("pgb_default_hba_rules", []),
    ("patroni_enabled", "yes"), ("pg_hba_rules", []), ("pg_files", []), ("pg_dbsu_password", ""),
    ("node_pip_packages", ""), ("etcd_cluster", "etcd"), ("pg_mode", "pgsql"), ("pg_delay", 0),
    ("pg_port", None),
])
def test_values_that_ask_for_what_is_done_anyway_are_accepted(name, value):
    assert pigsty.refusal(name, value) is None


@pytest.mark.parametrize("name, value", [
    ("pg_port", 5433), ("pgbouncer_log_dir", "/pg/log/pgbouncer"), ("pgb_hba_rules", [{"user": "all"}]),
    ("pg_io_method", "io_uring"),
    ("node_tune", "oltp"), ("patroni_log_dir", "/pg/log/patroni"), ("vip_enabled", True),
])
def test_anything_else_is_refused_by_name_with_what_to_do(name, value):
    message = pigsty.refusal(name, value)
    assert message.startswith(f"{name} is Pigsty's, and this collection does not honour it: ")
    assert pigsty.NOT_HONOURED[name][2] in message
    assert pigsty.DOC in message


def test_names_honoured_here_are_not_in_the_refusal_table():
    # What the roles read with Pigsty's meaning must never be refused.
    honoured = ("pg_cluster", "pg_seq", "pg_role", "pg_version", "pg_users", "pg_databases", "pg_rto",
                "pg_rpo", "pg_vip_address", "pg_vip_interface", "pg_admin_password", "pg_monitor_password",
                "pg_replication_password", "pg_replication_username", "pg_monitor_username", "pg_parameters",
                "patroni_password", "patroni_username", "patroni_port", "pg_dbsu_password",
                "patroni_watchdog_mode", "etcd_root_password", "node_etc_hosts",
                "node_default_etc_hosts", "node_timezone", "node_packages", "node_default_packages",
                "pgbackrest_method", "pgbackrest_repo", "pgbackrest_enabled", "haproxy_admin_password",
                "pgbouncer_enabled", "pgbouncer_port", "pgbouncer_poolmode", "pgbouncer_sslmode",
                "pgbouncer_auth_query", "pgbouncer_ignore_param", "pg_default_service_dest", "pg_conf",
                "pg_max_conn", "pg_shared_buffer_ratio", "pg_storage_type")
    assert not set(honoured) & set(pigsty.NOT_HONOURED)


def test_other_parts_are_recognised():
    for name in ("grafana_admin_password", "minio_cluster", "infra_portal", "region", "repo_enabled"):
        assert pigsty.is_other_part(name)
    for name in ("pg_cluster", "node_tune", "patroni_password"):
        assert not pigsty.is_other_part(name)


def test_the_inventory_check_refuses_once_for_hosts_that_agree():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto_plan", {"fast": [20, 5, 5, 15, 5]})
    message = only_error(hostvars, groups)
    assert message.startswith("hosts 10.210.0.11, 10.210.0.12, 10.210.0.13: pg_rto_plan is Pigsty's")


def test_other_parts_are_listed_not_refused():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "grafana_admin_password", "Sx-grafana-1")
    hostvars["10.210.0.12"]["minio_cluster"] = "minio"
    assert errors_of(hostvars, groups) == []
    assert inventory_check.pigsty_other_parts(hostvars, groups) == ["grafana_admin_password", "minio_cluster"]


def test_pigsty_user_options_not_applied_are_refused_before_any_host_changes():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_users", [
        {"name": "app", "password": "Sx-app-0a1b", "parameters": {"work_mem": "64MB"}, "login": True,
         "expire_in": 30},
        {"name": "viewer", "roles": ["pg_read_all_data"]},
        {"name": "dbrole_readonly", "login": False},
    ])
    errors = errors_of(hostvars, groups)
    assert len(errors) == 3, errors
    assert any("pg_users item 1 (app) has expire_in, which this collection does not apply: use expire_at"
               in error for error in errors), errors
    assert any("pg_users item 1 (app) has parameters, which this collection does not apply" in error
               for error in errors), errors
    assert "pg_users item 2 (viewer) has no password" in errors[2]


@pytest.mark.parametrize("item, fragment", [
    ({"login": "sometimes"}, "login 'sometimes' is not true or false"),
    ({"attributes": "LOGIN", "createdb": True}, "has both attributes and Pigsty's createdb"),
    ({"attributes": "LOGIN,SUPERUSER; DROP"}, "attributes must be a comma-separated list"),
    ({"connlimit": -2}, "connlimit -2 is not a whole number from -1"),
    ({"connlimit": "ten"}, "connlimit 'ten' is not a whole number"),
    ({"comment": "two\nlines"}, "comment must be one line of printable text"),
    ({"expire_at": "2027-02-30"}, "expire_at '2027-02-30' is not a date YYYY-MM-DD or 'infinity'"),
])
def test_bad_values_of_pigsty_user_options(item, fragment):
    problems = pg_objects.user_errors(dict({"name": "app", "password": "Sx-app-0a1b"}, **item))
    assert any(fragment in problem for problem in problems), problems
    assert all("Sx-app-0a1b" not in problem for problem in problems)


def test_user_options_spell_out_pigsty_flags_with_pigsty_defaults():
    users = [
        {"name": "app", "password": "pw", "createdb": True, "connlimit": "50", "comment": "the app",
         "expire_at": "2030-01-01", "roles": ["pg_read_all_data"]},
        {"name": "dbrole_readonly", "login": "no"},
        {"name": "legacy", "password": "pw2", "attributes": "LOGIN,CREATEDB"},
        {"name": "plain", "password": "pw3"},
    ]
    assert pg_objects.user_options(users) == [
        {"name": "app", "password": "pw", "roles": ["pg_read_all_data"], "conn_limit": 50,
         "comment": "the app", "expires": "2030-01-01",
         "attributes": "LOGIN,NOSUPERUSER,CREATEDB,NOCREATEROLE,INHERIT,NOREPLICATION,NOBYPASSRLS"},
        {"name": "dbrole_readonly",
         "attributes": "NOLOGIN,NOSUPERUSER,NOCREATEDB,NOCREATEROLE,INHERIT,NOREPLICATION,NOBYPASSRLS"},
        {"name": "legacy", "password": "pw2", "attributes": "LOGIN,CREATEDB"},
        {"name": "plain", "password": "pw3", "attributes": "LOGIN"},
    ]
    for item in users:
        assert pg_objects.user_errors(item) == []


def test_pigsty_database_options_are_refused():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_databases", [{"name": "meta", "extensions": ["vector"], "revokeconn": True}])
    assert "pg_databases item 1 (meta) has revokeconn, which this collection does not apply" in only_error(
        hostvars, groups)
    set_all(hostvars, "pg_databases", [{"name": "meta", "extensions": [{"name": "vector", "schema": "x y"}]}])
    assert ("pg_databases item 1 (meta) extensions item 1 schema 'x y' is not a plain PostgreSQL name"
            in only_error(hostvars, groups))


@pytest.mark.parametrize("entrypoints, enabled, fragment", [
    (["haproxy"], True, "pg_vip_enabled is true, but Pigsty's L2 VIP is the vip entry point here"),
    (["haproxy", "vip"], False, "pg_vip_enabled is false but pg_entrypoints lists vip"),
    (["haproxy"], "maybe", "pg_vip_enabled 'maybe' is not true or false"),
])
def test_pg_vip_enabled_must_agree_with_the_entry_points(entrypoints, enabled, fragment):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_entrypoints", entrypoints)
    set_all(hostvars, "pg_vip_enabled", enabled)
    set_all(hostvars, "pg_vip_address", "10.210.0.100/24")
    errors = errors_of(hostvars, groups)
    assert any(fragment in error for error in errors), errors


def test_pg_vip_enabled_false_leaves_the_address_unused_on_purpose():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_vip_enabled", False)
    set_all(hostvars, "pg_vip_address", "10.210.0.100/24")
    assert errors_of(hostvars, groups) == []
    # Without Pigsty's switch the stray address is still refused.
    set_all(hostvars, "pg_vip_enabled", None)
    assert "pg_vip_address set but pg_entrypoints does not list vip" in only_error(hostvars, groups)


@pytest.mark.parametrize("value, ok", [
    (["htop", "iotop,sysstat", "postgresql-17-pgvector=0.8.0-1"], True),
    (["htop; rm -rf /"], False), (["htop iotop"], False), ("htop", False), ([["htop"]], False),
])
def test_node_packages_are_debian_package_names(value, ok):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "node_packages", value)
    errors = errors_of(hostvars, groups)
    assert (errors == []) is ok, errors
    if not ok:
        assert "node_packages" in errors[0]


def test_the_docs_hold_the_table():
    text = (ROOT / pigsty.DOC).read_text()
    # Out of step: paste pigsty.markdown_table() into the page.
    assert pigsty.markdown_table() in text


def test_database_options_in_pigsty_shape():
    databases = [{"name": "meta", "owner": "app", "locale": "C.UTF-8", "lc_ctype": "en_US.UTF-8",
                  "template": "template0", "connlimit": 50, "comment": "meta database", "tablespace": "fast"},
                 {"name": "plain"}]
    assert pg_objects.database_options(databases) == [
        {"name": "meta", "owner": "app", "template": "template0", "tablespace": "fast",
         "comment": "meta database", "lc_collate": "C.UTF-8", "lc_ctype": "en_US.UTF-8", "conn_limit": "50"},
        {"name": "plain"},
    ]
    for item in databases:
        assert pg_objects.database_errors(item) == []


def test_schemas_and_extensions_in_pigsty_shape():
    databases = [{"name": "meta", "schemas": ["pigsty", {"name": "app", "owner": "dbuser_meta"},
                                              {"name": "old", "state": "absent"}],
                  "extensions": ["pg_trgm", {"name": "uuid-ossp", "schema": "pigsty", "version": "1.1"},
                                 {"name": "hstore", "state": "absent"}]},
                 {"name": "plain"}]
    assert pg_objects.database_schemas(databases) == [
        {"database": "meta", "name": "pigsty", "state": "present"},
        {"database": "meta", "name": "app", "state": "present", "owner": "dbuser_meta"},
        {"database": "meta", "name": "old", "state": "absent"},
    ]
    assert pg_objects.database_extensions(databases) == [
        {"database": "meta", "name": "pg_trgm", "state": "present"},
        {"database": "meta", "name": "uuid-ossp", "state": "present", "schema": "pigsty", "version": "1.1"},
        {"database": "meta", "name": "hstore", "state": "absent"},
    ]
    for item in databases:
        assert pg_objects.database_errors(item) == []


@pytest.mark.parametrize("item, fragment", [
    ({"schemas": "pigsty"}, "schemas is not a list; write it as in Pigsty"),
    ({"schemas": ["Bad Name"]}, "schemas item 1 name 'Bad Name' is not a plain PostgreSQL name"),
    ({"schemas": [{"name": "app", "owner": "x; DROP"}]}, "schemas item 1 owner 'x; DROP' is not a plain"),
    ({"schemas": [{"owner": "app"}]}, "schemas item 1 is neither a name nor a mapping with a name"),
    ({"schemas": [{"name": "app", "state": "gone"}]}, "schemas item 1 state 'gone' is not present or absent"),
    ({"schemas": [{"name": "app", "comment": "x"}]}, "item 1 has comment; it takes name, owner, state"),
    ({"extensions": [{"name": "vector", "version": "0.8 ;"}]}, "extensions item 1 version '0.8 ;' is not"),
    ({"extensions": ["pg_trgm", "vector\n"]}, "extensions item 2 name 'vector\\n' is not valid"),
    ({"extensions": [{"name": "vector", "schema": "Pub lic"}]}, "extensions item 1 schema 'Pub lic' is not"),
    ({"extensions": [7]}, "extensions item 1 is neither a name nor a mapping with a name"),
])
def test_bad_schemas_and_extensions(item, fragment):
    problems = pg_objects.database_errors(dict({"name": "meta"}, **item))
    assert any(fragment in problem for problem in problems), problems


@pytest.mark.parametrize("item, fragment", [
    ({"baseline": "cmdb.sql"}, "has baseline, which this collection does not apply"),
    ({"template": "Template0; DROP"}, "template 'Template0; DROP' is not a plain PostgreSQL name"),
    ({"locale": "en US"}, "locale 'en US' is not a locale name"),
    ({"encoding": "UTF 8"}, "encoding 'UTF 8' is not an encoding name"),
    ({"connlimit": True}, "connlimit True is not a whole number"),
    ({"comment": ["a"]}, "comment must be one line of printable text"),
])
def test_bad_pigsty_database_options(item, fragment):
    problems = pg_objects.database_errors(dict({"name": "meta"}, **item))
    assert any(fragment in problem for problem in problems), problems


def test_pigsty_user_names_are_aliases_of_ours():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_replication_username", "replicator")
    set_all(hostvars, "pg_monitor_username", "dbuser_monitor")
    assert errors_of(hostvars, groups) == []
    set_all(hostvars, "patroni_monitor_username", "dbmonitor")
    assert "pg_monitor_username (Pigsty's name) and patroni_monitor_username differ" in only_error(
        hostvars, groups)
    set_all(hostvars, "patroni_monitor_username", None)
    set_all(hostvars, "pg_replication_username", "repl icator")
    assert "pg_replication_username 'repl icator' is not a valid PostgreSQL role name" in only_error(
        hostvars, groups)


@pytest.mark.parametrize("value, fragment", [
    ({"work_mem": "16MB", "pg_stat_statements.max": 5000, "jit": False}, None),
    ("work_mem=16MB", "pg_parameters is not a mapping"),
    ({"work mem": "16MB"}, "pg_parameters has 'work mem', which is not a PostgreSQL setting name"),
    ({"work_mem": "16MB\nlisten_addresses = '*'"}, "pg_parameters work_mem"),
    ({"search_path": ["a", "b"]}, "pg_parameters search_path is not a single value"),
])
def test_pg_parameters_are_checked_before_patroni_writes_them(value, fragment):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_parameters", value)
    errors = errors_of(hostvars, groups)
    if fragment is None:
        assert errors == []
    else:
        assert any(fragment in error for error in errors), errors


def test_pg_parameters_are_cluster_wide_and_agree_with_ours():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.11"]["pg_parameters"] = {"work_mem": "16MB"}
    assert "pg_parameters differs between hosts of the cluster" in only_error(hostvars, groups)
    set_all(hostvars, "pg_parameters", {"work_mem": "16MB"})
    set_all(hostvars, "patroni_postgresql_parameters", {"work_mem": "32MB"})
    assert "pg_parameters (Pigsty's name) and patroni_postgresql_parameters differ" in only_error(
        hostvars, groups)


def test_pigsty_password_names_must_not_contradict_ours():
    hostvars, groups = valid_inventory()
    # playbooks/pigsty_names.yml copies Pigsty's value into ours when ours is unset: then they agree.
    set_all(hostvars, "patroni_password", hostvars["10.210.0.11"]["patroni_rest_password"])
    assert errors_of(hostvars, groups) == []
    set_all(hostvars, "patroni_password", "Sx-other-9f9f")
    message = only_error(hostvars, groups)
    assert "patroni_password (Pigsty's name) and patroni_rest_password differ; keep one of them" in message
    assert "Sx-other-9f9f" not in message


def test_pigsty_patroni_port_is_taken_and_must_agree_with_ours():
    hostvars, groups = valid_inventory()
    # pigsty_names.yml takes patroni_port as patroni_rest_port: both then hold Pigsty's value.
    set_all(hostvars, "patroni_port", 8009)
    set_all(hostvars, "patroni_rest_port", 8009)
    assert errors_of(hostvars, groups) == []
    set_all(hostvars, "patroni_rest_port", 8010)
    assert "patroni_port (Pigsty's name) and patroni_rest_port differ; keep one of them" in only_error(
        hostvars, groups)
