"""The results table: every figure for ours and for the naive baseline, their ratio, the
issue's target and whether ours meets it.

``gain`` is how many times better ours is than the naive baseline on that figure (naive /
ours where lower is better, ours / naive where higher is better), so > 1 always favours ours.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    figure: str
    unit: str
    ours: float | None
    naive: float | None
    lower_is_better: bool
    target: float | None = None
    """Bound ours must meet (<= when lower is better, >= otherwise); None: no target."""
    gain_target: float | None = None
    """Bound the gain itself must meet (the issue's >= 20x cheaper than naive)."""
    note: str = ""

    @property
    def gain(self) -> float | None:
        a, b = self.ours, self.naive
        if a is None or b is None or a <= 0 or b <= 0:
            return None
        return b / a if self.lower_is_better else a / b

    @property
    def passed(self) -> bool | None:
        checks = []
        if self.target is not None:
            if self.ours is None:
                checks.append(False)
            else:
                ok = self.ours <= self.target if self.lower_is_better else self.ours >= self.target
                checks.append(ok)
        if self.gain_target is not None:
            checks.append(self.gain is not None and self.gain >= self.gain_target)
        return all(checks) if checks else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gain": self.gain, "passed": self.passed}


def _num(x: float | None, unit: str) -> str:
    if x is None:
        return "overload" if unit == "ms" else "-"
    if math.isinf(x):
        return "inf"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _target(r: Row) -> str:
    parts = []
    if r.target is not None:
        parts.append(f"{'<=' if r.lower_is_better else '>='} {_num(r.target, r.unit)}")
    if r.gain_target is not None:
        parts.append(f"gain >= {r.gain_target:g}x")
    return ", ".join(parts) or "-"


def table(rows: list[Row]) -> str:
    """Fixed-width text table (also valid Markdown)."""
    head = ["figure", "unit", "ours", "naive", "gain", "target", "pass"]
    body = []
    for r in rows:
        verdict = {True: "PASS", False: "FAIL", None: ""}[r.passed]
        gain = "-" if r.gain is None else f"{r.gain:.1f}x"
        figure = r.figure + (f" ({r.note})" if r.note else "")
        body.append([figure, r.unit, _num(r.ours, r.unit), _num(r.naive, r.unit), gain,
                     _target(r), verdict])  # fmt: skip
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    align = ["<", "<", ">", ">", ">", "<", "<"]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True))
            + " |"
        )

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == ">" else ("-" * (w + 2))
            for a, w in zip(align, widths, strict=True)
        )
        + "|"
    )
    return "\n".join([line(head), sep, *(line(b) for b in body)])
