"""The README's result tables, generated from a demo run's ``summary.json`` (never typed by hand).

Each table sits in a README between ``<!-- demo_tables:NAME -->`` and ``<!-- /demo_tables:NAME -->``;
``python -m interpretability.report.demo_tables results/demo/summary.json README.md recipes/ESC50/README.md``
rewrites every such block it finds from the summary, and ``--check`` only reports the blocks that differ (a unit
test runs it against the summary committed in ``docs/demo_summary.json``).
"""

import argparse
import json
import math
import os
import re
import sys

from interpretability.evaluation.tables import (
    condition_table,
    retrained_sanity_table,
    sanity_table,
)

CONDITIONS = (
    ("in_domain", "in-domain"),
    ("other_class_mixture", "other-class mixture"),
    ("white_noise", "white noise"),
)
CHAINED = (
    "L-MAC",
    "L-MAC FT",
    "NMF",
    "L2I",
    "AND",
    "shuffled-label classifier",
)  # the demo's two chains in order (demo.py unpacks their results so), side by side; wall time: "interpreters"
BLOCK = re.compile(
    r"(<!-- demo_tables:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /demo_tables:(?P=name) -->)",
    re.S,
)


def _fmt(value, pattern="{:.2f}"):
    if not isinstance(value, (int, float)) or (
        isinstance(value, float) and math.isnan(value)
    ):
        return "-"
    return pattern.format(value)


def _seconds(summary, name):
    value = summary.get("seconds", {}).get(name)
    return f"{value:.0f} s" if isinstance(value, (int, float)) else "-"


def _total_seconds(summary):
    """The demo's wall time after set-up: every stage, the two chains counted by their side-by-side wall time."""
    return sum(
        v
        for k, v in summary.get("seconds", {}).items()
        if k not in CHAINED and isinstance(v, (int, float))
    )


def _settings(summary):
    s = summary["settings"]
    return f"{s['n_classes']} classes x {s['clips_per_class']} clips x {s['duration']:g} s, seed {s['seed']}"


def stages_table(summary):
    """One row per demo stage: what it ran, its headline result, its wall time."""
    c, lmac, ft, nmf, l2i = (
        summary[k] for k in ("classifier", "lmac", "lmac_ft", "nmf", "l2i")
    )
    comparison, dissection = summary["comparison"], summary["and"]
    rows = [
        (
            "data",
            f"synthetic set, {_settings(summary)}",
            _seconds(summary, "data"),
        ),
        (
            "classifier (compact CNN, `classifier_cnn6.yaml`)",
            f"test accuracy **{c['acc']:.3f}**, mean decision probability {c['mean_confidence']:.2f}, "
            f"{100 * c['share_above_0.99']:.0f} % of test clips above 0.99",
            _seconds(summary, "classifier"),
        ),
    ]
    for name, key, metrics in (
        ("L-MAC (`lmac_cnn6.yaml`)", "L-MAC", lmac),
        ("L-MAC FT (`lmac_cnn6_ft.yaml`)", "L-MAC FT", ft),
    ):
        extra = (
            f", guided share {metrics['guided_share']:.2f}"
            if "guided_share" in metrics
            else ""
        )
        rows.append(
            (
                name,
                f"AI {metrics['AI']:.1f}, AD {metrics['AD']:.2f}, AG {metrics['AG']:.1f}, Fid-In "
                f"{metrics['FidIn']:.2f}, mask mean {metrics['MM']:.3f}, SI-SDR gain **{metrics['SISDR_gain']:+.1f}"
                f" dB**, IoU {metrics['IoU']:.3f}{extra}",
                _seconds(summary, key),
            )
        )
    rows.append(
        (
            "NMF dictionary (K = {})".format(nmf.get("n_components", "?")),
            f"relative error {nmf['relative_error']:.3f} (initialisation {nmf['relative_error_initial']:.3f})",
            _seconds(summary, "NMF"),
        )
    )
    rows.append(
        (
            "L2I (`l2i_cnn6.yaml`)",
            f"fidelity top-1 **{l2i['fidelity_top1']:.3f}**; removing its components: FF median "
            f"{l2i['FF_median']:.3f} vs {l2i['FF_median_random']:.3f} for random ones removing as much energy, "
            f"{_fmt(l2i.get('FF_median_random_area'), '{:.3f}')} as much area",
            _seconds(summary, "L2I"),
        )
    )
    top1, label = (
        dissection.get("last_layer_top1", {}),
        dissection.get("label_based", {}),
    )
    by_label = label.get("pruning", {})
    rows.append(
        (
            "AND (`and_cnn6.yaml`, offline backends)",
            f"last-layer top-1: selectivity {_fmt(top1.get('selectivity'))}, DB {_fmt(top1.get('DB'))} (captioner "
            f"agreement {_fmt(dissection.get('captioner_agreement_heldout'))} on held-out clips), label-based "
            f"{_fmt(label.get('last_layer_top1'))}"
            + (
                f"; pruning by label concept, held-out clips: target class {by_label['heldout']['delta_A']:+.3f}"
                f" vs {by_label['heldout']['delta_A_random']:+.3f} for random neurons"
                if by_label
                else ""
            ),
            _seconds(summary, "AND"),
        )
    )
    shuffled = summary.get("classifier_shuffled_labels")
    if shuffled:
        rows.append(
            (
                "classifier on shuffled labels (`classifier_cnn6.yaml --shuffle_labels True`)",
                f"the sanity check's data randomisation: test accuracy {shuffled['acc']:.3f} (chance "
                f"{1 / summary['settings']['n_classes']:.3f})",
                _seconds(summary, "shuffled-label classifier"),
            )
        )
    lead = comparison_lead(comparison)
    rows.append(
        (
            "comparison (`evaluate_cnn6.yaml`)",
            lead,
            _seconds(summary, "comparison"),
        )
    )
    rows.append(
        (
            "report",
            "`results/demo/report/index.html`",
            _seconds(summary, "report"),
        )
    )
    seconds = summary.get("seconds", {})
    total = _total_seconds(summary)
    lines = ["| stage | result | time |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {t} |" for a, b, t in rows]
    if "interpreters" in seconds:
        lines.append(
            f"| ({' -> '.join(CHAINED[:2])} beside {' -> '.join(CHAINED[2:])}, one thread each: wall "
            "time) | | "
            f"{_seconds(summary, 'interpreters')} |"
        )
    lines.append(f"| total (after set-up) | | {total / 60:.1f} min |")
    setup = summary.get("setup_seconds")
    if isinstance(setup, (int, float)):
        lines.append(
            f"| set-up (`make install`: virtual environment, dependencies) | | {setup:.0f} s |"
        )
        lines.append(
            f"| total with set-up | | **{(total + setup) / 60:.1f} min** |"
        )
    return "\n".join(lines)


def comparison_lead(comparison, method="lmac"):
    """Per condition, L-MAC against the best gradient baseline on each of AI, AD and AG, in words."""
    from interpretability.evaluation.tables import FAITHFULNESS, margins

    table = margins(comparison)
    parts = []
    for condition, title in CONDITIONS:
        entry = table.get(condition, {}).get(method)
        if entry is None:
            continue
        by_method = comparison[condition]
        ahead = [k for k in FAITHFULNESS if entry[k] > 0]
        behind = [k for k in FAITHFULNESS if entry[k] <= 0]
        words = (
            "L-MAC ahead of every baseline on AI, AD and AG"
            if not behind
            else (
                f"L-MAC ahead on {', '.join(ahead) or 'none'}, not on "
                + ", ".join(
                    f"{k} ({by_method[method][k]:.1f} vs {by_method[entry['best_baseline'][k]][k]:.1f} for "
                    f"{entry['best_baseline'][k]})"
                    for k in behind
                )
            )
        )
        parts.append(f"{title}: {words}")
    return "; ".join(parts)


def headline_comparison_table(
    comparison,
    methods=(
        "lmac",
        "lmac_ft",
        "l2i",
        "gradcam",
        "integrated_gradients",
        "shap",
        "saliency",
        "random",
    ),
):
    """AI / AD / AG, area-matched IoU and SI-SDR gain of the main methods in the three conditions."""
    lines = [
        "| method | " + " | ".join(title for _, title in CONDITIONS) + " |",
        "| --- | " + " | ".join("---" for _ in CONDITIONS) + " |",
    ]
    for method in methods:
        cells = []
        for condition, _ in CONDITIONS:
            m = comparison.get(condition, {}).get(method)
            cells.append(
                "-"
                if m is None
                else f"{m['AI']:.1f} / {m['AD']:.1f} / {m['AG']:.1f} / "
                f"{_fmt(m.get('IoU'))} / {_fmt(m.get('SISDR_gain'), '{:+.1f}')}"
            )
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sanity_summary_table(comparison):
    """Rank correlation with the original masks: after the cascade (trained interpreters kept fixed), and with
    retraining (control, model and data randomisation)."""
    cascade = comparison.get("sanity", {})
    retrained = comparison.get("sanity_retrained", {})
    methods = [
        m
        for m in (
            "lmac",
            "lmac_ft",
            "l2i",
            "gradcam",
            "integrated_gradients",
            "saliency",
            "random",
        )
        if m in cascade or m in retrained
    ]
    lines = [
        "| method | cascade, every layer random (interpreter kept) | retraining control | model randomisation "
        "| data randomisation | masks vs input energy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for method in methods:
        r = retrained.get(method, {})
        lines.append(
            f"| {method} | {_fmt(cascade.get(method, {}).get('rank_corr_all'))} | "
            f"{_fmt(r.get('retrain_control'))} | {_fmt(r.get('model_randomisation'))} | "
            f"{_fmt(r.get('data_randomisation'))} | {_fmt(r.get('input_energy'))} |"
        )
    return "\n".join(lines)


def interpreter_table(summary):
    """Every test metric of L-MAC, L-MAC FT and L2I on the test split."""
    keys = (
        ("AI", "{:.1f}"),
        ("AD", "{:.2f}"),
        ("AG", "{:.1f}"),
        ("FF", "{:.3f}"),
        ("FF_median", "{:.3f}"),
        ("FidIn", "{:.3f}"),
        ("SPS", "{:.3f}"),
        ("COMP", "{:.2f}"),
        ("MM", "{:.3f}"),
        ("SISDR", "{:.1f}"),
        ("SISDR_input", "{:.1f}"),
        ("SISDR_gain", "{:+.1f}"),
        ("IoU", "{:.3f}"),
        ("IoU_at_0.5", "{:.3f}"),
        ("params", "{:,}"),
    )
    lines = [
        "| method | "
        + " | ".join(k.replace("_", " ") for k, _ in keys)
        + " | train time |",
        "| --- | " + " | ".join("---" for _ in keys) + " | --- |",
    ]
    for name, key, stage in (
        ("L-MAC", "lmac", "L-MAC"),
        ("L-MAC FT", "lmac_ft", "L-MAC FT"),
        ("L2I", "l2i", "L2I"),
    ):
        m = summary[key]
        lines.append(
            f"| {name} | "
            + " | ".join(_fmt(m.get(k), f) for k, f in keys)
            + f" | "
            f"{_seconds(summary, stage)} |"
        )
    return "\n".join(lines)


def l2i_table(summary):
    l2i = summary["l2i"]
    head = (
        f"Fidelity top-1 / top-3 / top-5: {_fmt(l2i.get('fidelity_top1'), '{:.3f}')} / "
        f"{_fmt(l2i.get('fidelity_top3'), '{:.3f}')} / {_fmt(l2i.get('fidelity_top5'), '{:.3f}')}.\n\n"
    )
    lines = [
        "| components removed | FF median | FF (mean) | components | mask mean removed | energy removed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for title, ff, prefix, count in (
        ("L2I's (relevance > tau)", "", "", "n_components"),
        ("random, as much energy", "_random", "random_", "n_components_random"),
        (
            "random, as much area",
            "_random_area",
            "random_area_",
            "n_components_random_area",
        ),
    ):
        lines.append(
            f"| {title} | {_fmt(l2i.get('FF_median' + ff), '{:.3f}')} | {_fmt(l2i.get('FF' + ff), '{:.3f}')}"
            f" | {_fmt(l2i.get(count), '{:.1f}')} | {_fmt(l2i.get(prefix + 'removed_mask_mean'), '{:.3f}')} | "
            f"{_fmt(l2i.get(prefix + 'removed_energy'), '{:.3f}')} |"
        )
    return head + "\n".join(lines)


def classifier_table(summary):
    c = summary["classifier"]
    return (
        "| data | test acc | mean decision probability | share above 0.99 | params | time |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        f"| synthetic, {_settings(summary)} | **{c['acc']:.3f}** | {c['mean_confidence']:.3f} | "
        f"{c['share_above_0.99']:.3f} | {c['params']:,} | {_seconds(summary, 'classifier')} |"
    )


def comparison_tables(summary):
    comparison = summary["comparison"]
    parts = []
    for condition, title in CONDITIONS:
        if condition in comparison:
            rows = next(iter(comparison[condition].values())).get("n_rows", "?")
            parts += [
                f"{title[0].upper() + title[1:]} ({rows} test clips):",
                "",
                condition_table(comparison[condition]),
                "",
            ]
    if "sanity" in comparison:
        parts += [
            "Cascading randomisation (the trained interpreters kept fixed; rank correlation with the original "
            "masks):",
            "",
            sanity_table(comparison["sanity"]),
            "",
        ]
    if "sanity_retrained" in comparison:
        parts += [
            "Sanity with retraining (rank correlation with the original masks):",
            "",
            retrained_sanity_table(comparison["sanity_retrained"]),
            "",
        ]
    return "\n".join(parts).rstrip()


def and_tables(summary):
    """AND: last-layer accuracy beside the captioner-free figures, pruning in-sample and held-out against random
    neurons, and the share of uninterpretable neurons per layer."""
    d = summary["and"]
    top1, top5, label = (
        d.get("last_layer_top1", {}),
        d.get("last_layer_top5", {}),
        d.get("label_based", {}),
    )
    lines = ["| last layer | top-1 | top-5 |", "| --- | --- | --- |"]
    for key, title in (
        (
            "selectivity",
            "selectivity (share of a neuron's top clips from its class; no captioner)",
        ),
        ("DB", "DB (offline acoustic captioner)"),
        ("TAB", "TAB"),
        ("ICL", "ICL (offline stand-in)"),
    ):
        if key in top1:
            lines.append(
                f"| {title} | {_fmt(top1[key])} | {_fmt(top5.get(key))} |"
            )
    if label:
        lines.append(
            f"| label-based (concepts = the labels) | {_fmt(label.get('last_layer_top1'))} | "
            f"{_fmt(label.get('last_layer_top5'))} |"
        )
    lines += [
        "",
        f"Captioner agreement with the labels on held-out clips: "
        f"{_fmt(d.get('captioner_agreement_heldout'))}.",
        "",
    ]
    strategies = dict(d.get("pruning_by_strategy", {}))
    if label.get("pruning"):
        strategies["label"] = label["pruning"]
    lines += [
        "| neurons chosen by | Delta A (probing clips) | Delta A (held-out) | Delta A random (held-out) | "
        "Delta R (held-out) | neurons / class |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in strategies.items():
        held = row.get("heldout", {})
        lines.append(
            f"| {name} | {_fmt(row.get('delta_A'), '{:+.3f}')} | {_fmt(held.get('delta_A'), '{:+.3f}')} | "
            f"{_fmt(held.get('delta_A_random'), '{:+.3f}')} | {_fmt(held.get('delta_R'), '{:+.3f}')} | "
            f"{_fmt(row.get('n_neurons'), '{:.1f}')} |"
        )
    shares, label_shares = (
        d.get("uninterpretable", {}),
        label.get("uninterpretable", {}),
    )
    layers = list(shares or label_shares)
    lines += [
        "",
        "| uninterpretable share (tau 0.6) | " + " | ".join(layers) + " |",
        "| --- | " + " | ".join("---" for _ in layers) + " |",
        "| description clusters | "
        + " | ".join(_fmt(shares.get(k)) for k in layers)
        + " |",
    ]
    if label_shares:
        lines.append(
            "| labels | "
            + " | ".join(_fmt(label_shares.get(k)) for k in layers)
            + " |"
        )
    return "\n".join(lines)


TABLES = {
    "and": and_tables,
    "stages": stages_table,
    "comparison": lambda s: headline_comparison_table(s["comparison"]),
    "sanity": lambda s: sanity_summary_table(s["comparison"]),
    "classifier": classifier_table,
    "interpreters": interpreter_table,
    "l2i": l2i_table,
    "comparison-full": comparison_tables,
}


def lmac_layers_table(entries):
    """The decoder-layers experiment (``benchmarks/lmac_decoder_layers.py``): faithfulness against the sanity check
    by retraining, one row per set of layers."""
    lines = [
        "| decoder reads | params | AI | AD | AG | Fid-In | MM | SI-SDR gain | IoU | IoU at 0.5 | retraining "
        "control | model randomisation | data randomisation |",
        "| --- | " + " | ".join("---" for _ in range(12)) + " |",
    ]
    for e in entries:
        layers = ", ".join(
            name.replace("conv_block", "block ") for name in e["layers"]
        )
        lines.append(
            f"| {layers} | {e['params'] / 1000:.0f} k | {e['AI']:.1f} | {e['AD']:.2f} | {e['AG']:.1f} | "
            f"{e['FidIn']:.3f} | {e['MM']:.3f} | {e['SISDR_gain']:+.1f} dB | {e['IoU']:.3f} | "
            f"{e['IoU_at_0.5']:.3f} | {e['retrain_control']:.2f} | {e['model_randomisation']:.2f} | "
            f"{_fmt(e.get('data_randomisation'))} |"
        )
    return "\n".join(lines)


def _scores_cell(scores):
    """``AI / AD / AG`` of one method in one condition."""
    return f"{scores['AI']:.1f} / {scores['AD']:.2f} / {scores['AG']:.1f}"


def _condition_columns(conditions):
    """The header cells of one ``AI / AD / AG`` column per condition."""
    names = dict(CONDITIONS)
    return " | ".join(f"{names.get(c, c)} AI / AD / AG" for c in conditions)


def lmac_learning_curve_table(report):
    """The learning curve (``benchmarks/lmac_learning_curve.py``): L-MAC's and GradCAM's AI / AD / AG in every
    condition against the interpreter's training clips per class, with each point's training time."""
    conditions = report["conditions"]
    lines = [
        f"| clips per class (training clips) | training time | {_condition_columns(conditions)} |",
        "| --- | --- | " + " | ".join("---" for _ in conditions) + " |",
    ]

    for entry in sorted(report["points"], key=lambda e: e["train_clips"]):
        cells = " | ".join(_scores_cell(entry["lmac"][c]) for c in conditions)
        lines.append(
            f"| L-MAC, {entry['clips_per_class']} ({entry['train_clips']}) | {entry['train_seconds']} s "
            f"({entry['epochs_run']} epochs) | {cells} |"
        )
    cells = " | ".join(_scores_cell(report["gradcam"][c]) for c in conditions)
    lines.append(f"| GradCAM (no training) | - | {cells} |")
    return "\n".join(lines)


def lmac_hard_variant_table(report):
    """The hard-variant benchmark (``benchmarks/lmac_hard_variant.py``): per change to L-MAC's training, the mean
    AI / AD / AG over seeds in every condition, the mean mask value (MM: AI, AD and AG favour larger masks), the
    spread of AI over the seeds, and the conditions in which the mean is ahead of GradCAM on all three."""
    conditions = report["conditions"]
    names = dict(CONDITIONS)
    lines = [
        f"| change to L-MAC's training | runs | training time | {_condition_columns(conditions)} | mask mean "
        "(per condition) | AI over the seeds (lowest-highest, per condition) | ahead of GradCAM on AI, AD and AG |",
        "| --- | --- | --- | "
        + " | ".join("---" for _ in conditions)
        + " | --- | --- | --- |",
    ]

    def mask_means(scores):
        return " / ".join(f"{scores[c]['MM']:.2f}" for c in conditions)

    for entry in report["changes"]:
        runs = entry["runs"]
        seconds = round(sum(r["train_seconds"] for r in runs) / len(runs))
        spread = ", ".join(
            f"{min(r['lmac'][c]['AI'] for r in runs):.0f}-{max(r['lmac'][c]['AI'] for r in runs):.0f}"
            for c in conditions
        )
        ahead = [
            names.get(c, c)
            for c in conditions
            if all(entry["leads_gradcam"][c].values())
        ]
        cells = " | ".join(_scores_cell(entry["mean"][c]) for c in conditions)
        lines.append(
            f"| {entry['change']} | {len(runs)} | {seconds} s | {cells} | {mask_means(entry['mean'])} | {spread} | "
            f"{', '.join(ahead) or 'none'} |"
        )
    cells = " | ".join(_scores_cell(report["gradcam"][c]) for c in conditions)
    lines.append(
        f"| GradCAM (no training) | - | - | {cells} | {mask_means(report['gradcam'])} | - | - |"
    )
    return "\n".join(lines)


def lmac_hard_sets_table(report):
    """Several small hard sets (``benchmarks/lmac_hard_sets.py``): per set (generator seed) and way of training
    L-MAC, the mean AI / AD / AG over the runs in every condition, GradCAM's on the same clips, and the conditions
    in which L-MAC's mean is ahead of GradCAM on all three."""
    conditions = report["sets"][0]["conditions"]
    names = dict(CONDITIONS)
    lines = [
        f"| hard set (generator seed) | classifier accuracy, test clips | method | runs | "
        f"{_condition_columns(conditions)} | ahead of GradCAM on AI, AD and AG |",
        "| --- | --- | --- | --- | "
        + " | ".join("---" for _ in conditions)
        + " | --- |",
    ]
    for entry in report["sets"]:
        head = f"| {entry['generator_seed']} | {entry['classifier_acc']:.3f}, {entry['test_rows']} |"
        for change in entry["changes"]:
            ahead = [
                names.get(c, c)
                for c in conditions
                if all(change["leads_gradcam"][c].values())
            ]
            cells = " | ".join(
                _scores_cell(change["mean"][c]) for c in conditions
            )
            lines.append(
                f"{head} L-MAC, {change['change']} | {len(change['runs'])} | {cells} | "
                f"{', '.join(ahead) or 'none'} |"
            )
            head = "| | |"
        cells = " | ".join(
            _scores_cell(entry["gradcam"][c]) for c in conditions
        )
        lines.append(f"| | | GradCAM | - | {cells} | - |")
    return "\n".join(lines)


def lmac_matched_area_table(report):
    """The hard-variant benchmark's comparison at matched area: per change, the mean AI / AD / AG of L-MAC's and of
    GradCAM's binary masks of L-MAC's area, in every condition."""
    conditions = report["conditions"]
    lines = [
        f"| change to L-MAC's training | runs | mask of L-MAC's area | {_condition_columns(conditions)} |",
        "| --- | --- | --- | " + " | ".join("---" for _ in conditions) + " |",
    ]
    for entry in report["changes"]:
        matched = entry.get("matched_area")
        if not matched:
            continue
        for method, label in (
            ("lmac", "L-MAC's top cells"),
            ("gradcam", "GradCAM's top cells"),
        ):
            cells = " | ".join(
                _scores_cell(matched["mean"][c][method]) for c in conditions
            )
            lines.append(
                f"| {entry['change']} | {len(matched['runs'])} | {label} | {cells} |"
            )
    return "\n".join(lines)


def lmac_hard_variant_level_table(report):
    """The hard-variant benchmark's classifier and how level enters it (``level`` of its JSON)."""
    level = report["level"]
    scaled = level["decision_probability_at_magnitude_scale"]
    scales = sorted(scaled, key=float, reverse=True)
    return "\n".join(
        [
            "| classifier accuracy | mean decision probability | test clips, RMS | their white-noise mixtures, RMS "
            f"| decision probability with the magnitude scaled by {' / '.join(scales)} |",
            "| --- | --- | --- | --- | --- |",
            f"| {report['classifier_acc']:.3f} | {report['classifier_mean_confidence']:.3f} | "
            f"{level['clip_rms_dbfs']:.1f} dB | {level['white_noise_mixture_rms_dbfs']:.1f} dB | "
            f"{' / '.join(f'{scaled[s]:.2f}' for s in scales)} |",
        ]
    )


# The same demo taken from a fresh clone on other CPUs: an Intel Xeon without native bf16 (so fp32), and an Intel
# Xeon with AMX (bf16)
OTHER_CPU_RUNS = (
    "docs/experiments/demo_summary_xeon_fp32.json",
    "docs/experiments/demo_summary_xeon_bf16.json",
)


def demo_other_cpu_table(summary, root=None):
    """``summary`` (the README's demo run) beside the same demo taken on other CPUs (``OTHER_CPU_RUNS`` under
    ``root``): time, the classifier, L-MAC's and GradCAM's AI / AD / AG per condition, L2I, and the sanity check."""
    others = []
    for path in OTHER_CPU_RUNS:
        with open(os.path.join(root or ROOT, path), encoding="utf-8") as handle:
            others.append(json.load(handle))

    def classifier(run):
        c = run["classifier"]
        loaded = (
            f", best epoch {c['epoch_loaded']}" if "epoch_loaded" in c else ""
        )
        return f"{c['acc']:.3f} (mean decision probability {c['mean_confidence']:.2f}{loaded})"

    def sanity(run):
        s = run["comparison"]["sanity_retrained"]["lmac"]
        return (
            f"{s['retrain_control']:.2f} / {s['model_randomisation']:.2f} / "
            f"{s['data_randomisation']:.2f}"
        )

    rows = [
        (
            "machine, training precision",
            lambda r: (
                f"{r.get('machine', 'not recorded')}, {r['settings']['precision']}"
            ),
        ),
        (
            "time after set-up",
            lambda r: f"{_total_seconds(r) / 60:.1f} min",
        ),
        (
            "time with set-up (`make install`)",
            lambda r: (
                f"{(_total_seconds(r) + r['setup_seconds']) / 60:.1f} min"
                if r.get("setup_seconds") is not None
                else "not recorded"
            ),
        ),
        ("classifier test accuracy", classifier),
        *(
            (
                f"{title}: L-MAC / GradCAM AI / AD / AG",
                lambda r, c=condition: (
                    f"{_scores_cell(r['comparison'][c]['lmac'])} vs "
                    f"{_scores_cell(r['comparison'][c]['gradcam'])}"
                ),
            )
            for condition, title in CONDITIONS
        ),
        (
            "L2I fidelity top-1",
            lambda r: f"{r['l2i']['fidelity_top1']:.3f}",
        ),
        (
            "L-MAC sanity: retraining control / model / data randomisation",
            sanity,
        ),
    ]
    lines = [
        "| figure | the run above |"
        + "".join(
            f" another CPU, {other['settings']['precision']} |"
            for other in others
        ),
        "| --- | --- |" + " --- |" * len(others),
    ]
    lines += [
        f"| {name} | {cell(summary)} | "
        + " | ".join(cell(other) for other in others)
        + " |"
        for name, cell in rows
    ]
    return "\n".join(lines)


TABLES["demo-other-cpu"] = demo_other_cpu_table

# Tables of experiments kept beside the demo's summary: name -> (JSON file from the repository root, renderer)
EXPERIMENTS = {
    "lmac-layers": (
        "docs/experiments/lmac_decoder_layers.json",
        lmac_layers_table,
    ),
    "lmac-learning-curve": (
        "docs/experiments/lmac_learning_curve.json",
        lmac_learning_curve_table,
    ),
    "lmac-hard-variant": (
        "docs/experiments/lmac_hard_variant.json",
        lmac_hard_variant_table,
    ),
    "lmac-hard-variant-matched-area": (
        "docs/experiments/lmac_hard_variant.json",
        lmac_matched_area_table,
    ),
    "lmac-default-set-matched-area": (
        "docs/experiments/lmac_changes_default_set.json",
        lmac_matched_area_table,
    ),
    "lmac-hard-variant-level": (
        "docs/experiments/lmac_hard_variant.json",
        lmac_hard_variant_level_table,
    ),
    "lmac-default-set-changes": (
        "docs/experiments/lmac_changes_default_set.json",
        lmac_hard_variant_table,
    ),
}
# The hard-variant benchmark taken again in fp32 on another CPU, on the hard sets of two generator seeds
EXPERIMENTS.update(
    {
        f"lmac-hard-variant-fp32-seed{seed}{suffix}": (
            f"docs/experiments/lmac_hard_variant_fp32_seed{seed}.json",
            renderer,
        )
        for seed in (7, 8)
        for suffix, renderer in (
            ("", lmac_hard_variant_table),
            ("-level", lmac_hard_variant_level_table),
        )
    }
)
# The coloured-noise changes on the hard set of the first table, on its machine (AMD EPYC, bf16)
EXPERIMENTS["lmac-hard-variant-noise-bf16"] = (
    "docs/experiments/lmac_hard_variant_noise_bf16.json",
    lmac_hard_variant_table,
)
EXPERIMENTS["lmac-hard-variant-noise-bf16-matched-area"] = (
    "docs/experiments/lmac_hard_variant_noise_bf16.json",
    lmac_matched_area_table,
)
# Validation on changed clips, three L1 weights and the weight chosen by it, on a third CPU (AMD EPYC, fp32)
EXPERIMENTS.update(
    {
        f"lmac-changed-validation-{name}{suffix}": (
            f"docs/experiments/lmac_changed_validation_amd_fp32_{name.replace('-', '_')}.json",
            renderer,
        )
        for name in ("seed7", "seed8", "seed9", "default-set")
        for suffix, renderer in (
            ("", lmac_hard_variant_table),
            ("-level", lmac_hard_variant_level_table),
        )
    }
)
# The recipe defaults and the few-clips settings on several small hard sets (the recipe row's size)
EXPERIMENTS["lmac-hard-sets"] = (
    "docs/experiments/lmac_hard_sets_amd_fp32.json",
    lmac_hard_sets_table,
)
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def render(text, summary, root=ROOT):
    """``text`` with every known ``demo_tables`` block rewritten from ``summary`` (or, for an experiment's block,
    from its JSON under ``root``); unknown names are an error."""

    def replace(match):
        name = match["name"]
        if name in EXPERIMENTS:
            path, renderer = EXPERIMENTS[name]
            with open(os.path.join(root, path), encoding="utf-8") as handle:
                return f"{match.group(1)}{renderer(json.load(handle))}\n{match.group(4)}"
        if name not in TABLES:
            raise KeyError(
                f"unknown demo table {name!r}; known: {sorted(TABLES) + sorted(EXPERIMENTS)}"
            )
        return f"{match.group(1)}{TABLES[name](summary)}\n{match.group(4)}"

    return BLOCK.sub(replace, text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="summary.json of a demo run")
    parser.add_argument(
        "files", nargs="+", help="markdown files holding demo_tables blocks"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="report the files whose blocks differ; write nothing",
    )
    args = parser.parse_args(argv)
    with open(args.summary, encoding="utf-8") as handle:
        summary = json.load(handle)
    stale = []
    for path in args.files:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        updated = render(text, summary)
        if updated != text:
            stale.append(path)
            if not args.check:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(updated)
    for path in stale:
        print(f"{'differs' if args.check else 'updated'}: {path}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
