"""Sound classifiers exposing logits from a magnitude spectrogram and named hidden representations."""

from interpretability.classifiers.base import (  # noqa: F401
    ARCHITECTURES,
    SpectrogramClassifier,
    build_classifier,
    count_parameters,
)
