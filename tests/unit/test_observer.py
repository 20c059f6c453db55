"""The observer (roles/patroni/files/pgha_observer.py): when it judges a leader dead, and what it writes.

An in-memory stand-in for etcd's gateway keeps keys with their mod_revision
and lease, and lease TTLs, as etcd reports them; the probes of the leader's
ports are a function the test controls. The real thing runs in molecule's
crash drill (molecule/default/failover.yml).
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "roles" / "patroni" / "files"
for path in (ROOT / "plugins" / "module_utils", FILES):
    if str(path) not in sys.path:
        sys.path.append(str(path))
spec = importlib.util.spec_from_file_location("pgha_observer", FILES / "pgha_observer.py")
observer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(observer)

PREFIX = "/service/pg-test/"
LEADER_LEASE = "7001"
MEMBERS = {
    "pg-test-1": {"api_url": "https://10.0.0.1:8008/patroni", "conn_url": "postgres://10.0.0.1:5432/postgres",
                  "state": "running", "role": "primary"},
    "pg-test-2": {"api_url": "https://10.0.0.2:8008/patroni", "conn_url": "postgres://10.0.0.2:5432/postgres",
                  "state": "running", "role": "replica"},
    "pg-test-3": {"api_url": "https://10.0.0.3:8008/patroni", "conn_url": "postgres://10.0.0.3:5432/postgres",
                  "state": "running", "role": "replica"},
}


class FakeEtcd:
    """Keys with mod_revision and lease, leases with their remaining TTL; `up` False answers nothing."""

    def __init__(self):
        self.revision = 10
        self.kv = {}
        self.leases = {LEADER_LEASE: [20, 20]}  # remaining, granted
        self.next_lease = 9000
        self.up = True
        self.put(PREFIX + "leader", "pg-test-1", LEADER_LEASE)
        for name, data in MEMBERS.items():
            self.put(PREFIX + "members/" + name, json.dumps(data),
                     LEADER_LEASE if name == "pg-test-1" else None)
        self.put(PREFIX + "sync", json.dumps({"leader": "pg-test-1", "sync_standby": "pg-test-2"}))
        self.put(PREFIX + "config", json.dumps({"ttl": 20, "loop_wait": 2}))

    def _check(self):
        if not self.up:
            raise observer.etcd.EtcdUnavailable("cut off")

    def get(self, key):
        self._check()
        if key not in self.kv:
            return None, None
        value, revision, lease = self.kv[key]
        return value, {"mod_revision": str(revision), "lease": lease or "0"}

    def get_prefix(self, prefix):
        self._check()
        return {key: value for key, (value, _rev, _lease) in self.kv.items() if key.startswith(prefix)}

    def put(self, key, value, lease=None):
        self.revision += 1
        self.kv[key] = (value, self.revision, lease)
        return True

    def delete(self, key):
        self.kv.pop(key, None)
        return True

    def delete_if(self, key, mod_revision, lease):
        if key in self.kv and str(self.kv[key][1]) == str(mod_revision) and self.kv[key][2] == str(lease):
            del self.kv[key]
            return True
        return False

    def grant(self, ttl):
        self.next_lease += 1
        self.leases[str(self.next_lease)] = [ttl, ttl]
        return str(self.next_lease)

    def time_to_live(self, lease):
        self._check()
        remaining, granted = self.leases[str(lease)]
        return remaining, granted

    def silence(self, seconds):
        """The leader has not renewed its lease for `seconds`."""
        self.leases[LEADER_LEASE][0] = 20 - seconds


def args(name="pg-test-2", **extra):
    values = dict(namespace="/service/", cluster="pg-test", name=name, observers=3, loop_wait=2.0, margin=1.0,
                  verdict_ttl=3, allow_async=False, probe_timeout=0.1)
    values.update(extra)
    return type("Args", (), values)()


DEAD = {("10.0.0.1", 8008), ("10.0.0.1", 5432)}


def probe_dead_leader(address):
    return address not in DEAD


def test_a_renewed_lease_means_alive_whatever_the_probes_say():
    etcd = FakeEtcd()
    etcd.silence(3)  # loop_wait + margin: not yet
    assert observer.step(etcd, args(), probe_dead_leader) == "lease-renewed"
    assert not etcd.get_prefix(PREFIX + "observers/")


def test_a_leader_that_answers_on_either_port_is_alive():
    etcd = FakeEtcd()
    etcd.silence(8)
    assert observer.step(etcd, args(), lambda address: address == ("10.0.0.1", 5432)) == "leader-answers"
    assert observer.step(etcd, args(), lambda address: address == ("10.0.0.1", 8008)) == "leader-answers"


def test_one_verdict_is_not_a_quorum_and_two_remove_the_key():
    etcd = FakeEtcd()
    etcd.silence(4)
    revision = etcd.kv[PREFIX + "leader"][1]
    assert observer.step(etcd, args("pg-test-2"), probe_dead_leader) == "waiting-for-quorum"
    verdict = json.loads(etcd.kv[PREFIX + "observers/pg-test-2"][0])
    assert verdict == {"leader": "pg-test-1", "mod_revision": str(revision), "lease": LEADER_LEASE}
    # the verdict lives under a short lease of its own
    assert etcd.kv[PREFIX + "observers/pg-test-2"][2] != LEADER_LEASE
    assert observer.step(etcd, args("pg-test-3"), probe_dead_leader) == "leader-removed"
    assert PREFIX + "leader" not in etcd.kv


def test_a_leader_key_that_changed_since_the_verdicts_is_left_alone():
    etcd = FakeEtcd()
    etcd.silence(4)
    observer.step(etcd, args("pg-test-2"), probe_dead_leader)
    # pg-test-3's view is read before the key changes, its delete comes after
    real_get_prefix = etcd.get_prefix

    def get_prefix_then_new_leader(prefix):
        view = real_get_prefix(prefix)
        etcd.put(PREFIX + "leader", "pg-test-2", "7002")
        return view

    etcd.get_prefix = get_prefix_then_new_leader
    assert observer.step(etcd, args("pg-test-3"), probe_dead_leader) == "leader-changed"
    assert etcd.kv[PREFIX + "leader"][0] == "pg-test-2"


def test_verdicts_on_another_key_instance_do_not_count():
    etcd = FakeEtcd()
    etcd.silence(4)
    etcd.put(PREFIX + "observers/pg-test-3", json.dumps({"leader": "pg-test-1", "mod_revision": "3",
                                                         "lease": LEADER_LEASE}), "8000")
    assert observer.step(etcd, args("pg-test-2"), probe_dead_leader) == "waiting-for-quorum"
    assert PREFIX + "leader" in etcd.kv


@pytest.mark.parametrize("change, outcome", [
    (lambda etcd: etcd.put(PREFIX + "config", json.dumps({"pause": True})), "paused"),
    (lambda etcd: etcd.put(PREFIX + "failover", json.dumps({"leader": "pg-test-1"})), "failover-asked"),
    (lambda etcd: etcd.put(PREFIX + "sync", json.dumps({"leader": "pg-test-1", "sync_standby": None})),
     "no-sync-standby"),
    (lambda etcd: etcd.put(PREFIX + "members/pg-test-2",
                           json.dumps(dict(MEMBERS["pg-test-2"], state="stopped"))), "no-sync-standby"),
])
def test_no_verdict_while_paused_switching_over_or_without_a_running_synchronous_standby(change, outcome):
    etcd = FakeEtcd()
    etcd.silence(10)
    change(etcd)
    assert observer.step(etcd, args("pg-test-3"), probe_dead_leader) == outcome
    assert observer.step(etcd, args("pg-test-2"), probe_dead_leader) == outcome
    assert PREFIX + "leader" in etcd.kv


def test_allow_async_judges_without_a_synchronous_standby():
    etcd = FakeEtcd()
    etcd.silence(10)
    etcd.delete(PREFIX + "sync")
    observer.step(etcd, args("pg-test-2", allow_async=True), probe_dead_leader)
    assert observer.step(etcd, args("pg-test-3", allow_async=True), probe_dead_leader) == "leader-removed"


def test_a_sync_standby_whose_port_is_closed_is_not_healthy():
    etcd = FakeEtcd()
    etcd.silence(10)
    dead = DEAD | {("10.0.0.2", 5432)}
    assert observer.step(etcd, args("pg-test-3"), lambda address: address not in dead) == "no-sync-standby"


def test_an_observer_cut_off_from_etcd_withdraws_nothing_and_judges_nothing():
    etcd = FakeEtcd()
    etcd.silence(10)
    state = {}
    assert observer.step(etcd, args("pg-test-2"), probe_dead_leader, state) == "waiting-for-quorum"
    etcd.up = False
    assert observer.step(etcd, args("pg-test-2"), probe_dead_leader, state) == "etcd-unreachable"
    assert "verdict" not in state


def test_a_verdict_is_withdrawn_when_the_leader_comes_back():
    etcd = FakeEtcd()
    etcd.silence(10)
    state = {}
    observer.step(etcd, args("pg-test-2"), probe_dead_leader, state)
    assert PREFIX + "observers/pg-test-2" in etcd.kv
    etcd.silence(0)
    assert observer.step(etcd, args("pg-test-2"), probe_dead_leader, state) == "lease-renewed"
    assert PREFIX + "observers/pg-test-2" not in etcd.kv


def test_the_leader_never_judges_itself():
    etcd = FakeEtcd()
    etcd.silence(10)
    assert observer.step(etcd, args("pg-test-1"), probe_dead_leader) == "self-leads"


def test_a_two_member_cluster_needs_both_observers():
    etcd = FakeEtcd()
    etcd.silence(10)
    del etcd.kv[PREFIX + "members/pg-test-3"]
    assert observer.step(etcd, args("pg-test-2", observers=2), probe_dead_leader) == "waiting-for-quorum"
    assert PREFIX + "leader" in etcd.kv


def test_sync_standby_names():
    assert observer.sync_standbys({"sync_standby": "a,b"}) == ["a", "b"]
    assert observer.sync_standbys({"sync_standby": None}) == []
    assert observer.sync_standbys(None) == []


def test_addresses_of_member_urls():
    assert observer.address_of("https://10.0.0.1:8008/patroni", 8008) == ("10.0.0.1", 8008)
    assert observer.address_of("postgres://[fd00::1]:5433/postgres", 5432) == ("fd00::1", 5433)
    assert observer.address_of("postgres://db1/postgres", 5432) == ("db1", 5432)
    assert observer.address_of(None, 5432) is None


def test_the_gateway_tries_the_endpoint_that_answered_first():
    calls = []
    gateway = observer.etcd.Gateway(["https://a:2379", "https://b:2379"])

    def transport(method, url, body, timeout, headers):
        calls.append(url)
        if url.startswith("https://a"):
            raise observer.etcd.patroni_core.TransportError("timed out")
        return 200, b'{"kvs": []}'

    gateway.transport = transport
    assert gateway.get("/k") == (None, None)
    assert gateway.get("/k") == (None, None)
    assert calls == ["https://a:2379/v3/kv/range", "https://b:2379/v3/kv/range", "https://b:2379/v3/kv/range"]


def test_the_gateway_deletes_the_leader_key_only_while_revision_and_lease_match():
    sent = []
    gateway = observer.etcd.Gateway(["https://a:2379"])

    def transport(method, url, body, timeout, headers):
        sent.append((url, json.loads(body)))
        return 200, b'{"succeeded": false}'

    gateway.transport = transport
    assert gateway.delete_if("/service/pg-test/leader", "42", "7001") is False
    url, body = sent[0]
    assert url == "https://a:2379/v3/kv/txn"
    key = observer.etcd.b64("/service/pg-test/leader")
    assert body["compare"] == [
        {"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": "42"},
        {"key": key, "target": "LEASE", "result": "EQUAL", "lease": "7001"},
    ]
    assert body["success"] == [{"request_delete_range": {"key": key}}]
    assert "failure" not in body


@pytest.mark.parametrize("value", ["", "{}", '{"leader": null, "member": ""}'])
def test_a_failover_key_left_behind_is_no_switchover(value):
    # Patroni leaves the key as {} once a switchover is done (seen on the molecule cluster).
    etcd = FakeEtcd()
    etcd.silence(10)
    etcd.put(PREFIX + "failover", value)
    observer.step(etcd, args("pg-test-2"), probe_dead_leader)
    assert observer.step(etcd, args("pg-test-3"), probe_dead_leader) == "leader-removed"


@pytest.mark.parametrize("value", ['{"member": "pg-test-2"}', '{"scheduled_at": "2026-12-06T20:00:00+00:00"}',
                                   "pg-test-1:pg-test-2"])
def test_a_failover_key_that_asks_stops_the_observers(value):
    assert observer.failover_asked(value)


def test_etcd_errors_are_named():
    gateway = observer.etcd.Gateway(["https://a:2379", "https://b:2379"])
    answers = {"https://a:2379/v3/kv/range": (403, b'{"error": "etcdserver: permission denied"}')}

    def transport(method, url, body, timeout, headers):
        if url in answers:
            return answers[url]
        raise observer.etcd.patroni_core.TransportError("timed out")

    gateway.transport = transport
    expected = "https://a:2379: HTTP 403 etcdserver: permission denied; https://b:2379: no answer"
    with pytest.raises(observer.etcd.EtcdUnavailable, match=expected):
        gateway.get("/k")
