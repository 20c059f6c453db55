"""tools/pgha_idle_cpu.py: CPU per command from two readings of /proc."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "pgha_idle_cpu", Path(__file__).resolve().parents[2] / "tools" / "pgha_idle_cpu.py")
idle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(idle)


def stat_line(pid, name, utime, stime, cutime, cstime):
    # Fields after the name: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt,
    # cmajflt, then utime stime cutime cstime.
    return f"{pid} ({name}) S 1 1 1 0 -1 4194560 10 20 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0"


def test_parse_stat_counts_own_and_reaped_children_time():
    # A name with spaces and parentheses, as the kernel writes it.
    assert idle.parse_stat(stat_line(42, "my (odd) name", 5, 3, 100, 7)) == ("my (odd) name", 115)


def test_label_keeps_the_program_not_its_options():
    assert idle.label("python3", "/usr/bin/python3\0/opt/bin/pgha_observer.py\0--etcd\0https://x\0") == \
        "python3          /usr/bin/python3 /opt/bin/pgha_observer.py"
    assert idle.label("keepalived", "/usr/sbin/keepalived\0--dont-fork\0") == \
        "keepalived       /usr/sbin/keepalived"
    assert idle.label("kworker/0:1", "") == "kworker/0:1"


def test_usage_over_processes_alive_at_both_readings():
    before = {"1": ("keepalived", 100), "2": ("patroni", 50), "3": ("gone", 10), "9": ("old", 5)}
    after = {"1": ("keepalived", 160), "2": ("patroni", 50), "4": ("new", 30), "9": ("reused pid", 80)}
    # 60 ticks at 100 Hz over 2 s: 30 % of a core. Unchanged, ended, new and reused pids do not count.
    assert idle.usage(before, after, seconds=2.0, hertz=100) == [("keepalived", 30.0)]


def test_snapshot_reads_a_proc_tree(tmp_path):
    for pid, name, cgroup in (("7", "etcd", "0::/docker/abc\n"), ("8", "sshd", "0::/\n")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "stat").write_text(stat_line(pid, name, 1, 2, 3, 4))
        (tmp_path / pid / "cmdline").write_bytes(f"/usr/bin/{name}\0".encode())
        (tmp_path / pid / "cgroup").write_text(cgroup)
    (tmp_path / "self").mkdir()
    assert idle.snapshot(str(tmp_path)) == {"7": ("etcd             /usr/bin/etcd", 10),
                                            "8": ("sshd             /usr/bin/sshd", 10)}
    assert list(idle.snapshot(str(tmp_path), containers_only=True)) == ["7"]
