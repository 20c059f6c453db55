"""The benchmark's bookkeeping (tools/pgha_bench.py): statistics, ratios and parsing."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("yaml")
_spec = importlib.util.spec_from_file_location(
    "pgha_bench", Path(__file__).resolve().parents[2] / "tools" / "pgha_bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def run(scenario, config, outage, lost=0, leader=None, **extra):
    return dict(scenario=scenario, config=config, write_outage_s=outage, lost=lost,
                new_leader_after_s=leader, **extra)


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
