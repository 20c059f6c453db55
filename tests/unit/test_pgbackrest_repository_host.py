"""A pgBackRest repository host reached over pgBackRest's TLS server: the repository entry's host and
host_port (module_utils/pgbackrest.py), who the repository host is (module_utils/pgbackrest_hosts.py),
the ports it opens (module_utils/firewall.py) and the preflight's checks (module_utils/inventory_check.py)."""

import copy

import pytest
from test_firewall import B1, B2, B3, MEMBERS, rules_of, sandbox
from test_inventory_check import ALL, H1, H2, H3, add_cluster, errors_of, only_error, set_all, valid_inventory

from ansible_collections.pgha.cloud.plugins.module_utils import pgbackrest as pb
from ansible_collections.pgha.cloud.plugins.module_utils import pgbackrest_hosts

# The repository host: an inventory host that runs no PostgreSQL.
REPO = "10.210.0.50"
TLS = {"cert_file": "/etc/pgha/tls/pgbackrest.crt", "key_file": "/etc/pgha/tls/pgbackrest.key",
       "ca_file": "/etc/pgha/tls/ca.crt"}
KEY_SECRET = "Rh-s3-secret-key-4c1d9e"
CIPHER = "Rh-cipher-passphrase-77a0b3"


def s3_entry(**changes):
    """An encrypted s3 entry kept through the repository host REPO."""
    entry = {"host": REPO, "type": "s3", "s3_endpoint": "s3.eu-west-1.amazonaws.com",
             "s3_region": "eu-west-1", "s3_bucket": "acme-pg-backup", "s3_key": "AKIAEXAMPLE",
             "s3_key_secret": KEY_SECRET, "path": "/pgbackrest", "cipher_type": "aes-256-cbc",
             "cipher_pass": CIPHER, "retention_full": 4}
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def posix_entry(**changes):
    """A posix directory on the repository host REPO."""
    entry = {"host": REPO, "path": "/var/lib/pgbackrest", "retention_full": 2}
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def member_conf(entry, **kwargs):
    """conf_sections of H1, a member of pg-test, whose entry "repo" names the repository host."""
    options = dict(tls=TLS, address=H1, repo_host_cn=REPO)
    options.update(kwargs)
    return pb.conf_sections("pg-test", "repo", {"repo": entry}, "/pg/data", 5432, **options)


def kept(stanza="pg-test", entry=None, hosts=(H1, H2), version="2.45", **changes):
    """One item of repository_sections' `clusters`: a cluster, its entry and its members."""
    item = {"stanza": stanza, "method": "repo", "repos": {"repo": entry or posix_entry()},
            "backup_standby": False,
            "members": [{"name": host, "address": host, "pg_data": "/pg/data", "pg_port": 5432,
                         "version": version} for host in hosts]}
    item.update(changes)
    return item


def repository_error(clusters, address=REPO, tls="default", **kwargs):
    with pytest.raises(pb.PgbackrestError) as info:
        pb.repository_sections(clusters, address, TLS if tls == "default" else tls, **kwargs)
    return str(info.value)


def with_repository_host(entry=None, node_address=None):
    """The sandbox inventory (pg-test on H1, H2, H3) backing up through REPO, in a group of its own."""
    hostvars, groups = valid_inventory()
    groups["all"].append(REPO)
    groups["pgbackrest_repo"] = [REPO]
    hostvars[REPO] = {"node_address": node_address} if node_address else {}
    for host in (H1, H2, H3):
        hostvars[host]["pgbackrest_method"] = "repo"
        hostvars[host]["pgbackrest_repo"] = {"repo": copy.deepcopy(entry or posix_entry())}
    return hostvars, groups


def member_fact(pg_data="/pg/data", pg_port=5432, version="2.45"):
    """The fact pgbackrest_member the pgbackrest role sets on a member."""
    return {"pg_data": pg_data, "pg_port": pg_port, "version": version}


# ---------------------------------------------------------------- the repository entry

def test_host_and_host_port_are_repository_options():
    errors, options = pb.check_repo("repo", {"repo": posix_entry(host_port="8500")})
    assert errors == []
    assert options["host"] == REPO and options["host_port"] == "8500"


def test_host_port_without_host_is_refused_with_the_fix():
    errors, _options = pb.check_repo("repo", {"repo": posix_entry(host=None, host_port=8500)})
    assert errors == ["pgbackrest_repo.repo.host_port is set without host; set host (the repository host) "
                      "or remove host_port"]


@pytest.mark.parametrize("changes, message", [
    ({"host": "https://repo-1"}, "pgbackrest_repo.repo.host 'https://repo-1' is not a host name or address; "
                                 "give a DNS name or an IP"),
    ({"host": "repo-1:8432"}, "pgbackrest_repo.repo.host 'repo-1:8432' is not a host name or address"),
    ({"host_port": 0}, "pgbackrest_repo.repo.host_port 0 is not a whole number from 1 to 65535"),
    ({"host_port": "tls"}, "pgbackrest_repo.repo.host_port 'tls' is not a whole number from 1 to 65535"),
])
def test_a_bad_host_or_host_port_names_the_key(changes, message):
    errors = pb.repo_errors("repo", {"repo": posix_entry(**changes)})
    assert len(errors) == 1 and errors[0].startswith(message), errors


# ---------------------------------------------------------------- a member's pgbackrest.conf

def test_a_members_conf_reaches_the_repository_host_and_admits_it_for_its_stanza_only():
    conf = member_conf(s3_entry())
    assert pb.render_conf(conf) == f"""\
# Managed by pgha.cloud; changes are overwritten.

[global]
repo1-host={REPO}
repo1-host-type=tls
repo1-host-cert-file=/etc/pgha/tls/pgbackrest.crt
repo1-host-key-file=/etc/pgha/tls/pgbackrest.key
repo1-host-ca-file=/etc/pgha/tls/ca.crt
log-path=/pg/log/pgbackrest
tls-server-address={H1}
tls-server-cert-file=/etc/pgha/tls/pgbackrest.crt
tls-server-key-file=/etc/pgha/tls/pgbackrest.key
tls-server-ca-file=/etc/pgha/tls/ca.crt
tls-server-auth={REPO}=pg-test

[pg-test]
pg1-path=/pg/data
pg1-port=5432
pg1-socket-path=/var/run/postgresql
"""


def test_a_member_holds_no_storage_option_and_no_secret():
    conf = member_conf(s3_entry())
    text = pb.render_conf(conf)
    # The storage and its keys live on the repository host only.
    assert conf["secrets"] == []
    assert KEY_SECRET not in text and CIPHER not in text
    assert "repo1-s3" not in text and "repo1-path" not in text and "repo1-cipher" not in text
    assert "repo1-type" not in text and "repo1-retention" not in text


def test_host_port_goes_right_after_repo1_host():
    options = member_conf(posix_entry(host_port=8500))["sections"][0][1]
    assert options[:3] == [("repo1-host", REPO), ("repo1-host-port", "8500"), ("repo1-host-type", "tls")]
    # The member's own TLS server keeps pgBackRest's port (the firewall opens 8432 there).
    assert not any(key == "tls-server-port" for key, _value in options)


def test_a_member_without_a_repository_host_keeps_the_storage_options():
    conf = pb.conf_sections("pg-test", "repo", {"repo": posix_entry(host=None)}, "/pg/data")
    keys = [key for key, _value in conf["sections"][0][1]]
    assert keys == ["repo1-type", "repo1-path", "repo1-retention-full", "log-path"]


def test_a_member_needs_its_tls_files_address_and_the_repository_hosts_cn():
    with pytest.raises(pb.PgbackrestError) as info:
        member_conf(posix_entry(), tls=None, address=None, repo_host_cn=None)
    message = str(info.value)
    assert "a repository host needs the TLS files (cert_file, key_file, ca_file) of this host" in message
    assert "None is not a host name or address" in message
    assert ("the repository host None cannot be a certificate common name in tls-server-auth; use an "
            "inventory host name of letters, digits, '.', '_', ':' and '-'") in message


@pytest.mark.parametrize("changes, message", [
    ({"tls": dict(TLS, key_file="pgbackrest.key")},
     "tls.key_file 'pgbackrest.key' is not an absolute path; start it with '/'"),
    ({"tls": {"cert_file": "/c.crt", "key_file": "/c.key"}}, "tls.ca_file: expected a string, got NoneType"),
    ({"repo_host_cn": "repo=1"}, "the repository host 'repo=1' cannot be a certificate common name"),
    ({"repo_host_cn": "repo 1"}, "the repository host 'repo 1' cannot be a certificate common name"),
])
def test_bad_tls_input_of_a_member_is_named(changes, message):
    with pytest.raises(pb.PgbackrestError) as info:
        member_conf(posix_entry(), **changes)
    assert message in str(info.value)


# ---------------------------------------------------------------- the repository host's pgbackrest.conf

def test_the_repository_hosts_conf_keeps_the_storage_and_reaches_every_member():
    clusters = [kept(entry=s3_entry(), backup_standby=True)]
    conf = pb.repository_sections(clusters, REPO, TLS, version="2.45")
    assert conf["secrets"] == ["repo1-s3-key-secret", "repo1-cipher-pass"]
    assert pb.render_conf(conf) == f"""\
# Managed by pgha.cloud; changes are overwritten.

[global]
repo1-type=s3
repo1-s3-endpoint=s3.eu-west-1.amazonaws.com
repo1-s3-region=eu-west-1
repo1-s3-bucket=acme-pg-backup
repo1-s3-key=AKIAEXAMPLE
repo1-s3-key-secret={KEY_SECRET}
repo1-path=/pgbackrest
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass={CIPHER}
repo1-retention-full=4
log-path=/var/log/pgbackrest
tls-server-address={REPO}
tls-server-cert-file=/etc/pgha/tls/pgbackrest.crt
tls-server-key-file=/etc/pgha/tls/pgbackrest.key
tls-server-ca-file=/etc/pgha/tls/ca.crt
tls-server-auth={H1}=pg-test
tls-server-auth={H2}=pg-test

[pg-test]
pg1-host={H1}
pg1-host-type=tls
pg1-host-cert-file=/etc/pgha/tls/pgbackrest.crt
pg1-host-key-file=/etc/pgha/tls/pgbackrest.key
pg1-host-ca-file=/etc/pgha/tls/ca.crt
pg1-path=/pg/data
pg1-port=5432
pg2-host={H2}
pg2-host-type=tls
pg2-host-cert-file=/etc/pgha/tls/pgbackrest.crt
pg2-host-key-file=/etc/pgha/tls/pgbackrest.key
pg2-host-ca-file=/etc/pgha/tls/ca.crt
pg2-path=/pg/data
pg2-port=5432
backup-standby=y
"""


def test_every_cluster_gets_its_stanza_and_its_members_are_admitted_for_it_only():
    clusters = [kept(), kept("pg-b", hosts=(B1,))]
    conf = pb.repository_sections(clusters, REPO, TLS)
    sections = dict(conf["sections"])
    assert list(sections) == ["global", "pg-test", "pg-b"]
    auth = [value for key, value in sections["global"] if key == "tls-server-auth"]
    assert auth == [f"{H1}=pg-test", f"{H2}=pg-test", f"{B1}=pg-b"]
    assert sections["pg-b"][0] == ("pg1-host", B1)
    assert conf["secrets"] == []


def test_backup_standby_off_writes_no_line():
    sections = dict(pb.repository_sections([kept(backup_standby=False)], REPO, TLS)["sections"])
    assert not any(key == "backup-standby" for key, _value in sections["pg-test"])


def test_host_port_makes_the_tls_server_listen_there():
    conf = pb.repository_sections([kept(entry=posix_entry(host_port=8500))], REPO, TLS)
    server = [(key, value) for key, value in conf["sections"][0][1] if key.startswith("tls-server")]
    assert server[:2] == [("tls-server-address", REPO), ("tls-server-port", "8500")]
    # No repo1-host* on the host that keeps the repository.
    assert not any(key.startswith("repo1-host") for key, _value in conf["sections"][0][1])


def test_clusters_of_one_repository_host_must_share_the_storage_settings():
    other = kept("pg-b", entry=posix_entry(path="/srv/pgbackrest"), hosts=(B1,))
    assert repository_error([kept(), other]) == (
        "cluster pg-b: pgbackrest_repo.repo differs from the settings of cluster pg-test, which use the "
        "same repository host; give the clusters of one repository host the same repository entry (values "
        "not shown)")


def test_differing_secrets_are_refused_without_showing_them():
    other = s3_entry(s3_key_secret="Rh-another-secret-0f9a")
    message = repository_error([kept(entry=s3_entry()), kept("pg-b", entry=other, hosts=(B1,))])
    assert "cluster pg-b: pgbackrest_repo.repo differs from the settings of cluster pg-test" in message
    assert KEY_SECRET not in message and "Rh-another-secret-0f9a" not in message


def test_a_path_with_the_cluster_token_is_refused_on_a_shared_repository_host():
    message = repository_error([kept(entry=posix_entry(path="/pgbackrest/${pg_cluster}"))])
    assert message == (
        "cluster pg-test: pgbackrest_repo.repo uses ${pg_cluster}, which a repository host shared by its "
        "clusters cannot honour; write the path out (pgBackRest keeps each stanza apart under it)")


def test_a_member_with_another_pgbackrest_release_is_refused():
    clusters = [kept(hosts=(H1,), version="2.45"), kept("pg-b", hosts=(B1,), version="2.54.2")]
    message = repository_error(clusters, version="2.45")
    assert message == (f"cluster pg-b: member {B1} runs pgBackRest 2.54.2 and the repository host 2.45; "
                       "pgBackRest needs the same release on both: install it")


def test_backup_standby_needs_a_standby():
    message = repository_error([kept(hosts=(H1,), backup_standby=True)])
    assert message == ("cluster pg-test: pgbackrest_backup_standby is on but the cluster has one member, so "
                       "there is no standby to copy from; turn it off or add a replica")


def test_a_non_boolean_backup_standby_is_refused():
    message = repository_error([kept(backup_standby="sometimes")])
    assert "pgbackrest_backup_standby 'sometimes' is not a boolean; use true or false" in message


@pytest.mark.parametrize("clusters, address, tls, fragment", [
    ([], REPO, TLS, "the repository host keeps no cluster's backups; list at least one"),
    ([kept(hosts=())], REPO, TLS, "cluster pg-test has no member to back up"),
    ([kept()], "repo 1", TLS, "'repo 1' is not a host name or address"),
    ([kept(stanza="pg test")], REPO, TLS, "stanza 'pg test' is not a pgBackRest stanza name"),
])
def test_incomplete_repository_input_is_named(clusters, address, tls, fragment):
    assert fragment in repository_error(clusters, address, tls)


# ---------------------------------------------------------------- who the repository host is

def test_the_repository_host_is_found_by_inventory_name_or_address():
    hostvars, groups = with_repository_host(node_address="10.210.1.50")
    assert pgbackrest_hosts.resolve(hostvars, groups, REPO) == (REPO, None)
    assert pgbackrest_hosts.resolve(hostvars, groups, "10.210.1.50") == (REPO, None)


def test_a_repository_host_outside_the_inventory_is_named_with_the_fix():
    hostvars, groups = with_repository_host()
    host, message = pgbackrest_hosts.resolve(hostvars, groups, "backup-1")
    assert host is None
    assert message == ("the repository host 'backup-1' matches no host of the inventory; add the host that "
                       "keeps the backups to the inventory (a group of its own, such as pgbackrest_repo) and "
                       "give its inventory name or address")


def test_an_address_two_hosts_share_is_ambiguous():
    hostvars, groups = with_repository_host(node_address="10.210.1.50")
    groups["all"].append("backup-2")
    hostvars["backup-2"] = {"node_address": "10.210.1.50"}
    host, message = pgbackrest_hosts.resolve(hostvars, groups, "10.210.1.50")
    assert host is None
    assert f"matches 2 hosts ({REPO}, backup-2) of the inventory" in message


def test_a_postgresql_member_cannot_keep_the_repository():
    hostvars, groups = with_repository_host(posix_entry(host=H2))
    assert pgbackrest_hosts.resolve(hostvars, groups, H2)[1] == (
        f"the repository host '{H2}' is {H2}, a PostgreSQL member; keep the repository on a host that runs "
        "no PostgreSQL of the inventory")
    with pytest.raises(pb.PgbackrestError) as info:
        pgbackrest_hosts.repository_host(hostvars, groups, "pg-test")
    assert str(info.value).startswith(f"cluster pg-test: pgbackrest_repo: the repository host '{H2}' is {H2}")


def test_repository_host_is_none_without_host_or_with_backups_off():
    hostvars, groups = with_repository_host(node_address="10.210.1.50")
    hostvars[H1]["pgbackrest_repo"]["repo"]["host"] = "10.210.1.50"
    for host in (H2, H3):
        hostvars[host]["pgbackrest_repo"]["repo"]["host"] = "10.210.1.50"
    # Named by its address, answered by its inventory name.
    assert pgbackrest_hosts.repository_host(hostvars, groups, "pg-test") == REPO
    set_all(hostvars, "pgbackrest_enabled", False)
    assert pgbackrest_hosts.repository_host(hostvars, groups, "pg-test") is None
    hostvars, groups = valid_inventory()
    assert pgbackrest_hosts.repository_host(hostvars, groups, "pg-test") is None


def test_repository_clusters_lists_the_clusters_a_host_keeps_sorted():
    hostvars, groups = with_repository_host()
    add_cluster(hostvars, groups, "pg-a", [B1, B2])
    for host in (B1, B2):
        hostvars[host].update(pgbackrest_method="repo", pgbackrest_repo={"repo": posix_entry()})
    # A third cluster backs up on its own members.
    add_cluster(hostvars, groups, "pg-c", [B3])
    assert pgbackrest_hosts.repository_clusters(hostvars, groups, REPO) == ["pg-a", "pg-test"]
    assert pgbackrest_hosts.repository_clusters(hostvars, groups, H1) == []


def test_repository_input_lists_each_member_from_its_fact():
    hostvars, groups = with_repository_host()
    set_all(hostvars, "pgbackrest_backup_standby", True)
    for host in (H1, H2, H3):
        hostvars[host]["node_address"] = host
        hostvars[host]["pgbackrest_member"] = member_fact(pg_port=6432 if host == H3 else 5432)
    (item,) = pgbackrest_hosts.repository_input(hostvars, groups, REPO)
    ports = {H1: 5432, H2: 5432, H3: 6432}
    assert item == {
        "stanza": "pg-test", "method": "repo", "repos": {"repo": posix_entry()}, "backup_standby": True,
        "members": [{"name": host, "address": host, "pg_data": "/pg/data", "pg_port": port, "version": "2.45"}
                    for host, port in ports.items()]}
    # What repository_sections is meant to take.
    sections = dict(pb.repository_sections([item], REPO, TLS, version="2.45")["sections"])
    assert ("pg3-port", "6432") in sections["pg-test"] and ("backup-standby", "y") in sections["pg-test"]


def test_repository_input_backup_standby_is_off_when_unset():
    hostvars, groups = with_repository_host()
    for host in (H1, H2, H3):
        hostvars[host]["pgbackrest_member"] = member_fact()
    assert pgbackrest_hosts.repository_input(hostvars, groups, REPO)[0]["backup_standby"] is False


def test_repository_input_names_the_members_the_role_has_not_run_on():
    hostvars, groups = with_repository_host()
    hostvars[H1]["pgbackrest_member"] = member_fact()
    with pytest.raises(pb.PgbackrestError) as info:
        pgbackrest_hosts.repository_input(hostvars, groups, REPO)
    assert str(info.value) == (
        f"the pgbackrest role has not run on {H2}, {H3} in this run, so repository host {REPO} does not "
        "know their data directories; run the playbook on the clusters' members too (no --limit that leaves "
        "them out)")


# ---------------------------------------------------------------- the firewall

def firewall_inventory(entry=None):
    """The firewall's sandbox (pg-test on H1, H2, H3) backing up through REPO."""
    hostvars, groups = sandbox()
    groups["all"].append(REPO)
    groups["pgbackrest_repo"] = [REPO]
    hostvars[REPO] = {}
    for host in MEMBERS:
        hostvars[host].update(pgbackrest_method="repo", pgbackrest_repo={"repo": entry or posix_entry()})
    return hostvars, groups


def test_a_member_opens_its_tls_server_to_its_repository_host_only():
    rule = rules_of(*firewall_inventory(), H2)[8432]
    assert rule["ip"] == [REPO] and rule["ip6"] == []
    assert rule["comment"] == "pgBackRest TLS server of pg-test (its repository host)"


def test_the_repository_host_opens_its_tls_server_to_the_members_only():
    rules = rules_of(*firewall_inventory(), REPO, admin=())
    assert list(rules) == [8432]
    assert rules[8432]["ip"] == MEMBERS
    assert rules[8432]["comment"] == "pgBackRest repository of pg-test"


def test_host_port_moves_the_repository_hosts_port_not_the_members():
    hostvars, groups = firewall_inventory(posix_entry(host_port=8500))
    assert list(rules_of(hostvars, groups, REPO, admin=())) == [8500]
    assert rules_of(hostvars, groups, H1)[8432]["ip"] == [REPO]


def test_the_repository_hosts_node_address_is_the_source():
    hostvars, groups = firewall_inventory(posix_entry(host="backup-1"))
    groups["all"][groups["all"].index(REPO)] = "backup-1"
    hostvars["backup-1"] = {"node_address": "10.210.1.50"}
    assert rules_of(hostvars, groups, H1)[8432]["ip"] == ["10.210.1.50"]
    assert rules_of(hostvars, groups, "backup-1", admin=())[8432]["ip"] == MEMBERS


def test_no_tls_port_without_a_repository_host_or_with_backups_off():
    assert 8432 not in rules_of(*sandbox(), H1)
    hostvars, groups = firewall_inventory()
    set_all(hostvars, "pgbackrest_enabled", False)
    assert 8432 not in rules_of(hostvars, groups, H1)
    assert rules_of(hostvars, groups, REPO, admin=()) == {}


def test_a_repository_host_keeping_two_clusters_admits_both_clusters_members():
    hostvars, groups = firewall_inventory()
    add_cluster(hostvars, groups, "pg-b", [B1, B2])
    for host in (B1, B2):
        hostvars[host].update(pgbackrest_method="repo", pgbackrest_repo={"repo": posix_entry()})
    rule = rules_of(hostvars, groups, REPO, admin=())[8432]
    assert rule["ip"] == MEMBERS + [B1, B2]
    assert rule["comment"] == "pgBackRest repository of pg-b; pgBackRest repository of pg-test"


def test_an_entry_naming_a_member_opens_nothing_and_is_left_to_the_preflight():
    hostvars, groups = firewall_inventory(posix_entry(host=H3))
    assert 8432 not in rules_of(hostvars, groups, H1)
    assert 8432 not in rules_of(hostvars, groups, H3)


# ---------------------------------------------------------------- the preflight (inventory_errors)

def test_a_cluster_backing_up_through_a_repository_host_is_valid():
    hostvars, groups = with_repository_host(s3_entry(host_port=8500))
    set_all(hostvars, "pgbackrest_backup_standby", True)
    assert errors_of(hostvars, groups) == []


def test_a_repository_host_by_address_is_valid():
    hostvars, groups = with_repository_host(posix_entry(host="10.210.1.50"), node_address="10.210.1.50")
    assert errors_of(hostvars, groups) == []


def test_the_preflight_refuses_a_repository_host_outside_the_inventory():
    hostvars, groups = with_repository_host(posix_entry(host="backup-1"))
    assert only_error(hostvars, groups) == (
        ALL + "pgbackrest_repo.repo.host: the repository host 'backup-1' matches no host of the inventory; "
        "add the host that keeps the backups to the inventory (a group of its own, such as pgbackrest_repo) "
        "and give its inventory name or address")


def test_the_preflight_refuses_a_member_as_repository_host():
    hostvars, groups = with_repository_host(posix_entry(host=H2))
    assert only_error(hostvars, groups) == (
        ALL + f"pgbackrest_repo.repo.host: the repository host '{H2}' is {H2}, a PostgreSQL member; keep the "
        "repository on a host that runs no PostgreSQL of the inventory")


@pytest.mark.parametrize("value, shown", [("maybe", "'maybe'"), (2, "2")])
def test_the_preflight_refuses_a_non_boolean_backup_standby(value, shown):
    hostvars, groups = with_repository_host()
    for host in (H1, H2, H3):
        hostvars[host]["pgbackrest_backup_standby"] = value
    message = only_error(hostvars, groups)
    assert message.startswith(ALL + "pgbackrest_backup_standby ") and message.endswith(
        "is not a boolean; use true or false")
    assert shown in message


def test_backup_standby_without_a_repository_host_is_refused_with_the_fix():
    hostvars, groups = valid_inventory()
    set_all(hostvars, "pgbackrest_backup_standby", "yes")
    assert only_error(hostvars, groups) == (
        ALL + "pgbackrest_backup_standby is on, but pgbackrest_repo.local has no host: a backup from a "
        "standby needs a repository host (it runs there, copies the files from a standby and asks the "
        "primary only to start and stop the backup); set host in the entry, or turn "
        "pgbackrest_backup_standby off")


def test_backup_standby_must_agree_between_members():
    hostvars, groups = with_repository_host()
    hostvars[H3]["pgbackrest_backup_standby"] = True
    assert only_error(hostvars, groups) == (
        ALL + f"pgbackrest_backup_standby differs between hosts of the cluster (one value on {H1}, {H2}; "
        f"another on {H3}); the members share one stanza and any of them may become the primary, so set it "
        "once in the vars of group pg-test (or for every cluster in group all)")


def test_host_port_without_host_is_refused_by_the_preflight():
    hostvars, groups = with_repository_host(posix_entry(host=None, host_port=8500))
    assert only_error(hostvars, groups) == (
        ALL + "pgbackrest_repo.repo.host_port is set without host; set host (the repository host) or remove "
        "host_port")


def two_clusters_on_one_repository_host(entry_b):
    """pg-test (posix_entry) and pg-b (entry_b) both keep their backups on REPO."""
    hostvars, groups = with_repository_host()
    add_cluster(hostvars, groups, "pg-b", [B1, B2, B3])
    for host in (B1, B2, B3):
        hostvars[host].update(pgbackrest_method="repo", pgbackrest_repo={"repo": entry_b})
    return hostvars, groups


def test_clusters_sharing_a_repository_host_with_the_same_entry_pass():
    hostvars, groups = two_clusters_on_one_repository_host(posix_entry())
    assert errors_of(hostvars, groups) == []


@pytest.mark.parametrize("changes, keys", [
    ({"retention_full": 5}, "retention_full"),
    ({"host_port": 8500}, "host_port"),
    ({"path": "/srv/pgbackrest"}, "path"),
])
def test_the_preflight_refuses_clusters_of_one_repository_host_that_differ(changes, keys):
    hostvars, groups = two_clusters_on_one_repository_host(posix_entry(**changes))
    assert only_error(hostvars, groups) == (
        f"clusters pg-test, pg-b keep their backups on repository host {REPO}, but their repository entries "
        f"differ in {keys} (one value on pg-test; another on pg-b; values not shown); they share one "
        "repository there: give them the same entry")


def test_the_preflight_refuses_the_cluster_token_on_a_shared_repository_host():
    token = posix_entry(path="/pgbackrest/${pg_cluster}")
    hostvars, groups = with_repository_host(token)
    add_cluster(hostvars, groups, "pg-b", [B1, B2, B3])
    for host in (B1, B2, B3):
        hostvars[host].update(pgbackrest_method="repo", pgbackrest_repo={"repo": copy.deepcopy(token)})
    message = only_error(hostvars, groups)
    assert message.startswith(f"clusters pg-test, pg-b keep their backups on repository host {REPO}, and "
                              "pg-test, pg-b use ${pg_cluster}")


def test_repository_input_with_differing_host_ports_is_refused():
    message = repository_error([kept(), kept("pg-b", entry=posix_entry(host_port=8500), hosts=(H3,))])
    assert "cluster pg-b: pgbackrest_repo.repo differs from the settings of cluster pg-test" in message


@pytest.mark.parametrize("tls, message", [
    (None, "a repository host needs the TLS files (cert_file, key_file, ca_file) of this host"),
    (dict(TLS, key_file="rel.key"), "tls.key_file 'rel.key' is not an absolute path; start it with '/'"),
])
def test_missing_tls_files_of_a_repository_host_are_named_not_a_crash(tls, message):
    assert repository_error([kept()], tls=tls) == message


def test_a_bad_member_address_is_named_without_a_stray_dot():
    item = kept()
    item["members"][0]["address"] = "not an address"
    message = repository_error([item])
    assert (f"cluster pg-test: the address of member {H1} 'not an address' is not a host name or address"
            in message)


def test_repository_schedules_follow_each_kept_clusters_schedule_or_the_default():
    hostvars, groups = two_clusters_on_one_repository_host(posix_entry())
    for host in (B1, B2, B3):
        hostvars[host]["pgbackrest_schedule"] = [{"type": "incr", "on_calendar": "hourly"}]
    default = [{"type": "full", "on_calendar": "Sun *-*-* 01:00:00"}]
    assert pgbackrest_hosts.repository_schedules(hostvars, groups, REPO, default) == [
        {"stanza": "pg-b", "type": "incr", "on_calendar": "hourly"},
        {"stanza": "pg-test", "type": "full", "on_calendar": "Sun *-*-* 01:00:00"}]
    assert pgbackrest_hosts.repository_schedules(hostvars, groups, H1, default) == []
