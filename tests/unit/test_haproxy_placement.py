"""Where HAProxy runs and on which ports (plugins/module_utils/haproxy.py), the inventory
rules of the pg_proxy tier (inventory_check.py), and the configuration haproxy.cfg.j2 renders."""

import re
from pathlib import Path

import jinja2
import pytest
import yaml
from test_inventory_check import PASSWORDS, add_cluster, errors_of, only_error, valid_inventory

from ansible_collections.pgha.cloud.plugins.filter import pgha
from ansible_collections.pgha.cloud.plugins.module_utils import haproxy, presets

ROOT = Path(__file__).resolve().parents[2]
P1, P2 = "10.210.0.21", "10.210.0.22"
B1, B2, B3 = "10.210.0.31", "10.210.0.32", "10.210.0.33"
B_PORTS = {"primary": 5443, "replica": 5444, "default": 5446}


def with_proxies(*proxies, **proxy_vars):
    """The sandbox inventory plus pg_proxy hosts (HAProxy only)."""
    hostvars, groups = valid_inventory()
    groups["pg_proxy"] = list(proxies)
    for host in proxies:
        groups["all"].append(host)
        hostvars[host] = dict(proxy_vars)
    return hostvars, groups


def two_clusters(*proxies, **proxy_vars):
    """pg-test (3 nodes) and pg-b (3 nodes), plus pg_proxy hosts."""
    hostvars, groups = with_proxies(*proxies, **proxy_vars)
    add_cluster(hostvars, groups, "pg-b", [B1, B2, B3])
    return hostvars, groups


def set_cluster(hostvars, groups, cluster, name, value):
    for host in groups[cluster]:
        hostvars[host][name] = value


# ---------------------------------------------------------------- placement

def test_node_local_is_the_default_and_routes_to_the_own_cluster_only():
    hostvars, groups = two_clusters()
    assert haproxy.served_clusters(hostvars, groups, "10.210.0.11") == ["pg-test"]
    assert haproxy.served_clusters(hostvars, groups, B2) == ["pg-b"]
    assert haproxy.haproxy_hosts(hostvars, groups, "pg-b") == [B1, B2, B3]


def test_a_proxy_routes_to_every_cluster_unless_told_otherwise():
    hostvars, groups = two_clusters(P1, P2)
    hostvars[P2]["pg_proxy_clusters"] = ["pg-b"]
    assert haproxy.served_clusters(hostvars, groups, P1) == ["pg-test", "pg-b"]
    assert haproxy.served_clusters(hostvars, groups, P2) == ["pg-b"]
    assert haproxy.haproxy_hosts(hostvars, groups, "pg-test") == ["10.210.0.11", "10.210.0.12",
                                                                  "10.210.0.13", P1]
    assert sorted(haproxy.haproxy_hosts(hostvars, groups, "pg-b")) == [P1, P2, B1, B2, B3]


@pytest.mark.parametrize("value", [False, "false", "no", "0"])
def test_pg_haproxy_local_false_leaves_the_cluster_to_the_tier(value):
    hostvars, groups = two_clusters(P1, P2)
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_local", value)
    assert haproxy.served_clusters(hostvars, groups, "10.210.0.11") == []
    assert haproxy.haproxy_hosts(hostvars, groups, "pg-test") == [P1, P2]
    # The other cluster keeps its node-local HAProxy.
    assert haproxy.served_clusters(hostvars, groups, B1) == ["pg-b"]


def test_inventory_haproxy_clusters_overrides_the_default_but_not_the_role_default():
    hostvars, groups = two_clusters()
    hostvars["10.210.0.11"]["haproxy_clusters"] = ["pg-test", "pg-b"]
    assert haproxy.served_clusters(hostvars, groups, "10.210.0.11") == ["pg-test", "pg-b"]
    # The role default never reads haproxy_clusters (it is that variable's default).
    assert haproxy.default_clusters(hostvars, groups, "10.210.0.11") == ["pg-test"]


def test_instances_pair_every_haproxy_with_each_cluster_it_routes_to():
    hostvars, groups = two_clusters(P1)
    set_cluster(hostvars, groups, "pg-b", "pg_haproxy_local", False)
    pairs = pgha.haproxy_instances(hostvars, groups, ["pg-b", "pg-test"])
    assert pairs == [{"host": P1, "cluster": "pg-b"}] + [
        {"host": h, "cluster": "pg-test"} for h in ("10.210.0.11", "10.210.0.12", "10.210.0.13", P1)]


def test_cluster_ports_come_from_pg_haproxy_ports_else_the_fallback():
    hostvars, groups = two_clusters()
    ports = {"primary": 6433, "replica": "6434", "default": 6436}
    set_cluster(hostvars, groups, "pg-b", "pg_haproxy_ports", ports)
    fallback = {"primary": 7000, "replica": 7001, "default": 7003, "offline": 7005}
    # The offline service takes primary + 5 when pg_haproxy_ports does not name it.
    assert haproxy.cluster_ports(hostvars, groups, "pg-b", fallback) == {
        "primary": 6433, "replica": 6434, "default": 6436, "offline": 6438}
    set_cluster(hostvars, groups, "pg-b", "pg_haproxy_ports", dict(ports, offline=6500))
    assert haproxy.cluster_ports(hostvars, groups, "pg-b", fallback)["offline"] == 6500
    assert haproxy.cluster_ports(hostvars, groups, "pg-test", fallback) == fallback
    # pg_services add to them.
    set_cluster(hostvars, groups, "pg-b", "pg_services", [{"name": "standby", "port": 5440}])
    assert haproxy.cluster_ports(hostvars, groups, "pg-b", fallback) == {
        "primary": 6433, "replica": 6434, "default": 6436, "offline": 6500, "standby": 5440}
    assert pgha.haproxy_cluster_ports("pg-test", hostvars, groups) == haproxy.DEFAULT_PORTS
    # Without a fallback, the ports the routers listen on (a proxy's own haproxy_*_port).
    hostvars, groups = with_proxies(P1, haproxy_primary_port=6000, pg_haproxy_local=False)
    for host in groups["pg-test"]:
        hostvars[host]["pg_haproxy_local"] = False
    assert haproxy.haproxy_hosts(hostvars, groups, "pg-test") == [P1]
    assert pgha.haproxy_cluster_ports("pg-test", hostvars, groups) == {
        "primary": 6000, "replica": 5434, "default": 5436, "offline": 5438}
    # A partial fallback keeps the defaults for the services it does not name.
    assert pgha.haproxy_cluster_ports("pg-test", hostvars, groups, {"primary": 6000}) == {
        "primary": 6000, "replica": 5434, "default": 5436, "offline": 5438}


def test_plan_uses_each_clusters_own_preset_and_leaves_out_leaving_hosts():
    hostvars, groups = two_clusters(P1)
    set_cluster(hostvars, groups, "pg-b", "pg_rto", "safe")
    set_cluster(hostvars, groups, "pg-b", "pg_haproxy_ports", dict(primary=6433, replica=6434, default=6436))
    hostvars[B3]["node_address"] = "192.0.2.33"
    plan = haproxy.haproxy_plan(["pg-test", "pg-b"], hostvars, groups, haproxy.DEFAULT_PORTS,
                                leaving_hosts=[B2], replica_max_lag=2048)
    test, other = plan
    assert test["check"] == presets.RTO_PLANS["fast"]["haproxy"]
    assert other["check"] == presets.RTO_PLANS["safe"]["haproxy"]
    assert [(s["name"], s["port"], s["check"]) for s in other["services"]] == [
        ("primary", 6433, "/primary"), ("replica", 6434, "/replica?lag=2048"),
        ("default", 6436, "/primary"), ("offline", 6438, "/replica")]
    assert [s.get("fallback") for s in other["services"]] == [None, "primary", None, None]
    servers = [{"name": "pg-b-1", "address": B1, "port": 5432, "weight": 100, "backup": False, "track": None},
               {"name": "pg-b-3", "address": "192.0.2.33", "port": 5432, "weight": 100, "backup": False,
                "track": None}]
    assert other["services"][0]["servers"] == servers
    # No offline instance: every replica is a backup of the offline service.
    assert other["services"][3]["servers"] == [dict(server, backup=True) for server in servers]
    assert [s["port"] for s in test["services"]] == [5433, 5434, 5436, 5438]


def test_plan_of_a_cluster_without_pg_rto_uses_the_default_preset():
    hostvars, groups = valid_inventory()
    for host in groups["pg-test"]:
        del hostvars[host]["pg_rto"]
    plan = haproxy.haproxy_plan(["pg-test"], hostvars, groups, haproxy.DEFAULT_PORTS)
    assert plan[0]["check"] == presets.RTO_PLANS[presets.DEFAULT_RTO]["haproxy"]


def test_port_clashes_name_every_owner():
    plan = [{"name": "pg-a", "services": [{"name": "primary", "port": 5433},
                                          {"name": "replica", "port": 5434}]},
            {"name": "pg-b", "services": [{"name": "primary", "port": "5433"},
                                          {"name": "replica", "port": 6434}]}]
    assert haproxy.port_clashes(plan, {"stats": 9101, "health": 6434}) == [
        (5433, ["pg-a primary", "pg-b primary"]), (6434, ["pg-b replica", "health"])]
    assert pgha.haproxy_port_clashes(plan, {"stats": 9101}) == [
        "port 5433 is used by pg-a primary and pg-b primary"]
    assert haproxy.port_clashes(plan[:1], {"stats": 9101}) == []


def test_free_port_block_skips_used_ports():
    assert haproxy.free_port_block(set()) == {"primary": 5443, "replica": 5444, "default": 5446,
                                              "offline": 5448}
    assert haproxy.free_port_block({5448}) == {"primary": 5453, "replica": 5454, "default": 5456,
                                               "offline": 5458}


@pytest.mark.parametrize("path, table", [
    ("roles/haproxy/defaults/main.yml", {v: haproxy.DEFAULT_PORTS[k] for k, v in haproxy.PORT_VARS.items()}),
    ("roles/haproxy/defaults/main.yml", {k: v[0] for k, v in haproxy.HAPROXY_PORTS.items()}),
    ("roles/patroni/defaults/main.yml", {k: v[0] for k, v in haproxy.POSTGRES_NODE_PORTS.items()}),
    ("roles/etcd/defaults/main.yml", {k: v[0] for k, v in haproxy.ETCD_MEMBER_PORTS.items()}),
])
def test_mirrored_defaults_equal_the_role_defaults(path, table):
    defaults = yaml.safe_load((ROOT / path).read_text())
    assert {name: defaults[name] for name in table} == table


# ---------------------------------------------------------------- inventory rules

def test_a_valid_tier_inventory_passes():
    hostvars, groups = two_clusters(P1, P2)
    set_cluster(hostvars, groups, "pg-b", "pg_haproxy_ports", B_PORTS)
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_local", False)
    assert errors_of(hostvars, groups) == []


def test_two_clusters_on_one_proxy_with_default_ports_clash():
    hostvars, groups = two_clusters(P1, P2)
    error = only_error(hostvars, groups)
    assert error.startswith(f"HAProxy on hosts {P1}, {P2}: port 5433 is used by pg-test primary and "
                            "pg-b primary; port 5434 is used by pg-test replica and pg-b replica; "
                            "port 5436 is used by pg-test default and pg-b default;")
    assert "pg_haproxy_ports: {primary: 5443, replica: 5444, default: 5446, offline: 5448}" in error


def test_restricting_a_proxy_to_one_cluster_removes_the_clash():
    hostvars, groups = two_clusters(P1)
    hostvars[P1]["pg_proxy_clusters"] = ["pg-b"]
    assert errors_of(hostvars, groups) == []


def test_a_service_port_on_the_health_or_postgres_port_is_refused():
    hostvars, groups = with_proxies(P1)
    ports = dict(primary=5432, replica=9102, default=5436)
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_ports", ports)
    errors = errors_of(hostvars, groups)
    assert len(errors) == 2, errors
    node, proxy = errors
    assert node.startswith("HAProxy on hosts 10.210.0.11, 10.210.0.12, 10.210.0.13: port 5432 is used by "
                           "pg-test primary and PostgreSQL (patroni_pg_port); port 9102 is used by pg-test "
                           "replica and the health endpoint (haproxy_health_port)")
    # The proxy runs no PostgreSQL: only the health port clashes there.
    assert proxy.startswith(f"HAProxy on host {P1}: port 9102 is used by pg-test replica and the "
                            "health endpoint")


def test_a_proxys_own_fallback_ports_count():
    hostvars, groups = with_proxies(P1, haproxy_primary_port=9101)
    error = only_error(hostvars, groups)
    assert error.startswith(f"HAProxy on host {P1}: port 9101 is used by pg-test primary and the stats page")


@pytest.mark.parametrize("value, fragment", [
    ("5443", "pg_haproxy_ports '5443' is not a mapping"),
    ({"primary": 5443, "replica": 5444}, "must name primary, replica, default and may name offline "
     "(missing default)"),
    ({"primary": 5443, "replica": 5444, "default": 5446, "standby": 5448}, "(unknown standby)"),
    ({"primary": 5443, "replica": 5444, "default": 5446, "offline": 5444},
     "gives two services the same port"),
    ({"primary": 5443, "replica": "x", "default": 70000}, "replica='x', default=70000 is not a port number"),
    ({"primary": 5443, "replica": 5443, "default": 5446}, "gives two services the same port"),
])
def test_bad_pg_haproxy_ports(value, fragment):
    hostvars, groups = valid_inventory()
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_ports", value)
    error = only_error(hostvars, groups)
    assert error.startswith("cluster pg-test, hosts 10.210.0.11, 10.210.0.12, 10.210.0.13: ")
    assert fragment in error


def test_pg_haproxy_ports_must_agree_within_a_cluster():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.12"]["pg_haproxy_ports"] = {"primary": 5443, "replica": 5444, "default": 5446}
    assert "pg_haproxy_ports differs between hosts of the cluster" in only_error(hostvars, groups)


def test_bad_pg_haproxy_local():
    hostvars, groups = valid_inventory()
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_local", "maybe")
    assert "pg_haproxy_local 'maybe' is not a boolean" in only_error(hostvars, groups)


def test_a_cluster_nobody_routes_to_is_refused():
    hostvars, groups = valid_inventory()
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_local", False)
    error = only_error(hostvars, groups)
    assert "pg_haproxy_local is false and no pg_proxy host routes to the cluster" in error


def test_a_proxy_restricted_elsewhere_does_not_count():
    hostvars, groups = two_clusters(P1, P2, pg_proxy_clusters=["pg-b"])
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_local", False)
    assert "no pg_proxy host routes to the cluster" in only_error(hostvars, groups)


def test_a_tier_only_cluster_needs_two_proxies_unless_allowed():
    hostvars, groups = with_proxies(P1)
    set_cluster(hostvars, groups, "pg-test", "pg_haproxy_local", False)
    error = only_error(hostvars, groups)
    assert f"only {P1} routes to the cluster" in error and "pg_proxy_allow_single: true" in error
    set_cluster(hostvars, groups, "pg-test", "pg_proxy_allow_single", True)
    assert errors_of(hostvars, groups) == []


def test_one_proxy_is_fine_while_the_nodes_keep_their_own_haproxy():
    assert errors_of(*with_proxies(P1)) == []


def test_unknown_and_empty_pg_proxy_clusters():
    hostvars, groups = with_proxies(P1, P2)
    hostvars[P1]["pg_proxy_clusters"] = ["pg-test", "pg-nope"]
    hostvars[P2]["pg_proxy_clusters"] = []
    unknown, empty = errors_of(hostvars, groups)
    assert unknown == (f"group pg_proxy, host {P1}: pg_proxy_clusters names unknown cluster(s) 'pg-nope'; "
                       "the clusters of this inventory are: pg-test")
    assert empty.startswith(f"group pg_proxy, host {P2}: pg_proxy_clusters is empty")


def test_pg_proxy_clusters_must_be_a_list():
    hostvars, groups = with_proxies(P1, pg_proxy_clusters="pg-test")
    assert "pg_proxy_clusters 'pg-test' is not a list" in only_error(hostvars, groups)


def test_pg_proxy_clusters_outside_the_group_is_reported():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.11"]["pg_proxy_clusters"] = ["pg-test"]
    error = only_error(hostvars, groups)
    assert error.startswith("hosts 10.210.0.11: pg_proxy_clusters is set but they are not in group pg_proxy")


def test_a_proxy_may_not_be_a_postgres_node():
    hostvars, groups = two_clusters()
    groups["pg_proxy"] = [B1]
    error = only_error(hostvars, groups)
    assert error.startswith(f"group pg_proxy, host {B1}: is also a PostgreSQL node (cluster pg-b)")
    assert "take the host out of one of the two groups" in error


def test_a_proxy_may_be_an_etcd_member():
    hostvars, groups = with_proxies(P1)
    groups["etcd"] = ["10.210.0.11", "10.210.0.12", P1]
    hostvars[P1]["etcd_seq"] = 4
    assert errors_of(hostvars, groups) == []


def test_proxies_without_clusters():
    hostvars = {P1: dict(PASSWORDS)}
    groups = {"all": [P1], "ungrouped": [], "pg_proxy": [P1]}
    assert "the inventory has no PostgreSQL cluster for them to route to" in only_error(hostvars, groups)


def test_unknown_names_in_an_inventory_haproxy_clusters():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.13"]["haproxy_clusters"] = ["pg-test", "pg-x"]
    assert "haproxy_clusters ['pg-test', 'pg-x'] must be a list of this inventory's clusters" in only_error(
        hostvars, groups)


# ---------------------------------------------------------------- the rendered configuration

def render(plan, **overrides):
    """haproxy.cfg.j2 rendered the way Ansible's template module does (trim_blocks)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles/haproxy/templates")),
                             trim_blocks=True, undefined=jinja2.StrictUndefined)
    # Ansible's password_hash, reduced to what the test needs: a value that is not the password.
    env.filters["password_hash"] = lambda password, scheme, salt: f"$6${salt}$" + "x" * 86
    values = dict(yaml.safe_load((ROOT / "roles/haproxy/defaults/main.yml").read_text()))
    values.update(ansible_managed="managed", haproxy_address="10.0.0.9", __haproxy_plan=plan,
                  __haproxy_stats_salt="0123456789abcdef", **overrides)
    return env.get_template("haproxy.cfg.j2").render(values)


def sections(text):
    """{'frontend health': [lines], 'backend pg-b-primary': [...], ...}"""
    out, current = {}, None
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            current = line.strip()
            out[current] = []
        elif current and line.strip() and not line.lstrip().startswith("#"):
            out[current].append(line.strip())
    return out


def test_config_has_a_frontend_and_backend_per_cluster_service_on_its_ports():
    hostvars, groups = two_clusters(P1)
    set_cluster(hostvars, groups, "pg-b", "pg_haproxy_ports", B_PORTS)
    set_cluster(hostvars, groups, "pg-b", "pg_rto", "norm")
    plan = haproxy.haproxy_plan(["pg-test", "pg-b"], hostvars, groups, haproxy.DEFAULT_PORTS)
    cfg = sections(render(plan))
    for cluster, ports in (("pg-test", (5433, 5434, 5436)), ("pg-b", (5443, 5444, 5446))):
        for service, port in zip(("primary", "replica", "default"), ports):
            assert f"bind *:{port}" in cfg[f"frontend {cluster}-{service}"]
            backend = cfg[f"backend {cluster}-{service}"]
            assert len([line for line in backend if line.startswith("server ")]) == 3
    assert "use_backend pg-b-replica if { nbsrv(pg-b-replica) gt 0 }" in cfg["frontend pg-b-replica"]
    assert "default_backend pg-b-primary" in cfg["frontend pg-b-replica"]
    # Each cluster is checked at the pace of its own preset.
    fast, norm = cfg["backend pg-test-primary"], cfg["backend pg-b-primary"]
    assert any(line.startswith("default-server inter 1s fastinter 500ms") for line in fast)
    assert any(line.startswith("default-server inter 2s fastinter 1s") for line in norm)
    assert "timeout check 2s" in cfg["backend pg-b-primary"]


def test_health_endpoint_answers_per_cluster_service():
    hostvars, groups = two_clusters(P1)
    set_cluster(hostvars, groups, "pg-b", "pg_haproxy_ports", B_PORTS)
    plan = haproxy.haproxy_plan(["pg-test", "pg-b"], hostvars, groups, haproxy.DEFAULT_PORTS)
    health = sections(render(plan, haproxy_health_port=9202))["frontend health"]
    assert "bind *:9202" in health
    rules = [line for line in health if line.startswith("http-request return")]
    for cluster in ("pg-test", "pg-b"):
        for service in ("primary", "replica", "default"):
            path = f"{{ path /{cluster}/{service} }}"
            mine = [rule for rule in rules if path in rule]
            ok = [rule for rule in mine if rule.startswith("http-request return status 200")]
            down = [rule for rule in mine if rule.startswith("http-request return status 503")]
            # 200 only while a backend has a server up; then 503 for the same path, after them.
            assert ok and all(re.search(r"\{ nbsrv\(" + cluster + r"-(primary|replica|default)\) gt 0 \}$", r)
                              for r in ok)
            assert len(down) == 1 and rules.index(down[0]) > max(rules.index(r) for r in ok)
        replica_ok = [r for r in rules if f"{{ path /{cluster}/replica }}" in r and "status 200" in r]
        assert [re.search(r"nbsrv\(([^)]+)\) gt 0", r).group(1) for r in replica_ok] == [
            f"{cluster}-replica", f"{cluster}-primary"]
    assert rules[-1].startswith("http-request return status 404")


def test_no_cluster_means_no_services_and_no_health_endpoint():
    cfg = sections(render([]))
    assert list(cfg) == ["global", "defaults"]


def test_stats_page_only_with_a_password_and_only_its_hash_in_the_file():
    text = render([], haproxy_admin_password="stats-secret-1")
    cfg = sections(text)
    assert list(cfg) == ["global", "defaults", "userlist pgha_stats_users", "listen stats"]
    assert "stats-secret-1" not in text
    assert cfg["userlist pgha_stats_users"] == ["user admin password $6$0123456789abcdef$" + "x" * 86]
    assert "bind 10.0.0.9:9101" in cfg["listen stats"]
    auth = "http-request auth realm haproxy-stats unless { http_auth(pgha_stats_users) }"
    assert auth in cfg["listen stats"]


def test_service_frontends_admit_only_the_cluster_sources():
    hostvars, groups = two_clusters(P1)
    set_cluster(hostvars, groups, "pg-test", "pg_client_networks", ["10.9.0.0/16"])
    plan = haproxy.haproxy_plan(["pg-test"], hostvars, groups, haproxy.DEFAULT_PORTS)
    cfg = sections(render(plan))
    sources = " ".join(plan[0]["sources"])
    assert sources.startswith("127.0.0.1/32 10.9.0.0/16 ")
    for service in ("primary", "replica", "default"):
        rule = f"tcp-request connection reject unless {{ src {sources} }}"
        assert rule in cfg[f"frontend pg-test-{service}"]
