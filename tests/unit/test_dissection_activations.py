import pytest
import torch
import torch.nn as nn

from interpretability.dissection.activations import (
    capture_activations,
    load_activations,
    merge_activation_shards,
    save_activations,
    shard_indices,
    shard_path,
)
from interpretability.errors import InputError


class TinyConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.conv2 = nn.Conv2d(4, 3, 1)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        h = self.conv2(self.features(x))
        return self.head(h.mean(dim=(2, 3)))


class TinyTransformer(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.embed = nn.Linear(5, dim)
        self.block = nn.TransformerEncoderLayer(
            dim, nhead=2, dim_feedforward=16, batch_first=True, dropout=0.0
        )
        self.pair = PairOutput()

    def forward(self, x):
        hidden = self.block(self.embed(x))
        return self.pair(hidden)[0]


class PairOutput(nn.Module):
    """Returns a tuple, as transformers layers do."""

    def forward(self, x):
        return x * 2, "extra"


def batches(x, size=3):
    return [
        ([f"clip{i}" for i in range(s, min(s + size, len(x)))], x[s : s + size])
        for s in range(0, len(x), size)
    ]


def test_conv_channels_are_pooled_over_time_and_frequency():
    torch.manual_seed(0)
    model, x = TinyConvNet().eval(), torch.randn(7, 1, 6, 5)
    acts = capture_activations(
        model,
        ["features", "conv2", "head"],
        batches(x),
        pooling="mean",
        progress=False,
    )
    with torch.no_grad():
        features = model.features(x)
        conv2 = model.conv2(features)
        head = model(x)
    assert (
        acts["features"].shape == (7, 4)
        and acts["conv2"].shape == (7, 3)
        and acts["head"].shape == (7, 2)
    )
    assert torch.allclose(
        acts["features"], features.mean(dim=(2, 3)), atol=1e-6
    )
    assert torch.allclose(acts["conv2"], conv2.mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(acts["head"], head, atol=1e-6)
    assert acts.ids == [f"clip{i}" for i in range(7)] and acts.pooling == "mean"
    maxed = capture_activations(
        model, ["conv2"], batches(x), pooling="max", progress=False
    )
    assert torch.allclose(maxed["conv2"], conv2.amax(dim=(2, 3)), atol=1e-6)


def test_transformer_units_cls_and_mean_pooling_and_tuple_outputs():
    torch.manual_seed(0)
    model, x = TinyTransformer().eval(), torch.randn(5, 4, 5)
    with torch.no_grad():
        hidden = model.block(model.embed(x))
    cls = capture_activations(
        model, ["block", "pair"], batches(x), pooling="cls", progress=False
    )
    assert cls["block"].shape == (5, 8)
    assert torch.allclose(cls["block"], hidden[:, 0], atol=1e-5)
    assert torch.allclose(cls["pair"], 2 * hidden[:, 0], atol=1e-5)
    mean = capture_activations(
        model, ["block"], batches(x), pooling="mean", progress=False
    )
    assert torch.allclose(mean["block"], hidden.mean(dim=1), atol=1e-5)


def test_cls_pooling_on_a_conv_layer_is_refused_and_hooks_are_removed():
    model = TinyConvNet().eval()
    with pytest.raises(ValueError, match="cls"):
        capture_activations(
            model,
            ["conv2"],
            batches(torch.randn(2, 1, 4, 4)),
            pooling="cls",
            progress=False,
        )
    assert not model.conv2._forward_hooks


def test_hooks_are_removed_when_the_forward_fails():
    model = TinyConvNet().eval()

    def failing(m, x):
        m(x)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        capture_activations(
            model,
            ["conv2", "head"],
            batches(torch.randn(2, 1, 4, 4)),
            forward_fn=failing,
            progress=False,
        )
    assert not model.conv2._forward_hooks and not model.head._forward_hooks


def test_unknown_layer_names_the_valid_ones():
    with pytest.raises(InputError) as err:
        capture_activations(
            TinyConvNet(),
            ["conv3"],
            batches(torch.randn(2, 1, 4, 4)),
            progress=False,
        )
    message = str(err.value)
    assert (
        "'conv3'" in message and "conv2" in message and "features.0" in message
    )


def test_neuron_axis_override_and_forward_fn():
    model = TinyConvNet().eval()
    x = torch.randn(4, 1, 5, 6)
    dict_batches = [(ids, {"x": inputs}) for ids, inputs in batches(x)]
    acts = capture_activations(
        model,
        ["conv2"],
        dict_batches,
        forward_fn=lambda m, inputs: m(inputs["x"]),
        neuron_axes={"conv2": "last"},
        progress=False,
    )
    assert acts["conv2"].shape == (
        4,
        6,
    )  # last axis (width 6) instead of the 3 channels


def test_shards_cover_the_set_in_order_and_merge_back(tmp_path):
    n, world = 10, 3
    blocks = [list(shard_indices(n, r, world)) for r in range(world)]
    assert blocks == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    torch.manual_seed(0)
    model, x = TinyConvNet().eval(), torch.randn(n, 1, 4, 4)
    full = capture_activations(model, ["conv2"], batches(x), progress=False)
    paths = []
    for rank, block in enumerate(blocks):
        part = capture_activations(
            model,
            ["conv2"],
            [([f"clip{i}" for i in block], x[block])],
            progress=False,
        )
        paths.append(shard_path(str(tmp_path), rank))
        save_activations(paths[-1], part)
    merged = merge_activation_shards(paths)
    assert merged.ids == full.ids
    assert torch.allclose(merged["conv2"], full["conv2"], atol=1e-6)
    assert load_activations(paths[0]).pooling == "mean"
    with pytest.raises(InputError, match="more than one shard"):
        merge_activation_shards([paths[0], paths[0]])
