"""The role-change callback script end to end: a real process, moto as AWS, a fake Patroni over HTTP."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from conftest import COLLECTIONS, MEMBER_IPS, MOTO_REGION, free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "entrypoint_aws" / "files" / "pgha_role_change.py"
IPS = MEMBER_IPS
PRIMARY, REPLICA = "pg-test-primary.db.internal.", "pg-test-replica.db.internal."


@pytest.fixture
def fake(fake_with_ips):
    return fake_with_ips


@pytest.fixture
def pg2_leads(fake):
    """The fake Patroni after pg-2 took the leader key: its GET /leader answers 200."""
    fake._promote("pg-2")
    return fake


@pytest.fixture
def aws(moto):
    """Target groups and a private zone as the deploy would leave them, with pg-1 as primary."""

    def client(service):
        return boto3.client(service, region_name=MOTO_REGION, endpoint_url=moto)

    elb, r53 = client("elbv2"), client("route53")
    vpc = client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    arns = {}
    for service in ("primary", "replica"):
        group = elb.create_target_group(
            Name=f"pg-test-{service}", Protocol="TCP", Port=5432, VpcId=vpc, TargetType="ip"
        )
        arns[service] = group["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=arns["primary"], Targets=[{"Id": IPS["pg-1"], "Port": 5432}])
    elb.register_targets(
        TargetGroupArn=arns["replica"], Targets=[{"Id": IPS[n], "Port": 5432} for n in ("pg-2", "pg-3")]
    )
    zone = r53.create_hosted_zone(
        Name="db.internal.",
        CallerReference="z",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": MOTO_REGION, "VPCId": vpc},
    )["HostedZone"]["Id"].split("/")[-1]
    changes = [
        {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": PRIMARY,
                "Type": "A",
                "TTL": 5,
                "ResourceRecords": [{"Value": IPS["pg-1"]}],
            },
        }
    ]
    for name in ("pg-2", "pg-3"):
        changes.append(
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": REPLICA,
                    "Type": "A",
                    "TTL": 5,
                    "SetIdentifier": name,
                    "MultiValueAnswer": True,
                    "ResourceRecords": [{"Value": IPS[name]}],
                },
            }
        )
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    return dict(url=moto, elb=elb, r53=r53, arns=arns, zone=zone)


def config(tmp_path, setup, node, fake=None, **kw):
    cfg = {
        "cluster": "pg-test",
        "node_name": node,
        "node_ip": IPS[node],
        "data_port": 5432,
        "patroni_urls": [fake.url(node)] if fake else [],
        "deadline": 5,
        "lock_file": str(tmp_path / "lock"),
        "aws": {"region": MOTO_REGION, "endpoint_url": setup["url"]},
        "nlb": {
            "primary_target_group_arn": setup["arns"]["primary"],
            "replica_target_group_arn": setup["arns"]["replica"],
        },
        "route53": {"zone_id": setup["zone"], "primary_name": PRIMARY, "replica_name": REPLICA, "ttl": 5},
    }
    cfg.update(kw)
    path = tmp_path / f"{node}.json"
    path.write_text(json.dumps(cfg))
    return path


def run_script(cfg_path, *args, script=SCRIPT, pythonpath=str(COLLECTIONS), timeout=30):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    started = time.time()
    proc = subprocess.run(
        [sys.executable, str(script), "--config", str(cfg_path), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stderr, time.time() - started


def targets(aws, service):
    health = aws["elb"].describe_target_health(TargetGroupArn=aws["arns"][service])[
        "TargetHealthDescriptions"
    ]
    return sorted(t["Target"]["Id"] for t in health)


def records(aws):
    out = {}
    for r in aws["r53"].list_resource_record_sets(HostedZoneId=aws["zone"])["ResourceRecordSets"]:
        if r["Type"] == "A":
            out.setdefault(r["Name"], {})[r.get("SetIdentifier", "")] = [
                v["Value"] for v in r["ResourceRecords"]
            ]
    return out


def test_promotion_moves_every_entry_point_to_the_new_primary(tmp_path, aws, pg2_leads):
    cfg = config(tmp_path, aws, "pg-2", pg2_leads)
    rc, log, took = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0, log
    assert targets(aws, "primary") == [IPS["pg-2"]]
    assert targets(aws, "replica") == [IPS["pg-3"]]
    assert records(aws) == {PRIMARY: {"": [IPS["pg-2"]]}, REPLICA: {"pg-3": [IPS["pg-3"]]}}
    assert "nlb primary: ['10.0.1.11:5432'] -> ['10.0.2.11:5432'] (at " in log
    assert f"route53 {PRIMARY}" in log
    assert took < 5, took
    steps = [line.split(": ", 1)[1] for line in log.splitlines() if "(at " in line or "finished in" in line]
    print("promotion callback against moto:", "; ".join(steps), f"; {took:.2f}s with interpreter start")
    # Called again (Patroni may repeat a callback): nothing left to change.
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-2", pg2_leads), "on_role_change", "primary",
                                   "pg-test")
    assert rc == 0 and log.count("already right") == 4, log


def test_promotion_of_the_last_replica_keeps_the_replica_name(tmp_path, aws, pg2_leads):
    aws["elb"].deregister_targets(
        TargetGroupArn=aws["arns"]["replica"], Targets=[{"Id": IPS["pg-3"], "Port": 5432}]
    )
    aws["r53"].change_resource_record_sets(
        HostedZoneId=aws["zone"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "DELETE",
                    "ResourceRecordSet": {
                        "Name": REPLICA,
                        "Type": "A",
                        "TTL": 5,
                        "SetIdentifier": "pg-3",
                        "MultiValueAnswer": True,
                        "ResourceRecords": [{"Value": IPS["pg-3"]}],
                    },
                }
            ]
        },
    )
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-2", pg2_leads), "on_role_change", "primary",
                                   "pg-test")
    assert rc == 0, log
    assert records(aws)[REPLICA] == {"pg-2": [IPS["pg-2"]]}  # the leader serves reads until a replica streams
    assert targets(aws, "replica") == []


def test_demotion_leaves_the_primary_group_only(tmp_path, aws):
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-1"), "on_role_change", "replica", "pg-test")
    assert rc == 0, log
    assert targets(aws, "primary") == []
    assert records(aws)[PRIMARY] == {"": [IPS["pg-1"]]}  # left for the new leader to take over
    assert targets(aws, "replica") == [IPS["pg-2"], IPS["pg-3"]]


def test_on_stop_of_the_primary_leaves_the_primary_group(tmp_path, aws):
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-1"), "on_stop", "primary", "pg-test")
    assert rc == 0, log
    assert targets(aws, "primary") == []


def test_check_mode_changes_nothing(tmp_path, aws, pg2_leads):
    rc, log, _elapsed = run_script(
        config(tmp_path, aws, "pg-2", pg2_leads), "--check", "on_role_change", "primary", "pg-test"
    )
    assert rc == 0 and "nlb primary: ['10.0.1.11:5432'] -> ['10.0.2.11:5432'] (at " in log, log
    assert targets(aws, "primary") == [IPS["pg-1"]]
    assert records(aws)[PRIMARY] == {"": [IPS["pg-1"]]}


def test_other_cluster_and_other_actions_do_nothing(tmp_path, aws):
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-2"), "on_role_change", "primary", "pg-other")
    assert rc == 0 and "configured for pg-test; nothing done" in log
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-2"), "on_start", "replica", "pg-test")
    assert rc == 0 and "nothing to do" in log
    assert targets(aws, "primary") == [IPS["pg-1"]]


def test_reconcile_on_the_leader_repairs_drift_after_a_failover(tmp_path, aws, fake):
    fake._promote("pg-3")  # pg-3 leads now; nothing told AWS
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-3", fake), "--reconcile")
    assert rc == 0, log
    assert targets(aws, "primary") == [IPS["pg-3"]]
    assert targets(aws, "replica") == [IPS["pg-1"], IPS["pg-2"]]
    assert records(aws) == {
        PRIMARY: {"": [IPS["pg-3"]]},
        REPLICA: {"pg-1": [IPS["pg-1"]], "pg-2": [IPS["pg-2"]]},
    }
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-3", fake), "--reconcile")
    assert rc == 0 and log.count("already right") == 4, log
    assert fake.writes() == []


def test_reconcile_from_a_stale_cluster_view_writes_nothing(tmp_path, aws, fake):
    # GET /cluster still names pg-3, but its Patroni already lost the key: no primary target for it.
    fake._promote("pg-3")
    fake.key_lost.add("pg-3")
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-3", fake), "--reconcile")
    assert rc == 0 and "does not hold the leader key (GET /leader); the new leader reconciles" in log, log
    assert targets(aws, "primary") == [IPS["pg-1"]]
    assert records(aws)[PRIMARY] == {"": [IPS["pg-1"]]}


def test_reconcile_on_a_replica_writes_nothing(tmp_path, aws, fake):
    fake._promote("pg-3")
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-2", fake), "--reconcile")
    assert rc == 0 and "pg-2 is not the running leader (leader: pg-3)" in log, log
    assert targets(aws, "primary") == [IPS["pg-1"]]


def test_reconcile_without_patroni_changes_nothing_and_exits_0(tmp_path, aws):
    cfg = config(tmp_path, aws, "pg-1", patroni_urls=[f"http://127.0.0.1:{free_port()}"])
    rc, log, _elapsed = run_script(cfg, "--reconcile")
    assert rc == 0 and "no Patroni member answered GET /cluster" in log, log
    assert "Check patroni_urls" in log, log
    assert targets(aws, "primary") == [IPS["pg-1"]]


def test_unreachable_aws_is_logged_and_exits_0(tmp_path, aws, pg2_leads):
    cfg = config(
        tmp_path, aws, "pg-2", pg2_leads,
        aws={"region": MOTO_REGION, "endpoint_url": f"http://127.0.0.1:{free_port()}"},
    )
    rc, log, took = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "did not answer" in log, log
    assert took < 5


@pytest.fixture
def silent_endpoint():
    """A TCP port that accepts connections and never answers (a black-holed API endpoint)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_the_deadline_bounds_a_hanging_api(tmp_path, aws, silent_endpoint, pg2_leads):
    cfg = config(
        tmp_path,
        aws,
        "pg-2",
        pg2_leads,
        deadline=1.5,
        aws={"region": MOTO_REGION, "endpoint_url": silent_endpoint, "read_timeout": 30},
    )
    rc, log, took = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "stopped at the 1.5s deadline" in log, log
    assert took < 1.5 + 1 + 1, took  # deadline, grace, interpreter start and exit


def test_bad_config_is_logged_and_exits_0(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    rc, log, _elapsed = run_script(path, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "cannot read the config" in log
    path.write_text(json.dumps({"cluster": "pg-test", "node_name": "pg-1"}))
    rc, log, _elapsed = run_script(path, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "lacks node_ip" in log
    path.write_text(json.dumps({"cluster": "pg-test", "node_name": "pg-1", "node_ip": "10.0.1.11",
                                "nlb": {"primary_target_group_arn": "arn"}, "deadline": "soon"}))
    rc, log, _elapsed = run_script(path, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "deadline 'soon' is not a number of seconds" in log, log
    rc, log, _elapsed = run_script(path, "--serve")
    assert rc == 1 and "deadline 'soon' is not a number of seconds" in log, log


def test_node_layout_without_ansible(tmp_path, aws, pg2_leads):
    """As installed on a node: the script, its module_utils files in lib/, no collection on the path."""
    node = tmp_path / "node"
    lib = node / "lib" / "ansible_collections" / "pgha" / "cloud" / "plugins" / "module_utils"
    lib.mkdir(parents=True)
    for name in ("aws.py", "entrypoints.py", "patroni_core.py"):
        shutil.copy(ROOT / "plugins" / "module_utils" / name, lib / name)
    shutil.copy(SCRIPT, node / SCRIPT.name)
    # The nodes have no Ansible: shadow the one in this venv so that importing it fails there too.
    (node / "lib" / "ansible").mkdir()
    (node / "lib" / "ansible" / "__init__.py").write_text("raise ImportError('no Ansible on this node')\n")
    rc, log, _elapsed = run_script(
        config(tmp_path, aws, "pg-2", pg2_leads),
        "on_role_change",
        "primary",
        "pg-test",
        script=node / SCRIPT.name,
        pythonpath=None,
    )
    assert rc == 0 and "Traceback" not in log, log
    assert targets(aws, "primary") == [IPS["pg-2"]]


def test_credentials_in_the_config_stay_out_of_the_log(tmp_path, aws, pg2_leads):
    """Patroni's REST password and the AWS keys sit in the config file; the journal never shows them."""
    secrets = dict(patroni_username="patroni", patroni_password="rest-s3cret")
    keys = dict(access_key="AKIAEXAMPLEKEY", secret_key="aws-s3cret", session_token="token-s3cret")
    cfg = config(tmp_path, aws, "pg-1", patroni_urls=[f"http://127.0.0.1:{free_port()}"],
                 aws={"region": MOTO_REGION, "endpoint_url": aws["url"], **keys}, **secrets)
    rc, log, _elapsed = run_script(cfg, "--reconcile")
    assert rc == 0 and "no Patroni member answered" in log and "s3cret" not in log, log
    cfg = config(tmp_path, aws, "pg-2", pg2_leads,
                 aws={"region": MOTO_REGION, "endpoint_url": f"http://127.0.0.1:{free_port()}", **keys},
                 **secrets)
    rc, log, _elapsed = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "did not answer" in log and "s3cret" not in log, log


def test_fetch_cluster_checks_https_members_against_the_ca_file(test_ca, tmp_path):
    import importlib.util

    from fake_patroni import FakePatroni
    from tls_testca import make_ca

    spec = importlib.util.spec_from_file_location("pgha_role_change", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fake = FakePatroni(tls=test_ca)
    try:
        assert len(script.fetch_cluster(fake.urls, cafile=test_ca["ca"])["members"]) == 3
        with pytest.raises(script.PatroniError, match="CERTIFICATE_VERIFY_FAILED") as refused:
            script.fetch_cluster(fake.urls, cafile=make_ca(tmp_path)["ca"])
        assert "set patroni_ca_file to the CA" in refused.value.message
    finally:
        fake.close()


# ---------------------------------------------------------------- fencing by the leader key

def test_a_late_promotion_callback_writes_nothing(tmp_path, aws, fake):
    """pg-2's callback runs after pg-1 took the key back (a quick switchover back): pg-1 stays alone."""
    cfg = config(tmp_path, aws, "pg-2", fake)
    rc, log, _elapsed = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "pg-2 does not hold the leader key (GET /leader): a late callback" in log, log
    assert targets(aws, "primary") == [IPS["pg-1"]]
    assert records(aws)[PRIMARY] == {"": [IPS["pg-1"]]}


def test_overlapping_promotion_callbacks_leave_one_primary_target(tmp_path, aws, pg2_leads):
    """The race of two callbacks on two nodes at once: before the fence it left both in the group."""
    results = {}

    def callback(node):
        node_dir = tmp_path / node
        node_dir.mkdir()
        results[node] = run_script(config(node_dir, aws, node, pg2_leads, lock_file=str(node_dir / "lock")),
                                   "on_role_change", "primary", "pg-test")

    threads = [threading.Thread(target=callback, args=(node,)) for node in ("pg-2", "pg-3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(rc == 0 for rc, _log, _took in results.values()), results
    assert targets(aws, "primary") == [IPS["pg-2"]]
    assert records(aws)[PRIMARY] == {"": [IPS["pg-2"]]}
    assert "pg-3 does not hold the leader key" in results["pg-3"][1]


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pgha_role_change", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.load_libraries()
    return script


def test_a_callback_that_loses_the_key_while_it_writes_takes_its_target_out(
        tmp_path, aws, monkeypatch, caplog):
    script = load_script()
    answers = iter([True, False])  # holds the key before the writes, not after them
    monkeypatch.setattr(script, "holds_leader_key", lambda cfg: next(answers))
    cfg = json.loads(config(tmp_path, aws, "pg-2").read_text())
    with caplog.at_level("INFO", logger="pgha-role-change"):
        script.promoted(script.aws_client(cfg), cfg, False)
    assert "pg-2 lost the leader key while it wrote" in caplog.text
    # pg-1 was taken out by pg-2's write, pg-2 by its own second look: the reconciler of the leader fills it.
    assert targets(aws, "primary") == []


def test_a_silent_or_missing_patroni_api_fences_the_promotion(tmp_path, aws):
    cfg = config(tmp_path, aws, "pg-2", patroni_urls=[f"http://127.0.0.1:{free_port()}"])
    rc, log, _elapsed = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert "/leader did not answer: the primary entry points are left to the reconciler" in log, log
    assert rc == 0
    rc, log, _elapsed = run_script(config(tmp_path, aws, "pg-2"), "on_role_change", "primary", "pg-test")
    assert rc == 0 and "patroni_urls is not set" in log, log
    assert targets(aws, "primary") == [IPS["pg-1"]]


# ---------------------------------------------------------------- the service (--serve)

@pytest.fixture
def service(tmp_path, aws):
    """Start `--serve` for a node; yields start(node, fake, **config) -> (config path, socket path)."""
    procs = []

    def start(node, fake_patroni, **kw):
        node_dir = tmp_path / f"svc-{node}"
        node_dir.mkdir()
        sock = str(node_dir / "wake.sock")
        kw.setdefault("reconcile_interval", 300)
        cfg = config(node_dir, aws, node, fake_patroni, wake_socket=sock, lock_file=str(node_dir / "lock"),
                     **kw)
        env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
        log_file = open(node_dir / "service.log", "w")  # noqa: SIM115 - closed at teardown
        proc = subprocess.Popen([sys.executable, str(SCRIPT), "--config", str(cfg), "--serve"], env=env,
                                stdout=log_file, stderr=subprocess.STDOUT)
        procs.append((proc, log_file))
        for _wait in range(100):  # boto3's import: a few seconds on a busy machine
            if "reconcile:" in (node_dir / "service.log").read_text() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert os.path.exists(sock), (node_dir / "service.log").read_text()
        return cfg, sock, node_dir / "service.log"

    yield start
    for proc, log_file in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        log_file.close()


def wait_for(condition, timeout=10.0):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


def test_the_callback_hands_the_promotion_to_the_service(tmp_path, aws, pg2_leads, service):
    cfg, sock, service_log = service("pg-2", pg2_leads)
    rc, log, took = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "on_role_change primary: handed to the entry point service" in log, log
    # The callback returns without importing boto3; the warm service writes.
    assert "nlb primary" not in log
    followed = wait_for(lambda: targets(aws, "primary") == [IPS["pg-2"]]) + took
    assert records(aws)[PRIMARY] == {"": [IPS["pg-2"]]}
    print(f"callback returned in {took:.2f}s, NLB primary group held pg-2 {followed:.2f}s after it started")
    assert "nlb primary: ['10.0.1.11:5432'] -> ['10.0.2.11:5432'] (at " in service_log.read_text()
    assert os.path.exists(sock) and oct(os.stat(sock).st_mode & 0o777) == "0o600"


def test_without_the_service_the_callback_works_on_its_own(tmp_path, aws, pg2_leads):
    cfg = config(tmp_path, aws, "pg-2", pg2_leads, wake_socket=str(tmp_path / "absent.sock"))
    rc, log, _took = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "handed to" not in log, log
    assert targets(aws, "primary") == [IPS["pg-2"]]


def test_a_stale_socket_file_without_a_service_is_not_trusted(tmp_path, aws, pg2_leads):
    import socket as sockets

    path = str(tmp_path / "stale.sock")
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_DGRAM) as dead:
        dead.bind(path)  # bound, then closed: the file stays, nobody reads it
    cfg = config(tmp_path, aws, "pg-2", pg2_leads, wake_socket=path)
    rc, log, _took = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "handed to" not in log, log
    assert targets(aws, "primary") == [IPS["pg-2"]]


def test_the_service_reconciles_and_fences_like_the_callback(tmp_path, aws, fake, service):
    # pg-1 leads (fake): a promotion event from pg-2 is late and writes nothing; the service on pg-1
    # repairs drift by its reconcile at start.
    aws["elb"].deregister_targets(TargetGroupArn=aws["arns"]["primary"],
                                  Targets=[{"Id": IPS["pg-1"], "Port": 5432}])
    _cfg1, _sock1, log1 = service("pg-1", fake)
    wait_for(lambda: targets(aws, "primary") == [IPS["pg-1"]])
    cfg2, _sock2, log2 = service("pg-2", fake)
    rc, log, _took = run_script(cfg2, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "handed to" in log, log
    wait_for(lambda: "a late callback" in log2.read_text())
    assert targets(aws, "primary") == [IPS["pg-1"]]
    assert "is not the running leader" in log2.read_text()


def test_the_service_drops_what_is_not_an_event(tmp_path, aws, pg2_leads, service):
    import socket as sockets

    _cfg, sock, service_log = service("pg-2", pg2_leads)
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_DGRAM) as client:
        for junk in (b"rm -rf /", b"on_role_change primary", b"\xff\xfe x y", b"on_role_change primary pg;x"):
            client.sendto(junk, sock)
    wait_for(lambda: service_log.read_text().count("dropped a message") == 4)
    assert "became" not in service_log.read_text() and "leaving the primary" not in service_log.read_text()


@pytest.mark.parametrize("data, event", [
    (b"on_role_change primary pg-test", ("on_role_change", "primary", "pg-test")),
    (b"on_stop replica pg_b", ("on_stop", "replica", "pg_b")),
    (b"on_role_change primary", None),
    (b"exec primary pg-test", None),
    (b"on_role_change primary pg test", None),
    (b"on_role_change pri$mary pg-test", None),
])
def test_parse_event(data, event):
    assert load_script().parse_event(data) == event


def test_the_service_ends_on_sigterm_and_takes_its_socket_away(tmp_path, aws, pg2_leads, service):
    cfg, sock, _log = service("pg-2", pg2_leads)
    pids = [int(p) for p in subprocess.run(["pgrep", "-f", f"{cfg} --serve"], capture_output=True, text=True,
                                           check=False).stdout.split()]
    assert len(pids) == 1
    os.kill(pids[0], 15)
    wait_for(lambda: not os.path.exists(sock))
    # And the next callback works on its own.
    rc, log, _took = run_script(cfg, "on_role_change", "primary", "pg-test")
    assert rc == 0 and "handed to" not in log and "already right" in log, log


def test_the_service_refuses_a_config_without_a_socket(tmp_path, aws):
    rc, log, _took = run_script(config(tmp_path, aws, "pg-2"), "--serve")
    assert rc == 1 and "wake_socket is not set" in log, log
