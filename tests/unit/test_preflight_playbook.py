"""End-to-end checks of playbooks/preflight.yml with real ansible-playbook runs (no containers).

Every bad inventory fails in the first play, on localhost, before any of its
(fake) hosts is contacted.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "inventories" / "bad"
SANDBOX = ROOT / "inventories" / "sandbox"
TIER = ROOT / "inventories" / "example-tier"
PREFLIGHT = ROOT / "playbooks" / "preflight.yml"
BIN = Path(sys.executable).parent

# inventory file -> (number of problems, fragments the report must contain)
CASES = {
    # Pigsty's own HA config (conf/ha/trio.yml) as a Pigsty user brings it: what is not honoured is named.
    # No password is asked for: Pigsty's superuser has none, and the replicator rewinds.
    "pigsty-ha-trio": (11, [
        "pg_users item 1 (dbuser_meta) has pgbouncer, but pgbouncer_enabled is not true for the cluster",
        "pg_databases item 1 (meta) has baseline, which this collection does not apply",
        "pg_vip_enabled is true, but Pigsty's L2 VIP is the vip entry point here",
        "pg_crontab is Pigsty's", "node_tune is Pigsty's",
        "node_repo_remove is Pigsty's", "haproxy_services is Pigsty's",
        "host 10.99.0.1: vip_role is Pigsty's"]),
    "two-primaries": (1, ["cluster pg-bad, hosts 10.99.0.1, 10.99.0.2: pg_role is primary on 2 hosts",
                          "set pg_role: primary on exactly one host"]),
    "no-primary": (1, ["hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: no host has pg_role: primary"]),
    "duplicate-pg-seq": (1, ["pg_seq 2 is used by 10.99.0.2 and 10.99.0.3",
                             "give each host its own pg_seq"]),
    "non-integer-pg-seq": (1, ["cluster pg-bad, host 10.99.0.2: pg_seq 'two' is not an integer",
                               "set pg_seq to a whole number >= 0"]),
    "bad-cluster-name": (1, ["cluster pg_bad, hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: pg_cluster 'pg_bad'",
                             "is not a valid cluster name", "lower-case letters, digits and '-'"]),
    "etcd-even-count": (1, ["group etcd, hosts 10.99.0.1, 10.99.0.2, 10.99.0.3, 10.99.0.4: has 4 members",
                            "4 members tolerate 1 failure(s), no more than 3 would"]),
    "etcd-single-without-flag": (1, ["group etcd, host 10.99.0.1: has 1 member",
                                     "set etcd_allow_single_member: true on that host"]),
    "unknown-pg-rto": (1, ["pg_rto 'turbo' is not a known preset; "
                           "choose one of: fast, norm, patroni, safe, wide"]),
    "ttl-below-minimum": (2, ["pg_rto 'norm' with patroni_ttl=10 are invalid",
                              "ttl=10 is below Patroni's minimum of 20",
                              "5 + 2 * 10 = 25 exceeds ttl=10"]),
    "timing-sum-above-ttl": (1, ["loop_wait + 2 * retry_timeout = 10 + 2 * 15 = 40 exceeds ttl=30",
                                 "Patroni requires loop_wait + 2 * retry_timeout <= ttl"]),
    "negative-pg-rpo": (1, ["cluster pg-bad, hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: pg_rpo -1 is negative"]),
    "host-in-two-clusters": (1, ["host 10.99.0.3: is in the groups of 2 clusters (pg-bad, pg-other)"]),
    "undefined-vault-password": (1, ["pg_admin_password is not set, empty, or refers to an undefined "
                                     "variable", "is the vault file loaded?"]),
    "nlb-without-vpc": (2, ["pg_entrypoints has nlb but entrypoint_aws_vpc_id is not set",
                            "entrypoint_aws_subnets is not a list of two or more subnet IDs"]),
    "rewind-user-without-password": (1, ["hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: patroni_rewind_username "
                                         "rewind has no pg_rewind_password",
                                         "pg_rewind connects as the replication user"]),
    "vip-without-address": (1, ["cluster pg-bad, hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: pg_entrypoints lists "
                                "vip but pg_vip_address is not set"]),
    "vip-is-a-host-address": (1, ["pg_vip_address 10.99.0.2 is the address of host 10.99.0.2",
                                  "the VIP must be a free address that no node owns"]),
    "vip-vrid-out-of-range": (1, ["pg_vip_vrid 300 is not a whole number from 1 to 255"]),
    "vip-vrid-clash": (1, ["clusters pg-bad, pg-other: share the network 10.99.0.0/24 and both use VRRP "
                           "virtual router id 42", "set pg_vip_vrid to different numbers"]),
    "proxy-port-clash": (1, ["HAProxy on host 10.99.0.9: port 5433 is used by pg-bad primary and pg-other "
                             "primary; port 5434", "set pg_haproxy_ports in the vars of all but one",
                             "pg_haproxy_ports: {primary: 5443, replica: 5444, default: 5446, "
                             "offline: 5448}"]),
    "proxy-unknown-cluster": (1, ["group pg_proxy, host 10.99.0.9: pg_proxy_clusters names unknown "
                                  "cluster(s) 'pg-typo'; the clusters of this inventory are: pg-bad"]),
    "proxy-is-postgres-node": (1, ["group pg_proxy, host 10.99.0.3: is also a PostgreSQL node "
                                   "(cluster pg-bad)",
                                   "take the host out of one of the two groups"]),
    "tier-only-without-proxy": (1, ["cluster pg-bad, hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: pg_haproxy_local "
                                    "is false and no pg_proxy host routes to the cluster"]),
    "tier-only-single-proxy": (1, ["pg_haproxy_local is false and only 10.99.0.9 routes to the cluster",
                                   "pg_proxy_allow_single: true"]),
    "client-network-trust-injection": (1, ["cluster pg-bad, hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: "
                                           "pg_client_networks item '0.0.0.0/0 trust #' is not a network",
                                           "write each as address/prefix length, e.g. 10.0.0.0/24"]),
    "client-network-bad-octet": (1, ["pg_client_networks item '10.0.0.300/24' is not a network"]),
    "client-network-host-bits": (1, ["pg_client_networks item '10.99.0.1/24' has host bits set; write the "
                                     "network address 10.99.0.0/24"]),
    # The newline is shown escaped (\n): the message stays on one line.
    "cluster-name-trailing-newline": (1, ["hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: pg_cluster 'pg-bad\\n' is "
                                          "not a valid cluster name", "lower-case letters, digits and '-'"]),
    "undefined-optional-password": (1, ["pg_monitor_password is set but empty, or refers to an undefined "
                                        "variable", "or remove pg_monitor_password"]),
    "pgbackrest-s3-incomplete": (2, ["cluster pg-bad, hosts 10.99.0.1, 10.99.0.2, 10.99.0.3: "
                                     "pgbackrest_repo.s3.s3_bucket is missing",
                                     "pgbackrest_repo.s3.cipher_pass is shorter than 16 characters"]),
    "pgbackrest-mixed-members": (1, ["pgbackrest_enabled differs between hosts of the cluster (true on "
                                     "10.99.0.1, 10.99.0.2; false on 10.99.0.3)",
                                     "set it once in the vars of group pg-bad"]),
    # A Pigsty rule with an address that is no alias, and one with a comment smuggled into a raw line.
    "pg-hba-rules-bad": (2, ["pg_hba_rules item 1 (biz users) addr 'intranet,world' is neither an alias",
                             "pg_default_hba_rules item 2 rules line 'host all all 0.0.0.0/0 trust #' has a "
                             "line break, a control character, a quote or #"]),
    "pg-users-bad-name": (1, ["pg_users name 'app'; DROP ROLE app --' is not a valid PostgreSQL role name",
                              "quoted names are not supported"]),
}


def run(*args, **env_overrides):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               **env_overrides)
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180, check=False)


def flat(text):
    """Collapse whitespace, so a wrapped or re-indented message still matches."""
    return re.sub(r"\s+", " ", text)


# Secrets of a backup repository entry (pgbackrest_repo).
REPO_SECRETS = ("s3_key_secret", "cipher_pass")


def password_values(node):
    """All *_password values anywhere in a parsed inventory, the passwords of pg_users, repository secrets."""
    if isinstance(node, dict):
        for key, value in node.items():
            if (str(key).endswith("_password") or key == "password" or key in REPO_SECRETS) and value:
                yield str(value)
            else:
                yield from password_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from password_values(item)


def test_every_bad_inventory_has_a_case():
    assert sorted(path.stem for path in BAD.glob("*.yml")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_inventory_fails_with_a_clear_message(name):
    count, fragments = CASES[name]
    inventory = BAD / f"{name}.yml"
    result = run("ansible-playbook", "-i", str(inventory), str(PREFLIGHT))
    stdout = flat(result.stdout)
    assert result.returncode != 0, result.stdout
    assert f"inventory check failed: {count} problem(s)" in stdout, result.stdout
    for fragment in fragments:
        assert fragment in stdout, result.stdout
    # The run stops in the first play: no fake host is ever contacted.
    assert "PLAY [Check that every host is reachable]" not in stdout
    secrets = list(password_values(yaml.safe_load(inventory.read_text())))
    assert len(secrets) >= 4
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("inventory", [SANDBOX, TIER])
def test_example_inventories_pass_the_filter(inventory):
    # JSON results whatever ansible.cfg chooses, so the empty list reads the same every time.
    result = run("ansible", "localhost", "-i", str(inventory), "-m", "ansible.builtin.debug",
                 "-a", "msg={{ hostvars | pgha.cloud.inventory_errors(groups) }}",
                 ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r'"msg": \[\]', result.stdout), result.stdout


def test_pigsty_names_that_ask_for_nothing_new_pass_and_other_parts_are_named():
    inventory = ROOT / "tests" / "inventories" / "pigsty" / "accepted.yml"
    result = run("ansible-playbook", "-i", str(inventory), str(PREFLIGHT),
                 "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inventory check failed" not in result.stdout
    assert ("belong to Pigsty parts that pgha.cloud does not deploy and change nothing here: "
            "grafana_admin_password, infra_portal, region, version") in flat(result.stdout)
    assert ("cluster pg-meta: the pg_hba rules dbsu access via local os user ident, dbsu replication from "
            "local os ident, replicator replication from localhost, replicator replication from intranet, "
            "replicator postgres db from intranet name postgres, replicator, rewind") in flat(result.stdout)
    secrets = list(password_values(yaml.safe_load(inventory.read_text())))
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


def test_pigsty_names_stand_in_for_ours_when_ours_are_unset(tmp_path):
    inventory = ROOT / "tests" / "inventories" / "pigsty" / "accepted.yml"
    (tmp_path / "site.yml").write_text(yaml.safe_dump([
        {"name": "Pigsty's names",
         "ansible.builtin.import_playbook": str(ROOT / "playbooks" / "pigsty_names.yml")},
        {"name": "Compare", "hosts": "localhost", "gather_facts": False,
         "tasks": [{"name": "Compare", "ansible.builtin.assert": {"that": [
             "hostvars[item].patroni_rest_password == hostvars[item].patroni_password",
             "hostvars[item].pg_superuser_password == hostvars[item].pg_dbsu_password",
             "hostvars[item].patroni_rest_username == 'postgres'"], "quiet": True},
             "loop": "{{ groups['pg-meta'] }}", "no_log": True}]},
    ], sort_keys=False))
    result = run("ansible-playbook", "-i", str(inventory), str(tmp_path / "site.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok=1" in result.stdout
    for secret in password_values(yaml.safe_load(inventory.read_text())):
        assert secret not in result.stdout + result.stderr


def test_preflight_groups_the_haproxy_hosts_of_the_tier_inventory(tmp_path):
    # pgha_haproxy_<cluster> is what pgsql.yml, add_replica.yml and remove_replica.yml target.
    (tmp_path / "site.yml").write_text(yaml.safe_dump([
        {"name": "Preflight", "ansible.builtin.import_playbook": str(PREFLIGHT)},
        {"name": "Show the groups", "hosts": "localhost", "gather_facts": False,
         "tasks": [{"name": "Groups", "ansible.builtin.debug": {
             # Sorted: group_by adds hosts in the order their tasks finish.
             "msg": "HAPROXY={{ groups['pgha_haproxy'] | default([]) | sort | join(',') }};"
                    "PGTEST={{ groups['pgha_haproxy_pg-test'] | default([]) | sort | join(',') }};"
                    "POSTGRES={{ groups['pgha_postgres'] | default([]) | sort | join(',') }}"}}]},
    ], sort_keys=False))
    result = run("ansible-playbook", "-i", str(TIER), str(tmp_path / "site.yml"),
                 "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}")
    assert result.returncode == 0, result.stdout + result.stderr
    # pg_haproxy_local is false there: only the pg_proxy host runs HAProxy.
    expected = "HAPROXY=10.212.0.14;PGTEST=10.212.0.14;POSTGRES=10.212.0.11,10.212.0.12,10.212.0.13"
    assert expected in result.stdout


def test_sandbox_inventory_passes_preflight_when_hosts_answer():
    # Reach the sandbox hosts through a local connection: both plays run, nothing fails.
    result = run("ansible-playbook", "-i", str(SANDBOX), str(PREFLIGHT),
                 "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}")
    assert result.returncode == 0, result.stdout + result.stderr
    for host in ("10.210.0.11", "10.210.0.12", "10.210.0.13"):
        assert f"ok: [{host}]" in result.stdout
    assert "inventory check failed" not in result.stdout


def test_unreachable_host_stops_the_run_before_later_plays(tmp_path):
    down = "10.99.0.3"
    inventory = yaml.safe_load((BAD / "two-primaries.yml").read_text())
    inventory["all"]["children"]["pg-bad"]["hosts"]["10.99.0.2"]["pg_role"] = "replica"
    inventory["all"]["vars"].update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    # Nothing listens on port 1: the connection is refused at once.
    inventory["all"]["children"]["pg-bad"]["hosts"][down].update(
        ansible_connection="ssh", ansible_host="127.0.0.1", ansible_port=1,
        ansible_ssh_common_args="-o ConnectTimeout=5")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "site.yml").write_text(yaml.safe_dump([
        {"name": "Preflight", "ansible.builtin.import_playbook": str(PREFLIGHT)},
        {"name": "Change something", "hosts": "all", "gather_facts": False,
         "tasks": [{"name": "Would change", "ansible.builtin.debug": {"msg": "SHOULD-NOT-RUN"}}]},
    ], sort_keys=False))
    result = run("ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "site.yml"))
    assert result.returncode != 0
    assert "PLAY [Check that every host is reachable]" in result.stdout
    assert f"fatal: [{down}]" in result.stdout, result.stdout
    assert "PLAY [Change something]" not in result.stdout
    assert "SHOULD-NOT-RUN" not in result.stdout


def test_deploy_runs_the_preflight_once_and_the_layers_on_their_own_run_it():
    # deploy.yml imports etcd.yml and pgsql.yml, which start with the preflight too:
    # there their copy matches no host (the checks ran, the groups last the run).
    def patterns(playbook):
        out = run("ansible-playbook", "-i", str(SANDBOX), str(ROOT / "playbooks" / playbook), "--list-hosts")
        assert out.returncode == 0, out.stdout + out.stderr
        return re.findall(r"play #\d+ \((.*?)\): (.*?)\t", out.stdout)

    deploy = patterns("deploy.yml")
    checks = [hosts for hosts, name in deploy if name == "Check the inventory"]
    assert checks == ["localhost", "all:!all", "all:!all"], deploy
    reach = [hosts for hosts, name in deploy if name == "Check that every host is reachable"]
    assert reach == ["all", "all:!all", "all:!all"], deploy
    for layer in ("etcd.yml", "pgsql.yml"):
        alone = patterns(layer)
        assert ("localhost", "Check the inventory") in alone, alone
        assert ("all", "Check that every host is reachable") in alone, alone
