"""The firewall's sources per port (plugins/module_utils/firewall.py), its filter, and the ruleset
roles/firewall/templates/firewall.nft.j2 renders from them."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from test_inventory_check import H1, H2, H3, add_cluster, valid_inventory

from ansible_collections.pgha.cloud.plugins.filter import firewall as firewall_filter
from ansible_collections.pgha.cloud.plugins.module_utils import firewall

ROOT = Path(__file__).resolve().parents[2]
ADMIN = ["192.0.2.0/28"]
P1, P2 = "10.210.0.21", "10.210.0.22"
B1, B2, B3 = "10.210.0.31", "10.210.0.32", "10.210.0.33"
E1, E2, E3 = "10.210.0.41", "10.210.0.42", "10.210.0.43"
MEMBERS = [H1, H2, H3]


def sandbox():
    """The sandbox inventory: three nodes, each PostgreSQL member, etcd member and HAProxy host."""
    hostvars, groups = valid_inventory()
    for host in MEMBERS:
        hostvars[host]["pg_client_networks"] = ["10.1.0.0/24"]
    return hostvars, groups


def rules_of(hostvars, groups, host, admin=tuple(ADMIN), **kwargs):
    """{port (or 'vrrp'): rule} of a host."""
    rules = firewall.firewall_rules(hostvars, groups, host, admin, **kwargs)
    return {rule["port"] if rule["proto"] == "tcp" else rule["proto"]: rule for rule in rules}


def error_of(hostvars, groups, host, admin=tuple(ADMIN), **kwargs):
    with pytest.raises(ValueError) as info:
        firewall.firewall_rules(hostvars, groups, host, admin, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- node-local HAProxy

def test_a_node_of_the_sandbox_restricts_every_port_of_the_stack():
    rules = rules_of(*sandbox(), H1)
    expected = [2379, 2380, 5432, 5433, 5434, 5436, 5438, 8008, 9101, 9102]
    assert sorted(rules, key=str) == sorted(expected, key=str)
    members = MEMBERS
    # PostgreSQL: members (replication, rewind, their HAProxy) and the client networks.
    assert rules[5432]["ip"] == ["10.1.0.0/24"] + members
    # Patroni's REST API: members (the HAProxy checks come from them too) and the controller.
    assert rules[8008]["ip"] == members + ADMIN
    # etcd: clients are the members (Patroni) and the controller; peers the etcd members only.
    assert rules[2379]["ip"] == members + ADMIN
    assert rules[2380]["ip"] == members
    # HAProxy services: what haproxy.cfg admits (client networks and members; loopback is on lo).
    for port in (5433, 5434, 5436, 5438):
        assert rules[port]["ip"] == ["10.1.0.0/24"] + members
    assert rules[9101]["ip"] == ADMIN
    assert rules[9102]["ip"] == ["10.1.0.0/24"] + members + ADMIN
    assert all(rule["ip6"] == [] for rule in rules.values())
    assert rules[5432]["match"] == "tcp dport 5432"
    assert rules[5432]["comment"] == "PostgreSQL (patroni_pg_port) of pg-test"


def test_ports_follow_the_inventory():
    hostvars, groups = sandbox()
    for host in MEMBERS:
        hostvars[host].update(patroni_pg_port=6432, patroni_rest_port="8009", etcd_client_port=12379,
                              etcd_peer_port=12380, haproxy_stats_port=19101, haproxy_health_port=19102,
                              pg_haproxy_ports={"primary": 7001, "replica": 7002, "default": 7004})
    # The offline service takes primary + 5 when pg_haproxy_ports does not name it.
    assert sorted(rules_of(hostvars, groups, H2)) == [
        6432, 7001, 7002, 7004, 7006, 8009, 12379, 12380, 19101, 19102]


def test_vip_opens_vrrp_to_the_members_only():
    hostvars, groups = sandbox()
    for host in MEMBERS:
        hostvars[host]["pg_entrypoints"] = ["haproxy", "vip"]
    rule = rules_of(hostvars, groups, H3)["vrrp"]
    assert rule["match"] == "meta l4proto 112" and rule["port"] is None
    assert rule["ip"] == MEMBERS
    assert "vrrp" not in rules_of(*sandbox(), H3)


def test_an_nlb_checking_the_members_reaches_patroni_from_the_client_networks():
    hostvars, groups = sandbox()
    for host in MEMBERS:
        hostvars[host]["pg_entrypoints"] = ["haproxy", "nlb"]
    assert "10.1.0.0/24" in rules_of(hostvars, groups, H1)[8008]["ip"]
    # An NLB in front of HAProxy checks HAProxy's health port, not Patroni.
    for host in MEMBERS:
        hostvars[host]["pg_nlb_targets"] = "haproxy"
    assert "10.1.0.0/24" not in rules_of(hostvars, groups, H1)[8008]["ip"]


def test_patroni_client_networks_overrides_pg_client_networks_on_5432_like_pg_hba():
    hostvars, groups = sandbox()
    hostvars[H1]["patroni_client_networks"] = ["10.9.0.0/16"]
    assert rules_of(hostvars, groups, H1)[5432]["ip"] == ["10.9.0.0/16"] + MEMBERS


# ---------------------------------------------------------------- the pg_proxy tier

def tier():
    """pg-test served by two pg_proxy hosts only (pg_haproxy_local: false), plus pg-b node-local."""
    hostvars, groups = sandbox()
    add_cluster(hostvars, groups, "pg-b", [B1, B2, B3])
    for host in MEMBERS:
        hostvars[host]["pg_haproxy_local"] = False
    for host in (B1, B2, B3):
        hostvars[host]["pg_client_networks"] = ["10.2.0.0/24"]
        hostvars[host]["pg_haproxy_ports"] = {"primary": 5443, "replica": 5444, "default": 5446}
    groups["pg_proxy"] = [P1, P2]
    for host in (P1, P2):
        groups["all"].append(host)
        hostvars[host] = {}
    return hostvars, groups


def test_a_proxy_serves_every_cluster_on_its_ports_with_each_clusters_sources():
    rules = rules_of(*tier(), P1)
    assert sorted(rules) == [5433, 5434, 5436, 5438, 5443, 5444, 5446, 5448, 9101, 9102]
    assert rules[5433]["ip"] == ["10.1.0.0/24"] + MEMBERS
    assert rules[5443]["ip"] == ["10.2.0.0/24", B1, B2, B3]
    assert rules[5443]["comment"] == "HAProxy primary service of pg-b"
    assert rules[9102]["ip"] == ["10.1.0.0/24", "10.2.0.0/24"] + MEMBERS + [B1, B2, B3] + ADMIN


def test_members_admit_the_proxies_on_postgres_and_patroni_and_run_no_haproxy():
    rules = rules_of(*tier(), H1)
    assert not {5433, 5434, 5436, 5438, 9101, 9102} & set(rules)
    assert rules[5432]["ip"] == ["10.1.0.0/24"] + MEMBERS + [P1, P2]
    assert rules[8008]["ip"] == MEMBERS + [P1, P2] + ADMIN
    # pg-b keeps node-local HAProxy; the proxies route to it as well.
    rules = rules_of(*tier(), B2)
    assert rules[5432]["ip"] == ["10.2.0.0/24", P1, P2, B1, B2, B3]
    assert sorted(p for p in rules if p in (5443, 5444, 5446, 5448)) == [5443, 5444, 5446, 5448]


def test_a_proxy_limited_by_pg_proxy_clusters_opens_only_those_ports():
    hostvars, groups = tier()
    hostvars[P2]["pg_proxy_clusters"] = ["pg-b"]
    assert sorted(rules_of(hostvars, groups, P2)) == [5443, 5444, 5446, 5448, 9101, 9102]
    # pg-test's members no longer admit P2.
    assert P2 not in rules_of(hostvars, groups, H1)[5432]["ip"]


# ---------------------------------------------------------------- etcd-only hosts

def etcd_apart():
    """pg-test on H1..H3, etcd on three hosts of its own."""
    hostvars, groups = sandbox()
    groups["etcd"] = [E1, E2, E3]
    for seq, host in enumerate((E1, E2, E3), start=1):
        groups["all"].append(host)
        hostvars[host] = {"etcd_seq": seq}
        hostvars[H1 if seq == 1 else H2 if seq == 2 else H3].pop("etcd_seq")
    return hostvars, groups


def test_an_etcd_only_host_opens_etcd_to_patroni_of_every_cluster():
    hostvars, groups = etcd_apart()
    add_cluster(hostvars, groups, "pg-b", [B1, B2, B3])
    rules = rules_of(hostvars, groups, E2)
    assert sorted(rules) == [2379, 2380]
    assert rules[2379]["ip"] == MEMBERS + [B1, B2, B3, E1, E2, E3] + ADMIN
    assert rules[2380]["ip"] == [E1, E2, E3]
    # The members no longer serve etcd.
    assert not {2379, 2380} & set(rules_of(hostvars, groups, H1))


def test_a_host_that_serves_nothing_needs_no_admin_networks():
    hostvars, groups = etcd_apart()
    groups["all"].append("10.210.0.99")
    hostvars["10.210.0.99"] = {}
    assert firewall.firewall_rules(hostvars, groups, "10.210.0.99") == []


# ---------------------------------------------------------------- IPv6

def test_ipv6_addresses_and_networks_go_to_the_ip6_set():
    hostvars, groups = sandbox()
    hostvars[H2]["node_address"] = "fd00:10::12"
    for host in MEMBERS:
        hostvars[host]["pg_client_networks"] = ["10.1.0.0/24", "FD00:20::/64"]
    rules = rules_of(hostvars, groups, H1, admin=["2001:db8::5", "192.0.2.7"])
    assert rules[5432]["ip"] == ["10.1.0.0/24", H1, H3]
    assert rules[5432]["ip6"] == ["fd00:10::12", "fd00:20::/64"]
    assert rules[8008]["ip"] == [H1, H3, "192.0.2.7"]
    assert rules[8008]["ip6"] == ["2001:db8::5", "fd00:10::12"]


def test_a_source_inside_another_is_left_out_so_nft_gets_no_overlap():
    hostvars, groups = sandbox()
    for host in MEMBERS:
        hostvars[host]["pg_client_networks"] = ["10.210.0.0/24", "10.210.0.0/25", "127.0.0.1/32"]
    assert rules_of(hostvars, groups, H1)[5432]["ip"] == ["10.210.0.0/24"]


# ---------------------------------------------------------------- the controller

def test_empty_admin_networks_mean_the_controller_as_ssh_sees_it():
    rules = rules_of(*sandbox(), H1, admin=[], ssh_client="198.51.100.7 50022 22")
    assert rules[8008]["ip"] == MEMBERS + ["198.51.100.7"]
    assert rules[9101]["ip"] == ["198.51.100.7"]
    rules = rules_of(*sandbox(), H1, admin=[], ssh_client="2001:db8::7 50022 22")
    assert rules[9101]["ip6"] == ["2001:db8::7"]


@pytest.mark.parametrize("ssh_client", [None, "", "  "])
def test_empty_admin_networks_without_ssh_ask_for_the_variable(ssh_client):
    message = error_of(*sandbox(), H1, admin=[], ssh_client=ssh_client)
    assert message.startswith("firewall_admin_networks is empty and the controller's address is unknown")
    assert "set firewall_admin_networks" in message


def test_admin_networks_win_over_ssh_client():
    rules = rules_of(*sandbox(), H1, admin=["192.0.2.9"], ssh_client="198.51.100.7 50022 22")
    assert rules[9101]["ip"] == ["192.0.2.9"]


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("value, fragment", [
    ("10.1.0.5/24", "10.0.0.5/24 has host bits: use 10.0.0.0/24"),
    ("10.1.0.300", "is not an address or a network"),
    ("10.1.0.0/24 accept", "is not an address or a network"),
    ("10.1.0.0/24\ntcp dport 22 drop", "is not an address or a network"),
    ("fe80::1%eth0", "is not an address or a network"),
    ("", "is not an address or a network"),
    (24, "is not an address or a network"),
])
def test_a_bad_client_network_names_the_variable_and_the_fix(value, fragment):
    hostvars, groups = sandbox()
    for host in MEMBERS:
        hostvars[host]["pg_client_networks"] = [value]
    message = error_of(hostvars, groups, H1)
    assert f"host {H1}: pg_client_networks entry {value!r}" in message or \
        f"cluster pg-test: pg_client_networks entry {str(value)!r}" in message
    assert fragment in message or "no host bits set" in message


def test_a_bad_admin_network_names_the_variable():
    message = error_of(*sandbox(), H1, admin=["192.0.2.1/24"])
    assert message.startswith("firewall_admin_networks entry '192.0.2.1/24' is not an address or a network")
    assert "use 10.0.0.0/24" in message


def test_a_host_name_as_address_is_refused_with_the_fix():
    hostvars, groups = sandbox()
    hostvars[H3]["node_address"] = "db3.example.com"
    message = error_of(hostvars, groups, H1)
    assert message.startswith(f"host {H3}: node_address 'db3.example.com' is not an IP address")
    assert "set node_address to the address" in message


def test_a_bad_port_is_named():
    hostvars, groups = sandbox()
    hostvars[H1]["patroni_rest_port"] = "80o8"
    assert error_of(hostvars, groups, H1) == (f"host {H1}: patroni_rest_port '80o8' is not a port number "
                                              "from 1 to 65535")


def test_a_service_on_the_ssh_port_is_refused():
    message = error_of(*sandbox(), H1, ssh_ports=[22, 2379])
    assert message.startswith(f"host {H1}: tcp port 2379 is SSH (ansible_port) and also etcd clients")
    assert error_of(*sandbox(), H1, allow=[{"port": 22, "sources": ["10.0.0.0/8"]}]).startswith(
        f"host {H1}: tcp port 22 is SSH")


# ---------------------------------------------------------------- firewall_allow

def test_firewall_allow_adds_sources_to_a_port_of_ours_and_restricts_a_new_one():
    allow = [{"port": 5432, "proto": "tcp", "sources": ["10.7.0.0/16"]},
             {"port": "9187", "sources": ["10.8.0.1", "fd00::/8"]},
             {"port": 161, "proto": "udp", "sources": ["10.9.0.0/24"]}]
    rules = firewall.firewall_rules(*sandbox(), H1, ADMIN, allow=allow)
    by_key = {(rule["proto"], rule["port"]): rule for rule in rules}
    assert by_key[("tcp", 5432)]["ip"] == ["10.1.0.0/24", "10.7.0.0/16"] + MEMBERS
    assert by_key[("tcp", 5432)]["comment"] == "PostgreSQL (patroni_pg_port) of pg-test; firewall_allow"
    assert by_key[("tcp", 9187)]["ip"] == ["10.8.0.1"] and by_key[("tcp", 9187)]["ip6"] == ["fd00::/8"]
    assert by_key[("udp", 161)]["match"] == "udp dport 161"
    # tcp before udp, ports in order.
    assert [key for key in by_key if key[0] == "udp"] == [("udp", 161)]
    assert list(by_key)[-1] == ("udp", 161)


@pytest.mark.parametrize("allow, message", [
    ([{"port": 9187, "sources": []}],
     "firewall_allow[0].sources is empty"),
    ([{"port": 9187, "proto": "icmp", "sources": ["10.0.0.1"]}],
     "firewall_allow[0].proto 'icmp' is not tcp or udp"),
    ([{"port": 0, "sources": ["10.0.0.1"]}], "firewall_allow[0].port 0 is not a port number"),
    ([{"port": 9187, "sources": ["10.0.0.1/8"]}], "firewall_allow[0].sources entry '10.0.0.1/8'"),
    (["9187"], "firewall_allow[0] must be a dictionary"),
])
def test_bad_firewall_allow_entries_are_named(allow, message):
    assert error_of(*sandbox(), H1, allow=allow).startswith(message)


# ---------------------------------------------------------------- the filter

def test_the_filter_turns_errors_into_filter_errors():
    hostvars, groups = sandbox()
    rules = firewall_filter.firewall_rules(hostvars, groups, H1, ADMIN, None, [], [22])
    assert rules == firewall.firewall_rules(hostvars, groups, H1, ADMIN)
    with pytest.raises(AnsibleFilterError, match="firewall_admin_networks is empty"):
        firewall_filter.firewall_rules(hostvars, groups, H1, [], "")
    assert "firewall_rules" in firewall_filter.FilterModule().filters()


def test_the_filter_documentation_renders():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-t", "filter",
                          "pgha.cloud.firewall_rules"], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=180, check=False)
    assert out.returncode == 0, out.stderr
    assert "firewall_rules" in out.stdout and "admin_networks" in out.stdout


# ---------------------------------------------------------------- the rendered ruleset

def render(rules, ssh_ports=(22,)):
    """firewall.nft.j2 rendered the way Ansible's template module does (trim_blocks)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles/firewall/templates")),
                             trim_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template("firewall.nft.j2").render(ansible_managed="managed", __firewall_rules=rules,
                                                      __firewall_ssh_ports=list(ssh_ports))


def statements(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_ruleset_replaces_only_its_own_table():
    text = render(firewall.firewall_rules(*sandbox(), H1, ADMIN))
    lines = statements(text)
    assert lines[:3] == ["table inet pgha {}", "delete table inet pgha", "table inet pgha {"]
    assert not any("flush" in line or "ruleset" in line for line in lines)
    assert len(re.findall(r"^table ", text, re.M)) == 2
    assert lines[4] == "type filter hook input priority 0; policy accept;"
    # Replies first, then loopback and SSH, before any drop.
    assert lines[5:8] == ["ct state established,related accept", 'iif "lo" accept', "tcp dport { 22 } accept"]


def test_every_port_accepts_its_sources_then_drops():
    hostvars, groups = sandbox()
    for host in MEMBERS:
        hostvars[host]["pg_entrypoints"] = ["haproxy", "vip"]
    rules = firewall.firewall_rules(hostvars, groups, H1, ["2001:db8::/64"])
    lines = statements(render(rules, ssh_ports=(22, 2222)))
    assert "tcp dport { 22, 2222 } accept" in lines
    assert ("tcp dport 5432 ip saddr { 10.1.0.0/24, 10.210.0.11, 10.210.0.12, 10.210.0.13 } accept"
            in lines)
    index = lines.index("tcp dport 8008 ip6 saddr { 2001:db8::/64 } accept")
    assert lines[index - 1].startswith("tcp dport 8008 ip saddr {")
    assert lines[index + 1] == "tcp dport 8008 drop"
    assert "meta l4proto 112 ip saddr { 10.210.0.11, 10.210.0.12, 10.210.0.13 } accept" in lines
    assert lines[-3:] == ["meta l4proto 112 drop", "}", "}"]
    for rule in rules:
        assert lines.count(f"{rule['match']} drop") == 1
    # No empty set: a family without sources has no accept line.
    assert not any("{  }" in line or "{ }" in line for line in lines)
    assert not any("ip6 saddr" in line for line in lines if line.startswith("tcp dport 5432"))


def test_a_host_with_nothing_to_restrict_gets_an_input_chain_that_drops_nothing():
    lines = statements(render([]))
    assert not any(line.endswith("drop") for line in lines)


def test_the_role_defaults_match_the_argument_spec():
    defaults = yaml.safe_load((ROOT / "roles/firewall/defaults/main.yml").read_text())
    spec = yaml.safe_load((ROOT / "roles/firewall/meta/argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert options[name]["default"] == value, name
        assert name.startswith("firewall_")
