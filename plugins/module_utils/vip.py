# -*- coding: utf-8 -*-
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The L2 VIP entry point: one place for the facts the inventory check and the role share.

The VIP is an IPv4 address with the prefix of the nodes' own network
(`pg_vip_address: 10.0.1.100/24`). keepalived moves it; the VRRP instance of
a cluster is told apart by its virtual router id (1..255), which defaults to
a stable number derived from the cluster name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import zlib

VRID_MIN = 1
VRID_MAX = 255
# Linux interface names: at most 15 bytes, no '/', no whitespace.
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


def default_vrid(cluster):
    """A stable virtual router id in 1..255 from the cluster name (CRC32, not Python's hash)."""
    return zlib.crc32(str(cluster).encode("utf-8")) % VRID_MAX + VRID_MIN


def effective_vrid(cluster, vrid=None):
    """The id the role uses: `vrid` when given (int or digit string), else the derived one."""
    if vrid is None or (isinstance(vrid, str) and not vrid.strip()):
        return default_vrid(cluster)
    if isinstance(vrid, bool):
        raise ValueError(f"pg_vip_vrid {vrid!r} is not an integer")
    try:
        number = int(vrid)
    except (TypeError, ValueError):
        raise ValueError(f"pg_vip_vrid {vrid!r} is not an integer") from None
    if isinstance(vrid, float) and vrid != number:
        raise ValueError(f"pg_vip_vrid {vrid!r} is not an integer")
    if not VRID_MIN <= number <= VRID_MAX:
        raise ValueError(f"pg_vip_vrid {number} is outside {VRID_MIN}..{VRID_MAX}")
    return number


def parse_vip(value):
    """`'10.0.1.100/24'` -> IPv4Interface; ValueError with the reason for anything else.

    The prefix is required: keepalived adds the address with it, and the
    inventory check compares it with the nodes' addresses.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is not a string like 10.0.1.100/24")
    text = value.strip()
    if "/" not in text:
        raise ValueError("has no prefix length; write it with the prefix of the nodes' network, "
                         f"e.g. {text}/24")
    try:
        vip = ipaddress.ip_interface(text)
    except ValueError:
        raise ValueError("is not an IPv4 address with a prefix length, e.g. 10.0.1.100/24") from None
    if vip.version != 4:
        raise ValueError("is an IPv6 address; the vip entry point supports IPv4 only")
    network = vip.network
    if network.prefixlen <= 30 and vip.ip in (network.network_address, network.broadcast_address):
        raise ValueError(f"is the network or broadcast address of {network}; pick a free host address")
    return vip


def ipv4(value):
    """`value` as an IPv4Address, or None when it is a host name or anything else."""
    try:
        address = ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None
    return address if address.version == 4 else None


def interface_of(facts, address):
    """Name of the interface that holds `address`, from Ansible facts; None when none does.

    Facts key interfaces with '-' and ':' turned into '_' (`br-1a2b` -> `br_1a2b`),
    so the device name is read from each interface's own `device` field.
    """
    wanted = str(address)
    for name in facts.get("interfaces") or []:
        data = facts.get(str(name).replace("-", "_").replace(":", "_")) or {}
        ipv4_facts = data.get("ipv4")
        addresses = []
        if isinstance(ipv4_facts, dict):
            addresses.append(ipv4_facts.get("address"))
        addresses.extend(item.get("address") for item in data.get("ipv4_secondaries") or [])
        if wanted in addresses:
            return data.get("device") or str(name)
    return None


def networks_overlap(first, second):
    """Do two VIPs' networks share addresses (so VRRP on one can reach the other)?"""
    return first.network.overlaps(second.network)
