"""Synthetic-set generation speed: five-second 16 kHz ESC-50-layout clips per minute on one core.

Writes ``benchmarks/results/synthetic.json`` and prints a one-line table. Audio encoding and writing
(mixture and clean target, two wav files a clip) are part of the measured time.

    .venv/bin/python benchmarks/bench_synthetic.py --clips 1000
"""

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"  # before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interpretability.data.synthetic import generate_dataset  # noqa: E402

RESULTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "results", "synthetic.json"
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips",
        type=int,
        default=1000,
        help="clips to generate (rounded up to 10 classes)",
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    n_classes = 10
    clips_per_class = max(1, math.ceil(args.clips / n_classes))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        summary = generate_dataset(
            folder,
            layout="esc50",
            clips_per_class=clips_per_class,
            duration=args.duration,
            sample_rate=args.sample_rate,
            seed=0,
            n_classes=n_classes,
            show_progress=False,
        )
        seconds = time.perf_counter() - started
    result = {
        "benchmark": "synthetic",
        "layout": "esc50",
        "clips": summary["n_clips"],
        "clip_seconds": args.duration,
        "sample_rate": args.sample_rate,
        "threads": 1,
        "seconds": round(seconds, 3),
        "clips_per_minute": round(summary["n_clips"] / seconds * 60, 1),
        "audio_seconds_per_second": round(
            summary["n_clips"] * args.duration / seconds, 1
        ),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = f"{args.out}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, args.out)
    print(
        f"{'benchmark':<12}{'clips':>7}{'clip s':>8}{'rate Hz':>9}{'seconds':>9}{'clips/min':>11}"
    )
    print(
        f"{'synthetic':<12}{result['clips']:>7}{args.duration:>8.1f}{args.sample_rate:>9}"
        f"{result['seconds']:>9.2f}{result['clips_per_minute']:>11.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
