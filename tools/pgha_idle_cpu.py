#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a running cluster's CPU goes while nobody uses it, per command, in % of one core.

    tools/pgha_idle_cpu.py [--seconds 60] [--containers-only] [--json]

Run on the host of the test containers (or on a node): it reads /proc twice,
`--seconds` apart, and sums per command the CPU time each process used in
between, its own and that of the children it reaped. A check that keepalived
starts every second, or a oneshot unit a timer starts, is therefore counted
under keepalived or systemd, not lost. Processes that started and ended
between the two readings count only through their parent.

With --containers-only, only processes in a Docker container's cgroup count
(the cluster under test, not the controller).
"""

import argparse
import json
import os
import sys
import time
from collections import Counter


def parse_stat(raw):
    """(command name, ticks used: utime + stime + cutime + cstime) of one /proc/PID/stat line."""
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    # fields[0] is the state (stat field 3); utime..cstime are stat fields 14-17.
    return name, sum(int(value) for value in fields[11:15])


def label(name, cmdline):
    """The command's name and its program (the script for an interpreter), options left out."""
    words = [word for word in cmdline.split("\0") if word]
    program = [word for word in words[:3] if not word.startswith("-")]
    return f"{name:16} {' '.join(program)[:80]}".rstrip()


def in_container(pid, root="/proc"):
    try:
        with open(f"{root}/{pid}/cgroup", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    return "docker" in text or "containerd" in text


def snapshot(root="/proc", containers_only=False):
    """{pid: (label, ticks)} of every readable process."""
    out = {}
    for pid in os.listdir(root):
        if not pid.isdigit() or (containers_only and not in_container(pid, root)):
            continue
        try:
            with open(f"{root}/{pid}/stat", encoding="utf-8") as f:
                name, ticks = parse_stat(f.read())
            with open(f"{root}/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
        except (OSError, ValueError):
            continue
        out[pid] = (label(name, cmdline), ticks)
    return out


def usage(before, after, seconds, hertz):
    """[(label, % of one core)], largest first, over the processes alive at both readings."""
    used = Counter()
    for pid, (what, ticks) in after.items():
        if pid in before and before[pid][0] == what and ticks > before[pid][1]:
            used[what] += ticks - before[pid][1]
    return [(what, 100.0 * ticks / hertz / seconds) for what, ticks in used.most_common()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to measure")
    parser.add_argument("--containers-only", action="store_true", help="count container processes only")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--top", type=int, default=20, help="rows to print")
    args = parser.parse_args(argv)
    hertz = os.sysconf("SC_CLK_TCK")
    before, started = snapshot(containers_only=args.containers_only), time.monotonic()
    time.sleep(args.seconds)
    after, seconds = snapshot(containers_only=args.containers_only), time.monotonic() - started
    rows = usage(before, after, seconds, hertz)
    total = sum(percent for _what, percent in rows)
    if args.json:
        json.dump({"seconds": round(seconds, 1), "total_percent": round(total, 1),
                   "rows": [{"command": what, "percent": round(p, 1)} for what, p in rows[:args.top]]},
                  sys.stdout, indent=2)
        print()
        return 0
    for what, percent in rows[:args.top]:
        if percent >= 0.1:
            print(f"{percent:6.1f} %  {what}")
    print(f"{total:6.1f} %  in all, over {seconds:.0f} s (100 % is one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
