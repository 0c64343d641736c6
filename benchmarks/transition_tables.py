"""The transitions benchmark's Markdown tables: per kind and per family of changes, the
late changes, the music clips that flipped or were called speech (pooled here too), and what
a consumer waiting before it believes a state makes of the flips."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from transition_pieces import PATIENCE_S

Cells = Callable[[dict[str, Any]], str]


def _lag(x: float | None, digits: int = 0) -> str:
    return "never" if x is None else f"{x:.{digits}f}"


def _table(result: dict[str, Any], key: str, header: str, ours: Cells, naive: Cells) -> str:
    """Rows of ``result[side][key]`` (name -> figures): ``| name | n | ours | naive |``."""
    o, n = result["ours"][key], result["naive"][key]
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    lines += [f"| {name} | {a['n']} | {ours(a)} | {naive(n[name])} |" for name, a in o.items()]
    return "\n".join(lines)


def by_kind_table(result: dict[str, Any]) -> str:
    """Per kind of change: n, p50/p90/max lag and misses, ours | naive."""

    def spread(a: dict[str, Any]) -> str:
        return f"{_lag(a['p50_s'])} / {_lag(a['p90_s'])} / {_lag(a['max_s'])}"

    return _table(result, "by_kind",
                  "| change | n | ours p50 / p90 / max (s) | misses | naive p50 / p90 / max (s) |",
                  lambda a: f"{spread(a)} | {a['misses']}", spread)  # fmt: skip


def by_family_table(result: dict[str, Any]) -> str:
    """Per family of changes: n, p90 lag and changes later than the target, ours | naive."""

    def cells(a: dict[str, Any]) -> str:
        return f"{_lag(a['p90_s'], 1)} | {a['late']}"

    header = "| family of changes | n | ours p90 (s) | ours late | naive p90 (s) | naive late |"
    return _table(result, "by_family", header, cells, cells)


def late_table(late: list[dict[str, Any]]) -> str:
    """Every change followed later than the target: where to look (seed, cut, pieces)."""
    lines = ["| seed | cut (s) | change | from | to | lag (s) |", "|---|---|---|---|---|---|"]
    for c in sorted(late, key=lambda c: (c["seed"] is None, c["seed"], c["cut_s"])):
        lines.append(f"| {c['seed']} | {c['cut_s']:.1f} | {c['change']} | {c['from']} | "
                     f"{c['to']} | {_lag(c['lag_s'], 1)} |")  # fmt: skip
    return "\n".join(lines)


def restless_table(ours: dict[str, Any]) -> str:
    """The music clips behind the flips and the music called speech, with how often each was
    scored (the clips recur: ``music_pieces`` says how many distinct ones the run drew)."""
    drawn = ours["music_pieces"]
    lines = [f"music pieces scored: {drawn['scored']}, {drawn['distinct']} distinct clips", "",
             "| clip | times scored | flips | events called speech |",
             "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r['piece']} | {r['scored']} | {r['flips']} | {r['speech_events']} |"
              for r in ours["restless_pieces"]]  # fmt: skip
    return "\n".join(lines)


def restless_pieces(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The music clips that flipped or were called speech, with how often each was drawn:
    a few held-out clips recur across sequences, so the flips and the speech share of a run
    are mostly theirs (a figure over 3,000 events can rest on one staccato track)."""
    drawn: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for s in scores:
        for m in s.get("music", []):
            d = drawn[m["piece"]]
            d[0], d[1], d[2] = d[0] + 1, d[1] + m["flips"], d[2] + m["speech_events"]
    rows = [{"piece": k, "scored": n, "flips": f, "speech_events": e}
            for k, (n, f, e) in drawn.items() if f or e]  # fmt: skip
    return sorted(rows, key=lambda r: (-(r["flips"] + r["speech_events"]), r["piece"]))


def patience_line(result: dict[str, Any]) -> str:
    """What a consumer waiting ``PATIENCE_S`` acts on in steady music, and how long the
    interruptions it ignores last."""
    o, n = result["ours"], result["naive"]
    cut = o["music_interruptions"]
    ignored = f"{cut['ended_inside']}"
    if cut["ended_inside"]:
        ignored += f", p50 {cut['p50_s']:.1f} s, max {cut['max_s']:.1f} s"
    return (
        f"flips in steady music a consumer waiting {PATIENCE_S:.0f} s acts on: "
        f"{o['music_patient_flips']} ({o['music_patient_flips_per_hour']:.1f} per hour; naive "
        f"{n['music_patient_flips']}); interruptions that ended inside a piece: {ignored}; "
        f"changes still open at a piece's end: {cut['open_at_end']}"
    )
