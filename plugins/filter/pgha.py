# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters shared by the roles and playbooks; the logic lives in module_utils."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import os

import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.pgha.cloud.plugins.module_utils import (
    cluster,
    entrypoints,
    haproxy,
    hba,
    inventory_check,
    patroni_core,
    pg_conf,
    pg_objects,
    pg_settings,
    pgbackrest,
    pgbackrest_hosts,
    pgbouncer,
    presets,
    standby,
    tls,
    vip,
)


def rto_plan(name=None, ttl=None, loop_wait=None, retry_timeout=None):
    """`pg_rto | pgha.cloud.rto_plan` -> the preset's timings (with overrides)."""
    return presets.rto_plan(name, {"ttl": ttl, "loop_wait": loop_wait, "retry_timeout": retry_timeout})


# The pgbackrest role's defaults, in the collection's own tree (plugins/filter -> roles):
# the one place they are written; the inventory check applies them to unset variables.
_COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGBACKREST_DEFAULTS = os.path.join(_COLLECTION, "roles", "pgbackrest", "defaults", "main.yml")


@functools.lru_cache(maxsize=1)
def _pgbackrest_defaults():
    try:
        with open(PGBACKREST_DEFAULTS, encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleFilterError(f"cannot read the pgbackrest role's defaults {PGBACKREST_DEFAULTS}: {exc}; "
                                 "is the collection installed whole?") from exc
    return {name: values[name] for name in inventory_check.PGBACKREST_VARS if name in values}


def inventory_errors(hostvars, groups):
    """`hostvars | pgha.cloud.inventory_errors(groups)` -> list of error strings."""
    return inventory_check.inventory_errors(hostvars, groups, defaults=_pgbackrest_defaults())


def vip_vrid(cluster_name, vrid=None):
    """`pg_cluster | pgha.cloud.vip_vrid(pg_vip_vrid | default(none))` -> VRRP id, given or derived."""
    try:
        return vip.effective_vrid(cluster_name, vrid)
    except ValueError as exc:
        raise AnsibleFilterError(f"{exc}; use a whole number from {vip.VRID_MIN} to {vip.VRID_MAX}") from exc


def vip_address(value):
    """`pg_vip_address | pgha.cloud.vip_address` -> '10.0.1.100/24', checked and normalised."""
    try:
        return str(vip.parse_vip(value))
    except ValueError as exc:
        raise AnsibleFilterError(f"pg_vip_address {value!r} {exc}") from exc


def vip_interface(facts, address):
    """`ansible_facts | pgha.cloud.vip_interface(node_address)` -> device holding it, '' if none."""
    return vip.interface_of(facts or {}, address) or ""


def haproxy_default_clusters(hostvars, groups, host):
    """`hostvars | pgha.cloud.haproxy_default_clusters(groups, inventory_hostname)`: the role default."""
    return haproxy.default_clusters(hostvars, groups, host)


def haproxy_served_clusters(hostvars, groups, host):
    """`hostvars | pgha.cloud.haproxy_served_clusters(groups, host)`: an inventory haproxy_clusters wins."""
    return haproxy.served_clusters(hostvars, groups, host)


def haproxy_hosts(hostvars, groups, cluster_name=None):
    """`hostvars | pgha.cloud.haproxy_hosts(groups[, cluster])`: hosts running HAProxy (for a cluster)."""
    return haproxy.haproxy_hosts(hostvars, groups, cluster_name)


def haproxy_instances(hostvars, groups, clusters):
    """`hostvars | pgha.cloud.haproxy_instances(groups, clusters)`: [{host, cluster}] pairs."""
    return haproxy.haproxy_instances(hostvars, groups, clusters)


def haproxy_cluster_ports(cluster_name, hostvars, groups, fallback=None):
    """`'pg-test' | pgha.cloud.haproxy_cluster_ports(hostvars, groups)`: {service: port} of the cluster.

    Without `fallback`, the ports the HAProxy hosts routing to the cluster
    listen on (the inventory check makes them agree where an NLB targets them).
    """
    if fallback is None:
        routed = list(haproxy.router_ports(hostvars, groups, cluster_name).values())
        if routed:
            return routed[0]
    # A partial fallback ({primary: 6000}) keeps the defaults for the other services.
    return haproxy.cluster_ports(hostvars, groups, cluster_name, fallback)


def haproxy_plan(clusters, hostvars, groups, fallback, leaving_hosts=(), replica_max_lag=1048576,
                 pg_port=5432):
    """`haproxy_clusters | pgha.cloud.haproxy_plan(hostvars, groups, ports, ...)`: haproxy.cfg.j2's input."""
    return haproxy.haproxy_plan(clusters, hostvars, groups, fallback, leaving_hosts, replica_max_lag, pg_port)


def pg_conf_settings(hostvars, hosts, conf=None, data_dir="/var/lib/postgresql", version=None, libraries=None,
                     max_conn=None, ratio=None, storage=None, pooled=False):
    """`hostvars | pgha.cloud.pg_conf_settings(hosts, conf=pg_conf, ...)`: {parameters, ...} or {}."""
    facts = {host: dict(hostvars[host].get("ansible_facts") or {}) for host in hosts}
    try:
        return pg_conf.settings(conf, facts, data_dir, version, libraries or (), max_conn, ratio, storage,
                                pooled)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def standby_hosts(hostvars, groups, cluster):
    """`hostvars | pgha.cloud.standby_hosts(groups, cluster)`: hosts of standby clusters fed by `cluster`."""
    return standby.downstream_hosts(hostvars, groups, cluster)


def standby_cluster(hostvars, groups, cluster):
    """`hostvars | pgha.cloud.standby_cluster(groups, cluster)`: Patroni's standby_cluster, or None."""
    return standby.standby_config(hostvars, groups, cluster)


def haproxy_port_clashes(plan, other_ports):
    """`plan | pgha.cloud.haproxy_port_clashes({label: port})`: one message per port used twice."""
    return [f"port {port} is used by {' and '.join(names)}"
            for port, names in haproxy.port_clashes(plan, other_ports)]


def pgbackrest_conf(repos, method, stanza, pg_data, pg_port=5432, socket_path="/var/run/postgresql",
                    log_dir="/var/log/pgbackrest", version=None, extra=None, tls=None, address=None,
                    repo_host_cn=None):
    """`pgbackrest_repo | pgha.cloud.pgbackrest_conf(method, cluster, data_dir, ...)`: the file text.

    `extra` holds [global] options the role sets itself (spool path, async archiving, ...);
    `tls`, `address` and `repo_host_cn` are for a repository host (see conf_sections).
    """
    try:
        conf = pgbackrest.conf_sections(stanza, method, repos, pg_data, pg_port=pg_port,
                                        socket_path=socket_path, log_dir=log_dir, version=version, tls=tls,
                                        address=address, repo_host_cn=repo_host_cn)
    except pgbackrest.PgbackrestError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return _render_with_extra(conf, extra)


def _render_with_extra(conf, extra):
    name, options = conf["sections"][0]
    conf["sections"][0] = (name, options + [(key, str(value)) for key, value in (extra or {}).items()])
    return pgbackrest.render_conf(conf)


def pgbackrest_repository_conf(hostvars, groups, host, address, tls, log_dir="/var/log/pgbackrest",
                               version=None, extra=None):
    """`hostvars | pgha.cloud.pgbackrest_repository_conf(groups, host, address, tls, ...)`: its file.

    Every cluster whose repository entry names `host`, with its members (the
    pgbackrest role's fact pgbackrest_member on each), as pgbackrest.conf text.
    """
    try:
        clusters = pgbackrest_hosts.repository_input(hostvars, groups, host)
        conf = pgbackrest.repository_sections(clusters, address, tls, log_dir=log_dir, version=version)
    except pgbackrest.PgbackrestError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return _render_with_extra(conf, extra)


def pgbackrest_repository_host(cluster, hostvars, groups):
    """`cluster | pgha.cloud.pgbackrest_repository_host(hostvars, groups)`: its repository host, or None."""
    try:
        return pgbackrest_hosts.repository_host(hostvars, groups, cluster)
    except pgbackrest.PgbackrestError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def pgbackrest_repository_clusters(host, hostvars, groups):
    """`host | pgha.cloud.pgbackrest_repository_clusters(hostvars, groups)`: the clusters it keeps."""
    return pgbackrest_hosts.repository_clusters(hostvars, groups, host)


def pgbackrest_repository_schedules(host, hostvars, groups, default=()):
    """`host | pgha.cloud.pgbackrest_repository_schedules(hostvars, groups, default)`: its backup timers."""
    return pgbackrest_hosts.repository_schedules(hostvars, groups, host, default)


def pgbackrest_target_errors(info, target_type, target=None, backup_set=None):
    """`info | pgha.cloud.pgbackrest_target_errors(type, value)`: why a restore target is out of reach.

    `info` is what pgha.cloud.pgbackrest_info returned for the stanza.
    """
    wanted = {"type": target_type}
    if target not in (None, ""):
        wanted["value"] = target
    errors = pgbackrest.restore_target_errors(info, wanted)
    if backup_set and backup_set not in [b.get("label") for b in info.get("backups") or []]:
        errors.append(f"backup set {backup_set} is not in stanza {info.get('stanza')}'s repository "
                      f"(it holds: {', '.join(b.get('label') for b in info.get('backups') or []) or 'none'})")
    return errors


def pgbackrest_restore_options(target_type, target=None, backup_set=None):
    """`type | pgha.cloud.pgbackrest_restore_options(value, set)`: pgbackrest restore's target options."""
    wanted = {"type": target_type}
    if target not in (None, ""):
        wanted["value"] = target
    return pgbackrest.restore_options(wanted, backup_set)


def hba_custom_lines(rules, users, reserved, pg_role, cluster_addresses=(), infra_addresses=(),
                     tls="require", offline_query=False):
    """The pg_hba lines of Pigsty-shaped rules that apply on this instance (hba.render)."""
    lines, _covered = hba.render(rules, users, reserved, pg_role,
                                 {"cluster": cluster_addresses, "infra": infra_addresses}, tls, offline_query)
    return lines


def pgbouncer_config(users, databases, pg_port, admin_user, auth_query, sources, tls):
    """What the pgbouncer role writes: pooled databases, user pool settings, auth_query, hba lines."""
    return pgbouncer.config(users, databases, pg_port, admin_user, auth_query, sources, tls)


def _clear_errors(func):
    """A ValueError of module_utils (its message names the variable and the fix) as a filter error."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ValueError as exc:
            raise AnsibleFilterError(str(exc)) from exc
    return wrapper


# Every filter goes through _clear_errors: a ValueError becomes a filter error.
class FilterModule(object):
    def filters(self):
        return {name: _clear_errors(func) for name, func in self._filters().items()}

    @staticmethod
    def _filters():
        return {
            "rto_plan": rto_plan,
            "rpo_settings": presets.rpo_settings,
            "inventory_errors": inventory_errors,
            "pigsty_other_parts": inventory_check.pigsty_other_parts,
            "pg_user_options": pg_objects.user_options,
            "pg_database_options": pg_objects.database_options,
            "pg_database_schemas": pg_objects.database_schemas,
            "pg_database_extensions": pg_objects.database_extensions,
            "node_addresses": cluster.node_addresses,
            "hosts_with_address": cluster.hosts_with_address,
            "api_urls": cluster.api_urls,
            "etcd_urls": cluster.etcd_urls,
            "non_members": cluster.non_members,
            "cluster_request": cluster.cluster_request,
            "sync_candidates": cluster.sync_candidates,
            "restart_plan": cluster.restart_plan,
            "standby_floor_decreases": cluster.standby_floor_decreases,
            "haproxy_routes": cluster.haproxy_routes,
            "etcd_initial_cluster": cluster.etcd_initial_cluster,
            "hba_rules": cluster.hba_rules,
            "pg_ident_lines": cluster.pg_ident_lines,
            "hba_custom_lines": hba_custom_lines,
            "pg_library_parameters": pg_settings.library_parameters,
            "pg_extension_packages": pg_settings.extension_packages,
            "pg_conf_settings": pg_conf_settings,
            "pg_default_privilege_statements": pg_objects.default_privilege_statements,
            "pg_default_objects": pg_objects.default_objects,
            "hba_notes": inventory_check.hba_notes,
            "config_patch": patroni_core.config_patch,
            "member_line": cluster.member_line,
            "patroni_callbacks": entrypoints.patroni_callbacks,
            "entrypoints_followed": entrypoints.follows_roles,
            "vip_vrid": vip_vrid,
            "vip_address": vip_address,
            "vip_interface": vip_interface,
            "haproxy_default_clusters": haproxy_default_clusters,
            "haproxy_served_clusters": haproxy_served_clusters,
            "haproxy_hosts": haproxy_hosts,
            "haproxy_instances": haproxy_instances,
            "haproxy_cluster_ports": haproxy_cluster_ports,
            "haproxy_plan": haproxy_plan,
            "haproxy_port_clashes": haproxy_port_clashes,
            "tls_subject_alt_names": tls.subject_alt_names,
            "pki_dir": tls.pki_dir,
            "controller_ca": tls.controller_ca,
            "etcd_user": cluster.etcd_user,
            "etcd_password": cluster.etcd_password,
            "pgbackrest_conf": pgbackrest_conf,
            "pgbackrest_repository_conf": pgbackrest_repository_conf,
            "pgbackrest_repository_host": pgbackrest_repository_host,
            "pgbackrest_repository_clusters": pgbackrest_repository_clusters,
            "pgbackrest_repository_schedules": pgbackrest_repository_schedules,
            "pgbackrest_archive_command": pgbackrest.archive_command,
            "pgbackrest_restore_command": pgbackrest.restore_command,
            "pgbackrest_target_errors": pgbackrest_target_errors,
            "pgbackrest_restore_options": pgbackrest_restore_options,
            "pgbackrest_clone_errors": pgbackrest.clone_errors,
            "pgbackrest_clone_stanza_command": pgbackrest.clone_stanza_command,
            "pgbouncer_config": pgbouncer_config,
            "pgbouncer_auth_sql": pgbouncer.auth_function_sql,
            "standby_hosts": standby_hosts,
            "standby_cluster": standby_cluster,
        }
