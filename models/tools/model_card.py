"""Write the calm-judgement tables of ``models/MODEL_CARD.md`` from the training report.

Build-time only (``models/tools/train_heads.py`` calls it). The tables go between the markers
``<!-- judgement-tables:begin -->`` and ``<!-- judgement-tables:end -->`` (or another block's);
the prose around them is written by hand.
"""

from __future__ import annotations

from pathlib import Path

CARD = Path(__file__).resolve().parents[1] / "MODEL_CARD.md"
BLOCK = "judgement-tables"
"""The shipped judgement's block; ``train_heads.py --report-only ... --card-block NAME`` writes a
candidate's tables into a block of its own (markers ``<!-- NAME:begin -->``, ``:end``)."""


def _f(x: object, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def tables(report: dict) -> str:
    calm = report["calm"]
    out: list[str] = []
    if "features" in calm:
        f = calm["features"]
        out.append(f"Features: MSD tags from `{f['msd_tags']}`, MTT tags from `{f['mtt_tags']}`.\n")
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
    out += per_source_table(calm)
    out += calibration_tables(calm)
    out += set_aside_fits_table(calm)
    return "\n".join(out) + "\n"


def set_aside_fits_table(calm: dict) -> list[str]:
    """Maps fitted on the set-aside sources only, leave one set-aside source out, per source
    (issue 14 item 4), beside the published and decision maps on the same clips."""
    ship, decision = calm["shipped_calibration"], calm.get("decision_map") or {}
    keys = {(ship["family"], ship["fit_on"]), (decision.get("family"), decision.get("fit_on"))}
    rows = [
        c
        for c in calm["calibrations_tried"]
        if c["judgement"] == "shipped"
        and (c["fit_on"].startswith("set-aside") or (c["family"], c["fit_on"]) in keys)
    ]
    srcs = calm["holdout_sources"]
    ship_rep = next(v for v in calm["variants"] if v["variant"] == calm["shipped"])
    within = ship_rep["holdout_within_source_auc"]
    out = [
        "",
        "Maps fitted on the set-aside sources only (`set-aside`: unweighted; `set-aside "
        "balanced`: source x class balanced), leave one set-aside source out: each set-aside "
        "source's probabilities from the map fitted on the other set-aside sources, pooled; the "
        "development sources through the map fitted on all set-aside sources. Beside them the "
        "published and the decision map (out of source, leave one of all sources out), same "
        "clips. Pooled: AUC of the held-out probabilities / accuracy / ECE (10 bins) [noise "
        "floor at this n, mean] / confidently wrong; per source: ECE / accuracy / confidently "
        "wrong. Within-source AUC does not depend on the map: "
        + ", ".join(f"{k} {_f(v)}" for k, v in sorted(within.items()))
        + ".\n",
        "| map | fitted on | set aside, pooled | development: ECE / conf. wrong | "
        + " | ".join(srcs)
        + " |",
        "|---|---|---|---|" + "---|" * len(srcs),
    ]
    for c in rows:
        h, d = c["held_out"]["set_aside"], c["held_out"]["development"]
        pooled = (
            f"{_f(h.get('auc_held_out_p'))} / {_f(h['accuracy'])} / {_f(h['ece'])} "
            f"[{_f(h['ece_noise_floor']['mean'])}] / {_f(h['confidently_wrong'])}"
        )
        cells = [_source_cell(c["per_source"][src]) for src in srcs]
        tag = (
            " (published)" if (c["family"], c["fit_on"]) == (ship["family"], ship["fit_on"]) else ""
        )
        if decision and (c["family"], c["fit_on"]) == (decision["family"], decision["fit_on"]):
            tag += " (decision)"
        out.append(
            f"| {c['family']}{tag} | {c['fit_on']} | {pooled} "
            f"| {_f(d['ece'])} / {_f(d['confidently_wrong'])} | {' | '.join(cells)} |"
        )
    given = calm.get("given_head_on_these_features")
    if given and "per_source" in given.get("set_aside", {}):
        g = given["set_aside"]
        cells = [
            _source_cell(g["per_source"][src]) if src in g["per_source"] else "–" for src in srcs
        ]
        out.append(
            f"| {given['head']}, as shipped | its own fit | {_f(g['auc'])} / "
            f"{_f(g['accuracy'])} / {_f(g['ece'])} [{_f(g['ece_noise_floor']['mean'])}] / "
            f"{_f(g['confidently_wrong'])} | – | {' | '.join(cells)} |"
        )
    out.append("")
    return out


def _source_cell(figures: dict) -> str:
    """One source's cell of the set-aside fits table: ECE / accuracy / confidently wrong."""
    return f"{_f(figures['ece'])} / {_f(figures['accuracy'])} / {_f(figures['confidently_wrong'])}"


def per_source_table(calm: dict) -> list[str]:
    """The selection figures of issue 14 per source, shipped judgement vs the fixed prior."""
    reps = {v["variant"]: v for v in calm["variants"]}
    bar = calm.get("bar", "prior-msd")
    ship, prior = reps[calm["shipped"]], reps[bar]

    def within(rep: dict, src: str) -> float | None:
        return {**rep["within_source_auc"], **rep["holdout_within_source_auc"]}.get(src)

    sc, pc = calm["shipped_calibration"], calm["prior_calibration"]
    out = [
        f"{calm.get('status', 'Shipped')}: **{calm['shipped']}** ({calm['why']}). Per source, "
        "shipped vs the prior "
        f"{bar} (the "
        "selection figures): ROC-AUC within the source on out-of-source logits (development "
        "sources: leave-one-source-out fits; set-aside sources: fitted on all development "
        "sources), and accuracy at 0.5 / ECE / confidently wrong with each one's shipped "
        f"calibration ({sc['family']} on {sc['fit_on']} logits for the judgement, "
        f"{pc['family']} on {pc['fit_on']} for the prior), held out: a map that never saw "
        "the source.\n",
        "| source | set | calm clips (tracks) | aggressive clips (tracks) "
        "| within AUC shipped / prior "
        "| shipped acc / ECE / conf. wrong | prior acc / ECE / conf. wrong |",
        "|---|---|---|---|---|---|---|",
    ]
    for src in sorted(sc["per_source"]):
        s, q = sc["per_source"][src], pc["per_source"][src]
        row = calm["counts"][src]
        out.append(
            f"| {src} | {row['set']} | {row['calm'] or 0} | {row['aggressive'] or 0} "
            f"| {_f(within(ship, src))} / {_f(within(prior, src))} "
            f"| {_f(s['accuracy'])} / {_f(s['ece'])} / {_f(s['confidently_wrong'])} "
            f"| {_f(q['accuracy'])} / {_f(q['ece'])} / {_f(q['confidently_wrong'])} |"
        )
    out.append("")
    out.append(
        "Mean within-source AUC over the development sources holding both classes: shipped "
        f"{_f(ship['selection_mean_within_source_auc'])}, prior "
        f"{_f(prior['selection_mean_within_source_auc'])}; set-aside AUC shipped "
        f"{_f(ship['holdout']['auc'])}, prior {_f(prior['holdout']['auc'])}."
    )
    diff = calm.get("shipped_minus_prior")
    if diff and calm["shipped"] != bar:
        w, h = diff["mean_within_source_auc"], diff["set_aside_auc"]
        out[-1] += (
            f" Shipped minus prior, 90 % interval over resampled tracks (share of resamples with "
            f"the shipped judgement ahead): within-source {w['difference']:+.3f} "
            f"[{w['interval_90'][0]:+.3f}, {w['interval_90'][1]:+.3f}] ({w['share_ahead']:.0%}), "
            f"set-aside {h['difference']:+.3f} [{h['interval_90'][0]:+.3f}, "
            f"{h['interval_90'][1]:+.3f}] ({h['share_ahead']:.0%})."
        )
    out[-1] += "\n"
    return out


def _part(x: dict) -> str:
    lo, hi = x["ece_90"]
    return (
        f"{_f(x['ece'])} [{_f(lo)}–{_f(hi)}] / {_f(x['accuracy'])} / "
        f"{_f(x['confidently_wrong'])} / {_f(x['in_neutral_band'])}"
    )


def calibration_tables(calm: dict) -> list[str]:
    """Every calibration candidate, held out, and the set-aside sources one by one."""
    band = calm["neutral_clips"]["band"]
    ship = calm["shipped_calibration"]
    out = [
        "Calibration candidates (`calibration.py`). Every figure is held out: a clip's "
        "probability comes from a map that never saw its source (set-aside sources: leave one "
        "set-aside source out; development sources: the map fitted on the set-aside sources, "
        "or leave one of all sources out for out-of-source fits). Per part: ECE [5th–95th "
        "percentile over resampled tracks; resampling repeats tracks, which pushes ECE up, so "
        "the interval can sit above the figure] / accuracy at 0.5 / confidently wrong / share "
        f"in the neutral band ({band[0]}–{band[1]}); noise floor: the ECE a perfectly "
        "calibrated map would still show on the set-aside part (mean / 95th percentile). Rule: "
        f"{calm['calibration_rule']}.\n",
        "| judgement | map | fitted on | set aside | development | all "
        "| noise floor, set aside | ships |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in calm["calibrations_tried"]:
        h = c["held_out"]
        ships = (
            c["judgement"] == "shipped"
            and c["family"] == ship["family"]
            and c["fit_on"] == ship["fit_on"]
        )
        fl = h["set_aside"]["ece_noise_floor"]
        flag = "**ships**" if ships else ("eligible" if c["eligible"] else "–")
        out.append(
            f"| {c['judgement']} | {c['family']} | {c['fit_on']} | {_part(h['set_aside'])} "
            f"| {_part(h['development'])} | {_part(h['all'])} "
            f"| {_f(fl['mean'])} / {_f(fl['p95'])} | {flag} |"
        )
    decision = calm.get("decision_map")
    if decision:
        out.append("")
        out.append(
            f"Published map: {ship['family']} fitted on {ship['fit_on']} logits (a "
            f"{ship['map']['a']:.3f}, b {ship['map']['b']:.3f}). Decision map, which the state "
            "thresholds, change deltas and close-call margins read (`decision_a`/`decision_b`): "
            f"{decision['family']} fitted on {decision['fit_on']} logits (a "
            f"{decision['map']['a']:.3f}, b {decision['map']['b']:.3f})."
        )
    shipped_key = (ship["family"], ship["fit_on"])
    shown = [
        c
        for c in calm["calibrations_tried"]
        if c["judgement"] == "shipped"
        and (c["family"] in ("platt", "beta") or (c["family"], c["fit_on"]) == shipped_key)
    ]
    out.append("")
    out.append(
        "The set-aside sources one by one, shipped judgement, held out (ECE / accuracy / "
        "confidently wrong / mean calm probability):\n"
    )
    heads = " | ".join(f"{c['family']}, {c['fit_on']}" for c in shown)
    out.append(f"| source | clips | {heads} |")
    out.append("|---|---|" + "---|" * len(shown))
    for src in calm["holdout_sources"]:
        cells = [
            "{ece} / {accuracy} / {confidently_wrong} / {mean_p}".format(
                **{k: _f(v) for k, v in c["per_source"][src].items()}
            )
            for c in shown
        ]
        out.append(f"| {src} | {shown[0]['per_source'][src]['clips']} | {' | '.join(cells)} |")
    out.append("")
    out.append(
        "The shipped map on shorter windows, as the state machine sees a segment grow (every "
        "run of n consecutive 3 s patches inside a clip, through the map that never saw its "
        "source; overlapping windows, so counts are not sample sizes): ECE / accuracy / "
        "confidently wrong / share in the neutral band.\n"
    )
    out.append("| patches in the window | windows | set aside | development | all |")
    out.append("|---|---|---|---|---|")
    for n_patches, parts in calm["shipped_calibration_by_window_patches"].items():
        cells = [
            f"{_f(x['ece'])} / {_f(x['accuracy'])} / {_f(x['confidently_wrong'])} / "
            f"{_f(x['in_neutral_band'])}"
            for x in (parts["set_aside"], parts["development"], parts["all"])
        ]
        out.append(f"| {n_patches} | {parts['all']['windows']} | {' | '.join(cells)} |")
    n, need = calm["neutral_clips"], calm["set_aside_clips_for_ece_0.05"]
    out.append("")
    out.append(
        "Clips needed before ECE <= 0.05 can be told apart from noise (a perfectly calibrated "
        "map, on clips drawn like the shipped set-aside probabilities, stays under 0.05 in 95 % "
        f"of draws): {need or 'more than 3200'}; the set-aside sources hold "
        f"{ship['held_out']['set_aside']['clips']}."
    )
    out.append("")
    out.append(
        f"Neutral (menu/title) clips, never fitted on: {n['clips']} clips, mean calm probability "
        f"{_f(n['mean_p'])}, {_f(n['in_band'])} of them in the {n['band'][0]}–{n['band'][1]} "
        "band (the shipped map)."
    )
    return out


def write_card_tables(report: dict, card: Path = CARD, name: str = BLOCK) -> None:
    """Replace the text between the block's markers (append the block if they are missing)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = card.read_text(encoding="utf-8")
    block = f"{begin}\n{tables(report)}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    card.write_text(text, encoding="utf-8")
