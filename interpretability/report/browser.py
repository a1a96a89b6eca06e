"""Headless Chromium for the report: render a page and read back, from the rendered DOM, whether every player's
source loaded and every picture decoded; take a screenshot.

The check renders a copy of the page with a small script added (``_check_<page>``, beside it so that relative
paths resolve, removed afterwards). Once every ``<audio>`` has fired ``loadedmetadata`` or ``error`` (or after a
time-out) the script writes, into the DOM, one JSON record of every audio element (``src``, ``duration``,
``error`` code, ``readyState``), every image (``src``, ``naturalWidth``, ``naturalHeight``) and every table (id,
rows); ``chromium --dump-dom`` returns that DOM after the page's own time has run (``--virtual-time-budget``).
The report itself holds no script.

    python -m interpretability.report.browser results/demo/report/index.html --screenshot docs/report.png
"""

import argparse
import html
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile

logger = logging.getLogger(__name__)

CANDIDATES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--mute-audio",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
MARKER = "report-check-result"

_SCRIPT = """
<script>
(function () {
  function record() {
    var out = {audio: [], images: [], tables: []};
    document.querySelectorAll('audio').forEach(function (a) {
      out.audio.push({src: a.getAttribute('src'), url: a.currentSrc, duration: isFinite(a.duration) ? a.duration : null,
                      error: a.error ? a.error.code : null, readyState: a.readyState});
    });
    document.querySelectorAll('img').forEach(function (i) {
      out.images.push({src: i.getAttribute('src'), naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
                       complete: i.complete});
    });
    document.querySelectorAll('table').forEach(function (t) {
      out.tables.push({id: t.id || null, rows: t.rows.length});
    });
    var node = document.getElementById('%(marker)s') || document.createElement('pre');
    node.id = '%(marker)s';
    node.textContent = JSON.stringify(out);
    document.body.appendChild(node);
  }
  function settled() {
    var audios = Array.prototype.slice.call(document.querySelectorAll('audio'));
    return audios.every(function (a) { return a.error || a.readyState >= 1; });
  }
  var started = Date.now();
  function poll() {
    if ((document.readyState === 'complete' && settled()) || Date.now() - started > %(timeout_ms)d) { record(); }
    else { setTimeout(poll, 50); }
  }
  window.addEventListener('load', poll);
})();
</script>
"""


class BrowserError(RuntimeError):
    """Chromium is missing or did not render the page."""


def find_chromium():
    """The path of a Chromium / Chrome binary, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium(install=True):
    """The Chromium binary; installs Debian's ``chromium`` with apt-get when it is missing and ``install`` (needs
    root). Raises :class:`BrowserError` saying why when there is none."""
    path = find_chromium()
    if path or not install:
        if path is None:
            raise BrowserError(
                "no Chromium binary on PATH (apt-get install -y chromium)"
            )
        return path
    if shutil.which("apt-get") is None or (
        hasattr(os, "geteuid") and os.geteuid() != 0
    ):
        raise BrowserError(
            "Chromium is missing and cannot be installed here (needs apt-get as root)"
        )
    logger.info("installing chromium with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=900
        )
        if command[1] == "install" and done.returncode == 0:
            break
    path = find_chromium()
    if path is None:
        raise BrowserError(
            f"apt-get could not install chromium: {done.stderr.strip()[-300:]}"
        )
    return path


def _run(arguments, timeout):
    binary = ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *arguments]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise BrowserError(
                f"chromium did not finish within {timeout} s: {' '.join(command)}"
            ) from None
    if done.returncode != 0:
        raise BrowserError(
            f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return done.stdout


def _url(path):
    return "file://" + os.path.abspath(path)


def rendered_dom(page, budget_ms=15000, timeout=120):
    """The DOM of ``page`` (an HTML file) after Chromium rendered it and its scripts ran, as HTML text."""
    return _run(
        [f"--virtual-time-budget={int(budget_ms)}", "--dump-dom", _url(page)],
        timeout,
    )


def check_page(page, budget_ms=15000, timeout=120):
    """Render ``page`` with the checking script and return what the browser saw:
    ``{"audio": [{src, url, duration, error, readyState}], "images": [{src, naturalWidth, naturalHeight}],
    "tables": [{id, rows}]}``."""
    page = os.path.abspath(page)
    with open(page, encoding="utf-8") as handle:
        text = handle.read()
    script = _SCRIPT % {"marker": MARKER, "timeout_ms": int(budget_ms * 0.8)}
    checked = (
        re.sub(r"</body>", script + "</body>", text, count=1)
        if "</body>" in text
        else text + script
    )
    harness = os.path.join(
        os.path.dirname(page), "_check_" + os.path.basename(page)
    )
    with open(harness, "w", encoding="utf-8") as handle:
        handle.write(checked)
    try:
        dom = rendered_dom(harness, budget_ms, timeout)
    finally:
        os.remove(harness)
    found = re.search(rf'<pre id="{MARKER}">(.*?)</pre>', dom, re.S)
    if not found:
        raise BrowserError(
            f"{page}: the rendered page holds no check record (the script did not run)"
        )
    return json.loads(html.unescape(found.group(1)))


def problems(seen):
    """Human-readable failures of a :func:`check_page` record: players that did not load or have no duration,
    pictures with no natural size."""
    failed = []
    for audio in seen["audio"]:
        if audio["error"] is not None or not (audio["duration"] or 0) > 0:
            failed.append(
                f"audio {audio['src']}: error {audio['error']}, duration {audio['duration']}"
            )
    for image in seen["images"]:
        if not (image["naturalWidth"] > 0 and image["naturalHeight"] > 0):
            failed.append(
                f"image {image['src']}: natural size {image['naturalWidth']}x{image['naturalHeight']}"
            )
    return failed


def screenshot(page, png, width=1280, height=2000, budget_ms=5000, timeout=120):
    """A PNG screenshot of the top ``width`` x ``height`` pixels of the rendered ``page``; returns ``png``."""
    png = os.path.abspath(png)
    os.makedirs(os.path.dirname(png), exist_ok=True)
    _run(
        [
            f"--window-size={int(width)},{int(height)}",
            f"--virtual-time-budget={int(budget_ms)}",
            f"--screenshot={png}",
            _url(page),
        ],
        timeout,
    )
    if not os.path.isfile(png):
        raise BrowserError(f"chromium wrote no screenshot to {png}")
    return png


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("page", help="an HTML file (the report's index.html)")
    parser.add_argument("--screenshot", help="write a PNG screenshot here")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    seen = check_page(args.page)
    failed = problems(seen)
    print(
        f"{args.page}: {len(seen['audio'])} players, {len(seen['images'])} pictures, {len(seen['tables'])} tables; "
        f"{len(failed)} problems"
    )
    for line in failed:
        print("  " + line)
    if args.screenshot:
        print(screenshot(args.page, args.screenshot, args.width, args.height))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
