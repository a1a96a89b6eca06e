"""Every method of the comparison behind one interface: ``explain(view) -> mask`` on the rows of a
:class:`~interpretability.brains.interpreter.ClipView`.

Trained interpreters (L-MAC, L-MAC FT, L2I) read the classifier's hidden maps held by the view; the gradient
baselines (:mod:`interpretability.interpreters.gradient`) differentiate the classifier; two controls need neither:
``all_ones`` (the whole input) and ``random`` (noise whose mean per row matches a reference method's mask).
"""

import os

import torch

from interpretability.classifiers.io import load_classifier
from interpretability.errors import CheckpointError
from interpretability.inference import (
    CLASSIFIER_FOLDER,
    check_interpreter_fits,
    interpreter_folder,
    load_interpreter,
)


class TrainedExplainer:
    """A trained interpreter (L-MAC / L-MAC FT decoder or L2I): its mask for each row's class (a multi-label
    L-MAC decoder: that class's mask; L2I: the soft mask of the components relevant to that class)."""

    def __init__(self, interpreter, mask_domain="linear", description=None):
        self.interpreter = interpreter.eval()
        self.mask_domain = mask_domain
        self.description = dict(
            description or {}
        )  # the interpreter folder's hyperparams.yaml

    @torch.no_grad()
    def explain(self, view):
        return self.interpreter.mask(
            view.hidden, view.n_frames, classes=view.decision
        )


class AllOnesExplainer:
    """Control: the mask that keeps everything. AI, AD and AG are 0 by construction (the masked-in input is the
    input) and FF is the drop to silence."""

    constant = True

    def explain(self, view):
        return torch.ones_like(view.magnitude)


class RandomExplainer:
    """Control: i.i.d. uniform noise with, per row, the mean of a reference method's mask (L-MAC's, so both keep
    as much of the input; 0.5 without a reference): ``U(0, 2m)`` for ``m <= 0.5``, ``U(2m - 1, 1)`` above.

    The noise field is drawn from ``seed`` on every call, so it depends on nothing the model does: the
    randomisation sanity check must find it unchanged (rank correlation 1).
    """

    def __init__(self, reference=None, seed=0):
        self.reference = reference
        self.seed = int(seed)

    def explain(self, view):
        shape = view.magnitude.shape
        generator = torch.Generator().manual_seed(self.seed)
        noise = torch.rand(shape, generator=generator).to(view.magnitude)
        if self.reference is None:
            mean = torch.full(
                (shape[0],), 0.5, device=noise.device, dtype=noise.dtype
            )
        else:
            mean = (
                self.reference.explain(view)
                .detach()
                .flatten(1)
                .mean(dim=1)
                .to(noise.dtype)
            )
        mean = mean.clamp(0, 1).reshape(-1, *([1] * (len(shape) - 1)))
        low = (2 * mean - 1).clamp_min(0)
        high = (2 * mean).clamp_max(1)
        return low + (high - low) * noise


def check_same_classifier(classifier, source, folder):
    """Raise :class:`CheckpointError` unless the classifier saved in an interpreter ``folder`` is ``classifier``
    (the interpreter explains the classifier it was trained on, nothing else)."""
    saved_folder = os.path.join(folder, CLASSIFIER_FOLDER)
    if not os.path.isdir(
        saved_folder
    ):  # no copy to compare with: load_trained_explainer still checks the layers
        return
    saved, _ = load_classifier(saved_folder)
    mine, theirs = classifier.state_dict(), saved.state_dict()
    same = mine.keys() == theirs.keys() and all(
        mine[k].shape == theirs[k].shape
        and torch.equal(mine[k].cpu(), theirs[k].cpu())
        for k in mine
    )
    if not same:
        raise CheckpointError(
            f"{folder}: this interpreter was trained on the classifier in {saved_folder}, not on "
            f"{source}; pass the classifier it explains"
        )


def load_trained_explainer(folder, classifier, classifier_source, device="cpu"):
    """``(explainer, method, mask_domain)`` of an interpreter folder (or the run folder holding ``interpreter/``):
    an L-MAC / L-MAC FT decoder or an L2I interpreter, checked to explain ``classifier``."""
    folder = interpreter_folder(folder)
    check_same_classifier(classifier, classifier_source, folder)
    interpreter, description = load_interpreter(folder, device)
    check_interpreter_fits(interpreter, classifier, folder, classifier_source)
    domain = description.get("mask_domain", "linear")
    return (
        TrainedExplainer(interpreter, domain, description),
        description.get("method", "lmac"),
        domain,
    )
