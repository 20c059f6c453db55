"""Pure reconcile logic of the cloud entry points: who should be a target, and what to change."""

import pytest

from ansible_collections.pgha.cloud.plugins.module_utils import entrypoints as ep
from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import PRIMARY_ROLES


def m(name, host, role="replica", state="streaming", lag=0, tags=None):
    out = {"name": name, "host": host, "role": role, "state": state, "port": 5432}
    if role not in PRIMARY_ROLES:
        out["lag"] = lag
    if tags:
        out["tags"] = tags
    return out


def cluster(*members):
    return {"members": list(members)}


HEALTHY = cluster(m("pg-1", "10.0.1.11", "leader", "running"), m("pg-2", "10.0.2.11"), m("pg-3", "10.0.3.11"))


# -- primary targets -----------------------------------------------------------------
def test_primary_is_exactly_the_running_leader():
    assert ep.desired_members(HEALTHY, "primary") == [("pg-1", "10.0.1.11")]


@pytest.mark.parametrize("state", ["stopped", "starting", "crashed", "restarting", None])
def test_a_leader_that_is_not_running_is_no_primary_target(state):
    c = cluster(m("pg-1", "10.0.1.11", "leader", state), m("pg-2", "10.0.2.11"))
    assert ep.desired_members(c, "primary") == []


def test_no_leader_no_primary_target():
    assert ep.desired_members(cluster(m("pg-2", "10.0.2.11"), m("pg-3", "10.0.3.11")), "primary") == []


def test_standby_leader_is_never_a_primary_target():
    c = cluster(m("pg-1", "10.0.1.11", "standby_leader", "streaming"), m("pg-2", "10.0.2.11"))
    assert ep.desired_members(c, "primary") == []
    assert ep.desired_members(c, "replica") == [("pg-2", "10.0.2.11")]


def test_two_leaders_are_refused_rather_than_picked():
    c = cluster(m("pg-1", "10.0.1.11", "leader", "running"), m("pg-2", "10.0.2.11", "leader", "running"))
    with pytest.raises(ep.EntrypointError, match="more than one member reports the leader role.*pg-1, pg-2"):
        ep.desired_members(c, "primary")


def test_primary_follows_a_failover():
    after = cluster(
        m("pg-1", "10.0.1.11", "replica", "streaming"),
        m("pg-2", "10.0.2.11", "leader", "running"),
        m("pg-3", "10.0.3.11"),
    )
    assert ep.desired_members(after, "primary") == [("pg-2", "10.0.2.11")]
    assert ep.desired_members(after, "replica") == [("pg-1", "10.0.1.11"), ("pg-3", "10.0.3.11")]


# -- replica targets -----------------------------------------------------------------
def test_replicas_are_the_streaming_members_within_the_lag_bound():
    c = cluster(
        m("pg-1", "10.0.1.11", "leader", "running"),
        m("pg-2", "10.0.2.11", lag=100),
        m("pg-3", "10.0.3.11", "sync_standby", lag=0),
        m("pg-4", "10.0.4.11", lag=5000),
    )
    assert ep.desired_members(c, "replica", max_lag=1000) == [("pg-2", "10.0.2.11"), ("pg-3", "10.0.3.11")]
    assert [n for n, _ip in ep.desired_members(c, "replica", max_lag=5000)] == ["pg-2", "pg-3", "pg-4"]


@pytest.mark.parametrize(
    "member",
    [
        m("pg-2", "10.0.2.11", state="stopped"),
        m("pg-2", "10.0.2.11", state="starting"),
        m("pg-2", "10.0.2.11", lag="unknown"),
        m("pg-2", "10.0.2.11", lag=None),
        m("pg-2", "10.0.2.11", tags={"noloadbalance": True}),
        m("pg-2", "10.0.2.11", tags={"noloadbalance": "true"}),
    ],
)
def test_members_that_are_not_replica_targets(member):
    c = cluster(m("pg-1", "10.0.1.11", "leader", "running"), member)
    assert ep.desired_members(c, "replica") == []


def test_replica_record_falls_back_to_the_leader_only_when_asked():
    c = cluster(m("pg-1", "10.0.1.11", "leader", "running"), m("pg-2", "10.0.2.11", state="stopped"))
    assert ep.replica_record_members(c) == [("pg-1", "10.0.1.11")]
    assert ep.replica_record_members(c, fallback_primary=False) == []
    assert ep.replica_record_members(HEALTHY) == [("pg-2", "10.0.2.11"), ("pg-3", "10.0.3.11")]


def test_addresses_override_and_hostnames_are_refused():
    c = cluster(m("pg-1", "pg-1.example", "leader", "running"))
    with pytest.raises(ep.EntrypointError, match=r"member pg-1 has address 'pg-1.example'.*addresses"):
        ep.desired_members(c, "primary")
    assert ep.desired_members(c, "primary", addresses={"pg-1": "10.9.9.9"}) == [("pg-1", "10.9.9.9")]


def test_unknown_service_is_refused():
    with pytest.raises(ep.EntrypointError, match="service 'writer'"):
        ep.desired_members(HEALTHY, "writer")


def test_target_changes():
    assert ep.target_changes(["b", "c"], ["a", "b"]) == (["c"], ["a"])
    assert ep.target_changes(["a"], ["a"]) == ([], [])


# -- Route53 record sets --------------------------------------------------------------
def test_record_names_and_fqdn():
    assert ep.role_record_names("pg-test", "DB.Internal") == {
        "primary": "pg-test-primary.db.internal.",
        "replica": "pg-test-replica.db.internal.",
    }
    assert ep.fqdn("a.b.") == "a.b."


def test_primary_record_change_and_idempotence():
    want = [ep.primary_record("p.z", "10.0.2.11")]
    current = [ep.primary_record("p.z.", "10.0.1.11")]
    changes = ep.record_changes(current, want)
    assert changes == [{"Action": "UPSERT", "ResourceRecordSet": want[0]}]
    assert ep.record_changes(ep.apply_record_changes(current, changes), want) == []


def test_empty_desired_keeps_the_name_when_asked():
    current = [ep.primary_record("p.z", "10.0.1.11")]
    assert ep.record_changes(current, [], keep_when_empty=True) == []
    assert ep.record_changes(current, []) == [{"Action": "DELETE", "ResourceRecordSet": current[0]}]


def test_replica_records_one_set_per_member_deletes_first():
    current = [ep.replica_record("r.z", "pg-1", "10.0.1.11"), ep.replica_record("r.z", "pg-2", "10.0.2.11")]
    want = [ep.replica_record("r.z", "pg-2", "10.0.2.11"), ep.replica_record("r.z", "pg-3", "10.0.3.11")]
    changes = ep.record_changes(current, want)
    assert [(c["Action"], c["ResourceRecordSet"]["SetIdentifier"]) for c in changes] == [
        ("DELETE", "pg-1"),
        ("UPSERT", "pg-3"),
    ]
    after = ep.apply_record_changes(current, changes)
    assert ep.record_values(after) == {"pg-2": ["10.0.2.11"], "pg-3": ["10.0.3.11"]}


def test_a_changed_ttl_or_health_check_is_an_update():
    current = [ep.replica_record("r.z", "pg-2", "10.0.2.11", ttl=60)]
    want = [ep.replica_record("r.z", "pg-2", "10.0.2.11", ttl=5)]
    assert [c["Action"] for c in ep.record_changes(current, want)] == ["UPSERT"]
    want_hc = [ep.replica_record("r.z", "pg-2", "10.0.2.11", ttl=60, health_check_id="hc-1")]
    assert [c["Action"] for c in ep.record_changes(current, want_hc)] == ["UPSERT"]


def test_a_simple_record_is_replaced_by_multivalue_sets():
    current = [ep.primary_record("r.z", "10.0.1.11")]
    want = [ep.replica_record("r.z", "pg-2", "10.0.2.11")]
    changes = ep.record_changes(current, want)
    assert [c["Action"] for c in changes] == ["DELETE", "UPSERT"]
    assert changes[0]["ResourceRecordSet"] == current[0]


@pytest.mark.parametrize("wanted, expected", [
    (["haproxy"], {}),
    ([], {}),
    (None, {}),
    (["haproxy", "vip"], {}),
    (["nlb"], {"on_role_change": ep.CALLBACK_COMMAND, "on_stop": ep.CALLBACK_COMMAND}),
    (["route53"], {"on_role_change": ep.CALLBACK_COMMAND, "on_stop": ep.CALLBACK_COMMAND}),
])
def test_patroni_calls_the_script_only_for_the_aws_entrypoints(wanted, expected):
    assert ep.patroni_callbacks(wanted) == expected


@pytest.mark.parametrize("wanted, nlb_targets, follows", [
    (["nlb"], "members", ["nlb"]),
    (["nlb"], None, ["nlb"]),
    (["nlb"], "haproxy", []),
    (["haproxy", "nlb", "route53"], "haproxy", ["route53"]),
    (["route53"], "haproxy", ["route53"]),
])
def test_an_nlb_in_front_of_haproxy_needs_no_callback(wanted, nlb_targets, follows):
    assert ep.follows_roles(wanted, nlb_targets) == follows
    assert bool(ep.patroni_callbacks(wanted, nlb_targets)) == bool(follows)
