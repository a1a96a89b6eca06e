"""Analysis: the share of uninterpretable neurons per layer (description clusters), and its plot."""

import os

from interpretability.dissection.analysis import (
    description_clusters,
    plot_uninterpretable,
    uninterpretable_neurons,
)
from interpretability.dissection.stages.base import StageBase, _read_json
from interpretability.results import atomic_write_json


class AnalysisStage(StageBase):
    """Analysis: ``uninterpretable.json`` and ``.png``."""

    def analysis(self, descriptions, top):
        """Analysis: share of uninterpretable neurons per layer for each tau (K-means over description sentences),
        and a plot of it."""
        if "analysis" in self.options.skip or descriptions is None:
            return None
        taus = self.taus()
        if not self._done("uninterpretable.json"):
            clusters = description_clusters(
                descriptions,
                self.backends.text_encoder,
                self.options.n_clusters,
                seed=self.options.seed,
                unit=self.options.cluster_unit,
            )
            flags = {
                f"{tau:g}": {
                    layer: uninterpretable_neurons(
                        sides["top"], clusters, tau
                    ).tolist()
                    for layer, sides in top.items()
                }
                for tau in taus
            }
            shares = {
                t: {layer: sum(f) / len(f) for layer, f in per_layer.items()}
                for t, per_layer in flags.items()
            }
            atomic_write_json(
                self.path("uninterpretable.json"),
                {
                    "taus": taus,
                    "n_clusters": self.options.n_clusters,
                    "cluster_unit": self.options.cluster_unit,
                    "shares": shares,
                    "clip_clusters": [sorted(c) for c in clusters],
                    "uninterpretable": flags,
                },
            )
        data = _read_json(self.path("uninterpretable.json"))
        if not os.path.isfile(self.path("uninterpretable.png")):
            plot_uninterpretable(
                {f"tau = {t}": s for t, s in data["shares"].items()},
                self.path("uninterpretable.png"),
            )
        return data
