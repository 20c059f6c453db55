"""tools/vip_probe.py: when the VIP moved, as the probes and the leader watch saw it."""

import importlib.util
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("psycopg")
_spec = importlib.util.spec_from_file_location(
    "vip_probe", Path(__file__).resolve().parents[2] / "tools" / "vip_probe.py")
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)


def sample(at, in_recovery, timeline, took=0.01):
    """A probe started at `at` and answered `took` later; in_recovery None means it failed."""
    return (at, at + took, in_recovery, timeline)


def test_timeline_of_wal_file_name():
    assert probe.timeline_of("0000000A0000000000000003") == 10
    assert probe.timeline_of(None) is None


def test_switchover_move_gap_and_replica_answers():
    fault = 100.0
    samples = [
        sample(99.0, False, 3),                 # before the fault: ignored
        sample(100.2, False, 3), sample(101.0, False, 3),
        sample(101.5, True, None),              # the demoted primary still held the VIP
        sample(102.0, None, None, took=2.0),    # nobody holds it
        sample(104.3, False, 4), sample(104.5, False, 4),
    ]
    leaders = [(99.9, "pg-test-1"), (100.1, "pg-test-1"), (101.8, "pg-test-2"), (102.0, "pg-test-2")]
    result = probe.analyse(samples, leaders, fault, timeline_before=3, old_leader="pg-test-1")
    assert result["vip_moved_s"] == pytest.approx(4.31)
    assert result["old_primary_last_answer_s"] == pytest.approx(1.01)
    assert result["vip_gap_s"] == pytest.approx(3.3)
    assert result["new_leader_s"] == pytest.approx(1.8)
    assert result["vip_after_leader_s"] == pytest.approx(2.51)
    assert result["replica_answers"] == 1
    assert result["replica_answer_window_s"] == [pytest.approx(1.51), pytest.approx(1.51)]
    assert result["failed_probes"] == 1
    assert result["probes"] == 6


def test_no_move_is_reported_as_none():
    samples = [sample(100.5, False, 3), sample(101.0, None, None)]
    result = probe.analyse(samples, [], 100.0, timeline_before=3)
    assert result["vip_moved_s"] is None
    assert result["vip_gap_s"] is None
    assert result["new_leader_s"] is None
    assert result["vip_after_leader_s"] is None
    assert result["replica_answers"] == 0
    assert result["replica_answer_window_s"] is None


def test_gap_starts_at_the_fault_when_the_old_primary_never_answered():
    # A crash: every probe after the fault fails until the new primary answers.
    samples = [sample(100.1, None, None, took=2.0), sample(121.0, False, 5)]
    result = probe.analyse(samples, [(110.0, "pg-test-2")], 100.0, timeline_before=4, old_leader="pg-test-1")
    assert result["old_primary_last_answer_s"] is None
    assert result["vip_gap_s"] == pytest.approx(21.01)
    assert result["vip_after_leader_s"] == pytest.approx(11.01)


def test_old_timeline_answers_after_the_move_do_not_count_as_old_primary():
    samples = [sample(100.5, False, 3), sample(103.0, False, 4), sample(103.2, False, 3)]
    result = probe.analyse(samples, [], 100.0, timeline_before=3)
    assert result["vip_moved_s"] == pytest.approx(3.01)
    assert result["old_primary_last_answer_s"] == pytest.approx(0.51)


def test_running_primary_name_needs_a_running_leader():
    def view(role, state):
        return {"members": [{"name": "a", "role": role, "state": state}]}

    assert probe.running_primary_name(view("leader", "running")) == "a"
    assert probe.running_primary_name(view("leader", "stopped")) is None
    assert probe.running_primary_name(view("standby_leader", "running")) is None
    assert probe.running_primary_name(None) is None


def test_the_leader_watch_reads_patroni_over_https(test_ca):
    import threading

    from fake_patroni import FakePatroni

    fake = FakePatroni(tls=test_ca)
    try:
        stop, samples = threading.Event(), []
        watch = probe.LeaderWatch(fake.urls, stop, samples, interval=0.05, cafile=test_ca["ca"])
        watch.start()
        while len(samples) < 2:
            stop.wait(0.05)
        stop.set()
        watch.join(5)
        assert samples[0][1] == "pg-1"
    finally:
        fake.close()


def test_probe_arguments_are_checked():
    with pytest.raises(SystemExit):
        probe.main(["--vip", "127.0.0.1", "--confirm-cluster", "x", "--probes", "0"])


def test_the_password_comes_from_stdin_or_a_file_never_from_an_option(tmp_path):
    env = {}
    probe.load_secrets("-", env, stdin=io.StringIO(json.dumps({"PGPASSWORD": "s3cret"}) + "\n"))
    assert env == {"PGPASSWORD": "s3cret"}
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"PGPASSWORD": "other"}))
    probe.load_secrets(str(path), env)
    assert env == {"PGPASSWORD": "other"}
    for bad in (json.dumps({"PGPASSWORD": "s3cret", "PATH": "/x"}), "s3cret", json.dumps({"PGPASSWORD": 5})):
        with pytest.raises(SystemExit) as exc:
            probe.load_secrets("-", {}, stdin=io.StringIO(bad))
        assert "s3cret" not in str(exc.value)
    options = [o for a in probe.build_parser()._actions for o in a.option_strings]
    assert "--secrets-from" in options and not [o for o in options if "pass" in o or "auth" in o]
