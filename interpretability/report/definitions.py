"""What every metric of the result files means, keyed by the name it has there (``AI``, ``SISDR_gain``, ...).

:func:`definition` also explains names built from known ones (``FF_median``, ``FF_random``, ``IoU_at_0.5``,
``rank_corr_conv_block4``, ``fidelity_top3``), so that a renamed or added metric still gets a sensible line; an
unknown name gets None and is listed without a definition.
"""

import re

# name: (header shown in tables, direction: 1 higher is better, -1 lower is better, 0 neither, definition)
METRICS = {
    "AI": (
        "AI",
        1,
        "Average Increase (%): share of clips whose confidence in the explained class rises when the "
        "classifier hears only the masked-in input M|X|: 100 · 1[p_in > p].",
    ),
    "AD": (
        "AD",
        -1,
        "Average Drop (%): mean relative loss of confidence on the masked-in input, "
        "100 · max(0, p − p_in) / p.",
    ),
    "AG": (
        "AG",
        1,
        "Average Gain (%): mean relative gain of confidence on the masked-in input, "
        "100 · max(0, p_in − p) / (1 − p).",
    ),
    "FF": (
        "FF",
        1,
        "Faithfulness on spectra: drop of the explained class's probability when the explanation is "
        "taken out of the input, p − p_out with p_out = f((1 − M)|X|). Mean over clips.",
    ),
    "FidIn": (
        "Fid-In",
        1,
        "Input fidelity: share of clips whose decision on the masked-in input M|X| is the "
        "decision on the input.",
    ),
    "SPS": (
        "SPS",
        1,
        "Sparseness: Gini index of the mask (0 uniform, → 1 a single cell).",
    ),
    "COMP": (
        "COMP",
        -1,
        "Complexity: entropy (nats) of the mask normalised to sum 1 (log of the number of cells "
        "for a uniform mask, 0 for a single cell).",
    ),
    "MM": ("MM", 0, "Mask mean: the share of the input the explanation keeps."),
    "SISDR": (
        "SI-SDR",
        1,
        "Scale-invariant signal-to-distortion ratio (dB) of the listenable explanation "
        "ISTFT(M|X|, phase) against the clean target event (synthetic set only).",
    ),
    "SISDR_input": (
        "SI-SDR input",
        0,
        "SI-SDR (dB) of the input itself against the clean target event: the "
        "reference the explanation is compared with.",
    ),
    "SISDR_gain": (
        "SI-SDR gain",
        1,
        "SI-SDR of the explanation minus SI-SDR of the input (dB): how much closer "
        "to the clean event the explanation sounds than the input.",
    ),
    "precision": (
        "precision",
        1,
        "Precision against the oracle mask 1[|X_clean| ≥ 0.35 max]: share of the mask's "
        "selected cells that belong to the event. Area-matched: the mask selects as many of "
        "its largest cells as the oracle has.",
    ),
    "recall": (
        "recall",
        1,
        "Recall against the oracle mask: share of the event's cells the mask selects "
        "(area-matched selection, as for precision).",
    ),
    "IoU": (
        "IoU",
        1,
        "Intersection over union of the mask's selected cells with the oracle mask "
        "1[|X_clean| ≥ 0.35 max]; area-matched: the mask selects as many of its largest cells as the "
        "oracle has, so no threshold favours one method's value range.",
    ),
    "p_kept": (
        "p(kept)",
        1,
        "The classifier's probability of its decision on what the explanation keeps, "
        "f(M|X|) for the decided class, on one clip.",
    ),
    "params": (
        "params",
        0,
        "Number of trainable parameters of the model or interpreter.",
    ),
    "n_clips": ("clips", 0, "Number of clips the metrics are computed on."),
    "n_rows": ("rows", 0, "Number of explained (clip, class) rows."),
    "acc": ("accuracy", 1, "Classification accuracy on the test split."),
    "loss": ("loss", -1, "Mean cross-entropy on the test split."),
    "error_rate": ("error rate", -1, "Share of misclassified test clips."),
    "mean_confidence": (
        "mean confidence",
        0,
        "Mean probability of the decided class on the test split.",
    ),
    "fidelity_top1": (
        "fidelity top-1",
        1,
        "L2I: share of clips whose classifier decision is Theta's top class.",
    ),
    "n_components": (
        "components",
        0,
        "L2I: mean number of NMF components selected per explanation; NMF: the "
        "dictionary size K.",
    ),
    "removed_mask_mean": (
        "removed mask mean",
        0,
        "L2I: mean of the soft mask of the selected components, i.e. "
        "how much of the input removing them takes away.",
    ),
    "random_removed_mask_mean": (
        "random removed mask mean",
        0,
        "L2I: the same for the random control components.",
    ),
    "relative_error": (
        "relative error",
        -1,
        "NMF: ||V − WH||_F / ||V||_F on the test fold.",
    ),
    "objective": (
        "objective",
        -1,
        "NMF: 0.5 ||V − WH||² + 0.5 |H|₁ per frame, the quantity the learner lowers.",
    ),
    "code_density": ("code density", 0, "NMF: share of non-zero activations."),
    "improvement": (
        "improvement",
        1,
        "NMF: 1 − objective / objective at initialisation.",
    ),
    "last_layer_top1": (
        "last-layer top-1",
        1,
        "AND: share of output neurons whose top concept is their class "
        "(per method: DB description-based, TAB, ICL).",
    ),
    "last_layer_top5": (
        "last-layer top-5",
        1,
        "AND: share of output neurons whose class is among their 5 top "
        "concepts.",
    ),
    "delta_A": (
        "Δ A",
        -1,
        "AND pruning: mean change of the own-class probability (ablated − intact) on clips of "
        "the target class when its concept's neurons are pruned; strongly negative is specific.",
    ),
    "delta_R": (
        "Δ R",
        0,
        "AND pruning: the same change on clips of the other classes (near 0 is specific).",
    ),
    "delta_A_logit": (
        "Δ A logit",
        -1,
        "AND pruning: Δ A on the logit instead of the probability.",
    ),
    "delta_R_logit": ("Δ R logit", 0, "AND pruning: Δ R on the logit."),
    "selectivity": (
        "selectivity",
        1,
        "AND pruning: Δ R − Δ A (> 0: the pruning hurts the target class more than "
        "the others).",
    ),
    "vs_random": (
        "vs random",
        1,
        "AND pruning: Δ A of the random control − Δ A (> 0: the concept's neurons matter "
        "more than as many random ones).",
    ),
    "n_neurons": (
        "neurons",
        0,
        "AND pruning: mean number of neurons pruned per target class.",
    ),
    "n_targets": (
        "targets",
        0,
        "AND pruning: number of target classes where neurons were pruned.",
    ),
    "uninterpretable": (
        "uninterpretable share",
        -1,
        "AND: share of neurons no description cluster holds tau of "
        "whose top-K clips.",
    ),
    "label_based": (
        "label-based",
        1,
        "AND: the same accuracy when the probing clips' labels replace their "
        "descriptions (an upper bound for the description-based methods).",
    ),
    "heldout": (
        "held-out",
        0,
        "AND pruning measured on clips not used to choose the neurons.",
    ),
    "rank_corr_all": (
        "rank corr. (all layers)",
        -1,
        "Sanity check: Spearman rank correlation of a method's masks "
        "with those after every layer is re-initialised (low: the "
        "explanation depends on the model).",
    ),
    "model_randomisation": (
        "model randomisation",
        -1,
        "Sanity check (retrained): rank correlation of the masks with "
        "those of the same method for a randomly initialised model "
        "(interpreter retrained on it).",
    ),
    "data_randomisation": (
        "data randomisation",
        -1,
        "Sanity check (retrained): rank correlation of the masks with "
        "those for a model trained on shuffled labels.",
    ),
}

# derived names: (pattern, header template, direction (None: that of the base), definition template)
_PATTERNS = (
    (
        r"(.+)_median_random",
        "{h} median, random",
        0,
        "Median of the random control of {base}: as many randomly chosen other components removed instead.",
    ),
    (r"(.+)_median", "{h} median", None, "Median over clips of {base}."),
    (
        r"(.+)_random",
        "{h} random",
        0,
        "The random control of {base} (as many random neurons / components).",
    ),
    (
        r"(.+)_initial",
        "{h} (initial)",
        0,
        "{base} at the initialisation, before learning.",
    ),
    (
        r"(IoU|precision|recall)_at_([0-9.]+)",
        "{h} @ {arg}",
        1,
        "{base} with the mask thresholded at {arg} instead of area-matched.",
    ),
    (
        r"fidelity_top(\d+)",
        "fidelity top-{arg}",
        1,
        "L2I: share of clips whose classifier decision is among Theta's top {arg} classes.",
    ),
    (
        r"rank_corr_(.+)",
        "+ {arg}",
        -1,
        "Sanity check: rank correlation of the masks before / after re-initialising the layers down to {arg} "
        "(cumulative, from the top).",
    ),
    (
        r"share_above_([0-9.]+)",
        "share p > {arg}",
        0,
        "Share of test clips decided with a probability above {arg}.",
    ),
)


def _resolve_one(name):
    if name in METRICS:
        return METRICS[name]
    for pattern, header_text, sign, text in _PATTERNS:
        match = re.fullmatch(pattern, name)
        if not match:
            continue
        base, arg = match.group(1), match.groups()[-1]
        known = _resolve_one(base)
        base_header = known[0] if known else base
        base_text = (
            f"{base_header} ({known[2][0].lower() + known[2][1:].rstrip('.')})"
            if known
            else base
        )
        if sign is None:
            sign = known[1] if known else 0
        return (
            header_text.format(h=base_header, arg=arg),
            sign,
            text.format(base=base_text, arg=arg),
        )
    return None


def _resolve(key):
    """``(header, direction, definition)`` of ``key``, or None when it is unknown. A dotted name (a nested value,
    ``pruning.heldout.delta_A``) is resolved by its longest known tail."""
    parts = key.split(".")
    for start in range(len(parts)):
        resolved = _resolve_one(".".join(parts[start:]))
        if resolved:
            return resolved
    return None


def definition(key):
    """The definition of a metric name, or None."""
    resolved = _resolve(key)
    return resolved[2] if resolved else None


def header(key):
    """The short column header of a metric name (the name itself when unknown)."""
    resolved = _resolve(key)
    return resolved[0] if resolved else key


def direction(key):
    """1 (higher is better), -1 (lower is better) or 0."""
    resolved = _resolve(key)
    return resolved[1] if resolved else 0


def anchor(key):
    """The HTML id of a metric's definition."""
    return "def-" + re.sub(r"[^A-Za-z0-9_.-]", "_", key)
