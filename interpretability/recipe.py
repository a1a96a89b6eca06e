"""What every recipe script does the same way: argument parsing, hparams, experiment folder, clean errors.

A recipe's ``main(argv)`` holds only what is specific to its dataset and method; :func:`run_recipe` calls it
and turns :class:`~interpretability.errors.InputError` into a one-line message and exit status 2.

Every recipe accepts ``--download`` (default True: a dataset missing from ``data_folder`` is downloaded, see
:mod:`interpretability.data.download`; False: it is an error) and ``--checksum`` (None: the known md5 sums;
``none``: no md5 check; an md5: the archive's expected sum), whether or not its hparams file lists them.
"""
import io
import logging
import re
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from interpretability.errors import InputError

logger = logging.getLogger(__name__)


# hparams every recipe takes, with their defaults, when its hparams file does not set them
RECIPE_DEFAULTS = {"download": "True", "checksum": "null"}


def with_recipe_defaults(text):
    """The hparams ``text`` with a line for each :data:`RECIPE_DEFAULTS` key it lacks (so they can be overridden)."""
    missing = [key for key in RECIPE_DEFAULTS if not re.search(rf"^{key}\s*:", text, flags=re.MULTILINE)]
    if not missing:
        return text
    lines = "".join(f"{key}: {RECIPE_DEFAULTS[key]}\n" for key in missing)
    return text.rstrip("\n") + "\n\n# recipe-wide options (interpretability.recipe)\n" + lines


def load_recipe(argv):
    """Parse ``hparams.yaml [--overrides]``, load the hparams, init DDP and create the experiment folder.

    Returns ``(hparams, run_opts)``.
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        text = with_recipe_defaults(fin.read())
    hparams = load_hyperpyyaml(io.StringIO(text), overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    return hparams, run_opts


def run_recipe(main, argv=None):
    """Run ``main(argv)``; bad input ends the run with its message and status 2, no traceback."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        main(argv)
    except InputError as err:
        logging.getLogger("recipe").error("%s", err)
        sys.stderr.write(f"error: {err}\n")
        sys.exit(2)


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
