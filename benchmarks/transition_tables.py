"""The transitions benchmark's Markdown tables: per kind of change, and the late changes."""

from __future__ import annotations

from typing import Any


def by_kind_table(result: dict[str, Any]) -> str:
    """Per kind of change: n, p50/p90/max lag and misses, ours | naive."""
    o, n = result["ours"]["by_kind"], result["naive"]["by_kind"]

    def f(x: float | None) -> str:
        return "never" if x is None else f"{x:.0f}"

    lines = ["| change | n | ours p50 / p90 / max (s) | misses | naive p50 / p90 / max (s) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for kind, a in o.items():
        b = n[kind]
        lines.append(
            f"| {kind} | {a['n']} | {f(a['p50_s'])} / {f(a['p90_s'])} / {f(a['max_s'])} | "
            f"{a['misses']} | {f(b['p50_s'])} / {f(b['p90_s'])} / {f(b['max_s'])} |"
        )
    return "\n".join(lines)


def by_family_table(result: dict[str, Any]) -> str:
    """Per family of changes: n, p90 lag and changes later than the target, ours | naive."""
    o, n = result["ours"]["by_family"], result["naive"]["by_family"]

    def f(x: float | None) -> str:
        return "never" if x is None else f"{x:.1f}"

    lines = ["| family of changes | n | ours p90 (s) | ours late | naive p90 (s) | naive late |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, a in o.items():
        b = n[name]
        lines.append(f"| {name} | {a['n']} | {f(a['p90_s'])} | {a['late']} | "
                     f"{f(b['p90_s'])} | {b['late']} |")  # fmt: skip
    return "\n".join(lines)


def late_table(late: list[dict[str, Any]]) -> str:
    """Every change followed later than the target: where to look (seed, cut, pieces)."""
    lines = ["| seed | cut (s) | change | from | to | lag (s) |", "|---|---|---|---|---|---|"]
    for c in sorted(late, key=lambda c: (c["seed"] is None, c["seed"], c["cut_s"])):
        lag = "never" if c["lag_s"] is None else f"{c['lag_s']:.1f}"
        lines.append(f"| {c['seed']} | {c['cut_s']:.1f} | {c['change']} | {c['from']} | "
                     f"{c['to']} | {lag} |")  # fmt: skip
    return "\n".join(lines)
