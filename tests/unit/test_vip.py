"""The vip entry point's shared facts (module_utils/vip.py) and its filters."""

import zlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgha.cloud.plugins.filter import pgha
from ansible_collections.pgha.cloud.plugins.module_utils import vip

# ---------------------------------------------------------------- virtual router id


def test_default_vrid_is_crc32_of_the_name_in_range():
    assert vip.default_vrid("pg-test") == zlib.crc32(b"pg-test") % 255 + 1
    for name in ("a", "pg-test", "pg-prod", "x" * 60):
        assert 1 <= vip.default_vrid(name) <= 255


def test_default_vrid_is_stable_and_depends_on_the_name():
    assert vip.default_vrid("pg-test") == vip.default_vrid("pg-test")
    assert len({vip.default_vrid(f"pg-{n}") for n in range(50)}) > 40


@pytest.mark.parametrize("given, expected", [(7, 7), ("7", 7), (" 255 ", 255), (1, 1), (3.0, 3)])
def test_explicit_vrid_wins(given, expected):
    assert vip.effective_vrid("pg-test", given) == expected


@pytest.mark.parametrize("given", [None, "", "  "])
def test_unset_vrid_is_derived(given):
    assert vip.effective_vrid("pg-test", given) == vip.default_vrid("pg-test")


@pytest.mark.parametrize("given, reason", [(0, "outside 1..255"), (256, "outside 1..255"), (-1, "outside"),
                                           ("abc", "not an integer"), (True, "not an integer"),
                                           (1.5, "not an integer"), ([1], "not an integer")])
def test_bad_vrid_is_refused(given, reason):
    with pytest.raises(ValueError, match=reason):
        vip.effective_vrid("pg-test", given)


def test_vrid_filter_names_the_range():
    assert pgha.vip_vrid("pg-test") == vip.default_vrid("pg-test")
    assert pgha.vip_vrid("pg-test", "12") == 12
    with pytest.raises(AnsibleFilterError, match="whole number from 1 to 255"):
        pgha.vip_vrid("pg-test", 300)


# ---------------------------------------------------------------- the address


def test_parse_vip_keeps_address_and_prefix():
    parsed = vip.parse_vip(" 10.210.0.100/24 ")
    assert str(parsed) == "10.210.0.100/24"
    assert str(parsed.network) == "10.210.0.0/24"


@pytest.mark.parametrize("value, reason", [
    ("10.210.0.100", "has no prefix length"),
    ("10.210.0.300/24", "is not an IPv4 address with a prefix length"),
    ("10.210.0.100/33", "is not an IPv4 address with a prefix length"),
    ("fd00::10/64", "IPv6"),
    ("10.210.0.0/24", "network or broadcast address of 10.210.0.0/24"),
    ("10.210.0.255/24", "network or broadcast"),
    ("", "is not a string"),
    (None, "is not a string"),
    (42, "is not a string"),
])
def test_parse_vip_refuses(value, reason):
    with pytest.raises(ValueError, match=reason):
        vip.parse_vip(value)


def test_point_to_point_prefixes_have_no_broadcast_rule():
    assert str(vip.parse_vip("10.0.0.0/31")) == "10.0.0.0/31"
    assert str(vip.parse_vip("10.0.0.7/32")) == "10.0.0.7/32"


def test_address_filter_normalises_and_explains():
    assert pgha.vip_address("10.210.0.100/24") == "10.210.0.100/24"
    with pytest.raises(AnsibleFilterError, match="pg_vip_address '10.210.0.100' has no prefix length"):
        pgha.vip_address("10.210.0.100")


def test_ipv4_is_none_for_names():
    assert str(vip.ipv4("10.0.0.1")) == "10.0.0.1"
    assert vip.ipv4("db1.example.com") is None
    assert vip.ipv4("fd00::1") is None


def test_networks_overlap():
    first = vip.parse_vip("10.0.1.100/24")
    assert vip.networks_overlap(first, vip.parse_vip("10.0.1.200/24"))
    assert vip.networks_overlap(first, vip.parse_vip("10.0.0.5/16"))
    assert not vip.networks_overlap(first, vip.parse_vip("10.0.2.100/24"))


# ---------------------------------------------------------------- the interface, from Ansible facts

FACTS = {
    "interfaces": ["lo", "eth0", "br-1a2b", "eth1"],
    "lo": {"device": "lo", "ipv4": {"address": "127.0.0.1"}},
    "eth0": {"device": "eth0", "ipv4": {"address": "10.210.0.11"}},
    # Facts key a device with '-' under '_'.
    "br_1a2b": {"device": "br-1a2b", "ipv4": {"address": "172.18.0.1"},
                "ipv4_secondaries": [{"address": "10.99.0.11"}]},
    "eth1": {"device": "eth1"},
}


@pytest.mark.parametrize("address, device", [("10.210.0.11", "eth0"), ("172.18.0.1", "br-1a2b"),
                                             ("10.99.0.11", "br-1a2b"), ("127.0.0.1", "lo")])
def test_interface_of_finds_the_device(address, device):
    assert vip.interface_of(FACTS, address) == device
    assert pgha.vip_interface(FACTS, address) == device


def test_interface_of_unknown_address_is_none():
    assert vip.interface_of(FACTS, "10.210.0.99") is None
    assert pgha.vip_interface(FACTS, "10.210.0.99") == ""
    assert pgha.vip_interface(None, "10.210.0.11") == ""
