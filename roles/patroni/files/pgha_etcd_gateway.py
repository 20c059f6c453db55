# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of etcd's v3 JSON gateway, for the node services.

Standard library only, like patroni_core.py (whose transport it uses, and
which the patroni role installs beside it): imported by the node scripts
(the etcd leader placement service, the observer), which have no Ansible.

With authentication on, each request carries a token from
/v3/auth/authenticate; an expired one (etcd's simple tokens live minutes) is
renewed once. Keys and values go over the gateway in base64; the helpers
take and return text. Reads are linearizable (etcd's default): a member cut
off from the majority answers none, which is what the callers rely on.
"""

import base64
import json
import os

import patroni_core


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text or "").decode("utf-8", "replace")


def prefix_end(prefix):
    """The range_end that makes a range request cover every key starting with `prefix`."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


def read_credentials(name):
    """`user:password` from the file `name` (or $CREDENTIALS_DIRECTORY/name); None if there is none."""
    path = name
    if not os.path.isabs(name) and os.environ.get("CREDENTIALS_DIRECTORY"):
        path = os.path.join(os.environ["CREDENTIALS_DIRECTORY"], name)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


class Gateway:
    """etcd's JSON gateway at one or more client URLs (the first that answers serves)."""

    def __init__(self, endpoints, cacert=None, cert=None, key=None, credentials=None, timeout=1.0):
        self.endpoints = [url.rstrip("/") for url in endpoints]
        self.timeout = timeout
        # Kept connections: the services ask every second or faster, and a TLS
        # handshake per request cost etcd more CPU than the requests themselves.
        self.transport = (patroni_core.stdlib_transport(ca_file=cacert, client_cert=cert, client_key=key,
                                                        keep_alive=True)
                          if cacert else patroni_core.stdlib_transport(keep_alive=True))
        self.user, self.password = None, None
        if credentials:
            self.user, _sep, self.password = credentials.strip().partition(":")
        self.token = None
        self.last_error = None

    def _send(self, url, body, timeout, token=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if token:
            headers["Authorization"] = token
        try:
            status, raw = self.transport("GET" if body is None else "POST", url, data, timeout, headers)
        except patroni_core.TransportError:
            return 0, None
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, None

    def _authenticate(self, base, timeout):
        status, body = self._send(base + "/v3/auth/authenticate",
                                  {"name": self.user, "password": self.password}, timeout)
        self.token = body.get("token") if status == 200 and isinstance(body, dict) else None
        return self.token

    def request_at(self, url, body=None, timeout=None):
        """(status, parsed JSON or None) from one full URL; status 0 when nothing answered."""
        timeout = self.timeout if timeout is None else timeout
        if not self.user or "/v3/" not in url:
            return self._send(url, body, timeout)
        base = url.split("/v3/", 1)[0]
        token = self.token or self._authenticate(base, timeout)
        status, answer = self._send(url, body, timeout, token)
        if status in (400, 401) and isinstance(answer, dict) and "token" in str(answer.get("error", "")):
            status, answer = self._send(url, body, timeout, self._authenticate(base, timeout))
        return status, answer

    def call(self, path, body):
        """POST `body` to `path` (/v3/...) on the first endpoint that answers 200; its JSON, or None.

        The endpoint that answered is asked first next time: a dead member
        costs its timeout once, not on every request.
        """
        errors = []
        for endpoint in list(self.endpoints):
            status, answer = self.request_at(endpoint + path, body)
            if status == 200 and isinstance(answer, dict):
                if endpoint != self.endpoints[0]:
                    self.endpoints.remove(endpoint)
                    self.endpoints.insert(0, endpoint)
                return answer
            detail = answer.get("error") if isinstance(answer, dict) else None
            reason = f"HTTP {status} {detail or ''}".strip() if status else "no answer"
            errors.append(f"{endpoint}: {reason}")
        self.last_error = "; ".join(errors)
        return None

    # --- keys

    def get(self, key):
        """(value, kv) of one key, (None, None) when it does not exist; raises when etcd did not answer."""
        answer = self.call("/v3/kv/range", {"key": b64(key)})
        if answer is None:
            raise EtcdUnavailable(f"no etcd member answered a read of {key} ({self.last_error})")
        kvs = answer.get("kvs") or []
        return (unb64(kvs[0].get("value")), kvs[0]) if kvs else (None, None)

    def get_prefix(self, prefix):
        """{key: value} of every key under `prefix`; raises when etcd did not answer."""
        answer = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": prefix_end(prefix)})
        if answer is None:
            raise EtcdUnavailable(f"no etcd member answered a read of {prefix}* ({self.last_error})")
        return {unb64(kv.get("key")): unb64(kv.get("value")) for kv in answer.get("kvs") or []}

    def put(self, key, value, lease=None):
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return self.call("/v3/kv/put", body) is not None

    def delete(self, key):
        return self.call("/v3/kv/deleterange", {"key": b64(key)}) is not None

    def delete_if(self, key, mod_revision, lease):
        """Delete `key` only while its mod_revision and lease are the given ones; True if it was deleted."""
        answer = self.call("/v3/kv/txn", {
            "compare": [
                {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)},
                {"key": b64(key), "target": "LEASE", "result": "EQUAL", "lease": str(lease)},
            ],
            "success": [{"request_delete_range": {"key": b64(key)}}],
        })
        return bool(answer and answer.get("succeeded"))

    # --- leases

    def grant(self, ttl):
        """A new lease of `ttl` seconds; its ID, or None."""
        answer = self.call("/v3/lease/grant", {"TTL": str(int(ttl))})
        return answer.get("ID") if answer else None

    def time_to_live(self, lease):
        """(remaining TTL, granted TTL) of a lease in seconds; remaining is -1 once it expired."""
        answer = self.call("/v3/lease/timetolive", {"ID": str(lease)})
        if answer is None:
            raise EtcdUnavailable(f"no etcd member answered about lease {lease} ({self.last_error})")
        return int(answer.get("TTL", -1)), int(answer.get("grantedTTL", 0))


class EtcdUnavailable(Exception):
    """No etcd member answered (or none of the majority's side): the caller must not act."""
