# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which sources may reach each port this collection opens on a host (the firewall role's input).

One function, `firewall_rules(hostvars, groups, host, ...)`, turns the
inventory into a list of rules, one per port (or protocol) the host serves:

    {"proto": "tcp", "port": 5432, "match": "tcp dport 5432", "comment": "...",
     "ip": ["10.0.1.11", "10.0.1.0/24"], "ip6": ["fd00::/64"]}

(`match` is the nft expression of the port: `tcp dport 5432`, or
`meta l4proto 112` for VRRP.)

The firewall accepts those sources on that port and drops every other one;
traffic to any other port is left to the host's own rules. Which port is open
to whom follows the "Ports" table of docs/security.md:

- patroni_pg_port (5432) on members: the members, the HAProxy hosts routing to
  the cluster, its pg_client_networks, the hosts of standby clusters whose
  pg_upstream it is;
- pgbouncer_port (6432) on members of a cluster with pgbouncer_enabled: the
  same sources as PostgreSQL;
- patroni_rest_port (8008) on members: the members, those HAProxy hosts, the
  admin networks (and pg_client_networks when an NLB checks the members);
- VRRP (IP protocol 112) on members of a cluster with the vip entry point: the members;
- etcd_client_port (2379) on etcd members: etcd members, the members of every
  cluster (Patroni), the admin networks;
- etcd_peer_port (2380) on etcd members: etcd members;
- HAProxy service ports on HAProxy hosts: what HAProxy itself admits
  (haproxy.client_sources: the cluster's pg_client_networks and members);
- haproxy_stats_port (9101): the admin networks;
- haproxy_health_port (9102): the admin networks and the pg_client_networks of
  the clusters served (an NLB in front checks from there);
- pgBackRest's TLS server (8432) on members of a cluster with a repository
  host: that host; on the repository host (the entry's host_port, else 8432):
  the members of the clusters it keeps.

Loopback is not listed: the ruleset accepts everything that arrives on `lo`.
SSH is never restricted. Every address and network is parsed with
`ipaddress` here; anything else raises ValueError naming the variable and the
fix, so nothing unparsed reaches the nft file. Host names are refused: nft
matches addresses, and resolving names on the controller would pin whatever
the controller's resolver said at deploy time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.pgha.cloud.plugins.module_utils import cluster as cluster_utils
from ansible_collections.pgha.cloud.plugins.module_utils import (
    haproxy,
    pgbackrest,
    pgbackrest_hosts,
    pgbouncer,
    standby,
)

VRRP = "vrrp"
PROTOCOLS = ("tcp", "udp", VRRP)
# VRRP's IP protocol number (keepalived's adverts), written as a number in the
# ruleset so it does not depend on /etc/protocols.
VRRP_PROTOCOL_NUMBER = 112
# A comment written into the nft file: our own labels and validated cluster
# names only, never a line break or a quote.
_COMMENT_RE = re.compile(r"[A-Za-z0-9 _.,;:()/+-]*")


# ---------------------------------------------------------------- parsing

def parse_network(value, where):
    """`value` as an ip_network: an address (a /32 or /128) or a network with no host bits set.

    `where` names the variable in the error, e.g. "firewall_admin_networks entry".
    """
    # Strings only: ip_network(10) would quietly be 0.0.0.10/32. A zone index
    # (fe80::1%eth0) has no meaning in a ruleset.
    text = value.strip() if isinstance(value, str) else None
    if not text or "%" in text:
        raise ValueError(f"{where} {value!r} is not an address or a network; write an address "
                         "(10.0.0.5, fd00::5) or a network with no host bits set (10.0.0.0/24, fd00::/64)")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ValueError(f"{where} {value!r} is not an address or a network with no host bits set; write "
                         "e.g. 10.0.0.5, 10.0.0.0/24 or fd00::/64 (10.0.0.5/24 has host bits: use "
                         "10.0.0.0/24)") from None


def host_address(hostvars, host):
    """The address of `host` (its node_address, else its inventory name) as an ip_network /32 or /128."""
    value = cluster_utils.node_addresses([host], hostvars)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"host {host}: node_address {value!r} is not an IP address; the firewall matches "
                         "addresses, not names: set node_address to the address the other hosts reach "
                         "this one at (e.g. node_address: 10.0.0.11)") from None
    return ipaddress.ip_network(address)


def _networks(values, where):
    """A list variable (None, one string or a list) parsed entry by entry."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{where} must be a list of addresses or networks, not {type(values).__name__}")
    return [parse_network(value, f"{where} entry") for value in values]


def _port(value, where):
    if isinstance(value, bool):
        value = None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or not 1 <= number <= 65535:
        raise ValueError(f"{where} {value!r} is not a port number from 1 to 65535")
    return number


def admin_networks(networks, ssh_client=None):
    """The operators' and controller's networks: `networks`, else the controller as SSH sees it.

    `ssh_client` is the node's SSH_CLIENT ("10.0.0.5 52344 22"): its first
    field is the address the controller's SSH session comes from. Behind a
    bastion or NAT that is not where the controller's HTTP requests come
    from; set firewall_admin_networks there.
    """
    parsed = _networks(networks, "firewall_admin_networks")
    if parsed:
        return parsed
    fields = str(ssh_client or "").split()
    if not fields:
        raise ValueError("firewall_admin_networks is empty and the controller's address is unknown (no "
                         "SSH_CLIENT on the host: not an SSH connection); set firewall_admin_networks to the "
                         "controller's and the operators' addresses or networks, e.g. [10.0.0.5/32]")
    return [parse_network(fields[0], "the controller's address from SSH_CLIENT")]


# ---------------------------------------------------------------- who is who

def _addresses(hostvars, hosts):
    return [host_address(hostvars, host) for host in hosts]


def _cluster_of(hostvars, groups, host):
    """The PostgreSQL cluster `host` is a member of (its pg_cluster group holds it), or None."""
    name = haproxy.host_var(hostvars, host, "pg_cluster")
    if name and host in (groups.get(str(name)) or ()):
        return str(name)
    return None


def _all_members(hostvars, groups):
    """Every PostgreSQL member of every cluster, in inventory order (Patroni's etcd clients)."""
    out = []
    for name in haproxy.cluster_groups(hostvars, groups):
        out.extend(host for host in groups.get(name) or () if host not in out)
    return out


def _cluster_name(name):
    if not _COMMENT_RE.fullmatch(name):
        raise ValueError(f"cluster name {name!r} has characters the firewall cannot write into a comment; "
                         "use lower-case letters, digits and '-'")
    return name


# ---------------------------------------------------------------- the rules

class _Rules:
    """Rules keyed by (proto, port): a port listed twice gets the union of its sources."""

    def __init__(self):
        self.by_key = {}

    def add(self, proto, port, comment, sources):
        rule = self.by_key.setdefault((proto, port), {"proto": proto, "port": port, "comments": [],
                                                      "sources": []})
        if comment not in rule["comments"]:
            rule["comments"].append(comment)
        rule["sources"].extend(sources)

    def result(self):
        out = []
        order = {proto: index for index, proto in enumerate(PROTOCOLS)}
        for (proto, port), rule in sorted(self.by_key.items(),
                                          key=lambda item: (order[item[0][0]], item[0][1] or 0)):
            v4 = _outermost(n for n in rule["sources"] if n.version == 4)
            v6 = _outermost(n for n in rule["sources"] if n.version == 6)
            comment = "; ".join(rule["comments"])
            if not _COMMENT_RE.fullmatch(comment):  # our own labels: a bug if it fires
                raise ValueError(f"firewall comment {comment!r} has characters nft comments must not hold")
            match = f"meta l4proto {VRRP_PROTOCOL_NUMBER}" if proto == VRRP else f"{proto} dport {port}"
            out.append({"proto": proto, "port": port, "match": match, "comment": comment,
                        "ip": [_show(n) for n in v4], "ip6": [_show(n) for n in v6]})
        return out


def _outermost(networks):
    """The networks not inside another one of the list, sorted, loopback left out.

    nft refuses overlapping elements in one set. Neighbours are not merged (as
    collapse_addresses would): each member's address stays readable in the
    ruleset. Loopback traffic arrives on `lo`, which the ruleset accepts first.
    """
    kept = []
    for network in sorted(set(networks), key=lambda n: (n.prefixlen, n.network_address)):
        if network.is_loopback or any(network.subnet_of(outer) for outer in kept):
            continue
        kept.append(network)
    return sorted(kept, key=lambda n: (n.network_address, n.prefixlen))


def _show(network):
    """10.0.0.5 for a single address, 10.0.0.0/24 for a network."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _postgres_rules(rules, hostvars, groups, host, name, admin):
    """PostgreSQL, Patroni's REST API and VRRP on a member of cluster `name`."""
    members = list(groups.get(name) or ())
    member_addresses = _addresses(hostvars, members)
    proxies = _addresses(hostvars, haproxy.haproxy_hosts(hostvars, groups, name))
    # pg_hba's client networks: the host's patroni_client_networks when the
    # inventory sets it (the patroni role's override), else pg_client_networks.
    var = "patroni_client_networks"
    clients = haproxy.host_var(hostvars, host, var)
    if clients is None:
        var = "pg_client_networks"
        clients = haproxy.host_var(hostvars, host, var)
    clients = _networks(clients, f"host {host}: {var}")
    ports = haproxy.host_ports(hostvars, host, haproxy.POSTGRES_NODE_PORTS)
    label = _cluster_name(name)
    # Standby clusters fed by this one (pg_upstream) replicate from here.
    downstream = _addresses(hostvars, standby.downstream_hosts(hostvars, groups, name))

    pg_label = "PostgreSQL (patroni_pg_port)"
    rules.add("tcp", _port(ports[pg_label], f"host {host}: patroni_pg_port"), f"{pg_label} of {label}",
              member_addresses + proxies + clients + downstream)
    if pgbouncer.enabled(hostvars, host):
        # The same sources as PostgreSQL: pgbouncer admits what pg_hba admits.
        rules.add("tcp", _port(pgbouncer.port(hostvars, host), f"host {host}: pgbouncer_port"),
                  f"pgbouncer (pgbouncer_port) of {label}", member_addresses + proxies + clients)

    rest_label = "the Patroni REST API (patroni_rest_port)"
    rest_sources = member_addresses + proxies + admin
    # An NLB whose targets are the members health-checks this port from its
    # own addresses, which the inventory lists in pg_client_networks.
    entrypoints = haproxy.host_var(hostvars, host, "pg_entrypoints")
    if not isinstance(entrypoints, (list, tuple)):
        entrypoints = ()
    nlb_targets = haproxy.host_var(hostvars, host, "pg_nlb_targets") or "members"
    if "nlb" in entrypoints and nlb_targets != "haproxy":
        rest_sources += clients
    rules.add("tcp", _port(ports[rest_label], f"host {host}: patroni_rest_port"),
              f"Patroni REST API (patroni_rest_port) of {label}", rest_sources)

    if "vip" in entrypoints:
        # keepalived's unicast adverts from the other members (check_unicast_src).
        rules.add(VRRP, None, f"VRRP (keepalived) of {label}", member_addresses)


def _repo_port(hostvars, groups, cluster):
    """The TLS port of cluster `cluster`'s repository host (the entry's host_port, else pgBackRest's 8432)."""
    first = (groups.get(cluster) or [None])[0]
    method = haproxy.host_var(hostvars, first, "pgbackrest_method")
    entry = pgbackrest.chosen_entry(method, haproxy.host_var(hostvars, first, "pgbackrest_repo"))
    port = entry.get("host_port")
    return _port(port or pgbackrest.TLS_SERVER_PORT, f"cluster {cluster}: pgbackrest_repo.{method}.host_port")


def _pgbackrest_rules(rules, hostvars, groups, host, name):
    """pgBackRest's TLS server: on a member, for its cluster's repository host; on a repository host, for
    the members of the clusters it keeps (a host whose repository entry is wrong is left to the preflight)."""
    if name:
        try:
            repository = pgbackrest_hosts.repository_host(hostvars, groups, name)
        except pgbackrest.PgbackrestError:
            repository = None
        if repository:
            rules.add("tcp", pgbackrest.TLS_SERVER_PORT,
                      f"pgBackRest TLS server of {_cluster_name(name)} (its repository host)",
                      _addresses(hostvars, [repository]))
    for kept in pgbackrest_hosts.repository_clusters(hostvars, groups, host):
        members = list(groups.get(kept) or ())
        rules.add("tcp", _repo_port(hostvars, groups, kept),
                  f"pgBackRest repository of {_cluster_name(kept)}", _addresses(hostvars, members))


def _etcd_rules(rules, hostvars, groups, host, admin):
    etcd_members = _addresses(hostvars, groups.get(haproxy.ETCD_GROUP) or ())
    patroni = _addresses(hostvars, _all_members(hostvars, groups))
    ports = haproxy.host_ports(hostvars, host, haproxy.ETCD_MEMBER_PORTS)
    client_label = "etcd clients (etcd_client_port)"
    peer_label = "etcd peers (etcd_peer_port)"
    rules.add("tcp", _port(ports[client_label], f"host {host}: etcd_client_port"), client_label,
              etcd_members + patroni + admin)
    rules.add("tcp", _port(ports[peer_label], f"host {host}: etcd_peer_port"), peer_label, etcd_members)


def _haproxy_rules(rules, hostvars, groups, host, served, admin):
    fallback = haproxy.fallback_ports(hostvars, host)
    health_sources = list(admin)
    for name in served:
        members = list(groups.get(name) or ())
        _addresses(hostvars, members)  # a host name fails here, with the variable to fix
        # What HAProxy's own `tcp-request connection reject` admits, from the
        # same function haproxy.cfg is written with: the two cannot disagree.
        sources = [parse_network(value, f"cluster {name}: pg_client_networks entry")
                   for value in haproxy.client_sources(hostvars, groups, name, members)]
        health_sources += sources
        ports = haproxy.cluster_ports(hostvars, groups, name, fallback)
        for service, value in ports.items():
            where = (f"pg_haproxy_ports {service} (or the {haproxy.PORT_VARS[service]} of host {host})"
                     if service in haproxy.PORT_VARS
                     else f"pg_services or pg_default_services {service} port")
            port = _port(value, f"cluster {name}: {where}")
            rules.add("tcp", port, f"HAProxy {service} service of {_cluster_name(name)}", sources)
    ports = haproxy.host_ports(hostvars, host, haproxy.HAPROXY_PORTS)
    stats_label = "the stats page (haproxy_stats_port)"
    health_label = "the health endpoint (haproxy_health_port)"
    rules.add("tcp", _port(ports[stats_label], f"host {host}: haproxy_stats_port"),
              "HAProxy stats page (haproxy_stats_port)", admin)
    # An NLB in front checks here from its own addresses (in pg_client_networks).
    rules.add("tcp", _port(ports[health_label], f"host {host}: haproxy_health_port"),
              "HAProxy health endpoint (haproxy_health_port)", health_sources)


def _allow_rules(rules, allow):
    """`firewall_allow`: [{port, proto (tcp), sources}] opened to those sources only."""
    if allow is None:
        return
    if not isinstance(allow, (list, tuple)):
        raise ValueError("firewall_allow must be a list of {port, proto, sources}")
    for index, entry in enumerate(allow):
        where = f"firewall_allow[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a dictionary {{port, proto, sources}}")
        proto = str(entry.get("proto") or "tcp")
        if proto not in ("tcp", "udp"):
            raise ValueError(f"{where}.proto {proto!r} is not tcp or udp")
        port = _port(entry.get("port"), f"{where}.port")
        sources = entry.get("sources")
        if not sources:
            raise ValueError(f"{where}.sources is empty; list the addresses or networks that may reach "
                             f"{proto} port {port}")
        rules.add(proto, port, "firewall_allow", _networks(sources, f"{where}.sources"))


def firewall_rules(hostvars, groups, host, admin=(), ssh_client=None, allow=None, ssh_ports=(22,)):
    """The rules of `host`'s firewall, one per (proto, port), sorted; see the module docstring.

    `admin` is firewall_admin_networks (empty: the controller's address from
    `ssh_client`, needed only when the host serves Patroni, etcd or HAProxy),
    `allow` is firewall_allow, `ssh_ports` the ports SSH listens on: no rule
    may restrict them, so a port of ours equal to one is an error.
    """
    rules = _Rules()
    name = _cluster_of(hostvars, groups, host)
    in_etcd = host in (groups.get(haproxy.ETCD_GROUP) or ())
    served = haproxy.served_clusters(hostvars, groups, host)
    admin_sources = []
    if name or in_etcd or served:
        admin_sources = admin_networks(admin, ssh_client)
    if name:
        _postgres_rules(rules, hostvars, groups, host, name, admin_sources)
    if in_etcd:
        _etcd_rules(rules, hostvars, groups, host, admin_sources)
    if served:
        _haproxy_rules(rules, hostvars, groups, host, served, admin_sources)
    _pgbackrest_rules(rules, hostvars, groups, host, name)
    _allow_rules(rules, allow)

    out = rules.result()
    ssh = {_port(port, "the SSH port (ansible_port)") for port in ssh_ports or ()}
    for rule in out:
        if rule["proto"] == "tcp" and rule["port"] in ssh:
            raise ValueError(f"host {host}: tcp port {rule['port']} is SSH (ansible_port) and also "
                             f"{rule['comment']}; the firewall never restricts SSH: give the service "
                             "another port")
    return out
