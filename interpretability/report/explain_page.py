"""The listening page of ``python -m interpretability.explain ... --report``: one card per explained file with the
input, the listenable explanation, the spectrogram + mask picture, the decision and its probability, and for a
long file its decision track."""

import os

from interpretability.errors import InputError
from interpretability.report import html as H
from interpretability.report.figures import save_explanation_figure
from interpretability.report.files import write_wav as _write_wav
from interpretability.report.listening import safe_name

PAGE = "index.html"


def _save_figure(path, result, title, domain):
    folder, name = os.path.split(path)
    tmp = os.path.join(folder or ".", f".tmp-{os.getpid()}-{name}")
    try:
        save_explanation_figure(
            tmp, result["magnitude"], result["mask"], title=title, domain=domain
        )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _items(results):
    """``[(stem, result)]`` from ``{stem: result}`` or a list of results (each with ``name`` or ``path``)."""
    if isinstance(results, dict):
        return list(results.items())
    items = []
    for index, result in enumerate(results):
        name = result.get("name") or result.get("path") or f"file{index + 1}"
        items.append((os.path.splitext(os.path.basename(str(name)))[0], result))
    return items


def write_explain_page(
    out_dir,
    results,
    title="Explanations",
    interpreter=None,
    mask_domain="linear",
    classes=None,
    page=PAGE,
    write_files=True,
):
    """Write ``<stem>_input.wav``, ``<stem>_explanation.wav``, ``<stem>.png`` per file (the names
    ``Explainer.save`` uses) and ``out_dir/index.html``; returns the page's path.

    Arguments
    ---------
    out_dir : str
    results : ``{stem: result}`` or a list of results, each the dict ``Explainer.explain_file`` returns: ``wavs``
        ``[N]``, ``explanation`` ``[N]``, ``mask`` and ``magnitude`` ``[T, F]``, ``label``, ``probability``;
        optionally ``probs`` ``[C]`` (with ``classes``, the top 3 are listed), ``path`` (shown) and
        ``decision_track``: ``[(start_s, end_s, label, probability)]`` for a long file.
    interpreter : str, shown on the page (the interpreter folder).
    mask_domain : the interpreter's masking domain, for the picture.
    classes : the classifier's class names (for the top classes of ``probs``).
    write_files : False when ``Explainer.save`` already wrote the three files of every stem into ``out_dir`` (they
        must be there); the page then only refers to them.
    """
    items = _items(results)
    if not items:
        raise InputError("no explained files to write a page for")
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    cards = []
    for stem, result in items:
        for key in (
            "wavs",
            "explanation",
            "mask",
            "magnitude",
            "label",
            "probability",
        ):
            if key not in result:
                raise ValueError(
                    f"the result of {stem} has no {key!r} (expected Explainer.explain_file's dict)"
                )
        label, probability = str(result["label"]), float(result["probability"])
        input_path, explanation_path, figure = (
            os.path.join(out_dir, f"{stem}{suffix}")
            for suffix in ("_input.wav", "_explanation.wav", ".png")
        )
        if write_files:
            _write_wav(input_path, result["wavs"])
            _write_wav(explanation_path, result["explanation"])
            _save_figure(
                figure,
                result,
                f"{stem}: {label} (p={probability:.2f})",
                mask_domain,
            )
        else:
            for path in (input_path, explanation_path, figure):
                if not os.path.isfile(path):
                    raise InputError(
                        f"{path}: not found (write_files=False expects Explainer.save's files)"
                    )
        seconds = int(result["wavs"].shape[-1]) / 16000
        top = ""
        if result.get("probs") is not None and classes:
            probs = [float(p) for p in result["probs"]]
            order = sorted(range(len(probs)), key=lambda i: -probs[i])[:3]
            top = " · top classes: " + ", ".join(
                f"{H.esc(classes[i])} {probs[i]:.2f}" for i in order
            )
        track = ""
        if result.get("decision_track"):
            rows = "".join(
                f'<tr><td>{float(s):.2f}</td><td>{float(e):.2f}</td><td class="name">{H.esc(lab)}</td>'
                f"<td>{float(p):.2f}</td></tr>"
                for s, e, lab, p in result["decision_track"]
            )
            track = (
                '<details open><summary>Decision track</summary><table class="track"><tr><th>start (s)</th>'
                f"<th>end (s)</th><th>decision</th><th>p</th></tr>{rows}</table></details>"
            )
        source = (
            f'<p class="muted">{H.esc(result["path"])}</p>'
            if result.get("path")
            else ""
        )
        cards.append(
            f'<div class="card wide" id="file-{H.esc(safe_name(stem))}"><h3>{H.esc(stem)}</h3>{source}'
            f'<p>decision <span class="decision">{H.esc(label)}</span> (p = {probability:.2f}){top} · '
            f"{seconds:.2f} s · mask mean {float(result['mask'].float().mean()):.3f}</p>"
            f'<table><tr><td class="name">input</td><td>{H.audio(H.rel(input_path, out_dir), "input")}</td></tr>'
            f'<tr><td class="name">explanation</td><td>{H.audio(H.rel(explanation_path, out_dir), "explanation")}'
            f"</td></tr></table>{H.image(H.rel(figure, out_dir), stem + ' spectrogram, mask and explanation')}"
            f"{track}</div>"
        )
    intro = (
        '<p class="muted">The explanation is heard as ISTFT(M|X|, phase): the part of the input the mask keeps. '
        "Pictures: input spectrogram (dB), mask, masked spectrogram.</p>"
    )
    subtitle = f"interpreter: {interpreter}" if interpreter else ""
    body = intro + '<div class="cards">' + "".join(cards) + "</div>"
    return H.write_page(
        os.path.join(out_dir, page), H.page(title, body, subtitle=subtitle)
    )
