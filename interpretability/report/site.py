"""The report of a results folder: one static ``index.html`` with its wavs and pictures beside it.

Sections (each only where its results exist): the headline tables (classifier; L-MAC, L-MAC FT, L2I; the
comparison with the best baseline, in-domain and out-of-domain), listening cards, L2I components, the sanity
check's curve, the AND neuron cards with the last-layer accuracy, the pruning result and the uninterpretable
share, and the definitions of every metric shown. Tables are built from whatever keys the result files hold.
"""

import logging
import math
import os
import time

from interpretability.errors import InputError
from interpretability.report import (
    definitions,
    html as H,
)
from interpretability.report.collect import NAMES, TRAINED_ORDER, discover
from interpretability.report.figures import save_sanity_figure
from interpretability.report.listening import ListeningOptions, listening_cards
from interpretability.report.neurons import (
    neuron_cards,
    uninterpretable_picture,
)

logger = logging.getLogger(__name__)

INDEX = "index.html"
CONDITION_NAMES = {
    "in_domain": "in-domain",
    "other_class_mixture": "mixed with another class",
    "white_noise": "in white noise",
    "speech_mixture": "mixed with speech",
}
HEADLINE_KEYS = ("AI", "AD", "AG", "SISDR_gain")
INTERPRETER_KEYS = (
    "AI",
    "AD",
    "AG",
    "FF",
    "FidIn",
    "SPS",
    "COMP",
    "MM",
    "SISDR_gain",
    "IoU",
    "fidelity_top1",
    "FF_median",
    "FF_median_random",
    "params",
)
SHORT = {
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "IG",
    "gradcam": "GradCAM",
    "guided_backprop": "Guided BP",
    "guided_gradcam": "Guided GradCAM",
    "shap": "GradientShap",
}
METRIC_ORDER = (
    "acc",
    "mean_confidence",
    "AI",
    "AD",
    "AG",
    "FF",
    "FF_median",
    "FidIn",
    "SPS",
    "COMP",
    "MM",
    "SISDR",
    "SISDR_input",
    "SISDR_gain",
    "precision",
    "recall",
    "IoU",
)
ALWAYS_DEFINED = (
    "AI",
    "AD",
    "AG",
    "FF",
    "FidIn",
    "SPS",
    "COMP",
    "MM",
    "SISDR",
    "SISDR_gain",
    "IoU",
)


def _ordered_keys(rows):
    keys = []
    for _, metrics in rows:
        keys += [
            k for k, v in metrics.items() if k not in keys and H.is_number(v)
        ]
    first = [k for k in METRIC_ORDER if k in keys]
    tail = [
        k
        for k in keys
        if k not in first and k not in ("params", "n_clips", "n_rows")
    ]
    return (
        first + tail + [k for k in ("params", "n_clips", "n_rows") if k in keys]
    )


def _finite(value):
    return H.is_number(value) and math.isfinite(value)


def _num(value, pattern):
    return H.esc(pattern.format(value)) if _finite(value) else "–"


class Report:
    """Builds the sections of one report; ``used`` collects the metric names shown (for the definitions)."""

    def __init__(self, results, out_dir):
        self.results = results
        self.out_dir = out_dir
        self.used = set()
        self.notes = []

    def rel(self, path):
        return H.rel(path, self.out_dir)

    # ---- headline --------------------------------------------------------------------------------------
    def headline(self):
        r = self.results
        parts = []
        classifier = r.metrics.get("classifier")
        if classifier:
            parts.append(
                "<h3>Classifier (test split)</h3>"
                + H.metric_table(
                    [("classifier", classifier)],
                    _ordered_keys([("c", classifier)]),
                    self.used,
                    best=False,
                    row_header="model",
                    table_id="table-classifier",
                )
            )
        trained = [
            (NAMES.get(m, m), r.metrics[m])
            for m in r.interpreters
            if r.metrics.get(m)
        ]
        if trained:
            every = _ordered_keys(trained)
            main = [k for k in INTERPRETER_KEYS if k in every]
            parts.append(
                "<h3>Interpreters on the test split (their own recipes' evaluation)</h3>"
                + H.metric_table(
                    trained, main, self.used, table_id="table-interpreters"
                )
                + "<details><summary>Every metric of the interpreters' test_metrics.json</summary>"
                + H.metric_table(
                    trained, every, self.used, table_id="table-interpreters-all"
                )
                + "</details>"
            )
        if r.comparison:
            parts.append(self.comparison_headline())
        if r.metrics.get("nmf"):
            parts.append(
                "<h3>NMF dictionary (L2I)</h3>"
                + H.key_value_table(
                    r.metrics["nmf"], self.used, table_id="table-nmf"
                )
            )
        if not parts:
            return ""
        return (
            '<section id="headline"><h2>Headline results</h2><p class="muted">Column headers link to the '
            "metric definitions (↑ higher is better, ↓ lower is better; best value per column in "
            "green).</p>" + "".join(parts) + "</section>"
        )

    def comparison_headline(self):
        from interpretability.evaluation.tables import method_order
        from interpretability.interpreters.gradient import BASELINES

        comparison = self.results.comparison
        conditions = [
            c
            for c in comparison
            if isinstance(comparison[c], dict) and not c.startswith("sanity")
        ]
        rows_html = []
        keys = [
            k
            for k in HEADLINE_KEYS
            if any(
                _finite(m.get(k))
                for c in conditions
                for m in comparison[c].values()
                if isinstance(m, dict)
            )
        ]
        header = "".join(
            f'<th colspan="{len(keys)}">{H.esc(CONDITION_NAMES.get(c, c))}</th>'
            for c in conditions
        )
        sub = "".join(
            H.metric_th(k, self.used) for _ in conditions for k in keys
        )
        for method in [m for m in TRAINED_ORDER] + ["best baseline"]:
            cells = []
            for condition in conditions:
                by_method = comparison[condition]
                for key in keys:
                    if method == "best baseline":
                        sign = definitions.direction(key) or 1
                        candidates = [
                            (b, by_method[b].get(key))
                            for b in BASELINES
                            if b in by_method and _finite(by_method[b].get(key))
                        ]
                        if candidates:
                            name, value = max(
                                candidates, key=lambda nv: sign * nv[1]
                            )
                            cells.append(
                                f'<td>{H.esc(H.fmt(value, key))}<br><span class="muted small">'
                                f"{H.esc(SHORT.get(name, name))}</span></td>"
                            )
                        else:
                            cells.append("<td>–</td>")
                    else:
                        value = by_method.get(method, {}).get(key)
                        cells.append(f"<td>{H.esc(H.fmt(value, key))}</td>")
            if method != "best baseline" and not any(
                method in comparison[c] for c in conditions
            ):
                continue
            rows_html.append(
                f'<tr><td class="name">{H.esc(NAMES.get(method, method))}</td>{"".join(cells)}</tr>'
            )
        first = (
            next(iter(comparison[conditions[0]].values()), {})
            if conditions
            else {}
        )
        count = first.get("n_rows", "?") if isinstance(first, dict) else "?"
        table = (
            f'<div class="scroll"><table id="table-headline"><thead><tr>'
            f'<th class="name" rowspan="2">method</th>{header}</tr>'
            f"<tr>{sub}</tr></thead><tbody>{''.join(rows_html)}</tbody></table></div>"
        )
        details = []
        for condition in conditions:
            by_method = comparison[condition]
            rows = [
                (
                    m if m not in ("all_ones", "random") else f"({m})",
                    by_method[m],
                )
                for m in method_order(list(by_method))
                if isinstance(by_method[m], dict)
            ]
            details.append(
                f"<h4>{H.esc(CONDITION_NAMES.get(condition, condition))}</h4>"
                + H.metric_table(
                    rows,
                    _ordered_keys(rows),
                    self.used,
                    table_id=f"table-{condition}",
                )
            )
        margins = ""
        if self.results.margins:
            rows = []
            for condition, by_method in self.results.margins.items():
                for method, entry in by_method.items():
                    row = {k: v for k, v in entry.items() if H.is_number(v)}
                    best = entry.get("best_baseline") or {}
                    row.update(
                        {f"best baseline ({k})": v for k, v in best.items()}
                    )
                    rows.append(
                        (
                            f"{NAMES.get(method, method)}, {CONDITION_NAMES.get(condition, condition)}",
                            row,
                        )
                    )
            margins = (
                "<h4>Lead over the best baseline (margins.json; positive: the interpreter is better)</h4>"
                + H.metric_table(
                    rows, None, None, best=False, table_id="table-margins"
                )
            )
        return (
            f"<h3>Comparison on the same {H.esc(count)} test clips: every method explains the same decisions"
            f"</h3>{table}<details><summary>All methods, every condition</summary>{''.join(details)}{margins}"
            "</details>"
        )

    # ---- listening cards -------------------------------------------------------------------------------
    def _card(self, card):
        status = (
            ""
            if card["correct"] is None
            else (" ok" if card["correct"] else " wrong")
        )
        true = ", ".join(card["true"]) or "?"
        sisdr = (
            f" · input SI-SDR {card['SISDR_input']:.1f} dB against the clean event"
            if card["SISDR_input"] is not None
            else ""
        )
        partner = (
            f" · mixed with {H.esc(card['partner'])}"
            if card.get("partner")
            else ""
        )
        rows = [
            f'<tr><td class="name">input</td><td>{H.audio(self.rel(card["input"]), "input")}</td>'
            f"<td>{H.image(self.rel(card['input_image']), 'input spectrogram', 'thumb')}</td>"
            '<td colspan="4" class="muted">what the classifier hears</td></tr>'
        ]
        if card["clean"]:
            rows.append(
                f'<tr><td class="name">clean event</td><td>{H.audio(self.rel(card["clean"]), "clean")}</td>'
                f"<td>{H.image(self.rel(card['clean_image']), 'clean event spectrogram', 'thumb')}</td>"
                '<td colspan="4" class="muted">ground truth (synthetic set)</td></tr>'
            )
        rows.append(
            "<tr><th>method</th><th>listen: ISTFT(M|X|, φ)</th><th>what it keeps</th>"
            + H.short_th("p_kept", "p(kept)", self.used)
            + H.short_th("MM", "MM", self.used)
            + H.short_th("SISDR", "SI-SDR", self.used)
            + H.short_th("SISDR_gain", "gain", self.used)
            + "</tr>"
        )
        for row in card["methods"]:
            name = SHORT.get(
                row["method"], NAMES.get(row["method"], row["method"])
            )
            rows.append(
                f'<tr><td class="name">{H.esc(name)}</td><td>{H.audio(self.rel(row["audio"]), name)}</td>'
                f"<td>{H.image(self.rel(row['image']), name + ' explanation', 'thumb')}</td>"
                f'<td class="num">{_num(row["p_in"], "{:.2f}")}</td>'
                f'<td class="num">{_num(row["mask_mean"], "{:.2f}")}</td>'
                f'<td class="num">{_num(row["SISDR"], "{:.1f}")}</td>'
                f'<td class="num">{_num(row["SISDR_gain"], "{:+.1f}")}</td></tr>'
            )
        return (
            f'<div class="card" id="card-{H.esc(card["key"])}"><h3>{H.esc(card["title"])}</h3>'
            f'<p>class <b>{H.esc(true)}</b> · decision <span class="decision{status}">'
            f"{H.esc(card['decision'])}</span> (p = {card['probability']:.2f}){sisdr}{partner}</p>"
            f"<table>{''.join(rows)}</table></div>"
        )

    def listening(self, listening):
        parts = []
        seconds = (
            listening["in_domain"][0]["seconds"]
            if listening["in_domain"]
            else 0
        )
        intro = (
            f'<p class="muted">Pictures: spectrograms, 0–{seconds:g} s left to right, 0–8 kHz bottom to top, '
            "80 dB range on the input's scale. p(kept): the classifier's probability of its decision on "
            "what the explanation keeps, M|X|. The gradient baselines use cheaper settings here than in the "
            f"comparison ({H.esc(listening['settings'])}); the tables above hold the measured metrics.</p>"
        )
        if listening["in_domain"]:
            per_class = listening.get("clips_per_class", 2)
            count = {1: "one", 2: "two", 3: "three"}.get(
                per_class, str(per_class)
            )
            parts.append(
                f'<section id="listening"><h2>Listening cards: test clips, {count} of every class</h2>'
                + intro
                + '<div class="cards">'
                + "".join(self._card(c) for c in listening["in_domain"])
                + "</div></section>"
            )
        ood = listening.get("other_class_mixture", []) + listening.get(
            "white_noise", []
        )
        if ood:
            parts.append(
                '<section id="ood"><h2>Listening cards: out of domain</h2><p class="muted">The same '
                "clips mixed with a clip of another class (0.8 / 0.2 of unit-norm signals) or with white "
                "noise (1 / 0.5); SI-SDR against the clean event of the original clip.</p>"
                '<div class="cards">'
                + "".join(self._card(c) for c in ood)
                + "</div></section>"
            )
        l2i = listening.get("in_domain_l2i") or []
        if l2i:
            cards = []
            for card in l2i:
                rows = [
                    f'<tr><td class="name">input</td><td>{H.audio(self.rel(card["input"]), "input")}</td>'
                    f"<td>{H.image(self.rel(card['input_image']), 'input spectrogram', 'thumb')}</td>"
                    "<td></td><td></td></tr>",
                    "<tr><th>component</th><th>listen</th><th>what it keeps</th><th>relevance</th>"
                    + H.metric_th("MM", self.used)
                    + "</tr>",
                ]
                for comp in card["components"]:
                    rows.append(
                        f'<tr><td class="name">component {comp["component"]}</td>'
                        f"<td>{H.audio(self.rel(comp['audio']), 'component')}</td>"
                        f"<td>{H.image(self.rel(comp['image']), 'component', 'thumb')}</td>"
                        f'<td class="num">{comp["relevance"]:.2f}</td>'
                        f'<td class="num">{_num(comp["mask_mean"], "{:.2f}")}</td></tr>'
                    )
                cards.append(
                    f'<div class="card"><h3>{H.esc(card["title"])}</h3><p>decision '
                    f'<span class="decision">{H.esc(card["decision"])}</span> (p = '
                    f"{card['probability']:.2f})</p><table>{''.join(rows)}</table></div>"
                )
            parts.append(
                '<section id="l2i-components"><h2>L2I components</h2><p class="muted">The NMF components '
                "L2I finds most relevant to the decision (relevance r<sub>k</sub> = z<sub>k</sub> "
                "θ<sub>c,k</sub> / max |z θ<sub>c</sub>|, kept above τ), each heard alone as "
                "ISTFT(w<sub>k</sub>h<sub>k</sub> / WH · |X|, phase).</p>"
                f'<div class="cards">{"".join(cards)}</div></section>'
            )
        return "".join(parts)

    # ---- sanity ----------------------------------------------------------------------------------------
    def sanity(self):
        comparison = self.results.comparison or {}
        parts = []
        sanity = comparison.get("sanity")
        if isinstance(sanity, dict) and sanity:
            from interpretability.evaluation.tables import method_order

            plotted = [
                m for m in method_order(list(sanity)) if not m.endswith("_mel")
            ]
            picture = save_sanity_figure(
                os.path.join(self.out_dir, "img", "sanity.png"), sanity, plotted
            )
            rows = [
                (m, sanity[m])
                for m in method_order(list(sanity))
                if isinstance(sanity[m], dict)
            ]
            keys = []
            for _, metrics in rows:
                keys += [
                    k
                    for k in metrics
                    if k not in keys
                    and H.is_number(metrics[k])
                    and k != "rank_corr_all"
                ]
            parts.append(
                H.image(
                    self.rel(picture),
                    "mask rank correlation per randomised layer",
                    "plot",
                )
                + "<details><summary>Table</summary>"
                + H.metric_table(
                    rows, keys, self.used, best=False, table_id="table-sanity"
                )
                + "</details>"
            )
        retrained = comparison.get("sanity_retrained")
        if isinstance(retrained, dict) and retrained:
            rows = [(m, v) for m, v in retrained.items() if isinstance(v, dict)]
            parts.append(
                "<h3>Retrained sanity checks</h3>"
                + H.metric_table(
                    rows,
                    None,
                    self.used,
                    best=False,
                    table_id="table-sanity-retrained",
                )
            )
        if not parts:
            return ""
        return (
            '<section id="sanity"><h2>Sanity check: cascading randomisation</h2><p class="muted">Rank '
            "correlation of each method's masks with those of the trained classifier after re-initialising its "
            "layers from the top, cumulatively: a method that explains the model should fall towards 0; the "
            "random control stays at 1 by construction.</p>"
            + "".join(parts)
            + "</section>"
        )

    # ---- AND ---------------------------------------------------------------------------------------------
    def _neuron_card(self, card):
        kind = (
            f"class {card['true_class']}"
            if card.get("true_class")
            else "hidden"
        )
        clips = "".join(
            f"<tr><td>{H.audio(self.rel(c['audio']), c['id']) if c['audio'] else '(no file)'}</td>"
            f'<td class="num">{H.esc(H.fmt(c["activation"]))}</td><td>{H.esc(c["id"])}: '
            f"{H.esc(c['description'])}</td></tr>"
            for c in card["clips"]
        )
        closed = "".join(
            f"<li>{H.esc(m)}: {H.esc(v)}</li>"
            for m, v in card["closed"].items()
        )
        flag = card.get("uninterpretable")
        flag = (
            f" · uninterpretable at τ = {H.esc(flag[0])}: {'yes' if flag[1] else 'no'}"
            if flag
            else ""
        )
        return (
            f'<div class="card"><h3>{H.esc(card["layer"])} #{H.esc(card["id"])} '
            f'<span class="muted">({H.esc(kind)}){flag}</span></h3>'
            f"<p><b>Calibrated summary:</b> {H.esc(card.get('calibrated_summary') or '–')}</p>"
            f'<p class="muted">Highly activating summary: {H.esc(card.get("highly_summary") or "–")}</p>'
            f"<ul>{closed}<li>open concepts: {H.esc(', '.join(card['open']) or '–')}</li></ul>"
            f"<table><tr><th>top activating clip</th><th>activation</th><th>description</th></tr>{clips}"
            "</table></div>"
        )

    def dissection(self, neurons):
        metrics = self.results.and_metrics or {}
        parts = []
        top1, top5 = (
            metrics.get("last_layer_top1"),
            metrics.get("last_layer_top5"),
        )
        if isinstance(top1, dict) or isinstance(top5, dict):
            flat1, flat5 = H.flatten(top1 or {}), H.flatten(top5 or {})
            rows = [
                (
                    name,
                    {
                        "last_layer_top1": flat1.get(name),
                        "last_layer_top5": flat5.get(name),
                    },
                )
                for name in list(dict.fromkeys([*flat1, *flat5]))
            ]
            parts.append(
                "<h3>Last-layer accuracy (output neurons whose concept is their class)</h3>"
                + H.metric_table(
                    rows,
                    ["last_layer_top1", "last_layer_top5"],
                    self.used,
                    table_id="table-and-last-layer",
                )
            )
        pruning = metrics.get("pruning")
        by_strategy = metrics.get("pruning_by_strategy") or (
            {pruning.get("strategy", "pruning"): pruning}
            if isinstance(pruning, dict)
            else {}
        )
        if by_strategy:
            control_rows = []
            for strategy, summary in by_strategy.items():
                flat = H.flatten(summary)
                for label, suffix in (
                    ("concept's neurons", ""),
                    ("random neurons (control)", "_random"),
                ):
                    row = {
                        k: flat.get(k + suffix)
                        for k in (
                            "delta_A",
                            "delta_R",
                            "delta_A_logit",
                            "delta_R_logit",
                        )
                    }
                    if any(_finite(v) for v in row.values()):
                        control_rows.append((f"{strategy}: {label}", row))
            full = [(s, H.flatten(v)) for s, v in by_strategy.items()]
            parts.append(
                "<h3>Pruning by concept, against as many random neurons</h3>"
                + H.metric_table(
                    control_rows,
                    None,
                    self.used,
                    best=False,
                    row_header="neurons pruned",
                    table_id="table-and-pruning",
                )
                + "<details><summary>Every pruning measure</summary>"
                + H.metric_table(
                    full, None, self.used, best=False, row_header="strategy"
                )
                + self._per_target(metrics.get("pruning_per_target"))
                + "</details>"
            )
        shares = metrics.get("uninterpretable_by_tau") or (
            {"": metrics["uninterpretable"]}
            if isinstance(metrics.get("uninterpretable"), dict)
            else {}
        )
        picture = uninterpretable_picture(self.results.and_folder, self.out_dir)
        if shares or picture:
            rows = [
                (f"tau = {tau}" if tau else "share", values)
                for tau, values in shares.items()
                if isinstance(values, dict)
            ]
            table = H.metric_table(
                rows,
                None,
                None,
                best=False,
                row_header="tau",
                table_id="table-and-uninterpretable",
            )
            parts.append(
                "<h3>Share of uninterpretable neurons per layer</h3>"
                + (
                    H.image(
                        self.rel(picture),
                        "uninterpretable share per layer",
                        "plot narrow",
                    )
                    if picture
                    else ""
                )
                + (table if rows else "")
            )
        known = {
            "last_layer_top1",
            "last_layer_top5",
            "pruning",
            "pruning_by_strategy",
            "pruning_per_target",
            "uninterpretable",
            "uninterpretable_by_tau",
            "layers",
        }
        other = {k: v for k, v in metrics.items() if k not in known}
        if other:
            parts.append(
                "<h3>Other dissection results</h3>"
                + H.key_value_table(other, self.used)
            )
        if neurons and neurons["cards"]:
            parts.append(
                f"<h3>Neuron cards: every output neuron, and the {H.esc(neurons['hidden_layer'])} neurons "
                "with the highest description-based concept score</h3>"
                + '<div class="cards">'
                + "".join(self._neuron_card(c) for c in neurons["cards"])
                + "</div>"
            )
        if not parts:
            return ""
        return (
            '<section id="and"><h2>AND: what the classifier\'s neurons respond to</h2>'
            + "".join(parts)
            + "</section>"
        )

    def _per_target(self, per_target):
        if not isinstance(per_target, dict) or not per_target:
            return ""
        rows = [
            (target, H.flatten(v))
            for target, v in per_target.items()
            if isinstance(v, dict)
        ]
        return "<h4>Per target class</h4>" + H.metric_table(
            rows, None, self.used, best=False, row_header="target"
        )


def _nav(sections):
    """Links to the sections (``(id, title)``) and to other pages (``(None, (title, relative url))``)."""
    links = [
        f'<a href="#{sid}">{H.esc(title)}</a>'
        if sid
        else f'<a href="{H.esc(title[1])}">{H.esc(title[0])}</a>'
        for sid, title in sections
    ]
    return "<nav>" + "".join(links) + "</nav>"


def write_report(
    results_dir,
    out_dir=None,
    listening=True,
    listening_options=None,
    neuron_options=None,
    title=None,
    classifier=None,
    interpreters=None,
):
    """Write the report of a results folder (the demo's, or one recipe run's output folder); returns the path of
    its ``index.html``.

    Arguments
    ---------
    results_dir : str, the folder of results.
    out_dir : str, where the report goes (default ``<results_dir>/report``); wavs under ``audio/``, pictures
        under ``img/``.
    listening : bool, compute the listening cards (needs the exported classifier and a test manifest).
    listening_options : :class:`~interpretability.report.listening.ListeningOptions`.
    neuron_options : :class:`~interpretability.report.neurons.NeuronOptions`.
    title : str, the page title.
    classifier, interpreters : models kept outside ``results_dir`` (an exported classifier folder; ``{name: run
        folder}``), e.g. an ``evaluate.py`` run's ``--pretrained_*`` folders; see
        :func:`~interpretability.report.collect.discover`.
    """
    started = time.perf_counter()
    results = discover(results_dir, classifier, interpreters)
    out_dir = os.path.abspath(out_dir or os.path.join(results.root, "report"))
    os.makedirs(out_dir, exist_ok=True)
    report = Report(results, out_dir)
    listening_options = listening_options or ListeningOptions()
    sections, body = [], []

    headline = report.headline()
    if headline:
        sections.append(("headline", "Headline"))
        body.append(headline)
    cards = None
    if listening and (results.classifier_source() is not None):
        try:
            cards = listening_cards(results, out_dir, listening_options)
        except InputError as err:
            logger.warning("report: no listening cards: %s", err)
            report.notes.append(f"No listening cards: {err}")
    if cards is not None:
        cards["clips_per_class"] = listening_options.clips_per_class
        cards["settings"] = (
            f"IG {listening_options.ig_steps} steps, SmoothGrad "
            f"{listening_options.smoothgrad_samples} and GradientShap "
            f"{listening_options.shap_samples} samples"
        )
        report.notes += cards["notes"]
        html = report.listening(cards)
        if html:
            body.append(html)
            sections.append(("listening", "Listening cards"))
            if cards.get("other_class_mixture") or cards.get("white_noise"):
                sections.append(("ood", "Out of domain"))
            if cards.get("in_domain_l2i"):
                sections.append(("l2i-components", "L2I components"))
    sanity = report.sanity()
    if sanity:
        sections.append(("sanity", "Sanity check"))
        body.append(sanity)
    if results.and_folder:
        neurons = neuron_cards(
            results.and_folder, out_dir, results.manifests, neuron_options
        )
        dissection = report.dissection(neurons)
        if dissection:
            sections.append(("and", "Neurons (AND)"))
            body.append(dissection)
    explained = os.path.join(results.root, "explained", "index.html")
    if os.path.isfile(explained):
        sections.append((None, ("Explain a file", H.rel(explained, out_dir))))
    report.used.update(ALWAYS_DEFINED)
    sections.append(("definitions", "Metric definitions"))
    body.append(
        '<section id="definitions"><h2>Metric definitions</h2>'
        + H.definitions_section(report.used)
        + "</section>"
    )
    seconds = time.perf_counter() - started
    listening_seconds = cards["seconds"]["total"] if cards else 0.0
    notes = "".join(f"<li>{H.esc(n)}</li>" for n in report.notes)
    notes = f"<ul>{notes}</ul>" if notes else ""
    found = ", ".join(results.parts) or "no recognised results"
    footer = (
        f'<footer class="muted"><p>Built from {H.esc(results.root)} ({H.esc(found)}) in {seconds:.1f} s, of '
        f"which {listening_seconds:.1f} s for the listening cards.</p>{notes}</footer>"
    )
    if not results.parts:
        body.insert(0, f"<p>No results found in {H.esc(results.root)}.</p>")
    page = H.page(
        title or "Listenable, faithful explanations: results",
        _nav(sections) + "".join(body) + footer,
        subtitle=f"{results.root}",
    )
    path = H.write_page(os.path.join(out_dir, INDEX), page)
    logger.info("report written to %s in %.1f s", path, seconds)
    return path
