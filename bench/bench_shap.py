"""Time SHAP on the adult pipeline: TreeSHAP through the pipeline, model-agnostic, plain shap.

Usage::

    python bench/bench_shap.py [--rows N] [--background-size B] [--repeats-timing K]

Loads the adult demo model (trained by ``datasets/train_demo_models.py`` into
``var/demo-models``) and explains the same N rows three ways, in this process:

- ``explainer.shap_values`` with its default choice, TreeSHAP through the
  pipeline's preprocessing, values summed back onto the 14 raw columns;
- ``explainer.shap_values(..., explainer="permutation")``, shap's permutation
  explainer on the raw columns, calling the whole pipeline;
- the plain library call: ``shap.TreeExplainer`` on the final estimator with
  the already transformed rows (one value per one-hot column).

All three use the same background sample of B rows and probability output.
Each is timed K times with ``time.perf_counter``; the best time is printed
with the ratios, and the additivity error of each result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import shap

from _timing import best_time
from explainer import load_model, shap_values
from explainer.methods._pipeline import split_pipeline, transform_dense

REPOSITORY = Path(__file__).resolve().parent.parent
MODEL = REPOSITORY / "var" / "demo-models" / "adult_gbm.skops"
RANDOM_STATE = 0



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50, help="rows explained (default 50)")
    parser.add_argument("--background-size", type=int, default=100, help="background rows (default 100)")
    parser.add_argument("--repeats-timing", type=int, default=3, help="timed runs; the best is printed")
    args = parser.parse_args()
    if not MODEL.is_file():
        parser.error(f"{MODEL} is missing; run python datasets/train_demo_models.py --output var/demo-models")

    frame = pd.read_csv(REPOSITORY / "datasets" / "adult.csv").drop(columns="income")
    model = load_model(MODEL)
    rows = frame.sample(args.rows, random_state=RANDOM_STATE).reset_index(drop=True)
    background = frame.sample(args.background_size, random_state=RANDOM_STATE + 1).reset_index(drop=True)

    def project(explainer_name):
        return lambda: shap_values(model, rows, background=background, background_size=args.background_size,
                                   explainer=explainer_name, random_state=RANDOM_STATE)

    preprocessor, final = split_pipeline(model.estimator)

    def plain_tree():
        explainer = shap.TreeExplainer(final, data=transform_dense(preprocessor, background),
                                       model_output="probability", feature_perturbation="interventional")
        return explainer(transform_dense(preprocessor, rows), check_additivity=False)

    tree_seconds, tree = best_time(project("auto"), args.repeats_timing)
    agnostic_seconds, agnostic = best_time(project("permutation"), max(1, args.repeats_timing - 2))
    plain_seconds, plain = best_time(plain_tree, args.repeats_timing)

    plain_error = np.max(np.abs(plain.base_values + plain.values.sum(axis=1)
                                - model.estimator.predict_proba(rows)[:, 1]))
    print(f"rows={args.rows} background={args.background_size} features: 14 raw, "
          f"{plain.values.shape[1]} transformed")
    print(f"{'method':<44} {'seconds':>8} {'per row ms':>10} {'max additivity error':>21}")
    table = (
        (f"project TreeSHAP through the pipeline ({tree.explainer})", tree_seconds, tree.max_additivity_error),
        (f"project model-agnostic ({agnostic.explainer})", agnostic_seconds, agnostic.max_additivity_error),
        ("plain shap.TreeExplainer on transformed rows", plain_seconds, plain_error),
    )
    for label, seconds, error in table:
        print(f"{label:<44} {seconds:8.3f} {1000 * seconds / args.rows:10.2f} {error:21.1e}")
    print(f"model-agnostic / TreeSHAP through the pipeline: {agnostic_seconds / tree_seconds:.1f}x")
    print(f"TreeSHAP through the pipeline / plain shap.TreeExplainer: {tree_seconds / plain_seconds:.2f}x")


if __name__ == "__main__":
    main()
