"""SpeechBrain's recipe consistency checks, reimplemented for this repository.

Each test states the SpeechBrain check it stands for (its develop branch: ``tests/consistency/test_recipe.py``,
``tests/consistency/test_yaml.py`` with ``tests/utils/check_yaml.py``, and ``load_yaml_test`` in
``tests/utils/recipe_tests.py``). The rules are the same, with these stated differences:

- **Where a key must be read.** SpeechBrain searches the recipe script only, because there the ``Brain`` class is
  in the script. Ours are thin: the code that reads the hparams is in ``interpretability/``. The search covers the
  script and every ``interpretability`` module it imports (transitively), plus the modules of the classes the
  yaml builds (``!new:`` / ``!name:`` / ``!apply:``). Upstream, that code moves into the script (``UPSTREAM.md``)
  and SpeechBrain's own check applies unchanged.
- **What counts as a read.** SpeechBrain's patterns (``["key"]``, ``hparams.key``, ``modules.key``,
  ``attr(self.hparams, "key"``, ``hparams.get("key"``), and also the key as a string constant in that code (not a
  docstring): hparams read by name in a loop over a tuple of names (``prepare_data(..., ("train_folds",
  ...))``, ``GRADIENT_SETTINGS``).
- **One listed exception.** The fields of :class:`~interpretability.dissection.options.DissectionOptions` are read
  by ``options_from_hparams`` through ``DissectionOptions.__dataclass_fields__``, which no text search sees; they
  count as read while that function reads them so (checked).
- **Defaults of ``pretrained_*`` keys.** No ``!PLACEHOLDER``, and a real default: a hub id, or the folder
  another recipe of the same folder writes with the same seed. SpeechBrain's reviewers ask for this; its test set
  has no such check.
"""

import ast
import csv
import dataclasses
import functools
import glob
import io
import os
import re

import pytest
from hyperpyyaml import load_hyperpyyaml

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
RECIPE_TESTS = os.path.join(ROOT, "tests", "recipes")
COLUMNS = [
    "Task",
    "Dataset",
    "Script_file",
    "Hparam_file",
    "Data_prep_file",
    "Readme_file",
    "Result_url",
    "HF_repo",
    "test_debug_flags",
    "test_debug_checks",
    "performance",
]
# SpeechBrain's test_recipe.py skips these entries of tests/recipes/ and reads every other one as a CSV
SKIPPED = {"README.md", "setup"}
# SpeechBrain's check_yaml.detect_script_vars patterns
READ_PATTERNS = (
    '["{key}"]',
    "hparams.{key}",
    "modules.{key}",
    'attr(self.hparams, "{key}"',
    'hparams.get("{key}"',
)
# Keys SpeechBrain itself reads (its RunOptions defaults) need no reader in the recipe
try:
    from speechbrain.utils.run_opts import RunOptions

    RUN_OPTS = set(RunOptions().as_dict())
except ImportError:  # SpeechBrain < 1.1
    from speechbrain.core import run_opt_defaults

    RUN_OPTS = set(run_opt_defaults)
# Read without a visible key: DissectionOptions fields (see the module docstring)
DATACLASS_READERS = {
    "interpretability/dissection/pipeline.py": (
        "interpretability.dissection.options",
        "DissectionOptions",
    )
}
# pretrained_* keys that must have a non-null default: the model the recipe explains (every recipe but the
# classifier's, where it is the optional starting point of fine-tuning) and the decoder L-MAC FT fine-tunes.
# The others (evaluate_*'s pretrained_interpreter / pretrained_lmac_ft / pretrained_l2i, lmac_*'s
# pretrained_interpreter) are optional: null leaves that method out.
REQUIRED_PRETRAINED = {
    "pretrained_classifier": re.compile(r"^(?!classifier_)"),
    "pretrained_interpreter": re.compile(r"_ft\.yaml$"),
}
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def csv_rows():
    """(csv name, row) of every tests/recipes/*.csv."""
    rows = []
    for name in sorted(os.listdir(RECIPE_TESTS)):
        if name in SKIPPED:
            continue
        with open(
            os.path.join(RECIPE_TESTS, name), newline="", encoding="utf-8"
        ) as handle:
            reader = csv.DictReader(handle, skipinitialspace=True)
            rows.extend((name, row) for row in reader)
    return rows


def yaml_keys(path):
    """Top-level keys of an hparams file that some code must read, by SpeechBrain's rule (get_yaml_var): lines
    ``key:`` at column 0, without ``!apply`` or ``!!``, less the keys the file itself references (``<key>``)."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    keys, referenced = [], set()
    for line in lines:
        if line.strip() and line[0] not in " \t#" and ":" in line:
            if "!apply" not in line and "!!" not in line:
                keys.append(line[: line.find(":")])
        if "!ref" in line:
            for part in line.split("<")[1:]:
                referenced.add(re.split(r"[>\[.]", part)[0])
    return [key for key in keys if key not in referenced]


def module_path(name):
    """File of the module ``name`` in this repository (None when it is not one)."""
    path = os.path.join(ROOT, *name.split("."))
    if os.path.isdir(path):
        path = os.path.join(path, "__init__.py")
    else:
        path += ".py"
    return path if os.path.isfile(path) else None


def imported_modules(tree):
    """Dotted names an ast imports (``from a.b import c`` gives a, a.b and a.b.c)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
    prefixes = set()
    for name in names:
        parts = name.split(".")
        prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return prefixes


@functools.lru_cache(maxsize=None)
def parsed(path):
    """``(text, string constants)`` of a Python file."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return text, string_constants(ast.parse(text))


@functools.lru_cache(maxsize=None)
def imports_of(path):
    """Files of the repository modules a Python file imports."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    return [module_path(name) for name in imported_modules(tree)]


def code_closure(script, hparams_text):
    """The script and the repository modules it imports, transitively, and those the hparams build."""
    built = re.findall(r"!(?:new|name|apply):([\w.]+)", hparams_text)
    todo = [script] + [module_path(n.rsplit(".", 1)[0]) for n in built]
    seen = set()
    while todo:
        path = todo.pop()
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(imports_of(path))
    return sorted(seen)


def string_constants(tree):
    """String constants of an ast that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(
            node,
            (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef),
        ):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
            ):
                docstrings.add(id(body[0].value))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def read_keys(files, keys):
    """The ``keys`` the code of ``files`` reads visibly (the module docstring's rules)."""
    found = set()
    for path in files:
        text, constants = parsed(path)
        for key in keys:
            if key in constants or any(
                p.format(key=key) in text for p in READ_PATTERNS
            ):
                found.add(key)
        relative = os.path.relpath(path, ROOT)
        if relative in DATACLASS_READERS:
            module, cls = DATACLASS_READERS[relative]
            assert f"{cls}.__dataclass_fields__" in text, (
                f"{relative} no longer reads {cls} fields by name: "
                "revisit DATACLASS_READERS"
            )
            fields = vars(__import__(module, fromlist=[cls]))[cls]
            found.update(f.name for f in dataclasses.fields(fields))
    return found


ROWS = csv_rows()
HPARAMS = sorted({row["Hparam_file"] for _, row in ROWS})


def test_recipe_folder_holds_only_csvs():
    """SpeechBrain's test_recipe.py reads every entry of tests/recipes/ but README.md and setup/ as a CSV."""
    others = [
        name
        for name in os.listdir(RECIPE_TESTS)
        if name not in SKIPPED and not name.endswith(".csv")
    ]
    assert not others, f"tests/recipes/ must hold CSVs only, found {others}"
    for name in os.listdir(RECIPE_TESTS):
        if name.endswith(".csv"):
            with open(
                os.path.join(RECIPE_TESTS, name), newline="", encoding="utf-8"
            ) as handle:
                header = next(csv.reader(handle))
            assert header == COLUMNS, (
                f"{name}: SpeechBrain's columns are {COLUMNS}"
            )


def test_recipe_list():
    """SpeechBrain's test_recipe_list: every yaml under recipes/<Dataset>/ is a row of <Dataset>.csv, and every
    row has test_debug_flags."""
    for name in sorted(os.listdir(RECIPE_TESTS)):
        if name in SKIPPED:
            continue
        dataset = os.path.splitext(name)[0]
        on_disk = {
            os.path.relpath(p, ROOT)
            for p in glob.glob(
                os.path.join(ROOT, "recipes", dataset, "**", "*.yaml"),
                recursive=True,
            )
        }
        listed = {
            row["Hparam_file"] for csv_name, row in ROWS if csv_name == name
        }
        assert on_disk, f"{name}: no recipes/{dataset}/ hparams"
        assert not on_disk - listed, (
            f"{name} does not list {sorted(on_disk - listed)}"
        )
        assert all(
            row["test_debug_flags"]
            for csv_name, row in ROWS
            if csv_name == name
        ), f"{name}: a row without test_debug_flags"


def test_recipe_files():
    """SpeechBrain's test_recipe_files and test_mandatory_files: the listed files exist."""
    for name, row in ROWS:
        for column in (
            "Script_file",
            "Hparam_file",
            "Data_prep_file",
            "Readme_file",
        ):
            for path in row[column].split():
                assert os.path.exists(os.path.join(ROOT, path)), (
                    f"{name}: {column} {path} does not exist"
                )
        for column in ("Script_file", "Hparam_file", "Readme_file"):
            assert row[column], f"{name}: a row without {column}"


def test_readme_links():
    """SpeechBrain's test_README_links: Result_url and HF_repo appear in the row's README."""
    for name, row in ROWS:
        with open(
            os.path.join(ROOT, row["Readme_file"]), encoding="utf-8"
        ) as handle:
            readme = handle.read()
        for link in (row["Result_url"] + " " + row["HF_repo"]).split():
            assert link in readme, f"{name}: {link} not in {row['Readme_file']}"


@pytest.mark.parametrize(
    "hparams", HPARAMS, ids=[h.replace("recipes/", "") for h in HPARAMS]
)
def test_every_key_is_read(hparams):
    """SpeechBrain's test_yaml_script_consistency (check_yaml_vs_script), over the code the script runs."""
    scripts = {
        row["Script_file"] for _, row in ROWS if row["Hparam_file"] == hparams
    }
    path = os.path.join(ROOT, hparams)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    keys = set(yaml_keys(path)) - RUN_OPTS
    for script in scripts:
        files = code_closure(os.path.join(ROOT, script), text)
        unread = keys - read_keys(files, keys)
        assert not unread, (
            f"{hparams}: keys no code of {script} reads: {sorted(unread)}"
        )


@pytest.mark.parametrize(
    "hparams", HPARAMS, ids=[h.replace("recipes/", "") for h in HPARAMS]
)
def test_yaml_loads_with_minimal_overrides(hparams, tmp_path):
    """SpeechBrain's load_yaml_test: every hparams file loads with data_folder and output_folder overridden
    (the only !PLACEHOLDER allowed is data_folder's)."""
    path = os.path.join(ROOT, hparams)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    placeholders = re.findall(r"^(\w+):\s*!PLACEHOLDER", text, flags=re.M)
    assert placeholders == ["data_folder"], (
        f"{hparams}: !PLACEHOLDER for {placeholders} (only data_folder may be one)"
    )
    overrides = {
        "data_folder": str(tmp_path / "data"),
        "output_folder": str(tmp_path / "out"),
    }
    hparams_loaded = load_hyperpyyaml(io.StringIO(text), overrides)
    assert hparams_loaded["output_folder"] == overrides["output_folder"]


def top_level_values(path):
    """``{key: value as written}`` of the top-level ``key: value`` lines of an hparams file (comment dropped)."""
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"^(\w+):\s*(.*?)\s*(?:#.*)?$", line)
            if match:
                values[match[1]] = match[2]
    return values


@pytest.mark.parametrize(
    "hparams", HPARAMS, ids=[h.replace("recipes/", "") for h in HPARAMS]
)
def test_pretrained_keys_have_real_defaults(hparams):
    """A pretrained_* default is a hub id, or a folder another recipe of the same folder writes with the same
    seed (its ``output_folder`` template, written the same way, and the same ``seed``); the model a recipe explains
    (and L-MAC FT's decoder) has one. The recipe tests override them on the command line."""
    path = os.path.join(ROOT, hparams)
    values = top_level_values(path)
    siblings = {
        other: top_level_values(other)
        for other in glob.glob(os.path.join(os.path.dirname(path), "*.yaml"))
    }
    for key in (k for k in values if k.startswith("pretrained_")):
        value = values[key]
        required = REQUIRED_PRETRAINED.get(key)
        assert value != "!PLACEHOLDER", f"{hparams}: {key} is a !PLACEHOLDER"
        if value in ("null", "~", ""):
            assert not (required and required.search(os.path.basename(path))), (
                f"{hparams}: {key} needs a default"
            )
            continue
        if HUB_ID.match(value) and not value.startswith("results/"):
            continue
        template = value.removeprefix("!ref").strip()
        writers = [
            os.path.basename(other)
            for other, written in siblings.items()
            if other != path
            and written.get("seed") == values.get("seed")
            and "output_folder" in written
            and (template + "/").startswith(
                written["output_folder"].removeprefix("!ref").strip() + "/"
            )
        ]
        assert writers, (
            f"{hparams}: {key}: {value} is neither a hub id nor the output of a recipe "
            f"of {os.path.dirname(hparams)} with the same seed"
        )
