"""A fake Patroni cluster over real HTTP on 127.0.0.1, one server (random port) per member.

All servers share one state: the members as GET /cluster shows them, the DCS
config, and a log of every request received (method, path, member, body), so
tests can assert that check mode or a refused value sent no write at all.
Write endpoints need basic auth, as Patroni's restapi.authentication does.
Shapes follow Patroni 4.1 (read from a live cluster).
"""

import base64
import copy
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER, PASSWORD = "patroni", "s3cret"
WRITES = ("PATCH", "POST", "PUT", "DELETE")


def member(name, role="replica", state="streaming", lag=0, timeline=1, tags=None):
    m = {"name": name, "role": role, "state": state, "host": "127.0.0.1", "port": 5432, "timeline": timeline}
    if role != "leader":
        m["lag"] = lag
    if tags:
        m["tags"] = tags
    return m


def default_members():
    return [member("pg-1", role="leader", state="running"),
            member("pg-2", lag=0),
            member("pg-3", lag=0)]


class FakePatroni:
    """Three (or more) fake members sharing one cluster state."""

    def __init__(self, members=None, config=None, switch_delay=0.3, restart_params=("max_connections",),
                 restart_delay=0.3, tls=None):
        self.lock = threading.Lock()
        self.members = members or default_members()
        self.config = config or {"ttl": 30, "loop_wait": 10, "retry_timeout": 10,
                                 "maximum_lag_on_failover": 1048576,
                                 "postgresql": {"parameters": {"max_connections": 100, "work_mem": "4MB"}}}
        self.switch_delay = switch_delay
        self.restart_params = restart_params
        self.restart_delay = restart_delay
        # After a switchover, the old leader comes back as a streaming replica unless this is False.
        self.old_leader_rejoins = True
        self.requests = []
        self.servers = {}
        self.paused = False
        self.scheduled = None
        # POST /restart: names in the order they were restarted; members whose flag never clears.
        self.restarts = []
        self.sticky_pending = set()
        # Members whose pending_restart flag in GET /cluster is stale: Patroni refuses restart_pending.
        self.stale_pending = set()
        # Members whose GET /leader says they lost the key while GET /cluster still names them (a stale view).
        self.key_lost = set()
        # tls: {"cert": ..., "key": ...} (tests/unit/tls_testca.py) serves HTTPS, as Patroni does here.
        self.scheme = "https" if tls else "http"
        for m in self.members:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, m["name"]))
            server.daemon_threads = True
            if tls:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(tls["cert"], tls["key"])
                server.socket = context.wrap_socket(server.socket, server_side=True)
            self.servers[m["name"]] = server
            m["api_url"] = f"{self.scheme}://127.0.0.1:{server.server_address[1]}/patroni"
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def urls(self):
        return [f"{self.scheme}://127.0.0.1:{s.server_address[1]}" for s in self.servers.values()]

    def url(self, name):
        return f"{self.scheme}://127.0.0.1:{self.servers[name].server_address[1]}"

    def close(self):
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def writes(self):
        return [r for r in self.requests if r["method"] in WRITES]

    def leader(self):
        return next((m["name"] for m in self.members if m["role"] == "leader"), None)

    def get(self, name):
        return next(m for m in self.members if m["name"] == name)

    # -- state changes, applied later from a timer like Patroni's loop -----
    def _later(self, delay, fn):
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()

    def _promote(self, candidate):
        with self.lock:
            old = self.leader()
            timeline = max(m["timeline"] for m in self.members) + 1
            for m in self.members:
                if m["name"] == candidate:
                    m.update(role="leader", state="running", timeline=timeline)
                    m.pop("lag", None)
                elif m["name"] == old:
                    m.update(role="replica", timeline=timeline, lag=0,
                             state="streaming" if self.old_leader_rejoins else "stopped")
                elif m["state"] == "streaming":
                    m["timeline"] = timeline

    def _restarted(self, name):
        """Patroni's next loop after a restart: the member reports no pending restart (unless sticky)."""
        with self.lock:
            if name not in self.sticky_pending:
                self.get(name).pop("pending_restart", None)

    def _mark_pending(self):
        with self.lock:
            for m in self.members:
                m["pending_restart"] = True


def _merge(config, patch):
    for key, value in patch.items():
        if value is None:
            config.pop(key, None)
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = copy.deepcopy(value)


def _handler(fake, name):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _reply(self, code, body):
            raw = (json.dumps(body) if not isinstance(body, str) else body).encode()
            self.send_response(code)
            kind = "text/plain" if isinstance(body, str) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null") if length else None

        def _authorized(self):
            want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            return self.headers.get("Authorization") == want

        def _handle(self):
            body = self._body() if self.command in WRITES else None
            fake.requests.append({"method": self.command, "path": self.path, "member": name, "body": body})
            if self.command in WRITES and not self._authorized():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="Patroni"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            route = getattr(self, f"do_{self.command}_{self.path.strip('/').split('?')[0]}", None)
            if route is None:
                self._reply(404, "not found")
                return
            with fake.lock:
                route(body)

        do_GET = do_PATCH = do_POST = _handle

        def do_GET_cluster(self, _request_body):
            out = {"members": copy.deepcopy(fake.members), "scope": "pg-fake"}
            if fake.paused:
                out["pause"] = True
            if fake.scheduled:
                out["scheduled_switchover"] = fake.scheduled
            self._reply(200, out)

        def do_GET_config(self, _request_body):
            self._reply(200, fake.config)

        # Patroni's GET /leader: 200 while this member holds the leader key, whatever its state.
        def do_GET_leader(self, _request_body):
            holds = fake.get(name)["role"] == "leader" and name not in fake.key_lost
            self._reply(200 if holds else 503, {"role": "primary" if holds else "replica"})

        def do_GET_patroni(self, _request_body):
            m = fake.get(name)
            out = {"state": m["state"], "role": "primary" if m["role"] == "leader" else "replica",
                   "timeline": m["timeline"],
                   "postmaster_start_time": m.get("postmaster_start_time", "start-0"),
                   "patroni": {"version": "4.1.5", "scope": "pg-fake", "name": name}}
            if m["role"] != "leader" and m["state"] == "streaming":
                out["replication_state"] = "streaming"
            if m.get("pending_restart"):
                out["pending_restart"] = True
            self._reply(200, out)

        def do_PATCH_config(self, body):
            params = ((body or {}).get("postgresql") or {}).get("parameters") or {}
            _merge(fake.config, body or {})
            if any(p in params for p in fake.restart_params):
                fake._later(fake.restart_delay, fake._mark_pending)
            self._reply(200, fake.config)

        def do_POST_switchover(self, body):
            if body.get("leader") != fake.leader():
                self._reply(412, "leader name does not match")
                return
            if body.get("scheduled_at"):
                fake.scheduled = {"at": body["scheduled_at"], "from": body["leader"],
                                  "to": body.get("candidate")}
                self._reply(202, "Switchover scheduled")
                return
            # Without a candidate, Patroni picks one: here the first replica.
            candidate = body.get("candidate") or next(m["name"] for m in fake.members
                                                      if m["role"] != "leader")
            fake._later(fake.switch_delay, lambda: fake._promote(candidate))
            self._reply(200, f"Successfully switched over to \"{candidate}\"")

        def do_POST_restart(self, body):
            # Patroni restarts PostgreSQL, then answers; the DCS shows the cleared flag a loop later.
            m = fake.get(name)
            pending = m.get("pending_restart") and name not in fake.stale_pending
            if (body or {}).get("restart_pending") and not pending:
                self._reply(503, "restart conditions are not satisfied")
                return
            fake.restarts.append(name)
            m["postmaster_start_time"] = f"start-{len(fake.restarts)}"
            fake._later(fake.restart_delay, lambda: fake._restarted(name))
            self._reply(200, "restarted successfully")

        def do_POST_failover(self, body):
            fake._later(fake.switch_delay, lambda: fake._promote(body["candidate"]))
            self._reply(200, f"Successfully failed over to \"{body['candidate']}\"")

    return Handler


def wait_until(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
