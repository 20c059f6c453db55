# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Patroni REST client of the collection, and the cluster logic everything shares.

Standard library only, with no import from Ansible or from the collection, so
that every caller can use this one file:

- the modules and inventory plugins, through module_utils/patroni.py (the
  Ansible wrapper, which gives the client an `open_url` transport);
- the tools under tools/, which put the collection on sys.path;
- the node scripts the roles install, which find this file beside them (the
  roles copy it there) and have no Ansible to import.

`PatroniClient` talks to whichever member answers first (every member can
serve /cluster and /config and accept a switchover or a config PATCH) and
turns every failure into `PatroniError`, whose message names the URL, says
what failed and how to fix it. It sends its requests through a transport, a
callable `transport(method, url, body, timeout, headers)` returning
`(status, raw body)` for any HTTP answer (error statuses too) and raising
`TransportError` when no answer came. `stdlib_transport` is the transport
of the tools and node scripts; it uses `http.client` (see the comment above it).

The functions after the client take the JSON Patroni returns and need no
HTTP, so unit tests drive them directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import http.client
import json
import socket
import ssl
import time
import urllib.parse

# Patroni's default when the DCS config has no maximum_lag_on_failover.
DEFAULT_MAXIMUM_LAG_ON_FAILOVER = 1048576
# Patroni's own floor for ttl; lower values are silently raised to this.
PATRONI_MIN_TTL = 20
# Patroni raises a lower retry_timeout to this value (its config validator).
PATRONI_MIN_RETRY_TIMEOUT = 3
# The timings Patroni itself assumes for keys the DCS does not hold.
PATRONI_DEFAULTS = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
TIMING_KEYS = ("ttl", "loop_wait", "retry_timeout")

# Roles of the member holding the leader key (a standby cluster's leader included).
LEADER_ROLES = ("leader", "standby_leader", "master", "primary")
# Roles of a read-write primary: the leader key holder of a cluster that is not a standby cluster.
PRIMARY_ROLES = ("leader", "primary", "master")
# Roles of a member that follows the leader.
REPLICA_ROLES = ("replica", "sync_standby", "quorum_standby")
# Roles of a standby that acknowledges commits in synchronous mode.
SYNC_ROLES = ("sync_standby", "quorum_standby")
# States of a replica that replicates from the leader.
HEALTHY_REPLICA_STATES = ("streaming", "running")

# How messages name the caller's settings: the modules' options by default;
# tools and node scripts pass their own (PatroniClient's option_names).
MODULE_OPTION_NAMES = {
    "urls": "api_urls",
    "ca": "ca_path",
    "credentials": "patroni_rest username/password (api_username and api_password)",
}


class PatroniError(Exception):
    """Any failure talking to Patroni; the message names what failed and how to fix it."""

    def __init__(self, message, status=None, outcome_unknown=False):
        super().__init__(message)
        self.message = message
        self.status = status
        # True when a write was sent but no answer came back: it may have taken effect.
        self.outcome_unknown = outcome_unknown


class TransportError(Exception):
    """No HTTP answer came (refused, timed out, TLS refused, ...); the message is the reason."""


class _Unreachable(Exception):
    """One URL did not answer (internal: the client moves on to the next URL)."""


# -- transports --------------------------------------------------------------
def tls_context(ca_file=None, validate_certs=True, client_cert=None, client_key=None):
    """The SSL context of https URLs: checked against `ca_file` (else the system's CAs)."""
    context = ssl.create_default_context(cafile=ca_file or None)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(client_cert, client_key or None)
    return context


# http.client rather than urllib.request: this file lives under plugins/, where
# ansible-test's replace-urlopen sanity test (which Galaxy does not let a
# collection ignore) refuses urllib's urlopen. The test reads code only, not
# comments. Ansible's open_url is no option here: this file must run without Ansible.
def stdlib_transport(ca_file=None, validate_certs=True, client_cert=None, client_key=None, keep_alive=False):
    """A transport over `http.client`: https URLs are checked against `ca_file`, no proxy is used.

    With `keep_alive`, one connection per host and port stays open between
    requests (for services that ask every second: no TLS handshake per
    request). A kept connection that the server closed meanwhile is opened
    again once; any other failure closes it and raises.
    """
    context = tls_context(ca_file, validate_certs, client_cert, client_key)
    kept = {}

    def open_connection(parts, port, timeout):
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, port, timeout=timeout, context=context)
        if parts.scheme == "http":
            return http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
        raise TransportError(f"{parts.geturl()} is not an http:// or https:// URL")

    def exchange(conn, method, target, body, timeout, headers):
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.request(method, target, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp, resp.read()

    def send(method, url, body=None, timeout=5.0, headers=None):
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port
        except ValueError as e:
            raise TransportError(f"bad URL {url}: {e}") from None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.hostname, port)
        conn = kept.pop(key, None) if keep_alive else None
        reused = conn is not None
        try:
            conn = conn or open_connection(parts, port, timeout)
            try:
                resp, data = exchange(conn, method, target, body, timeout, headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # The server closed the idle connection before this request reached it.
                conn.close()
                conn = open_connection(parts, port, timeout)
                resp, data = exchange(conn, method, target, body, timeout, headers)
        except (OSError, http.client.HTTPException, ValueError) as e:
            if conn is not None:
                conn.close()
            raise TransportError(reason_of(e)) from None
        if keep_alive and not resp.will_close:
            kept[key] = conn
        else:
            conn.close()
        return resp.status, data

    return send


def reason_of(error):
    """Short text for a network error: 'timed out' for timeouts, else its reason or message."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, socket.timeout) or isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, ssl.SSLError):  # its reason is a bare code; the message says more
        reason = None
    return str(reason if reason is not None else error) or error.__class__.__name__


def basic_auth(username, password):
    """The Authorization header value of HTTP basic auth."""
    token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
    return "Basic " + token


# -- the client --------------------------------------------------------------
class PatroniClient(object):
    """Patroni REST API through `transport`, trying each URL in turn until one answers.

    `option_names` ({"urls", "ca", "credentials"}) names the caller's settings in
    messages (default: the modules' options). With `sticky`, the URL that
    answered last is tried first next time (pollers: a dead member costs its
    timeout once, not at every request).
    """

    # Seconds to wait before retry n (times n); tests set it to 0.
    backoff = 0.3

    def __init__(self, urls, transport, username=None, password=None, timeout=5, retries=2,
                 option_names=None, sticky=False):
        self.names = dict(MODULE_OPTION_NAMES, **(option_names or {}))
        self.urls = normalize_urls(urls, self.names["urls"])
        if not self.urls:
            raise PatroniError(f"{self.names['urls']} is empty; give the Patroni REST URL of at least one "
                               "member, for example https://10.0.1.11:8008")
        self.transport = transport
        self.username = username
        self.password = password
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.sticky = sticky
        self.last_url = None

    # -- public API -------------------------------------------------------
    def cluster(self):
        """GET /cluster: members, roles, states, lag, pause and scheduled switchover."""
        return self._any("GET", "/cluster", expect_json=True)

    def config(self):
        """GET /config: the dynamic configuration held in the DCS."""
        return self._any("GET", "/config", expect_json=True)

    def patch_config(self, patch):
        """PATCH /config with `patch` (Patroni merges it, null deletes a key); returns the new config."""
        return self._any("PATCH", "/config", body=patch)

    def switchover(self, leader, candidate=None, scheduled_at=None, timeout=None):
        """POST /switchover; Patroni answers once the switchover is done (or scheduled)."""
        body = {"leader": leader}
        if candidate:
            body["candidate"] = candidate
        if scheduled_at:
            body["scheduled_at"] = scheduled_at
        return self._any("POST", "/switchover", body=body, timeout=timeout)

    def failover(self, candidate, timeout=None):
        """POST /failover: promote `candidate` even without a healthy leader."""
        return self._any("POST", "/failover", body={"candidate": candidate}, timeout=timeout)

    def member(self, url):
        """GET /patroni of one member, `url` being its api_url from /cluster or its base URL."""
        url = base_url(url)
        try:
            return self._attempts(url, "GET", "/patroni", None, self.timeout, expect_json=True)
        except _Unreachable as e:
            raise PatroniError(f"Patroni REST API of member {url} did not answer: {e}") from None

    def member_post(self, url, path, body=None, timeout=None):
        """POST `path` on one member (its api_url from /cluster or its base URL), not on any member."""
        url = base_url(url)
        try:
            return self._attempts(url, "POST", path, body, timeout or self.timeout)
        except _Unreachable as e:
            raise PatroniError(f"Patroni REST API of member {url} did not answer POST {path}: {e}; "
                               "check that Patroni runs there and that this host may reach it") from None

    def restart(self, url, restart_pending=False, timeout=None):
        """POST /restart on one member; Patroni answers once PostgreSQL is up again (or the restart failed).

        With `restart_pending`, Patroni itself refuses (HTTP 503) when the member has no pending restart.
        """
        body = {"restart_pending": True} if restart_pending else {}
        return self.member_post(url, "/restart", body=body, timeout=timeout)

    def health(self, url, check="primary", timeout=None):
        """HTTP status of one member's health check GET /<check> (primary, replica, leader, health, ...):
        200 when the member passes it, 503 when not; 0 when it did not answer. Never retried."""
        try:
            status, _raw = self._send(base_url(url) + "/" + check.lstrip("/"), "GET", None,
                                      timeout or self.timeout)
        except TransportError:
            return 0
        return status

    # -- requests ---------------------------------------------------------
    def _any(self, method, path, body=None, timeout=None, expect_json=False):
        errors = []
        urls = list(self.urls)
        if self.sticky and self.last_url in urls:
            urls.remove(self.last_url)
            urls.insert(0, self.last_url)
        for url in urls:
            try:
                result = self._attempts(url, method, path, body, timeout or self.timeout, expect_json)
            except _Unreachable as e:
                errors.append(f"{url}: {e}")
                continue
            self.last_url = url
            return result
        hint = ""
        if any("CERTIFICATE_VERIFY_FAILED" in e or "hostname mismatch" in e.lower() for e in errors):
            hint = (f" A certificate was not accepted: set {self.names['ca']} to the CA that signed the "
                    "REST API's certificates (the deployment's .pki/ca.crt) and use the members' addresses "
                    "or names.")
        raise PatroniError(
            f"no Patroni member answered {method} {path}; tried {'; '.join(errors)}. Check "
            f"{self.names['urls']} (https, address and REST port, 8008 by default), that Patroni runs on "
            f"those hosts and that this host may reach them.{hint}")

    def _attempts(self, url, method, path, body, timeout, expect_json=False):
        """One URL, retrying errors where the request cannot have been acted on."""
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * attempt)
            try:
                return self._once(url, method, path, body, timeout, expect_json)
            except _Unreachable as e:
                last = e
                # A write whose answer timed out may have been applied: never send it twice.
                if method != "GET" and not _refused(e):
                    raise PatroniError(
                        f"{method} {url}{path} sent but no answer within {timeout}s ({e}); the change "
                        "may or may not have taken effect: check the cluster state before retrying",
                        outcome_unknown=True) from None
        raise last

    def _send(self, url, method, body, timeout):
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "pgha.cloud-patroni"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.username:
            headers["Authorization"] = basic_auth(self.username, self.password)
        return self.transport(method, url, data, timeout, headers)

    def _once(self, url, method, path, body, timeout, expect_json=False):
        try:
            status, raw = self._send(url + path, method, body, timeout)
        except TransportError as e:
            raise _Unreachable(str(e) or "no answer") from None
        if 200 <= status < 300:
            answer = decode(raw)
            if expect_json and not isinstance(answer, dict):
                # Not Patroni (a proxy's error page, another service on the port): try another member.
                raise _Unreachable(f"HTTP {status} with a body that is not Patroni's JSON: "
                                   f"{str(answer)[:200]!r}")
            return answer
        text = _text(raw)
        if status == 401:
            raise PatroniError(
                f"{method} {url}{path} was refused with 401 Unauthorized ({text or 'no detail'}): "
                f"check {self.names['credentials']}: they must match restapi.authentication in patroni.yml",
                status=401)
        if status in (502, 503, 504) and method == "GET":
            # This member cannot serve the request now (its DCS is unreachable, say): try another.
            raise _Unreachable(f"HTTP {status} {text}")
        raise PatroniError(f"{method} {url}{path} failed with HTTP {status}: "
                           f"{text or http.client.responses.get(status, 'no detail')}", status=status)


def _refused(error):
    text = str(error).lower()
    return "refused" in text or "no route" in text or "name or service not known" in text


def _text(raw):
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return (raw or "").strip()[:500]


def decode(raw):
    """A response body: parsed JSON, else its text (/switchover and /failover answer with plain text)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    raw = raw or ""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.strip()


def normalize_urls(urls, option="api_urls"):
    """Base URLs from api_urls; also accepts a JSON list passed as one string (key=value syntax)."""
    if isinstance(urls, str):
        urls = [urls]
    out = []
    for item in urls or []:
        text = str(item).strip()
        if text.startswith("["):
            try:
                out.extend(normalize_urls(json.loads(text), option))
                continue
            except ValueError:
                pass
        text = text.strip("'\"")
        if not text:
            continue
        if not text.startswith(("http://", "https://")):
            raise PatroniError(f"{option} item {text!r} is not an http:// or https:// URL; give the "
                               "Patroni REST URL of a member, for example https://10.0.1.11:8008")
        out.append(base_url(text))
    return out


def base_url(url):
    """http://h:8008/patroni and http://h:8008/ -> http://h:8008."""
    url = str(url).strip().rstrip("/")
    if url.endswith("/patroni"):
        url = url[: -len("/patroni")]
    return url


# -- cluster logic (pure) ---------------------------------------------------
def members_of(cluster):
    return list((cluster or {}).get("members") or [])


def member_named(cluster, name):
    for m in members_of(cluster):
        if m.get("name") == name:
            return m
    return None


def lag_of(member):
    """Replication lag in bytes, or None when Patroni reports it unknown (or for the leader)."""
    lag = member.get("lag")
    if isinstance(lag, bool):
        return None
    if isinstance(lag, int):
        return lag
    try:
        return int(lag)
    except (TypeError, ValueError):
        return None


def leader_key_holder(cluster):
    """Name of the member holding the leader key, whatever its state (a standby_leader too), or None."""
    for m in members_of(cluster):
        if m.get("role") in LEADER_ROLES:
            return m.get("name")
    return None


def healthy_leader(cluster):
    """Name of the leader key holder if it is running, else None."""
    m = member_named(cluster, leader_key_holder(cluster))
    return m.get("name") if m and m.get("state") == "running" else None


def running_primaries(cluster):
    """Members that run as the read-write primary (PRIMARY_ROLES, state running): one, or none.

    More than one only in a view taken while the roles change; callers that
    move traffic must refuse to pick one then.
    """
    return [m for m in members_of(cluster) if m.get("role") in PRIMARY_ROLES and m.get("state") == "running"]


def running_primary(cluster):
    """The member entry of the running read-write primary (the first, if a view shows two), or None."""
    found = running_primaries(cluster)
    return found[0] if found else None


def sync_standbys(cluster):
    return [m.get("name") for m in members_of(cluster) if m.get("role") in SYNC_ROLES]


def is_streaming(member):
    return member.get("role") not in LEADER_ROLES and member.get("state") in HEALTHY_REPLICA_STATES


def summarize_members(cluster):
    """The members as the modules return them."""
    out = []
    for m in members_of(cluster):
        out.append(dict(
            name=m.get("name"), host=m.get("host"), port=m.get("port"), role=m.get("role"),
            state=m.get("state"), timeline=m.get("timeline"), lag=lag_of(m),
            tags=m.get("tags") or {}, pending_restart=bool(m.get("pending_restart")),
            api_url=m.get("api_url")))
    return out


def describe_members(cluster):
    """One line such as 'pg-1 leader running tl 3; pg-2 replica streaming lag 0' for messages."""
    parts = []
    for m in members_of(cluster):
        text = "{} {} {}".format(m.get("name"), m.get("role"), m.get("state"))
        if m.get("timeline") is not None:
            text += " tl {}".format(m.get("timeline"))
        if m.get("role") not in LEADER_ROLES:
            text += " lag {}".format(m.get("lag", "unknown"))
        parts.append(text)
    return "; ".join(parts) or "no members"


def max_lag_of(config):
    value = (config or {}).get("maximum_lag_on_failover")
    return DEFAULT_MAXIMUM_LAG_ON_FAILOVER if value is None else int(value)


def sync_mode_of(config):
    return (config or {}).get("synchronous_mode") not in (None, False, "off", "false")


def candidate_errors(cluster, candidate, max_lag, sync_mode=False):
    """Why `candidate` cannot take over (empty list if it can).

    Mirrors Patroni's own checks: the nofailover tag (or failover_priority 0),
    a replica that is not streaming, lag unknown or above max_lag, and, in
    synchronous mode, a candidate that is not a synchronous standby.
    """
    m = member_named(cluster, candidate)
    if m is None:
        names = ", ".join(x.get("name") for x in members_of(cluster)) or "none"
        return [f"{candidate} is not a member of the cluster (members: {names})"]
    errors = []
    tags = m.get("tags") or {}
    if m.get("role") in LEADER_ROLES:
        errors.append(f"{candidate} is the current leader")
        return errors
    if tags.get("nofailover") in (True, "true", "True") or tags.get("failover_priority") in (0, "0"):
        errors.append(f"{candidate} is tagged nofailover (or failover_priority 0), so Patroni never "
                      "promotes it; remove the tag or pick another candidate")
    if m.get("state") not in HEALTHY_REPLICA_STATES:
        state = m.get("state") or "in an unknown state"
        errors.append(f"{candidate} is {state}, not streaming; only a streaming replica can take over")
    lag = lag_of(m)
    if lag is None:
        errors.append(f"{candidate} reports lag {m.get('lag')!r}; its lag must be known to be within "
                      f"maximum_lag_on_failover={max_lag}")
    elif max_lag is not None and lag > max_lag:
        errors.append(f"{candidate} lags {lag} bytes behind, more than maximum_lag_on_failover={max_lag}; "
                      "wait for it to catch up or pick another candidate")
    syncs = sync_standbys(cluster)
    if sync_mode and syncs and candidate not in syncs:
        errors.append(f"synchronous_mode is on and {candidate} is not a synchronous standby (those are: "
                      f"{', '.join(syncs)}); Patroni only switches over to one of them")
    return errors


def best_candidate(cluster, max_lag, sync_mode=False):
    """The eligible replica with the lowest lag (ties: higher failover_priority, then name), or None."""
    eligible = []
    for m in members_of(cluster):
        if m.get("role") in LEADER_ROLES or candidate_errors(cluster, m.get("name"), max_lag, sync_mode):
            continue
        try:
            priority = int((m.get("tags") or {}).get("failover_priority", 1))
        except (TypeError, ValueError):
            priority = 1
        eligible.append((lag_of(m), -priority, m.get("name")))
    return min(eligible)[2] if eligible else None


def pending_restart_members(cluster):
    return sorted(m.get("name") for m in members_of(cluster) if m.get("pending_restart"))


# -- config logic (pure) ----------------------------------------------------
def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def timing_errors(ttl, loop_wait, retry_timeout):
    """Return the Patroni timing rules that the given values break (empty if none)."""
    errors = []
    if ttl < PATRONI_MIN_TTL:
        errors.append(
            f"ttl={ttl} is below Patroni's minimum of {PATRONI_MIN_TTL} (Patroni would silently "
            f"raise it); use ttl >= {PATRONI_MIN_TTL}")
    if loop_wait < 1:
        errors.append(f"loop_wait={loop_wait} must be at least 1")
    if retry_timeout < 1:
        errors.append(f"retry_timeout={retry_timeout} must be at least 1")
    if loop_wait + 2 * retry_timeout > ttl:
        errors.append(
            f"loop_wait + 2 * retry_timeout = {loop_wait} + 2 * {retry_timeout} = "
            f"{loop_wait + 2 * retry_timeout} exceeds ttl={ttl}; Patroni requires "
            "loop_wait + 2 * retry_timeout <= ttl")
    return errors


def config_errors(desired, current=None):
    """Patroni rules `desired` would break once merged into `current` (empty list if none).

    Values Patroni would reject or silently clamp are refused here, before any
    PATCH: ttl >= 20, loop_wait >= 1, retry_timeout >= 3 and
    loop_wait + 2 * retry_timeout <= ttl (timing_errors).
    """
    if not isinstance(desired, dict):
        return ["settings must be a dict of Patroni dynamic configuration keys"]
    errors = []
    current = current or {}
    for key in TIMING_KEYS + ("maximum_lag_on_failover",):
        if key in desired and desired[key] is not None and not _is_int(desired[key]):
            errors.append(f"{key}={desired[key]!r} must be an integer")
    if errors:
        return errors
    mlof = desired.get("maximum_lag_on_failover")
    if mlof is not None and mlof < 0:
        errors.append(f"maximum_lag_on_failover={mlof} must be >= 0 (bytes)")
    if "synchronous_mode" in desired and desired["synchronous_mode"] not in (None, True, False, "quorum"):
        errors.append(f"synchronous_mode={desired['synchronous_mode']!r} must be true, false or quorum")
    pg = desired.get("postgresql")
    if pg is not None and not isinstance(pg, dict):
        errors.append("postgresql must be a dict such as {parameters: {max_connections: 200}}")
    elif pg and pg.get("parameters") is not None and not isinstance(pg.get("parameters"), dict):
        errors.append("postgresql.parameters must be a dict of PostgreSQL settings")
    if any(desired.get(k) is not None for k in TIMING_KEYS):
        merged = {}
        for key in TIMING_KEYS:
            value = desired.get(key)
            if value is None:
                value = current.get(key)
            merged[key] = int(value) if value is not None else PATRONI_DEFAULTS[key]
        retry = merged["retry_timeout"]
        errors.extend(timing_errors(merged["ttl"], merged["loop_wait"], retry))
        if 1 <= retry < PATRONI_MIN_RETRY_TIMEOUT:
            floor = PATRONI_MIN_RETRY_TIMEOUT
            errors.append(f"retry_timeout={retry} is below Patroni's minimum of {floor} (Patroni would "
                          f"silently raise it); use retry_timeout >= {floor}")
    return errors


def _norm(value):
    """Compare settings the way PostgreSQL reads them: on/true, 200/'200' are equal."""
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value).strip().lower()
    return {"true": "on", "false": "off", "yes": "on", "no": "off"}.get(text, text)


def config_patch(current, desired):
    """The smallest PATCH body that makes `current` hold every value of `desired`.

    Keys absent from `desired` are left alone: the DCS may hold settings an
    operator added on purpose.
    """
    patch = {}
    current = current or {}
    for key, want in desired.items():
        have = current.get(key)
        if isinstance(want, dict):
            sub = config_patch(have if isinstance(have, dict) else {}, want)
            if sub:
                patch[key] = sub
        elif have is None or _norm(have) != _norm(want):
            patch[key] = want
    return patch


def _drop_absent_nulls(current, desired):
    """Remove `key: null` (delete) requests for keys `current` does not hold, recursively."""
    out = {}
    for key, want in desired.items():
        have = (current or {}).get(key)
        if want is None:
            if have is not None:
                out[key] = None
        elif isinstance(want, dict):
            sub = _drop_absent_nulls(have if isinstance(have, dict) else {}, want)
            if sub or not want:
                out[key] = sub
        else:
            out[key] = want
    return out


def desired_patch(current, desired):
    """The PATCH /config body: config_patch, with deletions of absent keys dropped."""
    return config_patch(current, _drop_absent_nulls(current, desired))


def changed_view(config, patch):
    """The part of `config` that `patch` touches (for diff before/after of changed keys only)."""
    out = {}
    for key, value in patch.items():
        have = (config or {}).get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            out[key] = changed_view(have, value)
        else:
            out[key] = have
    return out


def apply_patch(config, patch):
    """`config` after Patroni merges `patch` into it (recursive merge, null deletes a key)."""
    out = dict(config or {})
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply_patch(out[key], value)
        else:
            out[key] = value
    return out


def touches_parameters(patch):
    """Whether `patch` changes PostgreSQL parameters (the only changes that can need a restart)."""
    pg = patch.get("postgresql")
    return isinstance(pg, dict) and bool(pg.get("parameters"))


def pending_restart_now(client, cluster):
    """Members with pending_restart in /cluster or in their own /patroni (unreachable ones skipped)."""
    pending = set(pending_restart_members(cluster))
    for m in members_of(cluster):
        if m.get("name") in pending or not m.get("api_url"):
            continue
        try:
            status = client.member(m["api_url"])
        except PatroniError:
            continue
        if isinstance(status, dict) and status.get("pending_restart"):
            pending.add(m.get("name"))
    return sorted(pending)


def watch_pending_restart(client, seconds, interval=0.5):
    """Poll for `seconds` (Patroni notices a change at its next loop); stop early once all members pend."""
    deadline = time.time() + seconds
    while True:
        cluster = client.cluster()
        pending = pending_restart_now(client, cluster)
        if len(pending) == len(members_of(cluster)) or time.time() >= deadline:
            return pending
        time.sleep(interval)
