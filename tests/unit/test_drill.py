"""The drill's arithmetic (tools/pgha_drill.py): outage, recovery and warnings."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("psycopg")
_spec = importlib.util.spec_from_file_location(
    "pgha_drill", Path(__file__).resolve().parents[2] / "tools" / "pgha_drill.py")
drill = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(drill)

OLD, NEW = "10.0.0.1/32", "10.0.0.2/32"


def ack(rid, at, server):
    return ("ack", rid, at - 0.01, at, server)


def test_outage_runs_from_last_ack_to_first_ack_by_another_server():
    log = [ack(1, 9.0, OLD), ack(2, 9.8, OLD),
           ack(3, 12.05, OLD),            # the old primary still acknowledged after the fault began
           ("error", None, 13.0, 13.0, None),
           ack(4, 32.3, NEW), ack(5, 32.4, NEW)]
    result = drill.analyse(log, fault_at=10.0)
    assert result["write_outage_s"] == pytest.approx(32.3 - 12.05)
    assert result["new_primary"] == NEW
    assert result["old_primaries"] == [OLD]
    assert result["acknowledged"] == 5
    assert result["errors"] == 1


def test_no_recovery_means_no_outage_figure():
    log = [ack(1, 9.0, OLD), ack(2, 10.5, OLD)]
    result = drill.analyse(log, fault_at=10.0)
    assert result["write_outage_s"] is None
    assert result["first_ack_after_fault"] is None


def test_commit_with_warning_is_not_acknowledged():
    log = [ack(1, 9.0, OLD), ("warned", 2, 9.5, 9.6, OLD), ack(3, 20.0, NEW)]
    result = drill.analyse(log, fault_at=10.0)
    assert result["acknowledged"] == 2
    assert result["warned_commits"] == 1
