"""The pgha.cloud.patroni inventory plugin, run by ansible-inventory against a fake Patroni over loopback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_patroni import FakePatroni, member

from ansible_collections.pgha.cloud.plugins.module_utils import cluster

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _members():
    # Addresses as Patroni reports them: each member's connect address.
    ms = [member("pg-test-1", role="leader", state="running"),
          member("pg-test-2", role="sync_standby"),
          member("pg-test-3", lag=4096)]
    for i, m in enumerate(ms, start=1):
        m["host"] = f"127.0.0.{i}"
    return ms


@pytest.fixture
def fake(test_ca):
    # Over HTTPS with a certificate of the test CA, like a deployed member.
    f = FakePatroni(members=_members(), tls=test_ca)
    f.ca = test_ca["ca"]
    yield f
    f.close()


def _inventory(tmp_path, fake, live=None, extra_cluster=False):
    """A static inventory whose first host reaches the fake; the others point at closed ports."""
    port = fake.servers["pg-test-1"].server_address[1]
    hosts = {
        "db1": {"pg_seq": 1, "pg_role": "primary", "node_address": "127.0.0.1", "patroni_rest_port": port},
        "db2": {"pg_seq": 2, "pg_role": "replica", "node_address": "127.0.0.2", "patroni_rest_port": 9},
        "db3": {"pg_seq": 3, "pg_role": "replica", "node_address": "127.0.0.3", "patroni_rest_port": 9},
    }
    children = {"pg-test": {"hosts": hosts, "vars": {"pg_cluster": "pg-test"}}}
    if extra_cluster:
        lone = {"pg_seq": 1, "pg_role": "primary", "node_address": "127.0.0.9", "patroni_rest_port": 9}
        children["pg-down"] = {"hosts": {"lone": lone}, "vars": {"pg_cluster": "pg-down"}}
    static = tmp_path / "hosts.yml"
    static.write_text(yaml.safe_dump({"all": {"children": children}}))
    plugin = tmp_path / "live.patroni.yml"
    config = {"plugin": "pgha.cloud.patroni", "timeout": 2, "ca_path": fake.ca, **(live or {})}
    plugin.write_text(yaml.safe_dump({k: v for k, v in config.items() if v is not None}))
    return static, plugin


def _run(static, plugin):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")
    return subprocess.run([str(BIN / "ansible-inventory"), "-i", str(static), "-i", str(plugin), "--list"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)


def _var(inv, host, name):
    """A host variable from --list; values read from the network come back marked unsafe."""
    value = inv["_meta"]["hostvars"][host][name]
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_groups_follow_the_live_roles_and_move_after_a_failover(tmp_path, fake):
    static, plugin = _inventory(tmp_path, fake)
    out = _run(static, plugin)
    assert out.returncode == 0, out.stderr
    inv = json.loads(out.stdout)
    assert inv["pg-test_primary"]["hosts"] == ["db1"]
    assert sorted(inv["pg-test_replica"]["hosts"]) == ["db2", "db3"]
    assert _var(inv, "db2", "pg_live_role") == "sync_standby"
    assert _var(inv, "db3", "pg_live_lag") == 4096

    # Patroni promotes pg-test-3: the next inventory run follows it.
    with fake.lock:
        fake.get("pg-test-1").update(role="replica", state="streaming")
        fake.get("pg-test-3").update(role="leader", state="running")
    inv = json.loads(_run(static, plugin).stdout)
    assert inv["pg-test_primary"]["hosts"] == ["db3"]
    assert sorted(inv["pg-test_replica"]["hosts"]) == ["db1", "db2"]


def test_a_stopped_member_is_in_no_role_group(tmp_path, fake):
    with fake.lock:
        fake.get("pg-test-3").update(state="stopped")
    static, plugin = _inventory(tmp_path, fake)
    inv = json.loads(_run(static, plugin).stdout)
    assert inv["pg-test_replica"]["hosts"] == ["db2"]
    assert _var(inv, "db3", "pg_live_state") == "stopped"


def test_unreachable_cluster_warns_or_fails_when_strict(tmp_path, fake):
    static, plugin = _inventory(tmp_path, fake, extra_cluster=True)
    out = _run(static, plugin)
    assert out.returncode == 0, out.stderr
    assert "cluster pg-down" in out.stderr and "no Patroni member answered" in out.stderr
    inv = json.loads(out.stdout)
    assert "lone" not in inv.get("pg-down_primary", {}).get("hosts", [])
    assert inv["pg-test_primary"]["hosts"] == ["db1"]

    static, plugin = _inventory(tmp_path, fake, live={"strict": True}, extra_cluster=True)
    out = _run(static, plugin)
    assert out.returncode != 0
    assert "cluster pg-down" in out.stderr and "127.0.0.9:9" in out.stderr


def test_the_ca_is_required_and_checked(tmp_path, fake, test_ca):
    # No CA anywhere: the file says which option to set rather than trusting any certificate.
    static, plugin = _inventory(tmp_path, fake, live={"ca_path": None, "strict": True})
    out = _run(static, plugin)
    assert out.returncode != 0
    assert "set ca_path to the deployment's CA certificate" in out.stderr

    # Another CA than the one that signed the REST API's certificate: refused, not trusted.
    from tls_testca import make_ca

    other = tmp_path / "other"
    other.mkdir()
    static, plugin = _inventory(tmp_path, fake, live={"ca_path": make_ca(other)["ca"], "strict": True})
    out = _run(static, plugin)
    assert out.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in " ".join(out.stderr.split()), out.stderr

    # The inventory's pki_dir (the pki role's variable) is where the CA is looked for.
    static, plugin = _inventory(tmp_path, fake, live={"ca_path": None, "strict": True})
    data = yaml.safe_load(static.read_text())
    data["all"]["children"]["pg-test"]["vars"]["pki_dir"] = str(Path(test_ca["ca"]).parent)
    static.write_text(yaml.safe_dump(data))
    out = _run(static, plugin)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["pg-test_primary"]["hosts"] == ["db1"]


def test_unknown_cluster_in_filter_is_named(tmp_path, fake):
    static, plugin = _inventory(tmp_path, fake, live={"clusters": ["pg-nope"]})
    out = _run(static, plugin)
    assert out.returncode != 0
    assert "cluster 'pg-nope' in `clusters` has no host" in out.stderr


def test_two_running_leaders_give_no_primary_group_member():
    # A view with two leaders is never trusted: the primary group stays empty.
    members = [{"name": "a", "host": "10.0.0.1", "role": "leader", "state": "running"},
               {"name": "b", "host": "10.0.0.2", "role": "leader", "state": "running"}]
    groups = cluster.live_role_groups(["h1", "h2"], {"h1": {"node_address": "10.0.0.1"},
                                                     "h2": {"node_address": "10.0.0.2"}}, members)
    assert groups["primary"] == []
    assert groups["replica"] == []
