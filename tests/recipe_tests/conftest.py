"""Synthetic datasets in the three real layouts, generated once per test session."""
import pytest

from interpretability.data.synthetic import generate_dataset

# Small enough for 2 CPU cores, large enough that a classifier that learns nothing fails the checks.
LAYOUTS = {
    "ESC50": dict(layout="esc50", clips_per_class=20, duration=1.0, n_classes=6, seed=7),
    "US8K": dict(layout="us8k", clips_per_class=20, duration=1.0, n_classes=6, seed=7),
    "SONYC-UST": dict(layout="sonyc", clips_per_class=24, duration=1.0, seed=7),
}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """``get(dataset_folder_name) -> path`` of a synthetic set in that dataset's layout (made on first use)."""
    made = {}

    def get(dataset):
        if dataset not in made:
            folder = tmp_path_factory.mktemp(f"synthetic_{dataset}")
            generate_dataset(folder, show_progress=False, **LAYOUTS[dataset])
            made[dataset] = str(folder)
        return made[dataset]

    return get
