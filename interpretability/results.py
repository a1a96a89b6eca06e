"""Atomic result files: a failed or killed run never leaves a half-written JSON or text file."""

import io
import json
import os
import tempfile


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix="tmp-", suffix="-" + os.path.basename(path)
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(
            tmp, 0o666 & ~_umask()
        )  # mkstemp makes 0600 files; results are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(path, obj):
    """``torch.save`` to ``path`` atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_json(path, data, indent=2):
    """Write ``data`` as JSON atomically (see :func:`atomic_write_text`)."""
    atomic_write_text(
        path, json.dumps(data, indent=indent, sort_keys=False) + "\n"
    )


def write_stage_metrics(output_folder, stage, metrics):
    """Write ``<output_folder>/<stage>_metrics.json`` (e.g. ``test_metrics.json``) and return its path."""
    path = os.path.join(output_folder, f"{stage}_metrics.json")
    atomic_write_json(path, {k: _plain(v) for k, v in metrics.items()})
    return path


def _plain(value):
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def summarize_runs(metric_files):
    """Per-run values and mean +- std (sample std, ddof=1) of every numeric metric in ``metric_files``.

    Used for UrbanSound8K's 10-fold protocol: one ``test_metrics.json`` per test fold.
    Returns ``{metric: {"mean", "std", "runs": {file: value}}}``.
    """
    import statistics

    values = {}
    for path in metric_files:
        with open(path, encoding="utf-8") as handle:
            metrics = json.load(handle)
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(key, {})[path] = float(value)
    return {
        key: {
            "mean": statistics.fmean(runs.values()),
            "std": statistics.stdev(runs.values()) if len(runs) > 1 else 0.0,
            "runs": runs,
        }
        for key, runs in values.items()
    }
