"""Datasets on demand: ESC-50, UrbanSound8K and SONYC-UST downloaded into ``data_folder`` when it lacks them.

    ensure_dataset("ESC-50", "/data/ESC50")     # no-op when /data/ESC50 already holds ESC-50

Each file is fetched from its official location (:data:`SOURCES`) with a progress bar into
``<data_folder>.download/``, resumed with an HTTP ``Range`` request when a previous attempt was cut short, and
checked: its size against the server's ``Content-Length`` and, where a checksum is known, its md5. Archives are
unpacked into ``<data_folder>.download/extract/``, checked to hold the dataset's metadata and audio, marked
complete and only then moved to ``data_folder`` with one ``os.replace``, so an interrupted run never leaves a
folder that looks like the dataset; the next run resumes the download and unpacks again.

Checksums: UrbanSound8K's archive and SONYC-UST v2.3's audio shards have the md5 sums Zenodo lists for records
1203745 and 3966543 (as recorded by the ``soundata`` loaders). ESC-50 is GitHub's archive of the repository's
``master`` branch, which changes whenever that branch does, so it has no stable checksum: it is checked by size,
by the CRC-32 the zip format keeps for every member, and by its content (``meta/esc50.csv`` and ``audio/``).
SONYC-UST's ``annotations.csv`` and taxonomy have no md5 we could confirm for v2.3 (soundata lists the v2.1 value
for both versions), so they are checked by size only.
``checksum`` overrides all of this (see :func:`ensure_dataset`).
"""

import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field

from tqdm import tqdm

from interpretability.errors import DataError

logger = logging.getLogger(__name__)

MARKER = ".download_complete.json"
CHUNK = 1 << 20
USER_AGENT = "audio-interpretability-downloader/0.1"


@dataclass(frozen=True)
class Remote:
    """One file of a dataset: ``url``, saved as ``filename``; ``md5`` None when no stable checksum is known.

    An archive (``.zip``, ``.tar.gz``, ``.tgz``, ``.tar``) is unpacked; ``root`` names its top folder whose
    content is the dataset (None: the archive's content as is), and ``into`` the dataset sub-folder it goes to.
    Any other file is copied to ``<into>/<filename>``.
    """

    url: str
    filename: str
    md5: str = None
    root: str = None
    into: str = ""


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from and what a complete copy holds (``required`` paths, relative to its folder)."""

    name: str
    remotes: tuple
    required: tuple
    size: str = ""
    extra: dict = field(default_factory=dict)


_SONYC_RECORD = "https://zenodo.org/records/3966543/files"
_SONYC_AUDIO_MD5 = (
    "bbb4dbae7d2e58e18d24878b9ee1eb51",
    "7c369ff37ac6a1fdd8493fdffe62e0a1",
    "412241c063d7f196953d3dd1c44aeb5e",
    "d2a872392d95993a2c238d305b940812",
    "b15b0e0cb3f8584259ef0d24293a9be3",
    "de745f887067433757a2f2c8f99f99bb",
    "b0286c67468369d66336f6f5ddede31f",
    "ff300183ab7a9d3f2f74c3b730ffeb52",
    "7be76b821fa6dbe20f6b50ca440e1024",
    "959f7edfbb26eadad9865069f38aa9dd",
    "84e94de273666c537a3e6b709ee88d9b",
    "44fe1f43121a7d1178aa0cdf7477793b",
    "a7eb21011f460b5ac289f8e285e875ab",
    "27945a8b1008eec787f97213164951e6",
    "fb8c7d81c3bde3a0c86c1e55e6a85a24",
    "f6af9b65d876ef96d199b9e5f0473cb9",
    "e8337c61a90c30989d500f950fbe443a",
    "3e47e85eb4564a30fe7f442ee97ec7b9",
    "c6b2ef4d0d5b7269d465c469cdbbdc4b",
)

SOURCES = {
    "ESC-50": DatasetSource(
        "ESC-50",
        (
            Remote(
                "https://github.com/karolpiczak/ESC-50/archive/master.zip",
                "ESC-50-master.zip",
                root="ESC-50-master",
            ),
        ),
        required=("meta/esc50.csv", "audio"),
        size="about 600 MB",
    ),
    "UrbanSound8K": DatasetSource(
        "UrbanSound8K",
        (
            Remote(
                "https://zenodo.org/records/1203745/files/UrbanSound8K.tar.gz?download=1",
                "UrbanSound8K.tar.gz",
                md5="9aa69802bbf37fb986f71ec1483a196e",
                root="UrbanSound8K",
            ),
        ),
        required=("metadata/UrbanSound8K.csv", "audio"),
        size="about 6 GB",
    ),
    "SONYC-UST": DatasetSource(
        "SONYC-UST",
        (
            Remote(
                f"{_SONYC_RECORD}/annotations.csv?download=1", "annotations.csv"
            ),
            Remote(
                f"{_SONYC_RECORD}/dcase-ust-taxonomy.yaml?download=1",
                "dcase-ust-taxonomy.yaml",
            ),
            *(
                Remote(
                    f"{_SONYC_RECORD}/audio-{k}.tar.gz?download=1",
                    f"audio-{k}.tar.gz",
                    md5=md5,
                    into=f"audio-{k}",
                )
                for k, md5 in enumerate(_SONYC_AUDIO_MD5)
            ),
        ),
        required=("annotations.csv", "audio-0"),
        size="19 audio archives, several GB",
    ),
}


def is_complete(source, folder):
    """Whether ``folder`` holds every path ``source.required`` names."""
    return all(
        os.path.exists(os.path.join(folder, path)) for path in source.required
    )


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_md5(remote, checksum):
    """The md5 a file must have: the table's, unless ``checksum`` overrides it (``"none"``: no check)."""
    if checksum is None:
        return remote.md5
    if isinstance(checksum, dict):
        value = checksum.get(remote.filename, remote.md5)
    else:
        value = checksum
    if value is None or str(value).strip().lower() in (
        "",
        "none",
        "false",
        "skip",
    ):
        return None
    value = str(value).strip().lower()
    return value[4:] if value.startswith("md5:") else value


class _Truncated(Exception):
    pass


def _total_size(response, offset):
    """Size of the whole file from ``Content-Range`` (a resumed request) or ``Content-Length``."""
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def fetch_file(url, path, md5=None, retries=2, timeout=60, progress=True):
    """Download ``url`` to ``path`` (resuming ``path + ".partial"``), check its size and md5; return ``path``.

    A cut connection is retried ``retries`` times, each time resuming with ``Range: bytes=<have>-``; a server
    that ignores the range answers 200 and the file starts over. Raises :class:`DataError` (naming the url and
    the problem) when the server cannot be reached, answers an HTTP error, the file stays incomplete (the
    partial file is kept: the next call resumes it) or its md5 differs (the file is removed).
    """
    partial = path + ".partial"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.isfile(path):
        if md5 is None or _md5(path) == md5:
            return path
        os.remove(
            path
        )  # a finished download of other content (an older version): fetch it anew
    have, total, problem = 0, None, None
    for attempt in range(int(retries) + 1):
        have = os.path.getsize(partial) if os.path.isfile(partial) else 0
        headers = {"User-Agent": USER_AGENT}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=timeout
            ) as response:
                resumed = have and response.status == 206
                if have and not resumed:
                    logger.info(
                        "%s: the server ignored the range request, downloading from the start",
                        url,
                    )
                    have = 0
                total = _total_size(response, have)
                with open(partial, "ab" if resumed else "wb") as out, tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=os.path.basename(path),
                    disable=None if progress else True,
                    leave=False,
                ) as bar:
                    while True:
                        block = response.read(CHUNK)
                        if not block:
                            break
                        out.write(block)
                        bar.update(len(block))
            have = os.path.getsize(partial)
            if total is not None and have < total:
                raise _Truncated(
                    f"connection closed after {have} of {total} bytes"
                )
            problem = None
            break
        except urllib.error.HTTPError as err:
            if (
                err.code == 416 and have
            ):  # the partial file already holds every byte
                problem = None
                break
            raise DataError(
                f"{url}: the server answered HTTP {err.code} ({err.reason})"
            ) from None
        except urllib.error.URLError as err:
            raise DataError(
                f"{url}: cannot reach the server ({err.reason}); without network, download it by "
                f"hand or pass --download False"
            ) from None
        except (
            _Truncated,
            http.client.HTTPException,
            ConnectionError,
            socket.timeout,
            TimeoutError,
        ) as err:
            problem = str(err) or type(err).__name__
            have = os.path.getsize(partial) if os.path.isfile(partial) else 0
            if attempt < int(retries):
                logger.warning(
                    "%s: %s; resuming from byte %d", url, problem, have
                )
    if problem is not None:
        size = (
            f"{have} of {total} bytes" if total is not None else f"{have} bytes"
        )
        raise DataError(
            f"{url}: download incomplete ({size}: {problem}); {partial} is kept, run again to resume"
        )
    if md5 is not None:
        actual = _md5(partial)
        if actual != md5:
            os.remove(partial)
            raise DataError(
                f"{url}: checksum mismatch (md5 {actual}, expected {md5}); the corrupted download was "
                f"removed, run again to fetch it anew (or pass --checksum none to skip the check)"
            )
    os.replace(partial, path)
    return path


def _is_archive(filename):
    return filename.lower().endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def _unpack(archive, destination):
    """Unpack a zip or tar archive into ``destination``, refusing members that would land outside it."""
    os.makedirs(destination, exist_ok=True)
    try:
        if archive.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as handle:
                base = os.path.realpath(destination)
                for member in handle.namelist():
                    target = os.path.realpath(os.path.join(destination, member))
                    if os.path.commonpath([base, target]) != base:
                        raise DataError(
                            f"{archive}: member '{member}' would be written outside the dataset folder"
                        )
                handle.extractall(destination)
        else:
            with tarfile.open(archive) as handle:
                handle.extractall(destination, filter="data")
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        OSError,
        zlib.error,
    ) as err:
        os.remove(archive)  # damaged: the next run fetches it anew
        raise DataError(
            f"{archive}: cannot unpack the archive ({err}); it was removed, run again to fetch it "
            f"anew"
        ) from None


def _place(remote, archive, work, dataset_root):
    """Unpack (or copy) one downloaded file into the dataset being assembled under ``dataset_root``."""
    target = (
        os.path.join(dataset_root, remote.into) if remote.into else dataset_root
    )
    os.makedirs(target, exist_ok=True)
    if not _is_archive(remote.filename):
        shutil.copyfile(archive, os.path.join(target, remote.filename))
        return
    scratch = os.path.join(work, "unpack")
    shutil.rmtree(scratch, ignore_errors=True)
    _unpack(archive, scratch)
    content = scratch
    if remote.root:
        content = os.path.join(scratch, remote.root)
        if not os.path.isdir(content):
            found = ", ".join(sorted(os.listdir(scratch))[:5]) or "nothing"
            raise DataError(
                f"{archive}: the archive has no top folder '{remote.root}' (it holds {found})"
            )
    for name in os.listdir(content):
        os.replace(os.path.join(content, name), os.path.join(target, name))
    shutil.rmtree(scratch, ignore_errors=True)


def ensure_dataset(
    name,
    data_folder,
    checksum=None,
    sources=None,
    retries=2,
    timeout=60,
    progress=True,
):
    """Make ``data_folder`` hold dataset ``name`` (``ESC-50``, ``UrbanSound8K``, ``SONYC-UST``); return its path.

    Nothing is downloaded when the folder already holds the dataset's metadata and audio. Otherwise every file of
    ``sources[name]`` (default :data:`SOURCES`) is fetched (see :func:`fetch_file`) into
    ``<data_folder>.download/``, unpacked there, checked, marked complete (``.download_complete.json``) and moved
    to ``data_folder`` in one ``os.replace``. ``data_folder`` must not exist or be empty (a non-empty folder that
    does not hold the dataset is an error, never overwritten).

    ``checksum``: None uses the table's md5 sums; ``"none"`` skips every md5 check; an md5 (``"md5:<hex>"`` or
    ``"<hex>"``) is the expected sum of a one-archive dataset; a dict ``{filename: md5 or "none"}`` sets some.
    """
    table = SOURCES if sources is None else sources
    if name not in table:
        raise DataError(
            f"{name}: no download source (known: {', '.join(sorted(table))})"
        )
    source = table[name]
    folder = os.path.abspath(os.fspath(data_folder))
    if is_complete(source, folder):
        return folder
    if os.path.isdir(folder) and os.listdir(folder):
        missing = [
            path
            for path in source.required
            if not os.path.exists(os.path.join(folder, path))
        ]
        raise DataError(
            f"{folder}: does not hold {name} ({', '.join(missing)} missing) and is not empty, so "
            f"{name} is not downloaded into it; pass the dataset's folder, or a new one to download "
            f"it to"
        )
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise DataError(f"{folder}: is a file, not a dataset folder")
    staging = folder.rstrip(os.sep) + ".download"
    logger.warning(
        "%s not found in %s: downloading it (%s) into %s (--download False to stop this)",
        name,
        folder,
        source.size or "size unknown",
        staging,
    )
    archives = []
    try:
        for remote in source.remotes:
            path = os.path.join(staging, "archives", remote.filename)
            archives.append(
                fetch_file(
                    remote.url,
                    path,
                    _expected_md5(remote, checksum),
                    retries=retries,
                    timeout=timeout,
                    progress=progress,
                )
            )
    except DataError as err:
        if not any(files for _, _, files in os.walk(staging)):
            shutil.rmtree(
                staging, ignore_errors=True
            )  # nothing fetched: leave no trace
        raise DataError(
            f"{folder}: {name} is not here and downloading it failed: {err}"
        ) from None
    work = os.path.join(staging, "extract")
    shutil.rmtree(work, ignore_errors=True)  # a previous, interrupted unpacking
    dataset_root = os.path.join(work, "dataset")
    os.makedirs(dataset_root)
    for remote, archive in zip(source.remotes, archives):
        logger.info("Unpacking %s", archive)
        _place(remote, archive, work, dataset_root)
    missing = [
        path
        for path in source.required
        if not os.path.exists(os.path.join(dataset_root, path))
    ]
    if missing:
        raise DataError(
            f"{', '.join(archives)}: the download does not hold {name} ({', '.join(missing)} missing)"
        )
    record = {
        "dataset": name,
        "files": [
            {
                "url": r.url,
                "filename": r.filename,
                "md5": _expected_md5(r, checksum),
            }
            for r in source.remotes
        ],
    }
    with open(
        os.path.join(dataset_root, MARKER), "w", encoding="utf-8"
    ) as handle:
        json.dump(record, handle, indent=2)
    if os.path.isdir(folder):
        os.rmdir(folder)  # empty, checked above
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    os.replace(dataset_root, folder)
    shutil.rmtree(staging, ignore_errors=True)
    logger.warning("%s is in %s", name, folder)
    return folder
