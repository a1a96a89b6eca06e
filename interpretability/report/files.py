"""Atomic writes of the report's files: a temporary file in the target folder, then ``os.replace``, so a killed run
never leaves a half-written page, wav or picture. Unlike ``tempfile.mkstemp`` the files get the usual permissions
(the umask's), so that a report can be copied to a web server as it is; no fsync (hundreds of small files, all
rebuilt by the next run)."""

import os
import shutil

from interpretability.audio import write_audio


def _tmp(path):
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f".tmp-{os.getpid()}-{name}")


def _replace(tmp, path, write):
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically; returns ``path``."""

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(data)

    return _replace(_tmp(path), path, write)


def write_text(path, text):
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_wav(path, wav):
    """:func:`~interpretability.audio.write_audio` (16-bit PCM, 16 kHz, scaled down only beyond [-1, 1]) atomically
    (the temporary name keeps the ``.wav`` suffix libsndfile reads the format from)."""
    return _replace(_tmp(path), path, lambda tmp: write_audio(tmp, wav))


def copy(source, path):
    """Copy ``source`` to ``path`` atomically."""
    return _replace(_tmp(path), path, lambda tmp: shutil.copyfile(source, tmp))
