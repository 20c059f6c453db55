"""playbooks/backup.yml refuses bad requests on localhost, before Patroni or any host is contacted."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "inventories" / "sandbox"
BACKUP = ROOT / "playbooks" / "backup.yml"
BIN = Path(sys.executable).parent


def run(*extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(SANDBOX), str(BACKUP), *extra],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    return result, re.sub(r"\s+", " ", result.stdout)


@pytest.mark.parametrize("extra, fragments", [
    (["-e", "backup_type=snapshot"], ['backup_type "snapshot" is not a pgBackRest backup type',
                                      "set -e backup_type=full (the default), diff or incr"]),
    (["-e", "pgbackrest_enabled=false"], ["Cluster pg-test has no pgBackRest (pgbackrest_enabled is false",
                                          "run playbooks/pgsql.yml, then this playbook again"]),
    (["-e", "cluster=pg-nope"], ["'pg-nope' is not a cluster of this inventory"]),
])
def test_refusals_name_the_fix(extra, fragments):
    result, stdout = run(*extra)
    assert result.returncode != 0, result.stdout
    for fragment in fragments:
        assert fragment in stdout, result.stdout
    assert "Ask Patroni which member leads" not in stdout
    assert "PLAY [Back up on the leader]" not in stdout
