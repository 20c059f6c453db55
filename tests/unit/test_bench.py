"""The benchmark's bookkeeping (tools/pgha_bench.py): statistics, ratios and parsing."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("yaml")
_spec = importlib.util.spec_from_file_location(
    "pgha_bench", Path(__file__).resolve().parents[2] / "tools" / "pgha_bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def run(scenario, config, outage, lost=0, leader=None, **extra):
    return {"scenario": scenario, "config": config, "write_outage_s": outage, "lost": lost,
            "new_leader_after_s": leader, "fault_at": 0.0, **extra}


def test_median_max_and_ratio_to_the_baseline():
    results = [run("crash", "fast", 21.0), run("crash", "fast", 23.0), run("crash", "fast", 22.0),
               run("crash", "patroni", 30.0), run("crash", "patroni", 36.0), run("crash", "patroni", 33.0)]
    rows = {r["config"]: r for r in bench.summarise(results)}
    assert rows["fast"]["median_s"] == 22.0 and rows["fast"]["max_s"] == 23.0
    assert rows["fast"]["ratio"] == round(22.0 / 33.0, 2)
    assert rows["patroni"]["ratio"] == 1.0


def test_failed_runs_are_counted_not_averaged_and_losses_summed():
    results = [run("partition", "fast", 20.0, lost=1), run("partition", "fast", None),
               run("partition", "fast", 24.0, lost=2, warned_commits=3)]
    (row,) = bench.summarise(results)
    assert row["runs"] == 3 and row["failed"] == 1
    assert row["median_s"] == 22.0
    assert row["lost"] == 3 and row["warned"] == 3
    assert row["ratio"] is None  # no baseline in this run


def test_rows_follow_the_scenario_order():
    results = [run("switchover", "fast", 2.0), run("crash", "fast", 22.0), run("crash", "norm", 30.0)]
    assert [(r["scenario"], r["config"]) for r in bench.summarise(results)] == [
        ("crash", "fast"), ("crash", "norm"), ("switchover", "fast")]


def test_table_shows_missing_figures_as_dashes():
    text = bench.table(bench.summarise([run("crash", "fast", None)]))
    assert "| crash | fast | 1 (1 without recovery) | — | — | — |" in text


def test_recap_changed_sums_only_the_recap():
    out = ("TASK [x] changed=99\nPLAY RECAP ****\n"
           "10.210.0.11 : ok=80 changed=2 unreachable=0 failed=0\n"
           "10.210.0.12 : ok=70 changed=0 unreachable=0 failed=0\n"
           "localhost : ok=3 changed=1 unreachable=0\n")
    assert bench.recap_changed(out) == 3
    assert bench.recap_changed("no recap") == 0


def test_pgbench_tps_line():
    out = "latency average = 3.1 ms\ntps = 1290.445 (without initial connection time)\n"
    assert bench.pgbench_tps(out) == pytest.approx(1290.445)
    assert bench.pgbench_tps("pgbench: error: connection refused") is None


def test_routing_is_the_slowest_entry_point_and_missing_when_one_never_routed():
    results = [run("crash", "fast", 21.0, routed_after_s=[21.5, 22.5]),
               run("crash", "fast", 22.0, routed_after_s=[22.0, 23.5]),
               run("crash", "fast", 23.0, routed_after_s=[24.0, None])]
    (row,) = bench.summarise(results)
    assert row["routed_median_s"] == 23.0  # median of 22.5 and 23.5; the third run never routed
    assert bench.routed_s(results[2]) is None and bench.routed_s(run("crash", "fast", 1.0)) is None


def test_two_primaries_column_counts_commit_and_rest_overlaps():
    clean = bench.table(bench.summarise([run("crash", "fast", 21.0)]))
    assert clean.rstrip().endswith("| none |")
    both = bench.table(bench.summarise([run("crash", "fast", 21.0, overlap_pairs=[["a", "b", 0.3]],
                                            rest_primary_overlaps=[["x", "y", 1.0], ["x", "z", 0.2]])]))
    assert "| 1 by commits, 2 by REST |" in both


def test_summarise_mode_reads_results_files_and_the_meta_beside_them(tmp_path, capsys):
    import json
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "results.jsonl").write_text(json.dumps(run("crash", "fast", 21.0)) + "\n\n")
    (second / "results.jsonl").write_text(json.dumps(run("crash", "fast", 25.0)) + "\n")
    (first / "meta.json").write_text(json.dumps({
        "pgbench": {"select-only": {"haproxy_tps": 90.0, "direct_tps": 100.0, "ratio": 0.9}},
        "load_at_start": [10.0, 11.04, 12.0]}))
    assert bench.main(["--summarise", str(first / "results.jsonl"), str(second / "results.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "| crash | fast | 2 | 23.0 s | 25.0 s |" in out
    assert "- pgbench select-only: HAProxy 90.0 TPS, direct 100.0 TPS, ratio 0.9" in out
    assert "- load at start: 10.0 / 11.0 / 12.0" in out


def test_pgbench_ratio_is_the_median_of_paired_rounds():
    # A load spike in round 2 slows both paths; the paired ratio does not move much.
    fig = bench.compare_tps([200.0, 100.0, 210.0], [190.0, 92.0, 200.0])
    assert fig["direct_tps"] == 200.0 and fig["haproxy_tps"] == 190.0
    assert fig["ratio"] == round(190.0 / 200.0, 3) and fig["rounds"] == 3


def test_pgbench_rounds_without_a_figure_are_left_out():
    fig = bench.compare_tps([200.0, None], [180.0, 150.0])
    assert fig["rounds"] == 1 and fig["ratio"] == 0.9
    assert bench.compare_tps([None], [None])["ratio"] is None


def test_report_without_drills_has_no_empty_table():
    text = bench.report([], {"pgbench": {"select-only": bench.compare_tps([100.0], [95.0])}})
    assert text == ("- pgbench select-only: HAProxy 95.0 TPS, direct 100.0 TPS, ratio 0.95 "
                    "(1 paired rounds, median)\n")


def test_median_run_names_the_drill_to_show():
    results = [run("crash", "fast", outage, label=f"crash-fast-{i}")
               for i, outage in enumerate((25.0, 21.0, 23.0, None), start=1)]
    (row,) = bench.summarise(results)
    assert row["median_run"] == "crash-fast-3"
    (row,) = bench.summarise(results[:2])
    assert row["median_run"] == "crash-fast-2"
    (row,) = bench.summarise(results[3:])
    assert row["median_run"] is None


def test_dcs_mismatches_compare_the_timings_with_the_preset():
    assert bench.dcs_mismatches({"ttl": 20, "loop_wait": 2, "retry_timeout": 5, "x": 1}, "fast") == []
    assert bench.dcs_mismatches({"ttl": 30, "loop_wait": 10, "retry_timeout": 10}, "fast") == [
        "ttl: 30 != 20", "loop_wait: 10 != 2", "retry_timeout: 10 != 5"]


def test_no_apply_takes_one_known_configuration():
    with pytest.raises(SystemExit):
        bench.main(["--no-apply", "--configs", "fast,patroni"])
    with pytest.raises(SystemExit):
        bench.main(["--configs", "quick"])


def test_runs_on_a_cluster_that_was_not_whole_are_left_out():
    results = [run("partition", "fast", 22.0, label="p-1", healthy_at_start=True),
               run("partition", "fast", 25.0, label="p-2"),
               run("partition", "fast", 40.0, label="p-3", healthy_at_start=False, lost=5),
               run("partition", "fast", 21.0, label="p-4")]
    (row,) = bench.summarise(results, exclude=("p-2",))
    assert row["runs"] == 2 and row["not_whole"] == 2
    assert row["median_s"] == 21.5 and row["max_s"] == 22.0
    assert row["lost"] == 5  # a loss counts whatever the state at the start
    assert "| 2 (+2 left out: cluster not whole at the start) |" in bench.table([row])


def test_a_drill_that_stopped_before_its_fault_is_not_a_failed_recovery():
    results = [run("switchover", "patroni", 4.7), run("switchover", "patroni", 6.8),
               {"scenario": "switchover", "config": "patroni", "rep": 3, "error": "read-only", "rc": 1}]
    (row,) = bench.summarise(results)
    assert row["runs"] == 2 and row["failed"] == 0 and row["not_started"] == 1
    assert row["median_s"] == 5.75
    assert "| 2 (+1 stopped before the fault) |" in bench.table([row])


def test_read_outage_column_is_the_median_of_the_runs_that_measured_it():
    results = [run("crash", "fast", 21.0, reads={"outage_s": 1.5}),
               run("crash", "fast", 22.0, reads={"outage_s": 3.5}),
               run("crash", "fast", 23.0, reads=None), run("crash", "fast", 24.0)]
    (row,) = bench.summarise(results)
    assert row["read_outage_median_s"] == 2.5
    assert "| read outage (median) |" in bench.table([row]).splitlines()[0]
    assert "| 2.5 s | 0 | 0 | none |" in bench.table([row])
    (old,) = bench.summarise([run("crash", "fast", 21.0)])  # results from before the read probe
    assert "| — | 0 | 0 | none |" in bench.table([old])


def test_only_the_baseline_runs_without_the_etcd_leader_placement_and_only_plus_observers_with_them():
    off = '{"patroni_etcd_leader_elsewhere": false, "patroni_observer_enabled": false}'
    assert bench.config_extra_vars("patroni") == ["-e", "pg_rto=patroni", "-e", off]
    for config in ("fast", "norm"):
        assert bench.config_extra_vars(config) == [
            "-e", f"pg_rto={config}",
            "-e", '{"patroni_etcd_leader_elsewhere": true, "patroni_observer_enabled": false}']
    both = '{"patroni_etcd_leader_elsewhere": true, "patroni_observer_enabled": true}'
    assert bench.config_extra_vars("fast+observers") == ["-e", "pg_rto=fast", "-e", both]
    assert bench.preset_of("fast+observers") == "fast" and bench.preset_of("norm") == "norm"


SECRETS = {"pg_admin_password": "adm-s3cret", "patroni_rest_password": "rest-s3cret", "pg_port": 5432}


def test_the_drill_gets_its_secrets_in_the_environment_and_its_errors_are_scrubbed(tmp_path, monkeypatch):
    """Not on the drill's command line (`ps`), not in results.jsonl even when the drill echoes them."""
    view = {"members": [{"name": "pg-1", "host": "10.0.0.1", "role": "leader"},
                        {"name": "pg-2", "host": "10.0.0.2", "role": "replica"}]}
    seen = {}

    def fake_run(argv, **kw):
        seen.update(argv=argv, env=kw["env"])
        return subprocess.CompletedProcess(argv, 1, "", "Traceback: adm-s3cret and patroni:rest-s3cret\n")

    monkeypatch.setattr(bench, "wait_healthy", lambda hosts: view)
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    result = bench.drill("crash", "fast", 1, ["10.0.0.1", "10.0.0.2"], SECRETS, tmp_path)
    assert not any("s3cret" in a for a in seen["argv"]), seen["argv"]
    assert "--dsn=postgres://dbadmin@10.0.0.2:5433/postgres" in seen["argv"]
    assert "--admin-dsn=postgres://dbadmin@10.0.0.2:5436/postgres" in seen["argv"]
    assert seen["env"]["PGPASSWORD"] == "adm-s3cret"
    assert seen["env"]["PGHA_PATRONI_AUTH"] == "patroni:rest-s3cret"
    written = (tmp_path / "results.jsonl").read_text()
    assert "s3cret" not in written and "s3cret" not in json.dumps(result)
    assert "********" in json.loads(written)["error"]


def test_scrub_masks_every_password_of_the_sandbox():
    assert bench.passwords(SECRETS) == ["adm-s3cret", "rest-s3cret"]
    assert bench.scrub("a adm-s3cret b rest-s3cret", bench.passwords(SECRETS)) == "a ******** b ********"
    assert bench.drill_env(dict(SECRETS, patroni_rest_username="api"), environ={})["PGHA_PATRONI_AUTH"] == \
        "api:rest-s3cret"


def test_connection_setup_from_pgbench_and_its_report():
    out = ("number of failed transactions: 0 (0.000%)\naverage connection time = 3.512 ms\n"
           "tps = 250.1 (including reconnection times)\n")
    assert bench.pgbench_connect_ms(out) == pytest.approx(3.512)
    assert bench.pgbench_connect_ms("pgbench: error: no encryption") is None
    fig = bench.compare_connect([3.5, 3.1, 3.3], [None, None, None])
    assert fig["tls_ms"] == 3.3 and fig["plaintext_ms"] is None
    both = bench.compare_connect([4.0, 3.0, 5.0], [1.0, 2.0, 1.5])
    text = bench.report([], {"pgbench": {"connection set-up": both}})
    assert ("- connection set-up through HAProxy (pgbench -C): TLS 4.0 ms, plaintext 1.5 ms "
            "(3 paired rounds") in text
    text = bench.report([], {"pgbench": {"connection set-up": fig}})
    assert "plaintext refused" in text


def test_the_sandbox_is_pooled_by_pgbouncer_as_in_pigsty():
    assert bench.sandbox_pooled() is True
    hosts = bench.yaml.safe_load((bench.INVENTORY / "hosts.yml").read_text())
    databases = [db["name"] for db in hosts["all"]["children"]["pg-test"]["vars"]["pg_databases"]]
    # The drills and pgbench write through pgbouncer: their databases must be pooled.
    assert {"pgha_drill", "pgha_bench"} <= set(databases)


def test_pgbouncer_figures_name_both_paths():
    fig = bench.compare_tps([100.0, 120.0], [400.0, 420.0], ("postgres", "pgbouncer"))
    assert fig["postgres_tps"] == 110.0 and fig["pgbouncer_tps"] == 410.0
    assert fig["ratio"] == round((4.0 + 3.5) / 2, 3)
    mode = "pgbouncer, new connection per transaction (-C, select-only), TLS"
    text = bench.report([], {"pgbench": {mode: fig}})
    assert text == (f"- {mode}: pgbouncer (5433) 410.0 TPS, PostgreSQL through HAProxy (5436) 110.0 TPS, "
                    "ratio 3.75 (2 paired rounds, median)\n")


def test_paired_runs_flip_the_order_every_round(monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "pgbench", lambda host, port, *rest: seen.append(port) or float(port))
    runs = bench.paired_runs("h", "pw", 1, 3, (5436, 5433), True, "require", connect=True)
    assert seen == [5436, 5433, 5433, 5436, 5436, 5433]
    assert runs == {5436: [5436.0] * 3, 5433: [5433.0] * 3}


def test_a_drill_through_the_default_service_is_its_own_row(tmp_path, monkeypatch):
    view = {"members": [{"name": "pg-1", "host": "10.0.0.1", "role": "leader"},
                        {"name": "pg-2", "host": "10.0.0.2", "role": "replica"}]}
    seen = {}

    def fake_run(argv, **kw):
        seen.update(argv=argv)
        return subprocess.CompletedProcess(argv, 0, json.dumps({"write_outage_s": 3.0, "fault_at": 1.0}), "")

    monkeypatch.setattr(bench, "wait_healthy", lambda hosts: view)
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    result = bench.drill("crash", "fast", 1, ["10.0.0.1", "10.0.0.2"], SECRETS, tmp_path, port=5436)
    assert "--dsn=postgres://dbadmin@10.0.0.2:5436/postgres" in seen["argv"]
    assert seen["argv"][seen["argv"].index("--label") + 1] == "crash-fast-direct-1"
    assert result["config"] == "fast, 5436 (no pgbouncer)" and result["port"] == 5436
    rows = bench.summarise([result, run("crash", "fast", 4.0)])
    assert [row["config"] for row in rows] == ["fast", "fast, 5436 (no pgbouncer)"]
