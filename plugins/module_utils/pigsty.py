# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pigsty's inventory variables that pgha.cloud does not honour: refused, never ignored in silence.

Pigsty (pgsty/pigsty, v4.5) is the reference for inventory names. A variable
of the parts pgha.cloud deploys (node, etcd, pgsql, haproxy, vip) is either
read with Pigsty's meaning by a role, or listed in NOT_HONOURED below: set to
anything but a value that asks for what pgha.cloud does anyway, it is refused
by the preflight with a message that says what to do. Variables of the parts
pgha.cloud does not deploy at all (infra, monitoring, MinIO, Redis, apps) are
listed by OTHER_PARTS: they cannot change what is deployed, and the preflight
names the ones it found so that nobody expects them to act.

`markdown_table()` renders NOT_HONOURED for docs/from-pigsty.md; a unit test
(tests/unit/test_pigsty.py) keeps the page in step.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOC = "docs/from-pigsty.md"

# Values of Pigsty's booleans as an inventory may write them.
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")

# name -> (part, accepted values, what to do). An accepted value asks for what
# pgha.cloud does anyway; "false" also accepts no/off/0, "true" yes/on/1, "[]"
# an empty list, "{}" an empty mapping, "''" an empty string.
NOT_HONOURED = {
    # -- pgsql: identity, layout and packages
    "pg_mode": (
        "pgsql", ("pgsql",),
        "only plain PostgreSQL is deployed (no Citus, Babelfish, IvorySQL, PolarDB or MSSQL modes); "
        "remove pg_mode"),
    "pg_dbsu": (
        "pgsql", ("postgres",),
        "the database superuser is Debian's postgres account; remove pg_dbsu"),
    "pg_dbsu_uid": (
        "pgsql", (),
        "Debian's postgresql package creates the postgres account with its own uid; remove pg_dbsu_uid"),
    "pg_dbsu_sudo": (
        "pgsql", ("none",),
        "the postgres account gets no sudo rights here; remove pg_dbsu_sudo"),
    "pg_dbsu_home": (
        "pgsql", ("/var/lib/postgresql",),
        "the postgres account's home is Debian's /var/lib/postgresql; remove pg_dbsu_home"),
    "pg_dbsu_ssh_exchange": (
        "pgsql", ("false",),
        "SSH keys are not exchanged between members (pgBackRest needs none with its own repository per "
        "member or S3); remove pg_dbsu_ssh_exchange"),
    "pg_admin_username": (
        "pgsql", (),
        "the admin login is patroni_admin_username here (default dbadmin), and unlike Pigsty's dbuser_dba"
        " it is not a superuser; rename the variable"),
    "pg_bin_dir": (
        "pgsql", (),
        "binaries come from Debian's packages (/usr/lib/postgresql/<version>/bin); remove pg_bin_dir"),
    "pg_log_dir": (
        "pgsql", (),
        "PostgreSQL logs to Patroni's unit, that is to the journal (journalctl -u patroni); remove "
        "pg_log_dir"),
    "pg_packages": (
        "pgsql", (),
        "PostgreSQL comes from Debian's postgresql-<pg_version> packages; remove pg_packages"),
    "pg_data": (
        "pgsql", (),
        "the data directory is /var/lib/postgresql/<version>/<cluster> (postgres_data_dir); remove "
        "pg_data"),
    "pg_fs_main": (
        "pgsql", (),
        "the data lives under /var/lib/postgresql: mount your data disk there and remove pg_fs_main"),
    "pg_fs_backup": (
        "pgsql", (),
        "backups go where pgbackrest_repo says; remove pg_fs_backup"),
    "pg_dummy_filesize": (
        "pgsql", (),
        "no placeholder file is written; remove pg_dummy_filesize"),
    "pg_listen": (
        "pgsql", (),
        "PostgreSQL listens on the node's address and 127.0.0.1 (every address with the vip entry point);"
        " remove pg_listen"),
    "pg_port": (
        "pgsql", ("5432",),
        "PostgreSQL listens on 5432 here; remove pg_port"),
    "pg_localhost": (
        "pgsql", ("/var/run/postgresql",),
        "the socket directory is /var/run/postgresql; remove pg_localhost"),
    "pg_namespace": (
        "pgsql", (),
        "Patroni's DCS namespace is patroni_namespace here (default /service/); rename the variable"),
    "pg_etcd_password": (
        "pgsql", (),
        "each cluster's etcd password is derived from etcd_root_password here; remove pg_etcd_password"),
    "pg_primary_db": (
        "pgsql", ("postgres",),
        "remove pg_primary_db"),
    "pg_files": (
        "pgsql", ("[]",),
        "extra files are not copied into the data directory; remove pg_files"),
    "pg_io_method": (
        "pgsql", (),
        "set io_method in pg_parameters (PostgreSQL 18); remove pg_io_method"),
    "pg_rto_plan": (
        "pgsql", (),
        "Patroni's timings come from the pg_rto presets or patroni_ttl, patroni_loop_wait and "
        "patroni_retry_timeout; remove pg_rto_plan"),
    "pg_checksum": (
        "pgsql", ("true",),
        "data checksums are always on for a new cluster here; remove pg_checksum"),
    "pg_pwd_enc": (
        "pgsql", ("scram-sha-256",),
        "passwords are stored as scram-sha-256; remove pg_pwd_enc"),
    "pg_encoding": (
        "pgsql", (),
        "the encoding is patroni_initdb_encoding here (default UTF8); rename the variable"),
    "pg_locale": (
        "pgsql", (),
        "the locale is patroni_initdb_locale here (default C.UTF-8); rename the variable"),
    "pg_lc_collate": (
        "pgsql", (),
        "the locale is patroni_initdb_locale here (default C.UTF-8); remove pg_lc_collate"),
    "pg_lc_ctype": (
        "pgsql", (),
        "the locale is patroni_initdb_locale here (default C.UTF-8); remove pg_lc_ctype"),
    "pg_provision": (
        "pgsql", ("true",),
        "users and databases are always created; remove pg_provision"),
    "pg_init": (
        "pgsql", (),
        "no custom initialisation script is run; remove pg_init"),
    "pg_default_schemas": (
        "pgsql", ("[]",),
        "schemas are not managed yet; remove pg_default_schemas"),
    "pg_default_extensions": (
        "pgsql", ("[]",),
        "extensions are not managed yet; remove pg_default_extensions"),
    "pg_crontab": (
        "pgsql", ("[]",),
        "no crontab is written; backups are scheduled by pgbackrest_schedule; remove pg_crontab"),
    "pg_service_provider": (
        "pgsql", ("''",),
        "HAProxy runs on the cluster's nodes or on the pg_proxy group; remove pg_service_provider"),
    "pg_dns_suffix": (
        "pgsql", ("''",),
        "no DNS records are made (Route53: the route53 entry point); remove pg_dns_suffix"),
    "pg_dns_target": (
        "pgsql", (),
        "no DNS records are made (Route53: the route53 entry point); remove pg_dns_target"),
    "patroni_enabled": (
        "pgsql", ("true",),
        "Patroni always manages PostgreSQL here; remove patroni_enabled"),
    "patroni_mode": (
        "pgsql", ("default",),
        "Patroni always manages PostgreSQL here; remove patroni_mode"),
    "patroni_log_dir": (
        "pgsql", (),
        "Patroni logs to the journal; remove patroni_log_dir"),
    "pgbouncer_log_dir": (
        "pgsql", (),
        "pgbouncer logs to the journal (journalctl -u pgbouncer); remove pgbouncer_log_dir"),
    "pgb_hba_rules": (
        "pgsql", ("[]",),
        "pgbouncer's rules follow pg_users' pgbouncer flags, pgbouncer_auth_query and the addresses "
        "PostgreSQL admits (docs/pooling.md); remove pgb_hba_rules"),
    "pgb_default_hba_rules": (
        "pgsql", ("[]",),
        "pgbouncer's rules follow pg_users' pgbouncer flags, pgbouncer_auth_query and the addresses "
        "PostgreSQL admits (docs/pooling.md); remove pgb_default_hba_rules"),
    "cert_validity": (
        "pgsql", (),
        "certificate lifetimes are pki_cert_days and pki_ca_days here; rename the variable"),
    # -- node
    "node_id_from_pg": (
        "node", ("false",),
        "host names are left as they are; remove node_id_from_pg"),
    "nodename_overwrite": (
        "node", ("false",),
        "host names are left as they are; remove nodename_overwrite"),
    "nodename_exchange": (
        "node", ("false",),
        "host names are not written into /etc/hosts by name; list them in node_etc_hosts and remove "
        "nodename_exchange"),
    "node_dns_method": (
        "node", ("none",),
        "DNS resolvers are left as they are; remove node_dns_method"),
    "node_dns_servers": (
        "node", ("[]",),
        "DNS resolvers are left as they are; remove node_dns_servers"),
    "node_dns_options": (
        "node", ("[]",),
        "DNS resolvers are left as they are; remove node_dns_options"),
    "node_repo_modules": (
        "node", (),
        "packages come from the node's configured Debian repositories; remove node_repo_modules"),
    "node_repo_remove": (
        "node", ("false",),
        "the node's repositories are left as they are; remove node_repo_remove"),
    "node_uv_env": (
        "node", (),
        "no Python environment is made for users; remove node_uv_env"),
    "node_pip_packages": (
        "node", ("[]", "''"),
        "no pip packages are installed for users; remove node_pip_packages"),
    "node_selinux_mode": (
        "node", (),
        "SELinux is not managed (Debian); remove node_selinux_mode"),
    "node_firewall_mode": (
        "node", ("none",),
        "the firewall is the firewall role here (firewall_enabled, docs/security.md); remove "
        "node_firewall_mode"),
    "node_firewall_intranet": (
        "node", (),
        "networks that reach PostgreSQL are pg_client_networks here, the firewall's admin networks "
        "firewall_admin_networks; rename the variable"),
    "node_firewall_public_port": (
        "node", (),
        "the firewall is the firewall role here (firewall_allow); remove node_firewall_public_port"),
    "node_disable_numa": (
        "node", ("false",),
        "NUMA is left as it is; remove node_disable_numa"),
    "node_disable_swap": (
        "node", ("false",),
        "swap is left as it is (vm.swappiness is 1: node_sysctl); remove node_disable_swap"),
    "node_static_network": (
        "node", (),
        "the network configuration is left as it is; remove node_static_network"),
    "node_disk_prefetch": (
        "node", ("false",),
        "disk read-ahead is left as it is; remove node_disk_prefetch"),
    "node_kernel_modules": (
        "node", (),
        "kernel modules are left as they are; remove node_kernel_modules"),
    "node_hugepage_count": (
        "node", ("0",),
        "huge pages are not reserved; remove node_hugepage_count"),
    "node_hugepage_ratio": (
        "node", ("0",),
        "huge pages are not reserved; remove node_hugepage_ratio"),
    "node_overcommit_ratio": (
        "node", (),
        "kernel settings are node_sysctl here (vm.overcommit_ratio); rename the variable"),
    "node_tune": (
        "node", (),
        "no tuned profile is applied; kernel settings are node_sysctl here; remove node_tune"),
    "node_tuned_profile_dir": (
        "node", (),
        "no tuned profile is applied; remove node_tuned_profile_dir"),
    "node_sysctl_params": (
        "node", ("{}",),
        "kernel settings are node_sysctl here; rename the variable"),
    "node_data": (
        "node", (),
        "no data directory is made for users; remove node_data"),
    "node_admin_enabled": (
        "node", ("false",),
        "no admin OS user is made: Ansible uses the account you give it; remove node_admin_enabled"),
    "node_admin_uid": (
        "node", (),
        "no admin OS user is made; remove node_admin_uid"),
    "node_admin_username": (
        "node", (),
        "no admin OS user is made; remove node_admin_username"),
    "node_admin_sudo": (
        "node", (),
        "no admin OS user is made; remove node_admin_sudo"),
    "node_admin_ssh_exchange": (
        "node", ("false",),
        "no SSH keys are exchanged; remove node_admin_ssh_exchange"),
    "node_admin_pk_current": (
        "node", ("false",),
        "no SSH keys are installed; remove node_admin_pk_current"),
    "node_admin_pk_list": (
        "node", ("[]",),
        "no SSH keys are installed; remove node_admin_pk_list"),
    "node_aliases": (
        "node", ("{}",),
        "no shell aliases are written; remove node_aliases"),
    "node_ntp_enabled": (
        "node", (),
        "time synchronisation is left to the image (chrony or systemd-timesyncd); remove node_ntp_enabled"),
    "node_ntp_servers": (
        "node", (),
        "time synchronisation is left to the image; remove node_ntp_servers"),
    "node_crontab": (
        "node", ("[]",),
        "no crontab is written; remove node_crontab"),
    "node_crontab_overwrite": (
        "node", (),
        "no crontab is written; remove node_crontab_overwrite"),
    # -- vip (Pigsty's node VIP, keepalived for a node cluster; a PostgreSQL VIP is pg_vip_*)
    "vip_enabled": (
        "vip", ("false",),
        "a VIP for a node cluster is not supported; a PostgreSQL cluster's VIP is the vip entry point "
        "(pg_entrypoints: [haproxy, vip] and pg_vip_address); remove vip_enabled"),
    "vip_address": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_address"),
    "vip_vrid": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_vrid"),
    "vip_role": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_role"),
    "vip_preempt": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_preempt"),
    "vip_interface": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_interface"),
    "vip_dns_suffix": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_dns_suffix"),
    "vip_auth_pass": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_auth_pass"),
    "vip_exporter_port": (
        "vip", (),
        "a VIP for a node cluster is not supported; remove vip_exporter_port"),
    # -- etcd
    "etcd_cluster": (
        "etcd", ("etcd",),
        "the etcd group is named etcd here; remove etcd_cluster"),
    "etcd_port": (
        "etcd", ("2379",),
        "etcd's client port is etcd_client_port here (default 2379); rename the variable"),
    "etcd_data": (
        "etcd", (),
        "etcd's data directory is etcd_data_dir here; rename the variable"),
    "etcd_init": (
        "etcd", ("new",),
        "members join an existing cluster through etcd-member.yml here; remove etcd_init"),
    "etcd_learner": (
        "etcd", ("false",),
        "members join as voters through etcd-member.yml here; remove etcd_learner"),
    # -- haproxy
    "haproxy_enabled": (
        "haproxy", ("true",),
        "HAProxy placement is pg_haproxy_local and the pg_proxy group here; remove haproxy_enabled"),
    "haproxy_auth_enabled": (
        "haproxy", ("true",),
        "the stats page always asks for haproxy_admin_username and haproxy_admin_password; remove "
        "haproxy_auth_enabled"),
    "haproxy_services": (
        "haproxy", ("[]",),
        "custom HAProxy services are not supported; remove haproxy_services"),
}

# Pigsty's parts that pgha.cloud does not deploy: their variables cannot act here.
OTHER_PART_PREFIXES = (
    "infra_", "repo_", "nginx_", "dns_", "grafana_", "prometheus_", "alertmanager_", "blackbox_", "loki_",
    "vector_", "vmetrics_", "vlogs_", "vtraces_", "vmalert_", "promtail_", "minio_", "redis_", "docker_",
    "ferret_", "mongo_", "app_", "juice_", "pg_exporter", "pgbouncer_exporter", "pgbackrest_exporter",
    "node_exporter", "haproxy_exporter", "exporter_", "patroni_exporter", "etcd_exporter", "infra_portal",
)
OTHER_PART_NAMES = ("version", "admin_ip", "region", "proxy_env", "certbot_sign", "certbot_email", "apps",
                    "pg_exporters", "etcd_safeguard", "pg_safeguard", "haproxy_clean", "haproxy_reload",
                    "pg_reload", "node_cluster", "node_write_etc_hosts_exchange")


def _normal(value):
    """A value as the accepted lists spell it: true/false, a number as text, [] {} '' for empty ones."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return "''"
        if text.lower() in _TRUE:
            return "true"
        if text.lower() in _FALSE:
            return "false"
        return text
    if isinstance(value, (list, tuple)) and not value:
        return "[]"
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, (int, float)):
        return str(value)
    return None


def refusal(name, value):
    """The message for Pigsty's `name` set to `value`, or None when it is honoured or asks for nothing new."""
    entry = NOT_HONOURED.get(name)
    if entry is None or value is None:
        return None
    _part, accepted, hint = entry
    normal = _normal(value)
    if normal is not None and normal in accepted:
        return None
    return f"{name} is Pigsty's, and this collection does not honour it: {hint} (see {DOC})"


def is_other_part(name):
    """A variable of a Pigsty part that pgha.cloud does not deploy (monitoring, infra, MinIO, ...)."""
    return name in OTHER_PART_NAMES or name.startswith(OTHER_PART_PREFIXES)


def markdown_table():
    """NOT_HONOURED as the Markdown table of docs/from-pigsty.md."""
    lines = ["| variable | part | accepted as | what to do |", "|---|---|---|---|"]
    for name in sorted(NOT_HONOURED):
        part, accepted, hint = NOT_HONOURED[name]
        shown = ", ".join(f"`{value}`" for value in accepted) or "(no value)"
        lines.append(f"| `{name}` | {part} | {shown} | {hint} |")
    return "\n".join(lines)
