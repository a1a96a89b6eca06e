"""Datasets on demand, against a local HTTP server on 127.0.0.1 serving small archives the tests build."""

import csv
import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile

import numpy as np
import pytest
import soundfile as sf

from interpretability.data import download
from interpretability.data.download import (
    DatasetSource,
    Remote,
    ensure_dataset,
    fetch_file,
)
from interpretability.data.esc50 import prepare_esc50
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.data.us8k import prepare_us8k
from interpretability.errors import DataError


def _wav_bytes(seed, seconds=0.05, rate=8000):
    buffer = io.BytesIO()
    noise = 0.1 * np.random.default_rng(seed).standard_normal(
        int(seconds * rate)
    )
    sf.write(buffer, noise, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _csv_bytes(header, rows):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def esc50_zip():
    """ESC-50's GitHub archive in miniature: ESC-50-master/{meta/esc50.csv, audio/*.wav}, 2 classes x 5 folds."""
    buffer = io.BytesIO()
    rows = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for fold in range(1, 6):
            for target, category in enumerate(("dog", "rooster")):
                name = f"{fold}-{100 + target}-A-{target}.wav"
                rows.append(
                    [name, fold, target, category, "True", 100 + target, "A"]
                )
                archive.writestr(
                    f"ESC-50-master/audio/{name}",
                    _wav_bytes(fold * 10 + target),
                )
        archive.writestr(
            "ESC-50-master/meta/esc50.csv",
            _csv_bytes(
                [
                    "filename",
                    "fold",
                    "target",
                    "category",
                    "esc10",
                    "src_file",
                    "take",
                ],
                rows,
            ),
        )
        archive.writestr("ESC-50-master/README.md", b"ESC-50 in miniature\n")
    return buffer.getvalue()


def _tar_gz(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def us8k_tar():
    """UrbanSound8K's archive in miniature: UrbanSound8K/{metadata/UrbanSound8K.csv, audio/foldK/*.wav}."""
    files, rows = {}, []
    for fold, class_id, name in (
        (1, 0, "air_conditioner"),
        (2, 1, "car_horn"),
        (9, 0, "air_conditioner"),
        (10, 1, "car_horn"),
    ):
        filename = f"{fold}0{class_id}-{class_id}-0-0.wav"
        files[f"UrbanSound8K/audio/fold{fold}/{filename}"] = _wav_bytes(fold)
        rows.append([filename, fold * 10, 0, 1, 1, fold, class_id, name])
    files["UrbanSound8K/metadata/UrbanSound8K.csv"] = _csv_bytes(
        [
            "slice_file_name",
            "fsID",
            "start",
            "end",
            "salience",
            "fold",
            "classID",
            "class",
        ],
        rows,
    )
    return _tar_gz(files)


class Server:
    """A bounded HTTP server on 127.0.0.1 (its own thread) with byte-range support and fault modes.

    ``files``: url path -> bytes. ``faults``: url path -> "truncate" (the first answer without a range stops
    half way), "corrupt" (one byte flipped) or "no_range" (ranges ignored). ``requests``: (path, Range header).
    """

    def __init__(self):
        self.files, self.faults, self.requests = {}, {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                server.requests.append((path, self.headers.get("Range")))
                if path not in server.files:
                    self.send_error(404, "Not Found")
                    return
                data = server.files[path]
                fault = server.faults.get(path)
                if fault == "corrupt":
                    data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
                start = 0
                wanted = self.headers.get("Range")
                if wanted and fault != "no_range":
                    start = int(wanted.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header(
                            "Content-Range", f"bytes */{len(data)}"
                        )
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header(
                        "Content-Range",
                        f"bytes {start}-{len(data) - 1}/{len(data)}",
                    )
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if fault == "truncate" and not wanted:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    running = Server()
    yield running
    running.stop()


def _md5(data):
    return hashlib.md5(data).hexdigest()


def esc50_table(server, md5=None):
    data = esc50_zip()
    server.files["/ESC-50/archive/master.zip"] = data
    remote = Remote(
        server.url("/ESC-50/archive/master.zip"),
        "ESC-50-master.zip",
        md5=md5,
        root="ESC-50-master",
    )
    return {
        "ESC-50": DatasetSource(
            "ESC-50", (remote,), required=("meta/esc50.csv", "audio")
        )
    }, data


def test_complete_download_unpacks_atomically_and_prepares(
    server, tmp_path, monkeypatch
):
    table, data = esc50_table(server)
    monkeypatch.setattr(download, "SOURCES", {**download.SOURCES, **table})
    folder = tmp_path / "data" / "ESC50"
    manifests = prepare_esc50(
        folder, tmp_path / "save", download=True, check_audio=False
    )
    assert manifests["classes"] == ["dog", "rooster"]
    assert (folder / "meta" / "esc50.csv").is_file() and len(
        os.listdir(folder / "audio")
    ) == 10
    assert (folder / download.MARKER).is_file() and (
        folder / "README.md"
    ).is_file()
    assert not os.path.exists(
        str(folder) + ".download"
    )  # the staging folder is gone
    # present: nothing is fetched again
    count = len(server.requests)
    assert ensure_dataset("ESC-50", folder, sources=table) == str(folder)
    assert len(server.requests) == count


def test_truncated_download_is_resumed_with_a_range_request(server, tmp_path):
    table, data = esc50_table(server, md5=None)
    server.faults["/ESC-50/archive/master.zip"] = "truncate"
    folder = tmp_path / "ESC50"
    with pytest.raises(
        DataError,
        match=r"download incomplete \(\d+ of \d+ bytes.*run again to resume",
    ):
        ensure_dataset(
            "ESC-50", folder, sources=table, retries=0, progress=False
        )
    partial = (
        tmp_path / "ESC50.download" / "archives" / "ESC-50-master.zip.partial"
    )
    assert partial.stat().st_size == len(data) // 2
    assert not folder.exists()  # nothing that looks like the dataset
    ensure_dataset("ESC-50", folder, sources=table, retries=0, progress=False)
    assert server.requests[-1] == (
        "/ESC-50/archive/master.zip",
        f"bytes={len(data) // 2}-",
    )
    assert (folder / "meta" / "esc50.csv").is_file()
    # within one call, a cut connection is resumed on the next attempt
    server.faults["/ESC-50/archive/master.zip"] = "truncate"
    again = tmp_path / "again"
    ensure_dataset("ESC-50", again, sources=table, retries=1, progress=False)
    assert (again / "meta" / "esc50.csv").is_file()


def test_corrupted_download_fails_its_checksum_and_is_removed(server, tmp_path):
    table, data = esc50_table(server)
    remote = table["ESC-50"].remotes[0]
    table = {
        "ESC-50": DatasetSource(
            "ESC-50",
            (
                Remote(
                    remote.url,
                    remote.filename,
                    md5=_md5(data),
                    root=remote.root,
                ),
            ),
            required=("meta/esc50.csv", "audio"),
        )
    }
    server.faults["/ESC-50/archive/master.zip"] = "corrupt"
    folder = tmp_path / "ESC50"
    with pytest.raises(
        DataError,
        match=rf"checksum mismatch \(md5 [0-9a-f]{{32}}, expected {_md5(data)}\)",
    ):
        ensure_dataset("ESC-50", folder, sources=table, progress=False)
    assert not (
        tmp_path / "ESC50.download" / "archives" / "ESC-50-master.zip.partial"
    ).exists()
    assert not folder.exists()
    # without the md5 (--checksum none), the zip's own CRC-32 still refuses it, and the damaged archive goes
    with pytest.raises(
        DataError,
        match=r"ESC-50-master.zip: cannot unpack the archive \(Bad CRC-32.*removed",
    ):
        ensure_dataset(
            "ESC-50",
            tmp_path / "unchecked",
            sources=table,
            checksum="none",
            progress=False,
        )
    assert not (
        tmp_path / "unchecked.download" / "archives" / "ESC-50-master.zip"
    ).exists()
    assert not (tmp_path / "unchecked").exists()
    del server.faults["/ESC-50/archive/master.zip"]
    ensure_dataset(
        "ESC-50",
        folder,
        sources=table,
        checksum=f"md5:{_md5(data)}",
        progress=False,
    )
    assert (folder / "meta" / "esc50.csv").is_file()


def test_server_ignoring_ranges_restarts_the_file(server, tmp_path):
    table, data = esc50_table(server)
    path = tmp_path / "archive.zip"
    (tmp_path / "archive.zip.partial").write_bytes(
        b"stale bytes of something else"
    )
    server.faults["/ESC-50/archive/master.zip"] = "no_range"
    fetch_file(
        table["ESC-50"].remotes[0].url,
        str(path),
        md5=_md5(data),
        progress=False,
    )
    assert path.read_bytes() == data


def test_interrupted_unpacking_never_leaves_a_complete_looking_folder(
    server, tmp_path, monkeypatch
):
    table, _ = esc50_table(server)
    folder = tmp_path / "ESC50"
    real_replace = os.replace

    def killed(src, dst):
        if os.path.abspath(dst) == str(folder):
            raise KeyboardInterrupt  # killed between unpacking and the final move
        return real_replace(src, dst)

    monkeypatch.setattr(download.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        ensure_dataset("ESC-50", folder, sources=table, progress=False)
    assert not folder.exists()
    monkeypatch.setattr(download.os, "replace", real_replace)
    count = len(server.requests)
    ensure_dataset("ESC-50", folder, sources=table, progress=False)
    assert (
        len(server.requests) == count
    )  # the archive was kept: unpacked again, not downloaded again
    assert (folder / "meta" / "esc50.csv").is_file() and len(
        os.listdir(folder / "audio")
    ) == 10


def test_errors_name_the_problem(server, tmp_path):
    table, _ = esc50_table(server)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(
        DataError,
        match=r"busy: does not hold ESC-50 \(meta/esc50.csv, audio missing\) and is not "
        r"empty",
    ):
        ensure_dataset("ESC-50", tmp_path / "busy", sources=table)
    missing = {
        "ESC-50": DatasetSource(
            "ESC-50", (Remote(server.url("/nothing.zip"), "x.zip"),), ("meta",)
        )
    }
    with pytest.raises(
        DataError,
        match=r"a: ESC-50 is not here and downloading it failed: http://127.0.0.1:\d+/"
        r"nothing.zip: the server answered HTTP 404",
    ):
        ensure_dataset("ESC-50", tmp_path / "a", sources=missing)
    assert (
        not (tmp_path / "a").exists() and not (tmp_path / "a.download").exists()
    )  # nothing fetched, no trace
    server.files["/wrong.zip"] = esc50_zip()
    wrong = {
        "ESC-50": DatasetSource(
            "ESC-50",
            (Remote(server.url("/wrong.zip"), "w.zip", root="UrbanSound8K"),),
            ("meta",),
        )
    }
    with pytest.raises(
        DataError,
        match=r"w.zip: the archive has no top folder 'UrbanSound8K' \(it holds "
        r"ESC-50-master\)",
    ):
        ensure_dataset("ESC-50", tmp_path / "b", sources=wrong)
    assert not (tmp_path / "b").exists()
    # without download, a missing dataset is an error as before
    with pytest.raises(DataError, match="absent: data folder not found"):
        prepare_esc50(tmp_path / "absent", tmp_path / "save")


def test_us8k_tar_and_sonyc_files_and_shards(server, tmp_path, monkeypatch):
    server.files["/UrbanSound8K.tar.gz"] = us8k_tar()
    us8k = DatasetSource(
        "UrbanSound8K",
        (
            Remote(
                server.url("/UrbanSound8K.tar.gz?download=1"),
                "UrbanSound8K.tar.gz",
                md5=_md5(server.files["/UrbanSound8K.tar.gz"]),
                root="UrbanSound8K",
            ),
        ),
        required=("metadata/UrbanSound8K.csv", "audio"),
    )
    header = [
        "split",
        "sensor_id",
        "audio_filename",
        "annotator_id",
        "1_engine_presence",
        "2_alert_presence",
    ]
    rows = [
        ["train", 1, "a.wav", 3, 1, 0],
        ["validate", 1, "b.wav", 0, 0, 1],
        ["test", 1, "c.wav", 0, 1, 1],
    ]
    server.files["/annotations.csv"] = _csv_bytes(header, rows)
    server.files["/audio-0.tar.gz"] = _tar_gz(
        {"a.wav": _wav_bytes(1), "b.wav": _wav_bytes(2)}
    )
    server.files["/audio-1.tar.gz"] = _tar_gz({"audio/c.wav": _wav_bytes(3)})
    sonyc = DatasetSource(
        "SONYC-UST",
        (
            Remote(
                server.url("/annotations.csv?download=1"), "annotations.csv"
            ),
            Remote(
                server.url("/audio-0.tar.gz?download=1"),
                "audio-0.tar.gz",
                into="audio-0",
            ),
            Remote(
                server.url("/audio-1.tar.gz?download=1"),
                "audio-1.tar.gz",
                into="audio-1",
            ),
        ),
        required=("annotations.csv", "audio-0"),
    )
    monkeypatch.setattr(
        download, "SOURCES", {"UrbanSound8K": us8k, "SONYC-UST": sonyc}
    )
    manifests = prepare_us8k(
        tmp_path / "US8K", tmp_path / "save_us8k", download=True
    )
    assert manifests["classes"] == ["air_conditioner", "car_horn"]
    manifests = prepare_sonyc_ust(
        tmp_path / "SONYC", tmp_path / "save_sonyc", download=True
    )
    assert manifests["classes"] == ["engine", "alert"]
    assert (tmp_path / "SONYC" / "audio-1" / "audio" / "c.wav").is_file()
