"""The stages of the AND pipeline, one module each, as mixins of
:class:`~interpretability.dissection.pipeline.Dissection`.

``base`` (shared plumbing) <- ``capture`` (activations, top-K), ``describe`` (descriptions), ``closed`` (Module A),
``summaries`` (Modules B, C), ``pruning``, ``analysis``, ``assembly`` (per-neuron files) <- ``pipeline``.
"""
