# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which host of the inventory keeps a cluster's backups, when a repository host does.

A cluster's repository entry (`pgbackrest_repo[pgbackrest_method]`) with a
`host` key names a repository host: an inventory host, by its inventory name
or its address (`node_address`, else the inventory name), that is not a
PostgreSQL member. The collection deploys pgBackRest's TLS server there, and
the preflight, the firewall and the pgbackrest role all ask this file who it
is, so the answer is the same everywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgha.cloud.plugins.module_utils import cluster as cluster_utils
from ansible_collections.pgha.cloud.plugins.module_utils import haproxy, pgbackrest

_members = haproxy.cluster_members


def _entry_host(hostvars, host):
    """The chosen repository entry's `host` as this member sees it; None without one or with backups off."""
    if haproxy.parse_bool(haproxy.host_var(hostvars, host, "pgbackrest_enabled"), True) is not True:
        return None
    method = haproxy.host_var(hostvars, host, "pgbackrest_method")
    repos = haproxy.host_var(hostvars, host, "pgbackrest_repo")
    if method is None or not isinstance(repos, dict):
        return None
    value = pgbackrest.repo_host(method, repos)
    return None if value is None else str(value)


def resolve(hostvars, groups, value):
    """The inventory host `value` names (its inventory name or its address), or a message saying why none.

    Returns (host, None) or (None, message).
    """
    hosts = list(groups.get("all") or ())
    if value in hosts:
        found = [value]
    else:
        found = cluster_utils.hosts_with_address(hosts, hostvars, value)
    if len(found) != 1:
        shown = "no host" if not found else f"{len(found)} hosts ({', '.join(found)})"
        return None, (f"the repository host {value!r} matches {shown} of the inventory; add the host that "
                      "keeps the backups to the inventory (a group of its own, such as pgbackrest_repo) "
                      "and give its inventory name or address")
    host = found[0]
    if haproxy.host_var(hostvars, host, "pg_cluster"):
        return None, (f"the repository host {value!r} is {host}, a PostgreSQL member; keep the repository "
                      "on a host that runs no PostgreSQL of the inventory")
    return host, None


def repository_host(hostvars, groups, cluster):
    """The inventory name of cluster `cluster`'s repository host, or None when it backs up without one.

    Raises pgbackrest.PgbackrestError when the entry's `host` names no single
    host of the inventory, or names a PostgreSQL member.
    """
    members = _members(hostvars, groups, cluster)
    value = _entry_host(hostvars, members[0]) if members else None
    if value is None:
        return None
    host, problem = resolve(hostvars, groups, value)
    if problem:
        raise pgbackrest.PgbackrestError(f"cluster {cluster}: pgbackrest_repo: {problem}")
    return host


def repository_clusters(hostvars, groups, host):
    """The clusters whose repository host is `host`, sorted (those naming none or another left out)."""
    out = []
    for name in cluster_utils.inventory_clusters(hostvars, groups):
        try:
            if repository_host(hostvars, groups, name) == host:
                out.append(name)
        except pgbackrest.PgbackrestError:
            continue
    return out


def repository_input(hostvars, groups, host, fact="pgbackrest_member"):
    """`repository_sections`' `clusters` for repository host `host`: each cluster it serves, with its members.

    A member's data directory, port and pgBackRest release come from the
    fact `fact` the pgbackrest role sets on it ({pg_data, pg_port, version});
    a member without it (not deployed in this run) raises PgbackrestError.
    """
    out = []
    missing = []
    for name in repository_clusters(hostvars, groups, host):
        members = _members(hostvars, groups, name)
        first = members[0]
        standby = haproxy.host_var(hostvars, first, "pgbackrest_backup_standby")
        listed = []
        for member, address in zip(members, cluster_utils.node_addresses(members, hostvars)):
            facts = hostvars[member].get(fact)
            if not isinstance(facts, dict):
                missing.append(member)
                continue
            listed.append({"name": member, "address": address, "pg_data": facts.get("pg_data"),
                           "pg_port": facts.get("pg_port"), "version": facts.get("version")})
        out.append({"stanza": name, "method": haproxy.host_var(hostvars, first, "pgbackrest_method"),
                    "repos": haproxy.host_var(hostvars, first, "pgbackrest_repo"),
                    "backup_standby": False if standby is None else standby, "members": listed})
    if missing:
        raise pgbackrest.PgbackrestError(
            f"the pgbackrest role has not run on {', '.join(missing)} in this run, so repository host {host} "
            "does not know their data directories; run the playbook on the clusters' members too "
            "(no --limit that leaves them out)")
    return out


def repository_schedules(hostvars, groups, host, default=()):
    """The backup timers repository host `host` runs: {stanza, type, on_calendar} per cluster it keeps and
    per item of that cluster's pgbackrest_schedule (`default`, the role's, when its members set none)."""
    out = []
    for name in repository_clusters(hostvars, groups, host):
        schedule = haproxy.host_var(hostvars, _members(hostvars, groups, name)[0], "pgbackrest_schedule")
        for item in default if schedule is None else schedule:
            out.append({"stanza": name, "type": item["type"], "on_calendar": item["on_calendar"]})
    return out
