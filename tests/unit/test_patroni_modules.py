"""The patroni_* modules against a fake Patroni cluster over real HTTP, plus their pure helpers."""

import socket
from datetime import datetime, timedelta, timezone

import pytest
from fake_patroni import PASSWORD, USER, FakePatroni, default_members, member, wait_until
from module_runner import run_module

from ansible_collections.pgha.cloud.plugins.module_utils import patroni, patroni_core
from ansible_collections.pgha.cloud.plugins.modules import (
    patroni_cluster_info,
    patroni_config,
    patroni_switchover,
)


def run(module, args, check=False, diff=False):
    return run_module(module, args, check=check, diff=diff)


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(patroni_core.PatroniClient, "backoff", 0)
    monkeypatch.setattr(patroni_switchover, "POLL_INTERVAL", 0.05)


@pytest.fixture
def fake():
    cluster = FakePatroni()
    yield cluster
    cluster.close()


def conn(fake, password=PASSWORD):
    return {"api_urls": fake.urls, "api_username": USER, "api_password": password}


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- patroni_cluster_info ---------------------------------------------------
def test_cluster_info_reports_members_leader_and_config(fake):
    fake.members[2]["role"] = "sync_standby"
    fake.members[1]["tags"] = {"nofailover": True}
    fake.paused = True
    res = run(patroni_cluster_info, {"api_urls": fake.urls})
    assert res["changed"] is False
    assert res["leader"] == "pg-1"
    assert res["sync_standbys"] == ["pg-3"]
    assert res["paused"] is True
    assert [m["name"] for m in res["members"]] == ["pg-1", "pg-2", "pg-3"]
    assert res["members"][1]["tags"] == {"nofailover": True}
    assert res["members"][1]["lag"] == 0 and res["members"][0]["lag"] is None
    assert res["config"]["ttl"] == 30
    assert fake.writes() == []


def test_cluster_info_uses_the_next_url_when_one_is_down(fake):
    down = f"http://127.0.0.1:{closed_port()}"
    res = run(patroni_cluster_info, {"api_urls": [down, fake.url("pg-2")]})
    assert res.get("failed") is not True, res
    assert res["api_url"] == fake.url("pg-2")
    assert res["leader"] == "pg-1"


def test_cluster_info_unreachable_lists_every_url():
    urls = [f"http://127.0.0.1:{closed_port()}", f"http://127.0.0.1:{closed_port()}"]
    res = run(patroni_cluster_info, {"api_urls": urls})
    assert res["failed"] is True
    assert "no Patroni member answered GET /cluster" in res["msg"]
    for url in urls:
        assert url in res["msg"]
    assert "refused" in res["msg"].lower()


def test_cluster_info_rejects_a_url_without_scheme():
    res = run(patroni_cluster_info, {"api_urls": ["10.0.1.11:8008"]})
    assert res["failed"] is True
    assert "not an http:// or https:// URL" in res["msg"]


# -- patroni_config ---------------------------------------------------------
def test_config_applies_then_is_idempotent(fake):
    settings = {"loop_wait": 5, "postgresql": {"parameters": {"work_mem": "8MB"}}}
    first = run(patroni_config, dict(conn(fake), settings=settings, pending_restart_wait=0))
    assert first["changed"] is True, first
    assert first["patch"] == settings
    assert fake.config["loop_wait"] == 5
    assert fake.config["postgresql"]["parameters"] == {"max_connections": 100, "work_mem": "8MB"}
    assert first["config"]["loop_wait"] == 5
    assert len([r for r in fake.writes() if r["method"] == "PATCH"]) == 1

    second = run(patroni_config, dict(conn(fake), settings=settings, pending_restart_wait=0))
    assert second["changed"] is False
    assert second["patch"] == {}
    assert len(fake.writes()) == 1


def test_config_values_compare_like_postgresql(fake):
    settings = {"postgresql": {"parameters": {"max_connections": "100"}}}
    res = run(patroni_config, dict(conn(fake), settings=settings))
    assert res["changed"] is False
    assert fake.writes() == []


def test_config_check_mode_sends_nothing_and_diffs_changed_keys_only(fake):
    settings = {"ttl": 40, "postgresql": {"parameters": {"work_mem": "8MB"}}}
    res = run(patroni_config, dict(conn(fake), settings=settings), check=True, diff=True)
    assert res["changed"] is True
    assert res["patch"] == settings
    assert res["config"]["ttl"] == 40
    assert res["diff"]["before"] == {"ttl": 30, "postgresql": {"parameters": {"work_mem": "4MB"}}}
    assert res["diff"]["after"] == {"ttl": 40, "postgresql": {"parameters": {"work_mem": "8MB"}}}
    assert fake.writes() == []
    assert fake.config["ttl"] == 30


@pytest.mark.parametrize("settings, rule", [
    ({"ttl": 10}, "ttl=10 is below Patroni's minimum of 20"),
    ({"ttl": 30, "loop_wait": 10, "retry_timeout": 15},
     "loop_wait + 2 * retry_timeout = 10 + 2 * 15 = 40 exceeds ttl=30; Patroni requires"),
    # Only ttl given: the check uses loop_wait 10 and retry_timeout 10 already in the DCS.
    ({"ttl": 20}, "10 + 2 * 10 = 30 exceeds ttl=20"),
    ({"retry_timeout": 2}, "retry_timeout=2 is below Patroni's minimum of 3"),
    ({"loop_wait": "5"}, "loop_wait='5' must be an integer"),
    ({"maximum_lag_on_failover": -1}, "maximum_lag_on_failover=-1 must be >= 0"),
])
def test_config_refuses_what_patroni_would_reject_or_clamp(fake, settings, rule):
    res = run(patroni_config, dict(conn(fake), settings=settings))
    assert res["failed"] is True
    assert rule in res["msg"]
    assert fake.writes() == []


def test_config_wrong_password_is_explained(fake):
    res = run(patroni_config, dict(conn(fake, password="wrong"), settings={"loop_wait": 5}))
    assert res["failed"] is True
    assert "401" in res["msg"] and "check patroni_rest username/password" in res["msg"]
    assert fake.config["loop_wait"] == 10
    # A refused write is not retried on other members.
    assert len(fake.writes()) == 1


def test_config_reports_pending_restart(fake):
    settings = {"postgresql": {"parameters": {"max_connections": 300}}}
    res = run(patroni_config, dict(conn(fake), settings=settings, pending_restart_wait=5))
    assert res["changed"] is True
    assert res["pending_restart"] == ["pg-1", "pg-2", "pg-3"]
    # Warnings are strings before ansible-core 2.19, event dicts since.
    assert "PostgreSQL needs a restart to apply the change on: pg-1, pg-2, pg-3" in str(res["warnings"])


def test_config_no_pending_restart_for_a_reloadable_parameter(fake):
    settings = {"postgresql": {"parameters": {"work_mem": "16MB"}}}
    res = run(patroni_config, dict(conn(fake), settings=settings, pending_restart_wait=1))
    assert res["changed"] is True
    assert res["pending_restart"] == []


def test_config_null_deletes_a_key_once(fake):
    settings = {"postgresql": {"parameters": {"work_mem": None}}}
    first = run(patroni_config, dict(conn(fake), settings=settings, pending_restart_wait=0))
    assert first["changed"] is True
    assert "work_mem" not in fake.config["postgresql"]["parameters"]
    second = run(patroni_config, dict(conn(fake), settings=settings, pending_restart_wait=0))
    assert second["changed"] is False
    assert len(fake.writes()) == 1


# -- patroni_switchover -----------------------------------------------------
def test_switchover_waits_for_the_new_leader_then_is_idempotent(fake):
    res = run(patroni_switchover, dict(conn(fake), candidate="pg-2", wait_timeout=10), diff=True)
    assert res["changed"] is True, res
    assert (res["old_leader"], res["new_leader"]) == ("pg-1", "pg-2")
    assert res["diff"] == {"before": {"leader": "pg-1"}, "after": {"leader": "pg-2"}}
    assert res["elapsed"] >= fake.switch_delay - 0.05
    roles = {m["name"]: (m["role"], m["state"]) for m in res["members"]}
    assert roles == {"pg-1": ("replica", "streaming"), "pg-2": ("leader", "running"),
                     "pg-3": ("replica", "streaming")}
    posts = [r for r in fake.writes() if r["path"] == "/switchover"]
    assert [p["body"] for p in posts] == [{"leader": "pg-1", "candidate": "pg-2"}]

    again = run(patroni_switchover, dict(conn(fake), candidate="pg-2"))
    assert again["changed"] is False
    assert again["new_leader"] == "pg-2"
    assert len(fake.writes()) == 1


def test_switchover_check_mode_sends_nothing(fake):
    res = run(patroni_switchover, dict(conn(fake), candidate="pg-3"), check=True)
    assert res["changed"] is True
    assert (res["old_leader"], res["new_leader"], res["action"]) == ("pg-1", "pg-3", "switchover")
    assert fake.writes() == []
    assert fake.leader() == "pg-1"


def test_switchover_picks_the_replica_with_the_lowest_lag(fake):
    fake.get("pg-2")["lag"] = 5000
    fake.get("pg-3")["lag"] = 10
    res = run(patroni_switchover, dict(conn(fake), wait_timeout=10))
    assert res["new_leader"] == "pg-3"
    assert fake.leader() == "pg-3"


def test_switchover_best_candidate_skips_nofailover(fake):
    fake.get("pg-3")["tags"] = {"nofailover": True}
    fake.get("pg-2")["lag"] = 100
    res = run(patroni_switchover, conn(fake), check=True)
    assert res["new_leader"] == "pg-2"


@pytest.mark.parametrize("change, reason", [
    ({"tags": {"nofailover": True}}, "pg-2 is tagged nofailover"),
    ({"lag": 2 * 1048576}, "pg-2 lags 2097152 bytes behind, more than maximum_lag_on_failover=1048576"),
    ({"state": "stopped"}, "pg-2 is stopped, not streaming"),
    ({"lag": "unknown"}, "pg-2 reports lag 'unknown'"),
])
def test_switchover_refuses_an_unfit_candidate(fake, change, reason):
    fake.get("pg-2").update(change)
    res = run(patroni_switchover, dict(conn(fake), candidate="pg-2"))
    assert res["failed"] is True
    assert "refusing to switch over to pg-2" in res["msg"]
    assert reason in res["msg"]
    assert fake.writes() == []


def test_switchover_lag_limit_comes_from_the_dcs_config(fake):
    fake.config["maximum_lag_on_failover"] = 1000
    fake.get("pg-2")["lag"] = 5000
    res = run(patroni_switchover, dict(conn(fake), candidate="pg-2"))
    assert res["failed"] is True
    assert "maximum_lag_on_failover=1000" in res["msg"]


def test_switchover_in_synchronous_mode_only_to_a_sync_standby(fake):
    fake.config["synchronous_mode"] = True
    fake.get("pg-3")["role"] = "sync_standby"
    res = run(patroni_switchover, dict(conn(fake), candidate="pg-2"))
    assert res["failed"] is True
    assert "not a synchronous standby" in res["msg"]
    best = run(patroni_switchover, conn(fake), check=True)
    assert best["new_leader"] == "pg-3"


def test_switchover_without_any_fit_candidate_says_why(fake):
    fake.get("pg-2")["state"] = "stopped"
    fake.get("pg-3")["tags"] = {"nofailover": True}
    res = run(patroni_switchover, conn(fake))
    assert res["failed"] is True
    assert "no member can take over from pg-1" in res["msg"]
    assert "pg-2 is stopped" in res["msg"] and "pg-3 is tagged nofailover" in res["msg"]


def test_switchover_times_out_with_the_last_seen_state(fake):
    fake.old_leader_rejoins = False
    res = run(patroni_switchover, dict(conn(fake), candidate="pg-2", wait_timeout=2))
    assert res["failed"] is True
    assert "timed out after 2s waiting for pg-2 to lead" in res["msg"]
    assert "pg-1 replica stopped" in res["msg"]
    assert "pg-2 leader running" in res["msg"]


def test_switchover_expected_leader(fake):
    moved_away = run(patroni_switchover, dict(conn(fake), leader="pg-3"))
    assert moved_away["changed"] is False
    assert "pg-3 no longer leads" in moved_away["msg"]
    mismatch = run(patroni_switchover, dict(conn(fake), leader="pg-3", candidate="pg-2"))
    assert mismatch["failed"] is True
    assert "expected pg-3 to lead but the leader is pg-1" in mismatch["msg"]
    assert fake.writes() == []


def test_switchover_without_healthy_leader_needs_force():
    members = default_members()
    members[0]["state"] = "stopped"
    fake = FakePatroni(members=members)
    try:
        refused = run(patroni_switchover, dict(conn(fake), candidate="pg-2"))
        assert refused["failed"] is True
        assert "no healthy leader" in refused["msg"] and "force=true" in refused["msg"]
        assert fake.writes() == []
        forced = run(patroni_switchover, dict(conn(fake), candidate="pg-2", force=True, wait_timeout=10))
        assert forced["changed"] is True and forced["action"] == "failover", forced
        assert [r["path"] for r in fake.writes()] == ["/failover"]
        assert fake.leader() == "pg-2"
    finally:
        fake.close()


def test_switchover_wrong_password_is_explained(fake):
    res = run(patroni_switchover, dict(conn(fake, password="nope"), candidate="pg-2"))
    assert res["failed"] is True
    assert "check patroni_rest username/password" in res["msg"]
    assert fake.leader() == "pg-1"


def test_switchover_scheduled(fake):
    when = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    first = run(patroni_switchover, dict(conn(fake), candidate="pg-3", scheduled_at=when))
    assert first["changed"] is True and first["action"] == "scheduled_switchover", first
    assert fake.scheduled["to"] == "pg-3"
    assert fake.leader() == "pg-1"
    again = run(patroni_switchover, dict(conn(fake), candidate="pg-3", scheduled_at=when))
    assert again["changed"] is False
    assert len(fake.writes()) == 1


@pytest.mark.parametrize("when, error", [
    ("2020-01-01T00:00:00+00:00", "is in the past"),
    ("2999-01-01T00:00:00", "has no time zone"),
    ("tomorrow", "is not an ISO 8601 timestamp"),
])
def test_switchover_bad_schedule(fake, when, error):
    res = run(patroni_switchover, dict(conn(fake), candidate="pg-2", scheduled_at=when))
    assert res["failed"] is True
    assert error in res["msg"]
    assert fake.writes() == []


# -- pure helpers -----------------------------------------------------------
def cluster(*members):
    return {"members": list(members)}


def test_leader_key_holder_and_best_candidate():
    c = cluster(member("a", role="leader", state="running"), member("b", lag=50), member("c", lag=7),
                member("d", lag=0, tags={"nofailover": True}), member("e", lag=0, state="stopped"))
    assert patroni_core.leader_key_holder(c) == "a"
    assert patroni_core.best_candidate(c, 1048576) == "c"
    assert patroni_core.best_candidate(c, 5) is None
    assert patroni_core.leader_key_holder(cluster(member("b"))) is None


def test_best_candidate_ties_prefer_failover_priority():
    c = cluster(member("a", role="leader", state="running"),
                member("b", lag=0, tags={"failover_priority": 1}),
                member("c", lag=0, tags={"failover_priority": 5}))
    assert patroni_core.best_candidate(c, 100) == "c"


def test_candidate_errors_for_unknown_member_names_members():
    c = cluster(member("a", role="leader", state="running"), member("b"))
    assert patroni_core.candidate_errors(c, "zz", 100) == [
        "zz is not a member of the cluster (members: a, b)"]
    assert patroni_core.candidate_errors(c, "b", 100) == []


def test_config_errors_reuses_the_preset_rules():
    assert patroni_core.config_errors({"ttl": 20, "loop_wait": 2, "retry_timeout": 5}) == []
    errors = patroni_core.config_errors({"loop_wait": 10, "retry_timeout": 15, "ttl": 30})
    assert errors == patroni_core.timing_errors(30, 10, 15)
    assert patroni_core.config_errors({"synchronous_mode": "maybe"}) == [
        "synchronous_mode='maybe' must be true, false or quorum"]
    assert patroni_core.config_errors({"postgresql": {"parameters": []}}) == [
        "postgresql.parameters must be a dict of PostgreSQL settings"]


def test_desired_patch_and_apply_patch():
    current = {"ttl": 30, "postgresql": {"parameters": {"a": "1", "b": "on"}}}
    desired = {"ttl": 30, "gone": None, "postgresql": {"parameters": {"a": 2, "b": True, "c": None}}}
    patch = patroni_core.desired_patch(current, desired)
    assert patch == {"postgresql": {"parameters": {"a": 2}}}
    assert patroni_core.apply_patch(current, {"ttl": None, "postgresql": {"parameters": {"a": 2}}}) == {
        "postgresql": {"parameters": {"a": 2, "b": "on"}}}


def test_normalize_urls_accepts_a_json_list_string():
    assert patroni_core.normalize_urls(['["http://h1:8008/", "http://h2:8008/patroni"]']) == [
        "http://h1:8008", "http://h2:8008"]
    with pytest.raises(patroni_core.PatroniError, match="empty"):
        patroni_core.PatroniClient([], transport=None)


def test_connection_options_match_the_doc_fragment():
    import yaml

    from ansible_collections.pgha.cloud.plugins.doc_fragments.patroni import ModuleDocFragment

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = patroni.connection_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("required", False) == option.get("required", False), name


def test_retries_then_moves_on():
    calls = []

    def refused(method, url, body, timeout, headers):
        calls.append(url)
        raise patroni_core.TransportError("[Errno 111] Connection refused")

    client = patroni_core.PatroniClient(["http://h1:8008", "http://h2:8008"], refused, retries=2)
    with pytest.raises(patroni_core.PatroniError) as err:
        client.cluster()
    assert calls == ["http://h1:8008/cluster"] * 3 + ["http://h2:8008/cluster"] * 3
    assert ("tried http://h1:8008: [Errno 111] Connection refused; http://h2:8008: [Errno 111]"
            in str(err.value))


def test_a_write_that_timed_out_is_not_resent():
    calls = []

    def timeout(method, url, body, timeout, headers):
        calls.append(url)
        raise patroni_core.TransportError("timed out")

    client = patroni_core.PatroniClient(["http://h1:8008", "http://h2:8008"], timeout, retries=2)
    with pytest.raises(patroni_core.PatroniError) as err:
        client.switchover("a", "b")
    assert calls == ["http://h1:8008/switchover"]
    assert err.value.outcome_unknown is True
    assert "may or may not have taken effect" in str(err.value)


def test_fake_cluster_applies_switchover_after_a_delay(fake):
    # The fake itself: the wait in the module is only exercised if the change is not instant.
    client = patroni_core.PatroniClient(fake.urls, patroni_core.stdlib_transport(), USER, PASSWORD)
    client.switchover("pg-1", "pg-2")
    assert fake.leader() == "pg-1"
    assert wait_until(lambda: fake.leader() == "pg-2")


def test_https_members_are_checked_against_the_given_ca(test_ca, tmp_path):
    from tls_testca import make_ca

    tls_fake = FakePatroni(tls=test_ca)
    try:
        res = run(patroni_cluster_info, {"api_urls": tls_fake.urls, "ca_path": test_ca["ca"]})
        assert not res.get("failed"), res
        assert res["leader"] == "pg-1"

        # A certificate of another CA is refused, with a hint at ca_path rather than a bare TLS error.
        other = make_ca(tmp_path)["ca"]
        res = run(patroni_cluster_info, {"api_urls": tls_fake.urls, "ca_path": other})
        assert res["failed"]
        assert "CERTIFICATE_VERIFY_FAILED" in res["msg"] and "set ca_path to the CA" in res["msg"]

        # validate_certs: false is the documented way out while diagnosing.
        res = run(patroni_cluster_info, {"api_urls": tls_fake.urls, "validate_certs": False})
        assert res["leader"] == "pg-1"
    finally:
        tls_fake.close()
