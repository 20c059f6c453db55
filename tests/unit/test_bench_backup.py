"""The backup benchmark's pure parts (tools/pgha_bench_backup.py): options, arithmetic, archive samples,
summary; and its refusals, with a fake Docker (no container is touched)."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("yaml")
_spec = importlib.util.spec_from_file_location(
    "pgha_bench_backup", Path(__file__).resolve().parents[2] / "tools" / "pgha_bench_backup.py")
bb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bb)

MB = 2 ** 20


# ---------------------------------------------------------------- options

def test_defaults_are_the_molecule_cluster():
    a = bb.parse_args([])
    assert a.containers == "pgha-m-1,pgha-m-2,pgha-m-3"
    assert a.cluster == "pg-test" and a.scale == 150 and a.duration == 60 and a.drain == 30.0
    assert a.inventory.endswith("molecule/default/inventory")
    assert a.config == "/etc/pgbackrest/pgbackrest.conf"
    assert a.scratch == "/var/lib/postgresql/pgha-bench-scratch"
    assert a.database == "bench" and not a.keep and not a.expire_backup


def test_sandbox_switch_and_explicit_names():
    a = bb.parse_args(["--sandbox"])
    assert a.containers == "pgha-sandbox-1,pgha-sandbox-2,pgha-sandbox-3"
    assert a.inventory.endswith("inventories/sandbox")
    assert a.patroni_ca.endswith("inventories/sandbox/.pki/ca.crt")
    a = bb.parse_args(["--containers", "a,b", "--cluster", "pg-x", "--scale", "10", "--duration", "5",
                       "--keep", "--patroni-ca", "/ca.crt"])
    assert (a.containers, a.cluster, a.scale, a.duration, a.keep, a.patroni_ca) == (
        "a,b", "pg-x", 10, 5, True, "/ca.crt")


@pytest.mark.parametrize("argv", [["--scale", "0"], ["--duration", "0"], ["--drain", "0"],
                                  ["--containers", "only-one"], ["--scratch", "relative/dir"],
                                  ["--scratch", "/"], ["--scratch", "/var/lib/postgresql"]])
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        bb.parse_args(argv)
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_scratch_must_be_outside_the_data_directory():
    data = "/var/lib/postgresql/15/pg-test"
    assert bb.scratch_errors("/var/lib/postgresql/pgha-bench-scratch", data) == []
    assert bb.scratch_errors(data, data)
    assert bb.scratch_errors(data + "/scratch", data)
    assert bb.scratch_errors("/var/lib/postgresql/15", data)  # would hold the data directory


# ---------------------------------------------------------------- arithmetic

def test_mb_per_s():
    assert bb.mb_per_s(2048 * MB, 10) == 204.8
    assert bb.mb_per_s(100 * MB, 3) == 33.3
    assert bb.mb_per_s(None, 10) is None
    assert bb.mb_per_s(100 * MB, 0) is None and bb.mb_per_s(100 * MB, None) is None


def test_ratio_and_mb():
    assert bb.ratio(50.0, 200.0) == 0.25
    assert bb.ratio(None, 2) is None and bb.ratio(1, 0) is None and bb.ratio(1, None) is None
    assert bb.mb(3 * MB + MB // 2) == 3.5 and bb.mb(None) is None


def test_space_needed_grows_with_scale_and_copies():
    assert bb.space_needed(150, 4) == (150 * 15 * 4 + 2048) * MB
    assert bb.space_needed(10, 4) < bb.space_needed(150, 4) < bb.space_needed(150, 5)


def test_pgpass_line_escapes_colons_and_backslashes():
    assert bb.pgpass_line("10.211.0.11", 5432, "replicator", "molecule-replicator") == (
        "10.211.0.11:5432:replication:replicator:molecule-replicator\n")
    assert bb.pgpass_line("h", 5432, "u", r"a:b\c") == "h:5432:replication:u:a\\:b\\\\c\n"


# ---------------------------------------------------------------- archive samples

def samples(readies, start=100.0, lsn_step=8 * MB, archived_step=1, failed_at=None):
    """One sample a second from `start` - 1; lsn and archived_count grow linearly."""
    out = []
    for i, ready in enumerate(readies):
        out.append({"t": start - 1 + i, "ready": ready, "lsn": 1000 * MB + i * lsn_step,
                    "archived": 50 + i * archived_step,
                    "failed": 1 if failed_at is not None and i >= failed_at else 0,
                    "last_wal": f"00000001000000000000{i:04X}"})
    return out


def test_archive_that_keeps_up():
    # t=99 before the load, load from 100 to 104, then the drain
    s = samples([0, 1, 2, 3, 2, 4, 3, 1])
    out = bb.analyse_archive(s, 100.0, 104.0)
    assert out["waiting_max"] == 4
    assert out["waiting_median"] == 2  # of 1, 2, 3, 2, 4
    assert out["waiting_at_end_of_load"] == 4
    assert out["kept_up"] is True and out["drained_after_s"] == 2.0
    assert out["wal_generated_mb"] == 5 * 8.0  # lsn at t=104 minus t=99
    assert out["wal_generated_mb_per_s"] == 10.0  # 40 MB over 4 s of load
    assert out["archived_segments"] == 7 and out["archived_per_s"] == 1.0  # up to the drained sample
    assert out["archived_mb_per_s"] == 16.0 and out["failed"] == 0
    assert out["last_archived_wal"] == "000000010000000000000007"


def test_archive_that_falls_behind():
    s = samples([0, 3, 6, 9, 12, 14, 15, 15], archived_step=0, failed_at=4)
    out = bb.analyse_archive(s, 100.0, 104.0, drain_s=30)
    assert out["waiting_max"] == 15 and out["waiting_median"] == 9
    assert out["kept_up"] is False and out["drained_after_s"] is None
    assert out["archived_segments"] == 0 and out["failed"] == 1


def test_draining_too_late_does_not_count():
    late = {"t": 140.0, "ready": 0, "lsn": 2000 * MB, "archived": 60, "failed": 0, "last_wal": "x"}
    s = samples([0, 5, 5]) + [late]
    out = bb.analyse_archive(s, 100.0, 101.0, drain_s=30)
    assert out["kept_up"] is False  # back to 0 only 39 s after the load


def test_archive_without_samples_after_the_load_is_unknown():
    out = bb.analyse_archive(samples([0, 1, 1]), 100.0, 102.0)
    assert out["kept_up"] is None and out["waiting_max"] == 1
    empty = bb.analyse_archive([], 100.0, 160.0)
    assert empty["waiting_max"] is None and empty["waiting_median"] is None and empty["kept_up"] is None
    assert empty["wal_generated_mb"] is None and empty["archived_per_s"] is None


def test_parse_sample():
    s = bb.parse_sample("3|123456789|42|0|00000001000000000000002A\n", 5.0)
    assert s == {"t": 5.0, "ready": 3, "lsn": 123456789, "archived": 42, "failed": 0,
                 "last_wal": "00000001000000000000002A"}
    assert bb.parse_sample("0|1|0|0|", 1.0)["last_wal"] is None
    assert bb.parse_sample("psql: error: connection refused", 1.0) is None
    assert bb.parse_sample("x|1|0|0|", 1.0) is None


def test_pgbench_tps():
    assert bb.pgbench_tps("tps = 812.5 (without initial connection time)\n") == 812.5
    assert bb.pgbench_tps(None) is None


# ---------------------------------------------------------------- summary

SUMMARY = {
    "cluster": "pg-test", "scale": 150, "load_s": 95.2,
    "backup": {"s": 60.0, "database_mb": 2250.0, "database_mb_per_s": 37.5, "cluster_mb": 2280.0,
               "cluster_mb_per_s": 38.0, "repo_mb": 300.0},
    "restore": {"container": "pgha-m-3", "s": 40.0, "mb": 2280.0, "mb_per_s": 57.0, "copy_s": 10.0,
                "copy_mb": 2280.0, "copy_mb_per_s": 228.0, "mb_per_s_ratio": 0.25},
    "standby": {"container": "pgha-m-3", "s": 41.0, "mb": 2280.0, "mb_per_s": 55.6, "basebackup_s": 30.0,
                "basebackup_mb": 2300.0, "basebackup_mb_per_s": 76.7, "time_ratio": 1.367},
    "archive": {"duration_s": 60, "waiting_max": 4, "waiting_median": 1, "kept_up": True,
                "drained_after_s": 2.0, "wal_generated_mb": 900.0, "wal_generated_mb_per_s": 15.0,
                "archived_segments": 57, "archived_per_s": 0.9, "archived_mb_per_s": 14.4, "failed": 0,
                "tps": 700.1},
    "steps": [["full backup", 60.0], ["pgbackrest restore", 40.0]],
}


def test_table_shows_each_figure_with_its_baseline():
    text = bb.table(SUMMARY)
    lines = text.splitlines()
    assert lines[0].startswith("| measure | figure | baseline")
    assert len(lines) == 2 + 5
    assert "| full backup (pgbackrest backup) | 60.0 s, 37.5 MB/s of the database" in text
    assert "| restore on pgha-m-3 (pgbackrest restore) | 40.0 s, 57.0 MB/s (2280.0 MB) | disk copy" in text
    assert "228.0 MB/s" in text and "0.25× the copy's MB/s" in text
    assert "pg_basebackup from the leader: 30.0 s" in text and "1.367× pg_basebackup's time" in text
    assert "max 4, median 1; kept up: yes (<= 1 waiting 2.0 s after the load)" in text
    assert "failed 0" in text and "700.1 TPS" in text


def test_table_of_a_partial_run_shows_dashes():
    text = bb.table({"scale": 150, "archive": {"kept_up": False}})
    assert "kept up: no" in text
    # a missing figure is a dash, without its unit
    assert ("| full backup (pgbackrest backup) | —, — of the database, — of the cluster; repository — |"
            in text)
    assert "| restore on ? (pgbackrest restore) | —, — (—) |" in text
    assert text.rstrip().endswith("failed — | — |")


def test_summary_is_json_and_steps_print_one_a_line():
    assert json.loads(json.dumps(SUMMARY, sort_keys=True))["backup"]["s"] == 60.0
    assert bb.step_lines(SUMMARY["steps"]) == "- full backup: 60.0 s\n- pgbackrest restore: 40.0 s\n"


# ---------------------------------------------------------------- the cluster, with fakes

def test_pick_replica_prefers_an_asynchronous_streaming_one():
    view = {"members": [
        {"name": "pg-test-1", "host": "10.211.0.11", "role": "leader", "state": "running"},
        {"name": "pg-test-2", "host": "10.211.0.12", "role": "sync_standby", "state": "streaming"},
        {"name": "pg-test-3", "host": "10.211.0.13", "role": "replica", "state": "streaming"},
        {"name": "pg-test-4", "host": "10.211.0.14", "role": "replica", "state": "starting"}]}
    assert bb.pick_replica(view)["name"] == "pg-test-3"
    assert bb.pick_replica(view, "pg-test-2")["name"] == "pg-test-2"
    assert bb.pick_replica(view, "pg-test-4") is None  # not streaming
    assert bb.pick_replica(view, hosts={"10.211.0.11", "10.211.0.12"})["name"] == "pg-test-2"
    assert bb.container_of(view["members"][2], {"pgha-m-1": ["10.211.0.11"], "pgha-m-3": ["10.211.0.13"]}) \
        == "pgha-m-3"
    assert bb.container_of({"name": "x", "host": "10.0.0.9"}, {"pgha-m-1": ["10.211.0.11"]}) is None


def test_find_ca(tmp_path):
    assert bb.find_ca("/given.crt", environ={"PGHA_PATRONI_CA": "/env.crt"}) == "/given.crt"
    assert bb.find_ca(None, environ={"PGHA_PATRONI_CA": "/env.crt"}) == "/env.crt"
    ca = tmp_path / ".cache" / "molecule" / "main" / "default" / "inventory" / ".pki" / "ca.crt"
    assert bb.find_ca(None, environ={}, root=Path("/work/main"), home=tmp_path) is None
    ca.parent.mkdir(parents=True)
    ca.write_text("x")
    assert bb.find_ca(None, environ={}, root=Path("/work/main"), home=tmp_path) == str(ca)
    # another checkout (a worktree) of the same project finds the one molecule scenario there is
    assert bb.find_ca(None, environ={}, root=Path("/work/wt"), home=tmp_path) == str(ca)
    eph = tmp_path / "eph" / "inventory" / ".pki" / "ca.crt"
    eph.parent.mkdir(parents=True)
    eph.write_text("y")
    assert bb.find_ca(None, environ={"MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "eph")},
                      home=tmp_path) == str(eph)


def test_replication_password_from_the_environment_or_a_plain_inventory(tmp_path):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("pg_replication_password: s3cret\n")
    assert bb.replication_password(tmp_path, environ={}) == "s3cret"
    assert bb.replication_password(tmp_path, environ={bb.SECRET_ENV: "other"}) == "other"
    (tmp_path / "group_vars" / "all.yml").write_text("pg_replication_password: \"{{ vault_x }}\"\n")
    with pytest.raises(SystemExit) as exc:
        bb.replication_password(tmp_path, environ={})
    assert bb.SECRET_ENV in str(exc.value) and "vault_x" not in str(exc.value)


def test_the_molecule_inventory_has_the_replication_password():
    inventory = Path(__file__).resolve().parents[2] / "molecule" / "default" / "inventory"
    assert bb.replication_password(inventory, environ={}) == "molecule-replicator"


class FakeDocker(bb.Docker):
    """Answers `docker inspect` from a table and `docker exec` from (container, first word) rules."""

    def __init__(self, containers, rules=None):
        super().__init__(["s3cret"])
        self.containers = containers
        self.rules = rules or {}
        self.calls = []

    def inspect(self, container):
        return self.containers.get(container)

    def exec(self, container, argv, user="postgres", stdin=None, env=None, check=True, timeout=None):
        self.calls.append((container, argv, stdin, env))
        key = next((k for k in self.rules if k[0] == container and " ".join(argv).startswith(k[1])), None)
        rc, out = self.rules.get(key, (0, ""))
        res = subprocess.CompletedProcess(argv, rc, out, "")
        if check and rc:
            raise bb.CommandFailed(f"{container}: {argv} exited {rc}")
        return res


def bench_with(docker, *argv):
    return bb.Bench(bb.parse_args(["--patroni-ca", "/nonexistent/ca.crt", *argv]), docker)


def test_a_missing_container_is_named_with_what_to_do():
    docker = FakeDocker({"pgha-m-1": (True, ["10.211.0.11"])})
    with pytest.raises(SystemExit) as exc:
        bench_with(docker).find_cluster()
    assert "container pgha-m-2 does not exist" in str(exc.value) and "--containers" in str(exc.value)


def test_a_stopped_container_is_named():
    docker = FakeDocker({"pgha-m-1": (True, ["10.211.0.11"]), "pgha-m-2": (False, []),
                         "pgha-m-3": (True, ["10.211.0.13"])})
    with pytest.raises(SystemExit) as exc:
        bench_with(docker).find_cluster()
    assert "pgha-m-2 is not running" in str(exc.value) and "docker start pgha-m-2" in str(exc.value)


def prepared(rules):
    bench = bench_with(FakeDocker({}, rules))
    bench.lc, bench.rc = "pgha-m-1", "pgha-m-3"
    return bench


def test_no_pgbackrest_configuration_is_named():
    bench = prepared({("pgha-m-3", "test -r /etc/pgbackrest/pgbackrest.conf"): (1, "")})
    with pytest.raises(SystemExit) as exc:
        bench.check_setup()
    assert "pgha-m-3: /etc/pgbackrest/pgbackrest.conf is missing" in str(exc.value)
    assert "pgBackRest is not configured" in str(exc.value) and "roles/pgbackrest" in str(exc.value)


def test_an_archive_command_that_is_not_pgbackrest_is_refused():
    bench = prepared({("pgha-m-1", "/usr/lib/postgresql/15/bin/psql"): (0, "on /bin/true\n")})
    with pytest.raises(SystemExit) as exc:
        bench.check_setup()
    assert "'on /bin/true'" in str(exc.value) and "does not archive into a repository" in str(exc.value)


def test_a_missing_stanza_is_named():
    bench = prepared({("pgha-m-1", "/usr/lib/postgresql/15/bin/psql"):
                      (0, "on pgbackrest --stanza=pg-test archive-push %p\n"),
                      ("pgha-m-1", "pgbackrest"): (0, "[]")})
    with pytest.raises(SystemExit) as exc:
        bench.check_setup()
    assert "pgbackrest info for stanza pg-test failed" in str(exc.value)
    assert "--cluster" in str(exc.value)


def test_the_password_goes_on_stdin_and_only_a_file_name_in_the_environment():
    bench = prepared({})
    bench.a.replication_password = "s3cret"
    bench.leader = {"name": "pg-test-1", "host": "10.211.0.11", "port": 5432}
    bench.basebackup = bb.Bench.basebackup.__get__(bench)
    bench.size_of = lambda path: 5 * MB
    bench.basebackup()
    for _container, argv, _stdin, env in bench.d.calls:
        assert "s3cret" not in " ".join(argv) and "s3cret" not in json.dumps(env)
    writes = [c for c in bench.d.calls if c[2]]
    assert len(writes) == 1 and writes[0][2] == "10.211.0.11:5432:replication:replicator:s3cret\n"
    assert "umask 077" in writes[0][1][-1]
    (basebackup,) = [c for c in bench.d.calls if c[1][0].endswith("pg_basebackup")]
    assert basebackup[3] == {"PGPASSFILE": "/var/lib/postgresql/pgha-bench-scratch/.pgpass"}
    assert "sslmode=verify-full" in " ".join(basebackup[1]) and "--no-password" in basebackup[1]
    # the file is removed afterwards
    assert any(c[1][:2] == ["rm", "-rf"] and c[1][-1].endswith("/.pgpass") for c in bench.d.calls)


def test_docker_scrubs_secrets_from_messages():
    assert bb.Docker(["s3cret"]).scrub("password s3cret refused") == "password ******** refused"
