import pytest
import torch
import torch.nn as nn

from interpretability.classifiers import build_classifier, count_parameters
from interpretability.classifiers.io import export_classifier, load_classifier
from interpretability.errors import CheckpointError
from speechbrain.lobes.models.Cnn14 import Cnn14 as SpeechBrainCnn14


def _magnitude(batch=2, frames=44):
    return torch.rand(batch, frames, 513)


def test_compact_cnn_shapes_and_size():
    model = build_classifier("compact_cnn", n_classes=10).eval()
    logits, hidden = model.forward_with_hidden(_magnitude())
    assert logits.shape == (2, 10)
    assert list(hidden) == [
        "conv_block1",
        "conv_block2",
        "conv_block3",
        "conv_block4",
    ]
    assert [h.shape[1] for h in hidden.values()] == [32, 64, 128, 256]
    magnitude = _magnitude(1)
    assert torch.allclose(
        model(magnitude), model.forward_with_hidden(magnitude)[0]
    )
    assert 0.8e6 < count_parameters(model) < 1.5e6
    assert (
        count_parameters(
            build_classifier("compact_cnn", 10, channels=[64, 128, 256, 512])
        )
        < 5e6
    )


def test_cnn14_loads_speechbrain_lobe_weights_and_matches_it():
    """Our CNN14 has SpeechBrain's parameter names, so its hub checkpoints load, and computes the same."""
    reference = SpeechBrainCnn14(mel_bins=80, emb_dim=64).eval()
    ours = build_classifier("cnn14", n_classes=5, emb_dim=64).eval()
    ours.encoder.load_state_dict(reference.state_dict(), strict=True)
    features = torch.rand(2, 64, 80)
    with torch.no_grad():
        expected = reference(features).squeeze(1)
        embedding, hidden = ours.encoder(features)
    assert torch.allclose(embedding, expected, atol=1e-5)
    assert list(ours.forward_with_hidden(_magnitude(1, 64))[1]) == [
        "conv_block3",
        "conv_block4",
        "conv_block5",
        "conv_block6",
    ]


@pytest.mark.parametrize(
    "architecture,kwargs", [("compact_cnn", {}), ("cnn14", {"emb_dim": 64})]
)
def test_relus_are_modules_for_guided_methods(architecture, kwargs):
    """Guided Backprop overrides nn.ReLU modules: every rectification must be one, and not in-place."""
    model = build_classifier(architecture, n_classes=3, **kwargs)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(relus) == len(convs) and all(not r.inplace for r in relus)
    # blocking the ReLUs' gradient through hooks changes the input gradient: they are on the path
    magnitude = _magnitude(1).requires_grad_(True)
    model.eval()(magnitude)[0, 0].backward()
    plain = magnitude.grad.clone()
    handles = [
        r.register_full_backward_hook(lambda m, gi, go: (gi[0].clamp(min=0),))
        for r in relus
    ]
    magnitude.grad = None
    model(magnitude)[0, 0].backward()
    for h in handles:
        h.remove()
    assert not torch.allclose(plain, magnitude.grad)


def test_export_and_load_round_trip(tmp_path):
    model = build_classifier(
        "compact_cnn", n_classes=3, channels=[8, 8, 16, 16]
    ).eval()
    export_classifier(
        model, tmp_path / "classifier", ["a", "b", "c"], clip_seconds=1.0
    )
    loaded, description = load_classifier(str(tmp_path / "classifier"))
    assert (
        description["classes"] == ["a", "b", "c"]
        and description["clip_seconds"] == 1.0
    )
    mag = _magnitude(2)
    assert torch.allclose(loaded(mag), model(mag))


def test_checkpoint_of_another_model_is_refused(tmp_path):
    small = build_classifier(
        "compact_cnn", n_classes=3, channels=[8, 8, 16, 16]
    )
    export_classifier(
        small, tmp_path / "clf", ["a", "b", "c"], clip_seconds=1.0
    )
    other = build_classifier(
        "compact_cnn", n_classes=3, channels=[8, 8, 16, 32]
    )
    torch.save(other.state_dict(), tmp_path / "clf" / "model.ckpt")
    with pytest.raises(
        CheckpointError,
        match=r"model.ckpt: checkpoint does not match the compact_cnn",
    ):
        load_classifier(str(tmp_path / "clf"))
    (tmp_path / "clf" / "model.ckpt").write_bytes(b"garbage")
    with pytest.raises(
        CheckpointError, match="model.ckpt: unreadable checkpoint"
    ):
        load_classifier(str(tmp_path / "clf"))
    (tmp_path / "clf" / "hyperparams.yaml").write_text("foo: 1\n")
    with pytest.raises(
        CheckpointError, match="hyperparams.yaml: not a classifier description"
    ):
        load_classifier(str(tmp_path / "clf"))
