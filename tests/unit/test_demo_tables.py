"""The README's result tables are generated from a demo run's summary.json, never typed by hand.

``docs/demo_summary.json`` is the summary of the run the README reports; regenerating every ``demo_tables`` block of
the READMEs from it must give the READMEs as committed, so a table that is edited by hand, or a summary that is
replaced without regenerating the tables, fails here.
"""
import json
import os

import pytest

from interpretability.report.demo_tables import BLOCK, TABLES, main, render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARY = os.path.join(ROOT, "docs", "demo_summary.json")
READMES = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "recipes", "ESC50", "README.md")]


@pytest.fixture(scope="module")
def summary():
    with open(SUMMARY, encoding="utf-8") as handle:
        return json.load(handle)


def test_readme_tables_are_those_of_the_committed_run(summary):
    for path in READMES:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert BLOCK.search(text), f"{path} holds no generated table"
        assert render(text, summary) == text, (
            f"{path}: a table differs from docs/demo_summary.json; regenerate with "
            "python -m interpretability.report.demo_tables docs/demo_summary.json README.md recipes/ESC50/README.md")


def test_every_table_renders_and_check_mode_reports_stale_files(summary, tmp_path):
    for name, table in TABLES.items():
        assert table(summary).startswith("|") or "\n|" in table(summary), name
    stale = tmp_path / "stale.md"
    stale.write_text("before\n<!-- demo_tables:classifier -->\nhand-typed\n<!-- /demo_tables:classifier -->\n")
    assert main([SUMMARY, str(stale), "--check"]) == 1 and "hand-typed" in stale.read_text()
    assert main([SUMMARY, str(stale)]) == 0 and "hand-typed" not in stale.read_text()
    assert main([SUMMARY, str(stale), "--check"]) == 0
    with pytest.raises(KeyError, match="unknown demo table"):
        render("<!-- demo_tables:nope -->\nx\n<!-- /demo_tables:nope -->", summary)
