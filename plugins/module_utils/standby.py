# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Standby clusters with Pigsty's names: `pg_upstream` on a cluster's primary, `pg_delay` for a delayed one.

A cluster whose primary host sets `pg_upstream` is bootstrapped as a Patroni
standby cluster: its leader (the standby leader) streams from the upstream
address, its other members from the standby leader, and nothing in it is
writable until `playbooks/promote.yml` removes `standby_cluster` from its
dynamic configuration. `pg_upstream` names an address of the upstream
cluster: its VIP, or a member with `pg_upstream_port` (ours) set to its
node-local HAProxy's default service, follow the upstream's leader; a
member's PostgreSQL port keeps streaming from that member, whatever its role.

When the upstream is a cluster of the same inventory, its pg_hba admits the
standby cluster's hosts for replication and its firewall admits them on
PostgreSQL's port (downstream_hosts), and the preflight makes both clusters
agree on the logins Patroni uses across them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.pgha.cloud.plugins.module_utils import haproxy
from ansible_collections.pgha.cloud.plugins.module_utils.cluster import as_int, node_addresses

DEFAULT_PORT = 5432
# PostgreSQL's recovery_min_apply_delay: a whole number with a time unit (or 0).
DELAY_RE = re.compile(r"(0|[1-9][0-9]{0,8}(ms|s|min|h|d))")
# Logins Patroni uses across the two clusters: the standby leader replicates as
# the upstream's replication role, and the standby cluster's members rewind as
# its rewind role (the standby cluster's roles are the upstream's copies).
SHARED_LOGINS = (("pg_replication_username", "replicator"), ("pg_replication_password", None),
                 ("patroni_rewind_username", "rewind"), ("pg_rewind_password", None))


def _var(hostvars, host, name):
    return haproxy.host_var(hostvars, host, name)


def primary_host(hostvars, groups, cluster):
    """The host of `cluster` with pg_role: primary (the first one), or None."""
    for host in groups.get(cluster) or ():
        if str(_var(hostvars, host, "pg_role") or "") == "primary":
            return host
    return None


def upstream(hostvars, groups, cluster):
    """(address, port) the cluster's standby leader streams from, or None for an ordinary cluster."""
    host = primary_host(hostvars, groups, cluster)
    address = _var(hostvars, host, "pg_upstream") if host else None
    if address in (None, ""):
        return None
    port = _var(hostvars, host, "pg_upstream_port")
    return str(address), as_int(port) if port is not None else DEFAULT_PORT


def standby_config(hostvars, groups, cluster):
    """Patroni's `standby_cluster` section for the cluster's bootstrap, or None.

    The standby leader is made with pg_basebackup from the upstream (the
    standby cluster has no backups of its own yet); `pg_delay` becomes
    recovery_min_apply_delay, which Patroni applies on the standby leader.
    """
    found = upstream(hostvars, groups, cluster)
    if found is None:
        return None
    address, port = found
    config = {"host": address, "port": port, "create_replica_methods": ["basebackup"]}
    delay = _var(hostvars, primary_host(hostvars, groups, cluster), "pg_delay")
    if delay not in (None, "", 0, "0"):
        config["recovery_min_apply_delay"] = str(delay)
    return config


def cluster_addresses(hostvars, groups, cluster):
    """Addresses a standby cluster may replicate from `cluster` through: its members' (PostgreSQL, or
    their node-local HAProxy) and its VIP. A pg_proxy host is none: the upstream sees the proxy's
    address, which its pg_hba does not admit for replication."""
    from ansible_collections.pgha.cloud.plugins.module_utils import vip

    hosts = list(groups.get(cluster) or ())
    addresses = node_addresses(hosts, hostvars) + hosts
    first = (groups.get(cluster) or [None])[0]
    value = _var(hostvars, first, "pg_vip_address")
    if value:
        try:
            addresses.append(str(vip.parse_vip(value).ip))
        except ValueError:
            pass  # the VIP checks report it
    return addresses


def upstream_cluster(hostvars, groups, clusters, cluster):
    """The cluster of this inventory that `cluster`'s pg_upstream reaches, or None (an outside server)."""
    found = upstream(hostvars, groups, cluster)
    if found is None:
        return None
    for other in clusters:
        if other != cluster and found[0] in cluster_addresses(hostvars, groups, other):
            return other
    return None


def downstream_hosts(hostvars, groups, cluster):
    """Hosts of the standby clusters whose upstream is `cluster`, in inventory order."""
    clusters = haproxy.cluster_groups(hostvars, groups)
    out = []
    for other in clusters:
        if other != cluster and upstream_cluster(hostvars, groups, clusters, other) == cluster:
            out.extend(host for host in groups.get(other) or () if host not in out)
    return out


def address_problem(value):
    """Why `value` is not an address or a host name pg_upstream may take, or None."""
    text = str(value)
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    if haproxy.HOST_NAME_RE.fullmatch(text):
        return None
    return f"pg_upstream {value!r} is not an address or a host name"


def delay_problem(value):
    """Why `value` is not a delay PostgreSQL's recovery_min_apply_delay takes, or None."""
    if isinstance(value, bool) or not DELAY_RE.fullmatch(str(value)):
        return (f"pg_delay {value!r} is not a delay like 1h, 30min, 1d or 0 (a whole number with ms, s, "
                "min, h or d)")
    return None
