"""The README's result tables are generated from a demo run's summary.json, never typed by hand.

``docs/demo_summary.json`` is the summary of the run the README reports; regenerating every ``demo_tables`` block of
the READMEs from it must give the READMEs as committed, so a table that is edited by hand, or a summary that is
replaced without regenerating the tables, fails here.
"""

import json
import os

import pytest

from interpretability.report.demo_tables import BLOCK, TABLES, main, render

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
SUMMARY = os.path.join(ROOT, "docs", "demo_summary.json")
READMES = [
    os.path.join(ROOT, "README.md"),
    os.path.join(ROOT, "recipes", "ESC50", "README.md"),
]


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
            "python -m interpretability.report.demo_tables docs/demo_summary.json README.md recipes/ESC50/README.md"
        )


def test_every_table_renders_and_check_mode_reports_stale_files(
    summary, tmp_path
):
    for name, table in TABLES.items():
        assert table(summary).startswith("|") or "\n|" in table(summary), name
    stale = tmp_path / "stale.md"
    stale.write_text(
        "before\n<!-- demo_tables:classifier -->\nhand-typed\n<!-- /demo_tables:classifier -->\n"
    )
    assert (
        main([SUMMARY, str(stale), "--check"]) == 1
        and "hand-typed" in stale.read_text()
    )
    assert (
        main([SUMMARY, str(stale)]) == 0
        and "hand-typed" not in stale.read_text()
    )
    assert main([SUMMARY, str(stale), "--check"]) == 0
    with pytest.raises(KeyError, match="unknown demo table"):
        render(
            "<!-- demo_tables:nope -->\nx\n<!-- /demo_tables:nope -->", summary
        )


def test_readme_claims_hold_for_the_committed_run(summary):
    """The README's words about the demo's figures (section "How to read these figures honestly")."""
    from interpretability.evaluation.tables import margins

    comparison = summary["comparison"]
    lead = margins(comparison)
    # in-domain, L-MAC leads every baseline on AI and AG but not on AD (GradCAM keeps the decision better)
    assert (
        lead["in_domain"]["lmac"]["AI"] > 0
        and lead["in_domain"]["lmac"]["AG"] > 0
    )
    assert lead["in_domain"]["lmac"]["AD"] <= 0
    # in the mixtures L-MAC's AD is far above GradCAM's
    for condition in ("other_class_mixture", "white_noise"):
        assert (
            comparison[condition]["lmac"]["AD"]
            > 1.5 * comparison[condition]["gradcam"]["AD"]
        )
    # sanity: the cascade barely moves L-MAC; retrained on a randomised classifier its masks move below the
    # retraining control; on a shuffled-label classifier they stay closer, below the control
    sanity = comparison["sanity_retrained"]["lmac"]
    assert summary["classifier_shuffled_labels"]["acc"] < 0.2  # chance: 0.1
    assert comparison["sanity"]["lmac"]["rank_corr_all"] > 0.8
    assert sanity["model_randomisation"] < sanity["retrain_control"] - 0.1
    assert (
        sanity["model_randomisation"]
        < sanity["data_randomisation"]
        < sanity["retrain_control"]
    )
    assert sanity["retrain_control"] - sanity["data_randomisation"] < 0.05
    # L2I's components are more decisive than random ones removing as much energy or area, matched closely
    l2i = summary["l2i"]
    assert (
        l2i["FF_median"]
        > l2i["FF_median_random"]
        > l2i["FF_median_random_area"]
    )
    assert abs(l2i["removed_energy"] - l2i["random_removed_energy"]) < 0.05
    assert (
        abs(l2i["removed_mask_mean"] - l2i["random_area_removed_mask_mean"])
        < 0.05
    )
    # the classifier is accurate without being saturated (docs/datasets.md, the ESC-50 README): most decisions
    # stay below 0.99 and the mean decision probability below 0.95
    classifier = summary["classifier"]
    assert (
        0.9 <= classifier["acc"] <= 0.99
        and classifier["share_above_0.99"] < 0.5
        and classifier["mean_confidence"] < 0.95
    )


def test_learning_curve_claims_of_the_esc50_readme():
    """What recipes/ESC50/README.md says of docs/experiments/lmac_learning_curve.json."""
    with open(
        os.path.join(ROOT, "docs", "experiments", "lmac_learning_curve.json"),
        encoding="utf-8",
    ) as handle:
        curve = json.load(handle)
    points = {e["clips_per_class"]: e["lmac"] for e in curve["points"]}
    assert set(points) == {"5", "10", "20", "all"}
    gradcam = curve["gradcam"]
    inside = gradcam["in_domain"]
    for point in ("20", "all"):  # ahead on AI and AG, not on AD
        lmac = points[point]["in_domain"]
        assert lmac["AI"] > inside["AI"] and lmac["AG"] > inside["AG"]
    assert all(p["in_domain"]["AD"] > inside["AD"] for p in points.values())
    ten = points["10"]["in_domain"]
    assert ten["AI"] > inside["AI"] and ten["AG"] < inside["AG"]
    five = points["5"]["in_domain"]
    assert (
        five["AI"] < inside["AI"]
        and five["AG"] < inside["AG"]
        and five["AD"] > inside["AD"]
    )
    for condition in ("other_class_mixture", "white_noise"):
        ratios = [
            p[condition]["AD"] / gradcam[condition]["AD"]
            for p in points.values()
        ]
        assert 1.8 <= min(ratios) and max(ratios) <= 2.4, ratios
