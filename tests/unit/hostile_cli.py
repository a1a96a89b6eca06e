"""Running a command as a user would, and what a failed run must show: the helpers of the ``test_hostile_*``
end-to-end tests."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args, cwd=ROOT):
    """Run ``python args...`` as a user would (this checkout first on the path); the CompletedProcess."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def tiny_esc50(folder):
    """Write the small synthetic ESC-50 set the end-to-end tests run on (3 classes, 5 half-second clips each) to
    ``folder``; ``folder``."""
    from interpretability.data.synthetic import generate_dataset

    generate_dataset(
        str(folder),
        layout="esc50",
        clips_per_class=5,
        duration=0.5,
        seed=0,
        n_classes=3,
        show_progress=False,
    )
    return folder


def one_line_error(result, *fragments):
    """Assert exit status 2, no traceback anywhere, and stderr = one ``error:`` line holding every fragment."""
    shown = (
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for fragment in fragments:
        assert str(fragment) in lines[0], shown
    return lines[0]
