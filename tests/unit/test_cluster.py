"""Inventory facts -> cluster configuration (plugins/module_utils/cluster.py)."""

import pytest

from ansible_collections.pgha.cloud.plugins.module_utils import cluster, patroni_core


def test_node_addresses_prefer_node_address_and_keep_order():
    hostvars = {"a": {"node_address": "10.0.0.5"}, "b": {}, "c": {"node_address": ""}}
    assert cluster.node_addresses(["b", "a", "c"], hostvars) == ["b", "10.0.0.5", "c"]


def test_hosts_with_address_match_node_address_or_name():
    hostvars = {"a": {"node_address": "10.0.0.5"}, "b": {}, "10.0.0.7": {}}
    hosts = ["a", "b", "10.0.0.7"]
    assert cluster.hosts_with_address(hosts, hostvars, "10.0.0.5") == ["a"]
    assert cluster.hosts_with_address(hosts, hostvars, "10.0.0.7") == ["10.0.0.7"]
    assert cluster.hosts_with_address(hosts, hostvars, "a") == []  # a's address is 10.0.0.5, not its name
    assert cluster.hosts_with_address(hosts, hostvars, "10.9.9.9") == []


def test_api_urls_use_each_hosts_address_and_rest_port():
    hostvars = {"a": {"node_address": "10.0.0.5"}, "b": {"patroni_rest_port": 8010}, "c": {}}
    assert cluster.api_urls(["a", "b", "c"], hostvars) == [
        "https://10.0.0.5:8008", "https://b:8010", "https://c:8008"]
    assert cluster.api_urls(["c"], hostvars, 9000) == ["https://c:9000"]
    assert cluster.api_urls(["d"], {"d": {"node_address": "fd00::7"}}) == ["https://[fd00::7]:8008"]


def test_non_members_are_hosts_no_member_reports_as_its_address():
    hostvars = {"a": {"node_address": "10.0.0.5"}, "b": {}, "c": {}}
    members = [{"name": "pg-1", "host": "10.0.0.5"}, {"name": "pg-2", "host": "b"}]
    assert cluster.non_members(["a", "b", "c"], hostvars, members) == ["c"]
    # No member answered: every host is new.
    assert cluster.non_members(["a", "b"], hostvars, []) == ["a", "b"]


def test_sync_candidates_are_streaming_replicas_without_nosync():
    members = [
        {"name": "pg-1", "role": "leader", "state": "running"},
        {"name": "pg-2", "role": "sync_standby", "state": "streaming"},
        {"name": "pg-3", "role": "replica", "state": "streaming", "tags": {"nosync": True}},
        {"name": "pg-4", "role": "replica", "state": "starting"},
        {"name": "pg-5", "role": "replica", "state": "streaming", "tags": {"nosync": False}},
    ]
    assert cluster.sync_candidates(members, "pg-1") == ["pg-2", "pg-5"]
    assert cluster.sync_candidates(members, "pg-1", ["pg-2", "pg-5"]) == []


def test_etcd_initial_cluster_lists_started_members_and_the_new_one():
    members = [
        {"ID": 1, "name": "etcd-1", "peerURLs": ["http://10.0.0.1:2380"]},
        {"ID": 2, "name": "etcd-2", "peerURLs": ["http://10.0.0.2:2380"]},
        # Registered by `member add` but not started: no name yet.
        {"ID": 3, "name": "", "peerURLs": ["http://10.0.0.3:2380"]},
    ]
    assert cluster.etcd_initial_cluster(members, "etcd-3", "http://10.0.0.3:2380") == (
        "etcd-1=http://10.0.0.1:2380,etcd-2=http://10.0.0.2:2380,etcd-3=http://10.0.0.3:2380")


STATS_CSV = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,...,status
stats,FRONTEND,,,1,1,5000,1,0,0,0,0,0,,,,,OPEN,
pg-test-primary,FRONTEND,,,0,0,5000,0,0,0,0,0,0,,,,,OPEN,
pg-test-primary,pg-test-1,0,0,0,0,3000,0,0,0,,0,,0,0,0,0,DOWN,1
pg-test-primary,pg-test-3,0,0,0,0,3000,0,0,0,,0,,0,0,0,0,UP,1
pg-test-primary,BACKEND,0,0,0,0,1000,0,0,0,0,0,,0,0,0,0,UP,1
pg-test-replica,pg-test-1,0,0,0,0,3000,0,0,0,,0,,0,0,0,0,UP 1/2,1
pg-test-replica,pg-test-2,0,0,0,0,3000,0,0,0,,0,,0,0,0,0,UP,1
pg-test-replica,pg-test-3,0,0,0,0,3000,0,0,0,,0,,0,0,0,0,DOWN,1
pg-test-default,BACKEND,0,0,0,0,1000,0,0,0,0,0,,0,0,0,0,DOWN,1
pg-other-primary,pg-other-1,0,0,0,0,3000,0,0,0,,0,,0,0,0,0,UP,1
"""


def test_haproxy_routes_lists_the_servers_up_per_service():
    routes = cluster.haproxy_routes(STATS_CSV, "pg-test")
    # "UP 1/2" is a server going down but still serving: it is counted.
    assert routes == {"primary": ["pg-test-3"], "replica": ["pg-test-1", "pg-test-2"], "default": []}
    assert cluster.haproxy_routes("", "pg-test") == {}


def _admits(rules, kind, database, user, address_rule):
    """The first rule for (kind, database, user) from `address_rule`'s source, as pg_hba reads top-down."""
    for rule in rules:
        parts = rule.split()
        if parts[0] == "local" or parts[3] not in (address_rule, "all"):
            continue
        if kind == "ssl" and parts[0] not in ("host", "hostssl"):
            continue
        if kind == "plain" and parts[0] not in ("host", "hostnossl"):
            continue
        if parts[1] in (database, "all") and (database != "replication" or parts[1] == "replication") \
                and parts[2] in (user, "all"):
            return parts[4] != "reject"
    return False


def test_hba_rules_cover_members_clients_and_local_replication():
    rules = cluster.hba_rules(["10.0.0.1", "10.0.0.2"], ["192.168.0.0/16"], "postgres", "replicator",
                              rewind_user="rewind")
    assert rules[0] == "local all postgres peer"
    # a demoted primary must reach itself as the replication user before pg_rewind
    assert "local replication replicator scram-sha-256" in rules
    assert "hostssl replication replicator 127.0.0.1/32 scram-sha-256" in rules
    for address in ("10.0.0.1", "10.0.0.2"):
        assert f"hostssl replication replicator {address}/32 scram-sha-256" in rules
        assert f"hostssl all rewind {address}/32 scram-sha-256" in rules
        assert f"hostssl all all {address}/32 scram-sha-256" in rules
    assert rules[-1] == "hostssl all all 192.168.0.0/16 scram-sha-256"
    assert not any(" md5" in r or " trust" in r or " password" in r for r in rules)


def test_hba_rules_keep_the_superuser_local_and_everything_on_tls():
    rules = cluster.hba_rules(["10.0.0.1"], ["192.168.0.0/16"], "postgres", "replicator", ["10.0.0.9"],
                              rewind_user="rewind")
    for source in ("10.0.0.1/32", "10.0.0.9/32", "192.168.0.0/16", "127.0.0.1/32"):
        assert not _admits(rules, "ssl", "postgres", "postgres", source), source
        assert not _admits(rules, "plain", "app", "app", source), source
    # pg_rewind reads files as its user: members only; replication: members only, over TLS
    assert _admits(rules, "ssl", "postgres", "rewind", "10.0.0.1/32")
    assert not _admits(rules, "ssl", "postgres", "rewind", "10.0.0.9/32")
    assert not _admits(rules, "ssl", "postgres", "rewind", "192.168.0.0/16")
    assert _admits(rules, "ssl", "replication", "replicator", "10.0.0.1/32")
    assert not _admits(rules, "ssl", "replication", "replicator", "10.0.0.9/32")
    assert not _admits(rules, "ssl", "app", "replicator", "10.0.0.1/32")
    # an application login over TLS from every source that routes clients
    for source in ("10.0.0.1/32", "10.0.0.9/32", "192.168.0.0/16"):
        assert _admits(rules, "ssl", "app", "app", source), source


def test_hba_rules_let_the_replication_user_rewind_from_members_only():
    # Pigsty's setup: pg_rewind connects as the replicator, to a database.
    rules = cluster.hba_rules(["10.0.0.1", "10.0.0.2"], ["192.168.0.0/16"], "postgres", "replicator",
                              ["10.0.0.9"], rewind_user="replicator")
    for member in ("10.0.0.1/32", "10.0.0.2/32"):
        assert _admits(rules, "ssl", "postgres", "replicator", member)
        assert _admits(rules, "ssl", "replication", "replicator", member)
        assert not _admits(rules, "plain", "postgres", "replicator", member)
    for other in ("10.0.0.9/32", "192.168.0.0/16"):
        assert not _admits(rules, "ssl", "postgres", "replicator", other), other
        assert not _admits(rules, "ssl", "replication", "replicator", other), other
    assert not _admits(rules, "ssl", "postgres", "postgres", "10.0.0.1/32")


def test_hba_rules_refuse_the_superuser_as_the_rewind_user():
    with pytest.raises(ValueError, match="is the superuser"):
        cluster.hba_rules(["10.0.0.1"], [], "postgres", "replicator", rewind_user="postgres")


def test_hba_rules_prefer_admits_plaintext_clients_but_not_plaintext_replication():
    rules = cluster.hba_rules(["10.0.0.1"], ["192.168.0.0/16"], "postgres", "replicator", tls="prefer",
                              rewind_user="rewind")
    assert _admits(rules, "plain", "app", "app", "192.168.0.0/16")
    assert not _admits(rules, "plain", "replication", "replicator", "10.0.0.1/32")
    assert not _admits(rules, "plain", "postgres", "rewind", "10.0.0.1/32")
    assert not _admits(rules, "plain", "postgres", "postgres", "10.0.0.1/32")


def test_hba_rules_refuse_an_unknown_tls_mode():
    with pytest.raises(ValueError, match="pg_tls 'off' is not one of require, prefer"):
        cluster.hba_rules(["10.0.0.1"], [], "postgres", "replicator", tls="off")


def test_hba_rules_drop_duplicates_keeping_first_position():
    rules = cluster.hba_rules(["127.0.0.1"], ["127.0.0.1/32"], "postgres", "replicator")
    assert len(rules) == len(set(rules))
    assert rules.count("hostssl all all 127.0.0.1/32 scram-sha-256") == 1


def test_etcd_password_is_derived_per_cluster_and_hides_root():
    first = cluster.etcd_password("root-secret", "pg-a")
    assert first == cluster.etcd_password("root-secret", "pg-a")
    assert first != cluster.etcd_password("root-secret", "pg-b")
    assert first != cluster.etcd_password("other-root", "pg-a")
    assert "root-secret" not in first and len(first) == 64
    assert cluster.etcd_user("pg-a") == "pgha-pg-a"
    with pytest.raises(ValueError, match="etcd_root_password is not set"):
        cluster.etcd_password("", "pg-a")


def test_config_patch_empty_when_current_matches_in_postgres_terms():
    current = {"ttl": 20, "synchronous_mode": True,
               "postgresql": {"parameters": {"hot_standby": "on", "max_connections": "200"}}}
    desired = {"ttl": 20, "synchronous_mode": "true",
               "postgresql": {"parameters": {"hot_standby": True, "max_connections": 200}}}
    assert patroni_core.config_patch(current, desired) == {}


def test_config_patch_holds_only_differences_and_missing_keys():
    current = {"ttl": 30, "loop_wait": 10, "postgresql": {"parameters": {"work_mem": "4MB"}},
               "operator_key": 1}
    desired = {"ttl": 20, "loop_wait": 10, "retry_timeout": 5,
               "postgresql": {"use_slots": True, "parameters": {"work_mem": "4MB", "wal_level": "replica"}}}
    assert patroni_core.config_patch(current, desired) == {
        "ttl": 20, "retry_timeout": 5,
        "postgresql": {"use_slots": True, "parameters": {"wal_level": "replica"}},
    }


def test_config_patch_from_nothing_is_everything():
    desired = {"ttl": 20, "postgresql": {"parameters": {"a": 1}}}
    assert patroni_core.config_patch(None, desired) == desired


def test_member_line_shows_role_state_timeline_and_lag():
    line = cluster.member_line({"name": "pg-test-2", "host": "10.0.0.2", "role": "sync_standby",
                                "state": "streaming", "timeline": 3, "lag": 0})
    assert line.split() == ["pg-test-2", "10.0.0.2", "sync_standby", "streaming", "TL", "3", "lag", "0"]
    assert cluster.member_line({"name": "a", "role": "leader"}).endswith("lag -")


def test_hba_rules_let_proxies_log_in_but_not_replicate():
    rules = cluster.hba_rules(["10.0.0.1"], [], "postgres", "replicator", ["10.0.0.9", "10.0.0.1"])
    assert "hostssl all all 10.0.0.9/32 scram-sha-256" in rules
    assert "hostssl replication replicator 10.0.0.9/32 scram-sha-256" not in rules
    # A proxy that is also a member adds no second copy of the member's rule.
    assert rules.count("hostssl all all 10.0.0.1/32 scram-sha-256") == 1
    assert cluster.hba_rules(["10.0.0.1"], [], "postgres", "replicator") == [
        r for r in rules if "10.0.0.9" not in r]


def test_hba_rules_write_one_host_per_member_whatever_its_address_family():
    rules = cluster.hba_rules(["10.0.0.1", "fd00::11", "pg-3.db.internal"], [], "postgres", "replicator",
                              ["fd00::99"], rewind_user="rewind")
    # An IPv6 member is one host (/128), not a /32 network; a host name takes no mask.
    assert "hostssl replication replicator fd00::11/128 scram-sha-256" in rules
    assert "hostssl all rewind pg-3.db.internal scram-sha-256" in rules
    assert "hostssl all all fd00::99/128 scram-sha-256" in rules
    assert "hostssl all all 10.0.0.1/32 scram-sha-256" in rules
    assert not [r for r in rules if "::11/32" in r or "internal/" in r]


def test_cluster_request_defaults_to_the_only_cluster_and_names_the_choices():
    hostvars = {"a": {"pg_cluster": "pg-test"}, "b": {"pg_cluster": "pg-test"}, "e": {}}
    groups = {"all": ["a", "b", "e"], "pg-test": ["a", "b"], "etcd": ["e"]}
    assert cluster.cluster_request(hostvars, groups) == {
        "cluster": "pg-test", "members": ["a", "b"], "error": None}
    assert cluster.cluster_request(hostvars, groups, "pg-test")["members"] == ["a", "b"]
    # A name that is a group but not a cluster (etcd), or no group at all.
    assert cluster.cluster_request(hostvars, groups, "etcd")["error"] == (
        "cluster 'etcd' is not a cluster of this inventory (clusters: pg-test)")
    assert cluster.cluster_request(hostvars, groups, "pg-nope")["cluster"] is None

    hostvars["c"] = {"pg_cluster": "pg-other"}
    groups.update({"all": ["a", "b", "c", "e"], "pg-other": ["c"]})
    assert cluster.cluster_request(hostvars, groups)["error"] == (
        "set -e cluster=<name>: the inventory holds more than one cluster (pg-other, pg-test)")
    assert cluster.cluster_request(hostvars, groups, "pg-other")["members"] == ["c"]
    assert cluster.cluster_request({"e": {}}, {"all": ["e"]})["error"] == (
        "the inventory holds no cluster (none: no host sets pg_cluster)")


def test_filters_turn_a_value_error_into_a_filter_error_with_its_message():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.pgha.cloud.plugins.filter.pgha import FilterModule

    hba_rules = FilterModule().filters()["hba_rules"]
    with pytest.raises(AnsibleFilterError, match="pg_tls 'maybe' is not one of require, prefer"):
        hba_rules(["10.0.0.1"], [], "postgres", "replicator", tls="maybe")
    assert hba_rules(["10.0.0.1"], [], "postgres", "replicator")  # the wrapper passes results through


def _member(name, role, pending=True):
    return {"name": name, "role": role, "state": "streaming", "pending_restart": pending}


def test_restart_plan_restarts_async_replicas_then_sync_standbys_never_the_leader_in_place():
    members = [_member("pg-test-1", "leader"), _member("pg-test-2", "sync_standby"),
               _member("pg-test-4", "replica"), _member("pg-test-3", "replica"),
               _member("pg-test-5", "replica", pending=False)]
    plan = cluster.restart_plan(members, "pg-test-1")
    assert plan == {"leader": "pg-test-1", "pending": ["pg-test-1", "pg-test-2", "pg-test-4", "pg-test-3"],
                    "leader_pending": True, "replicas": ["pg-test-3", "pg-test-4", "pg-test-2"]}


def test_restart_plan_with_nothing_flagged_restarts_nothing():
    members = [_member("pg-test-1", "leader", False), _member("pg-test-2", "quorum_standby", False)]
    assert cluster.restart_plan(members, "pg-test-1") == {
        "leader": "pg-test-1", "pending": [], "leader_pending": False, "replicas": []}
    plan = cluster.restart_plan([_member("pg-test-2", "quorum_standby")], "pg-test-1")
    assert plan["replicas"] == ["pg-test-2"] and not plan["leader_pending"]


def test_standby_floor_decreases_lists_only_lowered_floor_settings():
    before = {"max_connections": "200", "max_wal_senders": 10, "work_mem": "64MB", "max_worker_processes": 8}
    after = {"max_connections": 100, "max_wal_senders": 20, "work_mem": "4MB", "max_worker_processes": 8,
             "max_locks_per_transaction": 32}
    assert cluster.standby_floor_decreases(before, after) == [
        {"name": "max_connections", "before": 200, "after": 100}]
    assert cluster.standby_floor_decreases({}, after) == []
    assert cluster.standby_floor_decreases(None, None) == []


def test_as_int_takes_whole_numbers_only():
    """One rule for the inventory check and the restart plan: bools, floats, padded strings are no numbers."""
    assert [cluster.as_int(v) for v in (5, "5", "-3", "+7")] == [5, 5, -3, 7]
    assert [cluster.as_int(v) for v in (True, 1.5, " 5", "5 ", "1e3", "", None, [1])] == [None] * 8


def test_etcd_urls_put_the_nodes_own_member_first_and_bracket_ipv6():
    hostvars = {"e1": {"node_address": "10.0.0.1"}, "e2": {"node_address": "10.0.0.2"},
                "e3": {"node_address": "fd00::3"}}
    assert cluster.etcd_urls(["e3", "e1", "e2"], hostvars, 2379, "10.0.0.2") == [
        "https://10.0.0.2:2379", "https://10.0.0.1:2379", "https://[fd00::3]:2379"]
    assert cluster.etcd_urls(["e2", "e1"], hostvars, 2380) == ["https://10.0.0.1:2380", "https://10.0.0.2:2380"]
    assert cluster.etcd_urls(["e1", "e3"], hostvars, 2379, "fd00::3")[0] == "https://[fd00::3]:2379"
