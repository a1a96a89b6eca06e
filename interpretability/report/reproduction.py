"""Does a demo run give the figures of another? Compares two ``summary.json`` files figure by figure.

    python -m interpretability.report.reproduction docs/demo_summary.json results/demo/summary.json \
        [--record docs/experiments/demo_reproduction.json]

When both summaries hold a ``data_fingerprint`` (:func:`folder_fingerprint` of the synthetic set), it also says
whether the two runs trained on the same bytes.

A figure is every number of the summary (metrics, counts, settings) with its path, except what describes the run
rather than its result: the wall times (``seconds``, ``setup_seconds``) and the ``machine``. ``--record`` adds the
comparison to a JSON list (machine, precision, figures compared, figures differing, and a fingerprint of the
second run's figures), so that a README's "the same figures" can be checked against the committed summary.
"""

import argparse
import hashlib
import json
import math
import os
import sys

RUN_DESCRIPTION = ("seconds", "setup_seconds", "machine")


def figures(summary, path=""):
    """``{path: number}`` of every numeric figure of ``summary`` (NaN kept as the string ``"nan"``)."""
    found = {}
    if isinstance(summary, dict):
        for key, value in summary.items():
            if path == "" and key in RUN_DESCRIPTION:
                continue
            found.update(figures(value, f"{path}/{key}"))
    elif isinstance(summary, list):
        for index, value in enumerate(summary):
            found.update(figures(value, f"{path}[{index}]"))
    elif isinstance(summary, bool):
        found[path] = int(summary)
    elif isinstance(summary, (int, float)):
        found[path] = (
            "nan"
            if isinstance(summary, float) and math.isnan(summary)
            else summary
        )
    return found


def fingerprint(summary):
    """A short hash of :func:`figures` (equal figures, equal fingerprint)."""
    text = json.dumps(sorted(figures(summary).items()), default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def folder_fingerprint(folder):
    """SHA-256 of every file under ``folder``: relative paths and bytes, in sorted order (hex, 16 characters).
    Two runs with one data fingerprint trained on the same bytes, so figures that differ part after the data."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode("utf-8") + b"\0")
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def compare(reference, other):
    """``{"figures": n compared, "differing": [(path, a, b)], "only_in_reference": [...], "only_in_other": [...]}``."""
    a, b = figures(reference), figures(other)
    shared = sorted(set(a) & set(b))
    return {
        "figures": len(shared),
        "differing": [(p, a[p], b[p]) for p in shared if a[p] != b[p]],
        "only_in_reference": sorted(set(a) - set(b)),
        "only_in_other": sorted(set(b) - set(a)),
    }


def _load(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as err:
        raise SystemExit(f"{path}: not a readable summary.json ({err})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="a demo summary.json")
    parser.add_argument("other", help="the summary.json of another run")
    parser.add_argument(
        "--record", help="JSON list the comparison is appended to"
    )
    args = parser.parse_args(argv)
    reference, other = _load(args.reference), _load(args.other)
    result = compare(reference, other)
    print(
        f"{result['figures']} figures compared, {len(result['differing'])} differ; "
        f"{len(result['only_in_reference'])} only in {args.reference}, "
        f"{len(result['only_in_other'])} only in {args.other}"
    )
    data = [run.get("data_fingerprint") for run in (reference, other)]
    if None not in data and data[0] == data[1]:
        print(f"same data (fingerprint {data[0]})")
    elif None not in data:
        print(
            f"the data differ ({data[0]} vs {data[1]}): the runs part before any training"
        )
    for path, a, b in result["differing"][:20]:
        print(f"  {path}: {a} vs {b}")
    if args.record:
        from interpretability.results import atomic_write_json

        records = _load(args.record) if os.path.isfile(args.record) else []
        records.append(
            {
                "reference": os.path.basename(args.reference),
                "machine": other.get("machine", "not recorded"),
                "precision": other.get("settings", {}).get("precision"),
                "figures": result["figures"],
                "differing": len(result["differing"]),
                "only_in_one": len(result["only_in_reference"])
                + len(result["only_in_other"]),
                "fingerprint": fingerprint(other),
            }
        )
        atomic_write_json(args.record, records)
    return 1 if result["differing"] else 0


if __name__ == "__main__":
    sys.exit(main())
