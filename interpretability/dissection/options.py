"""What an AND run dissects and how: :class:`DissectionOptions` (the recipe hparams of the same names)."""

from dataclasses import dataclass

from interpretability.dissection.concepts import TOP_K
from interpretability.dissection.pruning import STRATEGIES
from interpretability.dissection.summarizers import DEFAULT_ICL_EXAMPLES
from interpretability.errors import InputError

OPTIONAL_STAGES = (
    "descriptions",
    "tab",
    "summaries",
    "icl",
    "open_concepts",
    "pruning",
    "analysis",
    "label_based",
    "agreement",
)


@dataclass
class DissectionOptions:
    """What to dissect and how (the recipe hparams of the same names).

    ``layers`` are dotted module paths; ``output_layer`` (one of them, the classifier's logits) is where each neuron
    has a known class (its class index) for the last-layer accuracy. ``neurons_per_layer`` limits Modules B / C and
    ICL (the per-neuron summariser / LLM calls) to the first N neurons of each hidden layer; the output layer is
    always complete. ``pruning_targets`` None prunes for every class; ``pruning_layers`` None prunes in the last
    dissected layer before the output layer. ``calibration_threshold`` None is tied to the summariser: 0.97 for the
    extractive one, 0.5 for an LLM. ``db_centering`` subtracts from each concept's DB score its mean similarity with
    all probing descriptions (a concept-prior correction like WPMI's ``- lambda log p(c)``; off in the paper).
    ``tau`` (a value or a list; the first is reported as ``uninterpretable``) is the share of a neuron's top-K clips
    one description cluster must hold for the neuron to count as interpretable; ``cluster_unit`` clusters whole
    descriptions (default) or their sentences (see :mod:`.analysis`). ``label_groups`` ``{name: [class, ...]}``
    adds groups of classes to the label-based concepts (None: ESC-50's major categories when every class is an
    ESC-50 class, else none; see :mod:`.label_based`). ``skip`` (the recipes' ``skip_stages``) names optional
    stages not to run (:data:`OPTIONAL_STAGES`); skipping ``descriptions`` skips everything built on them (DB,
    Modules B / C, ICL, the description clusters, the captioner agreement) and leaves the label-based dissection.
    ``cache_mb`` bounds the magnitude spectrograms kept in memory for the stages that read every clip again
    (pruning: once per ablation); clips beyond it are read and transformed again, so memory stays flat however many
    clips are probed.
    """

    layers: list
    output_layer: str = "head"
    pooling: str = "mean"
    neuron_axes: dict = None
    k: int = TOP_K
    batch_size: int = 16
    describe_batch_size: int = 8
    concepts: list = None
    concept_template: str = "{}"
    db_centering: bool = False
    tab_similarity: str = "soft_wpmi"
    tab_options: dict = None
    icl_examples: tuple = DEFAULT_ICL_EXAMPLES
    neurons_per_layer: int = None
    calibration_threshold: float = None
    include_nouns_verbs: bool = False
    pruning_targets: list = None
    pruning_strategies: tuple = ("db",)
    pruning_layers: list = None
    pruning_top_n: int = 1
    pruning_match_threshold: float = 0.8
    random_repeats: int = 3
    random_exclude_selected: bool = True
    n_clusters: int = 10
    cluster_unit: str = "description"
    tau: object = 0.6
    label_groups: dict = None
    seed: int = 0
    skip: tuple = ()
    progress: bool = True
    cache_mb: float = 128.0

    def __post_init__(self):
        if isinstance(self.layers, str):
            self.layers = [self.layers]
        self.layers = list(self.layers or [])
        if not self.layers:
            raise InputError(
                "no layers to dissect: give 'layers' (dotted module paths)"
            )
        if len(set(self.layers)) != len(self.layers):
            raise InputError(f"layers are listed twice: {self.layers}")
        unknown = set(self.skip) - set(OPTIONAL_STAGES)
        if unknown:
            raise InputError(
                f"cannot skip stages {sorted(unknown)}; optional stages: {OPTIONAL_STAGES}"
            )
        bad = set(self.pruning_strategies) - set(STRATEGIES)
        if bad:
            raise InputError(
                f"unknown pruning strategies {sorted(bad)}; known: {STRATEGIES}"
            )
        if self.k < 1:
            raise InputError(f"top_k must be at least 1, got {self.k}")
        if self.cluster_unit not in ("description", "sentence"):
            raise InputError(
                f"cluster_unit must be 'description' or 'sentence', got {self.cluster_unit!r}"
            )
