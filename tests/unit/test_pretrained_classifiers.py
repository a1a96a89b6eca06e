"""Published classifiers as --pretrained_classifier: SpeechBrain's ESC-50 CNN14 (hub layout) and PANNs' CNN14_16k.

The tests write checkpoints in those formats (file names, key names, shapes) with random weights, load them, and
compare the logits with reference forwards computed here: SpeechBrain's own modules for SpeechBrain's model, and
PANNs' architecture written out below for PANNs'.
"""

import math
import random

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

from interpretability.brains.training import load_explained_classifier
from interpretability.classifiers.cnn import CNN14Encoder
from interpretability.classifiers.heads import CosineHead, PANNsHead
from interpretability.classifiers.io import load_classifier
from interpretability.classifiers.pretrained import (
    load_pretrained_classifier,
    panns_to_ours,
)
from interpretability.data.esc50 import ESC50_CLASSES
from interpretability.errors import CheckpointError, InputError
from interpretability.spectral import magnitude_phase
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.lobes.models.Cnn14 import Cnn14 as SpeechBrainCnn14
from speechbrain.lobes.models.ECAPA_TDNN import (
    Classifier as SpeechBrainClassifier,
)
from speechbrain.processing.features import STFT, Filterbank, spectral_magnitude


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


HUB_HPARAMS = """\
# SpeechBrain inference hyperparameters, in the layout of the hub repository speechbrain/cnn14-esc50
pretrained_path: speechbrain/cnn14-esc50

sample_rate: 16000
n_mels: 80
n_classes: 50
emb_dim: {emb_dim}
n_fft: 1024
spec_mag_power: 0.5
hop_length: 11.6099
win_length: 23.2199
use_melspectra: True

compute_stft: !new:speechbrain.processing.features.STFT
    n_fft: !ref <n_fft>
    hop_length: !ref <hop_length>
    win_length: !ref <win_length>
    sample_rate: !ref <sample_rate>

compute_fbank: !new:speechbrain.processing.features.Filterbank
    n_mels: !ref <n_mels>
    n_fft: !ref <n_fft>
    sample_rate: !ref <sample_rate>
    log_mel: False

embedding_model: !new:speechbrain.lobes.models.Cnn14.Cnn14
    mel_bins: !ref <n_mels>
    emb_dim: !ref <emb_dim>

classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: !ref <emb_dim>
    out_neurons: !ref <n_classes>
    lin_blocks: 1

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

modules:
    compute_stft: !ref <compute_stft>
    compute_fbank: !ref <compute_fbank>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


@torch.no_grad()
def _randomise_norms(module, seed):
    """Random BatchNorm statistics and affine parameters, so a wrong or skipped norm changes the output."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, nn.modules.batchnorm._BatchNorm):
            size = norm.num_features
            norm.running_mean.copy_(
                0.1 * torch.randn(size, generator=generator)
            )
            norm.running_var.copy_(0.5 + torch.rand(size, generator=generator))
            norm.weight.copy_(0.5 + torch.rand(size, generator=generator))
            norm.bias.copy_(0.1 * torch.randn(size, generator=generator))


def _signal(seconds=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(16000 * seconds)) / 16000
    tones = 0.3 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(
        2 * math.pi * 2500 * t
    )
    return (tones + 0.05 * torch.randn(t.shape, generator=generator)).unsqueeze(
        0
    )


def _sounds():
    """Three different sounds: two tones in noise, white noise, a chirp."""
    t = torch.arange(16000) / 16000
    chirp = 0.3 * torch.sin(2 * math.pi * (200 + 3000 * t) * t)
    return [
        _signal(1.0),
        0.1 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(9)),
        chirp[None],
    ]


@pytest.fixture(scope="module")
def speechbrain_repo(tmp_path_factory):
    """A folder in speechbrain/cnn14-esc50's layout (emb_dim 64 instead of 2048 to stay small) and the modules."""
    folder = tmp_path_factory.mktemp("cnn14-esc50")
    torch.manual_seed(0)
    encoder = SpeechBrainCnn14(mel_bins=80, emb_dim=64).eval()
    head = SpeechBrainClassifier(
        input_size=64, out_neurons=50, lin_blocks=1
    ).eval()
    for layer in encoder.modules():  # weights that keep the activations' scale through the depth, as trained ones
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    _randomise_norms(encoder, 1)
    _randomise_norms(head, 2)
    with torch.no_grad():  # norm0 normalises the log1p-mel bands, as trained
        calibration = torch.cat(
            [_speechbrain_features(s, torch.hann_window) for s in _sounds()],
            dim=1,
        )
    encoder.norm0.running_mean.copy_(calibration.mean(dim=(0, 1)))
    encoder.norm0.running_var.copy_(calibration.var(dim=(0, 1)))
    torch.save(encoder.state_dict(), folder / "embedding_model.ckpt")
    torch.save(head.state_dict(), folder / "classifier.ckpt")
    order = list(ESC50_CLASSES)
    random.Random(3).shuffle(
        order
    )  # SpeechBrain's encoder lists classes as the training data first showed them
    labels = CategoricalEncoder()
    labels.update_from_iterable(order)
    labels.save(folder / "label_encoder.txt")
    (folder / "hyperparams.yaml").write_text(HUB_HPARAMS.format(emb_dim=64))
    return folder, encoder, head, order


def _speechbrain_features(wav, window_fn):
    """SpeechBrain's ESC-50 front end: STFT (23.2 ms window, 11.6 ms hop) -> magnitude -> 80 mel -> log1p."""
    stft = STFT(
        sample_rate=16000,
        n_fft=1024,
        hop_length=11.6099,
        win_length=23.2199,
        window_fn=window_fn,
    )
    fbank = Filterbank(n_mels=80, n_fft=1024, sample_rate=16000, log_mel=False)
    return torch.log1p(fbank(spectral_magnitude(stft(wav), power=0.5)))


def speechbrain_reference(wav, encoder, head, window_fn):
    """SpeechBrain's ESC-50 inference: its front end -> Cnn14 -> ECAPA Classifier (cosines ``[B, 50]``)."""
    return head(encoder(_speechbrain_features(wav, window_fn))).squeeze(1)


def test_speechbrain_esc50_cnn14_folder_matches_speechbrains_forward(
    speechbrain_repo, tmp_path
):
    folder, encoder, head, order = speechbrain_repo
    model, description, exported = load_pretrained_classifier(
        str(folder), str(tmp_path / "converted")
    )
    assert description["classes"] == list(
        ESC50_CLASSES
    )  # ESC-50's target order, whatever the encoder's
    assert description["head"] == {
        "type": "cosine",
        "lin_blocks": 1,
        "lin_neurons": 192,
        "scale": 30.0,
    }
    assert (
        description["source"]["format"] == "speechbrain"
        and description["clip_seconds"] == 5.0
    )
    wav = _signal()
    magnitude, _ = magnitude_phase(wav)
    logits = model(magnitude)
    # SpeechBrain's forward on the same (Hann) STFT grid: identical up to float error, outputs reordered
    reference = speechbrain_reference(wav, encoder, head, torch.hann_window)
    by_target = reference[:, [order.index(name) for name in ESC50_CLASSES]]
    assert torch.allclose(logits / 30.0, by_target, atol=1e-5)
    other = speechbrain_reference(
        _sounds()[1], encoder, head, torch.hann_window
    )
    assert (
        (other - reference).abs().max() > 0.03
    )  # the comparison is sensitive: another sound, other cosines
    # the recipe's STFT window is SpeechBrain's default Hamming; ours is Hann: same grid, close cosines (measured
    # 0.002-0.005, against 0.05-0.07 between different sounds)
    by_target_order = [order.index(name) for name in ESC50_CLASSES]
    hamming = speechbrain_reference(wav, encoder, head, torch.hamming_window)[
        :, by_target_order
    ]
    assert (logits / 30.0 - hamming).abs().max() < 0.01
    # the exported copy is self-contained: it loads offline and computes the same
    reloaded, _ = load_classifier(exported)
    assert torch.allclose(reloaded(magnitude), logits, atol=1e-5)
    # hidden maps for the interpreters and the blocks for the sanity check are there
    _, hidden = model.forward_with_hidden(magnitude)
    assert list(hidden) == [
        "conv_block3",
        "conv_block4",
        "conv_block5",
        "conv_block6",
    ]
    assert (
        model.encoder.block_names[-1] == "conv_block6" and not model.multilabel
    )


def test_speechbrain_full_size_checkpoint_keys_and_shapes_are_ours():
    """Cnn14(mel_bins=80, emb_dim=2048) + Classifier(2048, out_neurons=50, lin_blocks=1), on the meta device."""
    with torch.device("meta"):
        encoder = SpeechBrainCnn14(mel_bins=80, emb_dim=2048).state_dict()
        head = SpeechBrainClassifier(
            input_size=2048, out_neurons=50, lin_blocks=1
        ).state_dict()
        ours_encoder = CNN14Encoder(n_mels=80, emb_dim=2048).state_dict()
        ours_head = CosineHead(
            2048, 50, lin_blocks=1, lin_neurons=192
        ).state_dict()
    assert {k: v.shape for k, v in encoder.items()} == {
        k: v.shape for k, v in ours_encoder.items()
    }
    assert {k: v.shape for k, v in head.items()} == {
        k: v.shape for k, v in ours_head.items()
    }


def test_hub_id_offline_is_one_clear_line(monkeypatch, tmp_path):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError(
            "An error happened while trying to locate the file on the Hub and we cannot "
            "find the requested files in the local cache.\nPlease check your connection"
        )

    monkeypatch.setattr("interpretability.classifiers.io.fetch", offline)
    with pytest.raises(CheckpointError) as caught:
        load_pretrained_classifier(
            "speechbrain/cnn14-esc50", str(tmp_path / "classifier")
        )
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "speechbrain/cnn14-esc50: no local folder or file of that name, and hyperparams.yaml "
        "cannot be fetched from the Hugging Face hub (LocalEntryNotFoundError"
    )
    assert "git clone https://huggingface.co/speechbrain/cnn14-esc50" in message


def test_speechbrain_layout_errors(speechbrain_repo, tmp_path):
    folder, *_ = speechbrain_repo
    other = tmp_path / "other"
    other.mkdir()
    for name in (
        "embedding_model.ckpt",
        "classifier.ckpt",
        "label_encoder.txt",
    ):
        (other / name).write_bytes((folder / name).read_bytes())
    (other / "hyperparams.yaml").write_text(
        HUB_HPARAMS.format(emb_dim=64).replace("n_fft: 1024", "n_fft: 512")
    )
    with pytest.raises(
        CheckpointError,
        match=r"hyperparams.yaml: its front end .* \(16000, 512, 372, 186, 0.5\) is "
        r"not ours \(16000, 1024, 372, 186, 0.5\)",
    ):
        load_pretrained_classifier(str(other), str(tmp_path / "c1"))
    (other / "hyperparams.yaml").write_text(HUB_HPARAMS.format(emb_dim=128))
    with pytest.raises(
        CheckpointError,
        match=r"embedding_model.ckpt: holds Cnn14\(mel_bins=80, emb_dim=64\) but "
        r"hyperparams.yaml says Cnn14\(mel_bins=80, emb_dim=128\)",
    ):
        load_pretrained_classifier(str(other), str(tmp_path / "c2"))
    (other / "hyperparams.yaml").write_text(HUB_HPARAMS.format(emb_dim=64))
    (other / "label_encoder.txt").unlink()
    with pytest.raises(
        CheckpointError, match=r"label_encoder.txt: label encoder not found"
    ):
        load_pretrained_classifier(str(other), str(tmp_path / "c3"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match=r"empty: no classifier here"):
        load_pretrained_classifier(str(empty), str(tmp_path / "c4"))


def test_class_mismatch_names_both(speechbrain_repo, tmp_path):
    folder, *_ = speechbrain_repo
    hparams = {
        "pretrained_classifier": str(folder),
        "save_folder": str(tmp_path),
        "data_folder": "/data/US8K",
    }
    with pytest.raises(
        InputError,
        match=rf"{folder}: the classifier has 50 classes \(dog, rooster, pig, cow, \.\.\.\) "
        rf"but the data in /data/US8K has 6 \(a, b, c, d, \.\.\.\)",
    ):
        load_explained_classifier(
            hparams, {"classes": ["a", "b", "c", "d", "e", "f"]}
        )
    classifier, source = load_explained_classifier(
        hparams, {"classes": list(ESC50_CLASSES)}
    )
    assert source == str(tmp_path / "classifier") and classifier.n_classes == 50
    # the same classes in another order: the outputs follow the data's order, in the exported copy too
    magnitude, _ = magnitude_phase(_signal())
    backwards = list(reversed(ESC50_CLASSES))
    reordered, source = load_explained_classifier(
        {**hparams, "save_folder": str(tmp_path / "r")}, {"classes": backwards}
    )
    assert torch.allclose(
        reordered(magnitude), classifier(magnitude).flip(-1), atol=1e-5
    )
    copy, description = load_classifier(source)
    assert description["classes"] == backwards and torch.allclose(
        copy(magnitude), reordered(magnitude), atol=1e-5
    )


# ------------------------------------------------------------------------------------------------ PANNs


class ReferencePANNs(nn.Module):
    """PANNs' Cnn14_16k written out from its description (models.py + torchlibrosa), with its parameter names:
    STFT as two conv1d of the periodic-Hann-windowed DFT (n_fft 512, hop 160, centred, reflect padding), power,
    ``melW`` (librosa's slaney filters 50-8000 Hz), ``10 log10(max(., 1e-10))``, ``bn0`` over mel bands, six conv
    blocks (conv-bn-relu x2, 2x2 average pooling but the last), mean over frequency, max + mean over time,
    ``relu(fc1)``, ``fc_audioset``. Widths are parameters so the test stays small."""

    def __init__(
        self,
        widths=(64, 128, 256, 512, 1024, 2048),
        classes=527,
        mel_bins=64,
        n_fft=512,
    ):
        super().__init__()
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(
            2 * math.pi * n / n_fft
        )  # periodic Hann (fftbins=True)
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        self.spectrogram_extractor = nn.Module()
        self.spectrogram_extractor.stft = nn.Module()
        self.spectrogram_extractor.stft.conv_real = nn.Conv1d(
            1, bins, n_fft, stride=160, bias=False
        )
        self.spectrogram_extractor.stft.conv_imag = nn.Conv1d(
            1, bins, n_fft, stride=160, bias=False
        )
        self.spectrogram_extractor.stft.conv_real.weight.data = (
            torch.cos(angle) * window
        ).float()[:, None, :]
        self.spectrogram_extractor.stft.conv_imag.weight.data = (
            -torch.sin(angle) * window
        ).float()[:, None, :]
        self.logmel_extractor = nn.Module()
        self.logmel_extractor.melW = nn.Parameter(
            reference_mel_filters(16000, n_fft, mel_bins, 50.0, 8000.0)
        )
        self.bn0 = nn.BatchNorm2d(mel_bins)
        inputs = [1, *widths[:-1]]
        for i, (c_in, c_out) in enumerate(zip(inputs, widths), start=1):
            block = nn.Module()
            block.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            block.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            block.bn1, block.bn2 = nn.BatchNorm2d(c_out), nn.BatchNorm2d(c_out)
            setattr(self, f"conv_block{i}", block)
        self.fc1 = nn.Linear(widths[-1], widths[-1])
        self.fc_audioset = nn.Linear(widths[-1], classes)
        self.n_fft = n_fft

    def logmel(self, wav):
        x = F.pad(
            wav[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect"
        )
        real = self.spectrogram_extractor.stft.conv_real(x)
        imag = self.spectrogram_extractor.stft.conv_imag(x)
        power = (real**2 + imag**2).transpose(1, 2)  # [B, T, 257]
        return 10.0 * torch.log10(
            torch.clamp(power @ self.logmel_extractor.melW, min=1e-10)
        )

    def network(self, logmel):
        x = self.bn0(logmel[:, None].transpose(1, 3)).transpose(1, 3)
        for i in range(1, 7):
            block = getattr(self, f"conv_block{i}")
            x = F.relu(block.bn1(block.conv1(x)))
            x = F.relu(block.bn2(block.conv2(x)))
            x = F.avg_pool2d(x, (2, 2)) if i < 6 else x
        x = x.mean(dim=3)
        x = x.max(dim=2).values + x.mean(dim=2)
        return self.fc_audioset(F.relu(self.fc1(x)))

    def forward(self, wav):
        return self.network(self.logmel(wav))


def reference_mel_filters(sr, n_fft, n_mels, fmin, fmax):
    """librosa.filters.mel (slaney scale and norm), written out: ``[n_fft // 2 + 1, n_mels]``."""

    def hz_to_mel(f):
        return (
            3 * f / 200
            if f < 1000
            else 15 + 27 * math.log(f / 1000) / math.log(6.4)
        )

    def mel_to_hz(m):
        return (
            200 * m / 3
            if m < 15
            else 1000 * math.exp(math.log(6.4) * (m - 15) / 27)
        )

    low, high = hz_to_mel(fmin), hz_to_mel(fmax)
    edges = [
        mel_to_hz(low + (high - low) * i / (n_mels + 1))
        for i in range(n_mels + 2)
    ]
    weights = torch.zeros(n_fft // 2 + 1, n_mels, dtype=torch.float64)
    for band in range(n_mels):
        left, centre, right = edges[band : band + 3]
        for k in range(n_fft // 2 + 1):
            f = k * sr / n_fft
            weights[k, band] = max(
                0.0,
                min(
                    (f - left) / (centre - left), (right - f) / (right - centre)
                ),
            )
        weights[:, band] *= 2.0 / (right - left)
    return weights.float()


@pytest.fixture(scope="module")
def panns_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("panns")
    torch.manual_seed(4)
    reference = ReferencePANNs(widths=(8, 8, 16, 16, 32, 32)).eval()
    for layer in reference.modules():  # weights that keep the activations' scale through the depth, as trained ones
        if (
            isinstance(layer, (nn.Conv2d, nn.Linear))
            and layer.weight.shape[-1] != 512
        ):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    _randomise_norms(reference, 5)
    with torch.no_grad():  # bn0 normalises the dB, as trained
        calibration = torch.cat([reference.logmel(s) for s in _sounds()], dim=1)
    reference.bn0.running_mean.copy_(calibration.mean(dim=(0, 1)))
    reference.bn0.running_var.copy_(calibration.var(dim=(0, 1)))
    path = folder / "Cnn14_16k_mAP=0.438.pth"
    torch.save({"model": reference.state_dict(), "iteration": 0}, path)
    return path, reference


def test_panns_cnn14_16k_checkpoint_loads_and_matches_panns(
    panns_checkpoint, tmp_path
):
    path, reference = panns_checkpoint
    model, description, exported = load_pretrained_classifier(
        str(path), str(tmp_path / "converted")
    )
    assert (
        model.multilabel
        and model.n_classes == 527
        and description["classes"][:2] == ["audioset_0", "audioset_1"]
    )
    front_end = description["front_end"]
    assert (
        front_end["type"],
        front_end["n_fft"],
        front_end["hop_length"],
        front_end["n_mels"],
        front_end["f_min"],
        front_end["f_max"],
    ) == ("panns_logmel", 512, 160, 64, 50.0, 8000.0)
    assert (
        description["head"] == {"type": "panns", "hidden": 32}
        and description["source"]["format"] == "panns"
    )
    wav = _signal(1.0)
    # the network after the front end is PANNs' exactly
    logmel = reference.logmel(wav)
    embedding, _ = model.encoder(logmel)
    assert torch.allclose(
        model.head(embedding), reference.network(logmel), atol=1e-4
    )
    # the front end computed from our magnitude grid approximates PANNs' log-mel from the waveform
    magnitude, _ = magnitude_phase(wav)
    ours = model.front_end(magnitude)
    # PANNs frames are centred every 160 samples up to our last frame centre: 100 of PANNs' 101 for 1 s
    assert logmel.shape == (1, 101, 64) and ours.shape == (1, 100, 64)
    difference = (ours - logmel[:, :100])[
        :, 2:-2, 4:
    ]  # away from the clip edges and the lowest (narrowest) bands
    assert (
        difference.abs().median() < 1.0 and difference.mean().abs() < 1.0
    )  # measured: 0.7 dB and 0.6 dB
    # end to end: from our magnitude, the embedding and logits stay close to PANNs' own from the waveform (measured:
    # embedding 0.1-0.8 % off, logits within 2 % of their spread)
    for sound in _sounds():
        mine = model.encoder(model.front_end(magnitude_phase(sound)[0]))[0]
        theirs = model.encoder(reference.logmel(sound))[0]
        assert (mine - theirs).norm() < 0.05 * theirs.norm()
        logits, expected = model.head(mine), model.head(theirs)
        assert (logits - expected).abs().max() < 0.1 * expected.std()
    logits = model(magnitude)
    # the exported copy names its front end and rebuilds the same model, offline
    reloaded, saved = load_classifier(exported)
    assert saved["front_end"]["type"] == "panns_logmel"
    assert torch.allclose(reloaded(magnitude), logits, atol=1e-5)
    # its hidden maps and block names serve the interpreters and the sanity check
    _, hidden = model.forward_with_hidden(magnitude)
    assert list(hidden) == [
        "conv_block3",
        "conv_block4",
        "conv_block5",
        "conv_block6",
    ]


def test_panns_front_end_tracks_level_and_masks(panns_checkpoint, tmp_path):
    """+6 dB in, +6 dB out; a mask removing the band above 2 kHz lowers exactly the mel bands above it."""
    path, _ = panns_checkpoint
    model, _, _ = load_pretrained_classifier(
        str(path), str(tmp_path / "converted")
    )
    magnitude, _ = magnitude_phase(_signal(1.0))
    louder = model.front_end(2 * magnitude) - model.front_end(magnitude)
    assert torch.allclose(
        louder, torch.full_like(louder, 20 * math.log10(2)), atol=1e-3
    )
    mask = torch.ones_like(magnitude)
    mask[..., 2000 * 1024 // 16000 :] = 0  # bins from 2 kHz up
    filters = reference_mel_filters(
        16000, 512, 64, 50.0, 8000.0
    )  # [257, 64] on PANNs' 31.25 Hz bins
    support = [(filters[:, b] > 0).nonzero()[:, 0] * 31.25 for b in range(64)]
    below = [b for b in range(64) if support[b].max() < 2000]
    above = [b for b in range(64) if support[b].min() > 2000]
    masked, unmasked = (
        model.front_end(mask * magnitude),
        model.front_end(magnitude),
    )
    assert len(below) > 20 and len(above) > 20
    assert torch.allclose(masked[..., below], unmasked[..., below], atol=1e-4)
    assert torch.all(
        masked[..., above] == -100.0
    )  # silence: PANNs' floor, 10 log10(1e-10)


def test_panns_full_size_keys_and_shapes_map_onto_ours():
    with torch.device("meta"):
        reference = ReferencePANNs().state_dict()
    ours, arguments = panns_to_ours(reference, "Cnn14_16k_mAP=0.438.pth")
    assert arguments["n_classes"] == 527 and arguments["channels"] == [
        64,
        128,
        256,
        512,
        1024,
    ]
    assert arguments["emb_dim"] == 2048 and arguments["head"] == {
        "type": "panns",
        "hidden": 2048,
    }
    with torch.device("meta"):
        encoder = CNN14Encoder(n_mels=64, emb_dim=2048).state_dict()
        head = PANNsHead(2048, 527, hidden=2048).state_dict()
    expected = {f"encoder.{k}": v.shape for k, v in encoder.items()}
    expected.update({f"head.{k}": v.shape for k, v in head.items()})
    expected["front_end.melW"] = torch.Size([257, 64])
    assert {k: v.shape for k, v in ours.items()} == expected


def test_panns_errors(tmp_path):
    with torch.device("meta"):
        wide = ReferencePANNs(n_fft=1024).state_dict()
    with pytest.raises(
        CheckpointError,
        match=r"Cnn14_mAP=0.431.pth: a 1024-point STFT front end \(a 32 kHz PANNs "
        r"model\?\)",
    ):
        panns_to_ours(wide, "Cnn14_mAP=0.431.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(
        CheckpointError, match=r"junk.pth: unreadable checkpoint"
    ):
        load_pretrained_classifier(
            str(tmp_path / "junk.pth"), str(tmp_path / "c")
        )
    torch.save(
        {"model": {"fc1.weight": torch.zeros(2, 2)}}, tmp_path / "partial.pth"
    )
    with pytest.raises(
        CheckpointError,
        match=r"partial.pth: not a PANNs Cnn14 checkpoint \(no 'bn0.weight' in it\)",
    ):
        load_pretrained_classifier(
            str(tmp_path / "partial.pth"), str(tmp_path / "c")
        )


def test_panns_class_names_from_its_metadata(panns_checkpoint, tmp_path):
    path, _ = panns_checkpoint
    folder = tmp_path / "with_labels"
    folder.mkdir()
    (folder / path.name).write_bytes(path.read_bytes())
    rows = ["index,mid,display_name"] + [
        f'{i},/m/{i},"Sound {i}, loud"' for i in range(527)
    ]
    (folder / "class_labels_indices.csv").write_text("\n".join(rows) + "\n")
    _, description, _ = load_pretrained_classifier(
        str(folder / path.name), str(tmp_path / "c")
    )
    assert description["classes"][3] == "Sound 3, loud"
    yaml.safe_dump(description)  # names with commas survive the description
