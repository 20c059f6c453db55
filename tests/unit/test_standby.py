"""Standby clusters (plugins/module_utils/standby.py): Pigsty's pg_upstream and pg_delay, what the
preflight asks of a standby cluster, and how its upstream admits it (pg_hba, firewall, HAProxy)."""

import pytest
from test_firewall import rules_of
from test_inventory_check import H1, H2, H3, add_cluster, errors_of, only_error, valid_inventory

from ansible_collections.pgha.cloud.plugins.filter import pgha
from ansible_collections.pgha.cloud.plugins.module_utils import cluster, haproxy, standby

S1, S2 = "10.210.0.41", "10.210.0.42"
VIP = "10.210.0.100"


def with_standby(upstream=VIP, **primary_vars):
    """pg-test (with a VIP) and pg-dr, a two-member standby cluster of it."""
    hostvars, groups = valid_inventory()
    for host in groups["pg-test"]:
        hostvars[host].update(pg_vip_address=f"{VIP}/24", pg_entrypoints=["haproxy", "vip"])
    add_cluster(hostvars, groups, "pg-dr", [S1, S2])
    for host in (S1, S2):
        hostvars[host]["pgbackrest_enabled"] = False
    hostvars[S1].update(pg_upstream=upstream, **primary_vars)
    return hostvars, groups


def test_an_ordinary_cluster_has_no_standby_section():
    hostvars, groups = valid_inventory()
    assert standby.standby_config(hostvars, groups, "pg-test") is None
    assert pgha.standby_hosts(hostvars, groups, "pg-test") == []


def test_pg_upstream_makes_the_standby_cluster_section():
    hostvars, groups = with_standby(pg_delay="1h")
    assert errors_of(hostvars, groups) == []
    assert pgha.standby_cluster(hostvars, groups, "pg-dr") == {
        "host": VIP, "port": 5432, "create_replica_methods": ["basebackup"], "recovery_min_apply_delay": "1h"}
    hostvars[S1].update(pg_upstream=H2, pg_upstream_port="5436", pg_delay=0)
    assert standby.standby_config(hostvars, groups, "pg-dr") == {
        "host": H2, "port": 5436, "create_replica_methods": ["basebackup"]}


@pytest.mark.parametrize("upstream", [VIP, H3])
def test_the_upstream_is_found_by_its_vip_or_a_member(upstream):
    hostvars, groups = with_standby(upstream)
    assert errors_of(hostvars, groups) == []
    clusters = haproxy.cluster_groups(hostvars, groups)
    assert standby.upstream_cluster(hostvars, groups, clusters, "pg-dr") == "pg-test"
    assert pgha.standby_hosts(hostvars, groups, "pg-test") == [S1, S2]
    assert pgha.standby_hosts(hostvars, groups, "pg-dr") == []


def test_a_pg_proxy_host_is_refused_as_upstream():
    hostvars, groups = with_standby("10.210.0.21")
    groups["pg_proxy"] = ["10.210.0.21"]
    groups["all"].append("10.210.0.21")
    hostvars["10.210.0.21"] = {"pg_proxy_clusters": ["pg-test"]}
    error = only_error(hostvars, groups)
    assert "pg_upstream '10.210.0.21' is a pg_proxy host" in error
    assert "name the upstream's VIP or one of its nodes" in error


def test_an_outside_upstream_is_nobodys_standby():
    hostvars, groups = with_standby("192.0.2.10")
    assert errors_of(hostvars, groups) == []
    clusters = haproxy.cluster_groups(hostvars, groups)
    assert standby.upstream_cluster(hostvars, groups, clusters, "pg-dr") is None
    assert pgha.standby_hosts(hostvars, groups, "pg-test") == []


def test_the_upstream_admits_the_standby_hosts_for_replication_only():
    hostvars, groups = with_standby()
    lines = cluster.hba_rules([H1, H2, H3], [], "postgres", "replicator",
                              standby_addresses=[S1, S2])
    assert f"hostssl replication replicator {S1}/32 scram-sha-256" in lines
    assert not [line for line in lines if S1 in line and "replication" not in line]
    # Firewall: PostgreSQL's port on the upstream's members; HAProxy (5436 for pg_upstream_port) too.
    assert {S1, S2} <= set(rules_of(hostvars, groups, H1)[5432]["ip"])
    sources = haproxy.client_sources(hostvars, groups, "pg-test", groups["pg-test"])
    assert {f"{S1}/32", f"{S2}/32"} <= set(sources)
    # Nothing else: the upstream's REST API stays closed to them.
    assert S1 not in rules_of(hostvars, groups, H1)[8008]["ip"]


@pytest.mark.parametrize("host, variables, fragment", [
    (S2, {"pg_upstream": VIP}, "host 10.210.0.42: pg_upstream on a host that is not the cluster's primary"),
    (S1, {"pg_upstream": "10.210.0.100/24"},
     "pg_upstream '10.210.0.100/24' is not an address or a host name"),
    (S1, {"pg_delay": "1 hour"}, "pg_delay '1 hour' is not a delay like 1h"),
    (S1, {"pg_upstream_port": 70000}, "pg_upstream_port 70000 is not a port number"),
    (S1, {"pg_upstream": S2}, "pg_upstream '10.210.0.42' is an address of the cluster itself"),
    (S1, {"pg_entrypoints": ["haproxy", "route53"]}, "pg_entrypoints route53 on a standby cluster"),
    (S1, {"pg_replication_password": "Sx-other-0001"}, "pg_replication_password differ from those of cluster "
                                                       "pg-test"),
])
def test_bad_standby_settings_are_refused(host, variables, fragment):
    hostvars, groups = with_standby()
    if "pg_entrypoints" in variables:
        hostvars[S2].update(variables)
    hostvars[host].update(variables)
    errors = errors_of(hostvars, groups)
    assert any(fragment in error for error in errors), errors


def test_pg_delay_without_pg_upstream_is_refused():
    hostvars, groups = valid_inventory()
    hostvars[H1]["pg_delay"] = "1h"
    assert "pg_delay is set without pg_upstream" in only_error(hostvars, groups)


def test_a_standby_cluster_cannot_back_up_or_pool_until_promoted():
    hostvars, groups = with_standby()
    for host in (S1, S2):
        del hostvars[host]["pgbackrest_enabled"]
        hostvars[host]["pgbouncer_enabled"] = True
    errors = "\n".join(errors_of(hostvars, groups))
    assert "pgBackRest needs a primary" in errors and "set pgbackrest_enabled: false" in errors
    assert "pgbouncer on a standby cluster (pg_upstream) is not supported yet" in errors


def test_a_standby_of_a_standby_is_refused():
    hostvars, groups = with_standby()
    add_cluster(hostvars, groups, "pg-dr2", ["10.210.0.51"])
    hostvars["10.210.0.51"].update(pg_upstream=S1, pgbackrest_enabled=False)
    errors = errors_of(hostvars, groups)
    assert any("reaches cluster pg-dr, which is itself a standby" in error for error in errors), errors


def test_delays_postgresql_takes():
    for value in ("0", 0, "500ms", "30s", "15min", "1h", "1d"):
        assert standby.delay_problem(value) is None, value
    for value in ("1 h", "1hour", "-1h", "1.5h", True, " 1h", "1h; select"):
        assert standby.delay_problem(value), value
