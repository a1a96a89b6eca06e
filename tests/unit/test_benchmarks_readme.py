"""benchmarks/run_all.py: the README table is the one generated from the committed results.json, and the ratios are
read from the benchmarks' results as documented (no timing is run or asserted here)."""

import json
import os

import pytest

from benchmarks.run_all import (
    BEGIN,
    END,
    README,
    RESULTS,
    ratios_from,
    readme_block,
    render_table,
    update_readme,
)


def test_readme_table_is_generated_from_the_committed_results():
    with open(RESULTS, encoding="utf-8") as handle:
        results = json.load(handle)
    assert readme_block(README) == render_table(results)
    assert {row["key"] for row in results["ratios"]} >= {
        "explainer_lmac_per_forward.compact_cnn",
        "integrated_gradients_per_lmac.compact_cnn",
        "lmac_step_per_classifier_step",
        "sklearn_streaming_per_ours",
        "capture_per_forward.compact_cnn",
        "memory_growth.comparison",
        "memory_growth.and",
        "synthetic_audio_per_second",
    }
    assert ("Taken under load" in readme_block(README)) == results[
        "under_load"
    ]["loaded"]


def test_ratios_from_raw_results():
    raw = {
        "explainers": {
            "classifiers": {
                "compact_cnn": {
                    "methods": {
                        "lmac": {"ratio": 1.5},
                        "integrated_gradients": {"ratio": 60.0},
                    },
                    "lmac_speedup": {"integrated_gradients": 40.0},
                }
            }
        },
        "training": {"ratio": 2.25},
        "nmf": {
            "target_relative_error": 0.3,
            "summary": {
                "ours (streaming)": {"seconds_to_target": 2.0},
                "sklearn partial_fit": {"seconds_to_target": 5.0},
                "sklearn fit (in memory)": {"seconds_to_target": None},
            },
        },
        "activations": {
            "results": [
                {
                    "architecture": "compact_cnn",
                    "capture_s": 1.05,
                    "forward_s": 1.0,
                }
            ]
        },
        "memory": {
            "comparison": {
                "n": [10, 40],
                "peak_mb": [1000.0, 1010.0],
                "growth": 0.01,
                "flat": True,
            }
        },
        "synthetic": {
            "audio_seconds_per_second": 80.0,
            "clip_seconds": 5.0,
            "clips_per_minute": 960.0,
        },
    }
    values = {row["key"]: row["value"] for row in ratios_from(raw)}
    assert values == {
        "explainer_lmac_per_forward.compact_cnn": 1.5,
        "explainer_integrated_gradients_per_forward.compact_cnn": 60.0,
        "integrated_gradients_per_lmac.compact_cnn": 40.0,
        "lmac_step_per_classifier_step": 2.25,
        "sklearn_streaming_per_ours": 2.5,  # 5 s / 2 s
        "sklearn_in_memory_per_ours": None,  # never reached the target
        "capture_per_forward.compact_cnn": 1.05,
        "memory_growth.comparison": 1.01,
        "synthetic_audio_per_second": 80.0,
    }
    assert ratios_from({}) == []


def test_readme_block_is_replaced_not_appended(tmp_path):
    with open(RESULTS, encoding="utf-8") as handle:
        results = json.load(handle)
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Title\n\nintro\n\n{BEGIN}\nold table\n{END}\n\nafter\n"
    )
    update_readme(results, str(readme))
    update_readme(results, str(readme))
    text = readme.read_text()
    assert (
        text.count(BEGIN) == 1
        and "old table" not in text
        and text.endswith("\n\nafter\n")
    )
    assert readme_block(str(readme)) == render_table(results)


@pytest.mark.skipif(not os.path.isfile(RESULTS), reason="no committed results")
def test_results_record_the_load_and_the_machine():
    with open(RESULTS, encoding="utf-8") as handle:
        results = json.load(handle)
    load = results["under_load"]
    assert len(load["at_start"]) == 3 and load["cpus"] >= 1
    assert load["loaded"] == (
        max(load["at_start"][0], load["at_end"][0]) > 0.5 * load["cpus"]
    )
    assert results["machine"]["python"] and set(results["raw"]) == set(
        results["settings"]
    )
