"""Names in a node's certificate (plugins/module_utils/tls.py) and HAProxy's client sources."""

import pytest

from ansible_collections.pgha.cloud.plugins.module_utils import haproxy, tls

HOSTVARS = {
    "10.0.1.11": {"pg_cluster": "pg-test", "pg_seq": 1, "etcd_seq": 1,
                  "pg_entrypoints": ["haproxy", "vip", "route53"], "pg_vip_address": "10.0.1.100/24",
                  "entrypoint_aws_zone_name": "db.example.internal.", "pki_extra_sans": ["pg.example.com"],
                  "pg_client_networks": ["10.0.0.0/16"]},
    "10.0.1.12": {"pg_cluster": "pg-test", "pg_seq": 2, "etcd_seq": 2},
    "db3": {"pg_cluster": "pg-test", "pg_seq": 3, "node_address": "10.0.1.13", "etcd_seq": 3},
    "10.0.9.1": {},
}
GROUPS = {"all": list(HOSTVARS), "pg-test": ["10.0.1.11", "10.0.1.12", "db3"], "pg_proxy": ["10.0.9.1"],
          "etcd": ["10.0.1.11", "10.0.1.12", "db3"]}


def test_member_certificate_names_every_way_a_client_reaches_the_cluster():
    sans = tls.subject_alt_names(HOSTVARS, GROUPS, "10.0.1.11")
    for entry in ("IP:10.0.1.11", "IP:127.0.0.1", "DNS:localhost", "DNS:pg-test-1", "DNS:etcd-1",
                  # other members (their HAProxy routes here) and the proxy tier
                  "IP:10.0.1.12", "IP:10.0.1.13", "IP:10.0.9.1",
                  # the VIP without its prefix, the Route53 role names, the extra name
                  "IP:10.0.1.100", "DNS:pg-test-primary.db.example.internal",
                  "DNS:pg-test-replica.db.example.internal", "DNS:pg.example.com"):
        assert entry in sans, entry
    assert len(sans) == len(set(sans))


def test_named_host_gets_its_address_and_its_name():
    sans = tls.subject_alt_names(HOSTVARS, GROUPS, "db3")
    assert sans[:2] == ["IP:10.0.1.13", "DNS:db3"]
    assert "DNS:pg-test-3" in sans and "DNS:etcd-3" in sans
    # the VIP and Route53 names come with the cluster's pg_entrypoints, which this host does not list
    assert not any("10.0.1.100" in s or "primary" in s for s in sans)


def test_proxy_host_certificate_has_its_own_names_only():
    sans = tls.subject_alt_names(HOSTVARS, GROUPS, "10.0.9.1")
    assert sans == ["IP:10.0.9.1", "DNS:localhost", "IP:127.0.0.1"]


def test_haproxy_accepts_clients_from_client_networks_members_and_loopback_only():
    members = GROUPS["pg-test"]
    assert haproxy.client_sources(HOSTVARS, GROUPS, "pg-test", members) == [
        "127.0.0.1/32", "10.0.0.0/16", "10.0.1.11/32", "10.0.1.12/32", "10.0.1.13/32"]


@pytest.mark.parametrize("value", ["0.0.0.0/0 trust #", "10.0.0.300/24", "10.0.0.1/24", "10.0.0.0/16\n"])
def test_haproxy_client_sources_refuse_what_is_not_a_network(value):
    hostvars = dict(HOSTVARS, **{"10.0.1.11": dict(HOSTVARS["10.0.1.11"], pg_client_networks=[value])})
    with pytest.raises(ValueError, match="pg_client_networks entry"):
        haproxy.client_sources(hostvars, GROUPS, "pg-test", GROUPS["pg-test"])


def test_the_controller_ca_is_the_inventorys_or_beside_the_first_source(tmp_path):
    inventory_dir = tmp_path / "inv"
    inventory_dir.mkdir()
    hosts_file = tmp_path / "hosts.yml"
    hosts_file.write_text("all: {}\n")
    assert tls.pki_dir([str(inventory_dir), str(hosts_file)]) == str(inventory_dir / ".pki")
    assert tls.pki_dir([str(hosts_file), str(inventory_dir)]) == str(tmp_path / ".pki")
    assert tls.controller_ca({}, [str(inventory_dir)]) == str(inventory_dir / ".pki" / "ca.crt")
    assert tls.controller_ca({"pki_dir": "/srv/ca"}, [str(inventory_dir)]) == "/srv/ca/ca.crt"
    assert tls.controller_ca({"pki_ca_cert": "/srv/own.crt", "pki_dir": "/srv/ca"}, []) == "/srv/own.crt"
    with pytest.raises(ValueError, match="run with -i INVENTORY"):
        tls.controller_ca({}, [])
