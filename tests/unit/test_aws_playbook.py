"""tests/playbooks/aws_entrypoints.yml with real ansible-playbook runs against moto and a fake Patroni:
community.aws.elb_network_lb and the collection's modules together, first and second run."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from conftest import MEMBER_IPS, MOTO_REGION

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "tests" / "playbooks" / "aws_entrypoints.yml"
BIN = Path(sys.executable).parent
IPS = MEMBER_IPS


@pytest.fixture
def fake(fake_with_ips):
    return fake_with_ips


def client(moto, service):
    return boto3.client(service, region_name=MOTO_REGION, endpoint_url=moto)


@pytest.fixture
def extra_vars(moto, fake):
    ec2 = client(moto, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{MOTO_REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"), (3, "c"))
    ]
    zone = (
        client(moto, "route53")
        .create_hosted_zone(
            Name="db.internal.",
            CallerReference="z",
            HostedZoneConfig={"PrivateZone": True},
            VPC={"VPCRegion": MOTO_REGION, "VPCId": vpc},
        )["HostedZone"]["Id"]
        .split("/")[-1]
    )
    return dict(aws_endpoint_url=moto, vpc_id=vpc, subnets=subnets, zone_id=zone, patroni_urls=fake.urls)


def play(extra_vars, playbook=PLAYBOOK, inventory=("-i", "localhost,", "-c", "local"), options=()):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    proc = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            *inventory,
            *options,
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            json.dumps(extra_vars),
            str(playbook),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    recaps = re.findall(r"\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    assert proc.returncode == 0 and recaps, proc.stdout[-3000:] + proc.stderr[-2000:]
    return sum(int(changed) for _ok, changed, _unreachable, _failed in recaps)


def state(moto):
    elb = client(moto, "elbv2")
    lb = elb.describe_load_balancers(Names=["pg-test"])["LoadBalancers"][0]
    groups = {g["TargetGroupName"]: g["TargetGroupArn"] for g in elb.describe_target_groups()["TargetGroups"]}
    listeners = {
        lst["Port"]: lst["DefaultActions"][0]["TargetGroupArn"]
        for lst in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    }
    targets = {
        name: sorted(
            t["Target"]["Id"]
            for t in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        )
        for name, arn in groups.items()
    }
    zone = client(moto, "route53").list_hosted_zones()["HostedZones"][0]["Id"]
    records = {}
    for r in client(moto, "route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]:
        if r["Type"] == "A":
            records.setdefault(r["Name"], []).extend(v["Value"] for v in r["ResourceRecords"])
    return dict(
        scheme=lb["Scheme"],
        listeners={p: groups_name(groups, a) for p, a in listeners.items()},
        targets=targets,
        records={k: sorted(v) for k, v in records.items()},
    )


def groups_name(groups, arn):
    return next(name for name, a in groups.items() if a == arn)


def test_entry_points_deploy_and_a_second_run_changes_nothing(moto, fake, extra_vars):
    assert play(extra_vars) > 0
    s = state(moto)
    assert s["scheme"] == "internal"
    assert s["listeners"] == {5433: "pg-test-primary", 5434: "pg-test-replica"}
    assert s["targets"] == {"pg-test-primary": [IPS["pg-1"]], "pg-test-replica": [IPS["pg-2"], IPS["pg-3"]]}
    assert s["records"] == {
        "pg-test-primary.db.internal.": [IPS["pg-1"]],
        "pg-test-replica.db.internal.": [IPS["pg-2"], IPS["pg-3"]],
    }

    # A second run changes nothing; following a failover is covered module by module
    # (test_aws_modules.py) and by the role-change script (test_aws_role_change.py).
    assert play(extra_vars) == 0
    assert fake.writes() == []  # Patroni is only read


def test_hybrid_layout_puts_the_haproxy_hosts_behind_the_nlb(moto, extra_vars):
    """pg_nlb_targets: haproxy through the role: groups on the cluster's HAProxy ports, checked on
    HAProxy's health endpoint, holding both pg_proxy hosts; a second run changes nothing."""
    hybrid = dict(entrypoint_aws_endpoint_url=moto, entrypoint_aws_vpc_id=extra_vars["vpc_id"],
                  entrypoint_aws_subnets=extra_vars["subnets"])
    inventory = ("-i", str(ROOT / "tests" / "inventories" / "hybrid.yml"))
    playbook = ROOT / "tests" / "playbooks" / "aws_hybrid.yml"
    assert play(hybrid, playbook, inventory) > 0
    elb = client(moto, "elbv2")
    groups = {g["TargetGroupName"]: g for g in elb.describe_target_groups()["TargetGroups"]}
    assert {name: (g["Port"], g["HealthCheckPort"], g["HealthCheckPath"]) for name, g in groups.items()} == {
        "pg-test-primary": (6433, "9102", "/pg-test/primary"),
        "pg-test-replica": (6434, "9102", "/pg-test/replica"),
    }
    for name, port in (("pg-test-primary", 6433), ("pg-test-replica", 6434)):
        health = elb.describe_target_health(TargetGroupArn=groups[name]["TargetGroupArn"])
        targets = sorted((t["Target"]["Id"], t["Target"]["Port"]) for t in health["TargetHealthDescriptions"])
        assert targets == [("10.0.1.21", port), ("10.0.2.21", port)]
    assert play(hybrid, playbook, inventory) == 0

    # Drift: a proxy deregistered by hand. playbooks/entrypoints.yml finds the groups by name;
    # --check reports the drift and changes nothing, a real run puts the proxy back.
    primary = groups["pg-test-primary"]["TargetGroupArn"]
    elb.deregister_targets(TargetGroupArn=primary, Targets=[{"Id": "10.0.1.21", "Port": 6433}])
    reconcile = ROOT / "playbooks" / "entrypoints.yml"
    assert play(hybrid, reconcile, inventory, ("--check",)) > 0
    assert len(elb.describe_target_health(TargetGroupArn=primary)["TargetHealthDescriptions"]) == 1
    assert play(hybrid, reconcile, inventory) > 0
    health = elb.describe_target_health(TargetGroupArn=primary)["TargetHealthDescriptions"]
    assert sorted(t["Target"]["Id"] for t in health) == ["10.0.1.21", "10.0.2.21"]
    assert play(hybrid, reconcile, inventory) == 0
