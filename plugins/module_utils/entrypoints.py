# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which members a cloud entry point should send traffic to, and what to change to get there.

Pure logic (standard library and patroni_core only): the NLB and Route53
modules use it on the controller, and the role-change script uses it on the
nodes, where Ansible is not installed (the entrypoint_aws role installs
patroni_core.py beside it). Input is the JSON of Patroni's GET /cluster; what
the roles and states mean is patroni_core's.

The rules mirror Patroni's own health endpoints, so that registration and the
NLB health checks agree:
- primary: the member with the leader key, only while it is running (GET /primary).
  A standby_leader (standby cluster) is read-only and never a primary target.
- replica: members replicating (streaming or running) with a known lag within
  the bound, without the noloadbalance tag (GET /replica?lag=<bytes>).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.pgha.cloud.plugins.module_utils.patroni_core import (
    HEALTHY_REPLICA_STATES,
    REPLICA_ROLES,
    lag_of,
    members_of,
    running_primaries,
)

SERVICES = ("primary", "replica")
DEFAULT_REPLICA_MAX_LAG = 1048576
DEFAULT_TTL = 5
# Entry points that follow a role change through Patroni's callbacks, and the
# command Patroni runs for them (installed by the entrypoint_aws role).
CALLBACK_ENTRYPOINTS = ("nlb", "route53")
CALLBACK_COMMAND = "/usr/local/sbin/pgha-entrypoint-callback"
CALLBACK_ACTIONS = ("on_role_change", "on_stop")


class EntrypointError(Exception):
    """Input the entry points cannot follow; the message names the member or field and the fix."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


# pg_nlb_targets: the members holding each role (followed by the callback), or
# the HAProxy hosts routing to the cluster (the hybrid layout: HAProxy follows).
NLB_TARGETS = ("members", "haproxy")


def follows_roles(entrypoints, nlb_targets="members"):
    """Entry points of a cluster that the callback and the reconciler keep in step with the roles."""
    wanted = [name for name in CALLBACK_ENTRYPOINTS if name in set(entrypoints or ())]
    if (nlb_targets or "members") == "haproxy":
        wanted = [name for name in wanted if name != "nlb"]
    return wanted


def patroni_callbacks(entrypoints, nlb_targets="members"):
    """Patroni `postgresql.callbacks` for a cluster's pg_entrypoints: the AWS ones need the script,
    except an NLB in front of HAProxy, whose targets do not change on a failover."""
    if not follows_roles(entrypoints, nlb_targets):
        return {}
    return {action: CALLBACK_COMMAND for action in CALLBACK_ACTIONS}


def _truthy(value):
    return value is True or str(value).lower() in ("true", "yes", "on", "1")


def member_address(member, addresses=None):
    """The IP address of `member`: from `addresses` (name -> IP) if given there, else its Patroni host."""
    name = member.get("name")
    value = (addresses or {}).get(name) or member.get("host")
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise EntrypointError(
            f"member {name} has address {value!r}, which is not an IP address; NLB IP targets and A "
            f"records need one: map it in addresses ({name}: <ip>) or make Patroni's "
            "postgresql.connect_address an IP"
        ) from None


def is_replica_target(member, max_lag=DEFAULT_REPLICA_MAX_LAG):
    if member.get("role") not in REPLICA_ROLES or member.get("state") not in HEALTHY_REPLICA_STATES:
        return False
    if _truthy((member.get("tags") or {}).get("noloadbalance")):
        return False
    lag = lag_of(member)
    return lag is not None and (max_lag is None or lag <= max_lag)


def desired_members(cluster, service, max_lag=DEFAULT_REPLICA_MAX_LAG, addresses=None):
    """[(name, ip)] the `service` entry point should reach, sorted by name.

    primary: exactly the running leader, or nobody; never two (two members
    claiming the leader role is refused: picking one could send writes to a
    node that is no longer primary).
    """
    if service not in SERVICES:
        raise EntrypointError(f"service {service!r} is not one of {', '.join(SERVICES)}")
    if service == "primary":
        chosen = running_primaries(cluster)
        if len(chosen) > 1:
            names = ", ".join(sorted(str(m.get("name")) for m in chosen))
            raise EntrypointError(
                f"more than one member reports the leader role ({names}); refusing to "
                "pick a primary target: check the cluster with patronictl list"
            )
    else:
        chosen = [m for m in members_of(cluster) if is_replica_target(m, max_lag)]
    return sorted((str(m.get("name")), member_address(m, addresses)) for m in chosen)


def replica_record_members(cluster, max_lag=DEFAULT_REPLICA_MAX_LAG, addresses=None, fallback_primary=True):
    """Members the replica DNS name should hold: the replica targets, or the leader when there is none
    and `fallback_primary` (reads stay served, and the name never turns into a cached NXDOMAIN)."""
    pairs = desired_members(cluster, "replica", max_lag, addresses)
    if not pairs and fallback_primary:
        pairs = desired_members(cluster, "primary", max_lag, addresses)
    return pairs


def target_changes(desired, current):
    """(to_add, to_remove), both sorted, turning the set `current` into `desired`."""
    desired, current = set(desired), set(current)
    return sorted(desired - current), sorted(current - desired)


# -- Route53 record sets (pure) ------------------------------------------------
def fqdn(name):
    """Route53 form of a DNS name: lower case, one trailing dot."""
    return str(name).strip().rstrip(".").lower() + "."


def role_record_names(cluster_name, zone_name):
    """The default names: <cluster>-primary.<zone> and <cluster>-replica.<zone>."""
    zone = fqdn(zone_name)
    return {"primary": f"{cluster_name}-primary.{zone}", "replica": f"{cluster_name}-replica.{zone}"}


def primary_record(name, ip, ttl=DEFAULT_TTL, health_check_id=None):
    rrset = {"Name": fqdn(name), "Type": "A", "TTL": int(ttl), "ResourceRecords": [{"Value": ip}]}
    if health_check_id:
        rrset["HealthCheckId"] = health_check_id
    return rrset


def replica_record(name, identifier, ip, ttl=DEFAULT_TTL, health_check_id=None):
    rrset = primary_record(name, ip, ttl, health_check_id)
    rrset.update(SetIdentifier=identifier, MultiValueAnswer=True)
    return rrset


def _comparable(rrset):
    """The fields of a record set this collection manages, in a form that compares equal when they match."""
    return (
        fqdn(rrset.get("Name", "")),
        rrset.get("Type"),
        rrset.get("SetIdentifier"),
        bool(rrset.get("MultiValueAnswer")),
        rrset.get("TTL"),
        tuple(sorted(r.get("Value") for r in rrset.get("ResourceRecords") or [])),
        rrset.get("HealthCheckId"),
    )


def record_changes(current, desired, keep_when_empty=False):
    """Route53 Changes turning the A record sets of one name (`current`) into `desired`.

    Sets are matched by SetIdentifier (None for a simple record). Deletions come
    first: one name cannot hold a simple record and multivalue records at once.
    With `keep_when_empty` and nothing desired, nothing changes: a deleted name
    would be cached as NXDOMAIN by resolvers for the zone's negative TTL.
    """
    if not desired and keep_when_empty:
        return []
    want = {r.get("SetIdentifier"): r for r in desired}
    have = {r.get("SetIdentifier"): r for r in current}
    deletes = [
        {"Action": "DELETE", "ResourceRecordSet": have[k]} for k in sorted(have, key=str) if k not in want
    ]
    upserts = [
        {"Action": "UPSERT", "ResourceRecordSet": want[k]}
        for k in sorted(want, key=str)
        if k not in have or _comparable(have[k]) != _comparable(want[k])
    ]
    return deletes + upserts


def record_values(rrsets):
    """{set identifier or '' : [values]} for diff output."""
    return {
        str(r.get("SetIdentifier") or ""): sorted(v.get("Value") for v in r.get("ResourceRecords") or [])
        for r in rrsets
    }


def apply_record_changes(current, changes):
    """The record sets of a name after `changes` (for check mode and diff)."""
    out = {r.get("SetIdentifier"): r for r in current}
    for change in changes:
        rrset = change["ResourceRecordSet"]
        if change["Action"] == "DELETE":
            out.pop(rrset.get("SetIdentifier"), None)
        else:
            out[rrset.get("SetIdentifier")] = rrset
    return [out[k] for k in sorted(out, key=str)]
