"""Write the calm-judgement tables of ``models/MODEL_CARD.md`` from the training report.

Build-time only (``models/train_heads.py`` calls it). The tables go between the markers
``<!-- judgement-tables:begin -->`` and ``<!-- judgement-tables:end -->``; the prose around
them is written by hand.
"""

from __future__ import annotations

from pathlib import Path

CARD = Path(__file__).resolve().parent / "MODEL_CARD.md"
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
    shipped = next(v for v in calm["variants"] if v["variant"] == calm["shipped"])
    prior = calm["variants"][0]
    out.append(
        f"Shipped: **{calm['shipped']}** ({calm['why']}). Per source, shipped vs prior "
        "(development: within-source AUC from leave-one-source-out fits; set aside: "
        "within-source AUC and accuracy at 0.5 after the shipped calibration):\n"
    )
    out.append("| source | set | shipped within AUC | prior within AUC | shipped acc | prior acc |")
    out.append("|---|---|---|---|---|---|")
    for src in calm["development_sources"]:
        s, p = shipped["within_source_auc"].get(src), prior["within_source_auc"].get(src)
        out.append(f"| {src} | development | {_f(s)} | {_f(p)} | | |")
    sc, pc = calm["shipped_calibration"]["per_source"], calm["prior_calibration"]["per_source"]
    for src in calm["holdout_sources"]:
        if src not in sc:
            continue
        out.append(
            f"| {src} | set aside | {_f(sc[src]['within_auc'])} | {_f(pc[src]['within_auc'])} "
            f"| {_f(sc[src]['accuracy'])} | {_f(pc[src]['accuracy'])} |"
        )
    out.append("")
    out.append("Calibration fitted on the set-aside sources (Platt on window logits):\n")
    out.append(
        "| judgement | clips | AUC | accuracy | ECE (fitted) | ECE (leave one set-aside "
        "source out) | confidently wrong | in 0.35–0.65 |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    for name, cal in (("shipped", calm["shipped_calibration"]), ("prior", calm["prior_calibration"])):
        f, cv = cal["fitted"], cal["leave_one_holdout_source_out"]
        out.append(
            f"| {name} | {f['clips']} | {_f(f['auc'])} | {_f(f['accuracy'])} | {_f(f['ece'])} "
            f"| {_f(cv['ece'])} | {_f(f['confidently_wrong'])} | {_f(f['in_neutral_band'])} |"
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
