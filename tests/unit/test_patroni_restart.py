"""patroni_restart against the fake Patroni cluster over real HTTP."""

import json

import pytest
from fake_patroni import PASSWORD, USER, FakePatroni
from module_runner import run_module

from ansible_collections.pgha.cloud.plugins.module_utils import patroni_core
from ansible_collections.pgha.cloud.plugins.modules import patroni_restart


def run(args, check=False):
    return run_module(patroni_restart, args, check=check)


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(patroni_core.PatroniClient, "backoff", 0)
    monkeypatch.setattr(patroni_restart, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(patroni_restart, "pending_grace", lambda client: 0.5)


@pytest.fixture
def fake():
    cluster = FakePatroni(restart_delay=0.2)
    yield cluster
    cluster.close()


def args(fake, member, password=PASSWORD, **extra):
    return dict({"api_urls": fake.urls, "api_username": USER, "api_password": password,
                 "member": member, "wait_timeout": 10}, **extra)


def posts(fake):
    return [r for r in fake.writes() if r["path"] == "/restart"]


def test_restart_of_a_pending_replica_waits_until_it_is_cleared(fake):
    fake.get("pg-2")["pending_restart"] = True
    res = run(args(fake, "pg-2"))
    assert res.get("failed") is not True, res
    assert res["changed"] is True and res["restarted"] is True
    assert res["pending_restart"] is True and res["still_pending"] is False
    assert fake.restarts == ["pg-2"]
    # Sent to that member only, with Patroni's own guard against a restart that is no longer pending.
    assert [(r["member"], r["body"]) for r in posts(fake)] == [("pg-2", {"restart_pending": True})]
    assert "pending_restart" not in fake.get("pg-2")
    member = next(m for m in res["members"] if m["name"] == "pg-2")
    assert member["pending_restart"] is False and member["state"] == "streaming"


def test_only_if_pending_leaves_a_member_without_pending_restart_alone(fake):
    res = run(args(fake, "pg-3"))
    assert res["changed"] is False and res["restarted"] is False
    assert "no pending restart" in res["msg"]
    assert fake.writes() == []


def test_only_if_pending_false_restarts_anyway(fake):
    res = run(args(fake, "pg-3", only_if_pending=False))
    assert res["changed"] is True and res["restarted"] is True
    assert [(r["member"], r["body"]) for r in posts(fake)] == [("pg-3", {})]


def test_check_mode_sends_nothing(fake):
    fake.get("pg-2")["pending_restart"] = True
    res = run(args(fake, "pg-2"), check=True)
    assert res["changed"] is True and res["restarted"] is False
    assert res["msg"].startswith("would restart PostgreSQL on pg-2")
    assert fake.writes() == []
    assert fake.get("pg-2")["pending_restart"] is True


def test_wrong_password_is_explained(fake):
    fake.get("pg-2")["pending_restart"] = True
    res = run(args(fake, "pg-2", password="wrong"))
    assert res["failed"] is True
    assert "401 Unauthorized" in res["msg"]
    assert "api_username and api_password" in res["msg"]
    assert fake.restarts == []


def test_the_leader_is_not_restarted_in_place_unless_allowed(fake):
    fake.get("pg-1")["pending_restart"] = True
    res = run(args(fake, "pg-1"))
    assert res["failed"] is True
    assert "pg-1 is the leader" in res["msg"] and "patroni_switchover" in res["msg"]
    assert fake.writes() == []

    res = run(args(fake, "pg-1", allow_leader=True))
    assert res.get("failed") is not True, res
    assert res["restarted"] is True and fake.restarts == ["pg-1"]


def test_unknown_member_names_the_members(fake):
    res = run(args(fake, "pg-9"))
    assert res["failed"] is True
    assert "pg-9 is not a member" in res["msg"] and "pg-1, pg-2, pg-3" in res["msg"]


def test_a_flag_that_stays_after_the_restart_is_reported_not_waited_for(fake):
    fake.get("pg-3")["pending_restart"] = True
    fake.sticky_pending.add("pg-3")
    res = run(args(fake, "pg-3"))
    assert res.get("failed") is not True, res
    assert res["restarted"] is True and res["still_pending"] is True
    assert "STILL flagged pending_restart" in res["msg"]
    warnings = json.dumps(res.get("warnings", []))
    assert "still flagged pending_restart" in warnings and "restart of the leader first" in warnings, res


def test_a_stale_pending_flag_is_no_change(fake):
    fake.get("pg-2")["pending_restart"] = True
    fake.stale_pending.add("pg-2")
    res = run(args(fake, "pg-2"))
    assert res.get("failed") is not True, res
    assert res["changed"] is False and res["restarted"] is False
    assert "no pending restart any more" in res["msg"]
    assert fake.restarts == []
