#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nlb_target_group
short_description: Ensure the NLB target group of one PostgreSQL service (primary or replica)
version_added: 0.3.0
description:
  - Creates or updates a TCP target group with IP targets for the primary or the replica service of a
    Patroni cluster, with an HTTPS health check on the Patroni REST port (C(/primary), or
    C(/replica?lag=<bytes>)) at the fastest timings AWS allows for a Network Load Balancer.
  - Sets the attributes a database entry point needs and C(community.aws.elb_target_group) does not
    cover in full; deregistration delay 0 with termination of the connections of a deregistered
    target (C(deregistration_delay.connection_termination.enabled)), and termination of the
    connections of a target that turns unhealthy
    (C(target_health_state.unhealthy.connection_termination.enabled)).
  - Targets are not managed here; M(pgha.cloud.nlb_targets) registers the members by their live role.
author:
  - pgha.cloud contributors (@pgha-cloud)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgha.cloud.attributes
  - pgha.cloud.aws
  - pgha.cloud.aws.region
options:
  name:
    description: Target group name (at most 32 characters, letters, digits and hyphens).
    type: str
    required: true
  service:
    description:
      - Which service the group carries; it picks the health check path.
    type: str
    choices: [primary, replica]
    required: true
  state:
    description: V(absent) deletes the group (it must not be used by a listener any more).
    type: str
    choices: [present, absent]
    default: present
  vpc_id:
    description: VPC of the cluster's nodes. Required to create the group.
    type: str
  port:
    description:
      - Port the traffic goes to; the PostgreSQL port, or the HAProxy service port when the NLB fronts an
        HAProxy tier.
    type: int
    default: 5432
  health_check_port:
    description: Port of the health check; the Patroni REST port.
    type: int
    default: 8008
  health_check_protocol:
    description:
      - Protocol of the health check. V(HTTPS) for Patroni's REST API, which serves HTTPS (the NLB does
        not check the certificate); V(HTTP) for HAProxy's health endpoint in the hybrid layout.
      - Changing it on an existing group is done in place.
    type: str
    choices: [HTTP, HTTPS]
    default: HTTPS
    version_added: 0.4.0
  health_check_path:
    description:
      - Path of the health check. Defaults to C(/primary) for the primary service and
        C(/replica?lag=<replica_max_lag>) for the replica service.
    type: str
  replica_max_lag:
    description: Bytes of replication lag above which a replica fails the replica health check.
    type: int
    default: 1048576
  health_check_interval:
    description: Seconds between health checks (AWS allows 5 to 300 for a Network Load Balancer).
    type: int
    default: 5
  health_check_timeout:
    description: Seconds before a health check fails for want of an answer (2 to 120).
    type: int
    default: 2
  healthy_threshold:
    description: Successive passed checks that make a target healthy (2 to 10).
    type: int
    default: 2
  unhealthy_threshold:
    description: Successive failed checks that make a target unhealthy (2 to 10).
    type: int
    default: 2
  deregistration_delay:
    description: Seconds a deregistered target keeps its connections (0 to 3600).
    type: int
    default: 0
notes:
  - "Check mode: full support; reports what would be created or changed and calls no write API."
  - "Diff mode: full support; before and after show the health check settings and attributes."
  - "Idempotency: full; a second run reports no change."
  - Protocol, port, VPC and target type of an existing group cannot change (AWS refuses it);
    the module fails and says so instead of replacing a group a listener may use.
  - moto (the AWS emulation the tests use) stores any attribute key without checking it, so the
    tests show that the attributes are set and kept, not that AWS accepts them; the keys are
    those AWS documents for Network Load Balancer target groups.
"""

EXAMPLES = r"""
- name: Target group of the primary service
  pgha.cloud.nlb_target_group:
    name: pg-test-primary
    service: primary
    vpc_id: vpc-0123456789abcdef0
    region: eu-west-1
  register: primary_tg

- name: Target group of the replica service, replicas at most 16 MiB behind
  pgha.cloud.nlb_target_group:
    name: pg-test-replica
    service: replica
    vpc_id: vpc-0123456789abcdef0
    replica_max_lag: 16777216
    region: eu-west-1
"""

RETURN = r"""
target_group:
  description: The target group as it is (in check mode, as it would be); null when absent.
  returned: always
  type: dict
  contains:
    arn:
      description: ARN of the group (null in check mode before it exists).
      type: str
      sample: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/pg-test-primary/0123456789abcdef
    name:
      description: Name of the group.
      type: str
      sample: pg-test-primary
    settings:
      description: Protocol, port, VPC, target type and health check settings, with AWS's key names.
      type: dict
      sample: {Protocol: TCP, Port: 5432, HealthCheckPath: /primary, HealthCheckIntervalSeconds: 5}
    attributes:
      description: The attributes this module manages, with their values.
      type: dict
      sample: {"deregistration_delay.timeout_seconds": "0"}
"""

from ansible_collections.pgha.cloud.plugins.module_utils.aws import (  # noqa: E402
    AwsError,
    run_module,
    target_group_attributes,
    target_group_by_name,
)
from ansible_collections.pgha.cloud.plugins.module_utils.entrypoints import DEFAULT_REPLICA_MAX_LAG  # noqa: E402

# AWS limits for Network Load Balancer target groups: option -> (low, high).
LIMITS = dict(
    health_check_interval=(5, 300),
    health_check_timeout=(2, 120),
    healthy_threshold=(2, 10),
    unhealthy_threshold=(2, 10),
    deregistration_delay=(0, 3600),
    port=(1, 65535),
    health_check_port=(1, 65535),
)
IMMUTABLE = ("Protocol", "Port", "VpcId", "TargetType")


def option_errors(p):
    errors = []
    for key, (low, high) in LIMITS.items():
        if not low <= p[key] <= high:
            errors.append(f"{key}={p[key]} is outside what AWS allows ({low} to {high})")
    if p["health_check_timeout"] >= p["health_check_interval"]:
        errors.append(
            f"health_check_timeout={p['health_check_timeout']} must be shorter than "
            f"health_check_interval={p['health_check_interval']}"
        )
    if p["replica_max_lag"] < 0:
        errors.append(f"replica_max_lag={p['replica_max_lag']} must be >= 0 (bytes)")
    if len(p["name"]) > 32:
        errors.append(f"name {p['name']!r} is longer than the 32 characters AWS allows")
    return errors


def desired_settings(p):
    path = p["health_check_path"]
    if not path:
        path = "/primary" if p["service"] == "primary" else f"/replica?lag={p['replica_max_lag']}"
    return dict(
        Protocol="TCP",
        Port=p["port"],
        VpcId=p["vpc_id"],
        TargetType="ip",
        HealthCheckEnabled=True,
        HealthCheckProtocol=p["health_check_protocol"],
        HealthCheckPort=str(p["health_check_port"]),
        HealthCheckPath=path,
        HealthCheckIntervalSeconds=p["health_check_interval"],
        HealthCheckTimeoutSeconds=p["health_check_timeout"],
        HealthyThresholdCount=p["healthy_threshold"],
        UnhealthyThresholdCount=p["unhealthy_threshold"],
        Matcher={"HttpCode": "200"},
    )


def desired_attributes(p):
    return {
        "deregistration_delay.timeout_seconds": str(p["deregistration_delay"]),
        "deregistration_delay.connection_termination.enabled": "true",
        "target_health_state.unhealthy.connection_termination.enabled": "true",
    }


def current_settings(group):
    return {
        k: group.get(k)
        for k in (
            "Protocol",
            "Port",
            "VpcId",
            "TargetType",
            "HealthCheckEnabled",
            "HealthCheckProtocol",
            "HealthCheckPort",
            "HealthCheckPath",
            "HealthCheckIntervalSeconds",
            "HealthCheckTimeoutSeconds",
            "HealthyThresholdCount",
            "UnhealthyThresholdCount",
            "Matcher",
        )
    }


def view(arn, name, settings, attributes):
    return dict(arn=arn, name=name, settings=settings, attributes=attributes)


def absent(module, aws, group):
    p = module.params
    result = dict(
        changed=group is not None,
        target_group=None,
        diff=dict(
            before=view(group["TargetGroupArn"], p["name"], current_settings(group), {}) if group else {},
            after={},
        ),
    )
    if group and not module.check_mode:
        aws.call("elbv2", "delete_target_group", TargetGroupArn=group["TargetGroupArn"])
    return result


def run(module, aws):
    p = module.params
    group = target_group_by_name(aws, p["name"])
    if p["state"] == "absent":
        return absent(module, aws, group)
    errors = option_errors(p)
    if errors:
        raise AwsError("invalid target group settings: " + "; ".join(errors))
    if group is None and not p["vpc_id"]:
        raise AwsError(
            f"target group {p['name']} does not exist and vpc_id is not given; give the VPC of the nodes"
        )
    if group is not None and not p["vpc_id"]:
        p["vpc_id"] = group["VpcId"]
    want, want_attrs = desired_settings(p), desired_attributes(p)

    if group is None:
        result = dict(changed=True, diff=dict(before={}, after=view(None, p["name"], want, want_attrs)))
        arn = None
        if not module.check_mode:
            arn = aws.call("elbv2", "create_target_group", Name=p["name"], **want)["TargetGroups"][0][
                "TargetGroupArn"
            ]
            aws.call(
                "elbv2",
                "modify_target_group_attributes",
                TargetGroupArn=arn,
                Attributes=[{"Key": k, "Value": v} for k, v in want_attrs.items()],
            )
        result["target_group"] = view(arn, p["name"], want, want_attrs)
        return result

    arn, have = group["TargetGroupArn"], current_settings(group)
    fixed = [f"{k} {have[k]} -> {want[k]}" for k in IMMUTABLE if str(have[k]) != str(want[k])]
    if fixed:
        raise AwsError(
            f"target group {p['name']} exists with other {', '.join(k for k in IMMUTABLE)} values "
            f"({'; '.join(fixed)}), which AWS cannot change; delete it (state=absent, after removing "
            "it from its listener) or use another name"
        )
    all_attrs = target_group_attributes(aws, arn)
    have_attrs = {k: all_attrs.get(k) for k in want_attrs}
    modify = {k: v for k, v in want.items() if k not in IMMUTABLE and have[k] != v}
    attrs = {k: v for k, v in want_attrs.items() if have_attrs[k] != v}
    if not module.check_mode:
        if modify:
            aws.call("elbv2", "modify_target_group", TargetGroupArn=arn, **modify)
        if attrs:
            aws.call(
                "elbv2",
                "modify_target_group_attributes",
                TargetGroupArn=arn,
                Attributes=[{"Key": k, "Value": v} for k, v in attrs.items()],
            )
    return dict(
        changed=bool(modify or attrs),
        target_group=view(arn, p["name"], want, want_attrs),
        diff=dict(
            before=view(arn, p["name"], have, have_attrs), after=view(arn, p["name"], want, want_attrs)
        ),
    )


def main():
    run_module(
        dict(
            name=dict(type="str", required=True),
            service=dict(type="str", required=True, choices=["primary", "replica"]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            vpc_id=dict(type="str"),
            port=dict(type="int", default=5432),
            health_check_port=dict(type="int", default=8008),
            health_check_protocol=dict(type="str", choices=["HTTP", "HTTPS"], default="HTTPS"),
            health_check_path=dict(type="str"),
            replica_max_lag=dict(type="int", default=DEFAULT_REPLICA_MAX_LAG),
            health_check_interval=dict(type="int", default=5),
            health_check_timeout=dict(type="int", default=2),
            healthy_threshold=dict(type="int", default=2),
            unhealthy_threshold=dict(type="int", default=2),
            deregistration_delay=dict(type="int", default=0),
        ),
        run,
    )


if __name__ == "__main__":
    main()
