"""The pgbackrest role's scheduled backup script: who backs up, with what command, and the exit code.

Patroni is a fake transport (no network); pgBackRest is a fake runner that
records the argv it would have run.
"""

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "pgbackrest" / "files" / "pgha_backup.py"
# On the nodes patroni_core.py sits beside the script; here it is the collection's.
MODULE_UTILS = ROOT / "plugins" / "module_utils"
if str(MODULE_UTILS) not in sys.path:
    sys.path.append(str(MODULE_UTILS))
spec = importlib.util.spec_from_file_location("pgha_backup", SCRIPT)
backup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backup)
patroni_core = sys.modules["patroni_core"]

API = "https://10.0.1.11:8008"


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(patroni_core.PatroniClient, "backoff", 0)


def fake_patroni(answer=None, status=200, error=None):
    """A transport answering GET /patroni with `answer`, or raising TransportError(`error`)."""
    calls = []

    def transport(method, url, body=None, timeout=5.0, headers=None):
        calls.append((method, url, dict(headers or {})))
        if error:
            raise patroni_core.TransportError(error)
        return status, json.dumps(answer).encode()

    transport.calls = calls
    return transport


class Runner:
    def __init__(self, rc=0, error=None):
        self.rc, self.error, self.argv = rc, error, []

    def __call__(self, argv):
        self.argv.append(argv)
        if self.error:
            raise self.error
        return self.rc


def args(kind="full", *extra):
    return backup.parse_args(["--patroni", API, "--cacert", "/etc/pgha/tls/ca.crt", "--stanza", "pg-test",
                              "--type", kind, *extra])


def run(answer=None, kind="full", runner=None, **fake):
    out, err = io.StringIO(), io.StringIO()
    runner = runner or Runner()
    transport = fake_patroni(answer, **fake)
    rc = backup.run(args(kind), transport, runner=runner, out=out, err=err)
    return rc, runner, out.getvalue(), err.getvalue(), transport


PRIMARY = {"state": "running", "role": "primary", "server_version": 150010, "timeline": 3}


@pytest.mark.parametrize("kind", ["full", "diff", "incr"])
def test_the_running_primary_backs_up_with_the_config_stanza_and_type(kind):
    rc, runner, out, err, transport = run(PRIMARY, kind)
    assert rc == 0 and err == ""
    assert runner.argv == [["/usr/bin/pgbackrest", "--config=/etc/pgbackrest/pgbackrest.conf",
                            "--stanza=pg-test", f"--type={kind}", "backup"]]
    assert f"the running primary: {kind} backup of stanza pg-test" in out
    # One unauthenticated GET of this member's /patroni: no credentials anywhere.
    assert [(m, u) for m, u, _h in transport.calls] == [("GET", API + "/patroni")]
    assert "Authorization" not in transport.calls[0][2]


@pytest.mark.parametrize("role", ["leader", "master"])
def test_older_names_of_the_primary_role_back_up_too(role):
    rc, runner, _out, _err, _t = run(dict(PRIMARY, role=role))
    assert rc == 0 and len(runner.argv) == 1


def test_a_paused_cluster_still_backs_up_on_its_primary():
    rc, runner, out, _err, _t = run(dict(PRIMARY, pause=True))
    assert rc == 0 and len(runner.argv) == 1
    assert "(cluster paused)" in out


def test_the_config_file_and_program_can_be_given():
    runner = Runner()
    a = args("diff", "--config", "/etc/pgbackrest/other.conf", "--pgbackrest", "/opt/pgbackrest/pgbackrest")
    assert backup.run(a, fake_patroni(PRIMARY), runner=runner, out=io.StringIO(), err=io.StringIO()) == 0
    assert runner.argv == [["/opt/pgbackrest/pgbackrest", "--config=/etc/pgbackrest/other.conf",
                            "--stanza=pg-test", "--type=diff", "backup"]]


def test_pgbackrest_failing_fails_the_run_with_its_exit_code():
    rc, runner, _out, _err, _t = run(PRIMARY, runner=Runner(rc=50))
    assert rc == 50 and len(runner.argv) == 1


def test_pgbackrest_missing_is_reported():
    rc, _runner, _out, err, _t = run(PRIMARY, runner=Runner(error=FileNotFoundError(2, "No such file")))
    assert rc == backup.EXIT_ATTENTION
    assert "cannot run /usr/bin/pgbackrest" in err and "pgbackrest package" in err


@pytest.mark.parametrize("member", [
    {"state": "streaming", "role": "replica"},
    {"state": "running", "role": "sync_standby"},
    {"state": "running", "role": "standby_leader"},
    {"state": "starting", "role": "replica"},
    {"state": "stopped"},
])
def test_every_other_member_skips_quietly(member):
    rc, runner, out, err, _t = run(member)
    assert rc == 0 and runner.argv == [] and err == ""
    assert out.startswith("not the primary (") and out.rstrip().endswith("), skipped")
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("state", ["stopped", "starting", "crashed", "restarting"])
def test_a_leader_whose_postgres_is_not_running_fails_without_backing_up(state):
    rc, runner, out, err, _t = run(dict(PRIMARY, state=state))
    assert rc == backup.EXIT_ATTENTION and runner.argv == [] and out == ""
    assert f"PostgreSQL is {state}" in err and "no backup taken" in err


def test_patroni_unreachable_fails_and_says_so():
    rc, runner, out, err, transport = run(error="Connection refused")
    assert rc == backup.EXIT_ATTENTION and runner.argv == [] and out == ""
    assert "Patroni did not say whether this member is the primary, no backup taken" in err
    assert "Connection refused" in err and "--patroni" in err
    assert len(transport.calls) == 3  # retried twice


def test_an_untrusted_certificate_points_at_the_ca_option():
    rc, _runner, _out, err, _t = run(error="[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert rc == backup.EXIT_ATTENTION
    assert "CERTIFICATE_VERIFY_FAILED" in err


@pytest.mark.parametrize("status, body", [(500, {"error": "boom"}), (200, "not json")])
def test_an_answer_that_is_not_patroni_fails(status, body):
    rc, runner, _out, err, _t = run(body, status=status)
    assert rc == backup.EXIT_ATTENTION and runner.argv == []
    assert "no backup taken" in err


def test_the_type_is_checked():
    with pytest.raises(SystemExit):
        args("snapshot")


def test_decide_on_its_own():
    assert backup.decide(PRIMARY)[0] == "backup"
    assert backup.decide({"role": "replica", "state": "streaming"}) == (
        "skip", "not the primary (role replica, state streaming), skipped")
    assert backup.decide({})[0] == "skip"
    assert backup.decide({"role": "primary", "state": "stopped"})[0] == "attention"


def test_the_script_runs_as_a_process_with_patroni_core_beside_it(tmp_path):
    """As the role installs it: pgha-backup (no .py) and patroni_core.py side by side, nothing on PYTHONPATH.

    Nothing listens on the port: the script must fail, saying why, and take no backup.
    """
    node = tmp_path / "bin"
    node.mkdir()
    (node / "pgha-backup").write_bytes(SCRIPT.read_bytes())
    (node / "patroni_core.py").write_bytes((MODULE_UTILS / "patroni_core.py").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, str(node / "pgha-backup"), "--patroni", "http://127.0.0.1:9", "--stanza", "pg-test",
         "--type", "full", "--pgbackrest", "/bin/false", "--timeout", "0.2"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False)
    assert out.returncode == 1, out
    assert "no backup taken" in out.stderr
