"""Pictures of explanations: input spectrogram, mask, masked spectrogram."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from interpretability.spectral import HOP_LENGTH, SAMPLE_RATE, apply_mask  # noqa: E402


def _db(magnitude):
    return 20 * torch.log10(magnitude.clamp(min=1e-5))


def save_explanation_figure(path, magnitude, mask, title="", domain="linear", sample_rate=SAMPLE_RATE):
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
        (_db(magnitude), "input (dB)", dict(vmin=reference - 80, vmax=reference, cmap="magma")),
        (mask, "mask", dict(vmin=0, vmax=1, cmap="viridis")),
        (_db(masked), "explanation (dB)", dict(vmin=reference - 80, vmax=reference, cmap="magma")),
    ]
    for axis, (image, name, style) in zip(axes, panels):
        shown = axis.imshow(image.T.numpy(), origin="lower", aspect="auto", extent=extent, **style)
        axis.set_title(name)
        axis.set_xlabel("time (s)")
        fig.colorbar(shown, ax=axis, fraction=0.046)
    axes[0].set_ylabel("frequency (kHz)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
