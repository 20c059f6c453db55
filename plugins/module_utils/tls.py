# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names a node's certificate must carry, and the pg_hba rules that go with TLS.

A client that checks the server's name (`sslmode=verify-full`) compares the
name or address it dialled with the certificate of the server it reaches. Through
HAProxy that server is the cluster's primary, whichever member it is, while the
client dialled an HAProxy host, the VIP or a Route53 name: so every member's
certificate carries every name a client of its cluster can use.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os

from ansible_collections.pgha.cloud.plugins.module_utils import cluster as cluster_utils
from ansible_collections.pgha.cloud.plugins.module_utils import entrypoints, haproxy


def pki_dir(inventory_sources):
    """The deployment's CA directory: `.pki/` beside the first inventory source (-i).

    One CA per deployment, whichever source a host comes from; a directory
    source holds it, a file source has it next to it. Hidden, because Ansible
    reads every other file of an inventory directory as an inventory source
    (and would warn about ca.crt and ca.key on every run).
    """
    sources = list(inventory_sources or [])
    if not sources:
        raise ValueError("no inventory source: run with -i INVENTORY, or set pki_dir")
    first = str(sources[0])
    return os.path.join(first if os.path.isdir(first) else os.path.dirname(first), ".pki")


def controller_ca(variables, inventory_sources):
    """The CA certificate on the controller that the REST API's certificates are checked against.

    `variables` are a host's inventory variables (`hostvars[host]`): its
    `pki_ca_cert` when set, else `ca.crt` in its `pki_dir`, else in the default
    directory beside the first inventory source. The pki role's defaults, for
    the plays on the controller, which do not run that role.
    """
    variables = variables or {}
    ca_cert = variables.get("pki_ca_cert")
    if ca_cert:
        return str(ca_cert)
    directory = variables.get("pki_dir")
    return os.path.join(str(directory) if directory else pki_dir(inventory_sources), "ca.crt")


def _ip(text):
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def _add(out, value):
    """Append `IP:x` or `DNS:x` for `value` once; blank values are skipped."""
    text = str(value or "").strip()
    if not text:
        return
    entry = f"IP:{_ip(text)}" if _ip(text) else f"DNS:{text}"
    if entry not in out:
        out.append(entry)


def _vip(hostvars, host):
    value = haproxy.host_var(hostvars, host, "pg_vip_address")
    if not value:
        return None
    return str(value).split("/", 1)[0]


def subject_alt_names(hostvars, groups, host):
    """`["IP:10.0.1.11", "DNS:pg-test-1", ...]`: every name clients and peers use to reach `host`.

    The host's own address and inventory name, loopback; as a cluster member,
    its instance name, every member's and every HAProxy host's address, the VIP
    and the Route53 role names; as an etcd member, `etcd-<seq>`; then the
    host's `pki_extra_sans` (an NLB's DNS name, say).
    """
    out = []
    (address,) = cluster_utils.node_addresses([host], hostvars)
    _add(out, address)
    _add(out, host)
    _add(out, "localhost")
    _add(out, "127.0.0.1")
    name = haproxy.host_var(hostvars, host, "pg_cluster")
    if name:
        seq = haproxy.host_var(hostvars, host, "pg_seq")
        if seq is not None:
            _add(out, f"{name}-{seq}")
        members = sorted(groups.get(str(name), []))
        for member in cluster_utils.node_addresses(members, hostvars):
            _add(out, member)
        proxies = haproxy.haproxy_hosts(hostvars, groups, str(name))
        for proxy in cluster_utils.node_addresses(proxies, hostvars):
            _add(out, proxy)
        wanted = haproxy.host_var(hostvars, host, "pg_entrypoints") or []
        if "vip" in wanted:
            _add(out, _vip(hostvars, host))
        zone = haproxy.host_var(hostvars, host, "entrypoint_aws_zone_name")
        if "route53" in wanted and zone:
            for record in entrypoints.role_record_names(str(name), str(zone)).values():
                _add(out, record.rstrip("."))
    if host in groups.get(haproxy.ETCD_GROUP, []):
        seq = haproxy.host_var(hostvars, host, "etcd_seq")
        if seq is not None:
            _add(out, f"etcd-{seq}")
    for extra in haproxy.host_var(hostvars, host, "pki_extra_sans") or []:
        _add(out, extra)
    return out
