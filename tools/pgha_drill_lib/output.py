# Copyright: contributors to pgha.cloud
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a drill leaves behind: <label>.json, a Markdown summary <label>.md and a timeline <label>.svg."""

import json

from .analysis import BUCKET_S


def _esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timeline_svg(series, marks, t0, title, width=900, height=320, bucket=BUCKET_S, lane_titles=None):
    """An SVG bar chart of counts per bucket with vertical event marks.

    series: [(label, colour, counts)] or [(label, colour, counts, lane)],
    counts per bucket from t0. Lanes (0, 1, ...) are drawn one above the
    other, each with its own scale (commits and reads differ tenfold);
    lane_titles name their y axes. marks: [(label, seconds from t0, colour)],
    drawn across every lane.
    """
    lanes = sorted({s[3] if len(s) > 3 else 0 for s in series}) or [0]
    titles = list(lane_titles or []) + [f"commits per {int(bucket * 1000)} ms"] * len(lanes)
    lane_gap = 14
    left, right, top, bottom = 55, 15, 40, 45
    height += (len(lanes) - 1) * 150
    plot_w, plot_h = width - left - right, height - top - bottom
    lane_h = (plot_h - lane_gap * (len(lanes) - 1)) / len(lanes)
    n = max((len(s[2]) for s in series), default=1) or 1
    span = n * bucket

    def x_of(s):  # the local time scale
        return left + plot_w * (s / span)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="13" font-weight="bold">{_esc(title)}</text>']
    bar_w = plot_w / n
    for li, lane in enumerate(lanes):
        mine = [s for s in series if (s[3] if len(s) > 3 else 0) == lane]
        peak = max((max(s[2]) for s in mine if s[2]), default=0) or 1
        y0 = top + li * (lane_h + lane_gap)  # top of this lane
        base = y0 + lane_h
        out += [f'<line x1="{left}" y1="{base:.1f}" x2="{left + plot_w}" y2="{base:.1f}" stroke="#333"/>',
                f'<line x1="{left}" y1="{y0:.1f}" x2="{left}" y2="{base:.1f}" stroke="#333"/>',
                f'<text x="{left - 6}" y="{y0 + 4:.1f}" text-anchor="end">{peak}</text>',
                f'<text x="{left - 6}" y="{base:.1f}" text-anchor="end">0</text>',
                f'<text transform="translate(14 {y0 + lane_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
                f'{_esc(titles[li])}</text>']
        for k, (label, colour, counts, *_lane) in enumerate(mine):
            for i, c in enumerate(counts):
                if c:
                    h = lane_h * c / peak
                    out.append(f'<rect x="{left + i * bar_w:.2f}" y="{base - h:.2f}" '
                               f'width="{max(bar_w, 0.6):.2f}" height="{h:.2f}" fill="{colour}" '
                               'fill-opacity="0.8"/>')
            out.append(f'<rect x="{left + plot_w - 190}" y="{y0 + 4 + 14 * k:.1f}" width="10" height="10" '
                       f'fill="{colour}"/>')
            out.append(f'<text x="{left + plot_w - 175}" y="{y0 + 13 + 14 * k:.1f}">{_esc(label)}</text>')
    bottom_y = top + plot_h
    step = 5 if span <= 60 else 10 if span <= 150 else 30
    for s in range(0, int(span) + 1, step):
        x = x_of(s)
        out.append(f'<line x1="{x:.1f}" y1="{bottom_y}" x2="{x:.1f}" y2="{bottom_y + 4}" '
                   'stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom_y + 16}" text-anchor="middle">{s + t0:g}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">'
               f's from the fault</text>')
    for k, (label, at, colour) in enumerate(marks):
        if at is None:
            continue
        x = x_of(at - t0)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom_y}" stroke="{colour}" '
                   f'stroke-width="1.5" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x + 3:.1f}" y="{top + 10 + 12 * (k % 4)}" fill="{colour}">'
                   f'{_esc(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown_summary(result):
    """A short Markdown report of one drill."""
    def fmt(v, unit=""):
        return "—" if v is None else f"{v}{unit}"
    conn_b, conn_a = result.get("connect_before") or {}, result.get("connect_after") or {}
    rows = [
        ("fault", f"`{result.get('fault_kind') or result.get('fault')}`"),
        ("write outage", fmt(result.get("write_outage_s"), " s")),
        ("time to new leader", fmt(result.get("new_leader_after_s"), " s")),
        ("entry points route to it",
         ", ".join(fmt(v, " s") for v in result.get("routed_after_s") or []) or "—"),
        ("connection set-up before / after", f"{fmt(conn_b.get('median_ms'), ' ms')} / "
                                             f"{fmt(conn_a.get('median_ms'), ' ms')} (median)"),
        ("acknowledged commits", fmt(result.get("acknowledged"))),
        ("acknowledged on the isolated side after the fault", fmt(result.get("inside_acks_after_fault"))),
        ("commits that returned with a WARNING (not counted)", fmt(result.get("warned_commits"))),
        ("acknowledged commits lost", fmt(result.get("lost"))),
        ("servers acknowledging in overlapping time", fmt(result.get("overlap_pairs") or "none")),
        ("members saying 'primary' at overlapping times", fmt(result.get("rest_primary_overlaps") or "none")),
        ("old → new primary",
         f"{', '.join(result.get('old_primaries') or [])} → {fmt(result.get('new_primary'))}"),
        ("restored and healthy after", fmt(result.get("restored_after_s"), " s")),
    ]
    rows[2:2] = read_rows(result.get("reads"))
    lines = [f"### {result.get('label', 'drill')}", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def read_rows(reads):
    """Markdown rows for the read probe (none when it did not run)."""
    if not reads:
        return []
    outage = "—" if reads.get("outage_s") is None else f"{reads['outage_s']} s"
    if reads.get("outage_s") is not None and not reads.get("resumed"):
        outage = f"≥ {outage} (no read succeeded after the fault)"
    before, after = reads.get("before") or {}, reads.get("after") or {}
    span = reads.get("primary_after_s")
    return [
        ("read outage (replica service)", outage),
        ("reads served by a replica / by a primary, before the fault",
         f"{before.get('replica', 0)} / {before.get('primary', 0)}"),
        ("reads served by a replica / by a primary, after the fault",
         f"{after.get('replica', 0)} / {after.get('primary', 0)}"
         + (f" (primary from {span[0]} s to {span[1]} s)" if span else "")),
        ("failed reads", str(reads.get("errors", 0))),
    ]


def marks_of(result):
    """Event marks for the timeline, in seconds from the fault."""
    routed = [t for t in result.get("routed_after_s") or [] if t is not None]
    return [("fault", 0.0, "#c0392b"),
            ("new leader", result.get("new_leader_after_s"), "#8e44ad"),
            ("routed", max(routed) if routed else None, "#2c3e50"),
            ("healed", result.get("healed_after_s"), "#16a085")]


def write_outputs(result, out):
    out.mkdir(parents=True, exist_ok=True)
    label = result["label"]
    (out / f"{label}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (out / f"{label}.md").write_text(markdown_summary(result))
    tl = result["timeline"]
    series = [("commits through the entry points", "#2e86c1", tl["outside"])]
    if tl.get("inside"):
        series.append(("commits on the isolated side", "#e67e22", tl["inside"]))
    titles = [f"commits per {int(tl['bucket_s'] * 1000)} ms"]
    title = f"{label}: write outage {result.get('write_outage_s')} s"
    if tl.get("reads_replica") is not None:
        series += [("reads served by a replica", "#27ae60", tl["reads_replica"], 1),
                   ("reads served by a primary", "#c71585", tl["reads_primary"], 1)]
        titles.append(f"reads per {int(tl['bucket_s'] * 1000)} ms")
        title += f", read outage {(result.get('reads') or {}).get('outage_s')} s"
    title += f", lost {result.get('lost')}"
    (out / f"{label}.svg").write_text(timeline_svg(series, marks_of(result), tl["from_s"], title,
                                                   bucket=tl["bucket_s"], lane_titles=titles))
