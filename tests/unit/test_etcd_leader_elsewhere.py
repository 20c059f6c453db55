"""The etcd leader placement script against fake etcd v3 gateways and fake Patroni APIs over real HTTP.

Each fake node listens on its own loopback address (127.0.0.11-13), etcd and
Patroni on the same ports everywhere, as on real hosts; the script finds a
member's Patroni from the host of the member's etcd client URL.
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "patroni" / "files" / "pgha_etcd_leader_elsewhere.py"
# On the nodes patroni_core.py sits beside the script; here it is the collection's.
MODULE_UTILS = ROOT / "plugins" / "module_utils"
for path in (MODULE_UTILS, SCRIPT.parent):  # patroni_core.py and pgha_etcd_gateway.py
    if str(path) not in sys.path:
        sys.path.append(str(path))
spec = importlib.util.spec_from_file_location("pgha_etcd_leader_elsewhere", SCRIPT)
placement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(placement)

HOSTS = {"1001": "127.0.0.11", "1002": "127.0.0.12", "1003": "127.0.0.13"}


def port_free_on_all():
    """A port that is free on every fake node's address."""
    for _attempt in range(50):
        with socket.socket() as s:
            s.bind((HOSTS["1001"], 0))
            port = s.getsockname()[1]
        try:
            for host in HOSTS.values():
                with socket.socket() as s:
                    s.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no common free port")


class Cluster:
    """Shared state of three fake nodes: etcd membership and leader, Patroni primaries."""

    def __init__(self):
        self.lock = threading.Lock()
        self.etcd_leader = "1001"
        self.raft_index = {"1001": 500, "1002": 498, "1003": 499}
        self.primaries = {"1001"}
        self.learners = set()
        self.down = set()  # nodes whose etcd does not answer
        self.transfer_status = 200
        self.transfers = []
        self.etcd_port = port_free_on_all()
        self.patroni_port = port_free_on_all()
        self.servers = []

    def members(self):
        return [{"ID": member_id, "name": f"etcd-{member_id[-1]}", "isLearner": member_id in self.learners,
                 "clientURLs": [f"http://{host}:{self.etcd_port}"]} for member_id, host in HOSTS.items()]

    def start(self):
        for member_id, host in HOSTS.items():
            for port, handler in ((self.etcd_port, self.etcd_handler(member_id)),
                                  (self.patroni_port, self.patroni_handler(member_id))):
                server = ThreadingHTTPServer((host, port), handler)
                threading.Thread(target=server.serve_forever, daemon=True).start()
                self.servers.append(server)
        return self

    def stop(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def etcd_handler(self, member_id):
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with cluster.lock:
                    if member_id in cluster.down:
                        self.close_connection = True
                        return self.reply(503, {"error": "etcdserver: request timed out"})
                    header = {"cluster_id": "77", "member_id": member_id}
                    if self.path == "/v3/maintenance/status":
                        return self.reply(200, {"header": header, "leader": cluster.etcd_leader,
                                                "raftIndex": str(cluster.raft_index[member_id])})
                    if self.path == "/v3/cluster/member/list":
                        return self.reply(200, {"header": header, "members": cluster.members()})
                    if self.path == "/v3/maintenance/transfer-leadership":
                        cluster.transfers.append((member_id, body.get("targetID")))
                        if member_id != cluster.etcd_leader:
                            return self.reply(500, {"error": "etcdserver: not leader"})
                        if cluster.transfer_status != 200:
                            return self.reply(cluster.transfer_status, {"error": "etcdserver: timed out"})
                        cluster.etcd_leader = str(body["targetID"])
                        return self.reply(200, {"header": header})
                return self.reply(404, {"error": "not found"})

        return Handler

    def patroni_handler(self, member_id):
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with cluster.lock:
                    primary = member_id in cluster.primaries
                status = 200 if self.path == "/primary" and primary else 503
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


@pytest.fixture
def cluster():
    c = Cluster().start()
    yield c
    c.stop()


def args_for(cluster, member_id="1001"):
    host = HOSTS[member_id]
    return placement.parse_args([
        "--patroni", f"http://{host}:{cluster.patroni_port}", "--patroni-port", str(cluster.patroni_port),
        "--etcd", f"http://{host}:{cluster.etcd_port}", "--timeout", "0.5"])


def test_leader_of_both_hands_etcd_to_the_most_caught_up_member(cluster):
    assert placement.step(args_for(cluster)) == "moved"
    assert cluster.transfers == [("1001", "1003")]  # 1003 has the higher raft index
    assert cluster.etcd_leader == "1003"
    # Done: the next round finds nothing to do.
    assert placement.step(args_for(cluster)) == "not-etcd-leader"
    assert len(cluster.transfers) == 1


def test_nothing_moves_while_patroni_is_not_primary_here(cluster):
    cluster.primaries = {"1002"}
    assert placement.step(args_for(cluster)) == "not-primary"
    assert cluster.transfers == [] and cluster.etcd_leader == "1001"


def test_nothing_moves_when_etcd_is_led_elsewhere(cluster):
    cluster.etcd_leader = "1002"
    assert placement.step(args_for(cluster)) == "not-etcd-leader"
    assert cluster.transfers == []


def test_a_node_running_another_primary_is_not_a_target(cluster):
    # Two clusters share the etcd nodes: 1003 runs the other cluster's primary.
    cluster.primaries = {"1001", "1003"}
    assert placement.step(args_for(cluster)) == "moved"
    assert cluster.etcd_leader == "1002"


def test_no_target_when_every_other_node_runs_a_primary(cluster, caplog):
    cluster.primaries = {"1001", "1002", "1003"}
    assert placement.step(args_for(cluster)) == "no-target"
    assert cluster.transfers == [] and cluster.etcd_leader == "1001"
    assert "no other etcd member can take the lead" in caplog.text


def test_members_that_do_not_answer_or_cannot_vote_are_skipped(cluster):
    cluster.down = {"1003"}
    cluster.learners = {"1002"}
    assert placement.step(args_for(cluster)) == "no-target"
    cluster.learners = set()
    assert placement.step(args_for(cluster)) == "moved"
    assert cluster.etcd_leader == "1002"


def test_local_etcd_down_is_reported_not_raised(cluster):
    cluster.down = {"1001"}
    assert placement.step(args_for(cluster)) == "etcd-unreachable"


def test_a_refused_transfer_is_reported(cluster, caplog):
    cluster.transfer_status = 500
    assert placement.step(args_for(cluster)) == "transfer-failed"
    assert cluster.etcd_leader == "1001"
    assert "moving the etcd leader to etcd-3 failed: HTTP 500" in caplog.text


def test_nothing_answers_at_all():
    args = placement.parse_args(["--patroni", "http://127.0.0.1:9", "--etcd", "http://127.0.0.1:9",
                                 "--timeout", "0.2"])
    assert placement.step(args) == "not-primary"


def test_choose_target_prefers_raft_index_then_name():
    members = [{"ID": "1", "name": "a"}, {"ID": "2", "name": "c"}, {"ID": "3", "name": "b"}]
    statuses = {"2": {"raftIndex": "10"}, "3": {"raftIndex": "10"}}
    assert placement.choose_target("1", members, statuses, set()) == "3"
    statuses["2"]["raftIndex"] = "11"
    assert placement.choose_target("1", members, statuses, set()) == "2"
    assert placement.choose_target("1", members, statuses, {"2"}) == "3"
    assert placement.choose_target("1", members, {"2": None, "3": None}, set()) is None


def test_patroni_url_of_an_ipv6_member():
    member = {"clientURLs": ["http://[fd00::5]:2379"]}
    assert placement.patroni_url_of(member, 8008) == "https://[fd00::5]:8008"
    assert placement.patroni_url_of(member, 8008, "http") == "http://[fd00::5]:8008"
    assert placement.patroni_url_of({"clientURLs": []}, 8008) is None


def test_the_script_runs_one_round_as_a_process(cluster, tmp_path):
    """As the patroni role installs it: the script, patroni_core.py and pgha_etcd_gateway.py side by side,
    nothing on PYTHONPATH."""
    node = tmp_path / "bin"
    node.mkdir()
    shutil.copy(SCRIPT, node / SCRIPT.name)
    shutil.copy(MODULE_UTILS / "patroni_core.py", node / "patroni_core.py")
    shutil.copy(SCRIPT.parent / "pgha_etcd_gateway.py", node / "pgha_etcd_gateway.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    host = HOSTS["1001"]
    out = subprocess.run(
        [sys.executable, str(node / SCRIPT.name), "--once", "--patroni", f"http://{host}:{cluster.patroni_port}",
         "--patroni-port", str(cluster.patroni_port), "--etcd", f"http://{host}:{cluster.etcd_port}"],
        capture_output=True, text=True, timeout=30, check=True, env=env, cwd=tmp_path)
    assert out.stdout.strip() == "moved"
    assert "moved the etcd leader from etcd-1 to etcd-3" in out.stderr
    assert cluster.etcd_leader == "1003"
