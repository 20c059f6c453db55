"""The pgha.cloud.aws_pg inventory plugin: ansible-inventory runs against EC2 instances created in moto.

Each test launches tagged instances through boto3 in moto's server mode (real
HTTP), writes a `*.aws_pg.yml` file and runs `ansible-inventory` on it, as a
user would. The reference for what the plugin must build is the same
inventory written by hand and read by `ansible-inventory` too.

The plugin is not imported here: its controller-side imports, once loaded into
the pytest process, change how the in-process module tests of other files
receive warnings.
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml
from conftest import MOTO_REGION, free_port

from ansible_collections.pgha.cloud.plugins.module_utils import aws as awslib
from ansible_collections.pgha.cloud.plugins.module_utils import inventory_check

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AMI = "ami-03cf127a"  # one of the images moto knows
OTHER_REGION = "us-east-1"
IDENTITY = ("pg_cluster", "pg_seq", "pg_role", "etcd_seq")


class Ec2:
    """Instances in moto: one VPC per region, a subnet per availability zone (10.x.<1..3>.0/24)."""

    def __init__(self, url):
        self.url = url
        self.subnets = {}

    def client(self, region=MOTO_REGION):
        return boto3.client("ec2", region_name=region, endpoint_url=self.url)

    def subnet(self, region, index):
        if (region, index) not in self.subnets:
            ec2 = self.client(region)
            second = 0 if region == MOTO_REGION else 1
            if (region, "vpc") not in self.subnets:
                self.subnets[region, "vpc"] = ec2.create_vpc(CidrBlock=f"10.{second}.0.0/16")["Vpc"]["VpcId"]
            zone = f"{region}{'abc'[index - 1]}"
            cidr = f"10.{second}.{index}.0/24"
            self.subnets[region, index] = ec2.create_subnet(
                VpcId=self.subnets[region, "vpc"], CidrBlock=cidr, AvailabilityZone=zone
            )["Subnet"]["SubnetId"]
        return self.subnets[region, index]

    def launch(self, ip, region=MOTO_REGION, public=False, **tags):
        """One running instance with private address `ip` (its third octet picks the zone) and `tags`."""
        subnet = self.subnet(region, int(ip.split(".")[2]))
        args = dict(ImageId=AMI, MinCount=1, MaxCount=1)
        if public:
            args["NetworkInterfaces"] = [
                dict(DeviceIndex=0, SubnetId=subnet, PrivateIpAddress=ip, AssociatePublicIpAddress=True)
            ]
        else:
            args.update(SubnetId=subnet, PrivateIpAddress=ip)
        if tags:
            args["TagSpecifications"] = [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}
            ]
        return self.client(region).run_instances(**args)["Instances"][0]["InstanceId"]

    def cluster(self, name, ips, etcd=False, **tags):
        """A valid cluster: the first host primary; etcd members numbered like the hosts when `etcd`."""
        ids = {}
        for seq, ip in enumerate(ips, start=1):
            extra = dict(tags, etcd_seq=seq) if etcd else tags
            role = "primary" if seq == 1 else "replica"
            ids[ip] = self.launch(ip, pg_cluster=name, pg_seq=seq, pg_role=role, **extra)
        return ids


@pytest.fixture
def ec2(moto):
    return Ec2(moto)


def run_inventory(tmp_path, moto_url, config=None, *args, fail_unparsed=True, name="pg.aws_pg.yml"):
    """ansible-inventory on a plugin file with `config`; returns the CompletedProcess."""
    source = tmp_path / name
    body = {"plugin": "pgha.cloud.aws_pg", "regions": [MOTO_REGION], "endpoint_url": moto_url}
    body.update(config or {})
    source.write_text(yaml.safe_dump(body))
    return _ansible_inventory(source, *args, fail_unparsed=fail_unparsed)


def _ansible_inventory(source, *args, fail_unparsed=True):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    if fail_unparsed:
        env["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "true"
    return subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), *(args or ["--list"])],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=180, check=False)


def listed(out):
    assert out.returncode == 0, out.stderr
    return plain(json.loads(out.stdout))


def plain(value):
    """--list output without the unsafe markers Ansible puts on values read from outside."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def members(inv, group):
    return inv.get(group, {}).get("hosts", [])


def identity(inv):
    """host -> its identity variables, as --list resolves them (group vars included)."""
    hostvars = inv["_meta"]["hostvars"]
    return {host: {k: v for k, v in hv.items() if k in IDENTITY} for host, hv in hostvars.items()}


def error_text(out):
    assert out.returncode != 0, out.stdout
    return " ".join(out.stderr.split())


# -- what it builds -------------------------------------------------------------------------------
def test_two_clusters_and_etcd_match_the_static_inventory(tmp_path, ec2):
    a = ec2.cluster("pg-a", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True)
    ec2.cluster("pg-b", ["10.0.2.12", "10.0.3.12", "10.0.1.12"])
    ec2.launch("10.0.1.50", Name="not-a-database")
    stopped = ec2.launch("10.0.1.51", pg_cluster="pg-a", pg_seq=9, pg_role="replica")
    ec2.client().stop_instances(InstanceIds=[stopped])

    static = tmp_path / "static" / "hosts.yml"
    static.parent.mkdir()
    static.write_text(yaml.safe_dump({"all": {"children": {
        "etcd": {"hosts": {"10.0.1.11": {"etcd_seq": 1}, "10.0.2.11": {"etcd_seq": 2},
                           "10.0.3.11": {"etcd_seq": 3}}},
        "pg-a": {"hosts": {"10.0.1.11": {"pg_seq": 1, "pg_role": "primary"},
                           "10.0.2.11": {"pg_seq": 2, "pg_role": "replica"},
                           "10.0.3.11": {"pg_seq": 3, "pg_role": "replica"}},
                 "vars": {"pg_cluster": "pg-a"}},
        "pg-b": {"hosts": {"10.0.2.12": {"pg_seq": 1, "pg_role": "primary"},
                           "10.0.3.12": {"pg_seq": 2, "pg_role": "replica"},
                           "10.0.1.12": {"pg_seq": 3, "pg_role": "replica"}},
                 "vars": {"pg_cluster": "pg-b"}},
    }}}, sort_keys=False))

    graph = run_inventory(tmp_path, ec2.url, None, "--graph")
    assert graph.returncode == 0, graph.stderr
    static_graph = _ansible_inventory(static, "--graph")
    assert graph.stdout == static_graph.stdout
    assert "10.0.1.51" not in graph.stdout and "10.0.1.50" not in graph.stdout  # stopped, untagged

    inv, ref = listed(run_inventory(tmp_path, ec2.url)), listed(_ansible_inventory(static))
    for group in ("all", "etcd", "pg-a", "pg-b", "ungrouped"):
        assert inv.get(group) == ref.get(group), group
    assert identity(inv) == identity(ref)
    assert isinstance(inv["_meta"]["hostvars"]["10.0.2.12"]["pg_seq"], int)

    host = inv["_meta"]["hostvars"]["10.0.2.11"]
    assert host["ec2_instance_id"] == a["10.0.2.11"]
    assert (host["ec2_availability_zone"], host["ec2_region"]) == ("eu-west-1b", MOTO_REGION)
    assert host["ansible_host"] == "10.0.2.11" and "node_address" not in host
    assert host["ec2_tags"]["pg_cluster"] == "pg-a"


def test_the_example_reads_like_the_static_aws_example_and_passes_the_inventory_check(tmp_path, ec2):
    # inventories/example-aws-ec2 against instances tagged as its comments say, in the VPC its filter names.
    ec2.cluster("pg-prod", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True)
    # Another VPC of the same region: the example's vpc-id filter leaves it out.
    client = ec2.client()
    vpc = client.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    client.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "pg_cluster", "Value": "pg-elsewhere"}]}])
    example = tmp_path / "example"
    shutil.copytree(ROOT / "inventories" / "example-aws-ec2", example)
    source = example / "pg.aws_pg.yml"
    config = yaml.safe_load(source.read_text())
    assert config["regions"] == [MOTO_REGION]
    config["filters"]["vpc-id"] = ec2.subnets[MOTO_REGION, "vpc"]
    source.write_text(yaml.safe_dump(dict(config, endpoint_url=ec2.url)))

    static = ROOT / "inventories" / "example-aws"
    assert _ansible_inventory(example, "--graph").stdout == _ansible_inventory(static, "--graph").stdout
    inv, ref = listed(_ansible_inventory(example)), listed(_ansible_inventory(static))
    added = ("ansible_host",) + tuple(f"ec2_{f}" for f in (
        "instance_id", "region", "availability_zone", "subnet_id", "vpc_id", "private_ip_address",
        "instance_type", "image_id", "tags"))
    for host, hv in inv["_meta"]["hostvars"].items():
        assert {k: v for k, v in hv.items() if k not in added} == ref["_meta"]["hostvars"][host], host

    groups = {name: data.get("hosts", []) for name, data in inv.items() if name != "_meta"}
    groups.setdefault("ungrouped", [])
    assert inventory_check.inventory_errors(inv["_meta"]["hostvars"], groups) == []


def test_clusters_in_two_regions(tmp_path, ec2):
    ec2.cluster("pg-a", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True)
    ids = {}
    for seq, ip in enumerate(["10.1.1.11", "10.1.2.11"], start=1):
        ids[ip] = ec2.launch(ip, region=OTHER_REGION, pg_cluster="pg-us", pg_seq=seq,
                             pg_role="primary" if seq == 1 else "replica")
    inv = listed(run_inventory(tmp_path, ec2.url, {"regions": [MOTO_REGION, OTHER_REGION]}))
    assert members(inv, "pg-us") == ["10.1.1.11", "10.1.2.11"]
    assert members(inv, "pg-a") == ["10.0.1.11", "10.0.2.11", "10.0.3.11"]
    host = inv["_meta"]["hostvars"]["10.1.2.11"]
    assert (host["ec2_region"], host["ec2_instance_id"]) == (OTHER_REGION, ids["10.1.2.11"])

    # One region only: the other region's cluster is not there.
    inv = listed(run_inventory(tmp_path, ec2.url, {"regions": [OTHER_REGION]}))
    assert "pg-a" not in inv and members(inv, "pg-us") == ["10.1.1.11", "10.1.2.11"]


def test_filters_and_clusters_narrow_what_is_read(tmp_path, ec2):
    ec2.cluster("pg-a", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True, env="prod")
    ec2.cluster("pg-b", ["10.0.1.12", "10.0.2.12"], env="prod")
    # Broken tags, but outside the filter: they must not fail the source.
    ec2.launch("10.0.1.13", env="test", pg_cluster="pg-c", pg_seq="one", pg_role="primary")

    inv = listed(run_inventory(tmp_path, ec2.url, {"filters": {"tag:env": "prod"}}))
    assert sorted(g for g in inv if g != "_meta") == ["all", "etcd", "pg-a", "pg-b"]

    # Only pg-b: pg-a's hosts stay as etcd members, without pg-a's identity.
    inv = listed(run_inventory(tmp_path, ec2.url, {"filters": {"tag:env": ["prod"]}, "clusters": ["pg-b"]}))
    assert "pg-a" not in inv and members(inv, "pg-b") == ["10.0.1.12", "10.0.2.12"]
    assert members(inv, "etcd") == ["10.0.1.11", "10.0.2.11", "10.0.3.11"]
    assert identity(inv)["10.0.1.11"] == {"etcd_seq": 1}

    text = error_text(run_inventory(tmp_path, ec2.url, {"clusters": ["pg-z"]}))
    assert "cluster 'pg-z' in `clusters` has no instance tagged pg_cluster=pg-z" in text


def test_keyed_groups_compose_and_tags_that_look_like_templates(tmp_path, ec2):
    ec2.cluster("pg-a", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True)
    ec2.launch("10.0.1.12", pg_cluster="pg-b", pg_seq=1, pg_role="primary", Name="{{ 7 * 6 }}")
    config = {
        "keyed_groups": [{"key": "ec2_availability_zone", "prefix": "az"}],
        "groups": {"pg_primaries": "pg_role == 'primary'"},
        "compose": {"pg_member": "pg_cluster ~ '-' ~ pg_seq", "label": "ec2_tags.Name | default('none')"},
        "strict": True,
    }
    inv = listed(run_inventory(tmp_path, ec2.url, config))
    assert members(inv, "az_eu_west_1a") == ["10.0.1.11", "10.0.1.12"]
    assert members(inv, "az_eu_west_1c") == ["10.0.3.11"]
    assert sorted(members(inv, "pg_primaries")) == ["10.0.1.11", "10.0.1.12"]
    hv = inv["_meta"]["hostvars"]
    assert hv["10.0.2.11"]["pg_member"] == "pg-a-2"
    assert hv["10.0.1.12"]["label"] == "{{ 7 * 6 }}"  # a tag is data, never a template
    assert hv["10.0.2.11"]["label"] == "none"

    # strict: a compose expression that cannot be evaluated fails the source.
    text = error_text(run_inventory(tmp_path, ec2.url, {"compose": {"x": "no_such_var.y"}, "strict": True}))
    assert "Could not set x" in text


def test_cache_serves_the_instances_until_flushed(tmp_path, ec2):
    ec2.cluster("pg-a", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True)
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile",
             "cache_connection": str(tmp_path / "cache"), "cache_timeout": 600}
    hosts = ["10.0.1.11", "10.0.2.11", "10.0.3.11"]
    assert members(listed(run_inventory(tmp_path, ec2.url, cache)), "pg-a") == hosts
    assert list((tmp_path / "cache").iterdir())

    # The instances are gone from AWS: the cached run still shows them, a run without cache does not.
    reset = urllib.request.Request(ec2.url + "/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=5).read()
    assert members(listed(run_inventory(tmp_path, ec2.url, cache)), "pg-a") == hosts
    assert "pg-a" not in listed(run_inventory(tmp_path, ec2.url, dict(cache, cache=False)))
    # --flush-cache reads AWS again and stores the new (empty) answer.
    assert "pg-a" not in listed(run_inventory(tmp_path, ec2.url, cache, "--list", "--flush-cache"))
    assert "pg-a" not in listed(run_inventory(tmp_path, ec2.url, cache))


def test_hostname_instance_id_public_address_and_node_address(tmp_path, ec2):
    ids = {}
    for seq, ip in enumerate(["10.0.1.11", "10.0.2.11"], start=1):
        ids[ip] = ec2.launch(ip, public=True, pg_cluster="pg-a", pg_seq=seq, etcd_seq=seq,
                             pg_role="primary" if seq == 1 else "replica")
    by_id = {"hostname": "instance-id", "ansible_host": "public-ip-address"}
    inv = listed(run_inventory(tmp_path, ec2.url, by_id))
    assert members(inv, "pg-a") == [ids["10.0.1.11"], ids["10.0.2.11"]]
    host = inv["_meta"]["hostvars"][ids["10.0.2.11"]]
    assert host["node_address"] == "10.0.2.11"  # peers still use the private address
    assert host["ansible_host"] == host["ec2_public_ip_address"] != "10.0.2.11"

    # A tag as the name; an instance without a public address cannot be reached that way.
    lonely = ec2.launch("10.0.3.11", pg_cluster="pg-b", pg_seq=1, pg_role="primary")
    by_tag = {"hostname": "tag:pg_seq", "ansible_host": "public-ip-address"}
    text = error_text(run_inventory(tmp_path, ec2.url, by_tag))
    assert f"instance {lonely} (10.0.3.11, {MOTO_REGION}): has no public-ip-address for ansible_host" in text
    assert "host name '1' (hostname: tag:pg_seq) is shared by" in text and ids["10.0.1.11"] in text


def test_same_private_address_in_two_regions_is_refused(tmp_path, ec2):
    first = ec2.launch("10.0.1.11", pg_cluster="pg-a", pg_seq=1, pg_role="primary")
    # The same addresses as eu-west-1's VPC (10.0.0.0/16), as two unrelated VPCs may have.
    other = ec2.client(OTHER_REGION)
    ec2.subnets[OTHER_REGION, "vpc"] = other.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.subnets[OTHER_REGION, 1] = other.create_subnet(
        VpcId=ec2.subnets[OTHER_REGION, "vpc"], CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a"
    )["Subnet"]["SubnetId"]
    second = ec2.launch("10.0.1.11", region=OTHER_REGION, pg_cluster="pg-b", pg_seq=1, pg_role="primary")
    text = error_text(run_inventory(tmp_path, ec2.url, {"regions": [MOTO_REGION, OTHER_REGION]}))
    assert "host name '10.0.1.11' (hostname: private-ip-address) is shared by" in text
    assert f"instance {first} (10.0.1.11, {MOTO_REGION})" in text
    assert f"instance {second} (10.0.1.11, {OTHER_REGION})" in text


# -- bad tags ---------------------------------------------------------------------------------------
def test_identity_tag_problems_each_name_the_instance_and_the_tag(tmp_path, ec2):
    ec2.cluster("pg-ok", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True)
    bad = {
        "seq": ec2.launch("10.0.1.21", pg_cluster="pg-seq", pg_seq="two", pg_role="primary"),
        "noseq": ec2.launch("10.0.1.22", pg_cluster="pg-noseq", pg_role="primary"),
        "dup1": ec2.launch("10.0.1.23", pg_cluster="pg-dup", pg_seq=1, pg_role="primary"),
        "dup2": ec2.launch("10.0.2.23", pg_cluster="pg-dup", pg_seq=1, pg_role="replica"),
        "role": ec2.launch("10.0.1.24", pg_cluster="pg-role", pg_seq=1, pg_role="leader"),
        "pri1": ec2.launch("10.0.1.25", pg_cluster="pg-two", pg_seq=1, pg_role="primary"),
        "pri2": ec2.launch("10.0.2.25", pg_cluster="pg-two", pg_seq=2, pg_role="primary"),
        "name": ec2.launch("10.0.1.26", pg_cluster="PG_Bad", pg_seq=1, pg_role="primary"),
        "etcdname": ec2.launch("10.0.1.27", pg_cluster="etcd", pg_seq=1, pg_role="primary"),
        "etcdseq": ec2.launch("10.0.1.28", etcd_seq="x"),
        "etcddup": ec2.launch("10.0.1.29", etcd_seq=3),
    }
    text = error_text(run_inventory(tmp_path, ec2.url))
    expected = [
        f"cluster pg-seq, host 10.0.1.21 [{bad['seq']}]: pg_seq 'two' is not an integer",
        f"cluster pg-noseq, host 10.0.1.22 [{bad['noseq']}]: pg_seq is not set",
        f"pg_seq 1 is used by 10.0.1.23 [{bad['dup1']}] and 10.0.2.23 [{bad['dup2']}]",
        f"cluster pg-role, host 10.0.1.24 [{bad['role']}]: pg_role 'leader' is not valid",
        f"pg_role is primary on 2 hosts (10.0.1.25 [{bad['pri1']}], 10.0.2.25 [{bad['pri2']}])",
        f"cluster PG_Bad, host 10.0.1.26 [{bad['name']}]: pg_cluster 'PG_Bad' is not a valid cluster name",
        f"host 10.0.1.27 [{bad['etcdname']}]: pg_cluster 'etcd' is the name of the group of etcd members",
        f"group etcd, host 10.0.1.28 [{bad['etcdseq']}]: etcd_seq 'x' is not an integer",
        f"etcd_seq 3 is used by 10.0.1.29 [{bad['etcddup']}] and 10.0.3.11 [",
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert "pgha.cloud.aws_pg: 9 problem(s) in the EC2 instances of" in text  # nothing more, nothing less
    assert "aws ec2 create-tags --resources <instance ID>" in text
    assert "pg-ok" not in text


def test_tags_the_inventory_check_cannot_see(tmp_path, ec2):
    stray = ec2.launch("10.0.1.31", pg_seq=1, pg_role="primary")
    empty = ec2.launch("10.0.1.32", pg_cluster=" ", pg_seq=1, pg_role="primary")
    text = error_text(run_inventory(tmp_path, ec2.url))
    assert "2 problem(s)" in text
    assert (f"instance {stray} (10.0.1.31, {MOTO_REGION}): has tag(s) pg_seq, pg_role but no tag pg_cluster; "
            "add pg_cluster=<cluster name>, or delete pg_seq and pg_role") in text
    assert f"instance {empty} (10.0.1.32, {MOTO_REGION}): tag pg_cluster is empty" in text


def test_renamed_tags_are_read_and_named_in_errors(tmp_path, ec2):
    names = {"pg_cluster": "PgCluster", "pg_seq": "PgSeq", "pg_role": "PgRole", "etcd_seq": "EtcdSeq"}
    ec2.launch("10.0.1.11", PgCluster="pg-a", PgSeq=1, PgRole="primary", EtcdSeq=1)
    ec2.launch("10.0.1.12", pg_cluster="pg-ignored", pg_seq=1, pg_role="primary")  # default names: not read
    inv = listed(run_inventory(tmp_path, ec2.url, {"tag_names": names}))
    want = {"pg_cluster": "pg-a", "pg_seq": 1, "pg_role": "primary", "etcd_seq": 1}
    assert identity(inv) == {"10.0.1.11": want}

    bad = ec2.launch("10.0.2.11", PgCluster="pg-a", PgSeq="x", PgRole="replica")
    text = error_text(run_inventory(tmp_path, ec2.url, {"tag_names": names}))
    assert f"10.0.2.11 [{bad}]: pg_seq 'x' is not an integer" in text
    assert "pg_cluster from tag PgCluster, pg_seq from tag PgSeq" in text


def test_bad_tags_without_any_unparsed_is_failed_give_no_hosts_at_all(tmp_path, ec2):
    # Ansible's default only warns about a source that fails; the cluster must then be absent, not partial.
    ec2.cluster("pg-a", ["10.0.1.11", "10.0.2.11", "10.0.3.11"], etcd=True)
    ec2.launch("10.0.1.12", pg_cluster="pg-a", pg_seq=1, pg_role="replica")
    out = run_inventory(tmp_path, ec2.url, fail_unparsed=False)
    assert out.returncode == 0
    inv = json.loads(out.stdout)
    assert inv["_meta"]["hostvars"] == {} and "pg-a" not in inv
    assert "pg_seq 1 is used by" in " ".join(out.stderr.split())


# -- options and connection -----------------------------------------------------------------------
@pytest.mark.parametrize("config, text", [
    ({"hostname": "public-ip"}, "hostname: 'public-ip' is not supported"),
    ({"tag_names": {"pg_sequence": "seq"}}, "tag_names: unknown key(s) pg_sequence"),
    ({"tag_names": {"pg_seq": "pg_role"}}, "tag_names: two variables read the same tag"),
    ({"filters": {"vpc-id": {"a": 1}}}, "filters: 'vpc-id' must be a string or a list of strings"),
    ({"page_size": 2}, "page_size: 2 is outside what EC2 accepts (5 to 1000)"),
])
def test_bad_options_name_the_option(tmp_path, moto, config, text):
    assert text in error_text(run_inventory(tmp_path, moto, config))


def test_no_region_and_unreachable_endpoint(tmp_path, moto, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    text = error_text(run_inventory(tmp_path, moto, {"regions": []}))
    assert "no AWS region: set regions in this file" in text

    url = f"http://127.0.0.1:{free_port()}"
    text = error_text(run_inventory(tmp_path, url, {"max_attempts": 1, "connect_timeout": 1}))
    assert f"ec2 describe_instances: {url} did not answer" in text and "check endpoint_url" in text


def test_secrets_in_the_file_are_never_printed(tmp_path, moto):
    secret = "Sx-never-print-me-4d1f"
    out = run_inventory(tmp_path, f"http://127.0.0.1:{free_port()}",
                        {"access_key": "AKIATESTING", "secret_key": secret, "max_attempts": 1}, "-vvv")
    assert out.returncode != 0
    assert secret not in out.stdout + out.stderr


def test_only_files_named_aws_pg_are_taken(tmp_path, ec2):
    ec2.cluster("pg-a", ["10.0.1.11"], etcd=True)
    out = run_inventory(tmp_path, ec2.url, name="pg.yml", fail_unparsed=False)
    assert "10.0.1.11" not in out.stdout
    for name in ("x.aws_pg.yaml", "aws_pg.yml"):
        assert members(listed(run_inventory(tmp_path, ec2.url, name=name)), "pg-a") == ["10.0.1.11"]


def test_describe_instances_reads_every_page(ec2):
    for i in range(7):
        ec2.launch(f"10.0.1.{20 + i}", pg_cluster="pg-a")
    aws = awslib.Aws({"region": MOTO_REGION, "endpoint_url": ec2.url})
    filters = [{"Name": "tag-key", "Values": ["pg_cluster"]}]
    assert len(awslib.describe_instances(aws, filters, page_size=5)) == 7
