# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drill's arithmetic, pure functions of what the clients and probes logged.

Write outage and recovery (analyse), read outage (analyse_reads), which
servers acknowledged when (server_intervals, overlaps), what Patroni's members
said they were (primary_runs, run_overlaps, transitions, leader_change), when
the entry points routed to the new primary (routed_at, connect_times), the
timeline's buckets, and the checks of a cluster view from GET /cluster
(leader_member, want_sync_of, cluster_healthy). Times are seconds since the epoch.
"""

import statistics

BUCKET_S = 0.1


def leader_member(view):
    """The member of GET /cluster holding the leader key (its entry, in any state), or None."""
    return next((m for m in (view or {}).get("members", []) if m.get("role") == "leader"), None)


def want_sync_of(view):
    """Whether the cluster runs a synchronous standby (then health needs one)."""
    return any(m.get("role") == "sync_standby" for m in (view or {}).get("members", []))


def cluster_healthy(view, expected_members, want_sync):
    """A running leader; every other member back and streaming on its timeline; a sync standby if wanted.

    "running" is not enough for a replica: an old primary demoted in place
    answers "running" on its old timeline until Patroni notices the
    divergence and stops it for pg_rewind, and a drill started then finds a
    member missing (or breaks the rewind by moving the leader).
    """
    members = (view or {}).get("members", [])
    leader = leader_member(view)
    if not leader or leader.get("state") != "running" or len(members) < expected_members:
        return False
    for m in members:
        if m is leader:
            continue
        if m.get("state") != "streaming":
            return False
        if leader.get("timeline") is not None and m.get("timeline") != leader.get("timeline"):
            return False
    return not want_sync or any(m.get("role") == "sync_standby" for m in members)


def _writer(entry):
    return entry[5] if len(entry) > 5 else 0


def _host(addr):
    return addr.split("/")[0] if addr else addr


def analyse(log, fault_at, new_server=True):
    """Write outage and recovery from the writers' log.

    new_server=True: recovery is the first commit acknowledged after the fault
    by a server other than the old primary. new_server=False (the same server
    may recover): the first acknowledgement a writer got after it had itself
    failed after the fault; no failure at all means the writes were never
    interrupted, and the outage is then the longest silence after the fault.
    The outage is the longest silence between consecutive acknowledgements
    from the last one before the fault up to recovery.
    """
    acks = sorted((e for e in log if e[0] == "ack"), key=lambda e: e[3])
    before = [e for e in acks if e[3] <= fault_at]
    old_servers = {e[4] for e in before[-20:]}
    if new_server:
        recovered = next((e for e in acks if e[3] > fault_at and e[4] not in old_servers), None)
    else:
        first_error = {}
        for e in sorted(log, key=lambda e: e[2]):
            if e[0] == "error" and e[2] > fault_at:
                first_error.setdefault(_writer(e), e[2])
        recovered = min((e for e in acks if _writer(e) in first_error and e[2] > first_error[_writer(e)]),
                        key=lambda e: e[3], default=None)
    start = before[-1][3] if before else fault_at
    if recovered is not None:
        end = recovered[3]
    elif not new_server and acks and not any(e[0] == "error" and e[2] > fault_at for e in log):
        end = acks[-1][3]  # never interrupted: the longest silence is the figure
    else:
        end = None
    result = {
        "acknowledged": len(acks),
        "warned_commits": sum(1 for e in log if e[0] == "warned"),
        "errors": sum(1 for e in log if e[0] == "error"),
        "interrupted": recovered is not None or end is None,
        "first_ack_after_fault": recovered[3] if recovered else None,
        "old_primaries": sorted(old_servers),
        "new_primary": recovered[4] if recovered else None,
        "last_ack_before_recovery": None,
        "write_outage_s": None,
    }
    if end is not None:
        times = [start] + [e[3] for e in acks if start < e[3] <= end]
        gaps = [(b - a, a) for a, b in zip(times, times[1:])] or [(0.0, start)]
        gap, gap_start = max(gaps)
        result["write_outage_s"] = round(gap, 3)
        result["last_ack_before_recovery"] = gap_start
    return result


def analyse_reads(log, fault_at, ended_at):
    """Read outage and who served the reads, from the readers' log (see Reader).

    The outage is the longest stretch without a successful read, from the last
    one before the fault to the moment the readers stopped (`ended_at`), so a
    read service that never came back shows the whole stretch with `resumed`
    False. Reads count as served by a replica when the server was in recovery;
    the others came from a primary: HAProxy's fallback when no replica passed
    its check, or a replica promoted under an open connection.
    """
    oks = sorted((e for e in log if e[0] == "ok"), key=lambda e: e[2])
    if not oks:
        return {"ok": 0, "errors": sum(1 for e in log if e[0] == "error"), "outage_s": None,
                "outage_from_s": None, "resumed": False, "before": {"replica": 0, "primary": 0},
                "after": {"replica": 0, "primary": 0}, "primary_after_s": None, "by_server": {}}
    before = [e for e in oks if e[2] <= fault_at]
    after = [e for e in oks if e[2] > fault_at]
    start = before[-1][2] if before else fault_at
    times = [start] + [e[2] for e in after] + [max(ended_at, start)]
    gap, gap_start = max((b - a, a) for a, b in zip(times, times[1:]))

    def roles(entries):
        replica = sum(1 for e in entries if e[4])
        return {"replica": replica, "primary": len(entries) - replica}

    by_server = {}
    for e in oks:
        by_server.setdefault(e[3], {"replica": 0, "primary": 0})["replica" if e[4] else "primary"] += 1
    on_primary = [e[2] for e in after if not e[4]]
    return {
        "ok": len(oks),
        "errors": sum(1 for e in log if e[0] == "error"),
        "outage_s": round(gap, 3),
        "outage_from_s": round(gap_start - fault_at, 3),
        "resumed": bool(after),
        "before": roles(before),
        "after": roles(after),
        # first and last read after the fault that a primary answered
        "primary_after_s": ([round(on_primary[0] - fault_at, 3), round(on_primary[-1] - fault_at, 3)]
                            if on_primary else None),
        "by_server": by_server,
    }


def server_intervals(log):
    """server -> [first ack, last ack] over every acknowledged commit."""
    spans = {}
    for e in log:
        if e[0] == "ack" and e[4]:
            first, last = spans.get(e[4], (e[3], e[3]))
            spans[e[4]] = (min(first, e[3]), max(last, e[3]))
    return spans


def overlaps(spans):
    """Pairs of servers whose acknowledgement spans overlap: [(a, b, seconds)], longest first.

    Two servers acknowledging writes in the same stretch of time means two
    writable primaries; a clean hand-over leaves the spans disjoint.
    """
    out = []
    names = sorted(spans)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            lo = max(spans[a][0], spans[b][0])
            hi = min(spans[a][1], spans[b][1])
            if hi > lo:
                out.append((a, b, round(hi - lo, 3)))
    return sorted(out, key=lambda o: -o[2])


def primary_runs(samples):
    """From RestPoller samples: member -> [(first, last), ...] stretches it answered as a running primary.

    A stretch ends at the member's next sample that is anything else (another
    role or state, or no answer), so a member that was primary before the
    fault and is primary again later has two stretches, not one span covering
    the time in between.
    """
    runs, current = {}, {}
    for at, name, role, state, _tl in sorted(samples):
        if role in ("primary", "master") and state == "running":
            first, _last = current.get(name, (at, at))
            current[name] = (first, at)
        elif name in current:
            runs.setdefault(name, []).append(current.pop(name))
    for name, span in current.items():
        runs.setdefault(name, []).append(span)
    return runs


def run_overlaps(runs):
    """Pairs of members whose primary stretches overlap: [(a, b, seconds)], longest first."""
    out = []
    names = sorted(runs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            total = sum(max(0.0, min(a_hi, b_hi) - max(a_lo, b_lo))
                        for a_lo, a_hi in runs[a] for b_lo, b_hi in runs[b])
            if total > 0:
                out.append((a, b, round(total, 3)))
    return sorted(out, key=lambda o: -o[2])


def transitions(samples, since):
    """Each member's changes of (role, state), in seconds from `since`: [[t, name, role, state, timeline]]."""
    last, out = {}, []
    for at, name, role, state, tl in sorted(samples):
        if last.get(name) != (role, state):
            last[name] = (role, state)
            out.append([round(at - since, 2), name, role, state, tl])
    return out


def leader_change(samples, fault_at, old_leader, same_ok=False):
    """First time after the fault that a member other than the old leader says it is a running primary.

    With same_ok, the old leader counts too once it answered as anything but
    a running primary after the fault (a postmaster restarted in place). A
    poll it did not answer in time does not count: on a loaded machine that
    happens to a healthy leader too.
    """
    seen_down = False
    for at, name, role, state, _tl in sorted(samples):
        if at <= fault_at:
            continue
        running_primary = role in ("primary", "master") and state == "running"
        if name == old_leader and role is not None and not running_primary:
            seen_down = True
        if running_primary and (name != old_leader or (same_ok and seen_down)):
            return at, name
    return None, None


def routed_at(probe_samples, fault_at, server, n_entries):
    """Per entry point: first probe after the fault that landed on `server` as a primary.

    When the entry point failed after the fault, only probes after its first
    failure count: a server that recovers in place answered before it broke too.
    """
    out = []
    for i in range(n_entries):
        mine = [s for s in sorted(probe_samples) if s[1] == i and s[0] > fault_at]
        failed = next((s[0] for s in mine if s[2] is None), fault_at)
        hit = next((at for at, _idx, took, srv, rec in mine if at > failed and took is not None
                    and _host(srv) == _host(server) and rec is False), None)
        out.append(hit)
    return out


def connect_times(probe_samples, lo, hi):
    """Median and max set-up time (s) of successful probe connections in [lo, hi)."""
    took = [s[2] for s in probe_samples if lo <= s[0] < hi and s[2] is not None]
    if not took:
        return None
    return {"median_ms": round(statistics.median(took) * 1000, 1), "max_ms": round(max(took) * 1000, 1),
            "n": len(took)}


def buckets(times, t0, t1, width=BUCKET_S):
    """Counts of `times` per `width` seconds from t0 to t1."""
    n = max(1, int(round((t1 - t0) / width, 6)) + 1)  # round: 1.4 / 0.1 is 13.999...
    counts = [0] * n
    for t in times:
        if t0 <= t <= t1:
            counts[min(n - 1, int((t - t0) / width))] += 1
    return counts


def drill_figures(writes, inside, reads, rest, probes, held_ids, *, fault_at, injected_at, healed_at,
                  ended_at, steady, need_new, leader, members, n_entries):
    """Every figure of one drill, from its logs: analyse()'s result and more.

    writes, inside and reads are the logs of the writers, of the writer on
    the isolated side (None when none ran) and of the readers (None when
    none ran); rest and probes the samples of RestPoller and EntryProbe.
    held_ids are the ids the primary holds at the end. Times are seconds
    since the epoch: the fault (fault_at), the end of its injection, its
    healing (None when nothing was undone) and the writers' end; `steady`
    seconds of writes came before the fault. need_new: the fault must move
    the leader (see analyse). leader is the member that led at the start,
    members every member of that view, n_entries the number of entry points.
    """
    inside_log = inside or []
    result = analyse(writes, fault_at, new_server=need_new)
    all_log = writes + inside_log
    acked_ids = {e[1] for e in all_log if e[0] == "ack"}
    lost = acked_ids - held_ids
    spans = server_intervals(all_log)
    rest_spans = primary_runs(rest)
    new_at, new_name = (leader_change(rest, fault_at, leader["name"], same_ok=not need_new)
                        if leader else (None, None))
    new_server = result["new_primary"]
    if new_server is None and new_name:
        new_server = next((m["host"] for m in members if m["name"] == new_name), None)
    # Where the same leader may stay (etcd faults), routing is only measured
    # after Patroni was seen restarting it: a probe that failed under load
    # is no re-route.
    routed = (routed_at(probes, fault_at, new_server, n_entries)
              if new_server and (need_new or new_name) else [])
    # "after" starts once clients were routed again, or, for a fault the
    # writes rode out (etcd), once it was healed.
    settled_from = max([t for t in routed if t]
                       or [result["first_ack_after_fault"] or healed_at or ended_at])
    result.update({
        "fault_at": fault_at,
        "fault_injected_s": round(injected_at - fault_at, 3),
        "healed_after_s": round(healed_at - fault_at, 3) if healed_at else None,
        "new_leader": new_name,
        "new_leader_after_s": round(new_at - fault_at, 3) if new_at else None,
        "routed_after_s": [round(t - fault_at, 3) if t else None for t in routed],
        "connect_before": connect_times(probes, fault_at - steady, fault_at),
        "connect_after": connect_times(probes, settled_from, ended_at + 1),
        "inside_acks_after_fault": (sum(1 for e in inside_log if e[0] == "ack" and e[3] > fault_at)
                                    if inside is not None else None),
        "inside_warned": sum(1 for e in inside_log if e[0] == "warned") if inside is not None else None,
        "lost_ids": sorted(lost)[:100],
        "lost": len(lost),
        "server_spans": {k: [round(v[0] - fault_at, 3), round(v[1] - fault_at, 3)]
                         for k, v in spans.items()},
        "overlap_pairs": [list(o) for o in overlaps(spans)],
        "rest_primary_overlaps": [list(o) for o in run_overlaps(rest_spans)],
        "rest_primary_spans": {k: [[round(a - fault_at, 2), round(b - fault_at, 2)] for a, b in v]
                               for k, v in rest_spans.items()},
        "rest_transitions": transitions(rest, fault_at),
        "reads": analyse_reads(reads, fault_at, ended_at) if reads is not None else None,
    })
    t0 = -steady
    t1 = ended_at - fault_at
    result["timeline"] = {
        "bucket_s": BUCKET_S, "from_s": t0,
        "outside": buckets([e[3] - fault_at for e in writes if e[0] == "ack"], t0, t1),
        "inside": (buckets([e[3] - fault_at for e in inside_log if e[0] == "ack"], t0, t1)
                   if inside is not None else None),
        "reads_replica": (buckets([e[2] - fault_at for e in reads if e[0] == "ok" and e[4]], t0, t1)
                          if reads is not None else None),
        "reads_primary": (buckets([e[2] - fault_at for e in reads if e[0] == "ok" and not e[4]], t0, t1)
                          if reads is not None else None),
    }
    return result
