"""plugins/module_utils/patroni_core.py: the client with a fake transport, its transports over real HTTP."""

import ast
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_patroni import PASSWORD, USER, FakePatroni

from ansible_collections.pgha.cloud.plugins.module_utils import patroni, patroni_core

CORE = Path(patroni_core.__file__).resolve()
CLUSTER = {"members": [{"name": "pg-1", "role": "leader", "state": "running", "host": "10.0.0.1"},
                       {"name": "pg-2", "role": "replica", "state": "streaming", "lag": 0}]}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(patroni_core.PatroniClient, "backoff", 0)


class Transport:
    """Answers per URL: (status, body) or an exception to raise; records every request."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, method, url, body=None, timeout=5, headers=None):
        self.calls.append(dict(method=method, url=url, body=body, timeout=timeout,
                               headers=dict(headers or {})))
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return status, body if isinstance(body, bytes) else json.dumps(body).encode()


def client(answers, **kw):
    transport = Transport(answers)
    urls = kw.pop("urls", sorted({u.rsplit("/", 1)[0] for u in answers}))
    return patroni_core.PatroniClient(urls, transport, **kw), transport


# -- the client with a fake transport -------------------------------------------
def test_an_http_error_names_the_method_and_url():
    c, _t = client({"http://h1:8008/config": (500, b"boom")})
    with pytest.raises(patroni_core.PatroniError) as err:
        c.patch_config({"ttl": 30})
    assert err.value.message == "PATCH http://h1:8008/config failed with HTTP 500: boom"
    assert err.value.status == 500


def test_a_refused_certificate_points_at_the_ca_option():
    refused = patroni_core.TransportError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                          "unable to get local issuer certificate")
    c, _t = client({"https://h1:8008/cluster": refused})
    with pytest.raises(patroni_core.PatroniError) as err:
        c.cluster()
    assert "https://h1:8008: [SSL: CERTIFICATE_VERIFY_FAILED]" in err.value.message
    assert "set ca_path to the CA that signed" in err.value.message and "Check api_urls" in err.value.message
    # A tool names its own options.
    c, _t = client({"https://h1:8008/cluster": refused},
                   option_names={"urls": "--patroni", "ca": "--patroni-ca"})
    with pytest.raises(patroni_core.PatroniError) as err:
        c.cluster()
    assert "set --patroni-ca to the CA" in err.value.message and "Check --patroni (" in err.value.message
    mismatch = patroni_core.TransportError("certificate verify failed: Hostname mismatch, certificate is "
                                           "not valid for '10.0.0.9'")
    c, _t = client({"https://h1:8008/cluster": mismatch})
    with pytest.raises(patroni_core.PatroniError, match="set ca_path"):
        c.cluster()


def test_basic_auth_header_only_with_a_username_and_the_password_never_in_messages():
    c, t = client({"http://h1:8008/config": (401, b"no auth")}, username="patroni", password="s3cret")
    with pytest.raises(patroni_core.PatroniError) as err:
        c.patch_config({"ttl": 30})
    sent = t.calls[0]["headers"]
    assert sent["Authorization"] == "Basic cGF0cm9uaTpzM2NyZXQ="  # patroni:s3cret
    assert sent["Content-Type"] == "application/json" and json.loads(t.calls[0]["body"]) == {"ttl": 30}
    assert err.value.status == 401 and "401 Unauthorized (no auth)" in err.value.message
    assert "check patroni_rest username/password (api_username and api_password)" in err.value.message
    assert "s3cret" not in err.value.message
    c, t = client({"http://h1:8008/cluster": (200, CLUSTER)})
    c.cluster()
    assert "Authorization" not in t.calls[0]["headers"] and t.calls[0]["body"] is None


def test_a_body_that_is_not_json_moves_on_to_the_next_member():
    c, t = client({"http://h1:8008/cluster": (200, b"<html>proxy error</html>"),
                   "http://h2:8008/cluster": (200, CLUSTER)}, retries=0)
    assert c.cluster() == CLUSTER and c.last_url == "http://h2:8008"
    c, t = client({"http://h1:8008/cluster": (200, b"<html>proxy error</html>")}, retries=0)
    with pytest.raises(patroni_core.PatroniError) as err:
        c.cluster()
    assert ("http://h1:8008: HTTP 200 with a body that is not Patroni's JSON: '<html>proxy error</html>'"
            in err.value.message)


def test_switchover_answers_in_plain_text():
    c, _t = client({"http://h1:8008/switchover": (200, b"Successfully switched over to \"pg-2\"\n")})
    assert c.switchover("pg-1", "pg-2") == 'Successfully switched over to "pg-2"'


def test_a_get_answered_503_tries_the_next_member_a_write_does_not():
    c, t = client({"http://h1:8008/cluster": (503, b"dcs down"), "http://h2:8008/cluster": (200, CLUSTER)},
                  retries=0)
    assert c.cluster() == CLUSTER
    assert [x["url"] for x in t.calls] == ["http://h1:8008/cluster", "http://h2:8008/cluster"]
    c, t = client({"http://h1:8008/switchover": (503, b"no candidate"),
                   "http://h2:8008/switchover": (200, b"ok")}, retries=0)
    with pytest.raises(patroni_core.PatroniError, match="failed with HTTP 503: no candidate"):
        c.switchover("pg-1")
    assert len(t.calls) == 1


def test_a_sticky_client_asks_the_member_that_answered_first():
    answers = {"http://h1:8008/cluster": patroni_core.TransportError("timed out"),
               "http://h2:8008/cluster": (200, CLUSTER)}
    c, t = client(answers, retries=0, sticky=True)
    c.cluster()
    c.cluster()
    assert [x["url"] for x in t.calls] == ["http://h1:8008/cluster", "http://h2:8008/cluster",
                                           "http://h2:8008/cluster"]
    c, t = client(answers, retries=0)
    c.cluster()
    c.cluster()
    assert len(t.calls) == 4


def test_health_is_the_status_of_one_members_check():
    c, _t = client({"http://h1:8008/primary": (200, {}), "http://h2:8008/primary": (503, {}),
                    "http://h3:8008/primary": patroni_core.TransportError("refused")})
    urls = ("http://h1:8008", "http://h2:8008/patroni", "http://h3:8008/")
    assert [c.health(u) for u in urls] == [200, 503, 0]


def test_urls_must_be_http_and_are_named_after_the_option():
    with pytest.raises(patroni_core.PatroniError, match=r"--patroni item '10.0.0.1:8008' is not an http"):
        patroni_core.PatroniClient(["10.0.0.1:8008"], None, option_names={"urls": "--patroni"})
    with pytest.raises(patroni_core.PatroniError, match="patroni_urls is empty"):
        patroni_core.PatroniClient([], None, option_names={"urls": "patroni_urls"})


def test_the_leader_names_mean_one_thing_each():
    view = {"members": [{"name": "a", "role": "standby_leader", "state": "running"},
                        {"name": "b", "role": "replica", "state": "streaming"}]}
    assert patroni_core.leader_key_holder(view) == "a"
    assert patroni_core.healthy_leader(view) == "a"
    assert patroni_core.running_primary(view) is None  # a standby leader is read-only
    view["members"][0].update(role="leader", state="stopped")
    assert patroni_core.leader_key_holder(view) == "a"
    assert patroni_core.healthy_leader(view) is None and patroni_core.running_primaries(view) == []
    view["members"][0]["state"] = "running"
    assert patroni_core.running_primary(view)["name"] == "a"


# -- without Ansible ------------------------------------------------------------
def test_the_core_imports_the_standard_library_only():
    tree = ast.parse(CORE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    # As the tools and node scripts import it: from its directory, no Ansible loaded.
    code = ("import sys; import patroni_core; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('ansible', 'ansible_collections')]")
    subprocess.run([sys.executable, "-c", code], cwd=CORE.parent, check=True, env={"PATH": "/usr/bin:/bin"})


def test_no_urlopen_under_plugins():
    # ansible-test's replace-urlopen test, which Galaxy does not let us ignore.
    for path in (CORE.parents[1]).rglob("*.py"):
        for line in path.read_text().splitlines():
            assert "urlopen" not in line.split("#", 1)[0], path


# -- the transports against the fake Patroni over real HTTP ---------------------
@pytest.fixture(params=["stdlib", "open_url"])
def transport_kind(request):
    return request.param


def make_transport(kind, ca=None, validate_certs=True):
    if kind == "stdlib":
        return patroni_core.stdlib_transport(ca_file=ca, validate_certs=validate_certs)
    return patroni.open_url_transport(validate_certs=validate_certs, ca_path=ca)


def test_transports_over_http_with_auth(transport_kind):
    fake = FakePatroni()
    try:
        c = patroni_core.PatroniClient(fake.urls, make_transport(transport_kind), USER, PASSWORD, retries=0)
        assert patroni_core.leader_key_holder(c.cluster()) == "pg-1"
        assert c.patch_config({"ttl": 40})["ttl"] == 40
        wrong = patroni_core.PatroniClient(fake.urls, make_transport(transport_kind), USER, "wrong",
                                           retries=0)
        with pytest.raises(patroni_core.PatroniError) as err:
            wrong.patch_config({"ttl": 50})
        assert err.value.status == 401 and f"PATCH {fake.urls[0]}/config was refused" in err.value.message
        assert "wrong" not in err.value.message
        assert c.health(fake.urls[0], "cluster") == 200
    finally:
        fake.close()


def test_transports_check_https_against_the_ca(transport_kind, test_ca, tmp_path):
    from tls_testca import make_ca

    fake = FakePatroni(tls=test_ca)
    try:
        c = patroni_core.PatroniClient(fake.urls, make_transport(transport_kind, test_ca["ca"]), retries=0)
        assert len(c.cluster()["members"]) == 3
        other = make_ca(tmp_path)["ca"]
        c = patroni_core.PatroniClient(fake.urls, make_transport(transport_kind, other), retries=0)
        with pytest.raises(patroni_core.PatroniError) as err:
            c.cluster()
        assert "CERTIFICATE_VERIFY_FAILED" in err.value.message and fake.urls[0] in err.value.message
        assert "set ca_path to the CA" in err.value.message
        unchecked = make_transport(transport_kind, validate_certs=False)
        c = patroni_core.PatroniClient(fake.urls, unchecked, retries=0)
        assert len(c.cluster()["members"]) == 3
    finally:
        fake.close()


def test_stdlib_transport_timeouts_and_refusals():
    send = patroni_core.stdlib_transport()
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(patroni_core.TransportError, match="^timed out$"):
            send("GET", f"http://127.0.0.1:{silent.getsockname()[1]}/cluster", timeout=0.3)
        port = silent.getsockname()[1]
    with pytest.raises(patroni_core.TransportError, match="refused"):
        send("GET", f"http://127.0.0.1:{port}/cluster", timeout=1)
    with pytest.raises(patroni_core.TransportError, match="not an http"):
        send("GET", "ftp://127.0.0.1/cluster")


class _KeepAliveServer:
    """An HTTP/1.1 server that counts the connections it accepted and can drop them all."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.connections, self.handlers = 0, []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                owner.connections += 1
                owner.handlers.append(self)

            def do_GET(self):  # noqa: N802 (http.server's name)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cluster"

    def drop_connections(self):
        for handler in self.handlers:
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_stdlib_transport_keeps_one_connection_open_when_asked():
    server = _KeepAliveServer()
    try:
        kept = patroni_core.stdlib_transport(keep_alive=True)
        for _round in range(5):
            assert kept("GET", server.url, timeout=2) == (200, b'{"ok": true}')
        assert server.connections == 1
        # The server closed the idle connection: the next request opens a new one, no error.
        server.drop_connections()
        time.sleep(0.1)
        assert kept("GET", server.url, timeout=2)[0] == 200
        assert server.connections == 2
        # Without keep_alive, a connection per request (as before).
        fresh = patroni_core.stdlib_transport()
        for _round in range(3):
            assert fresh("GET", server.url, timeout=2)[0] == 200
        assert server.connections == 5
    finally:
        server.close()


def test_stdlib_transport_with_keep_alive_still_times_out_and_recovers():
    send = patroni_core.stdlib_transport(keep_alive=True)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(patroni_core.TransportError, match="^timed out$"):
            send("GET", f"http://127.0.0.1:{silent.getsockname()[1]}/cluster", timeout=0.3)
    server = _KeepAliveServer()
    try:
        assert send("GET", server.url, timeout=2)[0] == 200
        # The server goes away: the kept connection is closed, the one retry is refused.
        server.close()
        server.drop_connections()
        time.sleep(0.1)
        with pytest.raises(patroni_core.TransportError, match="refused"):
            send("GET", server.url, timeout=1)
    finally:
        server.server.server_close()
