#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: route53_role_records
short_description: Point role-aware Route53 names at the current leader and the streaming replicas
version_added: 0.3.0
description:
  - Keeps two names of a hosted zone in step with the live roles of a Patroni cluster
    (C(GET /cluster), or O(members)); C(<cluster>-primary.<zone>), a simple A record holding the
    running leader, and C(<cluster>-replica.<zone>), one multivalue answer A record per replica
    target (set identifier = member name).
  - Both names are changed in one atomic change batch each; record sets of those names that no
    member should hold any more are deleted.
  - When no member is a running leader the primary name is left as it is, and when no replica
    qualifies the replica name holds the leader (see O(replica_fallback_primary)); a name that
    disappears would be cached as NXDOMAIN by resolvers for the zone's negative TTL.
  - Route53 health checks are added only with O(health_checks), only for a public zone, and then on
    Patroni's REST port (C(/primary), C(/replica?lag=)); never a TCP check on the PostgreSQL
    port, which replicas pass too.
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
  cluster:
    description:
      - Cluster name; the default names are C(<cluster>-primary.<zone>) and C(<cluster>-replica.<zone>).
    type: str
    required: true
  zone:
    description: Hosted zone name, for example C(db.internal). Give this or O(zone_id).
    type: str
  zone_id:
    description: Hosted zone id. Give this or O(zone).
    type: str
  private_zone:
    description:
      - With O(zone), pick the private (V(true)) or public (V(false)) zone of that name, when both exist.
    type: bool
  primary_name:
    description: Full name of the primary record, instead of C(<cluster>-primary.<zone>).
    type: str
  replica_name:
    description: Full name of the replica records, instead of C(<cluster>-replica.<zone>).
    type: str
  ttl:
    description:
      - TTL of the records in seconds; clients see a new leader at the latest this long after the change.
    type: int
    default: 5
  replica_fallback_primary:
    description: When no replica qualifies, let the replica name hold the leader (reads still served).
    type: bool
    default: true
  health_checks:
    description:
      - Attach Route53 HTTPS health checks (Patroni serves HTTPS) on O(health_check_port) to the
        records. Only for a public zone with public member addresses; refused for a private zone (the
        checkers cannot reach it).
      - Health checks are created when missing and never deleted by this module.
    type: bool
    default: false
  health_check_port:
    description: Patroni REST port the health checks ask.
    type: int
    default: 8008
notes:
  - "Check mode: full support; computes the change batch and calls no write API."
  - "Diff mode: full support; before and after show the values of both names per set identifier."
  - "Idempotency: full; a second run against an unchanged cluster reports no change."
"""

EXAMPLES = r"""
- name: Role-aware names in the private zone of the VPC
  pgha.cloud.route53_role_records:
    cluster: pg-test
    zone: db.internal
    private_zone: true
    api_urls: [https://10.0.1.11:8008, https://10.0.2.11:8008, https://10.0.3.11:8008]
    ca_path: inventories/prod/.pki/ca.crt
    region: eu-west-1
"""

RETURN = r"""
names:
  description: The primary and replica names.
  returned: always
  type: dict
  sample: {primary: pg-test-primary.db.internal., replica: pg-test-replica.db.internal.}
records:
  description: Values per set identifier (C("") for the simple primary record) after the change.
  returned: always
  type: dict
  sample: {primary: {"": [10.0.1.11]}, replica: {pg-test-2: [10.0.2.11], pg-test-3: [10.0.3.11]}}
changes:
  description: The Route53 changes sent (in check mode, that would be sent), per name.
  returned: always
  type: dict
members:
  description: The members chosen for each name.
  returned: always
  type: dict
  sample: {primary: [{name: pg-test-1, ip: 10.0.1.11}], replica: [{name: pg-test-2, ip: 10.0.2.11}]}
zone_id:
  description: Id of the hosted zone.
  returned: always
  type: str
"""

from ansible_collections.pgha.cloud.plugins.module_utils.aws import (  # noqa: E402
    AwsError,
    cluster_from_module,
    hosted_zone,
    members_argument_spec,
    run_module,
    sync_role_records,
)
from ansible_collections.pgha.cloud.plugins.module_utils.entrypoints import (  # noqa: E402
    fqdn,
    role_record_names,
)


def run(module, aws):
    p = module.params
    if p["ttl"] < 0:
        raise AwsError(f"ttl={p['ttl']} must be >= 0 seconds")
    zone_id, zone_name, private = hosted_zone(aws, p["zone_id"], p["zone"], p["private_zone"])
    if p["health_checks"] and private:
        raise AwsError(
            f"health_checks is on but {zone_name} is a private zone: Route53 health checkers run "
            "outside the VPC and cannot reach private addresses; leave health_checks off (the "
            "records follow the roles through the role-change callback and the reconciler)"
        )
    names = role_record_names(p["cluster"], zone_name)
    for key in ("primary", "replica"):
        if p[f"{key}_name"]:
            names[key] = fqdn(p[f"{key}_name"])
    if names["primary"] == names["replica"]:
        raise AwsError(f"primary_name and replica_name are both {names['primary']}; give two different names")
    sync = sync_role_records(
        aws,
        zone_id,
        names,
        cluster_from_module(module),
        p["ttl"],
        p["replica_max_lag"],
        p["addresses"],
        p["replica_fallback_primary"],
        p["health_check_port"] if p["health_checks"] else None,
        module.check_mode,
    )
    result = dict(
        changed=sync["primary"]["changed"] or sync["replica"]["changed"],
        names=names,
        zone_id=zone_id,
        members=sync["members"],
        records={k: sync[k]["after"] for k in ("primary", "replica")},
        changes={k: sync[k]["changes"] for k in ("primary", "replica")},
    )
    result["diff"] = dict(
        before={names[k]: sync[k]["before"] for k in ("primary", "replica")},
        after={names[k]: sync[k]["after"] for k in ("primary", "replica")},
    )
    return result


def main():
    options = members_argument_spec()
    options.update(
        cluster=dict(type="str", required=True),
        zone=dict(type="str"),
        zone_id=dict(type="str"),
        private_zone=dict(type="bool"),
        primary_name=dict(type="str"),
        replica_name=dict(type="str"),
        ttl=dict(type="int", default=5),
        replica_fallback_primary=dict(type="bool", default=True),
        health_checks=dict(type="bool", default=False),
        health_check_port=dict(type="int", default=8008),
    )
    run_module(options, run, required_one_of=[["zone", "zone_id"]], mutually_exclusive=[["zone", "zone_id"]])


if __name__ == "__main__":
    main()
