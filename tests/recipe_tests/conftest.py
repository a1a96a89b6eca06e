"""One scratch folder per session for the recipe rows, and the synthetic sets their setup scripts make there."""

import pytest
from test_recipes import RecipeRunner


@pytest.fixture(scope="session")
def recipe_runner(tmp_path_factory):
    """Runs the rows of tests/recipes/*.csv in one scratch folder, each once per session."""
    return RecipeRunner(tmp_path_factory.mktemp("recipe_tests"))


@pytest.fixture(scope="session")
def synthetic_data(recipe_runner):
    """``get(dataset) -> path`` of the synthetic set in that dataset's layout (made on first use by the setup
    script of tests/recipes/<dataset>.csv's first row)."""
    return recipe_runner.synthetic_data
