"""Comparing explanation methods: the L-MAC paper's protocol (in-domain and out-of-domain tables), the
randomisation sanity check and the result tables. See :mod:`interpretability.evaluation.comparison`."""
