"""HAProxy's services in Pigsty's shape (plugins/module_utils/services.py): the built-in four with
the offline service, pg_services and pg_default_services, their selectors, and what haproxy.cfg.j2
makes of them."""

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
from test_inventory_check import H1, H2, H3, errors_of, only_error, set_all, valid_inventory

from ansible_collections.pgha.cloud.plugins.module_utils import haproxy, services

ROOT = Path(__file__).resolve().parents[2]
# conf/ha/safe.yml's business service, as Pigsty users write it.
STANDBY = {"name": "standby", "ip": "*", "port": 5435, "dest": "default", "selector": "[]",
           "backup": "[? pg_role == `primary`]"}


def plan_of(hostvars, groups, **kwargs):
    plan = haproxy.haproxy_plan(["pg-test"], hostvars, groups, haproxy.DEFAULT_PORTS, **kwargs)
    return {svc["name"]: svc for svc in plan[0]["services"]}


def servers(service):
    return [(server["name"], server["backup"]) for server in service["servers"]]


def render(plan):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles/haproxy/templates")),
                             trim_blocks=True)
    return env.get_template("haproxy.cfg.j2").render(
        __haproxy_plan=plan, haproxy_bind_address="*", haproxy_maxconn=100, haproxy_connect_timeout="3s",
        haproxy_client_timeout="1h", haproxy_server_timeout="1h", haproxy_health_port=9102,
        haproxy_server_maxconn=10, haproxy_patroni_port=8008, haproxy_ca_file="/ca.crt", ansible_managed="x")


def section(cfg, header):
    return cfg.split(f"\n{header}\n")[1].split("\n\n")[0]


# ---------------------------------------------------------------- the built-in services

def test_without_offline_instances_every_replica_backs_the_offline_service():
    hostvars, groups = valid_inventory()
    plan = plan_of(hostvars, groups)
    assert list(plan) == ["primary", "replica", "default", "offline"]
    assert servers(plan["primary"]) == [("pg-test-1", False), ("pg-test-2", False), ("pg-test-3", False)]
    assert servers(plan["replica"]) == servers(plan["primary"])
    # The primary is checked out by /replica, so it never serves offline queries while it leads.
    assert servers(plan["offline"]) == [("pg-test-1", True), ("pg-test-2", True), ("pg-test-3", True)]
    assert plan["offline"]["check"] == "/replica" and plan["offline"]["port"] == 5438


@pytest.mark.parametrize("host_vars", [{"pg_role": "offline"}, {"pg_offline_query": True}])
def test_an_offline_instance_serves_the_offline_service_first(host_vars):
    hostvars, groups = valid_inventory()
    hostvars[H3].update(host_vars)
    assert errors_of(hostvars, groups) == []
    plan = plan_of(hostvars, groups)
    assert servers(plan["offline"]) == [("pg-test-1", True), ("pg-test-2", True), ("pg-test-3", False)]
    if host_vars.get("pg_role") == "offline":
        # pg_role: offline keeps it out of the replica service unless no replica is up (Pigsty's rule).
        assert servers(plan["replica"]) == [("pg-test-1", False), ("pg-test-2", False), ("pg-test-3", True)]
    else:
        assert servers(plan["replica"]) == [("pg-test-1", False), ("pg-test-2", False), ("pg-test-3", False)]


def test_pg_weight_and_leaving_hosts_reach_the_servers():
    hostvars, groups = valid_inventory()
    hostvars[H2]["pg_weight"] = 0
    plan = plan_of(hostvars, groups, leaving_hosts=[H3])
    assert [(s["name"], s["weight"]) for s in plan["replica"]["servers"]] == [("pg-test-1", 100),
                                                                              ("pg-test-2", 0)]


# ---------------------------------------------------------------- pg_services and pg_default_services

def test_pigsty_business_services_are_rendered_with_every_key():
    hostvars, groups = valid_inventory()
    sync = {"name": "sync", "port": 5437, "ip": "*", "selector": "[? pg_seq > `1`]",
            "dest": 6543, "check": "/sync", "maxconn": 300, "balance": "leastconn",
            "options": "inter 3s fall 3 slowstart 30s"}
    set_all(hostvars, "pg_services", [STANDBY, sync])
    assert errors_of(hostvars, groups) == []
    plan = plan_of(hostvars, groups)
    assert list(plan) == ["primary", "replica", "default", "offline", "standby", "sync"]
    assert servers(plan["standby"]) == [("pg-test-1", True), ("pg-test-2", False), ("pg-test-3", False)]
    assert servers(plan["sync"]) == [("pg-test-2", False), ("pg-test-3", False)]
    cfg = render(haproxy.haproxy_plan(["pg-test"], hostvars, groups, haproxy.DEFAULT_PORTS))
    frontend = section(cfg, "frontend pg-test-sync")
    assert "    bind *:5437" in frontend and "    maxconn 300" in frontend
    backend = section(cfg, "backend pg-test-sync")
    assert "    balance leastconn" in backend
    assert "    http-check send meth OPTIONS uri /sync" in backend
    assert "    default-server inter 3s fall 3 slowstart 30s" in backend
    assert "server pg-test-2 10.210.0.12:6543 weight 100 check port 8008" in backend
    standby = section(cfg, "backend pg-test-standby")
    assert "server pg-test-1 10.210.0.11:5432 weight 100 backup check" in standby
    assert "    bind *:5435" in section(cfg, "frontend pg-test-standby")
    # The health endpoint answers for every service.
    assert "if { path /pg-test/standby }" in cfg


def test_pg_default_services_replaces_the_built_in_ones():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_default_services", [
        {"name": "primary", "port": 6433, "dest": "default", "check": "/primary", "selector": "[]"},
        {"name": "replica", "port": 6434, "dest": "default", "check": "/read-only", "selector": "[]",
         "backup": "[? pg_role == `primary` || pg_role == `offline` ]"},
        {"name": "default", "port": 6436, "dest": "postgres", "check": "/primary", "selector": "[]"}])
    assert errors_of(hostvars, groups) == []
    plan = plan_of(hostvars, groups)
    assert {name: svc["port"] for name, svc in plan.items()} == {"primary": 6433, "replica": 6434,
                                                                 "default": 6436}
    assert "fallback" not in plan["replica"]
    assert servers(plan["replica"]) == [("pg-test-1", True), ("pg-test-2", False), ("pg-test-3", False)]


@pytest.mark.parametrize("name, value, fragment", [
    ("pg_services", {"name": "x"}, "pg_services {'name': 'x'} is not a list of services"),
    ("pg_services", [{"name": "Standby", "port": 5435}],
     "pg_services service Standby: name 'Standby' is not"),
    ("pg_services", [{"name": "standby"}], "pg_services service standby: port None is not a port number"),
    ("pg_services", [{"name": "s", "port": 5435, "selector": "[? pg_role == "}],
     "selector '[? pg_role == ' is not a valid JMESPath expression"),
    ("pg_services", [{"name": "s", "port": 5435, "check": "/primary\nbind *:22"}],
     "is not a Patroni health endpoint"),
    ("pg_services", [{"name": "s", "port": 5435, "options": "inter 3s # x"}],
     "options 'inter 3s # x' is not"),
    ("pg_services", [{"name": "s", "port": 5435, "balance": "random"}], "balance 'random' is not one of"),
    ("pg_services", [{"name": "s", "port": 5435, "ip": "10.210.0.100"}],
     "ip '10.210.0.100' is not supported"),
    ("pg_services", [{"name": "s", "port": 5435, "dest": "pooler"}], "dest 'pooler' is not one of"),
    ("pg_services", [{"name": "s", "port": 5435, "maxconn": 0}], "maxconn 0 is not a whole number"),
    ("pg_services", [{"name": "s", "port": 5435, "weight": 1}], "unknown key(s) weight"),
    ("pg_services", [{"name": "s", "port": 5435}, {"name": "s", "port": 5439}],
     "names the service(s) s more"),
    ("pg_services", [{"name": "primary", "port": 5435}], "service primary is defined twice"),
    ("pg_services", [{"name": "s", "port": 5435, "dest": "pgbouncer"}],
     "service s has dest: pgbouncer, but pgbouncer_enabled is not true"),
    ("pg_services", [{"name": "s", "port": 5435, "selector": "[0].pg_seq"}],
     "service s: selector '[0].pg_seq' does not give a list of members"),
    ("pg_default_services", [{"name": "primary", "port": 5433}], "pg_default_services lacks the service(s) "
                                                                 "replica, default"),
    ("pg_offline_query", "sometimes", "pg_offline_query 'sometimes' is not true or false"),
    ("pg_weight", 300, "pg_weight 300 is not a whole number from 0 to 255"),
])
def test_bad_services_are_refused_with_the_key_and_the_fix(name, value, fragment):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    error = only_error(hostvars, groups)
    assert error.startswith("cluster pg-test, hosts 10.210.0.11, 10.210.0.12, 10.210.0.13: "), error
    assert fragment in error, error


def test_pg_haproxy_ports_and_pg_default_services_together_are_refused():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_haproxy_ports", {"primary": 5443, "replica": 5444, "default": 5446})
    set_all(hostvars, "pg_default_services", [{"name": n, "port": p} for n, p in
                                              (("primary", 5433), ("replica", 5434), ("default", 5436))])
    assert "pg_haproxy_ports and pg_default_services both set" in only_error(hostvars, groups)


def test_a_service_port_taken_by_another_listener_is_refused():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_services", [{"name": "standby", "port": 5438}])
    assert "port 5438 is used by pg-test offline and pg-test standby" in only_error(hostvars, groups)


def test_selectors_read_only_the_variables_they_name():
    """Like Ansible's lazy hostvars: a variable the selector does not name is never read."""

    class Lazy(dict):
        def get(self, key, default=None):
            assert key not in ("pg_superuser_password", "secret"), key
            return dict.get(self, key, default)

    hostvars, groups = valid_inventory()
    lazy = {host: Lazy(vars_, secret="x") for host, vars_ in hostvars.items()}
    assert services.select("[? pg_seq == `2` || inventory_hostname == '10.210.0.13']", lazy,
                           [H1, H2, H3], "selector") == [H2, H3]


# ---------------------------------------------------------------- one check per member and request

def test_a_service_asking_what_an_earlier_one_asks_tracks_its_servers():
    hostvars, groups = valid_inventory()
    # Two business services: one asks /primary with the preset's options, one brings options of its own.
    set_all(hostvars, "pg_services", [
        dict(STANDBY, name="writer", port=5435, dest="postgres", check="/primary"),
        dict(STANDBY, name="slow", port=5439, dest="postgres", check="/primary",
             options="inter 3s fall 3 rise 2")])
    plan = plan_of(hostvars, groups)
    tracks = {name: [server["track"] for server in svc["servers"]] for name, svc in plan.items()}
    assert tracks["primary"] == [None, None, None]
    assert tracks["default"] == ["pg-test-primary/pg-test-1", "pg-test-primary/pg-test-2",
                                 "pg-test-primary/pg-test-3"]
    assert tracks["writer"] == tracks["default"]
    # Other requests, or other options (other timings), keep checks of their own.
    assert tracks["replica"] == tracks["offline"] == tracks["slow"] == [None, None, None]
    cfg = render([{"name": "pg-test", "check": {"inter": "1s", "fastinter": "500ms", "downinter": "250ms",
                                                "rise": 1, "fall": 2},
                   "sources": ["127.0.0.1/32"], "services": list(plan.values())}])
    default = section(cfg, "backend pg-test-default")
    assert "server pg-test-2 10.210.0.12:5432 weight 100 track pg-test-primary/pg-test-2" in default
    assert "check" not in default.split("default-server")[1].split("\n", 1)[1]
    assert "# (the check of pg-test-primary, which asks the same: one check per member, not two)" in cfg
    assert "track" not in section(cfg, "backend pg-test-slow")


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy is not installed (.ci/run installs it)")
def test_haproxy_accepts_the_tracking_configuration(tmp_path, test_ca):
    hostvars, groups = valid_inventory()
    cfg = render(haproxy.haproxy_plan(["pg-test"], hostvars, groups, haproxy.DEFAULT_PORTS))
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg.replace("ca-file /ca.crt", f"ca-file {test_ca['ca']}"))
    result = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert cfg.count(" track pg-test-primary/") == 3
