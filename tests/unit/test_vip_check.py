"""roles/entrypoint_vip/files/pgha_vip_check.py: keepalived's check, against an HTTPS Patroni stand-in."""

import json
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[2] / "roles/entrypoint_vip/files/pgha_vip_check.py"


@pytest.fixture
def patroni(test_ca):
    """An HTTPS server whose GET /primary answers what the test sets: {"status": int, "body": bytes}."""
    answer = {"status": 200, "body": b"{}"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(answer["status"] if self.path == "/primary" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(test_ca["cert"], test_ca["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield answer, f"https://127.0.0.1:{server.server_address[1]}/primary"
    server.shutdown()
    server.server_close()


def run_check(url, ca):
    return subprocess.run([sys.executable, str(CHECK), url, ca, "2"], capture_output=True,
                          timeout=20, check=False)


def body(role, state="running"):
    # The fields of Patroni 4.1's /primary answer that matter here.
    return json.dumps({"state": state, "role": role, "timeline": 2}).encode()


def test_passes_on_the_leader_out_of_recovery(patroni, test_ca):
    answer, url = patroni
    answer["body"] = body("primary")
    assert run_check(url, test_ca["ca"]).returncode == 0


def test_fails_on_the_leader_still_in_recovery(patroni, test_ca):
    # Patroni answers 200 once the member holds the leader key, while PostgreSQL is still promoting.
    answer, url = patroni
    answer["body"] = body("replica")
    assert run_check(url, test_ca["ca"]).returncode == 1


@pytest.mark.parametrize("status, payload", [
    (503, body("replica")),       # not the leader
    (503, body("primary")),       # a status other than 200 always fails
    (200, b"not json"),
    (200, b"[\"primary\"]"),
    (200, json.dumps({"state": "unknown"}).encode()),  # PostgreSQL not reachable: no role
])
def test_fails_on_anything_else(patroni, test_ca, status, payload):
    answer, url = patroni
    answer["status"], answer["body"] = status, payload
    assert run_check(url, test_ca["ca"]).returncode == 1


def test_fails_on_a_certificate_from_another_ca(patroni, tmp_path):
    from tls_testca import make_ca

    other = make_ca(tmp_path, name="another CA")
    answer, url = patroni
    answer["body"] = body("primary")
    assert run_check(url, other["ca"]).returncode == 1


def test_fails_when_nothing_answers(test_ca):
    from conftest import free_port

    assert run_check(f"https://127.0.0.1:{free_port()}/primary", test_ca["ca"]).returncode == 1


def test_wrong_arguments_exit_2(test_ca):
    result = subprocess.run([sys.executable, str(CHECK), "https://127.0.0.1:1/primary"],
                            capture_output=True, timeout=20, check=False)
    assert result.returncode == 2
    assert b"Usage" in result.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:8008/primary", "https://127.0.0.1/primary",
                                 "127.0.0.1:8008"])
def test_a_url_it_cannot_use_exits_2(url, test_ca):
    result = run_check(url, test_ca["ca"])
    assert result.returncode == 2
    assert b"pgha-vip-check:" in result.stderr


def test_reads_the_status_line_not_the_body(patroni, test_ca):
    # A 200 in the body of a 503 answer must not pass.
    answer, url = patroni
    answer["status"], answer["body"] = 503, b'HTTP/1.0 200 OK\r\n\r\n{"role": "primary"}'
    assert run_check(url, test_ca["ca"]).returncode == 1


def test_an_answer_longer_than_it_reads_fails(patroni, test_ca):
    answer, url = patroni
    answer["body"] = json.dumps({"role": "primary", "pad": "x" * 70000}).encode()
    assert run_check(url, test_ca["ca"]).returncode == 1


def test_runs_on_the_standard_library_alone(patroni, test_ca):
    # keepalived runs it with -I -S (its shebang): no site-packages, no environment.
    answer, url = patroni
    answer["body"] = body("primary")
    assert CHECK.read_text().startswith("#!/usr/bin/python3 -IS\n")
    result = subprocess.run([sys.executable, "-IS", str(CHECK), url, test_ca["ca"], "2"],
                            capture_output=True, timeout=20, check=False)
    assert result.returncode == 0, result.stderr
