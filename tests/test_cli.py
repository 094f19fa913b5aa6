"""The `explainer explain` command, run as a subprocess on the demo models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"

ADULT_FEATURES = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
]


def run_explain(*arguments) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "explainer.cli", "explain", *map(str, arguments)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_permutation_prints_json(demo_dir):
    completed = run_explain(
        demo_dir / "adult_gbm.skops", DATASETS / "adult.csv", "--method", "permutation", "--target", "income",
        "--n-repeats", "2", "--parameters", '{"max_rows": 500}', "--no-progress",
    )

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["method"] == "permutation"
    assert result["feature_names"] == ADULT_FEATURES
    assert result["n_rows"] == 500
    assert result["parameters"]["n_repeats"] == 2
    assert result["parameters"]["random_state"] == 0
    assert np.array(result["importances"]).shape == (14, 2)
    assert "%|" not in completed.stderr  # --no-progress: no progress bar


def test_cli_shap_explains_requested_rows(demo_dir):
    completed = run_explain(
        demo_dir / "adult_gbm.skops", DATASETS / "adult.csv", "--method", "shap", "--n-rows", "5", "--no-progress",
    )

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["method"] == "shap"
    assert result["explainer"] == "tree"
    assert np.array(result["values"]).shape == (5, 14, 2)
    assert len(result["row_indices"]) == 5
    assert result["max_additivity_error"] < 1e-6


def test_cli_integrated_gradients_on_mlp(demo_dir, tmp_path):
    output = tmp_path / "ig.json"

    completed = run_explain(
        demo_dir / "breast_cancer_mlp.pt", DATASETS / "breast_cancer.csv", "--method", "ig", "--n-rows", "20",
        "--parameters", '{"baseline": "mean", "n_steps": 100}', "--output", output, "--no-progress",
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == ""
    result = json.loads(output.read_text())
    attributions = np.array(result["attributions"])
    delta = np.array(result["convergence_delta"])
    explained_change = np.array(result["outputs"]) - np.array(result["baseline_outputs"])
    assert result["method"] == "integrated-gradients"
    assert attributions.shape == (20, 30)
    assert np.all(np.abs(attributions.sum(axis=1) - explained_change) <= np.abs(delta) + 1e-5)


def test_cli_text_file_as_model(tmp_path):
    model = tmp_path / "model.skops"
    model.write_text("this is not a model\n")

    completed = run_explain(model, DATASETS / "adult.csv", "--method", "shap", "--no-progress")

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith("explainer: error: the file is not a model in a supported format")
    assert completed.stderr.count("\n") == 1
    assert "Traceback" not in completed.stderr


def test_cli_missing_target_column(demo_dir):
    completed = run_explain(
        demo_dir / "adult_gbm.skops", DATASETS / "adult.csv", "--method", "permutation", "--target", "salary",
        "--no-progress",
    )

    assert completed.returncode == 2
    assert "target column 'salary' is not in the dataset" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_cli_bad_parameters_json(demo_dir):
    completed = run_explain(
        demo_dir / "adult_gbm.skops", DATASETS / "adult.csv", "--method", "shap", "--parameters", "{n_rows: 5}",
        "--no-progress",
    )

    assert completed.returncode == 2
    assert completed.stderr.startswith("explainer: error: --parameters must be a JSON object")
    assert "Traceback" not in completed.stderr
