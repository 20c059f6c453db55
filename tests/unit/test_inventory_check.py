"""Unit tests for plugins/module_utils/inventory_check.py and presets.py (plain dicts, no Ansible run)."""

import copy
from pathlib import Path

import pytest
import yaml

from ansible_collections.pgha.cloud.plugins.module_utils import inventory_check, patroni_core, presets, vip

ROOT = Path(__file__).resolve().parents[2]
# The pgbackrest role's defaults, as the inventory_errors filter passes them.
ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles/pgbackrest/defaults/main.yml").read_text())
DEFAULTS = {name: ROLE_DEFAULTS[name] for name in inventory_check.PGBACKREST_VARS if name in ROLE_DEFAULTS}
# Secrets of a backup repository: never in a message either.
REPO_SECRETS = ("s3_key_secret", "cipher_pass")

H1, H2, H3 = "10.210.0.11", "10.210.0.12", "10.210.0.13"

PASSWORDS = {
    "pg_superuser_password": "Sx-superuser-7f3a",
    "pg_replication_password": "Sx-replicator-91c2",
    "pg_rewind_password": "Sx-rewind-0b8e",
    "pg_admin_password": "Sx-admin-55d1",
    "patroni_rest_password": "Sx-patroni-c4e9",
    "etcd_root_password": "Sx-etcd-root-2d71",
}

CLUSTER_VARS = {"pg_cluster": "pg-test", "pg_rto": "fast", "pg_rpo": 0, "pg_entrypoints": ["haproxy"]}


def valid_inventory():
    """The sandbox inventory as Ansible resolves it: (hostvars, groups)."""
    hostvars = {}
    for seq, host in enumerate((H1, H2, H3), start=1):
        hostvars[host] = dict(CLUSTER_VARS, **PASSWORDS, etcd_seq=seq, pg_seq=seq,
                              pg_role="primary" if seq == 1 else "replica")
    groups = {"all": [H1, H2, H3], "ungrouped": [], "etcd": [H1, H2, H3], "pg-test": [H1, H2, H3]}
    return copy.deepcopy(hostvars), groups


def errors_of(hostvars, groups, defaults=DEFAULTS):
    """Run the check and enforce the rule every message must keep: no password value in it."""
    errors = inventory_check.inventory_errors(hostvars, groups, defaults=defaults)
    assert isinstance(errors, list)
    secrets = {vars_[name] for vars_ in hostvars.values() for name in PASSWORDS
               if isinstance(vars_.get(name), str) and vars_[name]}
    for vars_ in hostvars.values():
        repos = vars_.get("pgbackrest_repo")
        for entry in repos.values() if isinstance(repos, dict) else ():
            secrets.update(str(dict.get(entry, key)) for key in REPO_SECRETS
                           if isinstance(entry, dict) and len(str(dict.get(entry, key) or "")) > 3)
    for message in errors:
        for secret in secrets:
            assert secret not in message
    return errors


def only_error(hostvars, groups):
    errors = errors_of(hostvars, groups)
    assert len(errors) == 1, errors
    return errors[0]


def set_all(hostvars, name, value):
    for vars_ in hostvars.values():
        vars_[name] = value


def add_cluster(hostvars, groups, name, hosts):
    """Add a valid 1-primary cluster `name` made of new hosts (not etcd members)."""
    groups[name] = list(hosts)
    for seq, host in enumerate(hosts, start=1):
        if host not in groups["all"]:
            groups["all"].append(host)
        hostvars.setdefault(host, {}).update(
            dict(CLUSTER_VARS, **PASSWORDS, pg_cluster=name, pg_seq=seq,
                 pg_role="primary" if seq == 1 else "replica"))


# ---------------------------------------------------------------- valid input

def test_valid_inventory_has_no_errors():
    assert errors_of(*valid_inventory()) == []


def test_strings_from_ini_inventories_are_accepted():
    hostvars, groups = valid_inventory()
    for vars_ in hostvars.values():
        vars_.update(pg_seq=str(vars_["pg_seq"]), etcd_seq=str(vars_["etcd_seq"]), pg_rpo="0",
                     patroni_ttl="40", patroni_loop_wait="5", patroni_retry_timeout="10")
    assert errors_of(hostvars, groups) == []


def test_defaults_are_valid_when_optional_settings_are_unset():
    hostvars, groups = valid_inventory()
    for vars_ in hostvars.values():
        for name in ("pg_rto", "pg_rpo", "pg_entrypoints"):
            del vars_[name]
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("rto", sorted(presets.RTO_PLANS))
def test_every_rto_preset_is_accepted(rto):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", rto)
    assert errors_of(hostvars, groups) == []


def test_only_ansible_style_lookups_are_used():
    """HostVars is lazy: the check may only index hosts and .get() variables, never iterate."""

    class LazyVars:
        def __init__(self, data):
            self._data = data

        def get(self, name, default=None):
            return self._data.get(name, default)

        def __iter__(self):
            raise AssertionError("host variables must not be iterated")

    class LazyHostVars:
        def __init__(self, data):
            self._data = data

        def __getitem__(self, host):
            return LazyVars(self._data[host])

        def __iter__(self):
            raise AssertionError("hostvars must not be iterated")

    hostvars, groups = valid_inventory()
    assert inventory_check.inventory_errors(LazyHostVars(hostvars), groups) == []
    hostvars[H2]["pg_role"] = "primary"
    assert len(inventory_check.inventory_errors(LazyHostVars(hostvars), groups)) == 1


# ---------------------------------------------------------------- cluster membership and name

def test_host_must_be_in_group_named_by_pg_cluster():
    hostvars, groups = valid_inventory()
    hostvars[H3]["pg_cluster"] = "pg-prod"
    error = only_error(hostvars, groups)
    assert error.startswith(f"host {H3}: pg_cluster is 'pg-prod'")
    assert "not in a group named pg-prod" in error
    assert "(it is in group pg-test)" in error
    assert "put the host under a group called pg-prod" in error


def test_pg_cluster_without_any_group_is_reported():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.50"] = dict(PASSWORDS, pg_cluster="pg-lost", pg_seq=1, pg_role="primary")
    groups["all"].append("10.210.0.50")
    groups["ungrouped"].append("10.210.0.50")
    error = only_error(hostvars, groups)
    assert "host 10.210.0.50: pg_cluster is 'pg-lost'" in error
    assert "not in a group named pg-lost" in error


def test_reserved_group_name_as_pg_cluster():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.50"] = {"pg_cluster": "all"}
    groups["all"].append("10.210.0.50")
    error = only_error(hostvars, groups)
    assert "host 10.210.0.50: pg_cluster 'all'" in error
    assert "reserves" in error


def test_etcd_group_name_as_pg_cluster():
    # The cluster's hosts would join the etcd group and be judged as etcd members.
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.50"] = dict(PASSWORDS, pg_cluster="etcd", pg_seq=1, pg_role="primary")
    groups["all"].append("10.210.0.50")
    error = only_error(hostvars, groups)
    assert "host 10.210.0.50: pg_cluster 'etcd' is the name of the group of etcd members" in error


@pytest.mark.parametrize("name", ["pg_test", "PG-test", "-pg", "pg.test", "pg test"])
def test_bad_cluster_name(name):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_cluster", name)
    groups[name] = groups.pop("pg-test")
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster {name}, hosts {H1}, {H2}, {H3}: pg_cluster '{name}'")
    assert "not a valid cluster name" in error
    assert "lower-case letters, digits and '-'" in error


@pytest.mark.parametrize("name", ["pg-test", "pg1", "1pg", "a"])
def test_good_cluster_names(name):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_cluster", name)
    groups[name] = groups.pop("pg-test")
    assert errors_of(hostvars, groups) == []


def test_cluster_name_with_a_trailing_newline():
    # `$` matches before a trailing newline: only a full match refuses it.
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_cluster", "pg-test\n")
    groups["pg-test\n"] = groups.pop("pg-test")
    assert only_error(hostvars, groups) == (
        f"cluster pg-test\\n, hosts {H1}, {H2}, {H3}: pg_cluster 'pg-test\\n' is not a valid cluster name; "
        "use lower-case letters, digits and '-', starting with a letter or digit (e.g. pg-test), for both "
        "the group name and pg_cluster")


@pytest.mark.parametrize("value, shown", [("pg-test\n", "'pg-test\\n'"), ("pg-test ", "'pg-test '"),
                                          ("pg-test #", "'pg-test #'")])
def test_pg_cluster_that_is_no_valid_name_and_names_no_group(value, shown):
    # In YAML: pg_cluster: "pg-test\n" in the vars of group pg-test. One message for all its hosts.
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_cluster", value)
    assert only_error(hostvars, groups) == (
        f"hosts {H1}, {H2}, {H3}: pg_cluster {shown} is not a valid cluster name; use lower-case letters, "
        "digits and '-', starting with a letter or digit (e.g. pg-test), for both the group name and "
        "pg_cluster")


def test_host_in_two_clusters_names_both():
    hostvars, groups = valid_inventory()
    add_cluster(hostvars, groups, "pg-other", ["10.210.0.21", "10.210.0.22"])
    groups["pg-other"].append(H3)  # H3 keeps pg_cluster pg-test
    error = only_error(hostvars, groups)
    assert error.startswith(f"host {H3}: is in the groups of 2 clusters (pg-test, pg-other)")
    assert "remove it from all but one" in error
    assert "pg_cluster is 'pg-test'" in error


def test_host_in_cluster_group_with_other_pg_cluster_value():
    hostvars, groups = valid_inventory()
    hostvars[H3]["pg_cluster"] = ""
    error = only_error(hostvars, groups)
    assert error.startswith(f"host {H3}: is in group pg-test of cluster pg-test")
    assert "set pg_cluster: pg-test in the vars of group pg-test" in error


def test_parent_groups_are_not_clusters():
    hostvars, groups = valid_inventory()
    groups["pg_clusters"] = [H1, H2, H3]  # e.g. a parent group holding pg-test
    assert errors_of(hostvars, groups) == []


# ---------------------------------------------------------------- pg_seq

def test_missing_pg_seq():
    hostvars, groups = valid_inventory()
    del hostvars[H2]["pg_seq"]
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H2}: pg_seq is not set")
    assert "whole number >= 0, unique within the cluster" in error


@pytest.mark.parametrize("value, shown", [("abc", "'abc'"), (1.5, "1.5"), ("1.5", "'1.5'"),
                                          (True, "true"), ([1], "[1]"), (" 2", "' 2'"),
                                          ("2\n", "'2\\n'"), ("\u0662", "'\u0662'")])
def test_non_integer_pg_seq(value, shown):
    hostvars, groups = valid_inventory()
    hostvars[H2]["pg_seq"] = value
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H2}: pg_seq {shown} is not an integer")
    assert "set pg_seq to a whole number" in error


@pytest.mark.parametrize("value", [-1, "-1"])
def test_negative_pg_seq(value):
    hostvars, groups = valid_inventory()
    hostvars[H3]["pg_seq"] = value
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H3}: pg_seq -1 is negative")


@pytest.mark.parametrize("value", [2, "2"])
def test_duplicate_pg_seq_names_both_hosts(value):
    hostvars, groups = valid_inventory()
    hostvars[H3]["pg_seq"] = value
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H2}, {H3}: pg_seq 2 is used by {H2} and {H3}")
    assert "give each host its own pg_seq" in error


def test_same_pg_seq_in_different_clusters_is_fine():
    hostvars, groups = valid_inventory()
    add_cluster(hostvars, groups, "pg-other", ["10.210.0.21", "10.210.0.22"])
    assert errors_of(hostvars, groups) == []


def test_invalid_pg_seq_is_not_also_reported_as_duplicate():
    hostvars, groups = valid_inventory()
    hostvars[H2]["pg_seq"] = "x"
    hostvars[H3]["pg_seq"] = "x"
    errors = errors_of(hostvars, groups)
    assert len(errors) == 2
    assert all("is not an integer" in error for error in errors)


# ---------------------------------------------------------------- pg_role

def test_missing_pg_role():
    hostvars, groups = valid_inventory()
    del hostvars[H2]["pg_role"]
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H2}: pg_role is not set")
    assert "one of: primary, replica" in error


def test_unknown_pg_role_does_not_also_report_missing_primary():
    hostvars, groups = valid_inventory()
    hostvars[H1]["pg_role"] = "master"
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H1}: pg_role 'master' is not valid")
    assert "one of: primary, replica" in error


def test_two_primaries_are_named():
    hostvars, groups = valid_inventory()
    hostvars[H3]["pg_role"] = "primary"
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H3}: pg_role is primary on 2 hosts")
    assert f"({H1}, {H3})" in error
    assert "exactly one host" in error


def test_no_primary():
    hostvars, groups = valid_inventory()
    hostvars[H1]["pg_role"] = "replica"
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: no host has pg_role: primary")
    assert "set pg_role: primary on exactly one host" in error


# ---------------------------------------------------------------- pg_rto and Patroni timings

def test_unknown_pg_rto_lists_the_choices():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", "turbo")
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_rto 'turbo' is not a known preset")
    assert error.endswith("choose one of: fast, norm, patroni, safe, wide")


def test_unknown_pg_rto_skips_the_timing_check():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", "turbo")
    set_all(hostvars, "patroni_ttl", 10)
    assert len(errors_of(hostvars, groups)) == 1


def test_pg_rto_that_is_no_string_is_refused():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", ["fast"])
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_rto ['fast'] is not a known preset; "
        "choose one of: fast, norm, patroni, safe, wide")


def test_control_characters_are_shown_escaped_on_one_line():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", "fast\n\tslow")
    error = only_error(hostvars, groups)
    assert "\n" not in error
    assert "pg_rto 'fast\\n\\tslow' is not a known preset" in error


def test_ttl_below_patroni_minimum():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", "norm")
    set_all(hostvars, "patroni_ttl", 19)
    set_all(hostvars, "patroni_loop_wait", 1)
    set_all(hostvars, "patroni_retry_timeout", 1)
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: Patroni timings from pg_rto 'norm' "
                            "with patroni_ttl=19, patroni_loop_wait=1, patroni_retry_timeout=1")
    assert "ttl=19 is below Patroni's minimum of 20" in error
    assert "remove them to use the preset (ttl=30, loop_wait=5, retry_timeout=10)" in error


def test_baseline_preset_is_accepted_and_its_overrides_checked():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", "patroni")
    assert errors_of(hostvars, groups) == []
    set_all(hostvars, "patroni_ttl", 25)  # loop_wait 10 + 2 * retry_timeout 10 = 30
    error = only_error(hostvars, groups)
    assert "loop_wait + 2 * retry_timeout = 10 + 2 * 10 = 30 exceeds ttl=25" in error


def test_override_is_merged_over_the_preset():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", "norm")  # loop_wait 5, retry_timeout 10
    set_all(hostvars, "patroni_ttl", 20)
    error = only_error(hostvars, groups)
    assert "loop_wait + 2 * retry_timeout = 5 + 2 * 10 = 25 exceeds ttl=20" in error
    assert "Patroni requires loop_wait + 2 * retry_timeout <= ttl" in error


def test_loop_wait_plus_twice_retry_timeout_above_ttl():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "patroni_retry_timeout", 10)  # fast: ttl 20, loop_wait 2
    error = only_error(hostvars, groups)
    assert "with patroni_retry_timeout=10" in error
    assert "2 + 2 * 10 = 22 exceeds ttl=20" in error


def test_ttl_10_breaks_both_rules():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "patroni_ttl", 10)
    errors = errors_of(hostvars, groups)
    assert len(errors) == 2
    assert "below Patroni's minimum of 20" in errors[0]
    assert "exceeds ttl=10" in errors[1]


def test_valid_overrides_pass():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rto", "norm")
    set_all(hostvars, "patroni_ttl", 45)
    set_all(hostvars, "patroni_retry_timeout", 20)
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("name", ["patroni_ttl", "patroni_loop_wait", "patroni_retry_timeout"])
def test_non_integer_override(name):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, "30s")
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} '30s' is not an integer")
    assert "whole number of seconds" in error


# ---------------------------------------------------------------- pg_rpo

@pytest.mark.parametrize("value", [0, "0", 1048576, "16777216"])
def test_valid_pg_rpo(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rpo", value)
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("value", [-1, "-1"])
def test_negative_pg_rpo(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rpo", value)
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_rpo -1 is negative")
    assert "use 0 (synchronous" in error


@pytest.mark.parametrize("value", ["1MB", 0.5, False])
def test_non_integer_pg_rpo(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rpo", value)
    error = only_error(hostvars, groups)
    assert ": pg_rpo " in error
    assert "is not an integer" in error


# ---------------------------------------------------------------- cluster-wide agreement

@pytest.mark.parametrize("name, value, other", [
    ("pg_rto", "fast", "safe"),
    ("pg_rpo", 0, 1048576),
    ("patroni_ttl", 40, 60),
    ("patroni_loop_wait", 2, 3),
    ("patroni_retry_timeout", 5, 6),
    ("pg_version", 16, 17),
    ("pg_tls", "require", "prefer"),
])
def test_cluster_wide_settings_must_agree(name, value, other):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    hostvars[H3][name] = other
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} differs between hosts")
    assert f"{value} on {H1}, {H2}; {other} on {H3}" in error.replace("'", "")
    assert "set it once in the vars of group pg-test" in error


def test_setting_on_one_host_only_is_a_disagreement():
    hostvars, groups = valid_inventory()
    hostvars[H1]["pg_version"] = 17
    error = only_error(hostvars, groups)
    assert f"17 on {H1}; (unset) on {H2}, {H3}" in error


def test_equal_int_and_string_values_agree():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_version", 17)
    hostvars[H2]["pg_version"] = "17"
    assert errors_of(hostvars, groups) == []


# ---------------------------------------------------------------- pg_version and pg_tls

@pytest.mark.parametrize("value", [10, 16, "17"])
def test_pg_version_major_is_accepted(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_version", value)
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("value, shown", [("16\n", "'16\\n'"), ("16 #", "'16 #'"), ("9.6", "'9.6'"),
                                          (9.6, "9.6"), (9, "9"), ("", "''"), ("latest", "'latest'"),
                                          (True, "true")])
def test_pg_version_must_be_a_major_version(value, shown):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_version", value)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_version {shown} is not a PostgreSQL major version; "
        "use a whole number such as 17, or remove it to use the distribution's")


@pytest.mark.parametrize("value", ["require", "prefer"])
def test_pg_tls_modes_are_accepted(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_tls", value)
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("value, shown", [("disable", "'disable'"), ("Require", "'Require'"),
                                          ("require\n", "'require\\n'"), ("", "''"), (True, "true")])
def test_pg_tls_must_be_require_or_prefer(value, shown):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_tls", value)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_tls {shown} is not valid; use require (clients must "
        "use TLS, the default) or prefer (plaintext is allowed too)")


@pytest.mark.parametrize("value", [True, "true", "yes"])
def test_pigstys_patroni_ssl_enabled_true_is_accepted(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "patroni_ssl_enabled", value)
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("value, shown", [(False, "false"), ("no", "'no'"), ("maybe", "'maybe'")])
def test_patroni_ssl_enabled_off_is_refused(value, shown):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "patroni_ssl_enabled", value)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: patroni_ssl_enabled {shown} is not supported: Patroni's "
        "REST API always serves HTTPS with the node certificate here (its basic-auth password must not cross "
        "the network in clear); remove the variable or set it to true")


# ---------------------------------------------------------------- pg_entrypoints

def test_implemented_entrypoints_are_accepted():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_entrypoints", ["haproxy"])
    assert errors_of(hostvars, groups) == []


AWS_VARS = {
    "entrypoint_aws_region": "eu-west-1",
    "entrypoint_aws_vpc_id": "vpc-0abc",
    "entrypoint_aws_subnets": ["subnet-a", "subnet-b", "subnet-c"],
    "entrypoint_aws_zone_id": "Z0123",
    "entrypoint_aws_zone_name": "db.internal",
}


def aws_inventory(**overrides):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_entrypoints", ["haproxy", "nlb", "route53"])
    for name, value in dict(AWS_VARS, **overrides).items():
        if value is None:
            for vars_ in hostvars.values():
                vars_.pop(name, None)
        else:
            set_all(hostvars, name, value)
    return hostvars, groups


def test_aws_entrypoints_with_their_settings_are_accepted():
    assert errors_of(*aws_inventory()) == []


def test_nlb_with_target_groups_made_elsewhere_needs_no_vpc():
    hostvars, groups = aws_inventory(entrypoint_aws_vpc_id=None, entrypoint_aws_subnets=None,
                                     entrypoint_aws_primary_target_group_arn="arn:tg/p",
                                     entrypoint_aws_replica_target_group_arn="arn:tg/r")
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("missing, expected", [
    ("entrypoint_aws_region", "has nlb, route53 but entrypoint_aws_region is not set"),
    ("entrypoint_aws_vpc_id", "has nlb but entrypoint_aws_vpc_id is not set"),
    ("entrypoint_aws_subnets", "entrypoint_aws_subnets is not a list of two or more subnet IDs"),
    ("entrypoint_aws_zone_id", "has route53 but entrypoint_aws_zone_id is not set"),
    ("entrypoint_aws_zone_name", "has route53 but entrypoint_aws_zone_name is not set"),
])
def test_aws_entrypoints_name_the_missing_setting(missing, expected):
    error = only_error(*aws_inventory(**{missing: None}))
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_entrypoints ")
    assert expected in error


def test_nlb_needs_subnets_in_two_zones():
    error = only_error(*aws_inventory(entrypoint_aws_subnets=["subnet-a"]))
    assert "one subnet per Availability Zone" in error


def test_route53_alone_needs_no_vpc():
    hostvars, groups = aws_inventory(entrypoint_aws_vpc_id=None, entrypoint_aws_subnets=None)
    set_all(hostvars, "pg_entrypoints", ["haproxy", "route53"])
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("value", ["members", "haproxy"])
def test_nlb_targets_either_layout_is_accepted(value):
    hostvars, groups = aws_inventory(pg_nlb_targets=value)
    assert errors_of(hostvars, groups) == []


def test_nlb_targets_unknown_value_is_refused():
    error = only_error(*aws_inventory(pg_nlb_targets="proxies"))
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_nlb_targets 'proxies' is not "
                            "members or haproxy")


def test_nlb_targets_without_nlb_is_refused():
    hostvars, groups = aws_inventory(pg_nlb_targets="haproxy")
    set_all(hostvars, "pg_entrypoints", ["haproxy", "route53"])
    error = only_error(hostvars, groups)
    assert "pg_nlb_targets is haproxy but pg_entrypoints does not list nlb" in error


def test_nlb_targets_is_one_value_per_cluster():
    hostvars, groups = aws_inventory(pg_nlb_targets="haproxy")
    hostvars[H2]["pg_nlb_targets"] = "members"
    assert any("pg_nlb_targets" in e and "differ" in e for e in errors_of(hostvars, groups))


def test_nlb_on_haproxy_needs_one_port_per_service_on_every_router():
    hostvars, groups = aws_inventory(pg_nlb_targets="haproxy")
    assert errors_of(hostvars, groups) == []
    hostvars[H2]["haproxy_primary_port"] = 6433  # H2's HAProxy listens elsewhere for the cluster
    error = only_error(hostvars, groups)
    assert error.startswith("cluster pg-test: pg_nlb_targets is haproxy, but the HAProxy hosts routing to it "
                            "listen on different ports for it (")
    assert f"{H2}: primary 6433, replica 5434, default 5436" in error
    assert f"{H1}, {H3}: primary 5433, replica 5434, default 5436" in error
    assert "set pg_haproxy_ports on the cluster" in error
    # The cluster's own pg_haproxy_ports win over each host's haproxy_*_port: one port again.
    set_all(hostvars, "pg_haproxy_ports", {"primary": 6433, "replica": 6434, "default": 6436})
    assert errors_of(hostvars, groups) == []


def test_aws_keys_come_in_pairs():
    hostvars, groups = aws_inventory(entrypoint_aws_access_key="AKIAEXAMPLE")
    error = only_error(hostvars, groups)
    assert "set entrypoint_aws_access_key and entrypoint_aws_secret_key together" in error


def test_entrypoints_must_be_a_list():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_entrypoints", "haproxy")
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_entrypoints 'haproxy'")
    assert "is not a list" in error
    assert "pg_entrypoints: [haproxy]" in error


def test_unknown_entrypoint():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_entrypoints", ["haproxy", "elb"])
    error = only_error(hostvars, groups)
    assert "pg_entrypoints has unknown item(s) 'elb'" in error
    assert error.endswith("choose from: haproxy, nlb, route53, vip")


# ---------------------------------------------------------------- the vip entry point

def with_vip(address="10.210.0.100/24", **extra):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_entrypoints", ["haproxy", "vip"])
    set_all(hostvars, "pg_vip_address", address)
    for name, value in extra.items():
        set_all(hostvars, name, value)
    return hostvars, groups


def test_vip_is_accepted_with_an_address():
    assert errors_of(*with_vip()) == []
    assert errors_of(*with_vip(pg_vip_vrid=51, pg_vip_interface="eth0")) == []


def test_vip_without_address():
    hostvars, groups = with_vip()
    set_all(hostvars, "pg_vip_address", None)
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_entrypoints lists vip but "
                            "pg_vip_address is not set")
    assert "e.g. pg_vip_address: 10.0.1.100/24" in error


@pytest.mark.parametrize("address, fragment", [
    ("10.210.0.100", "pg_vip_address '10.210.0.100' has no prefix length; write it with the prefix of "
                     "the nodes' network, e.g. 10.210.0.100/24"),
    ("10.210.0.1000/24", "is not an IPv4 address with a prefix length"),
    ("fd00::100/64", "supports IPv4 only"),
    ("10.210.0.255/24", "is the network or broadcast address of 10.210.0.0/24"),
])
def test_vip_address_must_be_an_ipv4_host_with_prefix(address, fragment):
    error = only_error(*with_vip(address))
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_vip_address")
    assert fragment in error


@pytest.mark.parametrize("address, shown", [("10.210.0.100/24\n", "'10.210.0.100/24\\n'"),
                                            (" 10.210.0.100/24", "' 10.210.0.100/24'")])
def test_vip_address_is_taken_as_written(address, shown):
    assert only_error(*with_vip(address)) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_vip_address {shown} has spaces or a line break around "
        "it; write the address alone, e.g. pg_vip_address: 10.0.1.100/24")


def test_vip_must_not_be_a_members_address():
    error = only_error(*with_vip(f"{H2}/24"))
    assert f"pg_vip_address {H2} is the address of host {H2}" in error
    assert "a free address that no node owns" in error


def test_vip_must_not_be_any_inventory_hosts_address():
    hostvars, groups = with_vip("10.210.0.50/24")
    hostvars["10.210.0.50"] = {"etcd_seq": 4}  # an etcd-only host
    groups["all"].append("10.210.0.50")
    groups["etcd"] += ["10.210.0.50", "10.210.0.51"]
    hostvars["10.210.0.51"] = {"etcd_seq": 5}
    groups["all"].append("10.210.0.51")
    error = only_error(hostvars, groups)
    assert "pg_vip_address 10.210.0.50 is the address of host 10.210.0.50" in error


def test_vip_is_compared_with_node_address_not_the_name():
    hostvars, groups = with_vip("10.210.0.100/24")
    hostvars[H3]["node_address"] = "10.210.0.100"
    error = only_error(hostvars, groups)
    assert f"is the address of host {H3}" in error


def test_vip_must_be_in_the_members_network():
    error = only_error(*with_vip("10.220.0.100/24"))
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_vip_address 10.220.0.100/24 is "
                            f"not in the network of {H1}, {H2}, {H3}")
    assert "announces the VIP by ARP on the members' own network" in error


def test_members_known_by_name_are_not_judged_by_network():
    hostvars, groups = with_vip("10.220.0.100/24")
    for host in (H1, H2, H3):
        hostvars[host]["node_address"] = f"db-{host[-2:]}.example.com"
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("vrid", [0, 256, "x", 1.5])
def test_vip_vrid_must_be_1_to_255(vrid):
    error = only_error(*with_vip(pg_vip_vrid=vrid))
    assert ": pg_vip_vrid " in error
    assert "is not a whole number from 1 to 255" in error
    assert f"derived from the cluster name ({vip.default_vrid('pg-test')})" in error


@pytest.mark.parametrize("vrid", [1, "255", 51])
def test_vip_vrid_in_range_passes(vrid):
    assert errors_of(*with_vip(pg_vip_vrid=vrid)) == []


def test_vip_interface_must_look_like_a_device():
    hostvars, groups = with_vip()
    hostvars[H2]["pg_vip_interface"] = "eth 0"
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H2}: pg_vip_interface 'eth 0' is not an interface name")


@pytest.mark.parametrize("value, shown", [("eth0\n", "'eth0\\n'"), ("eth0 #", "'eth0 #'"),
                                          ("eth'0", "'eth'0'"), ("a" * 16, f"'{'a' * 16}'")])
def test_vip_interface_must_be_a_device_name_in_full(value, shown):
    hostvars, groups = with_vip()
    set_all(hostvars, "pg_vip_interface", value)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_vip_interface {shown} is not an interface name; give "
        "the device that holds the node's address (e.g. eth0), or remove it to find that device from the "
        "node's address")


def test_vip_interface_may_differ_between_hosts():
    hostvars, groups = with_vip()
    hostvars[H1]["pg_vip_interface"] = "eth0"
    hostvars[H2]["pg_vip_interface"] = "ens18"
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("name, value, other", [("pg_vip_address", "10.210.0.100/24", "10.210.0.101/24"),
                                                ("pg_vip_vrid", 10, 11)])
def test_vip_settings_are_cluster_wide(name, value, other):
    hostvars, groups = with_vip()
    set_all(hostvars, name, value)
    hostvars[H3][name] = other
    error = only_error(hostvars, groups)
    assert f"{name} differs between hosts of the cluster" in error


def test_vip_on_some_members_only():
    hostvars, groups = with_vip()
    hostvars[H3]["pg_entrypoints"] = ["haproxy"]
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H3}: pg_entrypoints does not list vip, "
                            f"but {H1}, {H2} do")
    assert "set pg_entrypoints once in the vars of group pg-test" in error


@pytest.mark.parametrize("name, value", [("pg_vip_address", "10.210.0.100/24"), ("pg_vip_vrid", 7),
                                         ("pg_vip_interface", "eth0")])
def test_vip_settings_without_the_vip_entry_point(name, value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} set but pg_entrypoints does "
                            "not list vip, so no VIP would be deployed")
    assert "pg_entrypoints: [haproxy, vip]" in error


def test_vip_needs_a_peer():
    hostvars, groups = with_vip()
    groups["pg-test"] = [H1]
    for host in (H2, H3):
        del hostvars[host]["pg_cluster"]
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H1}: the vip entry point needs at least 2 members")


def add_vip_cluster(hostvars, groups, name, hosts, address, vrid=None):
    add_cluster(hostvars, groups, name, hosts)
    for host in hosts:
        hostvars[host].update(pg_entrypoints=["haproxy", "vip"], pg_vip_address=address)
        if vrid is not None:
            hostvars[host]["pg_vip_vrid"] = vrid


def test_clusters_on_one_network_with_the_same_derived_vrid():
    # CRC32 puts pg-4 and pg-20 on the same id (16).
    assert vip.default_vrid("pg-4") == vip.default_vrid("pg-20")
    hostvars, groups = {}, {"all": [], "ungrouped": [], "etcd": [H1, H2, H3]}
    for seq, host in enumerate((H1, H2, H3), start=1):
        hostvars[host] = {"etcd_seq": seq}
        groups["all"].append(host)
    add_vip_cluster(hostvars, groups, "pg-4", ["10.210.0.21", "10.210.0.22"], "10.210.0.104/24")
    add_vip_cluster(hostvars, groups, "pg-20", ["10.210.0.31", "10.210.0.32"], "10.210.0.120/24")
    error = only_error(hostvars, groups)
    assert error == (
        f"clusters pg-4, pg-20: share the network 10.210.0.0/24 and both use VRRP virtual router id "
        f"{vip.default_vrid('pg-4')} (pg-4 derived from its name, pg-20 derived from its name); set "
        "pg_vip_vrid to different numbers from 1 to 255 in the vars of one or both groups")
    for host in ("10.210.0.31", "10.210.0.32"):
        hostvars[host]["pg_vip_vrid"] = 99
    assert errors_of(hostvars, groups) == []


def test_clusters_with_the_same_explicit_vrid_on_separate_networks_pass():
    hostvars, groups = with_vip(pg_vip_vrid=9)
    add_vip_cluster(hostvars, groups, "pg-other", ["10.220.0.21", "10.220.0.22"], "10.220.0.100/24", vrid=9)
    assert errors_of(hostvars, groups) == []


def test_clusters_with_the_same_explicit_vrid_on_one_network():
    hostvars, groups = with_vip(pg_vip_vrid=9)
    add_vip_cluster(hostvars, groups, "pg-other", ["10.210.0.21", "10.210.0.22"], "10.210.0.101/24", vrid=9)
    error = only_error(hostvars, groups)
    assert error.startswith("clusters pg-test, pg-other: share the network 10.210.0.0/24 and both use VRRP "
                            "virtual router id 9 (pg-test from pg_vip_vrid, pg-other from pg_vip_vrid)")


def test_clusters_must_not_share_a_vip():
    hostvars, groups = with_vip()
    add_vip_cluster(hostvars, groups, "pg-other", ["10.210.0.21", "10.210.0.22"], "10.210.0.100/24")
    error = only_error(hostvars, groups)
    assert error == ("clusters pg-test, pg-other: both use pg_vip_address 10.210.0.100; each cluster needs "
                     "a VIP of its own")


# ---------------------------------------------------------------- passwords

# Pigsty runs without these two (peer-only superuser, rewind as the replicator).
OPTIONAL_OWN_PASSWORDS = ("pg_superuser_password", "pg_rewind_password")
OPTIONAL_PASSWORDS = OPTIONAL_OWN_PASSWORDS + ("pg_monitor_password", "haproxy_admin_password")


@pytest.mark.parametrize("name", sorted(set(PASSWORDS) - set(OPTIONAL_OWN_PASSWORDS)))
@pytest.mark.parametrize("value", [None, "", "  "])
def test_missing_or_empty_password(name, value):
    hostvars, groups = valid_inventory()
    for vars_ in hostvars.values():
        if value is None:
            del vars_[name]
        else:
            vars_[name] = value
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} is not set, empty, "
                            "or refers to an undefined variable")
    assert "Ansible Vault" in error


def test_missing_password_names_only_the_hosts_without_it():
    hostvars, groups = valid_inventory()
    del hostvars[H2]["pg_admin_password"]
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, host {H2}: pg_admin_password is not set")


def test_pigsty_runs_without_a_superuser_or_rewind_password():
    # Pigsty: an empty pg_dbsu_password (peer only), pg_rewind as the replicator.
    hostvars, groups = valid_inventory()
    for name in OPTIONAL_OWN_PASSWORDS:
        for vars_ in hostvars.values():
            del vars_[name]
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("name", OPTIONAL_OWN_PASSWORDS)
def test_superuser_and_rewind_passwords_are_set_on_every_member_or_none(name):
    hostvars, groups = valid_inventory()
    del hostvars[H2][name]
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, host {H2}: {name} is not set, but it is on the cluster's other hosts; set it "
        "once in the vars of group pg-test, or nowhere")


def test_a_named_rewind_user_needs_its_password():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "patroni_rewind_username", "rewinder")
    for vars_ in hostvars.values():
        del vars_["pg_rewind_password"]
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: patroni_rewind_username rewinder has no "
        "pg_rewind_password; set one (in Ansible Vault), or remove patroni_rewind_username and pg_rewind "
        "connects as the replication user (Pigsty's way)")


def test_rewinding_as_the_replication_user_takes_no_rewind_password():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_replication_username", "repl")
    set_all(hostvars, "patroni_rewind_username", "repl")
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: patroni_rewind_username is the replication user (repl), "
        "who logs in with pg_replication_password; remove pg_rewind_password, or name another user for "
        "pg_rewind")
    for vars_ in hostvars.values():
        del vars_["pg_rewind_password"]
    assert errors_of(hostvars, groups) == []


def test_the_superuser_cannot_be_the_rewind_user():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "patroni_rewind_username", "postgres")
    error = only_error(hostvars, groups)
    assert error.endswith("patroni_rewind_username is the superuser (postgres), who logs in on the local "
                          "socket only; remove patroni_rewind_username")


def test_the_rewind_user_is_the_same_on_every_member():
    hostvars, groups = valid_inventory()
    hostvars[H3]["patroni_rewind_username"] = "rewinder"
    assert "patroni_rewind_username differs between hosts of the cluster" in only_error(hostvars, groups)


def test_no_password_value_appears_in_any_message():
    hostvars, groups = valid_inventory()
    # Break as much as possible at once, with passwords present on every host.
    hostvars[H1].update(pg_seq="x", pg_role="leader", pg_rto="turbo", pg_rpo=-5,
                        pg_entrypoints=["elb"], pg_version=15)
    hostvars[H2].update(pg_seq=-1, patroni_ttl=5)
    hostvars[H3]["pg_admin_password"] = ""
    groups["etcd"] = [H1, H2]
    errors = inventory_check.inventory_errors(hostvars, groups)
    assert len(errors) > 8
    text = "\n".join(errors)
    for secret in PASSWORDS.values():
        assert secret not in text
    assert "pg_admin_password is not set, empty, or refers to an undefined variable" in text


@pytest.mark.parametrize("name", OPTIONAL_PASSWORDS)
def test_optional_passwords_may_be_unset_or_set(name):
    hostvars, groups = valid_inventory()
    for vars_ in hostvars.values():
        vars_.pop(name, None)
    assert errors_of(hostvars, groups) == []
    set_all(hostvars, name, "Sx-optional-#' 9")  # any characters: passwords are never judged by them
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("name", OPTIONAL_PASSWORDS)
@pytest.mark.parametrize("value", [None, "", "  "])
def test_optional_password_set_but_empty(name, value):
    hostvars, groups = valid_inventory()
    hostvars[H2][name] = value
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, host {H2}: {name} is set but empty, or refers to an undefined variable (is the "
        "vault file loaded?); give it a password kept in Ansible Vault (ansible-vault encrypt_string), or "
        f"remove {name}")


@pytest.mark.parametrize("name", OPTIONAL_PASSWORDS)
@pytest.mark.parametrize("value", [1234, True, ["x"]])
def test_optional_password_must_be_a_string(name, value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    error = only_error(hostvars, groups)
    assert error == (f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} is not a string; quote the password "
                     "(and keep it in Ansible Vault)")
    assert str(value) not in error


def test_haproxy_admin_password_of_a_pg_proxy_host_is_checked():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.14"] = {"haproxy_admin_password": ""}
    groups["all"].append("10.210.0.14")
    groups["pg_proxy"] = ["10.210.0.14"]
    assert only_error(hostvars, groups) == (
        "group pg_proxy, host 10.210.0.14: haproxy_admin_password is set but empty, or refers to an "
        "undefined variable (is the vault file loaded?); give it a password kept in Ansible Vault "
        "(ansible-vault encrypt_string), or remove haproxy_admin_password")


# ---------------------------------------------------------------- pg_client_networks

@pytest.mark.parametrize("networks", [[], ["10.210.0.0/24", "127.0.0.1/32"], ["0.0.0.0/0"], ["::/0"],
                                      ["2001:db8::/32", "fd00::5/128"]])
def test_client_networks_in_cidr_form_are_accepted(networks):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_client_networks", networks)
    assert errors_of(hostvars, groups) == []


NOT_A_NETWORK = ("is not a network; write each as address/prefix length, e.g. 10.0.0.0/24 "
                 "(one host: 10.0.0.5/32)")


@pytest.mark.parametrize("item, problem", [
    # A pg_hba injection: would read `host all all 0.0.0.0/0 trust # scram-sha-256`.
    ("0.0.0.0/0 trust #", NOT_A_NETWORK),
    # PostgreSQL refuses the whole pg_hba at its next restart.
    ("10.0.0.300/24", NOT_A_NETWORK),
    ("10.0.0.1/24", "has host bits set; write the network address 10.0.0.0/24"),
    ("10.0.0.0/24\n", NOT_A_NETWORK),
    (" 10.0.0.0/24", NOT_A_NETWORK),
    ("10.0.0.0/255.255.255.0", NOT_A_NETWORK),
    ("fe80::%eth0/64", NOT_A_NETWORK),
    ("10.0.0.0/33", NOT_A_NETWORK),
    ("all", NOT_A_NETWORK),
    (24, NOT_A_NETWORK),
    ("10.0.0.5", "has no prefix length; write 10.0.0.5/32 for that one host"),
    ("fd00::5", "has no prefix length; write fd00::5/128 for that one host"),
])
def test_client_network_must_be_a_network_in_cidr_form(item, problem):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_client_networks", ["10.210.0.0/24", item])
    shown = inventory_check._show(item)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_client_networks item {shown} {problem}")


def test_each_bad_client_network_is_one_message():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_client_networks", ["0.0.0.0/0 trust #", "10.0.0.300/24", "10.0.0.1/24"])
    errors = errors_of(hostvars, groups)
    assert [error.split(" item ")[1].split(" ")[0] for error in errors] == [
        "'0.0.0.0/0", "'10.0.0.300/24'", "'10.0.0.1/24'"]


@pytest.mark.parametrize("value", ["10.210.0.0/24", {"net": "10.210.0.0/24"}])
def test_client_networks_must_be_a_list(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_client_networks", value)
    error = only_error(hostvars, groups)
    assert error.startswith(f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_client_networks ")
    assert error.endswith(" is not a list; write it as a list of networks, e.g. pg_client_networks: "
                          "[10.0.0.0/24]")


def test_patroni_client_networks_override_is_checked_too():
    hostvars, groups = valid_inventory()
    hostvars[H1]["patroni_client_networks"] = ["0.0.0.0/0 trust"]
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, host {H1}: patroni_client_networks item '0.0.0.0/0 trust' {NOT_A_NETWORK}")


# ---------------------------------------------------------------- names written into configuration files

PG_NAME_HINT = "use 1 to 63 of a-z, 0-9 and _, starting with a letter or _ (quoted names are not supported)"
BAD_PG_NAMES = [("App", "'App'"), ("app user", "'app user'"), ("app\n", "'app\\n'"), ("app#", "'app#'"),
                ('a"b', "'a\"b'"), ("o'x", "'o'x'"), ("1app", "'1app'"), ("", "''"),
                ("a" * 64, f"'{'a' * 64}'"), ("app\x00", "'app\\x00'"), (7, "7")]


@pytest.mark.parametrize("name", inventory_check.PG_USERNAME_VARS)
def test_user_names_that_are_plain_postgresql_names_pass(name):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, "_pg_user_1")
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("name", inventory_check.PG_USERNAME_VARS)
@pytest.mark.parametrize("value, shown", BAD_PG_NAMES)
def test_user_names_must_be_plain_postgresql_names(name, value, shown):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} {shown} is not a valid PostgreSQL role name; "
        f"{PG_NAME_HINT}")


@pytest.mark.parametrize("name", ["patroni_rest_username", "haproxy_admin_username"])
@pytest.mark.parametrize("value, shown", [("a:b", "'a:b'"), ("pat roni", "'pat roni'"),
                                          ("patroni\n", "'patroni\\n'"), ("", "''")])
def test_http_user_names_must_be_plain_names(name, value, shown):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} {shown} is not a valid user name; "
        "use 1 to 63 of letters, digits, '_', '.' and '-', starting with a letter, digit or '_'")


@pytest.mark.parametrize("name", ["patroni_rest_username", "haproxy_admin_username"])
def test_http_user_names_that_are_plain_pass(name):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, "Ops.admin-1")
    assert errors_of(hostvars, groups) == []


def test_haproxy_admin_username_of_a_pg_proxy_host_is_checked():
    hostvars, groups = valid_inventory()
    hostvars["10.210.0.14"] = {"haproxy_admin_username": "admin #"}
    groups["all"].append("10.210.0.14")
    groups["pg_proxy"] = ["10.210.0.14"]
    assert only_error(hostvars, groups) == (
        "group pg_proxy, host 10.210.0.14: haproxy_admin_username 'admin #' is not a valid user name; "
        "use 1 to 63 of letters, digits, '_', '.' and '-', starting with a letter, digit or '_'")


def test_users_and_databases_with_plain_names_pass():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_users", [{"name": "app", "password": "Sx-app ' # \n", "attributes": "LOGIN"},
                                   {"name": "_ro_2", "password": "x", "roles": ["pg_read_all_data"]}])
    set_all(hostvars, "pg_databases", [{"name": "app", "owner": "app"}, {"name": "reports"}])
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("value, shown", BAD_PG_NAMES)
def test_pg_users_name_must_be_a_plain_postgresql_name(value, shown):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_users", [{"name": value, "password": "Sx-app-3f1e"}])
    error = only_error(hostvars, groups)
    assert error == (f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_users name {shown} is not a valid "
                     f"PostgreSQL role name; {PG_NAME_HINT}")
    assert "Sx-app-3f1e" not in error


@pytest.mark.parametrize("field, what", [("name", "database"), ("owner", "role")])
@pytest.mark.parametrize("value, shown", BAD_PG_NAMES)
def test_pg_databases_names_must_be_plain_postgresql_names(field, what, value, shown):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_databases", [dict({"name": "app", "owner": "app"}, **{field: value})])
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: pg_databases {field} {shown} is not a valid PostgreSQL "
        f"{what} name; {PG_NAME_HINT}")


@pytest.mark.parametrize("name, value, expected", [
    ("pg_users", {"name": "app", "password": "Sx-app-3f1e"},
     "pg_users is not a list; write it as a list of users, e.g. pg_users: [{name: app, password: ...}]"),
    ("pg_users", ["Sx-app-3f1e"],
     "pg_users item 1 is not a mapping; write each user as {name: app, password: ...}"),
    ("pg_users", [{"password": "Sx-app-3f1e"}],
     "pg_users item 1 has no name; write each user as {name: app, password: ...}"),
    ("pg_databases", "app",
     "pg_databases is not a list; write it as a list of databases, e.g. pg_databases: "
     "[{name: app, owner: app}]"),
    ("pg_databases", [{"name": "app"}, {"owner": "app"}],
     "pg_databases item 2 has no name; write each database as {name: app, owner: app}"),
    ("patroni_users", [{"name": "App", "password": "Sx-app-3f1e"}],
     f"patroni_users name 'App' is not a valid PostgreSQL role name; {PG_NAME_HINT}"),
])
def test_users_and_databases_must_be_lists_of_mappings(name, value, expected):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, value)
    error = only_error(hostvars, groups)
    assert error == f"cluster pg-test, hosts {H1}, {H2}, {H3}: {expected}"
    assert "Sx-app-3f1e" not in error


# ---------------------------------------------------------------- host addresses

ADDRESS_HINT = "is not an IP address or a DNS host name (letters, digits, '-' and dots)"


@pytest.mark.parametrize("address", ["10.210.0.21", "fd00::21", "db-1", "db-1.example.com", "DB1.Example.com",
                                     "a" * 63 + ".example.com"])
def test_node_address_ip_or_host_name_is_accepted(address):
    hostvars, groups = valid_inventory()
    hostvars[H2]["node_address"] = address
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("address, shown", [
    ("10.0.0.300", "'10.0.0.300'"), ("10.210.0.21\n", "'10.210.0.21\\n'"),
    (" 10.210.0.21", "' 10.210.0.21'"), ("db 1", "'db 1'"), ("db_1", "'db_1'"), ("-db", "'-db'"),
    ("db-", "'db-'"), ("db..example", "'db..example'"), ("db.example.", "'db.example.'"),
    ("fe80::1%eth0", "'fe80::1%eth0'"), ("10.210.0.21/24", "'10.210.0.21/24'"), ("db#1", "'db#1'"),
    ("a" * 64, f"'{'a' * 64}'"), ("  ", "'  '"), (167772161, "167772161"),
])
def test_node_address_must_be_an_ip_or_host_name(address, shown):
    hostvars, groups = valid_inventory()
    hostvars[H2]["node_address"] = address
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, host {H2}: node_address {shown} {ADDRESS_HINT}; set it to the address the "
        "other hosts reach this one at (e.g. node_address: 10.0.0.11)")


def test_host_name_longer_than_253_is_refused():
    name = ".".join(["a" * 63] * 4)  # 255 characters
    hostvars, groups = valid_inventory()
    hostvars[H2]["node_address"] = name
    assert only_error(hostvars, groups).startswith(f"cluster pg-test, host {H2}: node_address '{name}' "
                                                   f"{ADDRESS_HINT}")


@pytest.mark.parametrize("group, where", [("pg-test", "cluster pg-test"), ("etcd", "group etcd"),
                                          ("pg_proxy", "group pg_proxy")])
def test_inventory_name_used_as_address_must_be_an_ip_or_host_name(group, where):
    hostvars, groups = valid_inventory()
    if group == "pg-test":
        add_cluster(hostvars, groups, "pg-test", [H1, H2, H3, "db_4"])
        hostvars["db_4"]["pg_seq"] = 4
    elif group == "etcd":
        hostvars["db_4"] = {"etcd_seq": 4}
        groups["etcd"] += ["db_4", "10.210.0.15"]
        hostvars["10.210.0.15"] = {"etcd_seq": 5}
        groups["all"] += ["db_4", "10.210.0.15"]
    else:
        hostvars["db_4"] = {}
        groups["pg_proxy"] = ["db_4"]
        groups["all"].append("db_4")
    assert only_error(hostvars, groups) == (
        f"{where}, host db_4: node_address is not set and the inventory name, used as the address, "
        f"{ADDRESS_HINT}; set node_address to the address the other hosts reach it at "
        "(e.g. node_address: 10.0.0.11)")


def test_inventory_name_is_not_judged_when_node_address_is_set():
    hostvars, groups = valid_inventory()
    add_cluster(hostvars, groups, "pg-test", [H1, H2, H3, "db_4"])
    hostvars["db_4"].update(pg_seq=4, node_address="10.210.0.14")
    assert errors_of(hostvars, groups) == []


def test_hosts_the_roles_do_not_configure_are_not_judged_by_name():
    hostvars, groups = valid_inventory()
    hostvars["backup_box"] = {}
    groups["all"].append("backup_box")
    groups["ungrouped"].append("backup_box")
    assert errors_of(hostvars, groups) == []


# ---------------------------------------------------------------- etcd

def test_etcd_group_is_required_for_clusters():
    hostvars, groups = valid_inventory()
    del groups["etcd"]
    error = only_error(hostvars, groups)
    assert error.startswith("group etcd: is missing or empty, but cluster(s) pg-test need it")
    assert "3 (or 5) hosts" in error


def test_empty_etcd_group_is_reported():
    hostvars, groups = valid_inventory()
    groups["etcd"] = []
    assert only_error(hostvars, groups).startswith("group etcd: is missing or empty")


def test_no_clusters_and_no_etcd_is_fine():
    assert errors_of({}, {"all": [], "ungrouped": []}) == []


def test_etcd_without_clusters_is_still_checked():
    hostvars = {H1: {"etcd_seq": 1}, H2: {"etcd_seq": 2}}
    groups = {"all": [H1, H2], "ungrouped": [], "etcd": [H1, H2]}
    error = only_error(hostvars, groups)
    assert "has 2 members, an even number" in error


def test_missing_etcd_seq():
    hostvars, groups = valid_inventory()
    del hostvars[H2]["etcd_seq"]
    error = only_error(hostvars, groups)
    assert error.startswith(f"group etcd, host {H2}: etcd_seq is not set")
    assert "unique whole number etcd_seq >= 1" in error


@pytest.mark.parametrize("value, problem", [
    ("two", "'two' is not an integer"),
    (2.0, "2.0 is not an integer"),
    (0, "0 is below 1"),
    ("-3", "-3 is below 1"),
])
def test_bad_etcd_seq(value, problem):
    hostvars, groups = valid_inventory()
    hostvars[H2]["etcd_seq"] = value
    error = only_error(hostvars, groups)
    assert error.startswith(f"group etcd, host {H2}: etcd_seq {problem}")


def test_duplicate_etcd_seq():
    hostvars, groups = valid_inventory()
    hostvars[H3]["etcd_seq"] = "1"
    error = only_error(hostvars, groups)
    assert error.startswith(f"group etcd, hosts {H1}, {H3}: etcd_seq 1 is used by {H1} and {H3}")


def with_etcd_members(count, **extra):
    hostvars, groups = valid_inventory()
    members = [f"10.210.1.{n}" for n in range(1, count + 1)]
    for seq, host in enumerate(members, start=1):
        hostvars[host] = dict(extra, etcd_seq=seq)
    groups["etcd"] = members
    groups["all"] += members
    return hostvars, groups


@pytest.mark.parametrize("count, majority, tolerated", [(2, 2, 0), (4, 3, 1), (6, 4, 2)])
def test_even_etcd_member_count_explains_quorum(count, majority, tolerated):
    error = only_error(*with_etcd_members(count))
    assert error.startswith("group etcd, hosts 10.210.1.1, 10.210.1.2")
    assert f"has {count} members, an even number" in error
    assert f"majority ({majority} of {count})" in error
    assert f"{count} members tolerate {tolerated} failure(s), no more than {count - 1} would" in error
    assert "odd count of at least 3" in error


@pytest.mark.parametrize("count", [3, 5, 7])
def test_odd_etcd_member_counts_pass(count):
    assert errors_of(*with_etcd_members(count)) == []


def test_single_etcd_member_needs_the_sandbox_flag():
    error = only_error(*with_etcd_members(1))
    assert error.startswith("group etcd, host 10.210.1.1: has 1 member")
    assert "use 3 or 5 members" in error
    assert "etcd_allow_single_member: true" in error
    assert "sandbox" in error


@pytest.mark.parametrize("flag", [True, "true", "yes"])
def test_single_etcd_member_allowed_with_flag(flag):
    assert errors_of(*with_etcd_members(1, etcd_allow_single_member=flag)) == []


@pytest.mark.parametrize("flag", [False, "false", None])
def test_single_etcd_member_flag_must_be_true(flag):
    assert len(errors_of(*with_etcd_members(1, etcd_allow_single_member=flag))) == 1


# ---------------------------------------------------------------- ordering

def test_errors_follow_inventory_order():
    hostvars, groups = valid_inventory()
    add_cluster(hostvars, groups, "pg-b", ["10.210.0.21", "10.210.0.22"])
    hostvars["10.210.0.22"]["pg_role"] = "primary"
    hostvars[H2]["pg_role"] = "primary"
    hostvars[H3]["etcd_seq"] = 1
    errors = errors_of(hostvars, groups)
    assert [error.split(":")[0].split(",")[0] for error in errors] == [
        "cluster pg-test", "cluster pg-b", "group etcd"]
    assert errors == inventory_check.inventory_errors(hostvars, groups)


# ---------------------------------------------------------------- presets.py

@pytest.mark.parametrize("name", sorted(presets.RTO_PLANS))
def test_every_preset_satisfies_patroni_rules(name):
    plan = presets.RTO_PLANS[name]
    assert patroni_core.timing_errors(plan["ttl"], plan["loop_wait"], plan["retry_timeout"]) == []


def test_patroni_defaults_are_valid():
    assert patroni_core.timing_errors(**presets.PATRONI_DEFAULTS) == []


def test_baseline_preset_is_patronis_stock_configuration():
    # Patroni's documented defaults and the checks of its sample haproxy.cfg.
    plan = presets.rto_plan("patroni")
    assert (plan["ttl"], plan["loop_wait"], plan["retry_timeout"]) == (30, 10, 10)
    assert (plan["primary_start_timeout"], plan["primary_stop_timeout"]) == (300, 0)
    assert plan["haproxy"] == {"inter": "3s", "fastinter": "3s", "downinter": "3s", "rise": 2, "fall": 3}
    assert presets.PATRONI_DEFAULTS == {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
    assert plan["crash_outage_bound"] == 30 + 2 * 10 + 5


def test_default_rto_is_a_preset():
    assert presets.DEFAULT_RTO in presets.RTO_PLANS


@pytest.mark.parametrize("ttl, loop_wait, retry_timeout, fragments", [
    (19, 1, 1, ["ttl=19 is below Patroni's minimum of 20"]),
    (30, 0, 10, ["loop_wait=0 must be at least 1"]),
    (30, 5, 0, ["retry_timeout=0 must be at least 1"]),
    (30, 11, 10, ["11 + 2 * 10 = 31 exceeds ttl=30", "loop_wait + 2 * retry_timeout <= ttl"]),
])
def test_timing_errors_name_the_broken_rule(ttl, loop_wait, retry_timeout, fragments):
    errors = patroni_core.timing_errors(ttl, loop_wait, retry_timeout)
    assert len(errors) == 1
    for fragment in fragments:
        assert fragment in errors[0]


def test_timing_boundary_is_allowed():
    assert patroni_core.timing_errors(20, 10, 5) == []
    assert len(patroni_core.timing_errors(20, 11, 5)) == 1


def test_rto_plan_default_and_named():
    assert presets.rto_plan()["name"] == presets.DEFAULT_RTO
    assert presets.rto_plan("")["name"] == presets.DEFAULT_RTO
    plan = presets.rto_plan("safe")
    assert (plan["name"], plan["ttl"], plan["loop_wait"], plan["retry_timeout"]) == ("safe", 60, 10, 20)


def test_rto_plan_unknown_name_lists_choices():
    with pytest.raises(ValueError) as exc:
        presets.rto_plan("turbo")
    assert "'turbo'" in str(exc.value)
    assert "choose one of: fast, norm, patroni, safe, wide" in str(exc.value)


def test_rto_plan_overrides_and_ignores_none():
    plan = presets.rto_plan("norm", {"ttl": "45", "loop_wait": None, "retry_timeout": 12})
    assert (plan["ttl"], plan["loop_wait"], plan["retry_timeout"]) == (45, 5, 12)


def test_rto_plan_returns_a_copy():
    plan = presets.rto_plan("fast", {"ttl": 99})
    plan["haproxy"]["inter"] = "9s"
    assert presets.RTO_PLANS["fast"]["ttl"] == 20
    assert presets.RTO_PLANS["fast"]["haproxy"]["inter"] == "1s"


@pytest.mark.parametrize("rpo", [None, "", 0, "0"])
def test_rpo_zero_is_synchronous(rpo):
    assert presets.rpo_settings(rpo) == {"synchronous_mode": True, "maximum_lag_on_failover": 1048576}


@pytest.mark.parametrize("rpo, lag", [(1, 1), (16777216, 16777216), ("33554432", 33554432)])
def test_positive_rpo_is_asynchronous_with_lag_bound(rpo, lag):
    assert presets.rpo_settings(rpo) == {"synchronous_mode": False, "maximum_lag_on_failover": lag}


@pytest.mark.parametrize("rpo", [-1, "-1048576"])
def test_negative_rpo_is_rejected(rpo):
    with pytest.raises(ValueError, match="is negative"):
        presets.rpo_settings(rpo)


@pytest.mark.parametrize("rpo", ["1MB", "1.5", [0]])
def test_non_integer_rpo_names_the_variable_and_the_fix(rpo):
    # The role's own check when it runs without the preflight; not Python's int() message.
    with pytest.raises(ValueError, match=r"pg_rpo=.* is not an integer; use 0 \(synchronous\) or a byte"):
        presets.rpo_settings(rpo)


class _UndefinedMarker:
    """Stands in for Ansible's marker of a value that refers to an undefined variable."""

    def __bool__(self):
        raise RuntimeError("'vault_pg_admin_password' is undefined")


def test_password_referring_to_undefined_variable_is_missing():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_admin_password", _UndefinedMarker())
    error = only_error(hostvars, groups)
    assert "pg_admin_password is not set, empty, or refers to an undefined variable" in error


@pytest.mark.parametrize("name", OPTIONAL_PASSWORDS)
def test_optional_password_referring_to_undefined_variable(name):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, _UndefinedMarker())
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: {name} is set but empty, or refers to an undefined "
        "variable (is the vault file loaded?); give it a password kept in Ansible Vault "
        f"(ansible-vault encrypt_string), or remove {name}")


# ---------------------------------------------------------------- identity only (inventory plugins)

def test_identity_errors_leave_settings_secrets_and_etcd_size_to_the_preflight():
    hostvars, groups = valid_inventory()
    for vars_ in hostvars.values():
        for name in PASSWORDS:
            del vars_[name]
        vars_["pg_rto"] = "turbo"
    groups["etcd"] = groups["etcd"][:2]
    assert len(errors_of(hostvars, groups)) == 6  # pg_rto, four required passwords, two etcd members
    assert inventory_check.identity_errors(hostvars, groups) == []


def test_identity_errors_report_what_the_full_check_reports_about_identity():
    hostvars, groups = valid_inventory()
    hostvars[H2]["pg_seq"] = 1
    hostvars[H3]["pg_role"] = "leader"
    hostvars[H3]["etcd_seq"] = "x"
    errors = inventory_check.identity_errors(hostvars, groups)
    assert len(errors) == 3, errors
    assert set(errors) <= set(inventory_check.inventory_errors(hostvars, groups))
    assert any("pg_seq 1 is used by 10.210.0.11 and 10.210.0.12" in e for e in errors)
    assert any("pg_role 'leader' is not valid" in e for e in errors)
    assert any("group etcd, host 10.210.0.13: etcd_seq 'x' is not an integer" in e for e in errors)


# -- Pigsty's static /etc/hosts records -------------------------------------------
def test_etc_hosts_records_are_accepted():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "node_etc_hosts", ["10.211.0.1 s3.pgha.test", "10.0.0.9  minio.internal sss"])
    set_all(hostvars, "node_default_etc_hosts", [])
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("records, fragment", [
    ("10.0.0.1 a.test", "is not a list"),
    ([["10.0.0.1", "a.test"]], "not a string"),
    (["${admin_ip} h.pigsty"], "placeholder"),
    (["10.0.0.1 a.test # minio"], "without comments"),
    (["10.0.0.1\nevil.test"], "newline"),
    (["a.test 10.0.0.1"], "must start with an IP address"),
    (["10.0.0.1"], "at least one host name"),
    (["10.0.0.300 a.test"], "must start with an IP address"),
    (["10.0.0.1 bad_name"], "'bad_name'"),
])
def test_etc_hosts_records_are_checked(records, fragment):
    hostvars, groups = valid_inventory()
    hostvars[H2]["node_etc_hosts"] = records
    error = only_error(hostvars, groups)
    assert error.startswith(f"host {H2}: node_etc_hosts") and fragment in error


def test_pigstys_default_records_name_the_missing_admin_node():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "node_default_etc_hosts", ["${admin_ip} i.pigsty"])
    errors = errors_of(hostvars, groups)
    assert len(errors) == 3 and all("node_default_etc_hosts" in e and "admin node" in e for e in errors)


# ---------------------------------------------------------------- backups (pgBackRest)

ALL = f"cluster pg-test, hosts {H1}, {H2}, {H3}: "
CIPHER = "Bk-cipher-passphrase-6e1f0a"
KEY_SECRET = "Bk-s3-secret-key-93d2c7"
# The schedule the pgbackrest role is getting as its default.
WEEKLY = [{"type": "full", "on_calendar": "Sun *-*-* 01:00:00"},
          {"type": "diff", "on_calendar": "Mon..Sat *-*-* 01:00:00"}]


def s3_entry(**changes):
    entry = {"type": "s3", "s3_endpoint": "s3.eu-west-1.amazonaws.com", "s3_region": "eu-west-1",
             "s3_bucket": "acme-pg-backup", "s3_key": "AKIAEXAMPLE", "s3_key_secret": KEY_SECRET,
             "path": "/pgbackrest/${pg_cluster}", "cipher_type": "aes-256-cbc", "cipher_pass": CIPHER,
             "retention_full_type": "count", "retention_full": 4}
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def with_s3(**changes):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_method", "s3")
    set_all(hostvars, "pgbackrest_repo", {"s3": s3_entry(**changes)})
    return hostvars, groups


def test_backup_defaults_come_from_the_pgbackrest_role():
    assert DEFAULTS["pgbackrest_method"] == "local"
    assert DEFAULTS["pgbackrest_repo"] == {
        "local": {"path": "/var/lib/pgbackrest", "retention_full_type": "count", "retention_full": 2}}


def test_the_filter_reads_the_role_defaults_file():
    from ansible_collections.pgha.cloud.plugins.filter import pgha

    assert pgha._pgbackrest_defaults() == DEFAULTS
    assert Path(pgha.PGBACKREST_DEFAULTS).resolve() == (ROOT / "roles/pgbackrest/defaults/main.yml").resolve()


def test_backup_defaults_are_valid():
    hostvars, groups = valid_inventory()
    assert errors_of(hostvars, groups) == []
    assert errors_of(hostvars, groups, defaults=dict(DEFAULTS, pgbackrest_schedule=WEEKLY)) == []


def test_an_s3_repository_with_encryption_is_valid():
    hostvars, groups = with_s3()
    set_all(hostvars, "pgbackrest_schedule", WEEKLY + [{"type": "incr", "on_calendar": "hourly"}])
    assert errors_of(hostvars, groups) == []


def test_pigstys_shape_with_an_unused_entry_is_valid():
    hostvars, groups = with_s3()
    role = s3_entry(s3_key_type="auto", s3_key=None, s3_key_secret=None)
    set_all(hostvars, "pgbackrest_repo", {"local": {"path": "/pg/backup", "retention_full": 2}, "s3": role})
    assert errors_of(hostvars, groups) == []


def test_block_is_left_to_the_role_that_knows_the_release():
    # Debian 13's pgBackRest takes block incremental, Debian 12's (2.45) does not.
    hostvars, groups = with_s3(block=True, bundle=True)
    assert errors_of(hostvars, groups) == []
    hostvars, groups = with_s3(block=True)
    assert only_error(hostvars, groups) == (
        ALL + "pgbackrest_repo.s3.block is on but bundle is not; pgBackRest needs bundle: true for block "
        "incremental backups")


@pytest.mark.parametrize("value", [True, False, "true", "False", "yes", "NO", "on", "off", "1", "0"])
def test_pgbackrest_enabled_takes_ansible_booleans(value):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_enabled", value)
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("value, shown", [
    ("ture", "'ture'"), ("y", "'y'"), (" true", "' true'"), (1, "1"), (None, "null"), (["true"], "['true']"),
])
def test_pgbackrest_enabled_refuses_what_ansible_would_read_as_false(value, shown):
    hostvars, groups = with_s3(s3_bucket=None)  # not checked: whether to back up is unclear
    set_all(hostvars, "pgbackrest_enabled", value)
    assert only_error(hostvars, groups) == (
        f"{ALL}pgbackrest_enabled {shown} is not a boolean; use true (back up the cluster with pgBackRest, "
        "the default) or false (also yes/no, on/off; Ansible would read any other value as false)")


def test_a_cluster_without_backups_is_not_checked():
    hostvars, groups = with_s3(s3_bucket=None, retention_full=0)
    set_all(hostvars, "pgbackrest_schedule", "nightly")
    set_all(hostvars, "pgbackrest_enabled", False)
    assert errors_of(hostvars, groups) == []


def test_each_cluster_is_checked_with_its_own_settings():
    hostvars, groups = valid_inventory()
    add_cluster(hostvars, groups, "pg-other", ["10.210.0.21", "10.210.0.22"])
    for host in groups["pg-other"]:
        hostvars[host].update(pgbackrest_method="s3", pgbackrest_repo={"s3": s3_entry(s3_region=None)})
    assert only_error(hostvars, groups) == (
        "cluster pg-other, hosts 10.210.0.21, 10.210.0.22: pgbackrest_repo.s3.s3_region is missing; an s3 "
        "repository needs s3_bucket, s3_region and s3_endpoint")


@pytest.mark.parametrize("changes, message", [
    ({"retention_full": 0}, "pgbackrest_repo.s3.retention_full 0 is not a whole number from 1 to 9999999; "
                            "set it to 1 or more"),
    ({"retention_full": None}, "pgbackrest_repo.s3.retention_full is missing; without it pgBackRest never "
                               "expires a backup"),
    ({"s3_bucket": None}, "pgbackrest_repo.s3.s3_bucket is missing; an s3 repository needs s3_bucket, "
                          "s3_region and s3_endpoint"),
    ({"s3_region": None}, "pgbackrest_repo.s3.s3_region is missing"),
    ({"s3_bucket": "Acme_Backups"}, "pgbackrest_repo.s3.s3_bucket 'Acme_Backups' is not an S3 bucket name"),
    ({"cipher_pass": None}, "pgbackrest_repo.s3.cipher_pass is missing; aes-256-cbc needs a passphrase of at "
                            "least 16 characters (keep it in a vault)"),
    ({"cipher_pass": "Bk-short-pass"}, "pgbackrest_repo.s3.cipher_pass is shorter than 16 characters"),
    ({"cipher_type": "none"}, "pgbackrest_repo.s3.cipher_pass is set but cipher_type is none"),
    ({"s3_key_secret": None}, "pgbackrest_repo.s3.s3_key_secret is missing; set s3_key and s3_key_secret, or "
                              "s3_key_type: auto"),
    ({"s3_key_secret": "Bk secret with spaces"}, "pgbackrest_repo.s3.s3_key_secret has whitespace, '#', a "
                                                 "quote or a control character"),
    ({"type": "azure"}, "pgbackrest_repo.s3.type 'azure': Azure Blob Storage repositories are not supported "
                        "by pgha.cloud yet; use one of posix, s3"),
    ({"type": "minio"}, "pgbackrest_repo.s3.type 'minio' is not a pgBackRest repository type the collection "
                        "supports; use one of posix, s3 (a MinIO repository is s3)"),
    ({"s3_uri": "s3://acme"}, "pgbackrest_repo.s3 has unknown keys: s3_uri"),
    ({"path": "pgbackrest"}, "pgbackrest_repo.s3.path 'pgbackrest' is not an absolute path"),
    ({"bundle_size": "128MiB"}, "pgbackrest_repo.s3.bundle_size is set but bundle is not on"),
])
def test_a_bad_repository_is_refused_before_any_host_changes(changes, message):
    error = only_error(*with_s3(**changes))
    assert error.startswith(ALL + message), error


def test_a_bad_local_repository_is_refused():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_repo", {"local": {"path": "/pg/backup", "retention_full": 2,
                                                    "s3_bucket": "acme-pg-backup"}})
    assert only_error(hostvars, groups) == (
        ALL + "pgbackrest_repo.local is a posix repository but sets s3_bucket; set type: s3 or remove them")


@pytest.mark.parametrize("method, repo, message", [
    ("minio", None, "pgbackrest_method 'minio' names no entry of pgbackrest_repo (it has: local); set "
                    "pgbackrest_method to one of them or add the entry"),
    (None, {"s3": s3_entry()}, "pgbackrest_method 'local' names no entry of pgbackrest_repo (it has: s3)"),
    ("", None, "pgbackrest_method '' is not a repository name"),
    (None, ["local"], "pgbackrest_repo is list, not a mapping of repository names to settings"),
    (None, {"local": "/pg/backup"}, "pgbackrest_repo.local is str, not a mapping of pgBackRest repository "
                                    "options"),
])
def test_method_and_repo_are_read_with_the_role_defaults(method, repo, message):
    hostvars, groups = valid_inventory()
    if method is not None:
        set_all(hostvars, "pgbackrest_method", method)
    if repo is not None:
        set_all(hostvars, "pgbackrest_repo", repo)
    error = only_error(hostvars, groups)
    assert error.startswith(ALL + message), error


def test_without_defaults_unset_backup_variables_are_not_checked():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_repo", {"s3": s3_entry()})
    assert errors_of(hostvars, groups, defaults=None) == []
    assert len(errors_of(hostvars, groups)) == 1  # 'local' (the role's default) names no entry


def test_secrets_of_the_repository_never_reach_a_message():
    hostvars, groups = with_s3(cipher_pass="Bk-short", s3_key_secret="Bk secret")
    errors = errors_of(hostvars, groups)  # asserts no secret value in any message
    assert len(errors) == 2 and all("Bk-short" not in e and "Bk secret" not in e for e in errors)


# -- the members of a cluster share one stanza
def test_members_must_agree_on_pgbackrest_enabled():
    hostvars, groups = valid_inventory()
    hostvars[H3]["pgbackrest_enabled"] = False
    assert only_error(hostvars, groups) == (
        f"{ALL}pgbackrest_enabled differs between hosts of the cluster (true on {H1}, {H2}; false on {H3}); "
        "the members archive WAL into one stanza and any of them may become the primary, so set it once in "
        "the vars of group pg-test")


def test_members_must_agree_on_pgbackrest_method():
    hostvars, groups = with_s3()
    for vars_ in hostvars.values():
        vars_["pgbackrest_repo"] = dict(vars_["pgbackrest_repo"], **DEFAULTS["pgbackrest_repo"])
    del hostvars[H1]["pgbackrest_method"]
    assert only_error(hostvars, groups) == (
        f"{ALL}pgbackrest_method differs between hosts of the cluster ('local' on {H1}; 's3' on {H2}, {H3}); "
        "the members share one stanza and any of them may become the primary, so set it once in the vars of "
        "group pg-test (or for every cluster in group all)")


def test_members_must_agree_on_the_repository_without_showing_it():
    hostvars, groups = with_s3()
    hostvars[H2]["pgbackrest_repo"] = {"s3": s3_entry(s3_bucket="acme-pg-other", cipher_pass=CIPHER + "-2")}
    error = only_error(hostvars, groups)
    assert error == (
        f"{ALL}pgbackrest_repo.s3 differs between hosts of the cluster in cipher_pass, s3_bucket (one value "
        f"on {H1}, {H3}; another on {H2}; values not shown); the members share one stanza and any of them "
        "may become the primary, so set it once in the vars of group pg-test (or for every cluster in group "
        "all)")
    assert "acme-pg" not in error


def test_members_agree_when_one_spells_out_the_default():
    hostvars, groups = valid_inventory()
    hostvars[H1].update(pgbackrest_enabled="yes", **copy.deepcopy(DEFAULTS))
    assert errors_of(hostvars, groups) == []


def test_members_must_agree_on_the_schedule():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_schedule", WEEKLY)
    hostvars[H3]["pgbackrest_schedule"] = WEEKLY[:1]
    assert only_error(hostvars, groups) == (
        f"{ALL}pgbackrest_schedule differs between hosts of the cluster (one value on {H1}, {H2}; another on "
        f"{H3}); the backups run on whichever member is the primary, so set it once in the vars of group "
        "pg-test (or for every cluster in group all)")


# -- undefined references (a vault file that is not loaded)
class _UndefinedEntry(dict):
    """A dict like Ansible's lazy one: reading `key` raises, as a reference to an undefined variable does."""

    def __init__(self, data, key):
        super().__init__(data)
        self._undefined = key

    def __getitem__(self, key):
        if key == self._undefined:
            raise RuntimeError("'vault_pgbackrest_cipher_pass' is undefined")
        return super().__getitem__(key)

    def items(self):
        raise RuntimeError("'vault_pgbackrest_cipher_pass' is undefined")


def test_a_repository_secret_referring_to_an_undefined_variable():
    hostvars, groups = with_s3()
    set_all(hostvars, "pgbackrest_repo", {"s3": _UndefinedEntry(s3_entry(), "cipher_pass")})
    assert only_error(hostvars, groups) == (
        f"{ALL}pgbackrest_repo.s3.cipher_pass refers to an undefined variable (is the vault file loaded?); "
        "define it, and keep passphrases and keys in Ansible Vault")


@pytest.mark.parametrize("name", ["pgbackrest_repo", "pgbackrest_method", "pgbackrest_schedule"])
def test_a_backup_variable_referring_to_an_undefined_variable(name):
    hostvars, groups = valid_inventory()
    set_all(hostvars, name, _UndefinedMarker())
    assert only_error(hostvars, groups).startswith(f"{ALL}{name} refers to an undefined variable")


def test_pgbackrest_enabled_referring_to_an_undefined_variable():
    hostvars, groups = valid_inventory()
    hostvars[H1]["pgbackrest_enabled"] = _UndefinedMarker()
    assert only_error(hostvars, groups).startswith(
        f"cluster pg-test, host {H1}: pgbackrest_enabled refers to an undefined variable")


# -- pgbackrest_schedule
@pytest.mark.parametrize("schedule", [
    [],
    [{"type": "full", "on_calendar": "daily"}],
    [{"type": "diff", "on_calendar": "*-*-* 02:00:00"}, {"type": "incr", "on_calendar": "hourly"}],
    WEEKLY,
])
def test_schedules_that_are_accepted(schedule):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_schedule", schedule)
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("schedule, message", [
    ("Sun *-*-* 01:00:00", "pgbackrest_schedule is str, not a list; write it as a list such as "
                           "[{type: full, on_calendar: 'Sun *-*-* 01:00:00'}"),
    ({"type": "full", "on_calendar": "daily"}, "pgbackrest_schedule is dict, not a list"),
    (["daily"], "pgbackrest_schedule item 1 is str, not a mapping"),
    ([{"type": "weekly", "on_calendar": "daily"}], "pgbackrest_schedule item 1: type is 'weekly'; use one of "
                                                   "full, diff, incr"),
    ([{"on_calendar": "daily"}], "pgbackrest_schedule item 1: type is missing; use one of full, diff, incr"),
    ([{"type": "full"}], "pgbackrest_schedule item 1: on_calendar is missing; give a systemd calendar "
                         "expression such as 'Sun *-*-* 01:00:00' (see man systemd.time)"),
    ([{"type": "full", "on_calendar": ""}], "pgbackrest_schedule item 1: on_calendar is ''"),
    ([{"type": "full", "on_calendar": 3}], "pgbackrest_schedule item 1: on_calendar is 3"),
    ([{"type": "full", "on_calendar": "daily\nExecStart=/bin/sh"}],
     "pgbackrest_schedule item 1: on_calendar 'daily\\nExecStart=/bin/sh' has a line break, '#', a quote or "
     "a backslash, which a systemd timer unit cannot hold"),
    ([{"type": "full", "on_calendar": "daily # nightly"}], "on_calendar 'daily # nightly' has a line break"),
    ([{"type": "full", "on_calendar": "'daily'"}], "has a line break, '#', a quote or a backslash"),
    ([{"type": "full", "on_calendar": "daily\\"}], "has a line break, '#', a quote or a backslash"),
    ([{"type": "full", "on_calendar": " daily"}], "pgbackrest_schedule item 1: on_calendar ' daily' has "
                                                  "spaces around it; remove them"),
    ([{"type": "full", "on_calendar": "daily", "at": "01:00"}],
     "pgbackrest_schedule item 1 has unknown keys: at; the keys are type and on_calendar"),
    (WEEKLY + [{"type": "full", "on_calendar": "Wed *-*-* 01:00:00"}],
     "pgbackrest_schedule has type full in items 1, 3; keep one item per type and put all its times in one "
     "calendar expression, such as 'Mon,Thu *-*-* 01:00:00'"),
])
def test_schedules_that_are_refused(schedule, message):
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_schedule", schedule)
    error = only_error(hostvars, groups)
    assert error.startswith(ALL + "pgbackrest_schedule") and message in error, error


def test_the_role_default_schedule_is_checked_when_the_role_has_one():
    hostvars, groups = valid_inventory()
    broken = dict(DEFAULTS, pgbackrest_schedule=[{"type": "weekly", "on_calendar": "Sun"}])
    assert errors_of(hostvars, groups, defaults=broken) == [
        f"{ALL}pgbackrest_schedule item 1: type is 'weekly'; use one of full, diff, incr"]


# ---------------------------------------------------------------- observers

def test_observers_with_an_asynchronous_pg_rpo_need_the_explicit_risk():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pg_rpo", 1048576)
    assert errors_of(hostvars, groups) == []  # off by default with an asynchronous pg_rpo
    set_all(hostvars, "patroni_observer_enabled", True)
    assert only_error(hostvars, groups) == (
        f"cluster pg-test, hosts {H1}, {H2}, {H3}: patroni_observer_enabled is true with an asynchronous "
        "pg_rpo; an early election could drop acknowledged commits the new leader never received. Set "
        "pg_rpo: 0, or patroni_observer_allow_async: true to accept that loss (docs/failover-behaviour.md)")
    set_all(hostvars, "patroni_observer_allow_async", True)
    assert errors_of(hostvars, groups) == []


def test_observers_are_configured_alike_on_every_member():
    hostvars, groups = valid_inventory()
    hostvars[H2]["patroni_observer_enabled"] = False
    assert "patroni_observer_enabled differs between hosts of the cluster" in only_error(hostvars, groups)
