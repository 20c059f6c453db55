# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers that turn inventory facts into cluster configuration."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import ipaddress
import re

from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (
    HEALTHY_REPLICA_STATES,
    REPLICA_ROLES,
    SYNC_ROLES,
)

# pg_tls: what clients may do without TLS. `require` refuses plaintext (hostssl
# rules only), `prefer` admits it too (host rules).
TLS_MODES = ("require", "prefer")


def node_addresses(hosts, hostvars):
    """Address of each host: its `node_address`, else the inventory name (Pigsty style)."""
    out = []
    for host in hosts:
        address = hostvars[host].get("node_address") if host in hostvars else None
        out.append(str(address) if address else str(host))
    return out


def hosts_with_address(hosts, hostvars, address):
    """The hosts of `hosts` whose address (see node_addresses) is `address`, in their order."""
    return [h for h, a in zip(hosts, node_addresses(hosts, hostvars)) if a == str(address)]


def api_urls(hosts, hostvars, port=8008):
    """Patroni REST URL of each host: its address and its `patroni_rest_port`, else `port`.

    Always https: the REST API serves with the node certificate (the pki role),
    so basic-auth passwords never cross the network in clear.
    """
    urls = []
    for host, address in zip(hosts, node_addresses(hosts, hostvars)):
        own_port = hostvars[host].get("patroni_rest_port") if host in hostvars else None
        host_part = f"[{address}]" if ":" in str(address) else address
        urls.append(f"https://{host_part}:{own_port or port}")
    return urls


def etcd_urls(hosts, hostvars, port=2379, first=None):
    """https client URL of each etcd host (sorted); that of the address `first` (the node's own) first."""
    urls = []
    for address in node_addresses(sorted(hosts), hostvars):
        host_part = f"[{address}]" if ":" in str(address) else address
        url = f"https://{host_part}:{port}"
        if first is not None and str(address) == str(first):
            urls.insert(0, url)
        else:
            urls.append(url)
    return urls


def inventory_clusters(hostvars, groups):
    """The clusters of the inventory: every pg_cluster a host of `groups['all']` sets, sorted."""
    names = set()
    for host in groups.get("all") or []:
        value = hostvars[host].get("pg_cluster") if host in hostvars else None
        if value:
            names.add(str(value))
    return sorted(names)


def cluster_request(hostvars, groups, requested=None):
    """Which cluster a day-2 playbook acts on: -e cluster=NAME, or the inventory's only one.

    Returns {"cluster": name or None, "members": [hosts], "error": message or None}.
    """
    known = inventory_clusters(hostvars, groups)
    listing = ", ".join(known) or "none: no host sets pg_cluster"
    if requested in (None, ""):
        if len(known) == 1:
            requested = known[0]
        else:
            return {"cluster": None, "members": [],
                    "error": f"set -e cluster=<name>: the inventory holds more than one cluster ({listing})"
                    if known else f"the inventory holds no cluster ({listing})"}
    name = str(requested)
    members = [h for h in groups.get(name) or [] if host_pg_cluster(hostvars, h) == name]
    if name not in known or not members:
        return {"cluster": None, "members": [],
                "error": f"cluster {name!r} is not a cluster of this inventory (clusters: {listing})"}
    return {"cluster": name, "members": members, "error": None}


def host_pg_cluster(hostvars, host):
    value = hostvars[host].get("pg_cluster") if host in hostvars else None
    return str(value) if value else None


def non_members(hosts, hostvars, members):
    """Hosts whose address no Patroni member of `members` (GET /cluster) has."""
    known = {str(m.get("host")) for m in members or []}
    return [h for h, a in zip(hosts, node_addresses(hosts, hostvars)) if a not in known]


def live_role_groups(hosts, hostvars, members):
    """Split `hosts` by the live roles in `members` (GET /cluster), matched on address.

    `primary` holds the running leader only, never more than one host;
    `replica` the running or streaming members that follow it; `members`
    maps every matched host to its member entry.
    """
    by_address = {str(m.get("host")): m for m in members or []}
    matched = {}
    for host, address in zip(hosts, node_addresses(hosts, hostvars)):
        if address in by_address:
            matched[host] = by_address[address]
    leaders = [h for h, m in matched.items() if m.get("role") in ("leader", "standby_leader")
               and m.get("state") == "running"]
    replicas = [h for h, m in matched.items() if h not in leaders
                and m.get("role") in REPLICA_ROLES and m.get("state") in HEALTHY_REPLICA_STATES]
    return {"primary": leaders[:1] if len(leaders) == 1 else [], "replica": replicas, "members": matched}


# Service names of the haproxy role's template (frontends and backends `<cluster>-<service>`).
HAPROXY_SERVICES = ("primary", "replica", "default", "offline")


def haproxy_routes(stats_csv, cluster):
    """Servers UP in each of `cluster`'s HAProxy backends, from the stats page's CSV (`/;csv`)."""
    routes = {}
    for line in (stats_csv or "").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < 18 or fields[0] not in {f"{cluster}-{s}" for s in HAPROXY_SERVICES}:
            continue
        service, server, status = fields[0][len(cluster) + 1:], fields[1], fields[17]
        if server in ("FRONTEND", "BACKEND"):
            routes.setdefault(service, [])
        elif status.startswith("UP"):
            routes.setdefault(service, []).append(server)
    return routes


def sync_candidates(members, leader, excluded=()):
    """Streaming replicas, other than `excluded`, that may become synchronous (no `nosync` tag)."""
    return [
        m.get("name") for m in members or []
        if m.get("name") != leader and m.get("name") not in excluded
        and m.get("state") == "streaming" and not (m.get("tags") or {}).get("nosync")
    ]


# Settings a standby must hold at least as high as its primary (PostgreSQL's
# hot standby parameter check), in the order messages name them.
STANDBY_FLOOR_SETTINGS = ("max_connections", "max_worker_processes", "max_wal_senders",
                          "max_prepared_transactions", "max_locks_per_transaction")


def restart_plan(members, leader):
    """The rolling restart of the members flagged pending_restart; the leader is never restarted in place.

    Returns {leader, pending, leader_pending, replicas}: `replicas` are the
    flagged members other than the leader, asynchronous ones first (while a
    synchronous standby restarts, commits wait for another), each group by
    name. A flagged leader is switched over first, then restarted as a replica.
    """
    flagged = [m for m in members or [] if m.get("pending_restart")]
    others = [m for m in flagged if m.get("name") != leader]
    return {
        "leader": leader,
        "pending": [m.get("name") for m in flagged],
        "leader_pending": any(m.get("name") == leader for m in flagged),
        "replicas": (sorted(m["name"] for m in others if m.get("role") not in SYNC_ROLES)
                     + sorted(m["name"] for m in others if m.get("role") in SYNC_ROLES)),
    }


def standby_floor_decreases(before, after):
    """[{name, before, after}] for each STANDBY_FLOOR_SETTINGS value that goes down.

    Patroni keeps the primary's higher value on a restarted replica, so such a
    change needs the leader restarted first; `before` holds the old values of
    the keys a PATCH changed (patroni_config's diff.before).
    """
    out = []
    for name in STANDBY_FLOOR_SETTINGS:
        if name in (before or {}) and name in (after or {}):
            old, new = as_int(before[name]), as_int(after[name])
            if old is not None and new is not None and new < old:
                out.append({"name": name, "before": old, "after": new})
    return out


# No spaces around the digits: the inventory check writes the value as given (pg_seq names the instance).
_INT_RE = re.compile(r"[+-]?[0-9]+")


def as_int(value):
    """Return value as an int, or None if it is not a whole number.

    Inventories give ints (YAML) or digit strings (INI, extra vars); bools are
    ints to Python but never what the user meant, and 1.5 is not a whole number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    return None


def etcd_initial_cluster(members, name, peer_url):
    """`ETCD_INITIAL_CLUSTER` of a joining member: the started members (`member list`) plus itself."""
    pairs = [
        f"{m['name']}={m['peerURLs'][0]}" for m in members or []
        if m.get("name") and m.get("peerURLs") and peer_url not in m["peerURLs"]
    ]
    return ",".join(pairs + [f"{name}={peer_url}"])


def hba_address(address):
    """One host in pg_hba's address field: an IP as a /32 or /128, a host name as it is.

    PostgreSQL matches a host name (no mask) by a reverse lookup of the client
    that is then confirmed forward; a mask after a name would be refused.
    """
    text = str(address)
    try:
        return str(ipaddress.ip_network(text))
    except ValueError:
        return text


# The pg_ident map that lets the postgres account log in as pgbouncer's auth_query role.
POOLER_IDENT_MAP = "pgha_pgbouncer"


def pg_ident_lines(pooler_user, os_user="postgres"):
    """pg_ident.conf lines: the postgres account may log in as `pooler_user` (none when it is empty)."""
    return [f"{POOLER_IDENT_MAP} {os_user} {pooler_user}"] if pooler_user else []


def hba_rules(member_addresses, client_networks, superuser, replication_user, proxy_addresses=None,
              rewind_user=None, tls="require", custom=None, pooler_user=None, standby_addresses=None):
    """pg_hba lines: cluster members, HAProxy tier hosts and client networks, scram-sha-256 only.

    The superuser logs in on the local socket only (peer); the rewind user only
    from members, over TLS (pg_rewind reads files through it), also when it is
    the replication user (Pigsty rewinds as the replicator). Replication
    connections always use TLS. Other roles log in from members (node-local
    HAProxy), proxies (HAProxy passes a client's connection on from its own
    address), loopback and the client networks: over TLS only when `tls` is
    `require`, in plaintext too when it is `prefer`. The replication user must
    also reach its own server locally: a demoted primary asks itself for its
    timeline before pg_rewind.

    `custom` are the inventory's own lines (hba.render, Pigsty's
    pg_hba_rules): after the rules for those three users, which they cannot
    loosen, and before the ones for everybody else, which they can narrow.

    `pooler_user` is pgbouncer's auth_query role: the postgres account logs in
    as it by peer on the socket (pg_ident map pgha_pgbouncer), never over the
    network.

    `standby_addresses` are the hosts of standby clusters that replicate from
    this one (pg_upstream): replication over TLS, like the members.
    """
    if tls not in TLS_MODES:
        raise ValueError(f"pg_tls {tls!r} is not one of require, prefer")
    if rewind_user == superuser:
        raise ValueError(f"the rewind user {rewind_user!r} is the superuser, who never logs in over the "
                         "network")
    clients = "hostssl" if tls == "require" else "host"
    member_addresses = [hba_address(a) for a in member_addresses]
    proxy_addresses = [hba_address(a) for a in proxy_addresses or []]
    rules = [
        f"local all {superuser} peer",
        f"local replication {replication_user} scram-sha-256",
    ]
    # Before the rejects below: the rewind user may be the replication user
    # (Pigsty's setup), which otherwise reaches no database but replication.
    if rewind_user:
        rules.extend(f"hostssl all {rewind_user} {address} scram-sha-256" for address in member_addresses)
    rules.extend([
        # Never over the network: a rule further down must not admit them.
        f"host all {superuser} all reject",
        f"host all {replication_user} all reject",
        f"hostssl replication {replication_user} 127.0.0.1/32 scram-sha-256",
    ])
    if pooler_user:
        rules[1:1] = [f"local all {pooler_user} peer map={POOLER_IDENT_MAP}"]
        rules.append(f"host all {pooler_user} all reject")
    for address in [hba_address(a) for a in standby_addresses or []]:
        rules.append(f"hostssl replication {replication_user} {address} scram-sha-256")
    for address in member_addresses:
        rules.append(f"hostssl replication {replication_user} {address} scram-sha-256")
    if rewind_user:
        rules.append(f"host all {rewind_user} all reject")
    rules.extend(custom or [])
    rules.append("local all all scram-sha-256")
    rules.append(f"{clients} all all 127.0.0.1/32 scram-sha-256")
    for address in member_addresses + proxy_addresses:
        rules.append(f"{clients} all all {address} scram-sha-256")
    for network in client_networks or []:
        rules.append(f"{clients} all all {network} scram-sha-256")
    seen = set()
    return [r for r in rules if not (r in seen or seen.add(r))]


def member_line(member):
    """One member as a `patronictl list` style line."""
    lag = member.get("lag")
    return "{:<14} {:<16} {:<13} {:<10} TL {:<3} lag {}".format(
        member.get("name", "?"), str(member.get("host", "?")), member.get("role", "?"),
        member.get("state", "?"), member.get("timeline", "?"), "-" if lag is None else lag)


def etcd_user(cluster_name):
    """Name of the etcd user (and role) whose permissions cover one cluster's keys only."""
    return f"pgha-{cluster_name}"


def etcd_password(root_password, cluster_name):
    """That user's password, derived from etcd's root password (HMAC-SHA256).

    One secret in the inventory gives every cluster its own: a cluster's
    password, read from its nodes, reveals neither root's nor another's.
    """
    if not root_password:
        raise ValueError("etcd_root_password is not set")
    label = f"pgha.cloud etcd user {cluster_name}".encode()
    return hmac.new(str(root_password).encode(), label, hashlib.sha256).hexdigest()
