"""Sparse NMF dictionary for L2I (docs/methods.md, "L2I"; interpretability/interpreters/nmf.py)."""

import math

import pytest
import torch

from interpretability.errors import CheckpointError
from interpretability.interpreters.nmf import (
    SparseNMF,
    load_dictionary,
    nmf_input,
    nmf_output,
    normalize_columns,
    reconstruction_terms,
    save_dictionary,
    sparse_codes,
    summarize_terms,
)


def planted_frames(n_frames, n_features=24, n_atoms=6, seed=0):
    """Non-negative frames made of a few of ``n_atoms`` planted non-negative atoms: ``[n_frames, n_features]``."""
    generator = torch.Generator().manual_seed(seed)
    atoms = normalize_columns(
        torch.rand(n_features, n_atoms, generator=generator) ** 4
    )
    codes = torch.rand(n_frames, n_atoms, generator=generator) * (
        torch.rand(n_frames, n_atoms, generator=generator) < 0.4
    )
    return codes @ atoms.T * 5.0


def state_numel(learner):
    """Number of tensor elements a learner holds (its whole state)."""
    return sum(
        value.numel()
        for value in vars(learner).values()
        if isinstance(value, torch.Tensor)
    )


def test_domains_round_trip_and_reject_unknown():
    magnitude = torch.tensor([[0.0, 1.0, math.e - 1.0]])
    assert torch.allclose(
        nmf_input(magnitude), torch.tensor([[0.0, math.log(2.0), 1.0]])
    )
    assert torch.allclose(nmf_output(nmf_input(magnitude)), magnitude)
    assert torch.equal(nmf_input(magnitude, "linear"), magnitude)
    assert torch.equal(
        nmf_output(torch.tensor([-1.0, 2.0]), "linear"),
        torch.tensor([0.0, 2.0]),
    )
    with pytest.raises(ValueError, match="domain"):
        nmf_input(magnitude, "power")


def test_normalize_columns_gives_unit_norms_and_keeps_zero_columns():
    dictionary = torch.tensor([[3.0, 0.0], [4.0, 0.0]])
    normalized = normalize_columns(dictionary)
    assert torch.allclose(normalized, torch.tensor([[0.6, 0.0], [0.8, 0.0]]))


def test_sparse_codes_soft_threshold_for_an_orthonormal_dictionary():
    # With W = I the non-negative lasso is h = max(v - sparsity, 0).
    frames = torch.tensor([[3.0, 0.2, 1.0], [0.0, 0.7, 0.4]])
    codes = sparse_codes(frames, torch.eye(3), sparsity=0.5, iterations=50)
    assert torch.allclose(
        codes, torch.tensor([[2.5, 0.0, 0.5], [0.0, 0.2, 0.0]]), atol=1e-5
    )


def test_sparse_codes_meet_the_optimality_conditions():
    # KKT of min_{h >= 0} 0.5 ||v - W h||^2 + s |h|_1: g = W^T (W h - v) + s >= 0, and g = 0 where h > 0.
    frames = planted_frames(20)
    dictionary = normalize_columns(
        torch.rand(24, 8, generator=torch.Generator().manual_seed(1))
    )
    codes = sparse_codes(frames, dictionary, sparsity=0.3, iterations=3000)
    gradient = (codes @ dictionary.T - frames) @ dictionary + 0.3
    assert (codes >= 0).all()
    assert gradient.min() > -1e-3
    assert gradient[codes > 1e-4].abs().max() < 1e-3


def test_reconstruction_terms_and_summary_by_hand():
    frames = torch.tensor([[1.0, 2.0], [0.0, 2.0]])
    dictionary = torch.eye(2)
    codes = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    terms = reconstruction_terms(frames, dictionary, codes, sparsity=0.5)
    # residual [[0, 1], [0, 2]]: squared error 5, energy 1 + 4 + 4 = 9, |h|_1 = 2, 2 non-zero of 4
    assert (
        terms["squared_error"] == 5.0
        and terms["energy"] == 9.0
        and terms["l1"] == 2.0
    )
    summary = summarize_terms([terms, terms])
    assert summary["relative_error"] == pytest.approx(math.sqrt(5.0 / 9.0))
    assert summary["objective"] == pytest.approx((0.5 * 10.0 + 0.5 * 4.0) / 4.0)
    assert summary["code_density"] == pytest.approx(0.5)
    assert summary["n_frames"] == 4


def test_dictionary_columns_stay_unit_norm_and_non_negative():
    learner = SparseNMF(n_components=10, n_features=24, sparsity=0.1, seed=0)
    for frames in planted_frames(400).split(50):
        learner.partial_fit(frames)
        assert (learner.dictionary >= 0).all()
        assert torch.allclose(
            learner.dictionary.norm(dim=0), torch.ones(10), atol=1e-5
        )


def test_reconstruction_error_decreases_with_learning():
    frames = planted_frames(600)
    learner = SparseNMF(n_components=8, n_features=24, sparsity=0.05, seed=0)

    def relative_error(dictionary):
        codes = sparse_codes(frames, dictionary, 0.05, 200)
        return summarize_terms(
            [reconstruction_terms(frames, dictionary, codes, 0.05)]
        )["relative_error"]

    learner.partial_fit(frames[:100])
    errors = [
        relative_error(learner.initial_dictionary),
        relative_error(learner.dictionary),
    ]
    for _ in range(3):
        learner.fit(lambda: frames.split(100))
        errors.append(relative_error(learner.dictionary))
    assert errors[-1] < 0.7 * errors[0]
    assert all(
        later <= earlier + 1e-3 for earlier, later in zip(errors, errors[1:])
    )
    assert errors[-1] < 0.2


def test_state_size_does_not_grow_with_the_number_of_batches():
    frames = planted_frames(2000)
    short = SparseNMF(n_components=8, n_features=24, seed=0).fit(
        lambda: frames[:100].split(50)
    )
    long = SparseNMF(n_components=8, n_features=24, seed=0)
    sizes = []
    for batch in frames.split(50):  # 40 batches, streamed one at a time
        long.partial_fit(batch)
        sizes.append(state_numel(long))
    assert long.n_batches == 40 and short.n_batches == 2
    assert len(set(sizes)) == 1
    assert state_numel(long) == state_numel(short)
    # W, A, B and the initial W: nothing proportional to the frames seen
    assert state_numel(long) == 24 * 8 + 8 * 8 + 24 * 8 + 24 * 8


def test_fit_streams_from_a_callable_of_batches():
    seen = []
    frames = planted_frames(200)
    audible = int(
        (frames.pow(2).sum(dim=1) >= 1e-8).sum()
    )  # silent frames are skipped

    def batches():
        for batch in frames.split(40):
            seen.append(batch.shape[0])
            yield batch

    learner = SparseNMF(n_components=6, n_features=24, seed=0).fit(
        batches, passes=2
    )
    assert (
        seen == [40] * 10
        and learner.n_batches == 10
        and learner.n_frames_seen == 2 * audible
    )


def test_silent_frames_are_skipped_and_bad_frames_rejected():
    learner = SparseNMF(n_components=4, n_features=24, seed=0)
    learner.partial_fit(torch.zeros(10, 24))
    assert learner.dictionary is None and learner.n_batches == 0
    with pytest.raises(ValueError, match=r"\[N, 24\]"):
        learner.partial_fit(torch.ones(3, 20))
    with pytest.raises(ValueError, match="non-negative"):
        learner.partial_fit(-torch.ones(3, 24))
    with pytest.raises(RuntimeError, match="not learned"):
        learner.transform(torch.ones(3, 24))


def test_save_and_load_dictionary(tmp_path):
    dictionary = normalize_columns(torch.rand(24, 5))
    save_dictionary(
        str(tmp_path / "nmf"), dictionary, {"domain": "log1p", "sparsity": 0.5}
    )
    loaded, description = load_dictionary(
        str(tmp_path)
    )  # the run folder holding nmf/ is accepted too
    assert torch.equal(loaded, dictionary)
    assert (
        description["n_features"] == 24
        and description["n_components"] == 5
        and description["domain"] == "log1p"
    )


def test_load_dictionary_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no NMF dictionary"):
        load_dictionary(str(tmp_path))
    folder = save_dictionary(
        str(tmp_path / "bad"), -torch.ones(4, 2), {"domain": "log1p"}
    )
    with pytest.raises(
        CheckpointError, match="dictionary.pt: expected a non-negative"
    ):
        load_dictionary(folder)
    folder = save_dictionary(
        str(tmp_path / "domain"), torch.ones(4, 2), {"domain": "power"}
    )
    with pytest.raises(CheckpointError, match="hyperparams.yaml: domain"):
        load_dictionary(folder)
