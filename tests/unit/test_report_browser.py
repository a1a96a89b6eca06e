"""The report as a browser shows it: headless Chromium renders the demo-like report and the explain page, and the
checks read, from the rendered DOM, that every player's source loaded with a duration, every picture decoded and
the tables are there. Chromium (Debian's ``chromium``) is installed with apt-get when missing; where it cannot be,
the test is skipped, except on CI (``CI`` set), where that fails."""

import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from test_report import FAST, build_results

from interpretability.report import browser, write_explain_page, write_report
from interpretability.spectral import listenable, magnitude_phase


@pytest.fixture(scope="module")
def chromium():
    try:
        return browser.ensure_chromium(install=True)
    except browser.BrowserError as err:
        if os.environ.get("CI"):  # CI must render the page, not skip it
            pytest.fail(f"no headless Chromium on CI: {err}")
        pytest.skip(f"no headless Chromium: {err}")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster on busy cores
    try:
        root = build_results(tmp_path_factory.mktemp("results"))
        index = write_report(
            root, os.path.join(root, "report"), listening_options=FAST
        )
    finally:
        torch.set_num_threads(threads)
    wav = 0.1 * torch.randn(20000, generator=torch.Generator().manual_seed(0))
    magnitude, phase = magnitude_phase(wav)
    mask = torch.rand(
        magnitude.shape, generator=torch.Generator().manual_seed(1)
    )
    result = {
        "wavs": wav,
        "explanation": listenable(magnitude, phase, mask, 20000),
        "mask": mask,
        "magnitude": magnitude,
        "label": "rain",
        "probability": 0.7,
        "decision_track": [(0.0, 1.25, "rain", 0.7)],
    }
    explain = write_explain_page(
        os.path.join(root, "explained"), {"clip": result}
    )
    return index, explain


def _source_count(page, tag):
    with open(page, encoding="utf-8") as handle:
        return handle.read().count(f"<{tag} ")


def test_rendered_report_players_pictures_and_tables(chromium, pages):
    index, explain = pages
    seen = browser.check_page(index)
    # as many players and pictures as the page holds, and every one of them loaded
    assert len(seen["audio"]) == _source_count(index, "audio") > 100
    assert len(seen["images"]) == _source_count(index, "img") > 100
    assert browser.problems(seen) == []
    assert all(
        a["duration"] > 0.9 and a["error"] is None for a in seen["audio"]
    )
    assert all(
        i["naturalWidth"] > 0 and i["naturalHeight"] > 0 for i in seen["images"]
    )
    tables = {t["id"]: t["rows"] for t in seen["tables"] if t["id"]}
    for table in (
        "table-classifier",
        "table-interpreters",
        "table-headline",
        "table-sanity",
        "table-and-last-layer",
        "table-and-pruning",
        "table-and-uninterpretable",
    ):
        assert tables.get(table, 0) >= 2, table
    assert (
        tables["table-headline"] == 2 + 3
    )  # two header rows, L-MAC, L2I, best baseline
    seen = browser.check_page(explain)
    assert (
        len(seen["audio"]) == 2
        and len(seen["images"]) == 1
        and browser.problems(seen) == []
    )
    assert (
        abs(seen["audio"][0]["duration"] - 1.25) < 0.01
        and seen["images"][0]["naturalWidth"] > 500
    )


def test_the_check_finds_a_missing_file_and_a_broken_picture(
    chromium, pages, tmp_path
):
    index, _ = pages
    copy = tmp_path / "report"
    shutil.copytree(os.path.dirname(index), copy)
    with open(index, encoding="utf-8") as handle:
        text = handle.read()
    first_audio = text.split('<audio controls preload="metadata" src="', 1)[
        1
    ].split('"', 1)[0]
    first_image = (
        text.split('<img class="', 1)[1].split('src="', 1)[1].split('"', 1)[0]
    )
    os.remove(copy / first_audio)
    (copy / first_image).write_bytes(b"not a png")
    failed = browser.problems(browser.check_page(str(copy / "index.html")))
    uses = (
        text.count(f'src="{first_audio}"'),
        text.count(f'src="{first_image}"'),
    )  # the input is on two cards
    assert [
        f for f in failed if f.startswith(f"audio {first_audio}: error 4")
    ] == failed[: uses[0]]
    assert len(failed) == sum(uses) and all(
        f.startswith(f"image {first_image}: natural size 0x0")
        for f in failed[uses[0] :]
    )


def test_screenshot_of_the_index(chromium, pages, tmp_path):
    index, _ = pages
    png = browser.screenshot(
        index, str(tmp_path / "index.png"), width=1280, height=1600
    )
    image = np.asarray(Image.open(png).convert("RGB")).astype(float)
    assert image.shape == (1600, 1280, 3)
    assert image.std() > 20  # not a blank page: text, tables and spectrograms
