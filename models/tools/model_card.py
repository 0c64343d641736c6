"""Write the calm-judgement tables of ``models/MODEL_CARD.md`` from the training report.

Build-time only (``models/tools/train_heads.py`` calls it). The tables go between the markers
``<!-- judgement-tables:begin -->`` and ``<!-- judgement-tables:end -->``; the prose around
them is written by hand.
"""

from __future__ import annotations

from pathlib import Path

CARD = Path(__file__).resolve().parents[1] / "MODEL_CARD.md"
BEGIN = "<!-- judgement-tables:begin -->"
END = "<!-- judgement-tables:end -->"


def _f(x: object, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def tables(report: dict) -> str:
    calm = report["calm"]
    out: list[str] = []
    out.append("Clips (tracks) per source; set-aside sources never enter a fit or a choice:\n")
    out.append("| source | calm | aggressive | set |")
    out.append("|---|---|---|---|")
    for src, row in calm["counts"].items():
        out.append(f"| {src} | {row['calm']} | {row['aggressive']} | {row['set']} |")
    out.append("")
    out.append(
        "Every variant tried (selection figure first: ROC-AUC within each development source "
        "holding both classes, from leave-one-source-out fits, averaged; set-aside figures with "
        "the calibration fitted on the development leave-one-source-out logits):\n"
    )
    out.append(
        "| variant | mean within-source AUC | pooled LOSO AUC / acc / ECE "
        "| set-aside AUC / acc / ECE | set-aside confidently wrong |"
    )
    out.append("|---|---|---|---|---|")
    for v in calm["variants"]:
        lo, ho = v["pooled_leave_one_source_out"], v["holdout"]
        name = f"**{v['variant']}**" if v["variant"] == calm["shipped"] else v["variant"]
        out.append(
            f"| {name} ({v['description']}) | {_f(v['selection_mean_within_source_auc'])} "
            f"| {_f(lo['auc'])} / {_f(lo['accuracy'])} / {_f(lo['ece'])} "
            f"| {_f(ho['auc'])} / {_f(ho['accuracy'])} / {_f(ho['ece'])} "
            f"| {_f(ho['confidently_wrong'])} |"
        )
    out.append("")
    out.append(
        f"Shipped: **{calm['shipped']}** ({calm['why']}). Per source, shipped vs prior, "
        "on out-of-source logits (development sources: leave-one-source-out fits; set-aside "
        "sources: fitted on all development sources); accuracy at 0.5 with each one's "
        "shipped-style calibration:\n"
    )
    out.append(
        "| source | set | calm (clips) | aggressive (clips) | shipped within AUC "
        "| prior within AUC | shipped acc | prior acc |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    sc, pc = calm["shipped_calibration"]["per_source"], calm["prior_calibration"]["per_source"]
    for src in sorted(sc):
        where = "set aside" if src in calm["holdout_sources"] else "development"
        out.append(
            f"| {src} | {where} | {sc[src]['calm_clips']} | {sc[src]['aggressive_clips']} "
            f"| {_f(sc[src]['within_auc'])} | {_f(pc[src]['within_auc'])} "
            f"| {_f(sc[src]['accuracy'])} | {_f(pc[src]['accuracy'])} |"
        )
    out.append("")
    out.append(
        "Calibrations tried (Platt on out-of-source window logits; figures per part: AUC / "
        "accuracy at 0.5 / ECE / confidently wrong (calm < 0.1 or aggressive > 0.9) / share "
        "in 0.35–0.65; ECE with the calibration re-fitted without each source, and the ECE a "
        "perfectly calibrated judgement would still show on that many clips):\n"
    )
    out.append(
        "| judgement | fitted on | set aside | development | ECE re-fitted without the "
        "source (set aside / development) | ECE noise floor (set aside / development) |"
    )
    out.append("|---|---|---|---|---|---|")
    for c in calm["calibrations_tried"]:
        f, cv, fl = c["fitted"], c["leave_one_source_out_calibration"], c["ece_noise_floor"]

        def part(x: dict) -> str:
            return (
                f"{_f(x['auc'])} / {_f(x['accuracy'])} / {_f(x['ece'])} / "
                f"{_f(x['confidently_wrong'])} / {_f(x['in_neutral_band'])}"
            )

        ships = c["judgement"] == "shipped" and c["fit_on"] == calm["shipped_calibration"]["fit_on"]
        name = f"**{c['judgement']}** (ships)" if ships else c["judgement"]
        out.append(
            f"| {name} | {c['fit_on']} | {part(f['set_aside'])} | {part(f['development'])} "
            f"| {_f(cv['set_aside']['ece'])} / {_f(cv['development']['ece'])} "
            f"| {_f(fl['set_aside'])} / {_f(fl['development'])} |"
        )
    n = calm["neutral_clips"]
    out.append("")
    out.append(
        f"Neutral (menu/title) clips, never fitted on: {n['clips']} clips, mean calm probability "
        f"{_f(n['mean_p'])}, {_f(n['in_0.35_0.65'])} of them in the 0.35–0.65 band."
    )
    return "\n".join(out) + "\n"


def write_card_tables(report: dict, card: Path = CARD) -> None:
    """Replace the text between the markers (append a section if they are missing)."""
    text = card.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{tables(report)}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    card.write_text(text, encoding="utf-8")
