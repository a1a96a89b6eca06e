"""Pictures of explanations: input spectrogram, mask, masked spectrogram."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from interpretability.spectral import (  # noqa: E402
    HOP_LENGTH,
    SAMPLE_RATE,
    apply_mask,
)


def _db(magnitude):
    return 20 * torch.log10(magnitude.clamp(min=1e-5))


def save_explanation_figure(
    path, magnitude, mask, title="", domain="linear", sample_rate=SAMPLE_RATE
):
    """Save a three-panel PNG of one clip.

    Arguments
    ---------
    path : str
    magnitude : torch.Tensor ``[T, F]`` linear magnitude
    mask : torch.Tensor ``[T, F]`` in [0, 1]
    title : str
    """
    magnitude = magnitude.detach().cpu().float()
    mask = mask.detach().cpu().float()
    masked = apply_mask(magnitude, mask, domain)
    duration = magnitude.shape[0] * HOP_LENGTH / sample_rate
    extent = [0, duration, 0, sample_rate / 2000]
    reference = _db(magnitude).max().item()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), sharey=True)
    panels = [
        (
            _db(magnitude),
            "input (dB)",
            dict(vmin=reference - 80, vmax=reference, cmap="magma"),
        ),
        (mask, "mask", dict(vmin=0, vmax=1, cmap="viridis")),
        (
            _db(masked),
            "explanation (dB)",
            dict(vmin=reference - 80, vmax=reference, cmap="magma"),
        ),
    ]
    for axis, (image, name, style) in zip(axes, panels):
        shown = axis.imshow(
            image.T.numpy(),
            origin="lower",
            aspect="auto",
            extent=extent,
            **style,
        )
        axis.set_title(name)
        axis.set_xlabel("time (s)")
        fig.colorbar(shown, ax=axis, fraction=0.046)
    axes[0].set_ylabel("frequency (kHz)")
    if title:
        fig.suptitle(title)
    # a fixed layout: tight_layout measured every tick label and took 40 % of the figure's time
    fig.subplots_adjust(
        left=0.05,
        right=0.955,
        bottom=0.16,
        top=0.8 if title else 0.88,
        wspace=0.12,
    )
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


# ---- the report's pictures (written atomically) ----------------------------------------------------------
def _save_figure(fig, path, dpi=80):
    import io

    from interpretability.report.files import write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path


_LUTS = {}


def _lut(cmap):
    """A colour map as a ``[256, 3]`` uint8 table."""
    import numpy as np

    if cmap not in _LUTS:
        _LUTS[cmap] = (
            np.asarray(plt.get_cmap(cmap)(np.linspace(0, 1, 256)))[:, :3] * 255
        ).astype(np.uint8)
    return _LUTS[cmap]


def spectrogram_image(
    magnitude,
    reference_db=None,
    freq_rows=128,
    max_columns=None,
    cmap="magma",
    floor_db=80.0,
):
    """RGB image ``[rows, columns, 3]`` (uint8, low frequencies at the bottom) of a magnitude ``[T, F]`` in dB,
    ``reference_db`` (default its maximum) at the top of an ``floor_db`` range. Frequency bins are max-pooled to
    about ``freq_rows`` and frames to at most ``max_columns`` (None: all), so that tonal lines and clicks stay
    visible."""
    db = _db(magnitude.detach().cpu().float())
    if max_columns and db.shape[0] > max_columns:
        step = -(-db.shape[0] // max_columns)
        db = torch.nn.functional.pad(
            db.T, (0, (-db.shape[0]) % step), value=-200.0
        ).T
        db = db.reshape(-1, step, db.shape[1]).amax(dim=1)
    reference = float(db.max()) if reference_db is None else float(reference_db)
    n_freqs = db.shape[1]
    factor = max(1, n_freqs // freq_rows)
    usable = (n_freqs // factor) * factor
    pooled = db[:, :usable].reshape(db.shape[0], -1, factor).amax(dim=2)
    scaled = (
        ((pooled - (reference - floor_db)) / floor_db).clamp(0, 1).T.flip(0)
    )
    return _lut(cmap)[(scaled * 255).round().long().numpy()]


def save_spectrogram_thumbnail(
    path, magnitude, reference_db=None, freq_rows=64, max_columns=128
):
    """A small PNG (no axes: time left to right, frequency bottom to top) of a magnitude ``[T, F]`` in dB,
    ``reference_db`` the top of the colour scale (the input's maximum, so that a masked spectrogram is drawn on its
    input's scale)."""
    import io

    from PIL import Image

    from interpretability.report.files import write_bytes

    buffer = io.BytesIO()
    Image.fromarray(
        spectrogram_image(magnitude, reference_db, freq_rows, max_columns)
    ).save(buffer, format="png")
    write_bytes(path, buffer.getvalue())
    return path


def save_clip_figure(path, panels, sample_rate=SAMPLE_RATE):
    """A PNG of one or more labelled spectrograms side by side: ``panels`` ``[(title, magnitude [T, F])]``, all
    on the colour scale of the first one (dB, 80 dB range), with time and frequency axes."""
    reference = _db(panels[0][1].detach().cpu().float()).max().item()
    duration = panels[0][1].shape[0] * HOP_LENGTH / sample_rate
    extent = [0, duration, 0, sample_rate / 2000]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.3 * len(panels), 2.1),
        sharey=True,
        squeeze=False,
    )
    for axis, (name, magnitude) in zip(axes[0], panels):
        image = _db(magnitude.detach().cpu().float())
        axis.imshow(
            image.T.numpy(),
            origin="lower",
            aspect="auto",
            extent=extent,
            vmin=reference - 80,
            vmax=reference,
            cmap="magma",
            interpolation="nearest",
        )
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("time (s)", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0][0].set_ylabel("kHz", fontsize=8)
    fig.tight_layout(pad=0.4)
    return _save_figure(fig, path)


def save_sanity_figure(path, sanity, methods=None):
    """The cascading randomisation curve: each method's mask rank correlation (before / after) against the
    layers re-initialised so far, top first. ``sanity`` is comparison.json's ``{method: {"rank_corr_<step>": r}}``.
    """
    methods = [m for m in (methods or list(sanity)) if m in sanity]
    steps = []
    for method in methods:
        steps += [
            k
            for k in sanity[method]
            if k.startswith("rank_corr_")
            and k != "rank_corr_all"
            and k not in steps
        ]
    fig, axis = plt.subplots(figsize=(8.5, 3.6))
    x = list(range(len(steps)))
    trained = ("lmac", "lmac_ft", "l2i")
    for method in methods:
        values = [sanity[method].get(step) for step in steps]
        values = [float("nan") if v is None else float(v) for v in values]
        style = (
            dict(linewidth=2.6, marker="o")
            if method in trained
            else dict(linewidth=1.2, marker=".")
        )
        if method in ("random", "all_ones"):
            style.update(linestyle="--", color="grey")
        axis.plot(x, values, label=method, **style)
    axis.set_xticks(
        x, ["+ " + s[len("rank_corr_") :] for s in steps], fontsize=8
    )
    axis.set_xlabel("layers re-initialised (cumulative, from the top)")
    axis.set_ylabel("rank correlation of masks")
    finite = [
        float(v)
        for m in methods
        for k, v in sanity[m].items()
        if k.startswith("rank_corr_") and isinstance(v, (int, float)) and v == v
    ]
    axis.set_ylim(min([-0.05, *finite]) - 0.05, 1.05)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return _save_figure(fig, path)
