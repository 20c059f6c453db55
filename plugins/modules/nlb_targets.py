#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nlb_targets
short_description: Register in an NLB target group the members that hold its role right now
version_added: 0.3.0
description:
  - Reads the live roles of the cluster (C(GET /cluster) from Patroni, or O(members) as returned
    by M(pgha.cloud.patroni_cluster_info)) and makes the target group hold exactly the members
    of its service; registering the missing ones and deregistering the others.
  - "Primary service: the running leader only; never two targets. Stale targets are
    deregistered before the leader is registered. When no member is a running leader (in the middle
    of a failover) the group is left as it is: the new leader's role-change callback registers
    itself, and a demoted member deregisters itself."
  - "Replica service: members that replicate (streaming or running) with a known lag of at most
    O(replica_max_lag) bytes and without the C(noloadbalance) tag; the rule of Patroni's
    C(GET /replica?lag=) health check."
  - "With O(routers) the group holds exactly those addresses instead, the primary group included:
    HAProxy hosts in front of the cluster (the hybrid layout), each routing to the service's role
    by itself. Patroni is not asked, and nothing needs to change on a failover."
author:
  - pgha.cloud contributors (@pgha-cloud)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgha.cloud.attributes
  - pgha.cloud.aws
  - pgha.cloud.aws.region
  - pgha.cloud.members
  - pgha.cloud.patroni
options:
  target_group_arn:
    description: ARN of the target group. Give this or O(target_group_name).
    type: str
  target_group_name:
    description: Name of the target group. Give this or O(target_group_arn).
    type: str
  service:
    description: The service of the target group.
    type: str
    choices: [primary, replica]
    required: true
  port:
    description:
      - Port registered with each target; the PostgreSQL port (or the HAProxy port in the hybrid layout).
    type: int
    default: 5432
  routers:
    description:
      - IPv4 addresses of the HAProxy hosts to register (the hybrid layout), instead of the members
        that hold the role. Give the service's HAProxy port in O(port).
      - Mutually exclusive with O(members) and O(api_urls).
    type: list
    elements: str
    version_added: 0.3.0
notes:
  - "Check mode: full support; computes the targets to add and remove and calls no write API. A group
    named by O(target_group_name) that does not exist yet (created by the same dry run) counts as empty."
  - "Diff mode: full support; before and after list the targets as C(ip:port)."
  - "Idempotency: full; a second run against an unchanged cluster reports no change."
"""

EXAMPLES = r"""
- name: Primary target group holds the current leader
  pgha.cloud.nlb_targets:
    target_group_name: pg-test-primary
    service: primary
    api_urls: [https://10.0.1.11:8008, https://10.0.2.11:8008, https://10.0.3.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    region: eu-west-1

- name: Replica target group from a cluster state read earlier
  pgha.cloud.nlb_targets:
    target_group_arn: "{{ replica_tg.target_group.arn }}"
    service: replica
    members: "{{ pg_cluster_state.members }}"
    replica_max_lag: 16777216
    region: eu-west-1

- name: Hybrid layout, the NLB in front of the HAProxy tier
  pgha.cloud.nlb_targets:
    target_group_name: pg-test-primary
    service: primary
    routers: [10.0.1.21, 10.0.2.21]
    port: 5433
    region: eu-west-1
"""

RETURN = r"""
targets:
  description: Targets registered after the change (in check mode, as they would be), as C(ip:port).
  returned: always
  type: list
  elements: str
  sample: [10.0.2.11:5432]
added:
  description: Targets registered by this run.
  returned: always
  type: list
  elements: str
  sample: [10.0.2.11:5432]
removed:
  description: Targets deregistered by this run.
  returned: always
  type: list
  elements: str
  sample: [10.0.1.11:5432]
members:
  description: The members chosen for the service, with their IP addresses (with O(routers), each router
    named by its address).
  returned: always
  type: list
  elements: dict
  sample: [{name: pg-test-2, ip: 10.0.2.11}]
target_group_arn:
  description: ARN of the target group (null in check mode when the group does not exist yet).
  returned: always
  type: str
"""

import ipaddress  # noqa: E402

from ansible_collections.pgha.cloud.plugins.module_utils.aws import (  # noqa: E402
    AwsError,
    cluster_from_module,
    members_argument_spec,
    run_module,
    sync_targets,
    target_group_by_name,
)
from ansible_collections.pgha.cloud.plugins.module_utils.entrypoints import desired_members  # noqa: E402


def target_group_arn(module, aws):
    """ARN of the group; None in check mode when the group by that name is still to be created."""
    params = module.params
    if params["target_group_arn"]:
        return params["target_group_arn"]
    group = target_group_by_name(aws, params["target_group_name"])
    if group is None:
        if module.check_mode:
            return None
        raise AwsError(
            f"target group {params['target_group_name']} does not exist; create it with "
            "pgha.cloud.nlb_target_group first"
        )
    return group["TargetGroupArn"]


def chosen_targets(module):
    """[(name, ip)] to register: the HAProxy hosts given, or the members holding the role."""
    p = module.params
    if p["routers"] is not None:
        bad = [ip for ip in p["routers"] if not _is_ipv4(ip)]
        if bad:
            raise AwsError(f"routers: {', '.join(map(repr, bad))} {'is' if len(bad) == 1 else 'are'} not an "
                           "IPv4 address; give the HAProxy hosts' addresses (NLB targets of type ip)")
        return [(ip, ip) for ip in dict.fromkeys(p["routers"])]
    return desired_members(cluster_from_module(module), p["service"], p["replica_max_lag"], p["addresses"])


def _is_ipv4(value):
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def run(module, aws):
    p = module.params
    chosen = chosen_targets(module)
    arn = target_group_arn(module, aws)
    ips = [ip for _name, ip in chosen]
    if arn is None:  # check mode before the group exists: every target would be new
        desired = [f"{ip}:{p['port']}" for ip in ips]
        sync = dict(changed=bool(desired), before=[], after=desired, added=desired, removed=[])
    else:
        sync = sync_targets(aws, arn, ips, p["port"], p["service"], module.check_mode,
                            routers=p["routers"] is not None)
    return dict(
        changed=sync["changed"],
        targets=sync["after"],
        added=sync["added"],
        removed=sync["removed"],
        members=[dict(name=name, ip=ip) for name, ip in chosen],
        target_group_arn=arn,
        diff=dict(before="\n".join(sync["before"]) + "\n", after="\n".join(sync["after"]) + "\n"),
    )


def main():
    options = members_argument_spec()
    options.update(
        target_group_arn=dict(type="str"),
        target_group_name=dict(type="str"),
        service=dict(type="str", required=True, choices=["primary", "replica"]),
        port=dict(type="int", default=5432),
        routers=dict(type="list", elements="str"),
    )
    run_module(
        options,
        run,
        required_one_of=[["target_group_arn", "target_group_name"]],
        mutually_exclusive=[["target_group_arn", "target_group_name"], ["routers", "members"],
                            ["routers", "api_urls"]],
    )


if __name__ == "__main__":
    main()
