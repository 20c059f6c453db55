# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory validation: bad input gets a clear error before any host is changed.

`inventory_errors(hostvars, groups)` returns one human-readable message per
problem, in inventory order; an empty list means the inventory is usable.
`identity_errors(hostvars, groups)` runs only the rules on who each host is
(cluster name and membership, pg_seq, pg_role, etcd_seq values): the rules an
inventory plugin can apply to what it builds, before group_vars and secrets
are known.
Every message names where the problem is (cluster/group and host), the
variable, and how to fix it. Password values are never put in a message.
A string the roles write into a configuration file (pg_hba, patroni.yml,
haproxy.cfg, keepalived.conf, the etcd environment) must match its pattern in
full: names, addresses and networks with no spaces, '#', quotes or line breaks.
Passwords are only checked for being set, never for their characters.

Pigsty convention: a PostgreSQL cluster is an Ansible group whose name equals
the `pg_cluster` value of its hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.pgha.cloud.plugins.module_utils import cluster as cluster_utils
from ansible_collections.pgha.cloud.plugins.module_utils import (
    entrypoints,
    haproxy,
    hba,
    patroni_core,
    pg_conf,
    pg_objects,
    pg_settings,
    pgbackrest,
    pgbackrest_hosts,
    pgbouncer,
    pigsty,
    presets,
    services,
    standby,
    vip,
)
from ansible_collections.pgha.cloud.plugins.module_utils.cluster import as_int

# Every pattern here is used with fullmatch: `$` would also match before a
# trailing newline, and a newline in a value breaks the file it is written into.
CLUSTER_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
CLUSTER_NAME_HINT = ("use lower-case letters, digits and '-', starting with a letter or digit "
                     "(e.g. pg-test), for both the group name and pg_cluster")
# PostgreSQL role and database names from the inventory: unquoted identifiers only.
PG_NAME_RE = pg_objects.NAME_RE
PG_NAME_HINT = ("use 1 to 63 of a-z, 0-9 and _, starting with a letter or _ "
                "(quoted names are not supported)")
# PostgreSQL roles the roles create, named by the inventory (role defaults apply when unset).
PG_USERNAME_VARS = (
    "patroni_superuser_username",
    "patroni_replication_username",
    "patroni_rewind_username",
    "patroni_admin_username",
    "patroni_monitor_username",
    "pg_replication_username",
    "pg_monitor_username",
    "pgbouncer_auth_username",
)
# Pigsty's name -> ours, where the roles take Pigsty's as the default of ours.
PIGSTY_ALIASES = (("pg_replication_username", "patroni_replication_username"),
                  ("pg_monitor_username", "patroni_monitor_username"),
                  ("pg_parameters", "patroni_postgresql_parameters"),
                  ("pg_libs", "patroni_libs"),
                  ("pg_default_roles", "patroni_default_roles"),
                  ("pg_default_privileges", "patroni_default_privileges"),
                  # Taken by playbooks/pigsty_names.yml before the check runs.
                  ("patroni_username", "patroni_rest_username"),
                  ("patroni_password", "patroni_rest_password"),
                  ("patroni_port", "patroni_rest_port"),
                  ("pg_dbsu_password", "pg_superuser_password"))
# A PostgreSQL setting's name (extensions' settings have a dot), and the longest value taken.
PARAMETER_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?")
MAX_PARAMETER_VALUE = 1024
# Users of Patroni's REST API and of the HAProxy stats page (HTTP basic authentication: no ':').
HTTP_USERNAME_VARS = ("patroni_rest_username", "haproxy_admin_username")
HTTP_USERNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
# pg_version: a PostgreSQL major version (10 and later are whole numbers).
PG_VERSION_RE = re.compile(r"[1-9][0-9]")
# pg_tls: the modes hba_rules knows; require is the default.
PG_TLS_MODES = cluster_utils.TLS_MODES
# A network of pg_client_networks as pg_hba takes it: address/prefix length.
CIDR_RE = re.compile(r"[0-9A-Fa-f:.]+/[0-9]{1,3}")
# A DNS host name (RFC 1123), as HAProxy's client rule takes it too.
HOST_NAME_RE = haproxy.HOST_NAME_RE
HOST_NAME_MAX = 253
# Pigsty's instance roles: an offline instance is a replica that the offline
# service (5438) prefers and the replica service uses only as a backup.
PG_ROLES = ("primary", "replica", "offline")
PG_ENTRYPOINTS = ("haproxy", "nlb", "route53", "vip")
# Entry points this version deploys; the others are refused rather than
# silently ignored, so nobody believes an NLB follows the primary when none does.
IMPLEMENTED_ENTRYPOINTS = ("haproxy", "nlb", "route53", "vip")
# What an NLB's target groups hold (the entrypoint_aws role's two layouts).
NLB_TARGETS = entrypoints.NLB_TARGETS
PASSWORD_VARS = (
    "pg_replication_password",
    "pg_admin_password",
    "patroni_rest_password",
    "etcd_root_password",
)
# Passwords that are optional, but must be usable when set. Without
# pg_superuser_password the superuser logs in by peer only (Pigsty's empty
# pg_dbsu_password); without pg_rewind_password pg_rewind connects as the
# replication user (Pigsty's way).
OPTIONAL_PASSWORD_VARS = ("pg_superuser_password", "pg_rewind_password", "pg_monitor_password",
                          "haproxy_admin_password")
# Patroni override variable -> key in an RTO preset.
TIMING_OVERRIDES = (
    ("patroni_ttl", "ttl"),
    ("patroni_loop_wait", "loop_wait"),
    ("patroni_retry_timeout", "retry_timeout"),
)
# One value per cluster: Patroni keeps these in the DCS, so hosts cannot differ.
CLUSTER_WIDE_VARS = ("pg_rto", "pg_rpo", "patroni_ttl", "patroni_loop_wait",
                     "patroni_retry_timeout", "pg_version", "pg_vip_address", "pg_vip_vrid",
                     "pg_haproxy_local", "pg_haproxy_ports", "pg_proxy_allow_single", "pg_nlb_targets",
                     "pg_services", "pg_default_services",
                     "pg_tls", "pg_parameters", "patroni_postgresql_parameters", "pg_libs",
                     "pg_conf", "pg_max_conn", "pg_shared_buffer_ratio", "pg_storage_type",
                     # HAProxy reads them from the cluster's first host.
                     "pgbouncer_enabled", "pgbouncer_port", "pg_default_service_dest",
                     "pgbouncer_auth_query", "pgbouncer_auth_username",
                     # Patroni's logins: the same on every member.
                     "patroni_replication_username", "pg_replication_username", "patroni_rewind_username",
                     # Every member's observer counts the same majority with the same rules.
                     "patroni_observer_enabled", "patroni_observer_margin", "patroni_observer_allow_async")
# Cluster variables of the vip entry point (pg_vip_interface may differ per host).
VIP_VARS = ("pg_vip_address", "pg_vip_vrid", "pg_vip_interface")
# A Debian package name, optionally pinned (apt's name=version).
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:-]+)?")
# Groups Ansible always defines; never a cluster.
BUILTIN_GROUPS = haproxy.BUILTIN_GROUPS
ETCD_GROUP = haproxy.ETCD_GROUP
# Names a cluster cannot take: its hosts would join the group of that name.
RESERVED_GROUPS = haproxy.RESERVED_GROUPS

# Backups. pgbackrest_enabled when unset: on, Pigsty's default; playbooks/pgsql.yml
# and the patroni role read the variable with the same default.
PGBACKREST_ENABLED_DEFAULT = True
# What Ansible's bool filter reads as true and false (any case, no spaces); it
# turns anything else into false with only a deprecation warning.
ANSIBLE_TRUE = ("true", "yes", "on", "1")
ANSIBLE_FALSE = ("false", "no", "off", "0")
# The pgbackrest role's variables the check reads. Their defaults are not
# repeated here: the caller passes them (the inventory_errors filter reads
# roles/pgbackrest/defaults/main.yml, the single source).
PGBACKREST_VARS = ("pgbackrest_method", "pgbackrest_repo", "pgbackrest_schedule", "pgbackrest_backup_standby")

# Tells a variable that is not set apart from one set to null or to an undefined reference.
_MISSING = object()
# A value, or part of one, that refers to an undefined variable (say a vault file not loaded).
_UNDEFINED = object()


# ---------------------------------------------------------------- helpers

_members = haproxy.cluster_members


def _is_true(value):
    return haproxy.parse_bool(value, False) is True


def _is_blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _plain(value):
    """str(value) with newlines and other control characters escaped: one message, one line."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
                   for char in str(value))


def _show(value):
    """Render an inventory value for a message (only ever non-secret values)."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{_plain(value)}'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return _plain(value)


def _key(value):
    """A hashable, type-tolerant key so that 1 and '1' count as the same value."""
    if isinstance(value, (list, tuple)):
        return tuple(_key(item) for item in value)
    number = as_int(value)
    if number is not None:
        return number
    if isinstance(value, (dict, set)):
        return repr(value)
    return value if value is None else str(value)


def _hosts(hosts):
    return ", ".join(_plain(host) for host in hosts)


def _where(cluster, hosts):
    """Message prefix: 'cluster pg-test, host 10.0.0.1' or 'cluster pg-test, hosts a, b'."""
    plural = "" if len(hosts) == 1 else "s"
    return f"cluster {_plain(cluster)}, host{plural} {_hosts(hosts)}"


# The same reading of a host variable as where HAProxy is placed.
_get = haproxy.host_var


def _pg_cluster(hostvars, host):
    """The host's pg_cluster as a string, or None when unset/empty."""
    value = _get(hostvars, host, "pg_cluster")
    return None if _is_blank(value) else str(value)


def _group_hosts(hosts, value_of):
    """Ordered list of (value, [hosts]): hosts with equal values are judged once, together."""
    grouped = []
    index = {}
    for host in hosts:
        value = value_of(host)
        key = _key(value)
        if key not in index:
            index[key] = len(grouped)
            grouped.append((value, []))
        grouped[index[key]][1].append(host)
    return grouped


def _by_value(hostvars, hosts, name):
    return _group_hosts(hosts, lambda host: _get(hostvars, host, name))


def _duplicates(owners):
    """(value, [hosts]) for every value claimed by more than one host."""
    return [(value, hosts) for value, hosts in owners.items() if len(hosts) > 1]


# ---------------------------------------------------------------- discovery

def _cluster_groups(hostvars, groups):
    """Names of the groups that are PostgreSQL clusters, in inventory order."""
    # The same discovery places HAProxy, so the check and the roles agree.
    return haproxy.cluster_groups(hostvars, groups)


def _all_hosts(groups):
    """Every host once, in inventory order."""
    return list(dict.fromkeys(host for hosts in groups.values() for host in hosts))


# ---------------------------------------------------------------- checks

def _membership_errors(hostvars, groups, clusters):
    """Each host belongs to at most one cluster: the group named by its pg_cluster."""
    errors = []
    # Hosts whose pg_cluster is no valid name and names no group: one message per name.
    misnamed = {}
    for host in _all_hosts(groups):
        in_clusters = [group for group in clusters if host in groups[group]]
        pg_cluster = _pg_cluster(hostvars, host)
        if len(in_clusters) > 1:
            errors.append(
                f"host {_plain(host)}: is in the groups of {len(in_clusters)} clusters "
                f"({_hosts(in_clusters)}); a host runs one PostgreSQL instance, so remove it "
                f"from all but one of these groups (its pg_cluster is {_show(pg_cluster)})")
        elif pg_cluster in BUILTIN_GROUPS:
            errors.append(
                f"host {_plain(host)}: pg_cluster {_show(pg_cluster)} is a group name Ansible reserves; "
                "name the cluster e.g. pg-test and put its hosts under a group of that name")
        elif pg_cluster == ETCD_GROUP:
            errors.append(
                f"host {_plain(host)}: pg_cluster {_show(pg_cluster)} is the name of the group of etcd "
                "members; name the cluster e.g. pg-test and put its hosts under a group of that name")
        elif (pg_cluster is not None and host not in groups.get(pg_cluster, ())
              and not CLUSTER_NAME_RE.fullmatch(pg_cluster)):
            if pg_cluster not in misnamed:
                misnamed[pg_cluster] = (len(errors), [])
                errors.append(None)  # written below, once all hosts of that name are known
            misnamed[pg_cluster][1].append(host)
        elif pg_cluster is not None and host not in groups.get(pg_cluster, ()):
            also = f" (it is in group {_plain(in_clusters[0])})" if in_clusters else ""
            errors.append(
                f"host {_plain(host)}: pg_cluster is {_show(pg_cluster)} but the host is not in a group "
                f"named {pg_cluster}{also}; put the host under a group called {pg_cluster} "
                "(the group name must equal pg_cluster)")
        elif in_clusters and pg_cluster != in_clusters[0]:
            group = _plain(in_clusters[0])
            errors.append(
                f"host {_plain(host)}: is in group {group} of cluster {group} but its pg_cluster is "
                f"{_show(pg_cluster)}; set pg_cluster: {group} in the vars of group {group}")
    for name, (index, hosts) in misnamed.items():
        plural = "" if len(hosts) == 1 else "s"
        errors[index] = (f"host{plural} {_hosts(hosts)}: pg_cluster {_show(name)} is not a valid "
                         f"cluster name; {CLUSTER_NAME_HINT}")
    return errors


def _name_errors(cluster, members):
    if CLUSTER_NAME_RE.fullmatch(cluster):
        return []
    return [(f"{_where(cluster, members)}: pg_cluster {_show(cluster)} is not a valid cluster name; "
             f"{CLUSTER_NAME_HINT}")]


def _seq_errors(hostvars, cluster, members):
    errors = []
    hint = "set pg_seq to a whole number >= 0, unique within the cluster (e.g. pg_seq: 1)"
    owners = {}
    for host in members:
        raw = _get(hostvars, host, "pg_seq")
        seq = as_int(raw)
        where = _where(cluster, [host])
        if _is_blank(raw):
            errors.append(f"{where}: pg_seq is not set; {hint}")
        elif seq is None:
            errors.append(f"{where}: pg_seq {_show(raw)} is not an integer; {hint}")
        elif seq < 0:
            errors.append(f"{where}: pg_seq {seq} is negative; {hint}")
        else:
            # Only valid numbers take part in the duplicate check (no cascading errors).
            owners.setdefault(seq, []).append(host)
    for seq, hosts in _duplicates(owners):
        errors.append(
            f"{_where(cluster, hosts)}: pg_seq {seq} is used by {' and '.join(map(_plain, hosts))}; "
            "the instance name is <pg_cluster>-<pg_seq>, so give each host its own pg_seq")
    return errors


def _role_errors(hostvars, cluster, members):
    errors = []
    hint = f"set pg_role to one of: {', '.join(PG_ROLES)}"
    primaries = []
    for host in members:
        role = _get(hostvars, host, "pg_role")
        where = _where(cluster, [host])
        if _is_blank(role):
            errors.append(f"{where}: pg_role is not set; {hint}")
        elif role not in PG_ROLES:
            errors.append(f"{where}: pg_role {_show(role)} is not valid; {hint}")
        elif role == "primary":
            primaries.append(host)
    if len(primaries) > 1:
        errors.append(
            f"{_where(cluster, primaries)}: pg_role is primary on {len(primaries)} hosts "
            f"({', '.join(primaries)}); set pg_role: primary on exactly one host and "
            "pg_role: replica (or offline) on the others")
    elif not primaries and not errors:
        # A missing or mistyped role already explains the missing primary.
        errors.append(
            f"{_where(cluster, members)}: no host has pg_role: primary; set pg_role: primary on "
            "exactly one host of the cluster (it is the primary at first deploy only)")
    return errors


def _agreement_errors(hostvars, cluster, members):
    errors = []
    for name in CLUSTER_WIDE_VARS:
        grouped = _by_value(hostvars, members, name)
        if len(grouped) > 1:
            detail = "; ".join(f"{_show(value)} on {_hosts(hosts)}" for value, hosts in grouped)
            errors.append(
                f"{_where(cluster, members)}: {name} differs between hosts of the cluster "
                f"({detail}); it is a cluster-wide setting, so set it once in the vars of "
                f"group {cluster}")
    return errors


def _rto_errors(hostvars, cluster, members):
    """pg_rto must name a preset; overrides merged over it must satisfy Patroni's rules."""
    errors = []
    choices = ", ".join(sorted(presets.RTO_PLANS))
    for rto, hosts in _by_value(hostvars, members, "pg_rto"):
        if _is_blank(rto):
            rto = presets.DEFAULT_RTO
        elif not isinstance(rto, str) or rto not in presets.RTO_PLANS:
            errors.append(f"{_where(cluster, hosts)}: pg_rto {_show(rto)} is not a known preset; "
                          f"choose one of: {choices}")
            continue
        errors.extend(_timing_errors(hostvars, cluster, hosts, str(rto)))
    return errors


def _timing_errors(hostvars, cluster, hosts, rto):
    errors = []
    plan = presets.RTO_PLANS[rto]
    preset = f"ttl={plan['ttl']}, loop_wait={plan['loop_wait']}, retry_timeout={plan['retry_timeout']}"
    combos = _group_hosts(
        hosts, lambda host: tuple(_get(hostvars, host, var) for var, _key in TIMING_OVERRIDES))
    for combo, combo_hosts in combos:
        where = _where(cluster, combo_hosts)
        timings = dict(plan)
        overrides = []
        for (var, key), raw in zip(TIMING_OVERRIDES, combo):
            if raw is None:
                continue
            timings[key] = as_int(raw)
            overrides.append(f"{var}={raw}")
            if timings[key] is None:
                errors.append(f"{where}: {var} {_show(raw)} is not an integer; use a whole number "
                              f"of seconds, or remove it to use the pg_rto '{rto}' value {plan[key]}")
        if None in (timings["ttl"], timings["loop_wait"], timings["retry_timeout"]):
            continue
        source = f"pg_rto '{rto}'" + (f" with {', '.join(overrides)}" if overrides else "")
        for rule in patroni_core.timing_errors(timings["ttl"], timings["loop_wait"],
                                               timings["retry_timeout"]):
            errors.append(f"{where}: Patroni timings from {source} are invalid: {rule}; fix "
                          "patroni_ttl/patroni_loop_wait/patroni_retry_timeout or remove them to "
                          f"use the preset ({preset})")
    return errors


def _rpo_errors(hostvars, cluster, members):
    errors = []
    hint = "use 0 (synchronous, no acknowledged commit lost) or a byte count of allowed lag"
    for rpo, hosts in _by_value(hostvars, members, "pg_rpo"):
        if _is_blank(rpo):
            continue
        number = as_int(rpo)
        if number is None:
            errors.append(f"{_where(cluster, hosts)}: pg_rpo {_show(rpo)} is not an integer; {hint}")
        elif number < 0:
            errors.append(f"{_where(cluster, hosts)}: pg_rpo {number} is negative; {hint}")
    return errors


def _observer_errors(hostvars, cluster, members):
    """The observers act early only where no acknowledged commit can be lost, unless told otherwise."""
    errors = []
    for host in members:
        enabled = haproxy.parse_bool(_get(hostvars, host, "patroni_observer_enabled"), None)
        allow_async = haproxy.parse_bool(_get(hostvars, host, "patroni_observer_allow_async"), False)
        if enabled and (as_int(_get(hostvars, host, "pg_rpo")) or 0) > 0 and not allow_async:
            errors.append(host)
    if errors:
        return [f"{_where(cluster, errors)}: patroni_observer_enabled is true with an asynchronous pg_rpo; "
                "an early election could drop acknowledged commits the new leader never received. Set "
                "pg_rpo: 0, or patroni_observer_allow_async: true to accept that loss "
                "(docs/failover-behaviour.md)"]
    return []


def _version_errors(hostvars, cluster, members):
    """pg_version names the packages and directories: a major version, nothing else."""
    errors = []
    for value, hosts in _by_value(hostvars, members, "pg_version"):
        if value is None:
            continue
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not (isinstance(text, str) and PG_VERSION_RE.fullmatch(text)):
            errors.append(f"{_where(cluster, hosts)}: pg_version {_show(value)} is not a PostgreSQL major "
                          "version; use a whole number such as 17, or remove it to use the "
                          "distribution's")
    return errors


def _tls_errors(hostvars, cluster, members):
    errors = []
    for value, hosts in _by_value(hostvars, members, "pg_tls"):
        if value is not None and (not isinstance(value, str) or value not in PG_TLS_MODES):
            errors.append(f"{_where(cluster, hosts)}: pg_tls {_show(value)} is not valid; use require "
                          "(clients must use TLS, the default) or prefer (plaintext is allowed too)")
    # Pigsty's switch for HTTPS on Patroni's REST API: always on here.
    for value, hosts in _by_value(hostvars, members, "patroni_ssl_enabled"):
        if value is not None and not _is_true(value):
            errors.append(f"{_where(cluster, hosts)}: patroni_ssl_enabled {_show(value)} is not supported: "
                          "Patroni's REST API always serves HTTPS with the node certificate here (its "
                          "basic-auth password must not cross the network in clear); remove the variable "
                          "or set it to true")
    return errors


def _username_errors(hostvars, cluster, members):
    """User names the inventory gives the roles: written into patroni.yml and pg_hba as they are."""
    errors = []
    for name in PG_USERNAME_VARS:
        for value, hosts in _by_value(hostvars, members, name):
            if value is not None and not (isinstance(value, str) and PG_NAME_RE.fullmatch(value)):
                errors.append(f"{_where(cluster, hosts)}: {name} {_show(value)} is not a valid "
                              f"PostgreSQL role name; {PG_NAME_HINT}")
    errors.extend(_http_username_errors(hostvars, members, HTTP_USERNAME_VARS,
                                        lambda hosts: _where(cluster, hosts)))
    return errors


def _alias_errors(hostvars, cluster, members):
    """Pigsty's name and ours for one setting, both set to different values (values never shown)."""
    errors = []
    for pigsty_name, ours in PIGSTY_ALIASES:
        both = []
        for host in members:
            theirs, mine = _get(hostvars, host, pigsty_name), _get(hostvars, host, ours)
            if not _is_blank(theirs) and not _is_blank(mine) and _key(theirs) != _key(mine):
                both.append(host)
        if both:
            errors.append(f"{_where(cluster, both)}: {pigsty_name} (Pigsty's name) and {ours} differ; "
                          f"keep one of them")
    return errors


def _parameter_errors(hostvars, cluster, members):
    """PostgreSQL settings Patroni writes into postgresql.conf: plain names, one-line scalar values."""
    errors = []
    for name in ("pg_parameters", "patroni_postgresql_parameters"):
        for value, hosts in _by_value(hostvars, members, name):
            if value is None:
                continue
            where = _where(cluster, hosts)
            if not isinstance(value, dict):
                errors.append(f"{where}: {name} is not a mapping; write it as {name}: {{work_mem: 16MB}}")
                continue
            for key, setting in value.items():
                if not (isinstance(key, str) and PARAMETER_NAME_RE.fullmatch(key)):
                    errors.append(f"{where}: {name} has {_show(key)}, which is not a PostgreSQL setting name "
                                  "(lower-case letters, digits and _, with one dot for an extension's)")
                elif isinstance(setting, (dict, list, tuple)) or setting is None:
                    errors.append(f"{where}: {name} {key} is not a single value; give a string, number or "
                                  "boolean")
                elif isinstance(setting, str) and (not setting.isprintable()
                                                   or len(setting) > MAX_PARAMETER_VALUE):
                    errors.append(f"{where}: {name} {key} {_show(setting)} has a line break or a control "
                                  f"character, or is longer than {MAX_PARAMETER_VALUE} characters")
    return errors


def _http_username_errors(hostvars, hosts, names, where):
    errors = []
    for name in names:
        for value, same in _by_value(hostvars, hosts, name):
            if value is not None and not (isinstance(value, str) and HTTP_USERNAME_RE.fullmatch(value)):
                errors.append(f"{where(same)}: {name} {_show(value)} is not a valid user name; use 1 to 63 "
                              "of letters, digits, '_', '.' and '-', starting with a letter, digit or '_'")
    return errors


def _client_network_errors(hostvars, cluster, members):
    """pg_client_networks goes into pg_hba and haproxy.cfg: networks in CIDR form only."""
    errors = []
    for name in ("pg_client_networks", "patroni_client_networks"):
        for value, hosts in _by_value(hostvars, members, name):
            if value is None:
                continue
            where = _where(cluster, hosts)
            if not isinstance(value, (list, tuple)):
                errors.append(f"{where}: {name} {_show(value)} is not a list; write it as a list of "
                              f"networks, e.g. {name}: [10.0.0.0/24]")
                continue
            for item in value:
                problem = _network_problem(item)
                if problem:
                    errors.append(f"{where}: {name} item {_show(item)} {problem}")
    return errors


def _network_problem(value):
    """Why `value` is not a network pg_hba accepts (address/prefix length, no host bits), or None."""
    hint = "write each as address/prefix length, e.g. 10.0.0.0/24 (one host: 10.0.0.5/32)"
    if not isinstance(value, str):
        return f"is not a network; {hint}"
    if CIDR_RE.fullmatch(value):
        try:
            ipaddress.ip_network(value, strict=True)
            return None
        except ValueError:
            pass
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"is not a network; {hint}"
        return f"has host bits set; write the network address {network}"
    if _is_ip(value):
        length = ipaddress.ip_address(value).max_prefixlen
        return f"has no prefix length; write {value}/{length} for that one host"
    return f"is not a network; {hint}"


# The roles the cluster makes for itself: (ours, Pigsty's name, the role default, what it is).
_OWN_USERS = {
    "superuser": ("patroni_superuser_username", None, "postgres", "the superuser"),
    "replication": ("patroni_replication_username", "pg_replication_username", "replicator",
                    "the replication user"),
    # Without pg_rewind_password: the replication user (_own_user_names).
    "rewind": ("patroni_rewind_username", None, "rewind", "the pg_rewind user"),
    "admin": ("patroni_admin_username", None, "dbadmin", "the admin login"),
    "monitor": ("patroni_monitor_username", "pg_monitor_username", "dbmonitor", "the monitoring login"),
}


def _own_user_names(hostvars, host):
    """{'superuser': 'postgres', 'replication': 'replicator', ...} as the patroni role will name them."""
    names = {key: str(_get(hostvars, host, ours) or (pigsty and _get(hostvars, host, pigsty)) or default)
             for key, (ours, pigsty, default, _what) in _OWN_USERS.items()}
    if _is_blank(_get(hostvars, host, "patroni_rewind_username")) and _is_blank(
            _get(hostvars, host, "pg_rewind_password")):
        names["rewind"] = names["replication"]
    return names


def _rewind_errors(hostvars, cluster, members):
    """pg_rewind's login: a dedicated user with pg_rewind_password, or the replication user without one."""
    problems = {}
    for host in members:
        names = _own_user_names(hostvars, host)
        has_password = not _is_blank(_get(hostvars, host, "pg_rewind_password"))
        if names["rewind"] == names["superuser"]:
            problem = (f"patroni_rewind_username is the superuser ({_plain(names['superuser'])}), who logs "
                       "in on the local socket only; remove patroni_rewind_username")
        elif names["rewind"] == names["replication"] and has_password:
            problem = (f"patroni_rewind_username is the replication user ({_plain(names['replication'])}), "
                       "who logs in with pg_replication_password; remove pg_rewind_password, or name "
                       "another user for pg_rewind")
        elif names["rewind"] != names["replication"] and not has_password:
            problem = (f"patroni_rewind_username {_plain(names['rewind'])} has no pg_rewind_password; set "
                       "one (in Ansible Vault), or remove patroni_rewind_username and pg_rewind connects "
                       "as the replication user (Pigsty's way)")
        else:
            continue
        problems.setdefault(problem, []).append(host)
    errors = [f"{_where(cluster, hosts)}: {problem}" for problem, hosts in problems.items()]
    # Whether they are set decides who logs in how, on every member alike.
    for name in ("pg_superuser_password", "pg_rewind_password"):
        unset = [host for host in members if hostvars[host].get(name, _MISSING) is _MISSING]
        if unset and len(unset) < len(members):
            errors.append(f"{_where(cluster, unset)}: {name} is not set, but it is on the cluster's other "
                          f"hosts; set it once in the vars of group {_plain(cluster)}, or nowhere")
    return errors


def _cluster_users(hostvars, host):
    """The roles the cluster makes for itself, by name: no pg_users item may name one."""
    users = {}
    for key, name in _own_user_names(hostvars, host).items():
        users.setdefault(name, _OWN_USERS[key][3])  # the replication user may also rewind
    if pgbouncer.enabled(hostvars, host):
        name = str(_get(hostvars, host, "pgbouncer_auth_username") or pgbouncer.DEFAULT_AUTH_USER)
        users[name] = "pgbouncer's auth_query role (pgbouncer_auth_username)"
    return users


def _reserved_name_errors(where, name, value, reserved):
    if not isinstance(value, (list, tuple)):
        return []
    return [f"{where}: {name} item {number} ({item['name']}) is {reserved[item['name']]}, which the cluster "
            "makes and keeps itself; remove the item"
            for number, item in enumerate(value, start=1)
            if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"] in reserved]


def _default_privilege_errors(hostvars, cluster, members):
    """pg_default_privileges: Pigsty's GRANT lines, to roles the cluster has."""
    errors = []
    for name in ("pg_default_privileges", "patroni_default_privileges"):
        for value, hosts in _by_value(hostvars, members, name):
            if value is None:
                continue
            roles = set(_cluster_users(hostvars, hosts[0]))
            default_roles = _get(hostvars, hosts[0], "patroni_default_roles")
            if default_roles is None:
                default_roles = _get(hostvars, hosts[0], "pg_default_roles")
            users = _get(hostvars, hosts[0], "patroni_users") or _get(hostvars, hosts[0], "pg_users")
            for items in (pg_objects.DEFAULT_ROLES if default_roles is None else default_roles, users):
                if isinstance(items, (list, tuple)):
                    roles.update(item["name"] for item in items
                                 if isinstance(item, dict) and isinstance(item.get("name"), str))
            errors.extend(f"{_where(cluster, hosts)}: {name} {_plain(problem)}"
                          for problem in pg_objects.privilege_errors(value, roles))
    return errors


def _pg_object_errors(hostvars, cluster, members):
    """Names of the users and databases the roles create (their passwords are never read here)."""
    errors = []
    for name in ("pg_users", "patroni_users", "pg_default_roles", "patroni_default_roles"):
        for value, hosts in _by_value(hostvars, members, name):
            errors.extend(_pg_list_errors(_where(cluster, hosts), name, value, "user",
                                          (("name", "role", True),)))
            errors.extend(_pg_key_errors(_where(cluster, hosts), name, value, pg_objects.user_errors))
            errors.extend(_reserved_name_errors(_where(cluster, hosts), name, value,
                                                _cluster_users(hostvars, hosts[0])))
    for name in ("pg_databases", "patroni_databases"):
        for value, hosts in _by_value(hostvars, members, name):
            errors.extend(_pg_list_errors(_where(cluster, hosts), name, value, "database",
                                          (("name", "database", True), ("owner", "role", False))))
            errors.extend(_pg_key_errors(_where(cluster, hosts), name, value,
                                         pg_objects.database_errors))
    return errors


def _library_errors(hostvars, cluster, members):
    """pg_libs: library names, agreeing with shared_preload_libraries where both are set."""
    errors = []
    for name in ("pg_libs", "patroni_libs"):
        for value, hosts in _by_value(hostvars, members, name):
            parameters = _get(hostvars, hosts[0], "patroni_postgresql_parameters") or _get(
                hostvars, hosts[0], "pg_parameters")
            try:
                pg_settings.library_parameters(value, parameters if isinstance(parameters, dict) else None)
            except ValueError as exc:
                errors.append(f"{_where(cluster, hosts)}: {_plain(exc)}")
    return errors


def _extension_errors(hostvars, cluster, members):
    """pg_extensions: names the postgres role turns into Debian packages (looked up on the hosts)."""
    errors = []
    for value, hosts in _by_value(hostvars, members, "pg_extensions"):
        try:
            pg_settings.extension_names(value)
        except ValueError as exc:
            errors.append(f"{_where(cluster, hosts)}: {_plain(exc)}")
    return errors


def _conf_errors(hostvars, cluster, members):
    """Pigsty's pg_conf profile and the variables that size it (pg_conf.py)."""
    found = {}
    for host in members:
        settings = {name: _get(hostvars, host, name) for name in pg_conf.VARIABLES + ("pg_rpo",)}
        for message in pg_conf.check(settings):
            found.setdefault(message, []).append(host)
    return [f"{_where(cluster, hosts)}: {_plain(message)}" for message, hosts in found.items()]


def _hba_errors(hostvars, cluster, members):
    """Pigsty-shaped pg_hba rules: every field checked, before any of it reaches pg_hba."""
    errors = []
    for name in hba.RULE_VARS:
        for value, hosts in _by_value(hostvars, members, name):
            if value is None:
                continue
            where = _where(cluster, hosts)
            if not isinstance(value, (list, tuple)):
                errors.append(f"{where}: {name} is not a list; write it as {name}: [{{user: all, db: all, "
                              "addr: intra, auth: pwd, title: ...}]")
                continue
            for number, rule in enumerate(value, start=1):
                title = rule.get("title") if isinstance(rule, dict) else None
                label = f"{name} item {number}" + (f" ({_plain(title)})" if isinstance(title, str) else "")
                errors.extend(f"{where}: {label} {_plain(problem)}" for problem in hba.rule_errors(rule))
    return errors


def hba_notes(hostvars, groups):
    """One line per cluster whose pg_hba rules name a user the cluster's own rules decide."""
    notes = []
    for cluster in _cluster_groups(hostvars, groups):
        for host in _members(hostvars, groups, cluster)[:1]:
            names = _own_user_names(hostvars, host)
            users = {"${dbsu}": names["superuser"], "${repl}": names["replication"]}
            reserved = list(dict.fromkeys([names["superuser"], names["replication"], names["rewind"]]))
            rules = []
            for name in hba.RULE_VARS:
                value = _get(hostvars, host, name)
                if isinstance(value, (list, tuple)):
                    # Every rule, whichever instances its role names.
                    rules.extend(dict(rule, role=None) if isinstance(rule, dict) else rule for rule in value)
            try:
                _lines, covered = hba.render(rules, users, reserved, None, {})
            except ValueError:
                continue  # refused by _hba_errors
            if covered:
                notes.append(f"cluster {_plain(cluster)}: the pg_hba rules {', '.join(map(_plain, covered))} "
                             f"name {', '.join(reserved)}, whom the cluster's own rules decide (the "
                             "superuser on the local socket only, replication and rewind over TLS from "
                             "members); they are left out")
    return notes


def _pg_key_errors(where, name, value, check):
    """Options the patroni role does not apply (many are Pigsty's), and bad values of those it does.

    Refused here, before any host changes: the role's argument spec would
    refuse some too, but only once the node, etcd and postgres roles have run.
    """
    if not isinstance(value, (list, tuple)):
        return []
    errors = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            continue
        label = f"{name} item {number}"
        if isinstance(item.get("name"), str) and PG_NAME_RE.fullmatch(item["name"]):
            label += f" ({item['name']})"
        errors.extend(f"{where}: {label} {_plain(problem)}" for problem in check(item))
    return errors


def _pigsty_errors(hostvars, groups):
    """Pigsty's variables this collection does not honour, set to a value that would ask for something."""
    found = {}
    for host in _all_hosts(groups):
        for name in pigsty.NOT_HONOURED:
            message = pigsty.refusal(name, _get(hostvars, host, name))
            if message:
                found.setdefault(message, []).append(host)
    return [f"host{'' if len(hosts) == 1 else 's'} {_hosts(hosts)}: {message}"
            for message, hosts in found.items()]


def _package_errors(hostvars, groups):
    """node_default_packages / node_packages: Debian package names, several to an item allowed (Pigsty)."""
    errors = []
    for name in ("node_default_packages", "node_packages"):
        for value, hosts in _group_hosts(_all_hosts(groups),
                                         lambda host, var=name: _get(hostvars, host, var)):
            if value is None:
                continue
            where = f"host{'' if len(hosts) == 1 else 's'} {_hosts(hosts)}"
            if not isinstance(value, (list, tuple)):
                errors.append(f"{where}: {name} is not a list; write it as a list of Debian package names, "
                              f"e.g. {name}: [htop, 'iotop,sysstat']")
                continue
            bad = [item for item in value
                   if not isinstance(item, str)
                   or not all(PACKAGE_RE.fullmatch(part.strip()) for part in item.split(","))]
            if bad:
                errors.append(f"{where}: {name} item(s) {_show(bad)} are not Debian package names (a-z, 0-9, "
                              "+ . -, optionally =version; several to an item separated by commas)")
    return errors


def pigsty_other_parts(hostvars, groups):
    """Names of variables of Pigsty parts this collection does not deploy, set on some host (sorted)."""
    names = set()
    for host in _all_hosts(groups):
        names.update(name for name in hostvars[host].keys() if pigsty.is_other_part(str(name)))
    return sorted(names)


def _pg_list_errors(where, name, value, kind, fields):
    """pg_users/pg_databases: a list of mappings whose name fields are plain PostgreSQL names.

    The values are never shown whole: a user carries its password.
    """
    if value is None:
        return []
    example = "{name: app, password: ...}" if kind == "user" else "{name: app, owner: app}"
    if not isinstance(value, (list, tuple)):
        return [f"{where}: {name} is not a list; write it as a list of {kind}s, e.g. {name}: [{example}]"]
    errors = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            errors.append(f"{where}: {name} item {number} is not a mapping; write each {kind} as {example}")
            continue
        for field, what, required in fields:
            field_value = item.get(field)
            if field_value is None:
                if required:
                    errors.append(f"{where}: {name} item {number} has no {field}; write each {kind} as "
                                  f"{example}")
            elif not (isinstance(field_value, str) and PG_NAME_RE.fullmatch(field_value)):
                errors.append(f"{where}: {name} {field} {_show(field_value)} is not a valid PostgreSQL "
                              f"{what} name; {PG_NAME_HINT}")
    return errors


def _entrypoint_errors(hostvars, cluster, members):
    errors = []
    choices = ", ".join(PG_ENTRYPOINTS)
    for value, hosts in _by_value(hostvars, members, "pg_entrypoints"):
        if value is None:
            continue
        if not isinstance(value, (list, tuple)):
            errors.append(f"{_where(cluster, hosts)}: pg_entrypoints {_show(value)} is not a list; "
                          f"write it as a list, e.g. pg_entrypoints: [haproxy], with items from: "
                          f"{choices}")
            continue
        unknown = [_show(item) for item in value if item not in PG_ENTRYPOINTS]
        if unknown:
            errors.append(f"{_where(cluster, hosts)}: pg_entrypoints has unknown item(s) "
                          f"{', '.join(unknown)}; choose from: {choices}")
        planned = [_show(item) for item in value
                   if item in PG_ENTRYPOINTS and item not in IMPLEMENTED_ENTRYPOINTS]
        if planned:
            errors.append(f"{_where(cluster, hosts)}: pg_entrypoints item(s) {', '.join(planned)} "
                          f"are not implemented in this version; use "
                          f"{', '.join(IMPLEMENTED_ENTRYPOINTS)} for now")
    return errors


def _aws_errors(hostvars, cluster, members):
    """What the nlb and route53 entry points need, read the way the entrypoint_aws role reads it."""
    errors = []
    for value, hosts in _by_value(hostvars, members, "pg_entrypoints"):
        wanted = set(value) & {"nlb", "route53"} if isinstance(value, (list, tuple)) else set()
        if wanted:
            errors.extend(_aws_cluster_errors(hostvars, _where(cluster, hosts), hosts, wanted))
    return errors


def _aws_cluster_errors(hostvars, where, hosts, wanted):
    errors = []

    def everywhere(*names):
        return all(not _is_blank(_get(hostvars, host, name)) for host in hosts for name in names)

    def nowhere(name):
        return all(_is_blank(_get(hostvars, host, name)) for host in hosts)

    if nowhere("entrypoint_aws_region") and nowhere("entrypoint_aws_endpoint_url"):
        errors.append(f"{where}: pg_entrypoints has {', '.join(sorted(wanted))} but entrypoint_aws_region is "
                      "not set; set the AWS region of the cluster (or entrypoint_aws_endpoint_url)")
    if any(_is_blank(_get(hostvars, host, "entrypoint_aws_access_key"))
           != _is_blank(_get(hostvars, host, "entrypoint_aws_secret_key")) for host in hosts):
        errors.append(f"{where}: set entrypoint_aws_access_key and entrypoint_aws_secret_key together, "
                      "or neither (the nodes then use their instance role)")
    arns = ("entrypoint_aws_primary_target_group_arn", "entrypoint_aws_replica_target_group_arn")
    if "nlb" in wanted and not everywhere(*arns):
        if not everywhere("entrypoint_aws_vpc_id"):
            errors.append(f"{where}: pg_entrypoints has nlb but entrypoint_aws_vpc_id is not set; set the "
                          "VPC of the nodes (or give both entrypoint_aws_primary_target_group_arn and "
                          "entrypoint_aws_replica_target_group_arn of target groups you made)")
        subnets = [_get(hostvars, host, "entrypoint_aws_subnets") for host in hosts]
        if not all(isinstance(item, (list, tuple)) and len(item) >= 2 for item in subnets):
            errors.append(f"{where}: pg_entrypoints has nlb but entrypoint_aws_subnets is not a list "
                          "of two or more subnet IDs; list one subnet per Availability Zone of the nodes")
    if "route53" in wanted:
        if not everywhere("entrypoint_aws_zone_id"):
            errors.append(f"{where}: pg_entrypoints has route53 but entrypoint_aws_zone_id is not set; "
                          "set the id of the hosted zone that holds <cluster>-primary and <cluster>-replica")
        if not everywhere("entrypoint_aws_zone_name") and not everywhere(
                "entrypoint_aws_primary_name", "entrypoint_aws_replica_name"):
            errors.append(f"{where}: pg_entrypoints has route53 but entrypoint_aws_zone_name is not set; "
                          "set the zone's name (or both entrypoint_aws_primary_name and "
                          "entrypoint_aws_replica_name)")
    return errors


def _nlb_targets_errors(hostvars, cluster, members):
    """pg_nlb_targets: members or haproxy, and only with nlb in pg_entrypoints."""
    errors = []
    choices = " or ".join(NLB_TARGETS)
    for value, hosts in _by_value(hostvars, members, "pg_nlb_targets"):
        if _is_blank(value):
            continue
        where = _where(cluster, hosts)
        if value not in NLB_TARGETS:
            errors.append(f"{where}: pg_nlb_targets {_show(value)} is not {choices}; members puts the "
                          "PostgreSQL member of each role behind the NLB, haproxy the HAProxy hosts that "
                          "route to the cluster (the hybrid layout)")
            continue
        listed = [_get(hostvars, host, "pg_entrypoints") for host in hosts]
        if not all(isinstance(item, (list, tuple)) and "nlb" in item for item in listed):
            errors.append(f"{where}: pg_nlb_targets is {value} but pg_entrypoints does not list nlb, so no "
                          "NLB would be made; add nlb to pg_entrypoints or remove pg_nlb_targets")
    return errors


def _address(hostvars, host):
    """The address peers use for a host: node_address, else the inventory name."""
    value = _get(hostvars, host, "node_address")
    return host if _is_blank(value) else str(value)


def _is_ip(value):
    """An IP address as written in a configuration file (no zone index such as %eth0)."""
    if not isinstance(value, str) or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_host_name(value):
    """A DNS host name; an all-digit last label is a mistyped IPv4 address (10.0.0.300)."""
    return (isinstance(value, str) and len(value) <= HOST_NAME_MAX
            and HOST_NAME_RE.fullmatch(value) is not None
            and not value.rsplit(".", 1)[-1].isdigit())


def _address_errors(hostvars, groups, clusters):
    """The address of every host the roles configure: an IP address or a DNS host name."""
    places = {}
    for cluster in clusters:
        for host in groups[cluster]:
            if _pg_cluster(hostvars, host) == cluster:
                places.setdefault(host, f"cluster {_plain(cluster)}")
    for group in (ETCD_GROUP, haproxy.PROXY_GROUP):
        for host in groups.get(group) or ():
            places.setdefault(host, f"group {group}")
    for host in haproxy.haproxy_hosts(hostvars, groups):  # haproxy_clusters set elsewhere
        places.setdefault(host, None)
    hint = "an IP address or a DNS host name (letters, digits, '-' and dots)"
    errors = []
    for host in _all_hosts(groups):
        if host not in places:
            continue
        where = ", ".join(part for part in (places[host], f"host {_plain(host)}") if part)
        value = _get(hostvars, host, "node_address")
        if value is None or value == "":
            if not (_is_ip(host) or _is_host_name(host)):
                errors.append(f"{where}: node_address is not set and the inventory name, used as the "
                              f"address, is not {hint}; set node_address to the address the other hosts "
                              "reach it at (e.g. node_address: 10.0.0.11)")
        elif not (_is_ip(value) or _is_host_name(value)):
            errors.append(f"{where}: node_address {_show(value)} is not {hint}; set it to the address "
                          "the other hosts reach this one at (e.g. node_address: 10.0.0.11)")
    return errors


def _etc_hosts_errors(hostvars, groups):
    """Pigsty's node_default_etc_hosts and node_etc_hosts: "IP name [alias ...]" records for /etc/hosts."""
    errors = []
    for host in _all_hosts(groups):
        for var in ("node_default_etc_hosts", "node_etc_hosts"):
            value = _get(hostvars, host, var)
            if value is None:
                continue
            where = f"host {_plain(host)}: {var}"
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                errors.append(f"{where} is not a list; give records such as "
                              "[\"10.0.0.5 s3.example.internal\"]")
                continue
            for record in value:
                if not isinstance(record, str):
                    errors.append(f"{where} has {_show(record)}, not a string \"IP name [alias ...]\"")
                    continue
                if "${" in record:
                    errors.append(f"{where} record {_show(record)} holds a placeholder (Pigsty's "
                                  "${admin_ip}); pgha.cloud has no admin node to fill it in: write "
                                  "the address")
                    continue
                if "\n" in record or "#" in record:
                    errors.append(f"{where} record {_show(record)} holds a newline or '#'; give one "
                                  "record per item, without comments")
                    continue
                parts = record.split()
                if len(parts) < 2 or not _is_ip(parts[0]):
                    errors.append(f"{where} record {_show(record)} is not \"IP name [alias ...]\": it "
                                  "must start with an IP address, then at least one host name")
                    continue
                bad = [name for name in parts[1:] if not _is_host_name(name)]
                if bad:
                    errors.append(f"{where} record {_show(record)} has {', '.join(map(_show, bad))}, "
                                  "not a host name (letters, digits, '-' and dots)")
    return errors


def _lists_vip(value):
    return isinstance(value, (list, tuple)) and "vip" in value


def _vip_enabled_errors(hostvars, cluster, members):
    """Pigsty's pg_vip_enabled: its L2 VIP is the vip entry point here."""
    errors = []
    for value, hosts in _by_value(hostvars, members, "pg_vip_enabled"):
        if value is None:
            continue
        enabled = haproxy.parse_bool(value, None)
        listed = [host for host in hosts if _lists_vip(_get(hostvars, host, "pg_entrypoints"))]
        if enabled is None:
            errors.append(f"{_where(cluster, hosts)}: pg_vip_enabled {_show(value)} is not true or false")
        elif enabled and len(listed) < len(hosts):
            errors.append(f"{_where(cluster, [h for h in hosts if h not in listed])}: pg_vip_enabled is "
                          "true, but Pigsty's L2 VIP is the vip entry point here and pg_entrypoints does not "
                          "list vip; add it (pg_entrypoints: [haproxy, vip]) and keep pg_vip_address")
        elif not enabled and listed:
            errors.append(f"{_where(cluster, listed)}: pg_vip_enabled is false but pg_entrypoints lists vip; "
                          "remove vip from pg_entrypoints, or set pg_vip_enabled: true")
    return errors


def _vip_disabled(hostvars, hosts):
    """Every host says pg_vip_enabled: false (Pigsty's switch), so its pg_vip_* are left unused on purpose."""
    return all(haproxy.parse_bool(_get(hostvars, host, "pg_vip_enabled"), None) is False for host in hosts)


def _vip_errors(hostvars, groups, cluster, members):
    """The vip entry point: on every member or none, a usable address, id and interface."""
    with_vip = [host for host in members if _lists_vip(_get(hostvars, host, "pg_entrypoints"))]
    without = [host for host in members if host not in with_vip]
    if with_vip and without:
        return [(f"{_where(cluster, without)}: pg_entrypoints does not list vip, but "
                 f"{_hosts(with_vip)} do; keepalived must run on every member or the VIP cannot "
                 f"follow a failover there; set pg_entrypoints once in the vars of group {cluster}")]
    if not with_vip:
        stray = [(name, host) for name in VIP_VARS for host in members
                 if not _is_blank(_get(hostvars, host, name))]
        names = list(dict.fromkeys(name for name, _host in stray))
        # pg_vip_enabled: false leaves them unused on purpose; true is reported by _vip_enabled_errors.
        if not names or _vip_disabled(hostvars, [host for _name, host in stray]) or any(
                haproxy.parse_bool(_get(hostvars, host, "pg_vip_enabled"), None) for host in members):
            return []
        hosts = list(dict.fromkeys(host for _name, host in stray))
        return [(f"{_where(cluster, hosts)}: {', '.join(names)} set but pg_entrypoints does not "
                 "list vip, so no VIP would be deployed; add vip to pg_entrypoints (e.g. "
                 f"pg_entrypoints: [haproxy, vip]) or remove {', '.join(names)}")]
    errors = []
    if len(members) < 2:
        errors.append(f"{_where(cluster, members)}: the vip entry point needs at least 2 members "
                      "(keepalived runs VRRP between them by unicast and cannot without a peer); "
                      "add a replica or remove vip from pg_entrypoints")
    for value, hosts in _by_value(hostvars, members, "pg_vip_address"):
        errors.extend(_vip_address_errors(hostvars, groups, cluster, members, value, hosts))
    for value, hosts in _by_value(hostvars, members, "pg_vip_vrid"):
        if _is_blank(value):
            continue
        try:
            vip.effective_vrid(cluster, value)
        except ValueError:
            errors.append(f"{_where(cluster, hosts)}: pg_vip_vrid {_show(value)} is not a whole "
                          f"number from {vip.VRID_MIN} to {vip.VRID_MAX}; set a VRRP virtual router id "
                          "in that range, or remove it to use the one derived from the cluster name "
                          f"({vip.default_vrid(cluster)})")
    for value, hosts in _by_value(hostvars, members, "pg_vip_interface"):
        if not _is_blank(value) and not (isinstance(value, str) and vip.INTERFACE_RE.fullmatch(value)):
            errors.append(f"{_where(cluster, hosts)}: pg_vip_interface {_show(value)} is not an "
                          "interface name; give the device that holds the node's address (e.g. "
                          "eth0), or remove it to find that device from the node's address")
    return errors


def _vip_address_errors(hostvars, groups, cluster, members, value, hosts):
    where = _where(cluster, hosts)
    if _is_blank(value):
        return [(f"{where}: pg_entrypoints lists vip but pg_vip_address is not set; set it to a "
                 "free address of the nodes' network with its prefix, e.g. pg_vip_address: "
                 "10.0.1.100/24")]
    if isinstance(value, str) and value != value.strip():
        # parse_vip would read past them; the check takes the value as written.
        return [(f"{where}: pg_vip_address {_show(value)} has spaces or a line break around it; write "
                 "the address alone, e.g. pg_vip_address: 10.0.1.100/24")]
    try:
        address = vip.parse_vip(value)
    except ValueError as exc:
        return [f"{where}: pg_vip_address {_show(value)} {exc}"]
    errors = []
    taken = [host for host in _all_hosts(groups) if vip.ipv4(_address(hostvars, host)) == address.ip]
    if taken:
        errors.append(f"{where}: pg_vip_address {address.ip} is the address of host "
                      f"{_hosts(taken)}; the VIP must be a free address that no node owns, or "
                      "keepalived would take that node's address away with it")
    outside = [host for host in members
               if vip.ipv4(_address(hostvars, host)) is not None
               and vip.ipv4(_address(hostvars, host)) not in address.network]
    if outside:
        errors.append(f"{where}: pg_vip_address {address} is not in the network of "
                      f"{_hosts(outside)} ({', '.join(_address(hostvars, h) for h in outside)}); "
                      "keepalived announces the VIP by ARP on the members' own network, so pick "
                      "an address and prefix of that network, e.g. the nodes' /24")
    return errors


def _vip_cluster_errors(hostvars, groups, clusters):
    """Between clusters: no shared VIP, and a distinct VRRP id where their VIP networks meet."""
    settings = []
    for cluster in clusters:
        members = _members(hostvars, groups, cluster)
        if not members or not all(_lists_vip(_get(hostvars, h, "pg_entrypoints")) for h in members):
            continue
        addresses = {_key(_get(hostvars, h, "pg_vip_address")) for h in members}
        vrids = {_key(_get(hostvars, h, "pg_vip_vrid")) for h in members}
        if len(addresses) != 1 or len(vrids) != 1:
            continue  # reported as a disagreement already
        raw_vrid = _get(hostvars, members[0], "pg_vip_vrid")
        try:
            address = vip.parse_vip(_get(hostvars, members[0], "pg_vip_address"))
            vrid = vip.effective_vrid(cluster, raw_vrid)
        except ValueError:
            continue  # reported with the cluster
        settings.append((cluster, address, vrid, _is_blank(raw_vrid)))
    errors = []
    for index, (first, first_vip, first_vrid, first_derived) in enumerate(settings):
        for second, second_vip, second_vrid, second_derived in settings[index + 1:]:
            if first_vip.ip == second_vip.ip:
                errors.append(f"clusters {first}, {second}: both use pg_vip_address {first_vip.ip}; "
                              "each cluster needs a VIP of its own")
            elif vip.networks_overlap(first_vip, second_vip) and first_vrid == second_vrid:
                how = ", ".join(f"{name} {'derived from its name' if derived else 'from pg_vip_vrid'}"
                                for name, derived in ((first, first_derived), (second, second_derived)))
                errors.append(f"clusters {first}, {second}: share the network {first_vip.network} "
                              f"and both use VRRP virtual router id {first_vrid} ({how}); set "
                              f"pg_vip_vrid to different numbers from {vip.VRID_MIN} to "
                              f"{vip.VRID_MAX} in the vars of one or both groups")
    return errors


def _unusable_password(hostvars, host, name):
    """Unset, empty, or a reference to an undefined variable. Never reads the value out."""
    return _is_blank(_get(hostvars, host, name))


def _password_errors(hostvars, cluster, members):
    # Only ever test for presence: a password value must never reach a message.
    errors = []
    for name in PASSWORD_VARS:
        missing = [host for host in members if _unusable_password(hostvars, host, name)]
        if missing:
            errors.append(f"{_where(cluster, missing)}: {name} is not set, empty, or refers to an "
                          "undefined variable (is the vault file loaded?); set it for the cluster and keep "
                          "it in Ansible Vault (ansible-vault encrypt_string)")
    return errors


def _optional_password_errors(hostvars, cluster, members):
    return _set_password_errors(hostvars, members, OPTIONAL_PASSWORD_VARS,
                                lambda hosts: _where(cluster, hosts))


def _set_password_errors(hostvars, hosts, names, where):
    """Optional passwords: checked only where set, then as strictly as the required ones."""
    errors = []
    for name in names:
        given = [host for host in hosts if hostvars[host].get(name, _MISSING) is not _MISSING]
        empty = [host for host in given if _unusable_password(hostvars, host, name)]
        # Checked by type only (a vault value is not a str to every Ansible version).
        typed = [host for host in given if host not in empty
                 and isinstance(_get(hostvars, host, name), (bool, int, float, list, tuple, dict))]
        if empty:
            errors.append(f"{where(empty)}: {name} is set but empty, or refers to an undefined variable "
                          "(is the vault file loaded?); give it a password kept in Ansible Vault "
                          f"(ansible-vault encrypt_string), or remove {name}")
        if typed:
            errors.append(f"{where(typed)}: {name} is not a string; quote the password (and keep it in "
                          "Ansible Vault)")
    return errors


def _etcd_errors(hostvars, groups, clusters):
    members = list(groups.get(ETCD_GROUP) or ())
    if not members:
        if not clusters:
            return []
        return [(f"group etcd: is missing or empty, but cluster(s) {', '.join(clusters)} need it "
                 "as Patroni's DCS; add an etcd group with 3 (or 5) hosts, each with a unique "
                 "etcd_seq")]
    return _etcd_seq_errors(hostvars, members) + _etcd_size_errors(hostvars, members)


def _etcd_seq_errors(hostvars, members):
    errors = []
    hint = "give each etcd host a unique whole number etcd_seq >= 1 (e.g. etcd_seq: 1)"
    owners = {}
    for host in members:
        raw = _get(hostvars, host, "etcd_seq")
        seq = as_int(raw)
        if _is_blank(raw):
            errors.append(f"group etcd, host {host}: etcd_seq is not set; {hint}")
        elif seq is None:
            errors.append(f"group etcd, host {host}: etcd_seq {_show(raw)} is not an integer; {hint}")
        elif seq < 1:
            errors.append(f"group etcd, host {host}: etcd_seq {seq} is below 1; {hint}")
        else:
            owners.setdefault(seq, []).append(host)
    for seq, hosts in _duplicates(owners):
        errors.append(f"group etcd, hosts {_hosts(hosts)}: etcd_seq {seq} is used by "
                      f"{' and '.join(map(_plain, hosts))}; {hint}")
    return errors


def _etcd_size_errors(hostvars, members):
    count = len(members)
    if count == 1:
        if _is_true(_get(hostvars, members[0], "etcd_allow_single_member")):
            return []
        return [(f"group etcd, host {members[0]}: has 1 member, so losing that host stops all "
                 "failover; use 3 or 5 members, or, for a throwaway sandbox only, set "
                 "etcd_allow_single_member: true on that host")]
    if count % 2 == 0:
        # Quorum is a majority: n members tolerate (n - 1) // 2 failures, as do n - 1 members.
        return [(f"group etcd, hosts {_hosts(members)}: has {count} members, an even number; "
                 f"etcd needs a majority ({count // 2 + 1} of {count}), so {count} members "
                 f"tolerate {(count - 1) // 2} failure(s), no more than {count - 1} would; use an "
                 "odd count of at least 3 (3 or 5)")]
    return []


# ---------------------------------------------------------------- HAProxy placement

def _haproxy_setting_errors(hostvars, cluster, members):
    """pg_haproxy_local is a boolean; pg_haproxy_ports names distinct ports; services in Pigsty's shape."""
    errors = []
    for value, hosts in _by_value(hostvars, members, "pg_haproxy_local"):
        if haproxy.parse_bool(value, True) is None:
            errors.append(f"{_where(cluster, hosts)}: pg_haproxy_local {_show(value)} is not a boolean; "
                          "use true (HAProxy on every node of the cluster, the default) or false (only "
                          "the pg_proxy hosts route to it)")
    names = ", ".join(haproxy.REQUIRED_PORTS)
    example = ("e.g. pg_haproxy_ports: {primary: 5443, replica: 5444, default: 5446, offline: 5448}, or "
               "remove it to use 5433/5434/5436/5438")
    for value, hosts in _by_value(hostvars, members, "pg_haproxy_ports"):
        if value is None:
            continue
        where = _where(cluster, hosts)
        if not isinstance(value, dict):
            errors.append(f"{where}: pg_haproxy_ports {_show(value)} is not a mapping; give a port for "
                          f"each of {names} (offline optional), {example}")
            continue
        keys = [str(key) for key in value]
        missing = [name for name in haproxy.REQUIRED_PORTS if name not in keys]
        unknown = [key for key in keys if key not in haproxy.SERVICE_NAMES]
        if missing or unknown:
            detail = "; ".join(part for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(unknown)}" if unknown else "") if part)
            errors.append(f"{where}: pg_haproxy_ports must name {names} and may name offline ({detail}); "
                          f"{example}")
            continue
        bad = [f"{name}={_show(value[name])}" for name in keys
               if as_int(value[name]) is None or not 1 <= as_int(value[name]) <= 65535]
        if bad:
            errors.append(f"{where}: pg_haproxy_ports {', '.join(bad)} is not a port number (1-65535); "
                          f"{example}")
            continue
        ports = [as_int(value[name]) for name in keys]
        if len(set(ports)) < len(ports):
            errors.append(f"{where}: pg_haproxy_ports gives two services the same port "
                          f"({', '.join(f'{n}={p}' for n, p in zip(keys, ports))}); "
                          f"each service needs its own, {example}")
    for value, hosts in _by_value(hostvars, members, "pg_offline_query"):
        if haproxy.parse_bool(value, False) is None:
            errors.append(f"{_where(cluster, hosts)}: pg_offline_query {_show(value)} is not true or false")
    for value, hosts in _by_value(hostvars, members, "pg_weight"):
        if value is not None and (as_int(value) is None or not 0 <= as_int(value) <= 255):
            errors.append(f"{_where(cluster, hosts)}: pg_weight {_show(value)} is not a whole number from 0 "
                          "to 255 (HAProxy's weight; 100 when unset)")
    errors.extend(_service_errors(hostvars, cluster, members))
    return errors


def _service_errors(hostvars, cluster, members):
    """pg_services and pg_default_services: Pigsty's service mappings, checked key by key."""
    errors = []
    for name in ("pg_default_services", "pg_services"):
        for value, where in _given(hostvars, cluster, members, name):
            errors.extend(f"{where}: {problem}" for problem in
                          services.list_errors(name, value, default_list=name == "pg_default_services"))
    if errors or not members:
        return errors
    where = _where(cluster, members)
    first = members[0]
    if _get(hostvars, first, "pg_default_services") is not None and \
            _get(hostvars, first, "pg_haproxy_ports") is not None:
        errors.append(f"{where}: pg_haproxy_ports and pg_default_services both set the built-in services' "
                      "ports; keep one (the ports of pg_default_services items, or pg_haproxy_ports with "
                      "the built-in services)")
    groups = {cluster: list(members)}
    defined = services.cluster_services(hostvars, groups, cluster)
    builtin = _get(hostvars, first, "pg_default_services") is None
    seen = {}
    for service in defined:
        label = f"{where}: service {service['name']}"
        if service["name"] in seen:
            errors.append(f"{label} is defined twice ({seen[service['name']]} and pg_services); give the "
                          "pg_services item another name")
            continue
        seen[service["name"]] = "built-in" if builtin else "pg_default_services"
        if service["dest"] == "pgbouncer" and not pgbouncer.enabled(hostvars, first):
            errors.append(f"{label} has dest: pgbouncer, but pgbouncer_enabled is not true for the cluster; "
                          "set pgbouncer_enabled: true, or dest: postgres")
        for key in ("selector", "backup"):
            try:
                services.select(service[key], hostvars, members, f"{label}: {key}")
            except ValueError as exc:
                errors.append(str(exc))
    return errors


def _ports_valid(hostvars, members):
    """Whether the cluster's service ports are known (its port and service settings are valid)."""
    if not members:
        return True
    value = _get(hostvars, members[0], "pg_haproxy_ports")
    if value is not None:
        if not isinstance(value, dict) or any(str(k) not in haproxy.SERVICE_NAMES for k in value) \
                or any(name not in value for name in haproxy.REQUIRED_PORTS):
            return False
        ports = [as_int(port) for port in value.values()]
        if None in ports or len(set(ports)) != len(ports):
            return False
    return not any(services.list_errors(name, _get(hostvars, members[0], name))
                   for name in ("pg_default_services", "pg_services"))


def _proxy_errors(hostvars, groups, clusters):
    """The pg_proxy group: HAProxy-only hosts, routing to known clusters."""
    proxies = haproxy.proxy_hosts(groups)
    errors = []
    if proxies and not clusters:
        errors.append(f"group {haproxy.PROXY_GROUP}, hosts {_hosts(proxies)}: the inventory has no "
                      "PostgreSQL cluster for them to route to; add a cluster group or remove the "
                      f"{haproxy.PROXY_GROUP} group")
        return errors
    known = ", ".join(clusters)
    for host in proxies:
        where = f"group {haproxy.PROXY_GROUP}, host {host}"
        in_clusters = [group for group in clusters if host in groups[group]]
        own = _pg_cluster(hostvars, host)
        if in_clusters or own is not None:
            which = ", ".join(in_clusters) or own
            errors.append(
                f"{where}: is also a PostgreSQL node (cluster {which}); a {haproxy.PROXY_GROUP} host runs "
                "only HAProxy, and remove_replica.yml and remove_cluster.yml stop HAProxy on a cluster's "
                "hosts, which would cut every route through it; take the host out of one of the two "
                "groups (a cluster's own nodes run HAProxy unless pg_haproxy_local is false)")
        chosen = _get(hostvars, host, "pg_proxy_clusters")
        if chosen is None:
            continue
        if not isinstance(chosen, (list, tuple)):
            errors.append(f"{where}: pg_proxy_clusters {_show(chosen)} is not a list; write it as a list "
                          f"of cluster names, e.g. [{clusters[0]}], or remove it to route to every "
                          f"cluster ({known})")
        elif not chosen:
            errors.append(f"{where}: pg_proxy_clusters is empty, so this HAProxy would route to nothing; "
                          f"name clusters from: {known}, or remove the host from {haproxy.PROXY_GROUP}")
        else:
            unknown = [_show(name) for name in chosen if str(name) not in clusters]
            if unknown:
                errors.append(f"{where}: pg_proxy_clusters names unknown cluster(s) {', '.join(unknown)}; "
                              f"the clusters of this inventory are: {known}")
    # A proxy that is also a cluster member is reported above, with its cluster.
    alone = [host for host in proxies
             if _pg_cluster(hostvars, host) is None and not any(host in groups[c] for c in clusters)]

    def where(hosts):
        return f"group {haproxy.PROXY_GROUP}, host{'' if len(hosts) == 1 else 's'} {_hosts(hosts)}"

    errors.extend(_http_username_errors(hostvars, alone, ("haproxy_admin_username",), where))
    errors.extend(_set_password_errors(hostvars, alone, ("haproxy_admin_password",), where))
    strays = [host for host in _all_hosts(groups)
              if host not in proxies and _get(hostvars, host, "pg_proxy_clusters") is not None]
    if strays:
        errors.append(f"hosts {_hosts(strays)}: pg_proxy_clusters is set but they are not in group "
                      f"{haproxy.PROXY_GROUP}; it only applies to {haproxy.PROXY_GROUP} hosts, so set "
                      f"it in the vars of group {haproxy.PROXY_GROUP} or on those hosts")
    for value, hosts in _group_hosts(_all_hosts(groups), lambda h: _get(hostvars, h, "haproxy_clusters")):
        if value is None:
            continue
        names = value if isinstance(value, (list, tuple)) else [value]
        unknown = [_show(name) for name in names if str(name) not in clusters]
        if not isinstance(value, (list, tuple)) or unknown:
            errors.append(f"hosts {_hosts(hosts)}: haproxy_clusters {_show(value)} must be a list of "
                          f"this inventory's clusters ({known}); prefer pg_proxy_clusters on "
                          f"{haproxy.PROXY_GROUP} hosts")
    return errors


def _coverage_errors(hostvars, groups, cluster, members):
    """Some HAProxy must route to every cluster; a tier-only cluster needs two proxies."""
    routing = haproxy.haproxy_hosts(hostvars, groups, cluster)
    if haproxy.local_enabled(hostvars, groups, cluster):
        return []
    where = _where(cluster, members)
    if not routing:
        return [f"{where}: pg_haproxy_local is false and no {haproxy.PROXY_GROUP} host routes to the "
                "cluster, so clients could not reach it; add it to a proxy's pg_proxy_clusters (or "
                f"add hosts to group {haproxy.PROXY_GROUP}), or set pg_haproxy_local: true"]
    if len(routing) == 1 and not _is_true(_get(hostvars, members[0], "pg_proxy_allow_single")):
        return [f"{where}: pg_haproxy_local is false and only {routing[0]} routes to the cluster, so "
                "losing that host cuts every client off; add a second pg_proxy host routing to it "
                "(behind an NLB or DNS), set pg_haproxy_local: true, or, for a test bed only, set "
                "pg_proxy_allow_single: true on the cluster"]
    return []


def _port_clash_errors(hostvars, groups, clusters):
    """No two listeners on one HAProxy host share a port (services of every cluster, stats, health)."""
    etcd = list(groups.get(ETCD_GROUP) or ())
    found = {}
    proxies = haproxy.proxy_hosts(groups)
    for host in haproxy.haproxy_hosts(hostvars, groups):
        if host in proxies and _pg_cluster(hostvars, host) is not None:
            continue  # a proxy that is also a PostgreSQL node is reported above
        served = [name for name in haproxy.served_clusters(hostvars, groups, host)
                  if name in clusters and _ports_valid(hostvars, groups[name])]
        fallback = haproxy.fallback_ports(hostvars, host)
        plan = [{"name": name,
                 "services": [{"name": service, "port": port} for service, port in
                              haproxy.cluster_ports(hostvars, groups, name, fallback).items()]}
                for name in served]
        others = haproxy.host_ports(hostvars, host, haproxy.HAPROXY_PORTS)
        if _pg_cluster(hostvars, host) is not None:
            others.update(pgbouncer.node_ports(hostvars, host))
        if host in etcd:
            others.update(haproxy.host_ports(hostvars, host, haproxy.ETCD_MEMBER_PORTS))
        clashes = haproxy.port_clashes(plan, others)
        if not clashes:
            continue
        used = {as_int(s["port"]) for c in plan for s in c["services"]}
        used.update(as_int(port) for port in others.values())
        detail = "; ".join(f"port {port} is used by {' and '.join(names)}" for port, names in clashes)
        found.setdefault(detail, ([], set()))
        found[detail][0].append(host)
        found[detail][1].update(used)
    errors = []
    for detail, (hosts, used) in found.items():
        free = haproxy.free_port_block(used)
        plural = "" if len(hosts) == 1 else "s"
        errors.append(
            f"HAProxy on host{plural} {_hosts(hosts)}: {detail}; every cluster an HAProxy routes to "
            "needs its own ports: set pg_haproxy_ports in the vars of all but one of these clusters, "
            f"e.g. pg_haproxy_ports: {{primary: {free['primary']}, replica: {free['replica']}, "
            f"default: {free['default']}, offline: {free['offline']}}} (free here), or change the other "
            "setting named")
    return errors


def _nlb_router_port_errors(hostvars, groups, clusters):
    """With pg_nlb_targets: haproxy, every HAProxy host routing to the cluster listens on the same ports.

    A target group has one port per service; a host listening elsewhere would
    be registered on a port where nothing answers for the cluster.
    """
    errors = []
    for cluster in clusters:
        members = _members(hostvars, groups, cluster)
        if not members or _get(hostvars, members[0], "pg_nlb_targets") != "haproxy":
            continue
        if not _ports_valid(hostvars, members):
            continue  # reported by the pg_haproxy_ports check
        by_ports = {}
        for host, ports in haproxy.router_ports(hostvars, groups, cluster).items():
            by_ports.setdefault(tuple(ports.items()), []).append(host)
        if len(by_ports) > 1:
            detail = "; ".join(
                f"{', '.join(hosts)}: " + ", ".join(f"{name} {port}" for name, port in ports)
                for ports, hosts in by_ports.items())
            errors.append(f"cluster {cluster}: pg_nlb_targets is haproxy, but the HAProxy hosts routing to "
                          f"it listen on different ports for it ({detail}); an NLB target group has one "
                          "port per service: set pg_haproxy_ports on the cluster, or the same "
                          "haproxy_primary_port, haproxy_replica_port, haproxy_default_port and "
                          "haproxy_offline_port on every one of those hosts")
    return errors


# ---------------------------------------------------------------- backups (pgBackRest)

def _raw(hostvars, host, name):
    """A host variable as given; _MISSING when unset, _UNDEFINED when it refers to an undefined variable."""
    value = hostvars[host].get(name, _MISSING)
    if value is _MISSING:
        return value
    try:
        bool(value)
    except Exception:
        return _UNDEFINED
    return value


def _plain_data(value, path, undefined):
    """A copy of `value` made of plain dicts and lists.

    Ansible templates nested values lazily: a part that refers to an undefined
    variable raises when read. It becomes _UNDEFINED in the copy, and its path
    (pgbackrest_repo.s3.cipher_pass) is added to `undefined`.
    """
    if isinstance(value, dict):
        parts = [(key, f"{path}.{key}") for key in list(value)]
    elif isinstance(value, (list, tuple)):
        parts = [(index, f"{path}[{index}]") for index in range(len(value))]
    else:
        return value
    copy = {} if isinstance(value, dict) else []
    for key, where in parts:
        try:
            item = value[key]
            bool(item)
        except Exception:
            undefined.append(where)
            item = _UNDEFINED
        else:
            item = _plain_data(item, where, undefined)
        if isinstance(copy, dict):
            copy[key] = item
        else:
            copy.append(item)
    return copy


def _ansible_bool(value):
    """True/False as Ansible's bool filter reads a real boolean or a string; None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ANSIBLE_TRUE:
        return True
    if isinstance(value, str) and value.lower() in ANSIBLE_FALSE:
        return False
    return None


def _group_equal(hosts, value_of):
    """Ordered (value, [hosts]) by equality, for values that cannot be hashed (dicts, lists)."""
    grouped = []
    for host in hosts:
        value = value_of(host)
        for known, same in grouped:
            if known == value:
                same.append(host)
                break
        else:
            grouped.append((value, [host]))
    return grouped


def _backup_settings(hostvars, host, defaults):
    """The host's effective backup settings as plain data, and the paths that are undefined.

    {"method", "entry", "repos", "schedule"}: the value of each, _MISSING when
    neither the host nor `defaults` gives one. Only the entry pgbackrest_method
    picks is read (the role reads no other); `repos` keeps the other entries'
    names only, for messages.
    """
    undefined = []
    found = {}
    for name in PGBACKREST_VARS:
        raw = _raw(hostvars, host, name)
        if raw is _MISSING:
            found[name] = defaults.get(name, _MISSING)
        elif raw is _UNDEFINED:
            undefined.append(name)
            found[name] = _UNDEFINED
        elif name == "pgbackrest_repo":
            found[name] = raw
        else:
            found[name] = _plain_data(raw, name, undefined)
    method, repos = found["pgbackrest_method"], found["pgbackrest_repo"]
    entry = _MISSING
    if isinstance(repos, dict):
        if isinstance(method, str) and method in repos:
            try:
                entry = repos[method]
                bool(entry)
            except Exception:
                undefined.append(f"pgbackrest_repo.{method}")
                entry = _UNDEFINED
            else:
                entry = _plain_data(entry, f"pgbackrest_repo.{method}", undefined)
        repos = {key: entry if key == method else None for key in list(repos)}
    elif repos not in (_MISSING, _UNDEFINED):
        repos = _plain_data(repos, "pgbackrest_repo", undefined)
    return {"method": method, "entry": entry, "repos": repos,
            "schedule": found["pgbackrest_schedule"],
            "backup_standby": found["pgbackrest_backup_standby"]}, undefined


def _backup_enabled(hostvars, cluster, members):
    """(errors, enabled): whether the cluster backs up, or the messages why that is unclear."""
    raw = {host: _raw(hostvars, host, "pgbackrest_enabled") for host in members}
    flags = {host: PGBACKREST_ENABLED_DEFAULT if value is _MISSING else _ansible_bool(value)
             for host, value in raw.items() if value is not _UNDEFINED}
    errors = []
    undefined = [host for host in members if raw[host] is _UNDEFINED]
    if undefined:
        errors.append(f"{_where(cluster, undefined)}: pgbackrest_enabled refers to an undefined variable; "
                      "set it to true (back up the cluster with pgBackRest, the default) or false")
    for value, hosts in _group_equal([host for host in flags if flags[host] is None], raw.get):
        shown = "null" if value is None else _show(value)
        errors.append(f"{_where(cluster, hosts)}: pgbackrest_enabled {shown} is not a boolean; use "
                      "true (back up the cluster with pgBackRest, the default) or false (also yes/no, "
                      "on/off; Ansible would read any other value as false)")
    if errors:
        return errors, False
    on = [host for host in members if flags[host]]
    if on and len(on) < len(members):
        off = [host for host in members if not flags[host]]
        return [(f"{_where(cluster, members)}: pgbackrest_enabled differs between hosts of the cluster "
                 f"(true on {_hosts(on)}; false on {_hosts(off)}); the members archive WAL into one "
                 "stanza and any of them may become the primary, so set it once in the vars of "
                 f"group {cluster}")], False
    return [], bool(on)


def _spread(grouped):
    """'one value on a, b; another on c' for (value, hosts) groups."""
    return "; ".join(f"{'one value' if index == 0 else 'another'} on {_hosts(hosts)}"
                     for index, (_value, hosts) in enumerate(grouped))


def _backup_agreement_errors(cluster, members, settings):
    """The members share one stanza: the same method, repository entry and schedule on each."""
    errors = []
    once = f"set it once in the vars of group {cluster} (or for every cluster in group all)"
    hint = f"the members share one stanza and any of them may become the primary, so {once}"
    methods = _group_equal(members, lambda host: settings[host]["method"])
    if len(methods) > 1:
        detail = "; ".join(f"{'(unset)' if value is _MISSING else _show(value)} on {_hosts(hosts)}"
                           for value, hosts in methods)
        errors.append(f"{_where(cluster, members)}: pgbackrest_method differs between hosts of the cluster "
                      f"({detail}); {hint}")
        return errors
    entries = _group_equal(members, lambda host: settings[host]["entry"])
    if len(entries) > 1:
        # Secrets live in the entry: name the keys that differ, never a value.
        values = [value if isinstance(value, dict) else {} for value, _hosts_ in entries]
        keys = sorted({str(key) for value in values for key in value
                       if any(other.get(key, _MISSING) != value[key] for other in values)})
        which = f" in {', '.join(keys)}" if keys else ""
        errors.append(f"{_where(cluster, members)}: pgbackrest_repo.{_plain(methods[0][0])} differs between "
                      f"hosts of the cluster{which} ({_spread(entries)}; values not shown); {hint}")
    standby = _group_equal(members, lambda host: settings[host]["backup_standby"])
    if len(standby) > 1:
        errors.append(f"{_where(cluster, members)}: pgbackrest_backup_standby differs between hosts of the "
                      f"cluster ({_spread(standby)}); {hint}")
    schedules = _group_equal(members, lambda host: settings[host]["schedule"])
    if len(schedules) > 1:
        errors.append(f"{_where(cluster, members)}: pgbackrest_schedule differs between hosts of the cluster "
                      f"({_spread(schedules)}); the backups run on whichever member is the primary, so "
                      f"{once}")
    return errors


def _repository_host_errors(hostvars, groups, chosen):
    """A repository host must be one host of the inventory, not a member; backups from a standby need one."""
    problems = []
    entry = chosen["entry"]
    remote = isinstance(entry, dict) and isinstance(entry.get("host"), str)
    if remote:
        _host, problem = pgbackrest_hosts.resolve(hostvars, groups, entry["host"])
        if problem:
            problems.append(f"pgbackrest_repo.{chosen['method']}.host: {problem}")
    standby = chosen["backup_standby"]
    flag = False if standby is _MISSING else _ansible_bool(standby)
    if flag is None:
        problems.append(f"pgbackrest_backup_standby {_show(standby)} is not a boolean; use true or false")
    elif flag and not remote:
        problems.append(f"pgbackrest_backup_standby is on, but pgbackrest_repo.{chosen['method']} has no "
                        "host: a backup from a standby needs a repository host (it runs there, copies the "
                        "files from a standby and asks the primary only to start and stop the backup); set "
                        "host in the entry, or turn pgbackrest_backup_standby off")
    return problems


def _backup_errors(hostvars, groups, cluster, members, defaults):
    """Pigsty's pgbackrest_* variables, checked as the pgbackrest role will, before any host changes.

    Only for a cluster that backs up (pgbackrest_enabled, true when unset).
    `defaults` are the pgbackrest role's defaults; a variable that neither a
    host nor `defaults` sets is not checked.
    """
    if not members:
        return []
    errors, enabled = _backup_enabled(hostvars, cluster, members)
    if errors or not enabled:
        return errors
    settings = {}
    missing = {}
    for host in members:
        settings[host], undefined = _backup_settings(hostvars, host, defaults)
        for path in undefined:
            missing.setdefault(path, []).append(host)
    if missing:
        return [(f"{_where(cluster, hosts)}: {_plain(path)} refers to an undefined variable (is the vault "
                 "file loaded?); define it, and keep passphrases and keys in Ansible Vault")
                for path, hosts in missing.items()]
    errors = _backup_agreement_errors(cluster, members, settings)
    if errors:
        return errors
    where = _where(cluster, members)
    chosen = settings[members[0]]
    # The stanza is the cluster name; a name the cluster check refused is reported once, there.
    named = CLUSTER_NAME_RE.fullmatch(cluster) is not None
    problems = pgbackrest.stanza_errors(cluster) if named else []
    if _MISSING not in (chosen["method"], chosen["repos"]):
        # The hosts' pgBackRest release is not known yet: the role judges `block` against it.
        problems = problems + pgbackrest.repo_errors(chosen["method"], chosen["repos"],
                                                     cluster=cluster if named else "pg-cluster",
                                                     version=pgbackrest.ANY_VERSION)
    if chosen["schedule"] is not _MISSING:
        problems = problems + pgbackrest.schedule_errors(chosen["schedule"])
    problems = problems + _repository_host_errors(hostvars, groups, chosen)
    return [f"{where}: {_plain(problem)}" for problem in problems]


def _shared_repository_errors(hostvars, groups, clusters):
    """Clusters that keep their backups on one repository host share its [global]: the same entry on each."""
    by_host = {}
    for cluster in clusters:
        try:
            host = pgbackrest_hosts.repository_host(hostvars, groups, cluster)
        except pgbackrest.PgbackrestError:
            continue  # reported by the cluster's own backup check
        if host:
            by_host.setdefault(host, []).append(cluster)
    errors = []
    for host, names in sorted(by_host.items()):
        settings = {}
        for name in names:
            first = _members(hostvars, groups, name)[0]
            settings[name] = pgbackrest.storage_settings(
                haproxy.host_var(hostvars, first, "pgbackrest_method"),
                haproxy.host_var(hostvars, first, "pgbackrest_repo"))
        token = [name for name in names
                 if any(pgbackrest.CLUSTER_TOKEN in str(value) for value in settings[name].values())]
        if len(names) > 1 and token:
            errors.append(f"clusters {', '.join(names)} keep their backups on repository host {host}, and "
                          f"{', '.join(token)} use {pgbackrest.CLUSTER_TOKEN} in the repository entry, which "
                          "one repository shared by several clusters cannot honour; write the path out "
                          "(pgBackRest keeps each cluster's stanza apart under it)")
        grouped = _group_equal(names, settings.get)
        if len(grouped) > 1:
            keys = sorted({str(key) for value, _names in grouped for key in value
                           if any(other.get(key, _MISSING) != value[key] for other, _rest in grouped)}
                          | {str(key) for value, _names in grouped for other, _rest in grouped
                             for key in other if key not in value})
            errors.append(f"clusters {', '.join(names)} keep their backups on repository host {host}, but "
                          f"their repository entries differ in {', '.join(keys)} ({_spread(grouped)}; values "
                          "not shown); they share one repository there: give them the same entry")
    return errors


# ---------------------------------------------------------------- pgbouncer

# pgbouncer settings the role writes itself: pgbouncer_parameters may not set them.
PGBOUNCER_MANAGED = ("listen_addr", "listen_port", "unix_socket_dir", "syslog", "auth_type", "auth_hba_file",
                     "auth_file", "auth_user", "auth_query", "client_tls_sslmode", "client_tls_cert_file",
                     "client_tls_key_file", "client_tls_ca_file", "client_tls_protocols", "pool_mode",
                     "max_client_conn", "default_pool_size", "min_pool_size", "reserve_pool_size",
                     "reserve_pool_timeout", "max_db_connections", "max_user_connections", "server_lifetime",
                     "server_reset_query", "ignore_startup_parameters", "logfile", "pidfile", "user",
                     "admin_users", "stats_users")
_PGBOUNCER_SETTING_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _given(hostvars, cluster, members, name):
    """(value, where) for each value of `name` that hosts of the cluster set, hosts that agree together."""
    return [(value, _where(cluster, hosts)) for value, hosts in _by_value(hostvars, members, name)
            if value is not None]


def _pgbouncer_errors(hostvars, cluster, members):
    """Pigsty's pgbouncer settings: values pgbouncer takes, and no plaintext where pg_tls asks for TLS."""
    errors = []
    for value, hosts in _by_value(hostvars, members, "pgbouncer_enabled"):
        if haproxy.parse_bool(value, True) is None:
            errors.append(f"{_where(cluster, hosts)}: pgbouncer_enabled {_show(value)} is not true or false")
    for value, hosts in _by_value(hostvars, members, "pgbouncer_auth_query"):
        if haproxy.parse_bool(value, True) is None:
            errors.append(f"{_where(cluster, hosts)}: pgbouncer_auth_query {_show(value)} is not true or "
                          "false")
    for value, where in _given(hostvars, cluster, members, "pgbouncer_port"):
        if as_int(value) is None or not 1 <= as_int(value) <= 65535:
            errors.append(f"{where}: pgbouncer_port {_show(value)} is not a port number (1-65535); remove it "
                          "for Pigsty's 6432")
    for value, where in _given(hostvars, cluster, members, "pgbouncer_poolmode"):
        if str(value) not in pgbouncer.POOL_MODES:
            errors.append(f"{where}: pgbouncer_poolmode {_show(value)} is not one of "
                          f"{', '.join(pgbouncer.POOL_MODES)}")
    for value, where in _given(hostvars, cluster, members, "pgbouncer_ignore_param"):
        errors.extend(f"{where}: {problem}" for problem in pgbouncer.ignore_param_errors(value))
    modes = _group_hosts(members, lambda host: (str(_get(hostvars, host, "pg_tls") or "require"),
                                                _get(hostvars, host, "pgbouncer_sslmode")))
    for (tls, mode), hosts in modes:
        if mode is None:
            continue
        if str(mode) not in pgbouncer.SSL_MODES:
            errors.append(f"{_where(cluster, hosts)}: pgbouncer_sslmode {_show(mode)} is not one of "
                          f"{', '.join(pgbouncer.SSL_MODES)} (no client certificates are issued, so the "
                          "verify-* modes cannot be served)")
        elif tls == "require" and str(mode) in pgbouncer.PLAINTEXT_SSL_MODES:
            errors.append(f"{_where(cluster, hosts)}: pgbouncer_sslmode {mode} would let clients log in to "
                          "pgbouncer in plaintext while pg_tls: require asks them for TLS; remove "
                          "pgbouncer_sslmode (it follows pg_tls) or set pg_tls: prefer for the cluster")
    errors.extend(_pgbouncer_destination_errors(hostvars, cluster, members))
    errors.extend(_pgbouncer_parameter_errors(hostvars, cluster, members))
    errors.extend(_pgbouncer_off_errors(hostvars, cluster, members))
    return errors


def _pgbouncer_off_errors(hostvars, cluster, members):
    """pgbouncer options on users and databases of a cluster without pgbouncer: named, never ignored."""
    errors = []
    off = [host for host in members if pgbouncer.enabled(hostvars, host) is False]
    keys = {"pg_users": ("pgbouncer",), "pg_databases": tuple(pgbouncer.DATABASE_POOL_KEYS)}
    for name, options in keys.items():
        for value, hosts in _by_value(hostvars, off, name):
            if not isinstance(value, (list, tuple)):
                continue
            for number, item in enumerate(value, start=1):
                if not isinstance(item, dict):
                    continue
                given = [key for key in options if item.get(key) is not None
                         and not (key == "pgbouncer" and haproxy.parse_bool(item[key], None) is False)]
                if given:
                    errors.append(f"{_where(cluster, hosts)}: {name} item {number} ({item.get('name')}) has "
                                  f"{', '.join(given)}, but pgbouncer_enabled is not true for the cluster "
                                  "(pgbouncer is off by default here, unlike in Pigsty); set "
                                  "pgbouncer_enabled: true, or remove them")
    return errors


def _pgbouncer_destination_errors(hostvars, cluster, members):
    errors = []
    for value, where in _given(hostvars, cluster, members, "pg_default_service_dest"):
        if str(value) not in pgbouncer.DESTINATIONS:
            errors.append(f"{where}: pg_default_service_dest {_show(value)} is not pgbouncer or postgres")
        elif str(value) == "pgbouncer" and not pgbouncer.enabled(hostvars, members[0]):
            errors.append(f"{where}: pg_default_service_dest: pgbouncer, but pgbouncer_enabled is not true "
                          "for the cluster (pgbouncer is off by default here, unlike in Pigsty); set "
                          "pgbouncer_enabled: true, or pg_default_service_dest: postgres")
    return errors


def _pgbouncer_parameter_errors(hostvars, cluster, members):
    errors = []
    for value, where in _given(hostvars, cluster, members, "pgbouncer_parameters"):
        if not isinstance(value, dict):
            errors.append(f"{where}: pgbouncer_parameters {_show(value)} is not a mapping of setting names "
                          "to values")
            continue
        for name, setting in value.items():
            if not (isinstance(name, str) and _PGBOUNCER_SETTING_RE.fullmatch(name)):
                errors.append(f"{where}: pgbouncer_parameters has {_show(name)}, which is not a pgbouncer "
                              "setting name (lower-case letters, digits and _)")
            elif name in PGBOUNCER_MANAGED:
                errors.append(f"{where}: pgbouncer_parameters sets {name}, which the pgbouncer role writes "
                              "itself; use the role's variable (docs/pooling.md) or remove it")
            elif isinstance(setting, (dict, list)) or any(c in str(setting) for c in "\n\r#;") \
                    or str(setting) != str(setting).strip():
                errors.append(f"{where}: pgbouncer_parameters {name} must be one plain value (no newline, "
                              "# or ;, no surrounding spaces)")
    return errors


# ---------------------------------------------------------------- standby clusters

def _standby_errors(hostvars, groups, clusters):
    """Pigsty's pg_upstream (on a primary: a standby cluster) and pg_delay, and what such a cluster needs."""
    errors = []
    for cluster in clusters:
        members = _members(hostvars, groups, cluster)
        for host in members:
            where = _where(cluster, [host])
            value = _get(hostvars, host, "pg_upstream")
            delay = _get(hostvars, host, "pg_delay")
            port = _get(hostvars, host, "pg_upstream_port")
            if _is_blank(value):
                if delay not in (None, "", 0, "0"):
                    errors.append(f"{where}: pg_delay is set without pg_upstream; as in Pigsty, a delay "
                                  "applies to the leader of a standby cluster: set pg_upstream on that "
                                  "host, or remove pg_delay")
                if port is not None:
                    errors.append(f"{where}: pg_upstream_port is set without pg_upstream; remove it")
                continue
            if str(_get(hostvars, host, "pg_role") or "") != "primary":
                errors.append(f"{where}: pg_upstream on a host that is not the cluster's primary (Pigsty: "
                              "cascade from that instance) is not supported; set pg_upstream on the "
                              "primary to make the whole cluster a standby cluster, or remove it")
                continue
            problem = standby.address_problem(value)
            if problem:
                errors.append(f"{where}: {problem}")
            delay_problem = standby.delay_problem(delay) if delay is not None else None
            if delay_problem:
                errors.append(f"{where}: {delay_problem}")
            if port is not None and (as_int(port) is None or not 1 <= as_int(port) <= 65535):
                errors.append(f"{where}: pg_upstream_port {_show(port)} is not a port number "
                              f"(1-65535); remove it for {standby.DEFAULT_PORT}")
            if problem:
                continue
            if str(value) in standby.cluster_addresses(hostvars, groups, cluster):
                errors.append(f"{where}: pg_upstream {_show(value)} is an address of the cluster "
                              "itself; name the cluster to replicate from")
                continue
            proxies = haproxy.proxy_hosts(groups)
            if str(value) in proxies + cluster_utils.node_addresses(proxies, hostvars):
                errors.append(f"{where}: pg_upstream {_show(value)} is a pg_proxy host: the upstream would "
                              "see the proxy's address, which its pg_hba does not admit for replication; "
                              "name the upstream's VIP or one of its nodes (pg_upstream_port: 5436 for the "
                              "node's HAProxy)")
                continue
            errors.extend(_standby_cluster_errors(hostvars, groups, clusters, cluster, members))
    return errors


def _standby_cluster_errors(hostvars, groups, clusters, cluster, members):
    """What a standby cluster cannot do until promoted, and the logins it shares with its upstream."""
    errors = []
    where = _where(cluster, members)
    after = "after playbooks/promote.yml"
    entrypoints = _get(hostvars, members[0], "pg_entrypoints") or ["haproxy"]
    others = [str(e) for e in entrypoints if str(e) != "haproxy"] if isinstance(entrypoints, list) else []
    if others:
        errors.append(f"{where}: pg_entrypoints {', '.join(others)} on a standby cluster (pg_upstream) "
                      "are not supported: it has no primary to lead to until promoted; use [haproxy], "
                      f"and add the others {after}")
    _problems, backups = _backup_enabled(hostvars, cluster, members)
    if backups:
        errors.append(f"{where}: pgBackRest needs a primary, and a standby cluster (pg_upstream) has "
                      "none until promoted; set pgbackrest_enabled: false for it (Pigsty's default is "
                      f"true), and true {after}")
    if pgbouncer.enabled(hostvars, members[0]):
        errors.append(f"{where}: pgbouncer on a standby cluster (pg_upstream) is not supported yet (its "
                      "login function is made on a writable leader); set pgbouncer_enabled: false, "
                      f"and true {after}")
    upstream = standby.upstream_cluster(hostvars, groups, clusters, cluster)
    if upstream is None:
        return errors
    if standby.upstream(hostvars, groups, upstream) is not None:
        errors.append(f"{where}: pg_upstream reaches cluster {upstream}, which is itself a standby "
                      "cluster; replicate from a cluster with a primary")
    mine = standby.primary_host(hostvars, groups, cluster)
    theirs = standby.primary_host(hostvars, groups, upstream) or groups[upstream][0]
    differ = [name for name, default in standby.SHARED_LOGINS
              if (_get(hostvars, mine, name) or default) != (_get(hostvars, theirs, name) or default)]
    if differ:
        errors.append(f"{where}: {', '.join(differ)} differ from those of cluster {upstream}, which "
                      "pg_upstream reaches; a standby cluster's roles are its upstream's copies, so its "
                      "Patroni logs in with them: give both clusters the same values")
    return errors


# ---------------------------------------------------------------- entry point

IDENTITY_CHECKS = (_seq_errors, _role_errors)
SETTINGS_CHECKS = (_agreement_errors, _rto_errors, _rpo_errors, _version_errors, _tls_errors,
                   _username_errors, _client_network_errors, _pg_object_errors, _entrypoint_errors,
                   _aws_errors, _nlb_targets_errors, _password_errors, _optional_password_errors,
                   _rewind_errors, _observer_errors, _haproxy_setting_errors, _parameter_errors,
                   _alias_errors, _hba_errors, _library_errors, _extension_errors, _conf_errors,
                   _default_privilege_errors, _pgbouncer_errors)


def _errors(hostvars, groups, checks):
    clusters = _cluster_groups(hostvars, groups)
    errors = _membership_errors(hostvars, groups, clusters)
    for cluster in clusters:
        # Hosts whose pg_cluster points elsewhere were reported above; judge only members.
        members = _members(hostvars, groups, cluster)
        errors.extend(_name_errors(cluster, members))
        for check in checks:
            errors.extend(check(hostvars, cluster, members))
    return errors, clusters


def inventory_errors(hostvars, groups, defaults=None):
    """Return the list of inventory problems (empty when the inventory is valid).

    `defaults` holds role defaults the check applies to unset variables: the
    pgbackrest role's pgbackrest_method, pgbackrest_repo and
    pgbackrest_schedule (from roles/pgbackrest/defaults/main.yml, which the
    inventory_errors filter reads). Without them an unset one is not checked.
    """
    defaults = dict(defaults or {})
    errors, clusters = _errors(hostvars, groups, IDENTITY_CHECKS + SETTINGS_CHECKS)
    errors.extend(_address_errors(hostvars, groups, clusters))
    errors.extend(_etc_hosts_errors(hostvars, groups))
    for cluster in clusters:
        members = _members(hostvars, groups, cluster)
        errors.extend(_vip_enabled_errors(hostvars, cluster, members))
        errors.extend(_vip_errors(hostvars, groups, cluster, members))
        if members:
            errors.extend(_coverage_errors(hostvars, groups, cluster, members))
        errors.extend(_backup_errors(hostvars, groups, cluster, members, defaults))
    errors.extend(_shared_repository_errors(hostvars, groups, clusters))
    errors.extend(_vip_cluster_errors(hostvars, groups, clusters))
    errors.extend(_standby_errors(hostvars, groups, clusters))
    errors.extend(_etcd_errors(hostvars, groups, clusters))
    errors.extend(_proxy_errors(hostvars, groups, clusters))
    errors.extend(_port_clash_errors(hostvars, groups, clusters))
    errors.extend(_nlb_router_port_errors(hostvars, groups, clusters))
    errors.extend(_pigsty_errors(hostvars, groups))
    errors.extend(_package_errors(hostvars, groups))
    return errors


def identity_errors(hostvars, groups):
    """The problems with who each host is (no settings, secrets or etcd member count).

    What an inventory plugin can judge on its own: the variables and secrets
    from group_vars, and etcd members from other sources, are not known yet.
    """
    errors, _clusters = _errors(hostvars, groups, IDENTITY_CHECKS)
    errors.extend(_etcd_seq_errors(hostvars, list(groups.get(ETCD_GROUP) or ())))
    return errors
