"""File helpers shared by the data-preparation tests: read / rewrite metadata CSVs, read manifests, and
snapshot the files a preparation wrote (to show a failed run leaves them untouched)."""

import csv
import json

OUTPUTS = (
    "train.json",
    "valid.json",
    "test.json",
    "classes.json",
    "prepare_opts.json",
)


def read_rows(path):
    """``(fieldnames, rows)`` of a CSV file."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def write_rows(path, fieldnames, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def load(path):
    with open(path) as handle:
        return json.load(handle)


def snapshot(folder):
    """The bytes of every preparation output in ``folder``."""
    return {name: (folder / name).read_bytes() for name in OUTPUTS}
