# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one AWS client helper of the collection, and the AWS calls the entry points share.

`Aws(settings)` builds a boto3 session from region, profile or keys, and
clients that honour `endpoint_url` (moto, VPC endpoints), botocore's standard
retry mode and short connect/read timeouts. Every failure becomes `AwsError`,
whose message names the setting at fault and the fix.

The modules (through `run_module`) and the role-change script on the nodes
use this file; on the nodes there is no Ansible, so nothing here needs it
except `run_module`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.pgha.cloud.plugins.module_utils import entrypoints

try:
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    HAS_BOTO3 = True
except ImportError:  # reported by Aws() with the fix
    HAS_BOTO3 = False

try:
    from ansible.module_utils.basic import AnsibleModule
except ImportError:  # on a node the role-change script uses this file without Ansible
    AnsibleModule = None

BOTO3_REQUIREMENT = "boto3==1.44.5 botocore==1.44.5"
DEFAULTS = dict(max_attempts=3, connect_timeout=3.0, read_timeout=10.0)
# API error codes that mean the credentials themselves are wrong.
BAD_CREDENTIAL_CODES = (
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
)
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def aws_argument_spec():
    """Options every AWS module takes; documented by the pgha.cloud.aws doc fragment."""
    return dict(
        region=dict(type="str", aliases=["aws_region"]),
        profile=dict(type="str", aliases=["aws_profile"]),
        access_key=dict(type="str", aliases=["aws_access_key_id"], no_log=True),
        secret_key=dict(type="str", aliases=["aws_secret_access_key"], no_log=True),
        session_token=dict(type="str", aliases=["aws_session_token"], no_log=True),
        endpoint_url=dict(type="str"),
        max_attempts=dict(type="int", default=DEFAULTS["max_attempts"]),
        connect_timeout=dict(type="float", default=DEFAULTS["connect_timeout"]),
        read_timeout=dict(type="float", default=DEFAULTS["read_timeout"]),
    )


class AwsError(Exception):
    """Any AWS failure; the message says what failed and how to fix it."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code


def run_module(options, run, **kwargs):
    """The main() of every AWS module: shared connection options plus `options`, check mode,
    and every AwsError / EntrypointError turned into a failure with its message.

    `run(module, aws)` returns the result dict.
    """
    argument_spec = aws_argument_spec()
    argument_spec.update(options)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)
    try:
        module.exit_json(**run(module, Aws(module.params)))
    except (AwsError, entrypoints.EntrypointError) as e:
        module.fail_json(msg=e.message)


def members_argument_spec():
    """Where the live roles come from: `members` as read earlier, or Patroni at `api_urls` (its options)."""
    from ansible_collections.pgha.cloud.plugins.module_utils import patroni

    spec = patroni.connection_argument_spec()
    spec["api_urls"]["required"] = False
    spec.update(
        members=dict(type="list", elements="dict"),
        addresses=dict(type="dict", default={}),
        replica_max_lag=dict(type="int", default=entrypoints.DEFAULT_REPLICA_MAX_LAG),
    )
    return spec


def cluster_from_module(module):
    """{'members': [...]}: from the members option, or GET /cluster from Patroni."""
    from ansible_collections.pgha.cloud.plugins.module_utils import patroni, patroni_core

    if module.params["members"] is not None:
        return {"members": module.params["members"]}
    if not module.params["api_urls"]:
        raise AwsError("give members (the cluster state) or api_urls (Patroni REST URLs to read it from)")
    try:
        return patroni.client_from_module(module).cluster()
    except patroni_core.PatroniError as e:
        raise AwsError(e.message) from None


class Aws(object):
    """A boto3 session and its clients, built once from the connection settings."""

    def __init__(self, settings):
        if not HAS_BOTO3:
            raise AwsError(
                f"boto3 and botocore are not installed for this Python; install them ({BOTO3_REQUIREMENT},"
                " as pinned in requirements.txt)"
            )
        s = {k: settings.get(k) for k in aws_argument_spec()}
        for key, value in DEFAULTS.items():
            s[key] = value if s[key] is None else s[key]
        self.settings = s
        if bool(s["access_key"]) != bool(s["secret_key"]):
            raise AwsError(
                "access_key and secret_key go together: give both, or neither to use a profile, "
                "the environment or the instance role"
            )
        if s["endpoint_url"] and not str(s["endpoint_url"]).startswith(("http://", "https://")):
            raise AwsError(
                f"endpoint_url {s['endpoint_url']!r} is not an http:// or https:// URL; give for "
                "example http://127.0.0.1:5000 (moto) or the https URL of a VPC endpoint"
            )
        if int(s["max_attempts"]) < 1:
            raise AwsError(f"max_attempts={s['max_attempts']} must be at least 1 (1 means no retry)")
        try:
            self.session = boto3.session.Session(
                profile_name=s["profile"],
                region_name=s["region"],
                aws_access_key_id=s["access_key"],
                aws_secret_access_key=s["secret_key"],
                aws_session_token=s["session_token"],
            )
        except botocore.exceptions.ProfileNotFound:
            raise AwsError(
                f"profile {s['profile']!r} is not in ~/.aws/config or ~/.aws/credentials; fix "
                "profile or leave it out"
            ) from None
        if not self.session.region_name:
            raise AwsError(
                "no AWS region: set region (for example eu-west-1), AWS_REGION in the environment, "
                "or a region in the profile"
            )
        self._clients = {}

    def client(self, service):
        if service not in self._clients:
            s = self.settings
            config = Config(
                retries={"mode": "standard", "max_attempts": int(s["max_attempts"])},
                connect_timeout=float(s["connect_timeout"]),
                read_timeout=float(s["read_timeout"]),
                user_agent_extra="pgha.cloud",
            )
            self._clients[service] = self.session.client(
                service, endpoint_url=s["endpoint_url"] or None, config=config
            )
        return self._clients[service]

    def call(self, service, operation, **kwargs):
        """`client(service).<operation>(**kwargs)`; every failure becomes an AwsError saying what to fix."""
        try:
            return getattr(self.client(service), operation)(**kwargs)
        except botocore.exceptions.NoCredentialsError:
            raise AwsError(
                f"{service} {operation}: no AWS credentials found; give access_key and secret_key, a "
                "profile, or run where an instance role provides them"
            ) from None
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectionClosedError,
        ) as e:
            where = self.settings["endpoint_url"] or f"the {service} endpoint of {self.session.region_name}"
            raise AwsError(
                f"{service} {operation}: {where} did not answer ({e}); check endpoint_url and region, "
                "and that this host reaches the API (VPC endpoint, NAT, security groups)"
            ) from None
        except botocore.exceptions.ParamValidationError as e:
            raise AwsError(f"{service} {operation}: invalid parameters: {e}") from None
        except botocore.exceptions.ClientError as e:
            raise _client_error(service, operation, e, self.iam_action(service, operation)) from None

    def iam_action(self, service, operation):
        """The action an IAM policy names: ('elbv2', 'describe_target_groups') ->
        'elasticloadbalancing:DescribeTargetGroups'."""
        meta = self.client(service).meta
        return f"{meta.service_model.signing_name}:{meta.method_to_api_mapping.get(operation, operation)}"


def _client_error(service, operation, error, action):
    info = error.response.get("Error", {})
    code, text = info.get("Code", "Unknown"), info.get("Message", str(error))
    message = f"{service} {operation} failed: {code}: {text}"
    if code in BAD_CREDENTIAL_CODES:
        message += (
            "; the credentials are wrong or expired: check access_key/secret_key/session_token or profile"
        )
    elif code in DENIED_CODES:
        message += (
            f"; the IAM policy of this identity must allow {action} on this resource "
            "(see docs/entrypoints.md and docs/inventory-aws.md for the policies)"
        )
    return AwsError(message, code=code)


# -- EC2 ---------------------------------------------------------------------------
def describe_instances(aws, filters, page_size=1000):
    """Every instance matching `filters` ([{"Name": ..., "Values": [...]}]), all pages read."""
    out, token = [], None
    while True:
        kwargs = dict(Filters=filters, MaxResults=page_size)
        if token:
            kwargs["NextToken"] = token
        page = aws.call("ec2", "describe_instances", **kwargs)
        for reservation in page.get("Reservations", []):
            out.extend(reservation.get("Instances", []))
        token = page.get("NextToken")
        if not token:
            return out


# -- target groups -------------------------------------------------------------
def target_group_by_name(aws, name):
    """The target group called `name`, or None."""
    try:
        groups = aws.call("elbv2", "describe_target_groups", Names=[name])["TargetGroups"]
    except AwsError as e:
        if e.code == "TargetGroupNotFound":
            return None
        raise
    return groups[0] if groups else None


def target_group_attributes(aws, arn):
    answer = aws.call("elbv2", "describe_target_group_attributes", TargetGroupArn=arn)
    return {a["Key"]: a["Value"] for a in answer.get("Attributes", [])}


def registered_targets(aws, arn):
    """[(ip, port)] registered in the target group; draining targets are on their way out and not counted."""
    answer = aws.call("elbv2", "describe_target_health", TargetGroupArn=arn)
    out = []
    for item in answer.get("TargetHealthDescriptions", []):
        if (item.get("TargetHealth") or {}).get("State") == "draining":
            continue
        out.append((item["Target"]["Id"], int(item["Target"].get("Port") or 0)))
    return sorted(out)


def sync_targets(aws, arn, desired_ips, port, service, check_mode=False, routers=False):
    """Register `desired_ips` on `port` in the target group and deregister everything else.

    For the primary group deregistration goes first, so the group never holds
    two targets, even for a moment; with no running leader (nothing desired)
    it is left as it is: during a failover the leader may not show as running
    yet, and its own role-change callback has just registered it.
    `routers`: the targets are HAProxy hosts (the hybrid layout), each routing
    to the leader by itself, so the primary group holds all of them.
    Returns before/after/added/removed as "ip:port".
    """
    if routers:
        current = registered_targets(aws, arn)
        to_add, to_remove = entrypoints.target_changes([(ip, int(port)) for ip in desired_ips], current)
        return _apply_targets(aws, arn, current, to_add, to_remove, check_mode)
    if service == "primary" and len(set(desired_ips)) > 1:
        raise AwsError(
            f"refusing to register {len(set(desired_ips))} targets in the primary target group "
            f"({', '.join(sorted(desired_ips))}): it must hold the leader only"
        )
    current = registered_targets(aws, arn)
    to_add, to_remove = entrypoints.target_changes([(ip, int(port)) for ip in desired_ips], current)
    if service == "primary" and not desired_ips:
        to_add, to_remove = [], []
    return _apply_targets(aws, arn, current, to_add, to_remove, check_mode)


def remove_target(aws, arn, ip, port, check_mode=False):
    """Deregister ip:port if it is registered (a demoted or stopping member leaves a group)."""
    current = registered_targets(aws, arn)
    return _apply_targets(aws, arn, current, [], [t for t in current if t == (ip, int(port))], check_mode)


def _apply_targets(aws, arn, current, to_add, to_remove, check_mode):
    # Removals first: the primary group must never hold two targets.
    if to_remove and not check_mode:
        _deregister(aws, arn, to_remove)
    if to_add and not check_mode:
        aws.call("elbv2", "register_targets", TargetGroupArn=arn, Targets=_target_list(to_add))
    after = sorted((set(current) - set(to_remove)) | set(to_add))
    return dict(
        changed=bool(to_add or to_remove),
        before=_targets(current),
        after=_targets(after),
        added=_targets(to_add),
        removed=_targets(to_remove),
    )


def _deregister(aws, arn, pairs):
    """Deregister `pairs`; a target that left meanwhile is no error.

    In a switchover the old primary's demotion callback and the new primary's
    promotion callback both deregister the old primary, at nearly the same
    moment; AWS refuses the second call with InvalidTarget. The group is then
    read again and only what is still registered is deregistered, so the
    promotion goes on to register the new leader instead of failing.
    """
    try:
        aws.call("elbv2", "deregister_targets", TargetGroupArn=arn, Targets=_target_list(pairs))
    except AwsError as e:
        if e.code != "InvalidTarget":
            raise
        still = [t for t in registered_targets(aws, arn) if t in set(pairs)]
        if still:
            aws.call("elbv2", "deregister_targets", TargetGroupArn=arn, Targets=_target_list(still))


def _target_list(pairs):
    return [{"Id": ip, "Port": p} for ip, p in pairs]


def _targets(pairs):
    return [f"{ip}:{port}" for ip, port in pairs]


# -- Route53 ---------------------------------------------------------------------
def hosted_zone(aws, zone_id=None, zone_name=None, private=None):
    """(id, name, private) of the zone given by id, or by name (and private/public when two share it)."""
    if zone_id:
        zone = aws.call("route53", "get_hosted_zone", Id=zone_id)["HostedZone"]
    else:
        name = entrypoints.fqdn(zone_name)
        zones = aws.call("route53", "list_hosted_zones_by_name", DNSName=name)["HostedZones"]
        zones = [z for z in zones if z["Name"].lower() == name]
        if private is not None:
            zones = [z for z in zones if bool(z.get("Config", {}).get("PrivateZone")) == bool(private)]
        if not zones:
            raise AwsError(
                f"no hosted zone named {name} ({'private' if private else 'any'} zone); create it or "
                "fix zone / zone_id"
            )
        if len(zones) > 1:
            ids = ", ".join(z["Id"] for z in zones)
            raise AwsError(f"{len(zones)} hosted zones are named {name} ({ids}); give zone_id")
        zone = zones[0]
    return (
        zone["Id"].split("/")[-1],
        entrypoints.fqdn(zone["Name"]),
        bool(zone.get("Config", {}).get("PrivateZone")),
    )


def record_sets(aws, zone_id, name, rtype="A"):
    """Every record set of type `rtype` called `name` (all set identifiers)."""
    name = entrypoints.fqdn(name)
    out, start, start_id = [], dict(StartRecordName=name, StartRecordType=rtype), None
    while True:
        kwargs = dict(HostedZoneId=zone_id, MaxItems="100", **start)
        if start_id:
            kwargs["StartRecordIdentifier"] = start_id
        page = aws.call("route53", "list_resource_record_sets", **kwargs)
        for rrset in page.get("ResourceRecordSets", []):
            if entrypoints.fqdn(rrset["Name"]) == name and rrset["Type"] == rtype:
                out.append(rrset)
            elif out:  # sorted by name and type: past ours
                return out
        if not page.get("IsTruncated"):
            return out
        start = dict(StartRecordName=page["NextRecordName"], StartRecordType=page["NextRecordType"])
        start_id = page.get("NextRecordIdentifier")


def sync_records(aws, zone_id, name, desired, keep_when_empty=False, check_mode=False, comment=None):
    """Make the A record sets called `name` equal `desired` in one atomic change batch."""
    current = record_sets(aws, zone_id, name)
    changes = entrypoints.record_changes(current, desired, keep_when_empty=keep_when_empty)
    if changes and not check_mode:
        aws.call(
            "route53",
            "change_resource_record_sets",
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": comment or "pgha.cloud role records", "Changes": changes},
        )
    after = entrypoints.apply_record_changes(current, changes)
    return dict(
        changed=bool(changes),
        changes=changes,
        before=entrypoints.record_values(current),
        after=entrypoints.record_values(after),
    )


def health_check_id(aws, ip, port, path, check_mode=False):
    """Id of the HTTPS Route53 health check on ip:port/path, created if missing (None in check mode).

    HTTPS: Patroni's REST API serves only that (Route53 does not check the certificate).
    """
    marker = None
    while True:
        page = aws.call("route53", "list_health_checks", **({"Marker": marker} if marker else {}))
        for check in page.get("HealthChecks", []):
            c = check.get("HealthCheckConfig", {})
            if (c.get("Type"), c.get("IPAddress"), c.get("Port"), c.get("ResourcePath")) == (
                "HTTPS",
                ip,
                port,
                path,
            ):
                return check["Id"]
        marker = page.get("NextMarker") if page.get("IsTruncated") else None
        if not marker:
            break
    if check_mode:
        return None
    config = dict(
        Type="HTTPS", IPAddress=ip, Port=int(port), ResourcePath=path, RequestInterval=10, FailureThreshold=2
    )
    answer = aws.call(
        "route53",
        "create_health_check",
        CallerReference=f"pgha-{ip}-{port}-{uuid.uuid4()}",
        HealthCheckConfig=config,
    )
    return answer["HealthCheck"]["Id"]


def sync_role_records(
    aws,
    zone_id,
    names,
    cluster,
    ttl=entrypoints.DEFAULT_TTL,
    max_lag=entrypoints.DEFAULT_REPLICA_MAX_LAG,
    addresses=None,
    fallback_primary=True,
    health_check_port=None,
    check_mode=False,
):
    """Point names['primary'] at the running leader and names['replica'] at the replica members.

    With no running leader the primary name is left as it is (a deleted name
    is cached as NXDOMAIN). `health_check_port` adds Route53 HTTPS health checks
    on Patroni's REST port (public endpoints only: the checkers run outside the VPC).
    """
    primary = entrypoints.desired_members(cluster, "primary", max_lag, addresses)
    replicas = entrypoints.replica_record_members(cluster, max_lag, addresses, fallback_primary)

    def check(ip, path):
        return health_check_id(aws, ip, health_check_port, path, check_mode) if health_check_port else None

    want_primary = [
        entrypoints.primary_record(names["primary"], ip, ttl, check(ip, "/primary")) for _name, ip in primary
    ]
    replica_path = "/primary" if replicas == primary else f"/replica?lag={max_lag}"
    want_replica = [
        entrypoints.replica_record(names["replica"], name, ip, ttl, check(ip, replica_path))
        for name, ip in replicas
    ]
    return dict(
        primary=sync_records(
            aws, zone_id, names["primary"], want_primary, keep_when_empty=True, check_mode=check_mode
        ),
        replica=sync_records(
            aws, zone_id, names["replica"], want_replica, keep_when_empty=True, check_mode=check_mode
        ),
        members=dict(
            primary=[dict(name=n, ip=ip) for n, ip in primary],
            replica=[dict(name=n, ip=ip) for n, ip in replicas],
        ),
    )
