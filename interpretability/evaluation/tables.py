"""The comparison's results as tables like the L-MAC paper's, and the margins of the trained interpreters over the
gradient baselines."""

import math

from interpretability.interpreters.gradient import BASELINES

# (key, header, direction: 1 higher is better, -1 lower is better, 0 neither, format)
COLUMNS = (
    ("AI", "AI ↑", 1, "{:.1f}"),
    ("AD", "AD ↓", -1, "{:.1f}"),
    ("AG", "AG ↑", 1, "{:.1f}"),
    ("FF", "FF ↑", 1, "{:.3f}"),
    ("FidIn", "Fid-In ↑", 1, "{:.2f}"),
    ("SPS", "SPS ↑", 1, "{:.3f}"),
    ("COMP", "COMP ↓", -1, "{:.2f}"),
    ("MM", "MM", 0, "{:.3f}"),
    ("SISDR_gain", "SI-SDR gain (dB) ↑", 1, "{:.2f}"),
    ("IoU", "IoU (area-matched) ↑", 1, "{:.3f}"),
    ("IoU_at_0.5", "IoU at 0.5 ↑", 1, "{:.3f}"),
)
TRAINED = ("lmac", "lmac_ft", "l2i")
CONTROLS = ("all_ones", "random")
FAITHFULNESS = {"AI": 1, "AD": -1, "AG": 1}


def method_order(methods):
    """Baselines, trained interpreters, controls, then the mel-domain baselines; anything else last."""
    known = [*BASELINES, *TRAINED, *CONTROLS, *(f"{m}_mel" for m in BASELINES)]
    return [m for m in known if m in methods] + [
        m for m in methods if m not in known
    ]


def _finite(value):
    return isinstance(value, (int, float)) and not math.isnan(value)


def condition_table(by_method):
    """One markdown table ``method x metric``; the best explanation method of each column (controls aside) in
    bold. Columns no method has are left out."""
    methods = method_order(list(by_method))
    columns = [
        c
        for c in COLUMNS
        if any(_finite(by_method[m].get(c[0])) for m in methods)
    ]
    best = {}
    for key, _, direction, _ in columns:
        candidates = [
            by_method[m][key]
            for m in methods
            if m not in CONTROLS and _finite(by_method[m].get(key))
        ]
        if direction and candidates:
            best[key] = max(candidates) if direction > 0 else min(candidates)
    lines = [
        "| method | " + " | ".join(c[1] for c in columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for method in methods:
        cells = []
        for key, _, _, fmt in columns:
            value = by_method[method].get(key)
            text = fmt.format(value) if _finite(value) else "-"
            if (
                method not in CONTROLS
                and key in best
                and _finite(value)
                and value == best[key]
            ):
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sanity_table(sanity):
    """Rank correlation of each method's masks before / after each cumulative randomisation step."""
    methods = method_order(list(sanity))
    steps = [
        k
        for k in sanity[methods[0]]
        if k.startswith("rank_corr_") and k != "rank_corr_all"
    ]
    lines = [
        "| method | "
        + " | ".join("+ " + s[len("rank_corr_") :] for s in steps)
        + " |",
        "| --- | " + " | ".join("---" for _ in steps) + " |",
    ]
    for method in methods:
        values = [sanity[method].get(s) for s in steps]
        lines.append(
            f"| {method} | "
            + " | ".join(f"{v:.3f}" if _finite(v) else "-" for v in values)
            + " |"
        )
    return "\n".join(lines)


def comparison_markdown(results, notes=None):
    """``comparison.md``: a table per condition and the sanity table."""
    parts = ["# Comparison of explanation methods", ""]
    if notes:
        parts += [
            "Settings: " + ", ".join(f"{k} = {v}" for k, v in notes.items()),
            "",
        ]
    parts += [
        "AI, AD, AG in %; FF and Fid-In on the explained class; SPS, COMP, MM of the mask; SI-SDR gain and IoU "
        "against the clean target where it is known (IoU area-matched: each mask's k largest cells, k the oracle "
        "mask's area; IoU at 0.5: cells >= 0.5, which favours near-binary masks). `_mel` rows: the baseline computed and scored on the mel "
        "spectrogram (not listenable). Best explanation method per column in bold (controls aside).",
        "",
    ]
    for condition, by_method in results.items():
        if condition.startswith("sanity"):
            continue
        rows = next(iter(by_method.values())).get("n_rows", "?")
        parts += [
            f"## {condition} ({rows} rows)",
            "",
            condition_table(by_method),
            "",
        ]
    if "sanity" in results:
        parts += [
            "## Sanity: cascading parameter randomisation",
            "",
            "Spearman rank correlation of each method's masks with those of the trained classifier after "
            "re-initialising the layers from the top, cumulatively (low: the method depends on the model; "
            "`random` is model-independent by construction).",
            "",
            sanity_table(results["sanity"]),
            "",
        ]
    if "sanity_retrained" in results:
        parts += [
            "## Sanity with retraining: model and data randomisation",
            "",
            "Rank correlation of each method's masks with the original ones when the trained interpreter is "
            "trained again on the classifier with every layer re-initialised (model randomisation) or on a "
            "classifier trained on shuffled labels (data randomisation); the retraining control trains it "
            "again on the same classifier with another seed. Gradient baselines are simply computed on those "
            "classifiers. A method that explains the model stays well below its control.",
            "",
            retrained_sanity_table(results["sanity_retrained"]),
            "",
        ]
    return "\n".join(parts)


def retrained_sanity_table(sanity):
    """Rank correlation with the original masks after model / data randomisation (and the retraining control)."""
    keys = (
        ("retrain_control", "retraining control"),
        ("model_randomisation", "model randomisation"),
        ("data_randomisation", "data randomisation"),
        ("input_energy", "masks vs input energy"),
    )
    lines = [
        "| method | " + " | ".join(title for _, title in keys) + " |",
        "| --- | " + " | ".join("---" for _ in keys) + " |",
    ]
    for method in method_order(list(sanity)):
        values = [sanity[method].get(key) for key, _ in keys]
        lines.append(
            f"| {method} | "
            + " | ".join(f"{v:.3f}" if _finite(v) else "-" for v in values)
            + " |"
        )
    return "\n".join(lines)


def margins(results, baselines=BASELINES, methods=TRAINED):
    """How far each trained interpreter is ahead of the best of the (linear-grid) gradient baselines.

    Returns ``{condition: {method: {"AI": margin, "AD": margin, "AG": margin, "ahead": 1.0 or 0.0,
    "best_baseline": {"AI": name, ...}, "over": {other: {"AI": margin, ...}}}}}``; a margin is positive when
    the interpreter is better (AD: lower); ``over`` holds the margins over each baseline and control.
    """
    table = {}
    for condition, by_method in results.items():
        if condition.startswith("sanity"):
            continue
        present = [b for b in baselines if b in by_method]
        for method in methods:
            if method not in by_method or not present:
                continue
            entry, best_names = {}, {}
            for key, direction in FAITHFULNESS.items():
                scores = {b: by_method[b][key] for b in present}
                best_name = max(scores, key=lambda b: direction * scores[b])
                entry[key] = direction * (
                    by_method[method][key] - scores[best_name]
                )
                best_names[key] = best_name
            entry["ahead"] = float(all(entry[key] > 0 for key in FAITHFULNESS))
            entry["best_baseline"] = best_names
            entry["over"] = {
                other: {
                    key: direction
                    * (by_method[method][key] - by_method[other][key])
                    for key, direction in FAITHFULNESS.items()
                }
                for other in (*present, *CONTROLS)
                if other in by_method
            }
            table.setdefault(condition, {})[method] = entry
    return table
