"""Cascading parameter randomisation (Adebayo et al. 2018; docs/methods.md, "Beyond the papers: ground truth and sanity").

The classifier's layers are re-initialised one after the other from the top (the head, then the deepest block, ...,
cumulatively); after each step every method explains the same rows again, for the same class, and its masks are
compared with those of the trained classifier by their rank correlation
(:func:`~interpretability.metrics.sanity.mask_rank_correlation`). A method that explains the model gives masks
that change (low correlation) as the model is destroyed; one that does not depend on the model (the ``random``
control, an edge detector) keeps a correlation near 1.
"""

import copy

import torch

from interpretability.metrics.sanity import mask_rank_correlation
from interpretability.metrics.stats import MetricCollector


def cascade_steps(classifier):
    """Names of the modules randomised in turn, top first: ``head`` then the encoder's blocks, deepest first."""
    encoder = classifier.encoder
    blocks = list(
        getattr(encoder, "block_names", None) or classifier.interpretable_layers
    )
    return ["head", *(f"encoder.{name}" for name in reversed(blocks))]


def _reinitialise(module):
    for child in module.modules():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()
        if hasattr(child, "reset_running_stats"):
            child.reset_running_stats()


def randomised_classifiers(classifier, steps=None, seed=0):
    """Yield ``(step, classifier)``: a copy of ``classifier`` with the modules of ``steps[:k+1]`` re-initialised
    (PyTorch's default initialisation, drawn with ``seed``), for k = 0, 1, ... (cumulative, top first).

    ``steps``: module paths (default :func:`cascade_steps`); an int keeps the first that many of them.
    """
    all_steps = cascade_steps(classifier)
    if steps is None:
        steps = all_steps
    elif isinstance(steps, int):
        steps = all_steps[: max(1, steps)]
    randomised = copy.deepcopy(classifier).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in steps:
            _reinitialise(randomised.get_submodule(step))
            yield step.split(".")[-1], randomised


def rebind_view(view, classifier):
    """The same rows (inputs, explained classes, clean target) seen by another classifier: logits, probabilities
    and hidden maps recomputed, ``decision`` kept."""
    rebound = copy.copy(view)
    with torch.no_grad():
        logits, hidden = classifier.forward_with_hidden(view.magnitude)
    rebound.logits, rebound.hidden = logits, hidden
    rebound.probs = classifier.probabilities(logits)
    return rebound


def cascading_randomisation(classifier, explainers, views, steps=None, seed=0):
    """Rank correlation of every method's masks before / after each randomisation step.

    Arguments
    ---------
    classifier : the trained classifier.
    explainers : ``{name: explainer}``; an explainer has ``explain(view) -> mask`` and, when it computes on the
        classifier itself (gradient methods), ``with_classifier(classifier)``.
    views : list of ClipView of the rows to explain (built on the trained classifier).
    steps, seed : see :func:`randomised_classifiers`.

    Returns
    -------
    ``{name: {"rank_corr_<step>": mean over rows, ..., "rank_corr_all": after the last step}}`` (NaN rows, from
    constant masks such as ``all_ones``, are skipped; a method whose masks are all constant gets NaN).
    """
    originals = {
        name: [explainer.explain(view).detach() for view in views]
        for name, explainer in explainers.items()
    }
    collectors = {name: MetricCollector(median_keys=()) for name in explainers}
    last = None
    for step, randomised in randomised_classifiers(classifier, steps, seed):
        last = step
        rebound = [rebind_view(view, randomised) for view in views]
        for name, explainer in explainers.items():
            bound = (
                explainer.with_classifier(randomised)
                if hasattr(explainer, "with_classifier")
                else explainer
            )
            for index, view in enumerate(rebound):
                after = bound.explain(view).detach()
                correlation = mask_rank_correlation(
                    originals[name][index], after
                )
                ids = [f"{index}:{row}" for row in range(len(correlation))]
                collectors[name].append(ids, {f"rank_corr_{step}": correlation})
    results = {}
    for name, collector in collectors.items():
        summary = collector.summarize()
        if last is not None:
            summary["rank_corr_all"] = summary[f"rank_corr_{last}"]
        results[name] = summary
    return results
