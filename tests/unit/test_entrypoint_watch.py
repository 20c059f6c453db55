"""tools/pgha_entrypoint_watch.py: when did each entry point hold the new leader (fake clock, fake AWS)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "pgha_entrypoint_watch", Path(__file__).resolve().parents[2] / "tools" / "pgha_entrypoint_watch.py")
watcher = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(watcher)

A, B = ("pg-1", "10.0.1.11"), ("pg-2", "10.0.2.11")


class Script:
    """What Patroni, the target group and the record show at each sample (one entry per sample)."""

    def __init__(self, leaders, targets, records):
        self.leaders, self.targets, self.records = leaders, targets, records
        self.t, self.i = 1000.0, 0

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += max(seconds, 0.2)
        self.i = min(self.i + 1, len(self.leaders) - 1)


@pytest.fixture
def run(monkeypatch):
    def go(script, duration=60, target_group=True, zone=True):
        monkeypatch.setattr(watcher, "primary_now", lambda client: script.leaders[script.i])
        monkeypatch.setattr(watcher.awslib, "registered_targets",
                            lambda aws, arn: [(ip, 5432) for ip in script.targets[script.i]])
        monkeypatch.setattr(watcher, "record_ips", lambda aws, zone, name: script.records[script.i])
        args = watcher.parse(["--patroni", "http://x:8008", "--duration", str(duration)]
                             + (["--target-group-arn", "arn:tg"] if target_group else [])
                             + (["--zone-id", "Z1", "--record", "pg-primary.db"] if zone else []))
        return watcher.watch(args, aws=None, now=script.now, sleep=script.sleep)
    return go


def test_reports_how_long_each_entry_point_lagged_the_promotion(run):
    script = Script(
        leaders=[A, A, None, B, B, B, B],
        targets=[[A[1]], [A[1]], [], [], [B[1]], [B[1]], [B[1]]],
        records=[[A[1]], [A[1]], [A[1]], [A[1]], [A[1]], [B[1]], [B[1]]],
    )
    out = run(script)
    assert out["initial_leader"] == {"name": "pg-1", "host": A[1]}
    assert out["new_leader"] == {"name": "pg-2", "host": B[1]}
    assert out["target_group_after_promotion_s"] == pytest.approx(0.2)
    assert out["record_after_promotion_s"] == pytest.approx(0.4)
    assert out["max_primary_targets"] == 1


def test_two_primary_targets_at_once_are_counted(run):
    script = Script(leaders=[A, B, B], targets=[[A[1]], [A[1], B[1]], [B[1]]],
                    records=[[A[1]], [B[1]], [B[1]]])
    out = run(script, zone=False)
    assert out["max_primary_targets"] == 2
    assert out["target_group_after_promotion_s"] == pytest.approx(0.2)


def test_an_entry_point_that_never_follows_is_reported_as_none(run):
    script = Script(leaders=[A, B, B], targets=[[A[1]], [A[1]], [A[1]]], records=[[A[1]], [B[1]], [B[1]]])
    out = run(script, duration=3)
    assert out["promoted_at"] is not None
    assert out["target_group_at"] is None
    assert out["target_group_after_promotion_s"] is None
    assert out["record_after_promotion_s"] == pytest.approx(0.0)


def test_no_leader_change_means_nothing_followed(run):
    script = Script(leaders=[A, A], targets=[[A[1]], [A[1]]], records=[[A[1]], [A[1]]])
    out = run(script, duration=2)
    assert out["promoted_at"] is None and out["new_leader"] is None
    assert out["target_group_after_promotion_s"] is None


def test_zone_and_record_go_together():
    with pytest.raises(SystemExit):
        watcher.parse(["--patroni", "http://x:8008", "--zone-id", "Z1"])


def test_primary_now_reads_the_first_member_that_answers_and_asks_it_first_next_time():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from conftest import free_port

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"members": [{"name": "pg-2", "host": "10.0.2.11", "role": "leader",
                                            "state": "running"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dead, alive = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{server.server_port}"
        client = watcher.patroni_client([dead, alive], timeout=0.5)
        assert watcher.primary_now(client) == ("pg-2", "10.0.2.11")
        asked, send = [], client.transport
        client.transport = lambda method, url, *rest: asked.append(url) or send(method, url, *rest)
        assert watcher.primary_now(client) == ("pg-2", "10.0.2.11")
        assert asked == [alive + "/cluster"]
        assert watcher.primary_now(watcher.patroni_client([dead], timeout=0.5)) is None
    finally:
        server.shutdown()
