"""The NLB and Route53 modules against moto in server mode (real HTTP), and Patroni faked over HTTP."""

import boto3
import pytest
from conftest import MEMBER_IPS, MOTO_REGION, free_port
from module_runner import run_module

from ansible_collections.pgha.cloud.plugins.module_utils import aws as awslib
from ansible_collections.pgha.cloud.plugins.module_utils import patroni_core
from ansible_collections.pgha.cloud.plugins.modules import nlb_target_group, nlb_targets, route53_role_records

IPS = MEMBER_IPS


def members(leader="pg-1", **states):
    """Patroni /cluster members with `leader` running as leader and the others streaming."""
    out = []
    for name, ip in IPS.items():
        m = {"name": name, "host": ip, "port": 5432, "role": "replica", "state": "streaming", "lag": 0}
        if name == leader:
            m.update(role="leader", state="running")
            m.pop("lag")
        m.update(states.get(name, {}))
        out.append(m)
    return out


@pytest.fixture
def conn(moto):
    return {"region": MOTO_REGION, "endpoint_url": moto}


@pytest.fixture
def boto(moto):
    def client(service):
        return boto3.client(service, region_name=MOTO_REGION, endpoint_url=moto)

    return client


@pytest.fixture
def vpc(boto):
    return boto("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


def tg_args(conn, vpc, **kw):
    args = dict(conn, name="pg-test-primary", service="primary", vpc_id=vpc)
    args.update(kw)
    return args


def make_group(conn, vpc, name, service):
    res = run_module(nlb_target_group, tg_args(conn, vpc, name=name, service=service))
    assert res["changed"] is True, res
    return res["target_group"]["arn"]


def registered(boto, arn):
    health = boto("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return sorted(f"{t['Target']['Id']}:{t['Target']['Port']}" for t in health)


# -- nlb_target_group ------------------------------------------------------------------
def test_target_group_created_with_patroni_health_check_and_attributes(conn, vpc, boto):
    res = run_module(nlb_target_group, tg_args(conn, vpc), diff=True)
    assert res["changed"] is True, res
    arn = res["target_group"]["arn"]
    group = boto("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert (group["Protocol"], group["Port"], group["TargetType"]) == ("TCP", 5432, "ip")
    assert (group["HealthCheckProtocol"], group["HealthCheckPort"], group["HealthCheckPath"]) == (
        "HTTPS",
        "8008",
        "/primary",
    )
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (5, 2)
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (2, 2)
    attrs = {
        a["Key"]: a["Value"]
        for a in boto("elbv2").describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    assert attrs["deregistration_delay.timeout_seconds"] == "0"
    assert attrs["deregistration_delay.connection_termination.enabled"] == "true"
    assert attrs["target_health_state.unhealthy.connection_termination.enabled"] == "true"
    assert res["diff"]["before"] == {}
    assert res["diff"]["after"]["settings"]["HealthCheckPath"] == "/primary"


def test_health_check_protocol_changes_in_place(conn, vpc, boto):
    # A group made before the REST API served HTTPS (or for HAProxy's HTTP health endpoint).
    res = run_module(nlb_target_group, tg_args(conn, vpc, health_check_protocol="HTTP"))
    arn = res["target_group"]["arn"]
    res = run_module(nlb_target_group, tg_args(conn, vpc), diff=True)
    assert res["changed"] is True and res["target_group"]["arn"] == arn
    assert res["diff"]["before"]["settings"]["HealthCheckProtocol"] == "HTTP"
    group = boto("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert group["HealthCheckProtocol"] == "HTTPS"


def test_target_group_second_run_changes_nothing(conn, vpc):
    run_module(nlb_target_group, tg_args(conn, vpc))
    res = run_module(nlb_target_group, tg_args(conn, vpc), diff=True)
    assert res["changed"] is False, res
    assert res["diff"]["before"] == res["diff"]["after"]


def test_target_group_check_mode_creates_nothing(conn, vpc, boto):
    res = run_module(nlb_target_group, tg_args(conn, vpc), check=True)
    assert res["changed"] is True and res["target_group"]["arn"] is None
    assert boto("elbv2").describe_target_groups()["TargetGroups"] == []


def test_replica_group_path_and_an_update_with_diff(conn, vpc, boto):
    args = tg_args(conn, vpc, name="pg-test-replica", service="replica", replica_max_lag=1000)
    arn = run_module(nlb_target_group, args)["target_group"]["arn"]
    args["replica_max_lag"] = 2000
    checked = run_module(nlb_target_group, args, check=True, diff=True)
    assert checked["changed"] is True
    group = boto("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert group["HealthCheckPath"] == "/replica?lag=1000"  # check mode left it
    res = run_module(nlb_target_group, args, diff=True)
    assert res["changed"] is True
    assert res["diff"]["before"]["settings"]["HealthCheckPath"] == "/replica?lag=1000"
    assert res["diff"]["after"]["settings"]["HealthCheckPath"] == "/replica?lag=2000"
    group = boto("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert group["HealthCheckPath"] == "/replica?lag=2000"


def test_an_attribute_changed_behind_our_back_is_put_back(conn, vpc, boto):
    arn = run_module(nlb_target_group, tg_args(conn, vpc))["target_group"]["arn"]
    boto("elbv2").modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}]
    )
    res = run_module(nlb_target_group, tg_args(conn, vpc), diff=True)
    assert res["changed"] is True
    assert res["diff"]["before"]["attributes"]["deregistration_delay.timeout_seconds"] == "300"
    assert run_module(nlb_target_group, tg_args(conn, vpc))["changed"] is False


@pytest.mark.parametrize(
    "kw, text",
    [
        (dict(health_check_interval=4), "health_check_interval=4 is outside what AWS allows (5 to 300)"),
        (dict(healthy_threshold=1), "healthy_threshold=1 is outside"),
        (dict(health_check_timeout=5), "health_check_timeout=5 must be shorter than health_check_interval=5"),
        (dict(name="x" * 33), "longer than the 32 characters"),
        (dict(vpc_id=None), "vpc_id is not given"),
    ],
)
def test_target_group_bad_input_names_the_field(conn, vpc, boto, kw, text):
    res = run_module(nlb_target_group, tg_args(conn, vpc, **kw))
    assert res["failed"] is True and text in res["msg"], res
    assert boto("elbv2").describe_target_groups()["TargetGroups"] == []


def test_target_group_port_cannot_change(conn, vpc):
    run_module(nlb_target_group, tg_args(conn, vpc))
    res = run_module(nlb_target_group, tg_args(conn, vpc, port=6432))
    assert res["failed"] is True
    assert "Port 5432 -> 6432" in res["msg"] and "use another name" in res["msg"]


def test_target_group_absent(conn, vpc, boto):
    run_module(nlb_target_group, tg_args(conn, vpc))
    assert run_module(nlb_target_group, tg_args(conn, vpc, state="absent"), check=True)["changed"] is True
    assert len(boto("elbv2").describe_target_groups()["TargetGroups"]) == 1
    assert run_module(nlb_target_group, tg_args(conn, vpc, state="absent"))["changed"] is True
    assert boto("elbv2").describe_target_groups()["TargetGroups"] == []
    assert run_module(nlb_target_group, tg_args(conn, vpc, state="absent"))["changed"] is False


# -- connection errors ---------------------------------------------------------------------
def test_unreachable_endpoint_is_a_clear_error(moto, vpc):
    url = f"http://127.0.0.1:{free_port()}"
    res = run_module(
        nlb_target_group, tg_args({"region": MOTO_REGION, "endpoint_url": url}, vpc, max_attempts=1)
    )
    assert res["failed"] is True
    assert url in res["msg"] and "did not answer" in res["msg"] and "endpoint_url" in res["msg"]


def test_no_region_is_a_clear_error(moto, vpc, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    res = run_module(nlb_target_group, tg_args({"endpoint_url": moto}, vpc))
    assert res["failed"] is True and "no AWS region: set region" in res["msg"]


@pytest.mark.parametrize(
    "settings, text",
    [
        (dict(access_key="AKIA"), "access_key and secret_key go together"),
        (dict(endpoint_url="127.0.0.1:5000"), "is not an http:// or https:// URL"),
        (dict(max_attempts=0), "max_attempts=0 must be at least 1"),
        (dict(profile="nope"), "profile 'nope' is not in ~/.aws/config"),
    ],
)
def test_bad_connection_settings(moto, settings, text):
    with pytest.raises(awslib.AwsError, match=text.replace("(", r"\(")):
        awslib.Aws(dict(dict(region=MOTO_REGION), **settings))


@pytest.mark.parametrize("service, operation, action", [
    ("ec2", "describe_instances", "ec2:DescribeInstances"),
    ("elbv2", "describe_target_groups", "elasticloadbalancing:DescribeTargetGroups"),
    ("route53", "list_hosted_zones", "route53:ListHostedZones"),
])
def test_access_denied_names_the_iam_action(moto, service, operation, action):
    # moto does not enforce IAM: botocore's Stubber answers as AWS does for a missing permission.
    from botocore.stub import Stubber

    aws = awslib.Aws({"region": MOTO_REGION, "endpoint_url": moto})
    with Stubber(aws.client(service)) as stub:
        stub.add_client_error(operation, service_error_code="UnauthorizedOperation", http_status_code=403)
        with pytest.raises(awslib.AwsError) as caught:
            aws.call(service, operation)
    assert caught.value.code == "UnauthorizedOperation"
    assert f"the IAM policy of this identity must allow {action} on this resource" in caught.value.message


def test_secrets_are_no_log():
    spec = awslib.aws_argument_spec()
    assert all(spec[k]["no_log"] for k in ("access_key", "secret_key", "session_token"))


# -- nlb_targets -------------------------------------------------------------------------------
def targets_args(conn, arn, service="primary", **kw):
    args = dict(conn, target_group_arn=arn, service=service)
    args.update(kw)
    return args


def test_primary_group_holds_the_leader_only_and_follows_a_failover(conn, vpc, boto):
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    res = run_module(nlb_targets, targets_args(conn, arn, members=members("pg-1")), diff=True)
    assert res["changed"] is True and res["added"] == ["10.0.1.11:5432"], res
    assert res["diff"] == {"before": "\n", "after": "10.0.1.11:5432\n"}
    assert registered(boto, arn) == ["10.0.1.11:5432"]
    assert run_module(nlb_targets, targets_args(conn, arn, members=members("pg-1")))["changed"] is False

    # Failover: pg-2 leads, pg-1 is a replica now.
    res = run_module(nlb_targets, targets_args(conn, arn, members=members("pg-2")), diff=True)
    assert (res["added"], res["removed"]) == (["10.0.2.11:5432"], ["10.0.1.11:5432"])
    assert registered(boto, arn) == ["10.0.2.11:5432"]


def test_promotion_survives_the_old_primary_leaving_at_the_same_moment(conn, vpc, boto):
    """Switchover race: the demoted node deregisters itself between our read and our deregister call."""
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    boto("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": IPS["pg-1"], "Port": 5432}])
    aws = awslib.Aws(conn)
    real_call = aws.call
    raced = []

    def call(service, operation, **kwargs):
        if operation == "deregister_targets" and not raced:
            raced.append(True)  # the old primary's own callback wins the race
            boto("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": IPS["pg-1"], "Port": 5432}])
        return real_call(service, operation, **kwargs)

    aws.call = call
    result = awslib.sync_targets(aws, arn, [IPS["pg-2"]], 5432, "primary")
    assert raced and result["changed"] is True
    assert registered(boto, arn) == ["10.0.2.11:5432"]


def test_primary_group_check_mode_changes_nothing(conn, vpc, boto):
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    run_module(nlb_targets, targets_args(conn, arn, members=members("pg-1")))
    res = run_module(nlb_targets, targets_args(conn, arn, members=members("pg-3")), check=True, diff=True)
    assert res["changed"] is True and res["targets"] == ["10.0.3.11:5432"]
    assert registered(boto, arn) == ["10.0.1.11:5432"]


def test_primary_group_left_alone_without_a_running_leader(conn, vpc, boto):
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    run_module(nlb_targets, targets_args(conn, arn, members=members("pg-1")))
    res = run_module(
        nlb_targets, targets_args(conn, arn, members=members("pg-1", **{"pg-1": {"state": "stopped"}}))
    )
    assert res["changed"] is False
    assert registered(boto, arn) == ["10.0.1.11:5432"]


def test_two_leaders_change_nothing(conn, vpc, boto):
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    run_module(nlb_targets, targets_args(conn, arn, members=members("pg-1")))
    both = members("pg-1", **{"pg-2": {"role": "leader", "state": "running"}})
    res = run_module(nlb_targets, targets_args(conn, arn, members=both))
    assert res["failed"] is True and "more than one member reports the leader role" in res["msg"]
    assert registered(boto, arn) == ["10.0.1.11:5432"]


def test_replica_group_holds_the_replicas_within_lag(conn, vpc, boto):
    arn = make_group(conn, vpc, "pg-test-replica", "replica")
    lagging = members("pg-1", **{"pg-3": {"lag": 10_000_000}})
    res = run_module(nlb_targets, targets_args(conn, arn, "replica", members=lagging))
    assert res["targets"] == ["10.0.2.11:5432"]
    res = run_module(nlb_targets, targets_args(conn, arn, "replica", members=members("pg-2")))
    assert (res["added"], res["removed"]) == (["10.0.1.11:5432", "10.0.3.11:5432"], ["10.0.2.11:5432"])
    assert registered(boto, arn) == ["10.0.1.11:5432", "10.0.3.11:5432"]


def test_a_target_on_another_port_is_replaced(conn, vpc, boto):
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    boto("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.11", "Port": 6432}])
    res = run_module(nlb_targets, targets_args(conn, arn, members=members("pg-1")))
    assert (res["added"], res["removed"]) == (["10.0.1.11:5432"], ["10.0.1.11:6432"])


def test_targets_from_live_patroni_by_group_name(conn, vpc, boto, monkeypatch, fake_with_ips):
    monkeypatch.setattr(patroni_core.PatroniClient, "backoff", 0)
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    fake = fake_with_ips
    args = dict(conn, target_group_name="pg-test-primary", service="primary", api_urls=fake.urls)
    assert run_module(nlb_targets, args)["added"] == ["10.0.1.11:5432"]
    fake._promote("pg-3")  # a failover, as Patroni's loop would show it
    res = run_module(nlb_targets, args)
    assert (res["added"], res["removed"]) == (["10.0.3.11:5432"], ["10.0.1.11:5432"])
    assert registered(boto, arn) == ["10.0.3.11:5432"]
    assert fake.writes() == []


def test_check_mode_before_the_group_exists(conn, vpc, boto):
    args = dict(conn, target_group_name="pg-test-primary", service="primary", members=members("pg-2"))
    res = run_module(nlb_targets, args, check=True)
    assert res["changed"] is True and res["targets"] == ["10.0.2.11:5432"], res
    assert res["target_group_arn"] is None
    assert boto("elbv2").describe_target_groups()["TargetGroups"] == []


def test_targets_errors(conn, vpc):
    res = run_module(nlb_targets, dict(conn, target_group_name="nope", service="primary", members=members()))
    assert res["failed"] is True and "target group nope does not exist" in res["msg"]
    res = run_module(nlb_targets, dict(conn, target_group_name="nope", service="primary"))
    assert res["failed"] is True and "give members" in res["msg"]
    url = f"http://127.0.0.1:{free_port()}"
    res = run_module(nlb_targets, dict(conn, target_group_name="x", service="primary", api_urls=[url]))
    assert res["failed"] is True and "no Patroni member answered GET /cluster" in res["msg"]


def test_hybrid_groups_hold_every_haproxy_host_and_ignore_failovers(conn, vpc, boto):
    """The NLB in front of the HAProxy tier: both groups hold all routers, the primary one too."""
    routers = ["10.0.1.21", "10.0.2.21"]
    res = run_module(nlb_target_group, tg_args(conn, vpc, port=5433, health_check_port=9102,
                                               health_check_path="/pg-test/primary"))
    arn = res["target_group"]["arn"]
    group = boto("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    health = (group["Port"], group["HealthCheckPort"], group["HealthCheckPath"])
    assert health == (5433, "9102", "/pg-test/primary")

    res = run_module(nlb_targets, targets_args(conn, arn, routers=routers, port=5433), diff=True)
    assert res["changed"] is True and res["targets"] == ["10.0.1.21:5433", "10.0.2.21:5433"], res
    assert registered(boto, arn) == ["10.0.1.21:5433", "10.0.2.21:5433"]
    assert run_module(nlb_targets, targets_args(conn, arn, routers=routers, port=5433))["changed"] is False

    # A proxy leaves the tier: it is deregistered, the other stays; check mode first changes nothing.
    res = run_module(nlb_targets, targets_args(conn, arn, routers=routers[1:], port=5433), check=True)
    assert res["removed"] == ["10.0.1.21:5433"] and len(registered(boto, arn)) == 2
    res = run_module(nlb_targets, targets_args(conn, arn, routers=routers[1:], port=5433))
    assert registered(boto, arn) == ["10.0.2.21:5433"]


def test_hybrid_targets_errors(conn, vpc):
    arn = make_group(conn, vpc, "pg-test-primary", "primary")
    res = run_module(nlb_targets, targets_args(conn, arn, routers=["10.0.1.21", "proxy-1"]))
    assert res["failed"] is True and "routers: 'proxy-1' is not an IPv4 address" in res["msg"], res
    res = run_module(nlb_targets, targets_args(conn, arn, routers=["10.0.1.21"], members=members()))
    assert res["failed"] is True and "mutually exclusive" in res["msg"] and "routers" in res["msg"]


# -- route53_role_records ----------------------------------------------------------------------
@pytest.fixture
def private_zone(boto, vpc):
    zone = boto("route53").create_hosted_zone(
        Name="db.internal.",
        CallerReference="private",
        HostedZoneConfig={"PrivateZone": True, "Comment": "test"},
        VPC={"VPCRegion": MOTO_REGION, "VPCId": vpc},
    )
    return zone["HostedZone"]["Id"].split("/")[-1]


def records(boto, zone_id):
    out = {}
    for r in boto("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]:
        if r["Type"] == "A":
            key = (r["Name"], r.get("SetIdentifier", ""))
            out[key] = (
                [v["Value"] for v in r["ResourceRecords"]],
                r["TTL"],
                r.get("MultiValueAnswer", False),
            )
    return out


def r53_args(conn, **kw):
    args = dict(conn, cluster="pg-test", zone="db.internal", private_zone=True)
    args.update(kw)
    return args


def test_role_records_created_idempotent_and_follow_a_failover(conn, boto, private_zone):
    res = run_module(route53_role_records, r53_args(conn, members=members("pg-1")), diff=True)
    assert res["changed"] is True, res
    assert records(boto, private_zone) == {
        ("pg-test-primary.db.internal.", ""): (["10.0.1.11"], 5, False),
        ("pg-test-replica.db.internal.", "pg-2"): (["10.0.2.11"], 5, True),
        ("pg-test-replica.db.internal.", "pg-3"): (["10.0.3.11"], 5, True),
    }
    assert res["diff"]["before"]["pg-test-primary.db.internal."] == {}
    assert res["diff"]["after"]["pg-test-primary.db.internal."] == {"": ["10.0.1.11"]}
    assert run_module(route53_role_records, r53_args(conn, members=members("pg-1")))["changed"] is False

    res = run_module(route53_role_records, r53_args(conn, members=members("pg-3")), diff=True)
    assert res["changed"] is True
    assert records(boto, private_zone) == {
        ("pg-test-primary.db.internal.", ""): (["10.0.3.11"], 5, False),
        ("pg-test-replica.db.internal.", "pg-1"): (["10.0.1.11"], 5, True),
        ("pg-test-replica.db.internal.", "pg-2"): (["10.0.2.11"], 5, True),
    }


def test_role_records_check_mode_and_ttl(conn, boto, private_zone):
    res = run_module(route53_role_records, r53_args(conn, members=members("pg-1"), ttl=30), check=True)
    assert res["changed"] is True and res["records"]["primary"] == {"": ["10.0.1.11"]}
    assert records(boto, private_zone) == {}
    run_module(route53_role_records, r53_args(conn, members=members("pg-1"), ttl=30))
    assert records(boto, private_zone)[("pg-test-primary.db.internal.", "")][1] == 30


def test_replica_name_falls_back_to_the_leader(conn, boto, private_zone):
    down = members("pg-1", **{"pg-2": {"state": "stopped"}, "pg-3": {"lag": "unknown"}})
    res = run_module(route53_role_records, dict(conn, cluster="pg-test", members=down, zone_id=private_zone))
    assert res.get("changed") is True, res
    assert records(boto, private_zone)[("pg-test-replica.db.internal.", "pg-1")] == (["10.0.1.11"], 5, True)


def test_health_checks_refused_in_a_private_zone(conn, boto, private_zone):
    res = run_module(route53_role_records, r53_args(conn, members=members(), health_checks=True))
    assert res["failed"] is True and "private zone" in res["msg"] and "cannot reach private" in res["msg"]
    assert records(boto, private_zone) == {}


def test_health_checks_in_a_public_zone_ask_patroni_not_postgres(conn, boto):
    boto("route53").create_hosted_zone(Name="example.org.", CallerReference="public")
    args = dict(
        conn,
        cluster="pg-test",
        zone="example.org",
        private_zone=False,
        members=members("pg-1"),
        health_checks=True,
    )
    assert run_module(route53_role_records, args)["changed"] is True
    checks = {c["Id"]: c["HealthCheckConfig"] for c in boto("route53").list_health_checks()["HealthChecks"]}
    seen = {(c["IPAddress"], c["Port"], c["Type"], c["ResourcePath"]) for c in checks.values()}
    assert seen == {
        ("10.0.1.11", 8008, "HTTPS", "/primary"),
        ("10.0.2.11", 8008, "HTTPS", "/replica?lag=1048576"),
        ("10.0.3.11", 8008, "HTTPS", "/replica?lag=1048576"),
    }
    assert run_module(route53_role_records, args)["changed"] is False
    assert len(boto("route53").list_health_checks()["HealthChecks"]) == 3


def test_role_records_zone_errors(conn, private_zone):
    res = run_module(route53_role_records, r53_args(conn, members=members(), zone="nope.internal"))
    assert res["failed"] is True and "no hosted zone named nope.internal." in res["msg"]
    res = run_module(
        route53_role_records,
        r53_args(conn, members=members(), primary_name="x.db.internal", replica_name="x.db.internal."),
    )
    assert res["failed"] is True and "give two different names" in res["msg"]
