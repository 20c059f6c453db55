"""pgbouncer with Pigsty's names (plugins/module_utils/pgbouncer.py): what it pools, who logs in, where
HAProxy and the firewall send clients, and what the preflight refuses."""

from pathlib import Path

import jinja2
import pytest
import yaml
from test_firewall import rules_of, sandbox
from test_inventory_check import H1, H3, errors_of, only_error, set_all, valid_inventory

from ansible_collections.pgha.cloud.plugins.module_utils import cluster, haproxy, inventory_check, pgbouncer

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "pgbouncer"
ROLE_DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
SOURCES = ["127.0.0.1/32", "10.210.0.11", "10.210.0.12", "10.1.0.0/24"]


def pooled_inventory(**extra):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbouncer_enabled", True)
    for name, value in extra.items():
        set_all(hostvars, name, value)
    return hostvars, groups


# ---------------------------------------------------------------- mirrors of role defaults

def test_the_mirrored_defaults_equal_the_roles():
    assert ROLE_DEFAULTS["pgbouncer_port"] == pgbouncer.DEFAULT_PORT
    assert ROLE_DEFAULTS["pgbouncer_auth_username"] == pgbouncer.DEFAULT_AUTH_USER
    assert ROLE_DEFAULTS["pgbouncer_poolmode"] in pgbouncer.POOL_MODES
    # pgbouncer_enabled has no role default: the playbooks, the patroni role and
    # the preflight read it with the same default.
    default = "default(true)" if pgbouncer.ENABLED_DEFAULT else "default(false)"
    for path in ("playbooks/pgsql.yml", "playbooks/add_replica.yml", "playbooks/remove_replica.yml",
                 "playbooks/remove_cluster.yml", "roles/patroni/defaults/main.yml", "playbooks/drill.yml"):
        text = (ROOT / path).read_text()
        assert f"pgbouncer_enabled | {default}" in text, path
        assert "pgbouncer_enabled | default(" + ("false" if pgbouncer.ENABLED_DEFAULT else "true") not in text


# ---------------------------------------------------------------- databases, users, rules

def test_every_database_is_pooled_over_the_socket_unless_it_says_false():
    entries = pgbouncer.database_entries([
        {"name": "meta"},
        {"name": "olap", "pgbouncer": "no"},
        {"name": "app", "pool_mode": "session", "pool_size": "20", "pool_size_min": 2, "pool_reserve": 5,
         "pool_connlimit": 80, "comment": "ignored here"},
    ], 5432)
    assert entries == [
        {"name": "meta", "connect": "host=/var/run/postgresql port=5432 dbname=meta"},
        {"name": "app", "connect": "host=/var/run/postgresql port=5432 dbname=app pool_mode=session "
                                   "pool_size=20 min_pool_size=2 reserve_pool=5 max_db_connections=80"},
    ]


def test_pool_settings_of_a_user_are_refused_with_the_reason():
    hostvars, groups = pooled_inventory(pg_users=[{"name": "app", "password": "Sx-a-1",
                                                   "pool_mode": "session"}])
    message = only_error(hostvars, groups)
    assert "pg_users item 1 (app) has pool_mode, which this collection does not apply" in message
    assert "skips auth_query" in message and "on the database (pg_databases) instead" in message


@pytest.mark.parametrize("auth_query, expected", [
    (False, ["dbadmin", "app"]),
    (True, ["all"]),
])
def test_who_may_log_in_follows_pigstys_flag_or_auth_query(auth_query, expected):
    users = [{"name": "app", "pgbouncer": True}, {"name": "viewer"}, {"name": "etl", "pgbouncer": "off"},
             {"name": "dbadmin", "pgbouncer": True}]
    assert pgbouncer.allowed_users(users, "dbadmin", auth_query) == expected


def test_rules_are_scram_on_the_socket_and_from_the_sources_tls_when_asked():
    assert pgbouncer.hba_lines(["dbadmin", "app"], ["127.0.0.1/32", "10.0.0.0/8"], tls=True) == [
        "local all dbadmin,app scram-sha-256",
        "hostssl all dbadmin,app 127.0.0.1/32 scram-sha-256",
        "hostssl all dbadmin,app 10.0.0.0/8 scram-sha-256",
    ]
    plain = pgbouncer.hba_lines(["all"], ["10.0.0.0/8"], tls=False)
    assert plain[1] == "host all all 10.0.0.0/8 scram-sha-256"


def test_the_config_turns_addresses_into_host_networks():
    config = pgbouncer.config([{"name": "app", "pgbouncer": True}], [{"name": "verify"}], 5432, "dbadmin",
                              "false", SOURCES, True)
    assert config["hba"][2] == "hostssl all dbadmin,app 10.210.0.11/32 scram-sha-256"
    assert config["auth_query"] == "SELECT usename, passwd FROM pgbouncer.user_secret($1)"
    assert config["databases"][0]["name"] == "verify"


@pytest.mark.parametrize("source", ["10.0.0.1 trust", "10.0.0.1#", "10.0.0.1\nlocal all all trust", "",
                                    "a,b"])
def test_a_source_that_could_change_the_file_is_refused(source):
    with pytest.raises(ValueError, match="is not an address or a network for pgb_hba.conf"):
        pgbouncer.config([], [], 5432, "dbadmin", False, [source], True)


def test_the_secret_function_never_hands_out_a_privileged_role():
    sql = pgbouncer.auth_function_sql("pgbouncer", ["rewind", "pgbouncer", "rewind"])
    assert "SECURITY DEFINER" in sql
    assert "SET search_path = pg_catalog" in sql
    assert "NOT rolsuper AND NOT rolreplication" in sql and "rolcanlogin" in sql
    assert "rolname <> ALL (ARRAY['pgbouncer', 'rewind']::text[])" in sql
    assert "REVOKE ALL ON FUNCTION pgbouncer.user_secret(text) FROM PUBLIC" in sql
    assert "GRANT EXECUTE ON FUNCTION pgbouncer.user_secret(text) TO pgbouncer" in sql
    # Grants that default privileges gave other roles (Pigsty's dbrole_*) are taken back.
    assert "a.grantee NOT IN (p.proowner, 'pgbouncer'::regrole)" in sql
    assert "REVOKE ALL ON FUNCTION pgbouncer.user_secret(text) FROM %s" in sql
    assert "a.grantee NOT IN (n.nspowner, 'pgbouncer'::regrole)" in sql
    assert sql.endswith("END $do$")
    assert "'o''brien'" in pgbouncer.auth_function_sql("pgbouncer", ["o'brien"])


def test_the_template_renders_what_the_config_says():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
                             keep_trailing_newline=True, trim_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["bool"] = bool
    config = pgbouncer.config([{"name": "app", "pgbouncer": True}],
                              [{"name": "verify", "pool_size": 20}], 5432, "dbadmin", False, SOURCES, True)
    values = {key: value for key, value in ROLE_DEFAULTS.items() if "{{" not in str(value)}
    values.update(ansible_managed="managed", pg_cluster="pg-test", __pgbouncer_config=config,
                  inventory_hostname=H1,
                  pgbouncer_sslmode="require", pgbouncer_listen="10.210.0.11,127.0.0.1",
                  pgbouncer_tls_dir="/etc/pgha/tls", pgbouncer_parameters={"stats_period": 30})
    ini = env.get_template("pgbouncer.ini.j2").render(values)
    assert "verify = host=/var/run/postgresql port=5432 dbname=verify pool_size=20\n" in ini
    assert "[users]" not in ini
    assert "auth_user = pgbouncer\n" in ini
    assert "auth_query = SELECT usename, passwd FROM pgbouncer.user_secret($1)\n" in ini
    assert "client_tls_sslmode = require\nclient_tls_cert_file = /etc/pgha/tls/node.crt\n" in ini
    assert "listen_addr = 10.210.0.11,127.0.0.1\nlisten_port = 6432\n" in ini
    assert "stats_period = 30\n" in ini
    assert "password =" not in ini
    values["pgbouncer_auth_query"] = False
    hba = env.get_template("pgb_hba.conf.j2").render(values)
    assert hba.splitlines()[-1] == "hostssl all dbadmin,app 10.1.0.0/24 scram-sha-256"


# ---------------------------------------------------------------- PostgreSQL's side

def test_the_pooler_role_logs_in_by_peer_on_the_socket_and_never_over_the_network():
    rules = cluster.hba_rules(["10.0.0.1"], [], "postgres", "replicator", pooler_user="pgbouncer")
    assert rules[:2] == ["local all postgres peer", "local all pgbouncer peer map=pgha_pgbouncer"]
    assert "host all pgbouncer all reject" in rules
    assert rules.index("host all pgbouncer all reject") < rules.index("local all all scram-sha-256")
    assert cluster.pg_ident_lines("pgbouncer") == ["pgha_pgbouncer postgres pgbouncer"]
    assert cluster.pg_ident_lines("") == []
    without = cluster.hba_rules(["10.0.0.1"], [], "postgres", "replicator")
    assert not any("pgbouncer" in rule for rule in without)


# ---------------------------------------------------------------- HAProxy and the firewall

@pytest.mark.parametrize("settings, ports", [
    ({}, {"primary": 5432, "replica": 5432, "default": 5432, "offline": 5432}),
    ({"pgbouncer_enabled": True}, {"primary": 6432, "replica": 6432, "default": 5432, "offline": 5432}),
    ({"pgbouncer_enabled": True, "pgbouncer_port": 6543},
     {"primary": 6543, "replica": 6543, "default": 5432, "offline": 5432}),
    ({"pgbouncer_enabled": True, "pg_default_service_dest": "postgres"},
     {"primary": 5432, "replica": 5432, "default": 5432, "offline": 5432}),
    ({"pgbouncer_enabled": True, "pg_services": [{"name": "pooled", "port": 5440, "dest": "pgbouncer"},
                                                 {"name": "direct", "port": 5441, "dest": 5432}]},
     {"primary": 6432, "replica": 6432, "default": 5432, "offline": 5432, "pooled": 6432, "direct": 5432}),
])
def test_haproxy_leads_the_primary_and_replica_services_where_pg_default_service_dest_says(settings, ports):
    hostvars, groups = valid_inventory()
    for name, value in settings.items():
        set_all(hostvars, name, value)
    plan = haproxy.haproxy_plan(["pg-test"], hostvars, groups, haproxy.DEFAULT_PORTS, pg_port=5432)
    assert {svc["name"]: {server["port"] for server in svc["servers"]}
            for svc in plan[0]["services"]} == {name: {port} for name, port in ports.items()}


def test_haproxy_cfg_sends_the_servers_to_the_service_port():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbouncer_enabled", True)
    plan = haproxy.haproxy_plan(["pg-test"], hostvars, groups, haproxy.DEFAULT_PORTS, pg_port=5432)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles/haproxy/templates")),
                             trim_blocks=True)
    cfg = env.get_template("haproxy.cfg.j2").render(
        __haproxy_plan=plan, haproxy_bind_address="*", haproxy_maxconn=100, haproxy_connect_timeout="3s",
        haproxy_client_timeout="1h", haproxy_server_timeout="1h", haproxy_health_port=9102,
        haproxy_server_maxconn=10, haproxy_patroni_port=8008, haproxy_ca_file="/ca.crt", ansible_managed="x")
    backends = cfg.split("\nbackend ")[1:]
    names = ["pg-test-primary", "pg-test-replica", "pg-test-default", "pg-test-offline"]
    assert [b.split("\n")[0] for b in backends] == names
    assert "server pg-test-1 10.210.0.11:6432 weight 100 check" in backends[0]
    assert "server pg-test-1 10.210.0.11:6432 weight 100 check" in backends[1]
    assert "server pg-test-1 10.210.0.11:5432 weight 100 track pg-test-primary/pg-test-1" in backends[2]
    assert "server pg-test-1 10.210.0.11:5432 weight 100 backup check" in backends[3]


def test_the_firewall_opens_pgbouncer_to_the_same_sources_as_postgresql():
    hostvars, groups = sandbox()
    assert 6432 not in rules_of(hostvars, groups, H1)
    set_all(hostvars, "pgbouncer_enabled", "yes")
    rules = rules_of(hostvars, groups, H1)
    assert rules[6432]["ip"] == rules[5432]["ip"]
    assert rules[6432]["comment"] == "pgbouncer (pgbouncer_port) of pg-test"


# ---------------------------------------------------------------- the preflight

def test_a_pigsty_pooled_cluster_passes():
    hostvars, groups = pooled_inventory(
        pgbouncer_port=6432, pgbouncer_poolmode="transaction", pgbouncer_auth_query=False,
        pgbouncer_ignore_param=["extra_float_digits", "application_name"],
        pg_default_service_dest="pgbouncer",
        pgbouncer_parameters={"stats_period": 30},
        pg_users=[{"name": "app", "password": "Sx-app-1", "pgbouncer": True}],
        pg_databases=[{"name": "app", "owner": "app", "pool_size": 10, "pool_reserve": 2}])
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("name, value, fragment", [
    ("pgbouncer_enabled", "maybe", "pgbouncer_enabled 'maybe' is not true or false"),
    ("pgbouncer_auth_query", "sometimes", "pgbouncer_auth_query 'sometimes' is not true or false"),
    ("pgbouncer_port", 70000, "pgbouncer_port 70000 is not a port number"),
    ("pgbouncer_poolmode", "txn", "pgbouncer_poolmode 'txn' is not one of session, transaction, statement"),
    ("pgbouncer_ignore_param", ["search path"], "pgbouncer_ignore_param has 'search path'"),
    ("pgbouncer_ignore_param", "search_path", "is not a list of parameter names"),
    ("pgbouncer_sslmode", "disable", "pgbouncer_sslmode disable would let clients log in to pgbouncer in "
                                     "plaintext while pg_tls: require"),
    ("pgbouncer_sslmode", "verify-full", "pgbouncer_sslmode 'verify-full' is not one of disable, allow"),
    ("pg_default_service_dest", "pgpool", "pg_default_service_dest 'pgpool' is not pgbouncer or postgres"),
    ("pgbouncer_parameters", {"auth_type": "trust"}, "pgbouncer_parameters sets auth_type, which the "
                                                     "pgbouncer role writes itself"),
    ("pgbouncer_parameters", {"stats_period": "30\nauth_type = trust"}, "pgbouncer_parameters stats_period "
                                                                        "must be one plain value"),
    ("pgbouncer_parameters", {"Bad Name": 1}, "which is not a pgbouncer setting name"),
    ("pgbouncer_parameters", ["stats_period"], "is not a mapping of setting names to values"),
])
def test_bad_pgbouncer_settings_are_refused_by_name(name, value, fragment):
    hostvars, groups = pooled_inventory(**{name: value})
    assert fragment in only_error(hostvars, groups)


def test_plaintext_pgbouncer_is_fine_when_pg_tls_allows_plaintext():
    hostvars, groups = pooled_inventory(pg_tls="prefer", pgbouncer_sslmode="disable")
    assert errors_of(hostvars, groups) == []


def test_pgbouncer_options_without_pgbouncer_are_named_not_ignored():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_users", [{"name": "app", "password": "Sx-app-1", "pgbouncer": True},
                                   {"name": "etl", "password": "Sx-etl-1", "pgbouncer": False}])
    set_all(hostvars, "pg_databases", [{"name": "app", "pool_size": 10},
                                       {"name": "olap", "pgbouncer": False}])
    errors = errors_of(hostvars, groups)
    assert len(errors) == 2, errors
    assert "pg_users item 1 (app) has pgbouncer, but pgbouncer_enabled is not true" in errors[0]
    assert "pg_databases item 1 (app) has pool_size, but pgbouncer_enabled is not true" in errors[1]
    assert "set pgbouncer_enabled: true, or remove them" in errors[1]


def test_pgbouncer_as_destination_needs_pgbouncer():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_default_service_dest", "pgbouncer")
    message = only_error(hostvars, groups)
    assert "pg_default_service_dest: pgbouncer, but pgbouncer_enabled is not true" in message
    set_all(hostvars, "pg_default_service_dest", "postgres")
    assert errors_of(hostvars, groups) == []


def test_pgbouncer_settings_are_cluster_wide():
    hostvars, groups = pooled_inventory()
    hostvars[H3]["pgbouncer_enabled"] = False
    assert "pgbouncer_enabled differs between hosts of the cluster" in only_error(hostvars, groups)


def test_a_user_named_after_the_pooler_role_is_refused_only_with_pgbouncer():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_users", [{"name": "pgbouncer", "password": "Sx-pgb-1"}])
    assert errors_of(hostvars, groups) == []
    set_all(hostvars, "pgbouncer_enabled", True)
    assert "pg_users item 1 (pgbouncer) is pgbouncer's auth_query role" in only_error(hostvars, groups)


@pytest.mark.parametrize("item, fragment", [
    ({"name": "app", "password": "Sx-a-1", "pgbouncer": "perhaps"},
     "pgbouncer 'perhaps' is not true or false"),
    ({"name": "app", "password": "Sx-a-1", "pool_connlimit": 5}, "has pool_connlimit, which this collection"),
])
def test_bad_pool_options_of_a_user_are_refused(item, fragment):
    hostvars, groups = pooled_inventory(pg_users=[item])
    assert fragment in only_error(hostvars, groups)


def test_bad_pool_options_of_a_database_are_refused():
    hostvars, groups = pooled_inventory(pg_databases=[{"name": "app", "pool_size": "many", "pool_mode": "txn",
                                                       "pool_reserve": -1, "pool_auth_user": "x"}])
    errors = errors_of(hostvars, groups)
    assert any("pool_size 'many' is not a whole number from 0 up" in e for e in errors), errors
    assert any("pool_mode 'txn' is not one of session, transaction, statement" in e for e in errors), errors
    assert any("pool_reserve -1 is not a whole number from 0 up" in e for e in errors), errors
    assert any("has pool_auth_user, which this collection does not apply" in e for e in errors), errors


def test_pgbouncers_port_may_not_clash_with_haproxy_on_the_node():
    hostvars, groups = pooled_inventory(pgbouncer_port=5433)
    message = only_error(hostvars, groups)
    assert "port 5433 is used by pg-test primary and pgbouncer (pgbouncer_port)" in message


def test_the_managed_settings_cover_what_the_template_writes():
    ini = (ROLE / "templates" / "pgbouncer.ini.j2").read_text()
    written = {line.split(" = ")[0] for line in ini.splitlines()
               if " = " in line and not line.startswith(("{", ";"))}
    written.discard("{{ db.name }}")
    written.discard("{{ user.name }}")
    written.discard("{{ name }}")
    assert written <= set(inventory_check.PGBOUNCER_MANAGED), written - set(inventory_check.PGBOUNCER_MANAGED)
