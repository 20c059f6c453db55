#!/usr/bin/env python3
# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: failover drills on the sandbox for several timing configurations, side by side.

For every configuration (a pg_rto preset, applied to the live sandbox with
playbooks/pgsql.yml -e pg_rto=NAME) every scenario runs --repeat times through
tools/pgha_drill.py; the table gives per scenario the median and max write
outage, the ratio of the median to the baseline's, and the acknowledged
commits lost. With pgbouncer on the sandbox (its inventory turns it on) the
drills write through it, and the crash and switchover drills also run through
HAProxy straight to PostgreSQL (the default service, 5436): rows "<preset>,
5436 (no pgbouncer)". Also measured in the same run: a cold `make sandbox`
deploy, the duration and changed count of a deploy re-run, pgbench TPS through
HAProxy against direct connections to the primary, and through pgbouncer
against HAProxy straight to PostgreSQL (with a new connection per transaction
too).

Results go to --out (default bench-results/<UTC time>/): results.jsonl (one
drill per line, appended as it finishes), one JSON/Markdown/SVG per drill and
summary.md. The sandbox is left on the inventory's own preset (with --no-apply, as it was).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

# The collection's own preset table and Patroni client, not installed packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))
from ansible_collections.pgha.cloud.plugins.module_utils import patroni_core, pgbouncer, presets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories" / "sandbox"
CLUSTER = "pg-test"
SCENARIOS = ("crash", "partition", "switchover", "postmaster-kill", "patroni-stop", "patroni-freeze",
             "etcd-member-loss", "etcd-quorum-loss")
# norm is the collection's default preset (presets.DEFAULT_RTO), fast the
# sandbox's, patroni Patroni's stock timings: the baseline. NAME+observers
# runs the preset with the observers (pgha-observer); a bare name without them.
OBSERVERS = "+observers"
CONFIGS = ("norm", "fast", "fast" + OBSERVERS, "patroni")
BASELINE = "patroni"
# With pgbouncer on the sandbox the drills write through it (5433); these also
# run through HAProxy straight to PostgreSQL (the default service, 5436).
BOTH_PATHS = ("crash", "switchover")
PRIMARY_PORT, DEFAULT_PORT = 5433, 5436


def preset_of(config):
    """The pg_rto preset of a configuration name ('fast+observers' -> 'fast')."""
    return config[:-len(OBSERVERS)] if config.endswith(OBSERVERS) else config


def config_extra_vars(config):
    """ansible-playbook arguments that put the sandbox on `config`.

    The baseline is stock Patroni, so it also runs without the collection's
    etcd leader placement (patroni_etcd_leader_elsewhere); only NAME+observers
    runs the observers.
    """
    # JSON, so that the flags arrive as booleans, not as the string "false".
    flags = json.dumps({"patroni_etcd_leader_elsewhere": config != BASELINE,
                        "patroni_observer_enabled": config.endswith(OBSERVERS)})
    return ["-e", f"pg_rto={preset_of(config)}", "-e", flags]


def say(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- pure helpers

def passwords(common):
    """The secret values among the sandbox's variables (every *_password)."""
    return [str(v) for k, v in common.items() if k.endswith("_password") and v]


def scrub(text, secrets):
    """`text` with every secret value masked: sub-process output goes into results files and messages."""
    for value in secrets:
        text = text.replace(value, "********")
    return text


def recap_changed(output):
    """Sum of changed= over the PLAY RECAP lines of an ansible-playbook run."""
    recap = output.split("PLAY RECAP", 1)[-1] if "PLAY RECAP" in output else ""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", recap))


def pgbench_tps(output):
    """TPS figure from pgbench's report (the line 'tps = N (without initial connection time)')."""
    m = re.search(r"^tps = ([0-9.]+)", output, re.M)
    return float(m.group(1)) if m else None


def pgbench_connect_ms(output):
    """Connection set-up from pgbench -C's report ('average connection time = N ms')."""
    m = re.search(r"^average connection time = ([0-9.]+) ms", output, re.M)
    return float(m.group(1)) if m else None


def routed_s(result):
    """When the last entry point routed to the new primary (max of routed_after_s); None if one never did."""
    routed = result.get("routed_after_s") or []
    if not routed or any(t is None for t in routed):
        return None
    return max(routed)


def summarise(results, baseline=BASELINE, exclude=()):
    """Rows per (scenario, config): runs, median/max outage, ratio to the baseline's median, lost.

    A drill that never saw writes resume has no outage figure; it is counted
    in `failed` and left out of the statistics. A drill that started on a
    cluster that was not whole (healthy_at_start false, or its label in
    `exclude`) measured something else: it is counted in `not_whole` and left
    out of the timings; its lost commits and overlaps still count. A drill
    that stopped before injecting its fault is counted in `not_started` only.
    """
    groups, every, not_whole, not_started = {}, {}, {}, {}
    for r in results:
        key = (r["scenario"], r["config"])
        groups.setdefault(key, [])
        every.setdefault(key, []).append(r)
        if "fault_at" not in r:  # the drill stopped before its fault (its error is in the result)
            not_started[key] = not_started.get(key, 0) + 1
        elif r.get("healthy_at_start") is False or r.get("label") in exclude:
            not_whole[key] = not_whole.get(key, 0) + 1
        else:
            groups[key].append(r)
    medians = {}
    rows = []
    for (scenario, config), runs in groups.items():
        outages = [r["write_outage_s"] for r in runs if r.get("write_outage_s") is not None]
        leaders = [r["new_leader_after_s"] for r in runs if r.get("new_leader_after_s") is not None]
        routed = [t for t in (routed_s(r) for r in runs) if t is not None]
        reads = [r["reads"]["outage_s"] for r in runs if (r.get("reads") or {}).get("outage_s") is not None]
        all_runs = every[(scenario, config)]
        ranked = sorted((r for r in runs if r.get("write_outage_s") is not None),
                        key=lambda r: r["write_outage_s"])
        row = {
            "scenario": scenario, "config": config, "runs": len(runs),
            "not_whole": not_whole.get((scenario, config), 0),
            "not_started": not_started.get((scenario, config), 0),
            # the run a timeline should show: the median one (the lower of the two middle ones)
            "median_run": ranked[(len(ranked) - 1) // 2].get("label") if ranked else None,
            "failed": len(runs) - len(outages),
            "median_s": round(statistics.median(outages), 2) if outages else None,
            "max_s": round(max(outages), 2) if outages else None,
            "new_leader_median_s": round(statistics.median(leaders), 2) if leaders else None,
            "routed_median_s": round(statistics.median(routed), 2) if routed else None,
            "read_outage_median_s": round(statistics.median(reads), 2) if reads else None,
            "lost": sum(r.get("lost") or 0 for r in all_runs),
            "warned": sum(r.get("warned_commits") or 0 for r in all_runs),
            "overlaps": sum(len(r.get("overlap_pairs") or []) for r in all_runs),
            "rest_overlaps": sum(len(r.get("rest_primary_overlaps") or []) for r in all_runs),
            "inside_acks": sum(r.get("inside_acks_after_fault") or 0 for r in all_runs),
        }
        medians[(scenario, config)] = row["median_s"]
        rows.append(row)
    for row in rows:
        base = medians.get((row["scenario"], baseline))
        row["ratio"] = round(row["median_s"] / base, 2) if base and row["median_s"] is not None else None
    order = {s: i for i, s in enumerate(SCENARIOS)}
    rows.sort(key=lambda r: (order.get(r["scenario"], 99), r["config"]))
    return rows


def table(rows):
    """The summary rows as a Markdown table."""
    def f(v, unit=""):
        return "—" if v is None else f"{v}{unit}"
    out = ["| scenario | config | runs | median outage | max outage | ratio to baseline "
           "| new leader (median) | routed (median) | read outage (median) | lost | warned | two primaries |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        runs = f"{r['runs']}" + (f" ({r['failed']} without recovery)" if r["failed"] else "")
        if r.get("not_whole"):
            runs += f" (+{r['not_whole']} left out: cluster not whole at the start)"
        if r.get("not_started"):
            runs += f" (+{r['not_started']} stopped before the fault)"
        two = ("none" if not (r["overlaps"] or r.get("rest_overlaps"))
               else f"{r['overlaps']} by commits, {r.get('rest_overlaps', 0)} by REST")
        out.append(f"| {r['scenario']} | {r['config']} | {runs} | {f(r['median_s'], ' s')} "
                   f"| {f(r['max_s'], ' s')} | {f(r['ratio'], '×')} | {f(r['new_leader_median_s'], ' s')} "
                   f"| {f(r.get('routed_median_s'), ' s')} | {f(r.get('read_outage_median_s'), ' s')} "
                   f"| {r['lost']} | {r['warned']} | {two} |")
    return "\n".join(out) + "\n"


def dcs_mismatches(dcs_config, preset):
    """Timing keys where Patroni's dynamic configuration differs from a preset: ["key: dcs != preset"]."""
    plan = presets.RTO_PLANS[preset]
    return [f"{key}: {dcs_config.get(key)} != {plan[key]}" for key in ("ttl", "loop_wait", "retry_timeout")
            if dcs_config.get(key) != plan[key]]


def report(results, meta=None, exclude=()):
    """The Markdown summary: the table, then deploy timings and pgbench figures from meta."""
    meta = meta or {}
    extra = []
    for key, label in (("cold_sandbox_s", "cold `make sandbox`"), ("rerun_s", "deploy re-run")):
        if key in meta:
            extra.append(f"- {label}: {meta[key]} s" + (f", changed={meta['rerun_changed']}"
                                                        if key == "rerun_s" else ""))
    for mode, fig in (meta.get("pgbench") or {}).items():
        rounds = f" ({fig['rounds']} paired rounds, median)" if "rounds" in fig else ""
        if "tls_ms" in fig:
            plain = f"{fig['plaintext_ms']} ms" if fig["plaintext_ms"] is not None else "refused"
            extra.append(f"- {mode} through HAProxy (pgbench -C): TLS {fig['tls_ms']} ms, plaintext {plain}"
                         f"{rounds}")
            continue
        if "pgbouncer_tps" in fig:
            extra.append(f"- {mode}: pgbouncer (5433) {fig['pgbouncer_tps']} TPS, PostgreSQL through HAProxy "
                         f"(5436) {fig['postgres_tps']} TPS, ratio {fig['ratio']}{rounds}")
            continue
        extra.append(f"- pgbench {mode}: HAProxy {fig['haproxy_tps']} TPS, direct {fig['direct_tps']} TPS, "
                     f"ratio {fig['ratio']}{rounds}")
    for key in ("load_at_start", "load_at_end"):
        if meta.get(key):
            extra.append(f"- {key.replace('_', ' ')}: " + " / ".join(f"{v:.1f}" for v in meta[key]))
    text = table(summarise(results, exclude=exclude)) if results else ""
    return text + ("\n" if text and extra else "") + ("\n".join(extra) + "\n" if extra else "")


def read_results(paths):
    """Drill results from results.jsonl files, and the meta.json found beside the first one."""
    results, meta = [], {}
    for path in map(Path, paths):
        with open(path) as fh:
            results += [json.loads(line) for line in fh if line.strip()]
        if not meta and (path.parent / "meta.json").exists():
            meta = json.loads((path.parent / "meta.json").read_text())
    return results, meta


# ---------------------------------------------------------------- the sandbox

def sandbox_vars():
    with open(INVENTORY / "group_vars" / "all.yml") as fh:
        common = yaml.safe_load(fh)
    with open(INVENTORY / "hosts.yml") as fh:
        hosts = yaml.safe_load(fh)["all"]["children"][CLUSTER]["hosts"]
    return common, sorted(hosts)


def observers_active():
    """Whether pgha-observer runs on the sandbox's members: all (True), none (False), or some (None)."""
    with open(INVENTORY / "hosts.yml") as fh:
        members = yaml.safe_load(fh)["all"]["children"][CLUSTER]["hosts"]
    states = set()
    for address, host_vars in members.items():
        container = (host_vars or {}).get("ansible_host", address)
        res, _took = run(["docker", "exec", container, "systemctl", "is-active", "pgha-observer"])
        states.add(res.stdout.strip() == "active")
    return states.pop() if len(states) == 1 else None


def sandbox_pooled():
    """Whether the sandbox's primary service leads to pgbouncer (pgbouncer_enabled in its inventory)."""
    with open(INVENTORY / "hosts.yml") as fh:
        cluster_vars = yaml.safe_load(fh)["all"]["children"][CLUSTER].get("vars") or {}
    return pgbouncer.service_dest({"h": cluster_vars}, "h") == "pgbouncer"


def run(argv, **kw):
    started = time.time()
    res = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False, **kw)
    return res, round(time.time() - started, 1)


def playbook(name, *extra, hide=()):
    ansible_playbook = str(Path(sys.executable).parent / "ansible-playbook")
    res, took = run([ansible_playbook, "-i", str(INVENTORY), str(ROOT / "playbooks" / name), *extra])
    if res.returncode != 0:
        tail = scrub("\n".join((res.stdout + res.stderr).splitlines()[-30:]), hide)
        raise SystemExit(f"{name} {' '.join(extra)} failed after {took} s:\n{tail}")
    return took, recap_changed(res.stdout)


def patroni(hosts):
    """The sandbox's Patroni REST API: one try per member, the first that answers."""
    # The REST API serves HTTPS with certificates of the sandbox's CA (pki role).
    transport = patroni_core.stdlib_transport(ca_file=str(INVENTORY / ".pki" / "ca.crt"))
    return patroni_core.PatroniClient([f"https://{h}:8008" for h in hosts], transport, timeout=2, retries=0)


def cluster(hosts):
    """GET /cluster from the first member that answers; None if none does."""
    try:
        return patroni(hosts).cluster()
    except patroni_core.PatroniError:
        return None


def rest_config(hosts):
    """Patroni's dynamic configuration (GET /config)."""
    try:
        return patroni(hosts).config()
    except patroni_core.PatroniError as e:
        raise SystemExit(e.message) from None


def wait_healthy(hosts, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        view = cluster(hosts) or {}
        members = view.get("members", [])
        leader_up = any(m["role"] == "leader" and m["state"] == "running" for m in members)
        if (len(members) == len(hosts) and leader_up
                and all(m["state"] in ("running", "streaming") for m in members)
                and any(m["role"] == "sync_standby" for m in members)):
            return view
        time.sleep(2)
    raise SystemExit(f"the sandbox was not healthy within {timeout} s: {view}")


def pgbench(host, port, password, seconds, select_only, sslmode="require", connect=False):
    env = dict(os.environ, PGPASSWORD=password, PGSSLMODE=sslmode)
    argv = ["pgbench", "-h", host, "-p", str(port), "-U", "dbadmin", "-c", "4", "-j", "2", "-T", str(seconds),
            "-n"] + (["-S"] if select_only else []) + (["-C"] if connect else []) + ["pgha_bench"]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    return pgbench_tps(res.stdout)


def compare_tps(direct, proxied, names=("direct", "haproxy")):
    """Paired pgbench rounds -> medians and the median of the per-round proxied/direct ratios.

    Each round ran both paths back to back, so a round's ratio sees the same
    background load on both sides; the median of those ratios is less
    sensitive to a load that drifts between rounds than a ratio of means.
    Rounds where either run gave no figure are left out. `names` label the
    two paths in the result (`<name>_tps`).
    """
    first, second = names
    pairs = [(d, h) for d, h in zip(direct, proxied) if d and h]
    if not pairs:
        return {f"{first}_tps": None, f"{second}_tps": None, "ratio": None, "rounds": 0,
                "runs": {first: direct, second: proxied}}
    return {f"{first}_tps": round(statistics.median(d for d, _h in pairs), 1),
            f"{second}_tps": round(statistics.median(h for _d, h in pairs), 1),
            "ratio": round(statistics.median(h / d for d, h in pairs), 3),
            "rounds": len(pairs), "runs": {first: direct, second: proxied}}


def paired_runs(leader, password, seconds, rounds, ports, select_only, sslmode, connect=False):
    """{port: [TPS per round]} for two ports run back to back, the order flipping every round."""
    runs = {port: [] for port in ports}
    for i in range(rounds):  # neither path always goes first
        for port in (ports if i % 2 == 0 else tuple(reversed(ports))):
            runs[port].append(pgbench(leader, port, password, seconds, select_only, sslmode, connect))
    return runs


def bench_tps(leader, password, seconds, rounds=3, pooled=False):
    """pgbench through the leader's HAProxy and direct (5432), in paired rounds, same run.

    Each mode runs over TLS and then in plaintext (the bench admits it with
    pg_tls: prefer for this step), so that the cost of TLS and the cost of the
    proxy can be told apart in one run. HAProxy's figures are taken on the
    service that leads to PostgreSQL itself: the primary service (5433), or
    the default service (5436) when the primary one leads to pgbouncer. Then
    pgbouncer (5433) is compared with that path, with the same connections
    (tpcb-like) and with a new connection per transaction (-C, select-only),
    where a pooler earns its keep.
    """
    env = dict(os.environ, PGPASSWORD=password)
    base = ["-h", leader, "-U", "dbadmin"]
    psql = ["psql", *base, "-p", "5432", "-d", "postgres", "-qc"]
    subprocess.run(psql + ["DROP DATABASE IF EXISTS pgha_bench WITH (FORCE)"], env=env, check=True,
                   capture_output=True)
    subprocess.run(psql + ["CREATE DATABASE pgha_bench"], env=env, check=True, capture_output=True)
    subprocess.run(["pgbench", *base, "-p", "5432", "-i", "-s", "5", "-q", "pgha_bench"], env=env, check=True,
                   capture_output=True)
    haproxy_port = DEFAULT_PORT if pooled else PRIMARY_PORT
    out = {}
    for mode, select_only in (("read-write (TPC-B-like)", False), ("select-only", True)):
        for sslmode, label in (("require", "TLS"), ("disable", "plaintext")):
            runs = paired_runs(leader, password, seconds, rounds, (5432, haproxy_port), select_only, sslmode)
            out[f"{mode}, {label}"] = compare_tps(runs[5432], runs[haproxy_port])
    out["connection set-up"] = bench_connect(leader, password, seconds, rounds, haproxy_port)
    if pooled:
        for mode, select_only, connect in (("read-write (TPC-B-like)", False, False),
                                           ("new connection per transaction (-C, select-only)", True, True)):
            for sslmode, label in (("require", "TLS"), ("disable", "plaintext")):
                runs = paired_runs(leader, password, seconds, rounds, (DEFAULT_PORT, PRIMARY_PORT),
                                   select_only, sslmode, connect)
                out[f"pgbouncer, {mode}, {label}"] = compare_tps(runs[DEFAULT_PORT], runs[PRIMARY_PORT],
                                                                 ("postgres", "pgbouncer"))
    subprocess.run(psql + ["DROP DATABASE pgha_bench WITH (FORCE)"], env=env, capture_output=True,
                   check=False)
    return out


def compare_connect(tls, plain):
    """Paired rounds of connection set-up (ms) -> medians; plaintext None where the server refused it."""
    tls_ok = [t for t in tls if t]
    plain_ok = [p for p in plain if p]
    return {"tls_ms": round(statistics.median(tls_ok), 2) if tls_ok else None,
            "plaintext_ms": round(statistics.median(plain_ok), 2) if plain_ok else None,
            "rounds": len(tls), "runs": {"tls": tls, "plaintext": plain}}


def bench_connect(leader, password, seconds, rounds=3, port=PRIMARY_PORT):
    """A new connection per transaction (pgbench -C -S) through the leader's HAProxy, TLS and plaintext.

    Plaintext is only admitted with pg_tls: prefer (the bench sets it for this
    step); the order flips every round.
    """
    runs = {"require": [], "disable": []}
    for i in range(rounds):
        for sslmode in (("require", "disable") if i % 2 == 0 else ("disable", "require")):
            env = dict(os.environ, PGPASSWORD=password, PGSSLMODE=sslmode)
            argv = ["pgbench", "-h", leader, "-p", str(port), "-U", "dbadmin", "-C", "-S", "-c", "2",
                    "-j", "2", "-T", str(seconds), "-n", "pgha_bench"]
            res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            runs[sslmode].append(pgbench_connect_ms(res.stdout))
    return compare_connect(runs["require"], runs["disable"])


def drill_env(secrets, environ=None):
    """The drill's environment: the secrets go there, never on its command line (`ps` shows that)."""
    user = secrets.get("patroni_rest_username", "patroni")
    return dict(os.environ if environ is None else environ, PGPASSWORD=str(secrets["pg_admin_password"]),
                PGHA_PATRONI_AUTH=f"{user}:{secrets['patroni_rest_password']}")


def drill(scenario, config, rep, hosts, secrets, out, port=PRIMARY_PORT):
    """One drill, its writers through `port` of the other nodes' HAProxy (the primary service by default).

    The drill's own database work goes through the default service (5436),
    which leads to PostgreSQL itself whatever the primary service leads to.
    """
    view = wait_healthy(hosts)
    leader = next(m for m in view["members"] if m["role"] == "leader")
    # Clients outside the fault: the other nodes' HAProxy (the leader's own is
    # the isolated side's entry point in a partition, and dies with it in a crash).
    others = [m["host"] for m in view["members"] if m["name"] != leader["name"]]
    dsns = [f"--dsn=postgres://dbadmin@{host}:{port}/postgres" for host in others]
    direct = port == DEFAULT_PORT
    label = f"{scenario}-{config}{'-direct' if direct else ''}-{rep}"
    env = drill_env(secrets)
    argv = [sys.executable, str(ROOT / "tools" / "pgha_drill.py"), "--confirm-cluster", CLUSTER,
            "--fault-kind", scenario, "--label", label, "--out", str(out / "drills"),
            "--patroni-ca", str(INVENTORY / ".pki" / "ca.crt"),
            f"--admin-dsn=postgres://dbadmin@{others[0]}:{DEFAULT_PORT}/postgres", *dsns]
    if scenario.startswith("etcd"):
        argv += ["--hold", "30"]
    started = time.time()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    try:
        result = json.loads(res.stdout)
    except ValueError:
        result = {"error": scrub((res.stderr or res.stdout)[-2000:], passwords(secrets))}
    result.pop("timeline", None)
    # The path is part of the configuration the table compares.
    result.update({"scenario": scenario, "config": f"{config}, 5436 (no pgbouncer)" if direct else config,
                   "port": port, "rep": rep, "leader_before": leader["name"],
                   "drill_s": round(time.time() - started, 1), "rc": res.returncode})
    with open(out / "results.jsonl", "a") as fh:
        fh.write(json.dumps(result, sort_keys=True) + "\n")
    say(f"{label}: outage {result.get('write_outage_s')} s, "
        f"new leader after {result.get('new_leader_after_s')} s, lost {result.get('lost')}, "
        f"warned {result.get('warned_commits')}, rc {res.returncode}")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help="pg_rto presets to compare (default %(default)s)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="fault kinds (default %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="runs per scenario and configuration (default 3)")
    p.add_argument("--rep-from", type=int, default=1,
                   help="number of the first run in the labels, to add runs to an earlier result (default 1)")
    p.add_argument("--skip-cold", action="store_true",
                   help="keep the running sandbox: no cold deploy measured")
    p.add_argument("--skip-pgbench", action="store_true")
    p.add_argument("--pgbench-seconds", type=int, default=15)
    p.add_argument("--pgbench-rounds", type=int, default=3,
                   help="paired rounds (direct and HAProxy back to back) per workload (default 3)")
    p.add_argument("--no-apply", action="store_true",
                   help="the sandbox already runs the one configuration named by --configs (checked "
                        "against Patroni's dynamic configuration): no playbook run before or after")
    p.add_argument("--pgbench-only", action="store_true",
                   help="measure pgbench only: no configuration change, no drill")
    p.add_argument("--out", help="result directory (default bench-results/<UTC time>)")
    p.add_argument("--summarise", nargs="+", metavar="RESULTS_JSONL",
                   help="print the summary of earlier results.jsonl files and exit (no drill is run)")
    p.add_argument("--exclude", action="append", default=[], metavar="LABEL",
                   help="with --summarise: a drill known to have started on a cluster that was not whole")
    args = p.parse_args(argv)
    if args.summarise:
        print(report(*read_results(args.summarise), exclude=args.exclude), end="")
        return 0
    configs, scenarios = args.configs.split(","), args.scenarios.split(",")
    for s in scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    for c in configs:
        if preset_of(c) not in presets.RTO_PLANS:
            p.error(f"unknown configuration {c!r}; choose from {', '.join(presets.RTO_PLANS)}, "
                    f"each also with {OBSERVERS}")
    if args.no_apply and len(configs) != 1:
        p.error("--no-apply takes exactly one configuration: the one the sandbox runs")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out or ROOT / "bench-results" / stamp)
    out.mkdir(parents=True, exist_ok=True)
    secrets, hosts = sandbox_vars()
    pooled = sandbox_pooled()
    hide = passwords(secrets)
    meta = {"started": stamp, "cpus": os.cpu_count(), "kernel": os.uname().release,
            "load_at_start": os.getloadavg()}

    if not args.skip_cold:
        say("cold deploy: sandbox-clean, then scripts/sandbox.sh")
        run(["./scripts/sandbox-clean.sh"])
        res, took = run(["./scripts/sandbox.sh"])
        if res.returncode != 0:
            tail = "\n".join(res.stdout.splitlines()[-30:])
            raise SystemExit("scripts/sandbox.sh failed:\n" + scrub(tail, hide))
        meta["cold_sandbox_s"] = took
        say(f"cold sandbox in {took} s; deploy re-run")
        meta["rerun_s"], meta["rerun_changed"] = playbook("deploy.yml", hide=hide)
        say(f"re-run {meta['rerun_s']} s, changed={meta['rerun_changed']}")
    wait_healthy(hosts)

    if not args.skip_pgbench and shutil.which("pgbench"):
        # Plaintext clients only for this step, to compare throughput and
        # connection set-up with and without TLS in the same run; the drills'
        # pgsql.yml runs (or the one after --pgbench-only) put it back.
        playbook("pgsql.yml", "-e", "pg_tls=prefer", hide=hide)
        leader = next(m for m in wait_healthy(hosts)["members"] if m["role"] == "leader")
        say(f"pgbench through HAProxy{', pgbouncer' if pooled else ''} and direct on {leader['host']}")
        meta["pgbench"] = bench_tps(leader["host"], secrets["pg_admin_password"], args.pgbench_seconds,
                                    args.pgbench_rounds, pooled)
        meta["pgbench_settings"] = {"seconds": args.pgbench_seconds, "rounds": args.pgbench_rounds,
                                    "clients": 4, "threads": 2, "scale": 5, "load_after": os.getloadavg()}
        say(json.dumps(meta["pgbench"]))
    if args.pgbench_only:
        if "pgbench" in meta:
            playbook("pgsql.yml", hide=hide)  # TLS-only clients again (pg_tls from the inventory)
        (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        (out / "summary.md").write_text(report([], meta))
        print(report([], meta), end="")
        return 0

    results = []
    for config in configs:
        if args.no_apply:
            wrong = dcs_mismatches(rest_config(hosts), preset_of(config))
            running, wanted = observers_active(), config.endswith(OBSERVERS)
            if running is not wanted:
                found = {True: "on every member", False: "on no member", None: "on some members"}[running]
                wrong.append(f"pgha-observer runs {found}, {config} wants it "
                             f"{'on every member' if wanted else 'off'}")
            if wrong:
                raise SystemExit(f"the sandbox does not run {config}: {', '.join(wrong)}")
            meta.setdefault("apply_config", {})[config] = "not applied (--no-apply), DCS checked"
        else:
            took, changed = playbook("pgsql.yml", *config_extra_vars(config), hide=hide)
            meta.setdefault("apply_config", {})[config] = {"s": took, "changed": changed}
            say(f"config {config} applied in {took} s (changed={changed})")
        for scenario in scenarios:
            ports = [PRIMARY_PORT] + ([DEFAULT_PORT] if pooled and scenario in BOTH_PATHS else [])
            for port in ports:
                for rep in range(args.rep_from, args.rep_from + args.repeat):
                    results.append(drill(scenario, config, rep, hosts, secrets, out, port))
        (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if not args.no_apply:
        playbook("pgsql.yml", hide=hide)  # back to the inventory's own preset
    meta["load_at_end"] = os.getloadavg()
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    summary = report(results, meta)
    (out / "summary.md").write_text(summary)
    print(summary)
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
