"""AND (Audio Network Dissection; Wu, Lin, Weng, ICML 2024): neuron activations, clip descriptions, closed and
open concepts, summary calibration, concept-specific pruning and interpretability analysis.

Backends (captioner, summariser / LLM, text encoder, audio-text encoder, POS tagger) are small interfaces with
an offline default and a ``transformers`` implementation; heavy libraries are imported when a backend is built.
"""

from interpretability.dissection.activations import (
    Activations,
    capture_activations,
    load_activations,
    merge_activation_shards,
    neuron_axis,
    pool_neurons,
    resolve_layers,
    save_activations,
    shard_indices,
    shard_path,
)
from interpretability.dissection.analysis import (
    description_clusters,
    plot_uninterpretable,
    uninterpretable_neurons,
    uninterpretable_share,
)
from interpretability.dissection.calibration import (
    CalibratedSummary,
    calibrate_neuron,
    calibrate_summary,
    split_sentences,
)
from interpretability.dissection.captioners import (
    AcousticCaptioner,
    Captioner,
    TransformersAudioCaptioner,
)
from interpretability.dissection.concepts import (
    SIMILARITY_FUNCTIONS,
    TOP_K,
    clip_concept_similarity,
    concept_texts,
    cos_cubed,
    db_scores,
    description_based_scores,
    icl_concepts,
    last_layer_accuracy,
    rank_concepts,
    soft_wpmi,
    tab_scores,
    top_descriptions,
    top_k_indices,
    wpmi,
)
from interpretability.dissection.encoders import (
    AudioTextEncoder,
    ClapEncoder,
    ClipTextEncoder,
    LaionClapEncoder,
    SentenceEncoder,
    TextEncoder,
    default_sentence_encoder_path,
)
from interpretability.dissection.open_concepts import (
    NON_ACOUSTIC_WORDS,
    extract_open_concepts,
)
from interpretability.dissection.pos import POSTagger, SpacyTagger, TaggedToken
from interpretability.dissection.pruning import (
    ablate,
    concepts_match,
    pruning_effect,
    random_control,
    select_neurons,
    simple_lemma,
)
from interpretability.dissection.summarizers import (
    DEFAULT_ICL_EXAMPLES,
    ChatLLM,
    ExtractiveSummarizer,
    ICLExample,
    Summarizer,
    map_answer_to_concept,
)

__all__ = [
    "Activations",
    "capture_activations",
    "load_activations",
    "merge_activation_shards",
    "neuron_axis",
    "pool_neurons",
    "resolve_layers",
    "save_activations",
    "shard_indices",
    "shard_path",
    "description_clusters",
    "plot_uninterpretable",
    "uninterpretable_neurons",
    "uninterpretable_share",
    "CalibratedSummary",
    "calibrate_neuron",
    "calibrate_summary",
    "split_sentences",
    "AcousticCaptioner",
    "Captioner",
    "TransformersAudioCaptioner",
    "SIMILARITY_FUNCTIONS",
    "TOP_K",
    "clip_concept_similarity",
    "concept_texts",
    "cos_cubed",
    "db_scores",
    "description_based_scores",
    "icl_concepts",
    "last_layer_accuracy",
    "rank_concepts",
    "soft_wpmi",
    "tab_scores",
    "top_descriptions",
    "top_k_indices",
    "wpmi",
    "AudioTextEncoder",
    "ClapEncoder",
    "ClipTextEncoder",
    "LaionClapEncoder",
    "SentenceEncoder",
    "TextEncoder",
    "default_sentence_encoder_path",
    "NON_ACOUSTIC_WORDS",
    "extract_open_concepts",
    "POSTagger",
    "SpacyTagger",
    "TaggedToken",
    "ablate",
    "concepts_match",
    "pruning_effect",
    "random_control",
    "select_neurons",
    "simple_lemma",
    "DEFAULT_ICL_EXAMPLES",
    "ChatLLM",
    "ExtractiveSummarizer",
    "ICLExample",
    "Summarizer",
    "map_answer_to_concept",
]
