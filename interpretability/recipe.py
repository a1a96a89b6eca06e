"""What every recipe script does the same way: argument parsing, hparams, experiment folder, clean errors.

A recipe's ``main(argv)`` holds only what is specific to its dataset and method; :func:`run_recipe` calls it
and turns :class:`~interpretability.errors.InputError` into a one-line message and exit status 2.

Every recipe accepts ``--download`` (default True: a dataset missing from ``data_folder`` is downloaded, see
:mod:`interpretability.data.download`; False: it is an error) and ``--checksum`` (None: the known md5 sums;
``none``: no md5 check; an md5: the archive's expected sum), whether or not its hparams file lists them.
"""

import glob
import io
import logging
import os
import re
import sys
import tempfile
import zipfile

import yaml
from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml.constructor import DuplicateKeyError

import speechbrain as sb
from interpretability.errors import CheckpointError, InputError, OutputError

logger = logging.getLogger(__name__)


class _DropMessage(logging.Filter):
    """Drops one log message (SpeechBrain's notice, on importing its train logger, that torchvision is missing
    for figures no recipe here saves), so that a failing run's stderr is the one line of its error."""

    def __init__(self, text):
        super().__init__()
        self.text = text

    def filter(self, record):
        return self.text not in record.getMessage()


logging.getLogger("speechbrain.utils.train_logger").addFilter(
    _DropMessage("torchvision is not available")
)


# hparams every recipe takes, with their defaults, when its hparams file does not set them
RECIPE_DEFAULTS = {"download": "True", "checksum": "null", "report": "False"}
# The hparams of the recipe run in this process (load_recipe), for what run_recipe does after it: the report
_LOADED = {}


def with_recipe_defaults(text):
    """The hparams ``text`` with a line for each :data:`RECIPE_DEFAULTS` key it lacks (so they can be overridden)."""
    missing = [
        key
        for key in RECIPE_DEFAULTS
        if not re.search(rf"^{key}\s*:", text, flags=re.MULTILINE)
    ]
    if not missing:
        return text
    lines = "".join(f"{key}: {RECIPE_DEFAULTS[key]}\n" for key in missing)
    return (
        text.rstrip("\n")
        + "\n\n# recipe-wide options (interpretability.recipe)\n"
        + lines
    )


def check_checkpoint_mode(overrides):
    """``--checkpoint_mode`` is min or max: checked before the hparams build the early stopper, which would
    otherwise fail with a traceback. ``overrides``: SpeechBrain's, a YAML string or a dict."""
    given = (
        yaml.safe_load(overrides) if isinstance(overrides, str) else overrides
    )
    mode = (given or {}).get("checkpoint_mode", "min")
    if mode not in ("min", "max"):
        raise InputError(f"checkpoint_mode must be min or max, not {mode!r}")


def load_recipe(argv):
    """Parse ``hparams.yaml [--overrides]``, load the hparams, init DDP and create the experiment folder.

    Returns ``(hparams, run_opts)``.
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    check_checkpoint_mode(overrides)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        text = with_recipe_defaults(fin.read())
    try:
        hparams = load_hyperpyyaml(io.StringIO(text), overrides)
    except DuplicateKeyError as err:
        raise InputError(
            f"{hparams_file}: an option is given twice ({err.problem.split(' with value')[0]})"
        ) from None
    except OSError as err:  # an object the hparams build (Checkpointer, FileTrainLogger) creating its folder
        if not err.filename:
            raise
        raise OutputError(
            f"{err.filename}: cannot be created or written ({err.strerror or err})"
        ) from None
    check_output_folder(hparams, hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    _LOADED["hparams"] = hparams
    return hparams, run_opts


# Hparams that may change when a run is resumed in the same output folder: how long it runs, what it downloads,
# which optional stages it runs, loader workers; any other difference means another model or data configuration.
RESUMABLE_CHANGES = frozenset(
    {
        "number_of_epochs",
        "download",
        "checksum",
        "skip_prep",
        "skip_stages",
        "report",
        "n_export",
        "valid_metrics_every",
        "num_workers",
        "pin_memory",
        "prefetch_factor",
        "persistent_workers",
    }
)
# The folder being checked, however it was spelt (and the paths in it derived from it)
SAME_FOLDER = frozenset({"output_folder", "save_folder", "train_log"})
# What SpeechBrain writes into every output folder before anything runs (not results of the run)
BOOKKEEPING = ("hyperparams.yaml", "env.log", "log.txt")


def check_output_folder(hparams, hparams_file, overrides):
    """Before a run writes anything: OutputError (one line) when its output folder cannot be written, or holds the
    checkpoints or results of a run with other hparams (a resume would mix the two, a new run would overwrite its
    results); CheckpointError when a checkpoint there is truncated (the resume would fail on it mid-way).

    Hparams in :data:`RESUMABLE_CHANGES` may differ (e.g. more epochs on a resume). A folder holding only what
    SpeechBrain writes at the start (a run that stopped on bad input) may be reused with any hparams.
    """
    output_folder = os.fspath(hparams["output_folder"])
    save_folder = os.fspath(
        hparams.get("save_folder") or os.path.join(output_folder, "save")
    )
    require_writable(output_folder)
    if os.path.isdir(save_folder):
        require_writable(save_folder)
    previous = os.path.join(output_folder, "hyperparams.yaml")
    outputs = earlier_outputs(
        output_folder, save_folder, hparams.get("train_log")
    )
    if outputs and os.path.isfile(previous):
        changes = _changes_since(previous, hparams_file, overrides)
        if changes:
            shown = "; ".join(
                f"{key}: {_short(old)} -> {_short(new)}"
                for key, old, new in changes[:4]
            )
            more = f"; and {len(changes) - 4} more" if len(changes) > 4 else ""
            raise OutputError(
                f"{output_folder}: holds {', '.join(outputs[:3])} of a run with other hparams ({shown}{more}); "
                f"pass another --output_folder, or that run's values to resume it"
            )
    check_checkpoints(save_folder)


def _changes_since(previous, hparams_file, overrides):
    """:func:`hparams_changes` between the hparams SpeechBrain saved in ``previous`` and this run's (resolved as
    SpeechBrain will save them); [] with a warning when the saved file cannot be read."""
    try:
        with open(previous, encoding="utf-8") as handle:
            before = _plain_yaml(handle.read())
        with open(hparams_file, encoding="utf-8") as handle:
            now = _plain_yaml(resolve_references(handle, overrides).getvalue())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        logger.warning(
            "%s: cannot compare with the hparams of the run there (%s)",
            previous,
            err,
        )
        return []
    return hparams_changes(before, now)


def require_writable(folder):
    """OutputError unless ``folder`` exists (or can be created) and a file can be written in it."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"{folder}: output folder is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(handle)
        os.remove(probe)
    except OSError as err:
        raise OutputError(
            f"{folder}: output folder not writable ({err.strerror or err})"
        ) from None


def earlier_outputs(output_folder, save_folder, train_log=None):
    """Names of what an earlier run left in ``output_folder`` besides SpeechBrain's bookkeeping: its checkpoints
    (``save/CKPT+*``) and results (any other file or folder; the prepared manifests in ``save/`` do not count)."""
    skip = set(BOOKKEEPING)
    if train_log:
        skip.add(os.path.basename(os.fspath(train_log)))
    save = os.path.abspath(save_folder)
    found = []
    if glob.glob(os.path.join(save_folder, "CKPT+*")):
        found.append("checkpoints")
    for name in sorted(os.listdir(output_folder)):
        path = os.path.join(output_folder, name)
        if (
            name in skip
            or name.startswith(".")
            or name.endswith(".py")
            or os.path.abspath(path) == save
        ):
            continue
        found.append(name)
    return found


def check_checkpoints(save_folder):
    """CheckpointError naming the first truncated checkpoint file in ``save_folder/CKPT+*/``: empty, or a torch zip
    file whose end (the zip directory) is missing. Other files (SpeechBrain's text counters) are not read. A folder
    without ``CKPT.yaml`` is skipped: a kill while saving left it, it is never recovered and the Brain removes it
    (:func:`interpretability.brains.resume.remove_incomplete_checkpoints`)."""
    for path in sorted(
        glob.glob(os.path.join(save_folder, "CKPT+*", "*.ckpt"))
    ):
        if not os.path.isfile(os.path.join(os.path.dirname(path), "CKPT.yaml")):
            continue
        try:
            with open(path, "rb") as handle:
                head = handle.read(4)
            truncated = not head or (
                head == b"PK\x03\x04" and not _zip_complete(path)
            )
        except OSError as err:
            raise CheckpointError(
                f"{path}: unreadable checkpoint ({err.strerror or err})"
            ) from None
        if truncated:
            raise CheckpointError(
                f"{path}: truncated checkpoint; remove its folder {os.path.dirname(path)} to resume from the one "
                f"before, or pass another --output_folder"
            )


def _zip_complete(path):
    try:
        with zipfile.ZipFile(path):
            return True
    except (zipfile.BadZipFile, OSError):
        return False


class _PlainReader(yaml.SafeLoader):
    """YAML with hyperpyyaml's tags kept as data (``{"!": tag, ...}``), nothing built or imported."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return {"!": suffix, **loader.construct_mapping(node, deep=True)}
    if isinstance(node, yaml.SequenceNode):
        return {"!": suffix, "args": loader.construct_sequence(node, deep=True)}
    return {"!": suffix, "value": loader.construct_scalar(node)}


_PlainReader.add_multi_constructor("!", _tagged)


def _plain_yaml(text):
    data = yaml.load(text, Loader=_PlainReader)  # noqa: S506 (a safe loader that keeps tags as data)
    return data if isinstance(data, dict) else {}


def _flatten(value, prefix=""):
    if isinstance(value, dict):
        items = {}
        for key, item in value.items():
            items.update(
                _flatten(item, f"{prefix}.{key}" if prefix else str(key))
            )
        return items
    if isinstance(value, str) and os.sep in value:
        value = os.path.normpath(value)
    return {prefix: value}


def hparams_changes(before, now):
    """``[(key, old, new)]``: the hparams (dotted paths into nested blocks) that differ between two plain hparams
    dicts, except :data:`RESUMABLE_CHANGES` and the nested copies of their values (``epoch_counter.limit`` follows
    ``number_of_epochs``); a nested difference repeating a top-level one (``classifier.channels`` and ``channels``)
    is given once."""
    old, new = _flatten(before), _flatten(now)
    keys = sorted(
        set(old) | set(new), key=lambda k: (k.count("."), k)
    )  # top level first
    differ = [
        (key, old.get(key), new.get(key))
        for key in keys
        if old.get(key) != new.get(key)
    ]
    ignored = RESUMABLE_CHANGES | SAME_FOLDER
    allowed = {
        (repr(a), repr(b))
        for key, a, b in differ
        if key.split(".")[-1] in ignored
    }
    seen, changes = set(), []
    for key, a, b in differ:
        pair = (repr(a), repr(b))
        if (
            key.split(".")[-1] in ignored
            or key.startswith("__")
            or pair in allowed
            or pair in seen
        ):
            continue
        seen.add(pair)
        changes.append((key, a, b))
    return changes


def _short(value, width=80):
    text = "(unset)" if value is None else str(value)
    return (
        text
        if len(text) <= width or (isinstance(value, str) and os.sep in value)
        else text[: width - 3] + "..."
    )


def run_recipe(main, argv=None):
    """Run ``main(argv)``; bad input ends the run with its message and status 2, no traceback."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        main(argv)
        write_requested_report(_LOADED.pop("hparams", None))
    except InputError as err:
        if (
            logging.getLogger().handlers
        ):  # SpeechBrain's log (log.txt) is set up: record it there too
            logging.getLogger("recipe").error("%s", err)
        sys.stderr.write(f"error: {err}\n")
        sys.exit(2)
    finally:
        end_process_group()


# The folders of models a run explains that live outside its output folder (evaluate.py's --pretrained_* options)
REPORT_INTERPRETERS = {
    "lmac": "pretrained_interpreter",
    "lmac_ft": "pretrained_lmac_ft",
    "l2i": "pretrained_l2i",
}


def write_requested_report(hparams):
    """With ``--report True``: the HTML report of the finished run's output folder (``<output_folder>/report/``,
    :func:`interpretability.report.write_report`), written by the main process; returns its path, else None."""
    if not hparams or not hparams.get("report"):
        return None
    from speechbrain.utils.distributed import if_main_process

    if not if_main_process():
        return None
    from interpretability.report import write_report

    def local_folder(key):
        value = hparams.get(key)
        return (
            value if isinstance(value, str) and os.path.isdir(value) else None
        )

    interpreters = {
        name: local_folder(key)
        for name, key in REPORT_INTERPRETERS.items()
        if local_folder(key)
    }
    classifier = local_folder("pretrained_classifier")
    if classifier and not os.path.isfile(
        os.path.join(classifier, "model.ckpt")
    ):
        exported = os.path.join(classifier, "classifier")  # a run folder
        classifier = (
            exported
            if os.path.isfile(os.path.join(exported, "model.ckpt"))
            else None
        )
    path = write_report(
        hparams["output_folder"],
        classifier=classifier,
        interpreters=interpreters or None,
    )
    logging.getLogger("recipe").info("report (open it, listen): %s", path)
    print(f"report (open it, listen): {path}")
    return path


def end_process_group():
    """Destroy the torchrun process group, if any, while the interpreter is whole.

    Left to interpreter shutdown, gloo's worker threads can be destroyed unjoined and abort the process
    ("terminate called without an active exception", SIGABRT) after a run that finished its work.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def prepare_data(prepare, hparams, options):
    """Run a dataset's ``prepare_*`` function on the main process, then read its manifests everywhere.

    ``options`` names the hparams passed on besides ``data_folder``, ``save_folder``, ``skip_prep``,
    ``check_audio``, ``download`` and ``checksum`` (e.g. the folds). The download, if any, runs on the main
    process only. Returns the preparation's ``{"train", "valid", "test", "classes"}``.
    """
    from speechbrain.utils.distributed import run_on_main

    keys = ("data_folder", "save_folder", *options, "skip_prep", "check_audio")
    kwargs = {key: hparams[key] for key in keys}
    kwargs["download"] = bool(hparams.get("download", True))
    kwargs["checksum"] = hparams.get("checksum")
    run_on_main(prepare, kwargs=kwargs)
    return prepare(**{**kwargs, "skip_prep": True})
