"""Reading and writing audio: any wav (rate, bit depth, channels) to 16 kHz mono float32.

All readers raise :class:`~interpretability.errors.AudioError` naming the file and the problem.
"""

import logging
import os

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from interpretability.errors import AudioError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def audio_info(path):
    """Header facts of an audio file without reading the samples.

    Arguments
    ---------
    path : str
        An audio file soundfile reads.

    Returns
    -------
    dict
        ``sample_rate``, ``channels``, ``frames`` and ``duration`` (seconds).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> write_audio(path, torch.sin(torch.arange(8000) * 0.1) * 0.5)
    >>> audio_info(path)
    {'sample_rate': 16000, 'channels': 1, 'frames': 8000, 'duration': 0.5}
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: audio file not found")
    try:
        info = sf.info(path)
    except (
        Exception
    ) as err:  # soundfile raises its own LibsndfileError / RuntimeError
        raise AudioError(f"{path}: unreadable audio ({err})") from None
    if info.frames == 0 or info.samplerate <= 0:
        raise AudioError(f"{path}: audio file holds no samples")
    return {
        "sample_rate": int(info.samplerate),
        "channels": int(info.channels),
        "frames": int(info.frames),
        "duration": info.frames / float(info.samplerate),
    }


def read_audio(path, sample_rate=SAMPLE_RATE, allow_silent=False):
    """Read a file as mono float32 at ``sample_rate``.

    Channels are averaged; the rate is read from the header and resampled.

    Arguments
    ---------
    path : str
    sample_rate : int
        Target rate in Hz.
    allow_silent : bool
        When False, a file whose samples are all zero raises AudioError.

    Returns
    -------
    torch.Tensor
        ``[samples]``, float32.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> sf.write(path, np.full((8000, 2), 0.25, dtype=np.float32), 8000)
    >>> wav = read_audio(path)
    >>> wav.shape, round(float(wav[100]), 3)
    (torch.Size([16000]), 0.25)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: audio file not found")
    try:
        data, file_rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(f"{path}: unreadable audio ({err})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file holds no samples")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    wav = torch.from_numpy(data.mean(axis=1))
    if not allow_silent and not torch.any(wav != 0):
        raise AudioError(f"{path}: audio is silent (every sample is zero)")
    if file_rate != sample_rate:
        wav = AF.resample(
            wav, orig_freq=int(file_rate), new_freq=int(sample_rate)
        )
    return wav.contiguous()


def pad_or_crop(wav, num_samples):
    """Zero-pad at the end or crop from the start to ``num_samples`` along the last axis.

    Arguments
    ---------
    wav : torch.Tensor
        ``[..., samples]``.
    num_samples : int
        The length wanted.

    Returns
    -------
    torch.Tensor
        ``[..., num_samples]``.

    Example
    -------
    >>> pad_or_crop(torch.ones(3), 5)
    tensor([1., 1., 1., 0., 0.])
    >>> pad_or_crop(torch.arange(5.0), 2)
    tensor([0., 1.])
    """
    length = wav.shape[-1]
    if length == num_samples:
        return wav
    if length > num_samples:
        return wav[..., :num_samples]
    pad = torch.zeros(
        *wav.shape[:-1],
        num_samples - length,
        dtype=wav.dtype,
        device=wav.device,
    )
    return torch.cat([wav, pad], dim=-1)


def write_audio(path, wav, sample_rate=SAMPLE_RATE):
    """Write a mono ``[samples]`` tensor or array as 16-bit PCM wav.

    Samples beyond [-1, 1] are scaled down together (never clipped) so the file stays listenable;
    the level is otherwise kept, so an explanation is heard at its level relative to the input.

    Arguments
    ---------
    path : str
        The wav file to write (atomically).
    wav : torch.Tensor or numpy.ndarray
        ``[samples]``.
    sample_rate : int
        Sample rate in Hz.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "loud.wav")
    >>> write_audio(path, torch.tensor([0.0, 2.0, -1.0]))
    >>> read_audio(path, allow_silent=True)  # scaled by 1 / 2, then 16-bit
    tensor([ 0.0000,  0.9990, -0.4995])
    """
    path = os.fspath(path)
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().float().numpy()
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > 1.0:
        wav = wav / peak * 0.999
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    sf.write(path, wav, int(sample_rate), subtype="PCM_16")
