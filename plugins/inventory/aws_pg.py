# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory plugin: the Pigsty-style inventory (etcd group, one group per cluster) built from EC2 tags."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: aws_pg
short_description: Builds the cluster inventory from tagged EC2 instances
version_added: 0.3.0
description:
  - Reads the running EC2 instances of one or more regions and builds the same groups and variables as a
    static inventory in the Pigsty style, from tags on the instances.
  - An instance tagged C(pg_cluster=pg-test) joins the group C(pg-test) with the host variables
    C(pg_seq) (integer, from the C(pg_seq) tag) and C(pg_role) (C(pg_role) tag); the group gets the group
    variable C(pg_cluster). An instance tagged C(etcd_seq=1) joins the group C(etcd) with C(etcd_seq).
    An instance can carry both sets of tags. Several clusters per region and several regions work.
  - Before anything is added, the identity rules of the collection's inventory check run on what the tags
    give (cluster name, C(pg_seq) and C(etcd_seq) integers and unique, C(pg_role) primary or replica, exactly
    one primary per cluster). Any problem fails this inventory source with every problem listed, each naming
    the instance ID and the tag to fix. Settings, secrets and the etcd member count are left to
    C(playbooks/preflight.yml), which sees group_vars too.
  - Every host also gets C(ec2_instance_id), C(ec2_region), C(ec2_availability_zone), C(ec2_subnet_id),
    C(ec2_vpc_id), C(ec2_private_ip_address), C(ec2_public_ip_address) (when it has one),
    C(ec2_instance_type), C(ec2_image_id) and C(ec2_tags) (every tag), and C(ansible_host).
  - Values read from AWS are marked unsafe, so a tag is never evaluated as a template.
  - Needs the IAM action C(ec2:DescribeInstances) only.
  - The file name must end in C(aws_pg.yml) or C(aws_pg.yaml).
options:
  plugin:
    description: Marks the file as this plugin's.
    required: true
    choices: [pgha.cloud.aws_pg]
    type: str
  regions:
    description:
      - Regions to read, for example C([eu-west-1, eu-central-1]).
      - Empty means the one region of the environment (C(AWS_REGION), C(AWS_DEFAULT_REGION)) or of the
        profile; the source fails, naming this option, when there is none.
    type: list
    elements: str
    default: []
  filters:
    description:
      - EC2 C(DescribeInstances) filters, a mapping of filter name to a value or a list of values, for
        example C(vpc-id) or C(tag:env) (see EXAMPLES).
      - C(instance-state-name) defaults to C(running). Unless C(tag-key) is given, only instances
        carrying at least one of the identity tags are asked for; instances without any are skipped
        in every case.
    type: dict
    default: {}
  clusters:
    description:
      - Cluster names to include; empty means every cluster found.
      - Instances of other clusters are left out, except as members of C(etcd) when they carry the
        C(etcd_seq) tag. A name here that no instance carries fails the source.
    type: list
    elements: str
    default: []
  tag_names:
    description:
      - Tag keys to read the identity from, when they differ from the variable names. Keys of this
        mapping are C(pg_cluster), C(pg_seq), C(pg_role) and C(etcd_seq); each defaults to its own name.
      - "For example C({pg_cluster: PgCluster, pg_seq: PgSeq})."
    type: dict
    default: {}
  hostname:
    description:
      - What names a host. V(private-ip-address) gives the static inventory's names (the address peers
        use); V(instance-id), V(private-dns-name), or V(tag:KEY) for the value of a tag.
      - With any other choice than V(private-ip-address) the host also gets C(node_address) set to the
        private IP address, which the roles use for peer traffic.
    type: str
    default: private-ip-address
  ansible_host:
    description:
      - How Ansible reaches a host, set as C(ansible_host).
      - V(public-ip-address) and V(public-dns-name) fail for an instance without one.
    type: str
    choices: [private-ip-address, public-ip-address, private-dns-name, public-dns-name]
    default: private-ip-address
  page_size:
    description: Instances per C(DescribeInstances) call (5 to 1000).
    type: int
    default: 1000
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - pgha.cloud.aws
notes:
  - C(strict) applies to C(compose), C(groups) and C(keyed_groups) only; identity tag problems always fail.
  - With C(cache=true) the instances (not the groups) are cached under a key made from this file's path;
    changed tags show after C(cache_timeout) or with C(ansible-inventory --flush-cache).
  - Prefer a profile, the environment or an instance role to keys in this file; if you must, encrypt them
    with C(ansible-vault encrypt_string). Messages never contain them.
"""

EXAMPLES = r"""
# inventories/prod-ec2/pg.aws_pg.yml
plugin: pgha.cloud.aws_pg
regions: [eu-west-1]
filters:
  vpc-id: vpc-0123456789abcdef0
  tag:env: [prod]
# Groups by availability zone (az_eu_west_1a, ...) and a variable for each host.
keyed_groups:
  - key: ec2_availability_zone
    prefix: az
compose:
  patroni_tags: "{{ {'zone': ec2_availability_zone} }}"

# Tags on each instance, for example:
#   pg_cluster=pg-prod pg_seq=1 pg_role=primary etcd_seq=1
# Check what it builds:
#   ansible-inventory -i inventories/prod-ec2 --graph
"""

# After the documentation, as Ansible's plugin conventions have it.
import ipaddress  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402
from ansible.utils.unsafe_proxy import wrap_var  # noqa: E402

from ansible_collections.pgha.cloud.plugins.module_utils import aws as awslib  # noqa: E402
from ansible_collections.pgha.cloud.plugins.module_utils import inventory_check  # noqa: E402

IDENTITY_TAGS = ("pg_cluster", "pg_seq", "pg_role", "etcd_seq")
HOSTNAME_SOURCES = ("private-ip-address", "instance-id", "private-dns-name")
# Option value -> field of the cached instance record.
ADDRESS_FIELDS = {
    "private-ip-address": "private_ip_address",
    "public-ip-address": "public_ip_address",
    "private-dns-name": "private_dns_name",
    "public-dns-name": "public_dns_name",
    "instance-id": "instance_id",
}
CONNECTION_OPTIONS = ("profile", "access_key", "secret_key", "session_token", "endpoint_url",
                      "max_attempts", "connect_timeout", "read_timeout")


def instance_record(region, instance):
    """The fields of a DescribeInstances item the plugin uses (JSON-safe, so the cache can hold it)."""
    placement = instance.get("Placement") or {}
    return {
        "region": region,
        "instance_id": instance["InstanceId"],
        "private_ip_address": instance.get("PrivateIpAddress") or None,
        "public_ip_address": instance.get("PublicIpAddress") or None,
        "private_dns_name": instance.get("PrivateDnsName") or None,
        "public_dns_name": instance.get("PublicDnsName") or None,
        "availability_zone": placement.get("AvailabilityZone"),
        "subnet_id": instance.get("SubnetId"),
        "vpc_id": instance.get("VpcId"),
        "instance_type": instance.get("InstanceType"),
        "image_id": instance.get("ImageId"),
        "tags": {t["Key"]: t.get("Value", "") for t in instance.get("Tags") or []},
    }


def ec2_filters(filters, tag_names):
    """DescribeInstances filters from the `filters` option: running only and tagged only, unless given."""
    merged = {"instance-state-name": ["running"], "tag-key": sorted(set(tag_names.values()))}
    for name, value in (filters or {}).items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise AnsibleParserError(
                f"filters: {name!r} must be a string or a list of strings (got {value!r}); "
                "see the Filter section of EC2 DescribeInstances for names and values")
        merged[str(name)] = [str(v) for v in values]
    return [{"Name": name, "Values": values} for name, values in merged.items()]


class _Host(object):
    """One instance as the inventory will show it."""

    def __init__(self, record, tag_names):
        self.record = record
        tags = record["tags"]
        self.tags = {var: tags.get(key) for var, key in tag_names.items()}
        self.name = None

    @property
    def label(self):
        """How messages name the host: its name and the instance ID."""
        instance_id = self.record["instance_id"]
        return instance_id if self.name == instance_id else f"{self.name} [{instance_id}]"

    def where(self):
        r = self.record
        return f"instance {r['instance_id']} ({r['private_ip_address']}, {r['region']})"


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "pgha.cloud.aws_pg"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("aws_pg.yml", "aws_pg.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        tag_names = self._tag_names()
        hostname = self._hostname_option()
        filters = ec2_filters(self.get_option("filters"), tag_names)

        # The cache holds the instances, never the groups: the rules below run on cached data too.
        key = self.get_cache_key(path)
        records = None
        if self.get_option("cache") and cache:
            records = self._cache.get(key)
        if records is None:
            records = self._read_instances(filters)
            if self.get_option("cache"):
                self._cache[key] = records

        hosts = self._select(records, tag_names)
        self._check(path, hosts, hostname, tag_names)
        self._populate(hosts, hostname)

    # -- options ----------------------------------------------------------------------------
    def _tag_names(self):
        given = self.get_option("tag_names") or {}
        unknown = sorted(set(given) - set(IDENTITY_TAGS))
        if unknown:
            raise AnsibleParserError(
                f"tag_names: unknown key(s) {', '.join(map(str, unknown))}; the keys are "
                f"{', '.join(IDENTITY_TAGS)} and each value is the tag key to read it from")
        names = {var: str(given.get(var) or var) for var in IDENTITY_TAGS}
        if len(set(names.values())) < len(names):
            raise AnsibleParserError(
                f"tag_names: two variables read the same tag ({names}); give each its own")
        return names

    def _hostname_option(self):
        value = self.get_option("hostname")
        if value in HOSTNAME_SOURCES or (value.startswith("tag:") and len(value) > 4):
            return value
        raise AnsibleParserError(
            f"hostname: {value!r} is not supported; use one of {', '.join(HOSTNAME_SOURCES)} or tag:KEY")

    def _read_instances(self, filters):
        settings = {name: self.get_option(name) for name in CONNECTION_OPTIONS}
        page_size = self.get_option("page_size")
        if not 5 <= page_size <= 1000:
            raise AnsibleParserError(f"page_size: {page_size} is outside what EC2 accepts (5 to 1000)")
        regions = list(dict.fromkeys(self.get_option("regions"))) or [None]
        records = []
        try:
            for region in regions:
                aws = awslib.Aws(dict(settings, region=region))
                region = aws.session.region_name
                found = awslib.describe_instances(aws, filters, page_size=page_size)
                records.extend(instance_record(region, i) for i in found)
        except awslib.AwsError as e:
            message = e.message
            if message.startswith("no AWS region"):
                message = "no AWS region: set regions in this file (for example [eu-west-1]) or AWS_REGION"
            raise AnsibleParserError(f"pgha.cloud.aws_pg: {message}") from None
        return sorted(records, key=_record_order)

    # -- what the tags say ------------------------------------------------------------------
    def _select(self, records, tag_names):
        """The instances that carry identity tags, minus the clusters not asked for."""
        wanted = set(self.get_option("clusters"))
        hosts = []
        for record in records:
            host = _Host(record, tag_names)
            if all(v is None for v in host.tags.values()):
                continue  # a `tag-key` filter of the user's may let untagged instances through
            if wanted and host.tags["pg_cluster"] not in wanted:
                if host.tags["etcd_seq"] is None:
                    continue
                # An etcd member serves every cluster: keep it, without the other cluster's identity.
                host.tags.update(pg_cluster=None, pg_seq=None, pg_role=None)
            hosts.append(host)
        found = {h.tags["pg_cluster"] for h in hosts}
        for name in sorted(wanted - found):
            raise AnsibleParserError(
                f"pgha.cloud.aws_pg: cluster {name!r} in `clusters` has no instance tagged "
                f"{tag_names['pg_cluster']}={name} among the running instances the regions and filters give")
        return hosts

    def _check(self, path, hosts, hostname, tag_names):
        errors = []
        for host in hosts:
            errors.extend(self._name_host(host, hostname))
        errors.extend(self._tag_errors(hosts, tag_names))
        errors.extend(_duplicate_names(hosts, hostname))
        if not errors:
            hostvars, groups = _identity(hosts)
            errors = inventory_check.identity_errors(hostvars, groups)
        if errors:
            renamed = [f"{var} from tag {key}" for var, key in tag_names.items() if var != key]
            raise AnsibleParserError(
                f"pgha.cloud.aws_pg: {len(errors)} problem(s) in the EC2 instances of {path}:\n"
                + "\n".join(errors)
                + "\nHosts are shown as 'name [instance ID]'. The variables come from the instances' tags"
                + (f" ({', '.join(renamed)})" if renamed else "")
                + ": fix the tags (aws ec2 create-tags --resources <instance ID>"
                " --tags Key=<tag>,Value=<value>) or leave the instances out with filters or clusters.")

    def _name_host(self, host, hostname):
        errors = []
        r = host.record
        if hostname.startswith("tag:"):
            host.name = r["tags"].get(hostname[4:]) or None
        else:
            host.name = r[ADDRESS_FIELDS[hostname]]
        if not host.name:
            what = f"tag {hostname[4:]}" if hostname.startswith("tag:") else hostname
            errors.append(f"{host.where()}: has no {what} to name it by (hostname: {hostname}); "
                          "set it, or choose another hostname")
            host.name = r["instance_id"]
        reach = self.get_option("ansible_host")
        if not r[ADDRESS_FIELDS[reach]]:
            errors.append(f"{host.where()}: has no {reach} for ansible_host; give the instance one, "
                          "or set ansible_host: private-ip-address")
        return errors

    def _tag_errors(self, hosts, tag_names):
        """What the inventory check cannot see: an empty cluster tag, or none beside pg_seq/pg_role."""
        errors = []
        cluster_tag = tag_names["pg_cluster"]
        for host in hosts:
            cluster = host.tags["pg_cluster"]
            if cluster is not None and not cluster.strip():
                errors.append(f"{host.where()}: tag {cluster_tag} is empty; set it to the cluster's name "
                              "(for example pg-test) or delete it")
            elif cluster is None:
                stray = [tag_names[v] for v in ("pg_seq", "pg_role") if host.tags[v] is not None]
                if stray:
                    errors.append(f"{host.where()}: has tag(s) {', '.join(stray)} but no tag {cluster_tag}; "
                                  f"add {cluster_tag}=<cluster name>, or delete {' and '.join(stray)}")
        return errors

    # -- the inventory ------------------------------------------------------------------------
    def _populate(self, hosts, hostname):
        etcd = sorted((h for h in hosts if h.tags["etcd_seq"] is not None),
                      key=lambda h: int(h.tags["etcd_seq"]))
        clusters = {}
        for host in hosts:
            if host.tags["pg_cluster"]:
                clusters.setdefault(host.tags["pg_cluster"], []).append(host)
        # Groups in the order a hand-written inventory has them: etcd, then each cluster by name.
        if etcd:
            self.inventory.add_group(inventory_check.ETCD_GROUP)
        for name in sorted(clusters):
            group = self.inventory.add_group(name)
            self.inventory.set_variable(group, "pg_cluster", wrap_var(name))
        for host in etcd:
            self.inventory.add_host(host.name, group=inventory_check.ETCD_GROUP)
        for name in sorted(clusters):
            for host in sorted(clusters[name], key=lambda h: int(h.tags["pg_seq"])):
                self.inventory.add_host(host.name, group=name)
        strict = self.get_option("strict")
        for host in hosts:
            hostvars = self._host_vars(host, hostname)
            for var, value in hostvars.items():
                self.inventory.set_variable(host.name, var, value)
            variables = dict(hostvars)
            if host.tags["pg_cluster"]:
                variables["pg_cluster"] = wrap_var(host.tags["pg_cluster"])
            self._set_composite_vars(self.get_option("compose"), variables, host.name, strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, host.name, strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, host.name, strict)

    def _host_vars(self, host, hostname):
        r = host.record
        out = {}
        if host.tags["pg_cluster"]:
            out["pg_seq"] = int(host.tags["pg_seq"])
            out["pg_role"] = host.tags["pg_role"]
        if host.tags["etcd_seq"] is not None:
            out["etcd_seq"] = int(host.tags["etcd_seq"])
        if hostname != "private-ip-address":
            out["node_address"] = r["private_ip_address"]
        out["ansible_host"] = r[ADDRESS_FIELDS[self.get_option("ansible_host")]]
        for field in ("instance_id", "region", "availability_zone", "subnet_id", "vpc_id",
                      "private_ip_address", "public_ip_address", "instance_type", "image_id", "tags"):
            if r.get(field) is not None:
                out[f"ec2_{field}"] = r[field]
        # Tag values and other AWS data are never templates (Ansible < 2.19 would otherwise render them).
        return {k: wrap_var(v) for k, v in out.items()}


def _record_order(record):
    """Region, then private address in numeric order (10.0.1.9 before 10.0.1.10)."""
    try:
        address = (0, ipaddress.ip_address(record["private_ip_address"] or ""))
    except ValueError:
        address = (1, record["private_ip_address"] or "")
    return (record["region"], address, record["instance_id"])


def _duplicate_names(hosts, hostname):
    """Two instances cannot share a host name (private IPs repeat across VPCs and regions)."""
    owners = {}
    for host in hosts:
        owners.setdefault(host.name, []).append(host)
    return [f"host name {name!r} (hostname: {hostname}) is shared by "
            f"{' and '.join(h.where() for h in same)}; give each instance its own, or narrow filters/regions"
            for name, same in owners.items() if len(same) > 1]


def _identity(hosts):
    """(hostvars, groups) as the inventory check expects them, keyed by each host's label."""
    hostvars, groups = {}, {}
    for host in hosts:
        hostvars[host.label] = {var: value for var, value in host.tags.items() if value is not None}
        cluster = host.tags["pg_cluster"]
        if cluster in inventory_check.RESERVED_GROUPS:
            # The check reports the name; in the etcd group these hosts would pose as members.
            groups.setdefault("ungrouped", []).append(host.label)
        elif cluster:
            groups.setdefault(cluster, []).append(host.label)
        if host.tags["etcd_seq"] is not None:
            groups.setdefault(inventory_check.ETCD_GROUP, []).append(host.label)
    return hostvars, groups
