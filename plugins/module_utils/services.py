# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's services of a cluster, in Pigsty's shape: which members each one serves, where, checked how.

A service is Pigsty's mapping: `name`, `port`, `ip` (`*`: every address),
`selector` (a JMESPath expression over the cluster's members that picks the
servers), `backup` (the same, for servers used only when no other is up),
`dest` (`default`, `postgres`, `pgbouncer` or a port), `check` (the Patroni
endpoint that decides membership), `maxconn`, `balance` and `options`
(HAProxy's default-server options, replacing the ones of `pg_rto`).

Without `pg_default_services` a cluster gets the four of BUILTIN, with this
collection's checks; `pg_default_services` replaces them (it must keep the
services entry points and playbooks use, REQUIRED) and `pg_services` adds to
either. The inventory check and the haproxy and firewall roles all read
these functions, so they cannot disagree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import warnings

from ansible_collections.pgha.cloud.plugins.module_utils.cluster import as_int

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - requirements.txt pins it
    HAS_JMESPATH = False

KEYS = ("name", "port", "ip", "selector", "backup", "dest", "check", "maxconn", "balance", "options")
# Pigsty's default services, with this collection's checks: the replica
# service keeps replicas within haproxy_replica_max_lag and falls back to the
# primary's backend when none is up (`fallback`, ours); the selectors name
# inventory roles, the checks decide who serves now.
BUILTIN = (
    {"name": "primary", "dest": "default", "check": "/primary", "selector": "[]"},
    {"name": "replica", "dest": "default", "check": "/replica?lag={lag}",
     "selector": "[? pg_role != 'offline']", "backup": "[? pg_role == 'offline']", "fallback": "primary"},
    {"name": "default", "dest": "postgres", "check": "/primary", "selector": "[]"},
    {"name": "offline", "dest": "postgres", "check": "/replica",
     "selector": "[? pg_role == 'offline' || pg_offline_query]",
     "backup": "[? pg_role != 'offline' && !pg_offline_query]"},
)
# Entry points (NLB, Route53, VIP), the drills and the status read these.
REQUIRED = ("primary", "replica", "default")
DESTINATIONS = ("default", "postgres", "pgbouncer")
BALANCES = ("roundrobin", "static-rr", "leastconn", "first", "source")
# Patroni's REST API health endpoints a check may use (a query string may follow).
CHECK_PATHS = ("/", "/primary", "/leader", "/master", "/read-write", "/standby-leader", "/standby_leader",
               "/replica", "/read-only", "/synchronous", "/sync", "/read-only-sync", "/quorum",
               "/read-only-quorum", "/asynchronous", "/async", "/health", "/liveness", "/readiness")
_CHECK_RE = re.compile(r"(/[a-z_-]*)(\?[A-Za-z0-9_=&.-]+)?")
_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# One word of HAProxy's server options: no spaces, quotes, '#' or line breaks.
_OPTION_RE = re.compile(r"[A-Za-z0-9_.:/%+-]+")
SELECTOR_DEFAULT = "[]"
# pg_haproxy_ports without offline: the offline service takes primary + 5.
OFFLINE_OFFSET = 5


def _compile(expr):
    """The compiled JMESPath expression, or a ValueError with jmespath's reason."""
    if not HAS_JMESPATH:
        raise ValueError("the jmespath Python library is missing on the controller; install the "
                         "collection's requirements.txt")
    try:
        # Pigsty writes `replica` for the string "replica": jmespath still reads
        # that form and warns about it on every call.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return jmespath.compile(expr)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(str(exc).replace("\n", " ")) from None


def _fields(node, out):
    """Names of the fields a parsed JMESPath expression reads."""
    if isinstance(node, dict):
        if node.get("type") == "field":
            out.add(node.get("value"))
        for child in node.get("children") or ():
            _fields(child, out)
    return out


def item_errors(item):
    """Problems with one Pigsty service mapping; each names the key and what it takes."""
    if not isinstance(item, dict):
        return [f"{item!r} is not a mapping like {{name: standby, port: 5440, selector: \"[]\"}}"]
    errors = []
    unknown = [str(key) for key in item if str(key) not in KEYS]
    if unknown:
        errors.append(f"unknown key(s) {', '.join(unknown)}; a service takes {', '.join(KEYS)}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        errors.append(f"name {name!r} is not a lower-case word (letters, digits, '-', '_', up to 32)")
    port = as_int(item.get("port"))
    if port is None or not 1 <= port <= 65535:
        errors.append(f"port {item.get('port')!r} is not a port number (1-65535)")
    ip = item.get("ip")
    if ip is not None and str(ip) != "*":
        # One address on every HAProxy host of the cluster does not exist (a VIP is on one node only).
        errors.append(f"ip {ip!r} is not supported: every HAProxy routing to the cluster binds the service, "
                      "so write '*' or remove ip (haproxy_bind_address narrows the address of all services)")
    for key in ("selector", "backup"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{key} {value!r} is not a JMESPath expression like \"[? pg_role == `replica`]\"")
            continue
        try:
            _compile(value)
        except ValueError as exc:
            errors.append(f"{key} {value!r} is not a valid JMESPath expression ({exc})")
    dest = item.get("dest")
    if dest is not None and str(dest) not in DESTINATIONS and (as_int(dest) is None
                                                               or not 1 <= as_int(dest) <= 65535):
        errors.append(f"dest {dest!r} is not one of {', '.join(DESTINATIONS)} or a port number")
    check = item.get("check")
    if check is not None:
        match = _CHECK_RE.fullmatch(str(check))
        if not match or match.group(1) not in CHECK_PATHS:
            errors.append(f"check {check!r} is not a Patroni health endpoint ({', '.join(CHECK_PATHS[1:6])}, "
                          "..., optionally with a query such as ?lag=1048576)")
    maxconn = item.get("maxconn")
    if maxconn is not None and (as_int(maxconn) is None or as_int(maxconn) < 1):
        errors.append(f"maxconn {maxconn!r} is not a whole number from 1 up")
    balance = item.get("balance")
    if balance is not None and str(balance) not in BALANCES:
        errors.append(f"balance {balance!r} is not one of {', '.join(BALANCES)}")
    options = item.get("options")
    if options is not None and (not isinstance(options, str)
                                or not all(_OPTION_RE.fullmatch(w) for w in options.split(" ") if w)
                                or not options.strip()):
        errors.append(f"options {options!r} is not a line of HAProxy server options (words of letters, "
                      "digits and . : / % + - _ separated by spaces)")
    return errors


def list_errors(var, value, default_list=False):
    """Problems with pg_services (or pg_default_services when `default_list`) as a whole."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        return [f"{var} {value!r} is not a list of services"]
    errors = []
    names = []
    for index, item in enumerate(value):
        for problem in item_errors(item):
            label = item.get("name") if isinstance(item, dict) and item.get("name") else f"#{index + 1}"
            errors.append(f"{var} service {label}: {problem}")
        if isinstance(item, dict):
            names.append(str(item.get("name")))
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        errors.append(f"{var} names the service(s) {', '.join(twice)} more than once; give each its own name")
    if default_list:
        missing = [name for name in REQUIRED if name not in names]
        if missing:
            errors.append(f"{var} lacks the service(s) {', '.join(missing)}: the entry points, the drills "
                          "and the status report use them; keep them (any port, check or selector)")
    return errors


def cluster_services(hostvars, groups, cluster, fallback=None, lag=1048576):
    """The cluster's services, each a dict with every key of KEYS (and `fallback` on the built-in replica).

    Built-in ports: the cluster's `pg_haproxy_ports` (offline, when it does
    not name it: primary + 5), else `fallback` (the HAProxy host's
    haproxy_*_port; a service it leaves out keeps haproxy.DEFAULT_PORTS').
    Read through haproxy.host_var, so only the variables asked for are
    templated.
    """
    from ansible_collections.pgha.cloud.plugins.module_utils import haproxy

    fallback = dict(haproxy.DEFAULT_PORTS, **(fallback or {}))
    members = groups.get(cluster) or ()
    first = members[0] if members else None
    defaults = haproxy.host_var(hostvars, first, "pg_default_services")
    extra = haproxy.host_var(hostvars, first, "pg_services") or []
    out = []
    if isinstance(defaults, (list, tuple)):
        base = [dict(item) for item in defaults if isinstance(item, dict)]
    else:
        ports = haproxy.host_var(hostvars, first, "pg_haproxy_ports")
        ports = dict(ports) if isinstance(ports, dict) else {}
        primary = haproxy.as_port(ports.get("primary"))
        if "offline" not in ports and isinstance(primary, int):
            # Set before the offline service existed: keep the default layout (5433 -> 5438).
            ports["offline"] = primary + OFFLINE_OFFSET
        base = [dict(item, port=ports.get(item["name"], fallback.get(item["name"])))
                for item in BUILTIN]
    for item in list(base) + [dict(item) for item in extra if isinstance(item, dict)]:
        service = {key: item.get(key) for key in KEYS}
        service["port"] = haproxy.as_port(service["port"])
        service["selector"] = service["selector"] or SELECTOR_DEFAULT
        service["dest"] = str(service["dest"] if service["dest"] is not None else "default")
        service["check"] = str(service["check"] or "/").format(lag=lag)
        if item.get("fallback"):
            service["fallback"] = item["fallback"]
        out.append(service)
    return out


def select(expr, hostvars, hosts, what):
    """The hosts among `hosts` that the JMESPath `expr` picks, in the order of `hosts`.

    The expression sees one mapping per host holding `inventory_hostname` and
    the variables it names (Pigsty's json_query over hostvars, without
    templating variables it does not read).
    """
    from ansible_collections.pgha.cloud.plugins.module_utils import haproxy

    if expr is None:
        return []
    compiled = _compile(str(expr))
    names = _fields(compiled.parsed, set()) - {"inventory_hostname"}
    rows = []
    for host in hosts:
        row = {name: haproxy.host_var(hostvars, host, name) for name in names}
        row["inventory_hostname"] = host
        rows.append(row)
    result = compiled.search(rows)
    if result is None:
        return []
    if isinstance(result, dict):
        result = [result]
    if not isinstance(result, list) or not all(isinstance(r, dict) and "inventory_hostname" in r
                                               for r in result):
        raise ValueError(f"{what} {expr!r} does not give a list of members (write it as a filter "
                         "over the members, like \"[? pg_role == `replica`]\")")
    picked = {r["inventory_hostname"] for r in result}
    return [host for host in hosts if host in picked]
