# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where HAProxy runs, which clusters each one routes to, and on which ports.

Two placements, from the same role and the same service definitions:

- node-local: every PostgreSQL node of a cluster runs HAProxy for its own
  cluster (the default; `pg_haproxy_local: false` on the cluster turns it off);
- tier: hosts in the `pg_proxy` group run only HAProxy, for the clusters named
  in their `pg_proxy_clusters` (default: every cluster of the inventory).

The inventory check, the role's configuration and the playbooks' host
selection all call these functions, so they cannot disagree. They take
Ansible's lazy `hostvars` (or plain dicts): hosts are indexed and variables
read with `.get()`, nothing is iterated.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.pgha.cloud.plugins.module_utils import presets

# A DNS host name: dot-separated labels of letters, digits and inner hyphens.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
PROXY_GROUP = "pg_proxy"
BUILTIN_GROUPS = ("all", "ungrouped")
ETCD_GROUP = "etcd"
# Names a cluster cannot take: its hosts would join the group of that name.
RESERVED_GROUPS = BUILTIN_GROUPS + (ETCD_GROUP,)

# The built-in services (module_utils/services.py defines them) whose ports
# pg_haproxy_ports sets; it must name the first three.
SERVICE_NAMES = ("primary", "replica", "default", "offline")
REQUIRED_PORTS = ("primary", "replica", "default")

# Mirrors of role defaults (tests/unit/test_haproxy_placement.py keeps them
# equal): the inventory check cannot see role defaults, only inventory values.
DEFAULT_PORTS = {"primary": 5433, "replica": 5434, "default": 5436, "offline": 5438}
PORT_VARS = {"primary": "haproxy_primary_port", "replica": "haproxy_replica_port",
             "default": "haproxy_default_port", "offline": "haproxy_offline_port"}
# HAProxy's own listeners besides the services: variable -> (default, label).
HAPROXY_PORTS = {
    "haproxy_stats_port": (9101, "the stats page (haproxy_stats_port)"),
    "haproxy_health_port": (9102, "the health endpoint (haproxy_health_port)"),
}
# Other listeners on a PostgreSQL node and an etcd member.
POSTGRES_NODE_PORTS = {
    "patroni_pg_port": (5432, "PostgreSQL (patroni_pg_port)"),
    "patroni_rest_port": (8008, "the Patroni REST API (patroni_rest_port)"),
}
ETCD_MEMBER_PORTS = {
    "etcd_client_port": (2379, "etcd clients (etcd_client_port)"),
    "etcd_peer_port": (2380, "etcd peers (etcd_peer_port)"),
}

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def host_var(hostvars, host, name):
    """A variable of a host, or None when unset or when it refers to an undefined variable.

    HostVars templates lazily, so only the variables asked for are read. A value
    that refers to an undefined variable (say a vault variable whose file was not
    loaded) comes back as a marker that raises on use.
    """
    if host is None:
        return None
    value = hostvars[host].get(name)
    try:
        bool(value)
    except Exception:
        return None
    return value


def cluster_members(hostvars, groups, cluster):
    """The hosts of group `cluster` whose pg_cluster names it (the preflight reports the others)."""
    return [host for host in groups.get(cluster) or ()
            if str(host_var(hostvars, host, "pg_cluster")) == cluster]


def parse_bool(value, default):
    """True/False from YAML or string input, `default` when unset, None when it is neither."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    return None


def cluster_groups(hostvars, groups):
    """Groups that are PostgreSQL clusters (a host's pg_cluster names the group), in inventory order."""
    clusters = []
    for group, hosts in groups.items():
        if group in RESERVED_GROUPS:
            continue
        if any(str(host_var(hostvars, host, "pg_cluster") or "") == group for host in hosts):
            clusters.append(group)
    return clusters


def proxy_hosts(groups):
    return list(groups.get(PROXY_GROUP) or ())


def local_enabled(hostvars, groups, cluster):
    """Whether the cluster's own nodes run HAProxy (`pg_haproxy_local`, default true)."""
    members = groups.get(cluster) or ()
    if not members:
        return True
    return parse_bool(host_var(hostvars, members[0], "pg_haproxy_local"), True) is not False


def default_clusters(hostvars, groups, host):
    """Clusters the HAProxy of `host` routes to unless `haproxy_clusters` says otherwise.

    A pg_proxy host: its `pg_proxy_clusters`, else every cluster. A PostgreSQL
    node: its own cluster, unless the cluster turned node-local HAProxy off.
    Anything else: none.
    """
    if host in proxy_hosts(groups):
        chosen = host_var(hostvars, host, "pg_proxy_clusters")
        if chosen is None:
            return cluster_groups(hostvars, groups)
        return [str(name) for name in chosen] if isinstance(chosen, (list, tuple)) else []
    own = host_var(hostvars, host, "pg_cluster")
    if own and host in (groups.get(str(own)) or ()) and local_enabled(hostvars, groups, str(own)):
        return [str(own)]
    return []


def served_clusters(hostvars, groups, host):
    """Clusters the HAProxy of `host` routes to: `haproxy_clusters` when the inventory sets it."""
    explicit = host_var(hostvars, host, "haproxy_clusters")
    if isinstance(explicit, (list, tuple)):
        return [str(name) for name in explicit]
    return default_clusters(hostvars, groups, host)


def haproxy_hosts(hostvars, groups, cluster=None):
    """Hosts that run HAProxy (for `cluster` only, when given), in inventory order."""
    seen = []
    for hosts in groups.values():
        for host in hosts:
            if host in seen:
                continue
            served = served_clusters(hostvars, groups, host)
            if served and (cluster is None or cluster in served):
                seen.append(host)
    return seen


def haproxy_instances(hostvars, groups, clusters):
    """(HAProxy host, cluster) pairs for the given clusters, one dict each, for status reports."""
    return [{"host": host, "cluster": cluster}
            for cluster in clusters for host in haproxy_hosts(hostvars, groups, cluster)]


def host_ports(hostvars, host, table):
    """{label: port} of the listeners in `table` for `host` (inventory value, else the default)."""
    out = {}
    for var, (default, label) in table.items():
        value = host_var(hostvars, host, var)
        out[label] = value if value is not None else default
    return out


def fallback_ports(hostvars, host):
    """Service ports `host` gives a cluster without pg_haproxy_ports (its haproxy_*_port)."""
    out = {}
    for service, var in PORT_VARS.items():
        value = host_var(hostvars, host, var)
        out[service] = value if value is not None else DEFAULT_PORTS[service]
    return out


def cluster_ports(hostvars, groups, cluster, fallback):
    """{service: port} of every service of `cluster` (services.cluster_services).

    The built-in services take the cluster's `pg_haproxy_ports`, else
    `fallback`; `pg_default_services` and `pg_services` give their own. These
    variables are cluster-wide (the inventory check makes every host of the
    cluster agree), so the first host's value is the cluster's.
    """
    from ansible_collections.pgha.cloud.plugins.module_utils import services

    return {service["name"]: service["port"]
            for service in services.cluster_services(hostvars, groups, cluster, fallback)}


def router_ports(hostvars, groups, cluster):
    """{HAProxy host: {service: port}} for every HAProxy host that routes to `cluster`.

    They agree when the cluster sets pg_haproxy_ports; otherwise each host
    gives its own haproxy_*_port (or the defaults).
    """
    return {host: cluster_ports(hostvars, groups, cluster, fallback_ports(hostvars, host))
            for host in haproxy_hosts(hostvars, groups, cluster)}


def as_port(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def port_clashes(plan, other_ports):
    """[(port, [owner, ...])] for every port claimed twice on one HAProxy host.

    `plan` is what `haproxy_plan` returns (or any list of {name, services:
    [{name, port}]}); `other_ports` maps a label to a port the host also uses.
    HAProxy binds with SO_REUSEPORT, so two frontends on one port both start
    and the kernel spreads connections over them: a clash must be refused,
    not left to HAProxy.
    """
    owners = {}
    for cluster in plan:
        for service in cluster["services"]:
            owners.setdefault(as_port(service["port"]), []).append(
                f"{cluster['name']} {service['name']}")
    for label, port in other_ports.items():
        owners.setdefault(as_port(port), []).append(label)
    return [(port, names) for port, names in owners.items() if len(names) > 1]


def free_port_block(used, start=5443, step=10):
    """First `start + k * step` where the built-in services' offsets (0, 1, 3, 5) are all free."""
    offsets = [DEFAULT_PORTS[s] - DEFAULT_PORTS["primary"] for s in SERVICE_NAMES]
    base = start
    while any(base + offset in used for offset in offsets):
        base += step
    return {service: base + offset for service, offset in zip(SERVICE_NAMES, offsets)}


def client_sources(hostvars, groups, cluster, members):
    """Networks a cluster's HAProxy frontends accept connections from.

    The cluster's `pg_client_networks`, its members' addresses (applications on
    the nodes), the hosts of standby clusters fed by it (pg_upstream through
    HAProxy) and loopback, each parsed: a value that is not an address or a
    network with no host bits set is refused, never written into haproxy.cfg.
    """
    from ansible_collections.pgha.cloud.plugins.module_utils import standby

    members = list(members) + [host for host in standby.downstream_hosts(hostvars, groups, cluster)
                               if host not in members]
    first = (groups.get(cluster) or [None])[0]
    networks = host_var(hostvars, first, "pg_client_networks") or []
    if isinstance(networks, str):
        networks = [networks]
    out = ["127.0.0.1/32"]
    for value in networks:
        try:
            network = str(ipaddress.ip_network(str(value), strict=True))
        except ValueError:
            raise ValueError(f"cluster {cluster}: pg_client_networks entry {str(value)!r} is not a network "
                             "like 10.0.1.0/24 (no host bits set)") from None
        if network not in out:
            out.append(network)
    for host in members:
        value = str(host_var(hostvars, host, "node_address") or host)
        try:
            address = str(ipaddress.ip_network(value, strict=True))
        except ValueError:
            # A host name: HAProxy resolves it when it loads its configuration.
            if not HOST_NAME_RE.fullmatch(value):
                raise ValueError(f"cluster {cluster}: host {host}: {value!r} is not an address "
                                 "or a host name") from None
            address = value
        if address not in out:
            out.append(address)
    return out


def haproxy_plan(clusters, hostvars, groups, fallback, leaving_hosts=(), replica_max_lag=1048576,
                 pg_port=5432):
    """Everything haproxy.cfg.j2 writes for the clusters one HAProxy routes to.

    Per cluster: the check timings of its own pg_rto preset (a proxy host has
    no pg_rto of its own), the networks its frontends accept clients from, and
    its services (services.cluster_services), each with the servers its
    `selector` and `backup` pick among the members (`<pg_cluster>-<pg_seq>`
    at the member's address and the port of the service's `dest`, weighted
    by `pg_weight`), leaving out `leaving_hosts`.

    A server that an earlier service of the cluster already checks with the
    same request, both with the preset's server options (no `options` of
    their own), gets `track` (that backend and server) instead of a check of
    its own: the primary and default services both ask /primary, and every
    check is a TLS handshake with Patroni every second, or every 250 ms while
    the server is down. HAProxy marks the tracking server down with it and
    applies its own on-marked-down.
    """
    # Imported here: both build on this module's helpers.
    from ansible_collections.pgha.cloud.plugins.module_utils import pgbouncer, services

    plan = []
    for cluster in clusters:
        members = sorted(host for host in groups.get(cluster) or () if host not in leaving_hosts)
        first = (groups.get(cluster) or [None])[0]
        rto = host_var(hostvars, first, "pg_rto")
        entries, checked = [], {}
        for service in services.cluster_services(hostvars, groups, cluster, fallback, replica_max_lag):
            what = f"cluster {cluster}: service {service['name']}"
            chosen = services.select(service["selector"], hostvars, members, f"{what}: selector")
            backups = services.select(service["backup"], hostvars, members, f"{what}: backup")
            port = pgbouncer.server_port(hostvars, first, as_port(pg_port), service["dest"])
            servers = []
            for host in members:
                if host not in chosen and host not in backups:
                    continue
                address = host_var(hostvars, host, "node_address") or host
                weight = host_var(hostvars, host, "pg_weight")
                name = f"{host_var(hostvars, host, 'pg_cluster')}-{host_var(hostvars, host, 'pg_seq')}"
                same_check = (service["check"], name) if service.get("options") is None else None
                servers.append({"name": name, "address": str(address), "port": port,
                                "weight": 100 if weight is None else as_port(weight),
                                "backup": host in backups, "track": checked.get(same_check)})
                if same_check:
                    checked.setdefault(same_check, f"{cluster}-{service['name']}/{name}")
            entries.append(dict(service, servers=servers))
        plan.append({"name": cluster, "check": presets.rto_plan(rto)["haproxy"],
                     "sources": client_sources(hostvars, groups, cluster, members),
                     "services": entries})
    return plan
