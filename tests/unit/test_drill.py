"""The drill (tools/pgha_drill.py, its code in tools/pgha_drill_lib/): outage, recovery and warnings."""

import importlib.util
import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")
TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
from pgha_drill_lib import analysis, cli, clients, common, faults, output  # noqa: E402 - tools/ is no package

OLD, NEW = "10.0.0.1/32", "10.0.0.2/32"


def ack(rid, at, server):
    return ("ack", rid, at - 0.01, at, server)


def test_outage_runs_from_last_ack_to_first_ack_by_another_server():
    log = [ack(1, 9.0, OLD), ack(2, 9.8, OLD),
           ack(3, 12.05, OLD),            # the old primary still acknowledged after the fault began
           ("error", None, 13.0, 13.0, None),
           ack(4, 32.3, NEW), ack(5, 32.4, NEW)]
    result = analysis.analyse(log, fault_at=10.0)
    assert result["write_outage_s"] == pytest.approx(32.3 - 12.05)
    assert result["new_primary"] == NEW
    assert result["old_primaries"] == [OLD]
    assert result["acknowledged"] == 5
    assert result["errors"] == 1


def test_no_recovery_means_no_outage_figure():
    log = [ack(1, 9.0, OLD), ack(2, 10.5, OLD)]
    result = analysis.analyse(log, fault_at=10.0)
    assert result["write_outage_s"] is None
    assert result["first_ack_after_fault"] is None


def test_commit_with_warning_is_not_acknowledged():
    log = [ack(1, 9.0, OLD), ("warned", 2, 9.5, 9.6, OLD), ack(3, 20.0, NEW)]
    result = analysis.analyse(log, fault_at=10.0)
    assert result["acknowledged"] == 2
    assert result["warned_commits"] == 1


# ---------------------------------------------------------------- recovery on the same server

def test_same_server_recovery_needs_a_failure_first():
    # A postmaster restarted in place: the writer fails, then the same server acknowledges again.
    log = [ack(1, 9.0, OLD), ack(2, 9.9, OLD),
           ack(3, 10.2, OLD),                      # still in flight when the kill landed
           ("error", None, 10.4, 10.4, None, 0),
           ("ack", 4, 13.0, 13.1, OLD, 0)]
    result = analysis.analyse(log, fault_at=10.0, new_server=False)
    assert result["first_ack_after_fault"] == 13.1
    assert result["write_outage_s"] == pytest.approx(13.1 - 10.2)
    assert result["interrupted"] is True


def test_no_failure_means_longest_silence_is_the_figure():
    # etcd member lost: the writes go on; the longest gap after the fault is reported.
    log = [ack(1, 9.9, OLD), ack(2, 10.1, OLD), ack(3, 10.9, OLD), ack(4, 11.0, OLD)]
    result = analysis.analyse(log, fault_at=10.0, new_server=False)
    assert result["interrupted"] is False
    assert result["write_outage_s"] == pytest.approx(0.8)


def test_same_server_mode_waits_while_writers_still_fail():
    log = [ack(1, 9.9, OLD), ("error", None, 10.5, 10.5, None, 0)]
    result = analysis.analyse(log, fault_at=10.0, new_server=False)
    assert result["write_outage_s"] is None


# ---------------------------------------------------------------- two writable primaries

def test_clean_hand_over_has_no_overlap():
    log = [ack(1, 1.0, OLD), ack(2, 5.0, OLD), ack(3, 6.0, NEW), ack(4, 9.0, NEW)]
    assert analysis.overlaps(analysis.server_intervals(log)) == []


def test_interleaved_acknowledgements_are_an_overlap():
    log = [ack(1, 1.0, OLD), ack(2, 6.0, NEW), ack(3, 7.5, OLD), ack(4, 9.0, NEW)]
    assert analysis.overlaps(analysis.server_intervals(log)) == [(OLD, NEW, 1.5)]


def test_warned_and_failed_commits_do_not_make_an_overlap():
    log = [ack(1, 1.0, OLD), ack(2, 6.0, NEW),
           ("warned", 3, 7.0, 7.5, OLD, 0), ("error", None, 8, 8, None, 0)]
    assert analysis.overlaps(analysis.server_intervals(log)) == []


def test_rest_primary_spans_and_leader_change():
    samples = [(9.0, "pg-1", "primary", "running", 1), (9.0, "pg-2", "replica", "streaming", 1),
               (11.0, "pg-1", None, None, None), (30.0, "pg-2", "primary", "running", 2),
               (30.2, "pg-2", "primary", "running", 2)]
    assert analysis.primary_runs(samples) == {"pg-1": [(9.0, 9.0)], "pg-2": [(30.0, 30.2)]}
    assert analysis.leader_change(samples, 10.0, "pg-1") == (30.0, "pg-2")


def test_primary_stretches_end_at_any_other_answer():
    # The old leader is primary, demoted while cut off, primary again much
    # later; the new leader is primary in between: no overlap.
    samples = [(0.0, "pg-1", "primary", "running", 1), (5.0, "pg-1", "primary", "running", 1),
               (6.0, "pg-1", "demoted", "stopped", 1), (20.0, "pg-2", "primary", "running", 2),
               (40.0, "pg-2", "primary", "running", 2), (41.0, "pg-2", None, None, None),
               (50.0, "pg-1", "primary", "running", 3), (52.0, "pg-1", "primary", "running", 3)]
    runs = analysis.primary_runs(samples)
    assert runs == {"pg-1": [(0.0, 5.0), (50.0, 52.0)], "pg-2": [(20.0, 40.0)]}
    assert analysis.run_overlaps(runs) == []
    # A member still answering "primary, running" while the new one is up is an overlap.
    samples.append((25.0, "pg-1", "primary", "running", 1))
    samples.append((30.0, "pg-1", "primary", "running", 1))
    samples.append((31.0, "pg-1", "demoted", "stopped", 1))
    assert analysis.run_overlaps(analysis.primary_runs(samples)) == [("pg-1", "pg-2", 5.0)]


def test_primary_stretches_need_a_running_state():
    samples = [(1.0, "pg-1", "primary", "stopping", 1), (2.0, "pg-1", "primary", "running", 1)]
    assert analysis.primary_runs(samples) == {"pg-1": [(2.0, 2.0)]}


def test_transitions_keep_only_changes():
    samples = [(10.0, "pg-1", "primary", "running", 1), (10.2, "pg-1", "primary", "running", 1),
               (10.4, "pg-1", None, None, None), (10.1, "pg-2", "replica", "streaming", 1)]
    assert analysis.transitions(samples, 10.0) == [[0.0, "pg-1", "primary", "running", 1],
                                                   [0.1, "pg-2", "replica", "streaming", 1],
                                                   [0.4, "pg-1", None, None, None]]


def test_leader_back_in_place_counts_only_with_same_ok():
    samples = [(10.5, "pg-1", "primary", "crashed", 1), (12.0, "pg-1", "primary", "running", 1)]
    assert analysis.leader_change(samples, 10.0, "pg-1") == (None, None)
    assert analysis.leader_change(samples, 10.0, "pg-1", same_ok=True) == (12.0, "pg-1")
    # Never seen down: the old leader answering as before is not a recovery.
    assert analysis.leader_change(samples[1:], 10.0, "pg-1", same_ok=True) == (None, None)
    # Polls it missed (a loaded machine) are not a restart either.
    missed = [(10.5, "pg-1", None, None, None), (11.0, "pg-1", "primary", "running", 1)]
    assert analysis.leader_change(missed, 10.0, "pg-1", same_ok=True) == (None, None)


# ---------------------------------------------------------------- entry points and connections

def test_routed_at_is_first_probe_on_the_new_primary_per_entry():
    probes = [(9.0, 0, 0.004, OLD, False), (11.0, 0, None, None, None), (20.0, 0, 0.01, NEW, True),
              (23.0, 0, 0.01, NEW, False), (21.0, 1, 0.01, "10.0.0.2", False)]
    assert analysis.routed_at(probes, 10.0, "10.0.0.2/32", 3) == [23.0, 21.0, None]


def test_routed_after_an_in_place_restart_counts_from_the_failure():
    probes = [(10.1, 0, 0.01, OLD, False), (10.5, 0, None, None, None), (14.0, 0, 0.01, OLD, False)]
    assert analysis.routed_at(probes, 10.0, OLD, 1) == [14.0]


def test_connect_times_median_and_max_in_window():
    probes = [(1.0, 0, 0.002, OLD, False), (2.0, 0, 0.004, OLD, False), (3.0, 0, None, None, None),
              (4.0, 0, 0.010, OLD, False), (9.0, 0, 0.5, OLD, False)]
    assert analysis.connect_times(probes, 0, 5) == {"median_ms": 4.0, "max_ms": 10.0, "n": 3}
    assert analysis.connect_times(probes, 5, 6) is None


def test_buckets_count_per_100_ms():
    counts = analysis.buckets([-0.95, -0.91, 0.05, 0.31, 7.0], -1.0, 0.4)
    assert counts == [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]


# ---------------------------------------------------------------- outputs

def test_timeline_svg_draws_bars_and_marks():
    marks = [("fault", 0.1, "#ff0000"), ("x", None, "#0")]
    svg = output.timeline_svg([("writes", "#111111", [0, 4, 2])], marks, 0.0, "crash <fast>")
    root = ET.fromstring(svg)  # well-formed
    assert root.tag.endswith("svg")
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == "#111111"]
    assert len(bars) == 3  # two bars and the legend box; the empty bucket draws nothing
    heights = sorted(float(b.get("height")) for b in bars if b.get("width") != "10")
    assert heights[1] == pytest.approx(2 * heights[0])
    assert "crash &lt;fast&gt;" in svg
    assert svg.count('stroke-dasharray') == 1  # the mark without a time is left out


def test_markdown_summary_lists_the_figures():
    text = output.markdown_summary({"label": "crash-fast-1", "fault_kind": "crash", "write_outage_s": 21.9,
                                    "lost": 0, "routed_after_s": [22.1, None], "old_primaries": [OLD],
                                    "new_primary": NEW})
    assert "### crash-fast-1" in text
    assert "| write outage | 21.9 s |" in text
    assert "| entry points route to it | 22.1 s, — |" in text
    assert "| acknowledged commits lost | 0 |" in text


def test_inside_writer_lines_parse():
    assert clients.parse_inside_line("ack 1000000001 5.0 5.1 10.0.0.1/32\n") == \
        ("ack", 1000000001, 5.0, 5.1, "10.0.0.1/32", -1)
    assert clients.parse_inside_line("error 0 5.0 5.0 -\n") == ("error", None, 5.0, 5.0, None, -1)
    assert clients.parse_inside_line("Traceback (most recent call last):") is None


# ---------------------------------------------------------------- faults and arguments

MEMBERS = [{"name": "pg-test-1", "host": "10.210.0.11"}, {"name": "pg-test-2", "host": "10.210.0.12"},
           {"name": "pg-test-3", "host": "10.210.0.13"}]


def test_container_pattern_placeholders():
    assert faults.container_for(MEMBERS[1], "pgha-sandbox-{seq}") == "pgha-sandbox-2"
    assert faults.container_for(MEMBERS[1], "{name}.{host}") == "pg-test-2.10.210.0.12"


def test_partition_cuts_peers_and_heals_the_same_routes():
    inject, restore, targets = faults.fault_plan("partition", MEMBERS[0], MEMBERS, "c{seq}", "/d",
                                                 ["10.210.0.12", "10.210.0.13"])
    assert targets == ["c1"]
    assert inject[0][:2] == ["exec", "c1"] and inject[0][-2:] == ["10.210.0.12", "10.210.0.13"]
    assert "blackhole" in inject[0][4] and "add" in inject[0][4]
    assert "del" in restore[0][4] and restore[0][-2:] == inject[0][-2:]


def test_etcd_quorum_loss_stops_a_majority_starting_with_the_leaders_node():
    inject, restore, targets = faults.fault_plan("etcd-quorum-loss", MEMBERS[1], MEMBERS, "c{seq}", "/d", [])
    assert targets == ["c2", "c1"]
    assert [c[-1] for c in inject] == ["etcd", "etcd"] and [c[-2] for c in restore] == ["start", "start"]
    _inject, _restore, one = faults.fault_plan("etcd-member-loss", MEMBERS[1], MEMBERS, "c{seq}", "/d", [])
    assert one == ["c2"]


def test_postmaster_kill_reads_the_pid_from_the_data_directory():
    inject, restore, _targets = faults.fault_plan("postmaster-kill", MEMBERS[0], MEMBERS, "c{seq}",
                                                  "/var/lib/pg", [])
    assert inject[0][-1] == "/var/lib/pg" and "postmaster.pid" in inject[0][4]
    assert restore == []  # Patroni brings PostgreSQL back by itself


# ---------------------------------------------------------------- one fault, two forms

ROOT = TOOLS.parent
# What does the damage (and undoes it), the same in the Docker form's commands
# and in the task file playbooks/drill.yml runs (see the faults module).
DAMAGE = {
    "crash": ("crash-docker", ["docker kill"], ["docker start"]),
    "postmaster-kill": ("postmaster-kill", ["postmaster.pid", "kill -KILL"], []),
    "patroni-stop": ("patroni-stop", ["systemctl stop patroni"], ["systemctl start patroni"]),
    "patroni-freeze": ("patroni-freeze", ["systemctl kill --kill-whom=main --signal=SIGSTOP patroni"],
                       ["systemctl kill --kill-whom=main --signal=SIGCONT patroni"]),
    "partition": ("partition", ['ip route add blackhole "$a/32"'], ['ip route del blackhole "$a/32"']),
    "etcd-member-loss": ("etcd", ["systemctl stop etcd"], ["systemctl start etcd"]),
    "etcd-quorum-loss": ("etcd", ["systemctl stop etcd"], ["systemctl start etcd"]),
}


def _yaml(path):
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / path).read_text())


def _commands(task_file):
    """Every command line of a fault task file: shell scripts, and command argv joined with spaces."""
    out = []
    for task in _yaml(f"playbooks/faults/{task_file}.yml"):
        for module in ("ansible.builtin.shell", "ansible.builtin.command"):
            args = task.get(module)
            if isinstance(args, str):
                out.append(args)
            elif isinstance(args, dict):
                out.append(args.get("cmd") or " ".join(str(a) for a in args.get("argv", [])))
    return "\n".join(out)


def test_every_fault_kind_has_its_task_files_in_playbooks_faults():
    assert set(faults.FAULT_PLAYBOOKS) == set(faults.FAULT_KINDS)
    named = {stem for stems in faults.FAULT_PLAYBOOKS.values() for stem in stems}
    assert named == {p.stem for p in (ROOT / "playbooks" / "faults").glob("*.yml")}
    assert faults.FAULT_PLAYBOOKS["switchover"] == ()  # the drill's own REST call on both paths


def test_drill_yml_offers_the_drills_fault_kinds_with_the_same_task_files():
    # The plays of its own (the first entry imports playbooks/pigsty_names.yml).
    plays = [play for play in _yaml("playbooks/drill.yml") if "hosts" in play and "vars" in play]
    assert set(plays[0]["vars"]["__faults"]) == set(faults.FAULT_KINDS)
    run = plays[-1]
    assert set(run["vars"]["__handoff_faults"]) == set(faults.FAULT_KINDS) - {"switchover"}
    mappings = {task["name"]: task["vars"]["__fault_tasks"] for task in _tasks(run["tasks"])
                if "__fault_tasks" in task.get("vars", {})}
    inject = next(m for name, m in mappings.items() if name.startswith("Inject"))
    undo = next(m for name, m in mappings.items() if name.startswith("Undo"))
    for kind, stem in inject.items():
        stems = ({stem.replace("{{ drill_crash_method | default('sysrq') }}", m) for m in ("sysrq", "docker")}
                 if "{{" in stem else {stem})
        assert stems == set(faults.FAULT_PLAYBOOKS[kind]), kind
    # the drill asks to undo exactly the kinds the play can undo
    assert set(undo) == set(faults.UNDONE_KINDS)
    assert set(inject) == set(faults.FAULT_KINDS) - {"switchover"}


def test_the_bench_runs_every_fault_kind():
    spec = importlib.util.spec_from_file_location("pgha_bench_kinds", TOOLS / "pgha_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert set(bench.SCENARIOS) == set(faults.FAULT_KINDS)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_the_docker_form_and_the_playbook_do_the_same_damage(kind):
    task_file, injected, undone = DAMAGE[kind]
    inject, restore, _targets = faults.fault_plan(kind, MEMBERS[0], MEMBERS, "c{seq}", "/d", ["10.210.0.12"])
    docker_inject = "\n".join(" ".join(["docker", *cmd]) for cmd in inject)
    docker_restore = "\n".join(" ".join(["docker", *cmd]) for cmd in restore)
    playbook = _commands(task_file)
    for fragment in injected:
        assert fragment in docker_inject and fragment in playbook, fragment
    for fragment in undone:
        assert fragment in docker_restore and fragment in playbook, fragment
    # what the Docker form undoes, the drill asks the play to undo with --handoff
    assert bool(restore) == (kind in faults.UNDONE_KINDS)


def test_arguments_need_exactly_one_fault():
    parser = cli.build_parser()
    base = ["--dsn", "postgres://h/db", "--confirm-cluster", "pg-test"]
    assert parser.parse_args(base + ["--fault-kind", "crash"]).fault_kind == "crash"
    for bad in ([], ["--fault", "true", "--fault-kind", "crash"], ["--fault-kind", "meteor"]):
        with pytest.raises(SystemExit):
            parser.parse_args(base + bad)


def test_the_admin_dsn_is_optional_and_apart_from_the_writers():
    parser = cli.build_parser()
    base = ["--dsn", "postgres://h:5433/db", "--confirm-cluster", "pg-test", "--fault-kind", "crash"]
    assert parser.parse_args(base).admin_dsn is None
    assert parser.parse_args(base + ["--admin-dsn", "postgres://h:5436/postgres"]).admin_dsn.endswith(":5436/postgres")


def test_every_query_names_the_server_so_that_it_survives_pgbouncer():
    # Behind pgbouncer inet_server_addr() is NULL (the local socket); the
    # member's pgha.node_address names it, whatever path the client took.
    assert common.SERVER.startswith("coalesce(nullif(current_setting('pgha.node_address', true), '')")
    text = (TOOLS / "pgha_drill_lib" / "clients.py").read_text()
    assert "inet_server_addr()" not in text
    assert clients.INSIDE_WRITER.count(common.SERVER) == 1
    patroni_vars = (TOOLS.parent / "roles" / "patroni" / "vars" / "main.yml").read_text()
    assert 'pgha.node_address: "{{ patroni_address }}"' in patroni_vars


def test_default_rest_urls_come_from_the_entry_point_hosts():
    dsns = ["postgres://u@10.0.0.2:5433/postgres", "host=10.0.0.3 port=5433", "postgres://u@10.0.0.2:5434/x"]
    assert cli.default_api_urls(dsns, 8008) == ["https://10.0.0.2:8008", "https://10.0.0.3:8008"]


def test_cluster_health_needs_every_member_and_a_sync_standby():
    view = {"members": [{"name": "a", "role": "leader", "state": "running"},
                        {"name": "b", "role": "sync_standby", "state": "streaming"},
                        {"name": "c", "role": "replica", "state": "starting"}]}
    assert not analysis.cluster_healthy(view, 3, True)
    view["members"][2]["state"] = "streaming"
    assert analysis.cluster_healthy(view, 3, True)
    assert not analysis.cluster_healthy(view, 4, True)
    view["members"][1]["role"] = "replica"
    assert not analysis.cluster_healthy(view, 3, True)
    assert analysis.cluster_healthy(view, 3, False)


def test_a_replica_must_stream_on_the_leaders_timeline():
    # An old primary demoted in place says "running" on its old timeline before its rewind.
    view = {"members": [{"name": "a", "role": "leader", "state": "running", "timeline": 15},
                        {"name": "b", "role": "sync_standby", "state": "streaming", "timeline": 15},
                        {"name": "c", "role": "replica", "state": "running", "timeline": 14}]}
    assert not analysis.cluster_healthy(view, 3, True)
    view["members"][2]["state"] = "streaming"
    assert not analysis.cluster_healthy(view, 3, True)
    view["members"][2]["timeline"] = 15
    assert analysis.cluster_healthy(view, 3, True)


def test_etcd_leader_from_endpoint_status():
    status = json.dumps([
        {"Endpoint": "http://10.210.0.12:2379", "Status": {"header": {"member_id": 2}, "leader": 1}},
        {"Endpoint": "http://10.210.0.11:2379", "Status": {"header": {"member_id": 1}, "leader": 1}}])
    assert faults.etcd_leader_host(status) == "10.210.0.11"
    assert faults.etcd_leader_host("not json") is None
    assert faults.etcd_leader_host(json.dumps([{"Endpoint": "http://x:2379", "Status": {}}])) is None


def test_wait_writable_needs_every_entry_point_on_a_primary():
    answers = {"a": iter([True, True, True, True, True, True]), "b": iter([False, True, True, True])}
    assert clients.wait_writable(["a", "b"], 5, check=lambda d: next(answers[d]))
    assert not clients.wait_writable(["c"], 0, check=lambda d: False)


class FakeConn:
    """Records the statements a drill sends; answers the database lookup with `comment`."""

    def __init__(self, comment, exists=True):
        self.comment, self.exists, self.sent = comment, exists, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, params=None):
        text = query if isinstance(query, str) else query.as_string(None)
        self.sent.append(text)
        result = type("Result", (), {})()
        result.fetchone = lambda: (self.comment,) if self.exists else None
        return result


@pytest.mark.parametrize("exists, comment, ours", [
    (False, None, True),                       # missing: made, marked, dropped at the end
    (True, common.DATABASE_MARK, True),        # a leftover of the drill's own: made anew
    (True, None, False),                       # declared in pg_databases (pgbouncer): kept
    (True, "the team's", False),
])
def test_the_drill_drops_only_a_database_it_made(monkeypatch, exists, comment, ours):
    conn = FakeConn(comment, exists)
    monkeypatch.setattr(clients.psycopg, "connect", lambda *a, **k: conn)
    assert clients.prepare_database("postgres://admin@h:5436/postgres") is ours
    made = [s for s in conn.sent
            if s.startswith(("DROP DATABASE", "CREATE DATABASE", "COMMENT ON DATABASE"))]
    assert len(made) == (3 if ours else 0)
    if ours:
        assert common.DATABASE_MARK in made[-1]


def test_the_drill_drops_through_the_entry_point_that_leads_to_a_primary(monkeypatch):
    primary = FakeConn(None)

    def connect(dsn, **kwargs):
        if dsn == "standby":
            raise clients.psycopg.errors.ReadOnlySqlTransaction("cannot execute DROP TABLE")
        return primary

    monkeypatch.setattr(clients.psycopg, "connect", connect)
    assert clients.drop_table(["standby", "primary"], timeout=0)
    assert primary.sent == ['DROP TABLE IF EXISTS "pgha_drill"']
    assert not clients.drop_database(["standby"], timeout=0)


# ---------------------------------------------------------------- the read probe

REPLICA, PRIMARY = "10.0.0.3/32", "10.0.0.2/32"


def read(at, server=REPLICA, in_recovery=True, reader=0):
    return ("ok", at - 0.002, at, server, in_recovery, reader)


def test_read_outage_is_the_longest_gap_after_the_last_read_before_the_fault():
    log = [read(9.0), read(9.95), read(10.2),                     # reads still answered after the fault
           ("error", 10.5, 10.5, None, None, 1),
           read(14.7, PRIMARY, False), read(14.8), read(15.0)]
    reads = analysis.analyse_reads(log, fault_at=10.0, ended_at=15.05)
    assert reads["outage_s"] == pytest.approx(14.7 - 10.2)
    assert reads["outage_from_s"] == pytest.approx(0.2)
    assert reads["resumed"] is True
    assert reads["ok"] == 6 and reads["errors"] == 1
    assert reads["before"] == {"replica": 2, "primary": 0}
    assert reads["after"] == {"replica": 3, "primary": 1}
    assert reads["primary_after_s"] == [pytest.approx(4.7), pytest.approx(4.7)]
    assert reads["by_server"] == {REPLICA: {"replica": 5, "primary": 0},
                                  PRIMARY: {"replica": 0, "primary": 1}}


def test_reads_that_never_come_back_run_to_the_end_of_the_drill():
    log = [read(9.0), read(9.9), ("error", 10.1, 10.1, None, None, 0), ("error", 11.0, 11.0, None, None, 0)]
    reads = analysis.analyse_reads(log, fault_at=10.0, ended_at=40.0)
    assert reads["resumed"] is False
    assert reads["outage_s"] == pytest.approx(40.0 - 9.9)
    assert reads["after"] == {"replica": 0, "primary": 0} and reads["primary_after_s"] is None


def test_a_silence_at_the_end_counts_even_after_reads_resumed():
    log = [read(9.9), read(12.0), read(12.1)]
    reads = analysis.analyse_reads(log, fault_at=10.0, ended_at=30.0)
    assert reads["resumed"] is True
    assert reads["outage_s"] == pytest.approx(30.0 - 12.1)


def test_uninterrupted_reads_have_a_short_outage_and_no_read_means_no_figure():
    log = [read(9.95 + 0.05 * i) for i in range(20)]
    assert analysis.analyse_reads(log, 10.0, 10.95)["outage_s"] == pytest.approx(0.05)
    empty = analysis.analyse_reads([("error", 10.1, 10.1, None, None, 0)], 10.0, 20.0)
    assert empty["outage_s"] is None and empty["resumed"] is False and empty["errors"] == 1


def test_read_dsns_take_the_write_entry_points_hosts_on_the_replica_port():
    dsns = ["postgres://dbadmin:pw@10.0.0.2:5433/postgres", "host=10.0.0.3 port=5433 user=dbadmin",
            "postgres://dbadmin:pw@10.0.0.2:5433/postgres"]
    out = [psycopg.conninfo.conninfo_to_dict(d) for d in cli.read_dsns(dsns, 5434)]
    assert [(d["host"], d["port"]) for d in out] == [("10.0.0.2", "5434"), ("10.0.0.3", "5434")]
    assert out[0]["password"] == "pw" and out[0]["dbname"] == "postgres"
    assert "pw" not in common.safe_dsn(dsns[0]) and "10.0.0.2" in common.safe_dsn(dsns[0])


def test_timeline_draws_reads_in_a_lane_of_their_own_scale():
    series = [("writes", "#111111", [10, 20]),
              ("reads", "#222222", [1, 2], 1), ("fallback", "#333333", [0, 1], 1)]
    svg = output.timeline_svg(series, [("fault", 0.0, "#ff0000")], 0.0, "t",
                              lane_titles=["commits per 100 ms", "reads per 100 ms"])
    root = ET.fromstring(svg)
    rects = list(root.iter("{http://www.w3.org/2000/svg}rect"))

    def bars(colour):
        return [r for r in rects if r.get("fill") == colour and r.get("width") != "10"]
    # each lane has its own peak: 20 commits and 2 reads draw the same height
    assert float(bars("#111111")[1].get("height")) == pytest.approx(float(bars("#222222")[1].get("height")))
    # the reads' lane lies below the commits' lane
    assert float(bars("#222222")[1].get("y")) > float(bars("#111111")[1].get("y")) + float(
        bars("#111111")[1].get("height"))
    assert "reads per 100 ms" in svg and "commits per 100 ms" in svg
    assert int(root.get("height")) > 320  # taller with a second lane


def test_markdown_reports_the_read_probe():
    reads = {"outage_s": 4.5, "resumed": True, "before": {"replica": 50, "primary": 0},
             "after": {"replica": 80, "primary": 3}, "primary_after_s": [4.7, 5.1], "errors": 2}
    text = output.markdown_summary({"label": "x", "reads": reads})
    assert "| read outage (replica service) | 4.5 s |" in text
    assert ("| reads served by a replica / by a primary, after the fault "
            "| 80 / 3 (primary from 4.7 s to 5.1 s) |") in text
    assert "| failed reads | 2 |" in text
    reads.update(resumed=False, outage_s=30.1)
    assert "| read outage (replica service) | ≥ 30.1 s (no read succeeded after the fault) |" in \
        output.markdown_summary({"label": "x", "reads": reads})
    assert "read outage" not in output.markdown_summary({"label": "x", "reads": None})


# ---------------------------------------------------------------- faults handed to an outside agent

def test_reported_fault_time_is_used_only_between_request_and_answer():
    assert faults.reported_fault_time({"fault_at": 101.5}, 100.0, 103.0) == \
        (101.5, "reported by the injecting host")
    # a crash scheduled a moment after the answer still counts (within the slack)
    assert faults.reported_fault_time({"fault_at": 105.0}, 100.0, 103.0)[0] == 105.0
    at, source = faults.reported_fault_time({"fault_at": 3700.0}, 100.0, 103.0)
    assert at == 100.0 and "clocks differ" in source
    assert faults.reported_fault_time({"fault_at": None}, 100.0, 103.0) == \
        (100.0, "request (no time reported)")
    assert faults.reported_fault_time({"fault_at": "soon"}, 100.0, 103.0)[0] == 100.0


def test_handoff_writes_the_request_and_returns_the_answer(tmp_path):
    def agent():
        deadline = time.time() + 5
        while not (tmp_path / "inject.json").exists() and time.time() < deadline:
            time.sleep(0.01)
        request = json.loads((tmp_path / "inject.json").read_text())
        part = tmp_path / "answer.part"
        part.write_text(json.dumps({"rc": 0, "fault_at": request["asked_at"] + 1, "output": "ok"}))
        part.rename(tmp_path / "inject.done.json")

    thread = threading.Thread(target=agent)
    thread.start()
    answer = faults.Handoff(tmp_path, 5).ask("inject", {"kind": "crash", "asked_at": 10.0})
    thread.join()
    assert answer == {"rc": 0, "fault_at": 11.0, "output": "ok"}
    assert not list(tmp_path.glob(".*.part"))  # the request was renamed into place


def test_handoff_gives_up_after_its_timeout(tmp_path):
    assert faults.Handoff(tmp_path, 0.2).ask("restore", {"kind": "crash"}) is None
    assert json.loads((tmp_path / "restore.json").read_text()) == {"kind": "crash"}


def test_restore_asks_only_for_faults_that_need_undoing(tmp_path):
    args = cli.parse_args(["--dsn", "postgres://h/db", "--confirm-cluster", "c", "--fault-kind",
                           "postmaster-kill", "--handoff", str(tmp_path), "--handoff-timeout", "0.1"])
    leader = {"name": "c-1", "host": "10.0.0.1"}
    assert faults.restore(faults.Handoff(tmp_path, 0.1), args, ([], [], []), leader) is None
    assert not (tmp_path / "restore.json").exists()
    args.fault_kind = "patroni-stop"
    (tmp_path / "restore.done.json").write_text('{"rc": 0}')
    assert faults.restore(faults.Handoff(tmp_path, 1), args, ([], [], []), leader) is not None
    assert json.loads((tmp_path / "restore.json").read_text())["host"] == "10.0.0.1"


def test_the_entry_script_keeps_its_command_line():
    """Makefile, molecule, pgha_bench.py and playbooks/drill.yml run tools/pgha_drill.py by path."""
    script = TOOLS / "pgha_drill.py"
    res = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                         cwd=TOOLS.parent.parent, check=False)  # from elsewhere: tools/ is found by itself
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: pgha_drill.py ") and "--fault-kind" in res.stdout
    assert "Fault kinds" in res.stdout  # the epilog: the cli module's docstring
    spec = importlib.util.spec_from_file_location("pgha_drill_entry", script)
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    assert entry.main is cli.main


def test_handoff_and_read_probe_arguments_are_checked():
    base = ["--dsn", "postgres://h/db", "--confirm-cluster", "pg-test"]
    assert cli.parse_args(base + ["--fault-kind", "crash", "--handoff", "/tmp/x"]).handoff == "/tmp/x"
    for bad in (["--fault", "true", "--handoff", "/tmp/x"],
                ["--fault-kind", "switchover", "--handoff", "/tmp/x"],
                ["--fault-kind", "crash", "--readers", "-1"],
                ["--fault-kind", "crash", "--read-interval", "0"]):
        with pytest.raises(SystemExit):
            cli.parse_args(base + bad)
    assert cli.parse_args(base + ["--fault-kind", "crash"]).readers == 2


# ---------------------------------------------------------------- injecting the fault

def _args(*extra):
    return cli.parse_args(["--dsn", "postgres://h/db", "--confirm-cluster", "c", *extra])


def test_the_fault_time_is_read_right_before_the_docker_commands(monkeypatch):
    calls = []

    def docker(*argv, check=True):
        calls.append((time.time(), argv))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(faults, "docker", docker)
    plan = faults.fault_plan("crash", MEMBERS[0], MEMBERS, "c{seq}", "/d", [])
    before = time.time()
    fault_at, source, rc, out = faults.inject(_args("--fault-kind", "crash"), plan, MEMBERS[0], None, "/d")
    assert source == "drill" and rc == 0 and out == ""
    assert [argv for _at, argv in calls] == [("kill", "c1")]
    assert before <= fault_at <= calls[0][0] < fault_at + 0.5  # nothing slow in between


def test_a_failed_docker_command_gives_its_rc_and_message(monkeypatch):
    monkeypatch.setattr(faults, "docker", lambda *argv, check=True: subprocess.CompletedProcess(
        argv, 1, "", "Error: No such container: c1\n"))
    plan = faults.fault_plan("crash", MEMBERS[0], MEMBERS, "c{seq}", "/d", [])
    _at, _source, rc, out = faults.inject(_args("--fault-kind", "crash"), plan, MEMBERS[0], None, "/d")
    assert rc == 1 and out == "Error: No such container: c1"


def test_a_fault_command_runs_as_given_and_its_output_is_scrubbed(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", SECRET)
    args = _args("--fault", f"{sys.executable} -c 'import os; print(os.environ[\"PGPASSWORD\"]); exit(3)'")
    _at, source, rc, out = faults.inject(args, ([], [], []), None, None, "/d")
    assert source == "drill" and rc == 3 and out == "********"


def test_a_handed_off_fault_takes_the_time_the_host_reported(tmp_path):
    (tmp_path / "inject.done.json").write_text(json.dumps({"rc": 0, "fault_at": time.time() + 0.5,
                                                           "output": "patroni stopped"}))
    args = _args("--fault-kind", "patroni-stop", "--handoff", str(tmp_path))
    handoff = faults.Handoff(tmp_path, 1)
    fault_at, source, rc, out = faults.inject(args, ([], [], []), MEMBERS[0], handoff, "/var/lib/pg")
    assert source == "reported by the injecting host" and rc == 0 and out == "patroni stopped"
    request = json.loads((tmp_path / "inject.json").read_text())
    assert request["data_directory"] == "/var/lib/pg" and request["host"] == "10.210.0.11"
    assert fault_at == pytest.approx(request["asked_at"] + 0.5, abs=0.2)


def test_a_handed_off_fault_nobody_injected_stops_the_drill(tmp_path):
    args = _args("--fault-kind", "partition", "--handoff", str(tmp_path))
    with pytest.raises(SystemExit, match="no fault was injected"):
        faults.inject(args, ([], [], []), MEMBERS[0], faults.Handoff(tmp_path, 0.1), "/d")


# ---------------------------------------------------------------- the drill's figures

LEADERS = [{"name": "pg-1", "host": "10.0.0.1"}, {"name": "pg-2", "host": "10.0.0.2"}]


def _crash_logs():
    writes = ([ack(i, 5.0 + 0.5 * i, OLD) for i in range(1, 10)]             # 5.5 .. 9.5
              + [("error", None, 10.2, 10.2, None, 0)]
              + [ack(100 + i, 32.3 + 0.1 * i, NEW) for i in range(5)])        # 32.3 .. 32.7
    rest = ([(5.0 + 0.2 * i, "pg-1", "primary", "running", 1) for i in range(26)]   # to 10.0
            + [(10.2, "pg-1", None, None, None)]
            + [(5.0 + 0.2 * i, "pg-2", "replica", "streaming", 1) for i in range(135)]  # to 31.8
            + [(32.0, "pg-2", "primary", "running", 2)])
    probes = ([(6.0, 0, 0.004, OLD, False), (8.0, 0, 0.006, OLD, False),
               (10.5, 0, None, None, None), (32.5, 0, 0.003, NEW, False), (33.0, 0, 0.005, NEW, False)])
    return writes, rest, probes


def test_figures_of_a_crash_from_the_logs():
    writes, rest, probes = _crash_logs()
    held = {e[1] for e in writes if e[0] == "ack"} - {9}                # the last commit before the crash
    result = analysis.drill_figures(writes, None, None, rest, probes, held, fault_at=10.0, injected_at=10.1,
                                    healed_at=None, ended_at=35.7, steady=5.0, need_new=True,
                                    leader=LEADERS[0], members=LEADERS, n_entries=1)
    assert result["write_outage_s"] == pytest.approx(32.3 - 9.5)
    assert result["fault_at"] == 10.0 and result["fault_injected_s"] == pytest.approx(0.1)
    assert result["healed_after_s"] is None
    assert result["new_leader"] == "pg-2" and result["new_leader_after_s"] == pytest.approx(22.0)
    assert result["routed_after_s"] == [pytest.approx(22.5)]
    assert result["connect_before"] == {"median_ms": 5.0, "max_ms": 6.0, "n": 2}
    assert result["connect_after"] == {"median_ms": 4.0, "max_ms": 5.0, "n": 2}  # from the re-route on
    assert result["lost"] == 1 and result["lost_ids"] == [9]
    assert result["overlap_pairs"] == [] and result["rest_primary_overlaps"] == []
    assert result["rest_primary_spans"] == {"pg-1": [[-5.0, 0.0]], "pg-2": [[22.0, 22.0]]}
    assert result["inside_acks_after_fault"] is None and result["inside_warned"] is None
    assert result["reads"] is None
    tl = result["timeline"]
    assert tl["from_s"] == -5.0 and tl["bucket_s"] == analysis.BUCKET_S
    assert len(tl["outside"]) == int(round((35.7 - 10.0 + 5.0) / 0.1)) + 1
    assert sum(tl["outside"]) == 14
    assert tl["inside"] is None and tl["reads_replica"] is None and tl["reads_primary"] is None


def test_figures_take_the_new_leader_from_patroni_when_no_write_came_back():
    writes, rest, probes = _crash_logs()
    writes = [e for e in writes if e[3] < 30]
    result = analysis.drill_figures(writes, None, None, rest, probes, set(), fault_at=10.0, injected_at=10.1,
                                    healed_at=None, ended_at=35.7, steady=5.0, need_new=True,
                                    leader=LEADERS[0], members=LEADERS, n_entries=1)
    assert result["write_outage_s"] is None and result["new_primary"] is None
    # the entry point's re-route is still measured, to the member Patroni named
    assert result["new_leader"] == "pg-2" and result["routed_after_s"] == [pytest.approx(22.5)]
    assert result["lost"] == 9


def test_figures_count_the_isolated_side_and_the_reads():
    writes, rest, probes = _crash_logs()
    inside = [("ack", 1_000_000_000, 10.4, 10.5, OLD, -1), ("warned", 1_000_000_001, 10.6, 10.7, OLD, -1),
              ("ack", 1_000_000_002, 9.0, 9.1, OLD, -1)]
    reads = [read(9.0), read(9.9), read(14.0, PRIMARY, False)] + [read(14.5 + 0.5 * i) for i in range(43)]
    held = {e[1] for e in writes + inside if e[0] == "ack"}
    result = analysis.drill_figures(writes, inside, reads, rest, probes, held, fault_at=10.0,
                                    injected_at=10.1, healed_at=40.0, ended_at=35.7, steady=5.0,
                                    need_new=True, leader=LEADERS[0], members=LEADERS, n_entries=1)
    assert result["inside_acks_after_fault"] == 1 and result["inside_warned"] == 1
    assert result["lost"] == 0
    assert result["healed_after_s"] == pytest.approx(30.0)
    assert result["reads"]["outage_s"] == pytest.approx(14.0 - 9.9)
    assert result["reads"]["after"] == {"replica": 43, "primary": 1}
    tl = result["timeline"]
    assert sum(tl["inside"]) == 2 and sum(tl["reads_replica"]) == 45 and sum(tl["reads_primary"]) == 1


# ---------------------------------------------------------------- secrets: off command lines, out of results

SECRET = "s3cret-Pw"


def test_inside_writer_command_passes_the_password_by_name_only():
    argv, env = clients.inside_writer_command(
        "c1", f"host=127.0.0.1 port=5433 user=dbadmin password={SECRET}", SECRET, 7, environ={"PATH": "/bin"})
    assert not any(SECRET in a for a in argv), argv
    assert argv[:6] == ["docker", "exec", "-i", "-e", "PGPASSWORD", "c1"] and argv[-1] == "7"
    assert env == {"PATH": "/bin", "PGPASSWORD": SECRET}
    argv, env = clients.inside_writer_command("c1", "host=127.0.0.1 user=dbadmin", None, 7, environ={})
    assert "-e" not in argv and "PGPASSWORD" not in env


def test_inside_writer_starts_docker_with_the_password_in_the_environment(monkeypatch):
    started = {}

    class Proc:
        stdout, stdin = iter(()), io.StringIO()

        def wait(self, timeout=None):
            return 0

    def popen(argv, **kw):
        started.update(argv=argv, env=kw.get("env"))
        return Proc()

    monkeypatch.setattr(clients.subprocess, "Popen", popen)
    clients.InsideWriter("c1", "host=127.0.0.1 user=dbadmin", SECRET, 1, []).stop()
    assert SECRET not in " ".join(started["argv"])
    assert started["env"]["PGPASSWORD"] == SECRET


def test_secrets_come_from_stdin_or_a_file_never_from_an_option(tmp_path):
    env = {}
    cli.load_secrets("-", env, stdin=io.StringIO(json.dumps({"PGPASSWORD": SECRET}) + "\n"))
    assert env == {"PGPASSWORD": SECRET}
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"PGPASSWORD": "a", "PGHA_PATRONI_AUTH": f"patroni:{SECRET}"}))
    cli.load_secrets(str(path), env)
    assert env == {"PGPASSWORD": "a", "PGHA_PATRONI_AUTH": f"patroni:{SECRET}"}
    for bad in (json.dumps({"PGPASSWORD": SECRET, "PATH": "/x"}), json.dumps([SECRET]), SECRET,
                json.dumps({"PGPASSWORD": [SECRET]})):
        with pytest.raises(SystemExit) as exc:
            cli.load_secrets("-", {}, stdin=io.StringIO(bad))
        assert SECRET not in str(exc.value)
    base = ["--dsn", "postgres://h/db", "--confirm-cluster", "pg-test", "--fault-kind", "switchover"]
    assert cli.parse_args(base + ["--secrets-from", "-"]).secrets_from == "-"
    with pytest.raises(SystemExit):  # Patroni's credentials are no option: they would show in `ps`
        cli.parse_args(base + ["--patroni-auth", f"patroni:{SECRET}"])


def test_messages_name_entry_points_without_their_password(monkeypatch):
    def refuse(*_args, **_kw):
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(clients.psycopg, "connect", refuse)
    with pytest.raises(SystemExit) as exc:
        clients.primary_rows([f"postgres://dbadmin:{SECRET}@10.0.0.2:5433/pgha_drill"], timeout=-1)
    assert SECRET not in str(exc.value) and "10.0.0.2" in str(exc.value)
    assert SECRET not in common.safe_dsn(f"host=10.0.0.2 user=dbadmin password={SECRET}")


def test_fault_output_in_the_results_has_the_secrets_masked():
    env = {"PGPASSWORD": SECRET, "PGHA_PATRONI_AUTH": "patroni:rest-pw"}
    out = common.scrub(f"psql: password {SECRET}; curl -u patroni:rest-pw", env)
    assert SECRET not in out and "rest-pw" not in out and out.count("********") == 2
    assert common.scrub("nothing secret", {}) == "nothing secret"


def _tasks(items):
    for task in items or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


@pytest.mark.parametrize("playbook", ["molecule/default/failover.yml", "molecule/default/operations.yml",
                                      "molecule/default/vip.yml", "playbooks/drill.yml"])
def test_playbooks_hand_the_tools_their_secrets_off_every_command_line(playbook):
    """Not in a DSN, not in `environment:` (Ansible makes it a VAR=value prefix of a `sh -c` command)."""
    yaml = pytest.importorskip("yaml")
    text = (Path(__file__).resolve().parents[2] / playbook).read_text()
    # postgres://user:secret@ or postgres://user:' ~ some_password ~ '@
    assert not re.search(r"postgres://[^@/\s'\"]*:(?:[^@\s'\"]*@|['\"])", text), "a password in a DSN"
    for play in yaml.safe_load(text):
        for task in _tasks(play.get("tasks")):
            env = task.get("environment") or {}
            assert not any("PASSWORD" in k or "AUTH" in k for k in env), task.get("name")
            command = task.get("ansible.builtin.command")
            if isinstance(command, dict) and "stdin" in command:
                assert task.get("no_log") is True, task.get("name")  # stdin is among the module's arguments


# -- the drill's Patroni calls, through the shared client, against a fake Patroni --
@pytest.fixture
def fake_cluster():
    from fake_patroni import FakePatroni

    fake = FakePatroni(switch_delay=0.1)
    yield fake
    fake.close()


def test_cluster_view_skips_a_dead_member_and_none_when_nobody_answers(fake_cluster):
    from pgha_drill_lib import patroni_api

    patroni_api.use_patroni_ca(None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    view = patroni_api.cluster_view([dead] + fake_cluster.urls)
    assert [m["name"] for m in view["members"]] == ["pg-1", "pg-2", "pg-3"]
    assert patroni_api.cluster_view([dead]) is None


def test_member_status_reads_a_members_own_answer(fake_cluster):
    from pgha_drill_lib import patroni_api

    view = patroni_api.cluster_view(fake_cluster.urls)
    leader = next(m for m in view["members"] if m["role"] == "leader")
    status = patroni_api.member_status(patroni_api.member_url(leader, "/patroni"))
    assert status["role"] == "primary" and status["patroni"]["name"] == "pg-1"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert patroni_api.member_status(f"http://127.0.0.1:{s.getsockname()[1]}/patroni") is None


def test_switchover_needs_the_rest_credentials_and_reports_the_status(fake_cluster):
    from fake_patroni import PASSWORD, USER, wait_until
    from pgha_drill_lib import patroni_api

    view = patroni_api.cluster_view(fake_cluster.urls)
    leader = next(m for m in view["members"] if m["role"] == "leader")
    status, text = patroni_api.switchover(leader, "")
    assert status == 401 and "PGHA_PATRONI_AUTH" in text
    status, text = patroni_api.switchover(leader, f"{USER}:{PASSWORD}")
    assert status == 200 and "switched over" in text
    assert PASSWORD not in text
    assert wait_until(lambda: fake_cluster.leader() != "pg-1")
