#!/usr/bin/env python3
"""The end-to-end demo on the built-in synthetic dataset (``make demo``).

Generates the synthetic set in the ESC-50 layout, then runs the ESC-50 recipes on it exactly as a user runs
them on the real download, and prints where every result is. Each stage is skipped when its result file is
already there, so an interrupted demo resumes.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.abspath(__file__))
RECIPES = os.path.join(ROOT, "recipes", "ESC50")
logger = logging.getLogger("demo")


def run_stage(name, script, hparams, result_file, flags):
    """Run a recipe script unless ``result_file`` exists; return the parsed JSON result."""
    if os.path.isfile(result_file):
        logger.info("[%s] already done: %s", name, result_file)
    else:
        command = [sys.executable, os.path.join(RECIPES, script), os.path.join(RECIPES, "hparams", hparams),
                   *flags]
        logger.info("[%s] %s", name, " ".join(command))
        start = time.time()
        subprocess.run(command, cwd=RECIPES, check=True)
        logger.info("[%s] finished in %.0f s", name, time.time() - start)
    with open(result_file, encoding="utf-8") as handle:
        return json.load(handle)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/demo", help="folder for the data and every result")
    parser.add_argument("--clips_per_class", type=int, default=40)
    parser.add_argument("--duration", type=float, default=2.0, help="clip length in seconds")
    parser.add_argument("--n_classes", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20, help="classifier epochs")
    parser.add_argument("--lmac_epochs", type=int, default=10, help="L-MAC epochs (L-MAC FT runs half as many)")
    parser.add_argument("--l2i_epochs", type=int, default=10, help="L2I epochs")
    parser.add_argument("--comparison_clips", type=int, default=40, help="test clips in the method comparison")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    out = os.path.abspath(args.out)
    data = os.path.join(out, "synthetic")

    from interpretability.data.synthetic import generate_dataset

    if not os.path.isfile(os.path.join(data, "meta", "esc50.csv")):
        summary = generate_dataset(data, layout="esc50", clips_per_class=args.clips_per_class,
                                   duration=args.duration, n_classes=args.n_classes, seed=args.seed)
        logger.info("[data] %d clips of %d classes in %.1f s -> %s", summary["n_clips"], args.n_classes,
                    summary["seconds"], data)

    common = [f"--data_folder={data}", f"--clip_seconds={args.duration}"]
    classifier_out = os.path.join(out, "classifier")
    classifier = run_stage(
        "classifier", "train_classifier.py", "classifier_cnn6.yaml",
        os.path.join(classifier_out, "test_metrics.json"),
        common + [f"--output_folder={classifier_out}", f"--number_of_epochs={args.epochs}",
                  f"--n_classes={args.n_classes}"],
    )

    classifier_dir = os.path.join(classifier_out, "classifier")

    lmac_out = os.path.join(out, "lmac")
    lmac = run_stage(
        "L-MAC", "train_lmac.py", "lmac_cnn6.yaml", os.path.join(lmac_out, "test_metrics.json"),
        common + [f"--output_folder={lmac_out}", f"--pretrained_classifier={classifier_dir}",
                  f"--number_of_epochs={args.lmac_epochs}"],
    )
    lmac_ft_out = os.path.join(out, "lmac_ft")
    lmac_ft = run_stage(
        "L-MAC FT", "train_lmac.py", "lmac_cnn6_ft.yaml", os.path.join(lmac_ft_out, "test_metrics.json"),
        common + [f"--output_folder={lmac_ft_out}", f"--pretrained_classifier={classifier_dir}",
                  f"--pretrained_interpreter={lmac_out}", f"--number_of_epochs={max(1, args.lmac_epochs // 2)}"],
    )

    nmf_out = os.path.join(out, "nmf")
    nmf = run_stage(
        "NMF dictionary", "train_nmf.py", "nmf.yaml", os.path.join(nmf_out, "test_metrics.json"),
        common + [f"--output_folder={nmf_out}"],
    )
    l2i_out = os.path.join(out, "l2i")
    l2i = run_stage(
        "L2I", "train_l2i.py", "l2i_cnn6.yaml", os.path.join(l2i_out, "test_metrics.json"),
        common + [f"--output_folder={l2i_out}", f"--pretrained_classifier={classifier_dir}",
                  f"--nmf_dictionary={os.path.join(nmf_out, 'nmf')}", f"--number_of_epochs={args.l2i_epochs}"],
    )

    and_out = os.path.join(out, "and")
    dissection = run_stage(
        "AND", "dissect_and.py", "and_cnn6.yaml", os.path.join(and_out, "test_metrics.json"),
        common + [f"--output_folder={and_out}", f"--pretrained_classifier={classifier_dir}"],
    )

    # Every method on the same test clips, in-domain and out-of-domain (settings lighter than the yaml's so
    # that the demo stays CPU-sized; the table states them).
    comparison_out = os.path.join(out, "comparison")
    comparison = run_stage(
        "comparison", "evaluate.py", "evaluate_cnn6.yaml", os.path.join(comparison_out, "comparison.json"),
        common + [f"--output_folder={comparison_out}", f"--pretrained_classifier={classifier_dir}",
                  f"--pretrained_interpreter={lmac_out}", f"--pretrained_lmac_ft={lmac_ft_out}",
                  f"--pretrained_l2i={l2i_out}", f"--max_clips={args.comparison_clips}", "--ig_steps=20",
                  "--smoothgrad_samples=10", "--shap_samples=10", "--sanity_clips=8"],
    )

    # The inference interface, as a user calls it on a file of their own.
    from interpretability.inference import Explainer

    explained = os.path.join(out, "explained")
    explainer = Explainer.from_hparams(os.path.join(lmac_ft_out, "interpreter"))
    example = sorted(f for f in os.listdir(os.path.join(data, "audio")) if f.startswith("5-"))[0]
    result = explainer.explain_file(os.path.join(data, "audio", example))
    written = explainer.save(result, explained, os.path.splitext(example)[0])

    print("\nDemo results (synthetic set, ESC-50 layout)")
    print(f"  data:        {data}")
    print(f"  classifier:  test accuracy {classifier['acc']:.3f} ({classifier['params']} parameters)")
    print(f"               exported to {classifier_dir}")
    header = "AI     AD     AG     FF    FidIn  MM    SI-SDR gain  IoU   params"
    print(f"  explanations (test split)   {header}")
    for name, m in (("L-MAC", lmac), ("L-MAC FT", lmac_ft), ("L2I", l2i)):
        print(f"  {name:<27} {m['AI']:5.1f}  {m['AD']:5.1f}  {m['AG']:5.1f}  {m['FF']:.2f}  {m['FidIn']:.2f}   "
              f"{m['MM']:.2f}  {m['SISDR_gain']:+6.2f} dB   {m['IoU']:.2f}  {m['params']}")
    print(f"  NMF dictionary:            K={nmf['n_components']}, relative error {nmf['relative_error']:.3f} "
          f"(initial {nmf['relative_error_initial']:.3f})")
    print(f"  L2I fidelity:              top-1 {l2i['fidelity_top1']:.3f}, top-3 {l2i['fidelity_top3']:.3f}; "
          f"removing its components: FF median {l2i['FF_median']:.3f} vs random {l2i['FF_median_random']:.3f}")
    print(f"  {'comparison (AI / AD / AG):':<29}{'method':<21}{'in-domain':<21}{'other-class mix':<21}white noise")
    for method in ("lmac", "lmac_ft", "l2i", "gradcam", "integrated_gradients", "saliency", "random"):
        cells = [comparison[c][method] for c in ("in_domain", "other_class_mixture", "white_noise")]
        print(f"{'':31}{method:<21}" + "".join(f"{m['AI']:5.1f} /{m['AD']:5.1f} /{m['AG']:5.1f}  " for m in cells))
    sanity = comparison["sanity"]
    print("  sanity (rank corr. of masks after randomising every layer): "
          + ", ".join(f"{method} {sanity[method]['rank_corr_all']:.2f}" for method in ("lmac", "gradcam", "saliency")
                      if method in sanity))
    print(f"                             all tables: {comparison_out}/comparison.md")
    top1 = ", ".join(f"{method} {value:.2f}" for method, value in dissection["last_layer_top1"].items())
    pruning = dissection["pruning"]
    shares = ", ".join(f"{layer} {share:.2f}" for layer, share in dissection["uninterpretable"].items())
    print(f"  AND dissection:            last-layer top-1 {top1}")
    print(f"                             pruning by concept ({pruning['strategy']}): target class "
          f"{pruning['delta_A']:+.3f} (random neurons {pruning['delta_A_random']:+.3f}), other classes "
          f"{pruning['delta_R']:+.3f}")
    print(f"                             uninterpretable share: {shares}")
    print(f"                             per-neuron descriptions and concepts: {and_out}/neurons_<layer>.json")
    print(f"  listenable explanations:   {os.path.join(lmac_out, 'explanations')}/<id>_explanation.wav, <id>.png")
    print(f"  explain a file:            {example} -> {result['label']} (p={result['probability']:.2f}), "
          f"{written[1]}")
    print(f"  all metrics:               {out}/*/test_metrics.json")


if __name__ == "__main__":
    main()
