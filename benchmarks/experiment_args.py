"""Command-line arguments shared by the experiments that start from the demo's run (its data and classifier)."""


def add_demo_run_arguments(parser):
    """``--data`` (a dataset in the ESC-50 layout) and ``--classifier`` (an exported classifier folder)."""
    parser.add_argument(
        "--data",
        required=True,
        help="a dataset in the ESC-50 layout (e.g. the demo's synthetic set)",
    )
    parser.add_argument(
        "--classifier",
        required=True,
        help="a classifier folder exported by train_classifier.py",
    )
    return parser
