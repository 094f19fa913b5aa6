"""Time the project's permutation importance against scikit-learn's on adult.

Usage::

    python bench/bench_permutation.py [--rows N] [--scoring NAME] [--repeats-timing K]

Trains the adult demo pipeline on every row of ``datasets/adult.csv``, then
computes permutation importance on N of those rows twice: with
``explainer.permutation_importance`` on the model loaded from its skops bytes,
and with ``sklearn.inspection.permutation_importance`` on the fitted pipeline.
Both use ``n_repeats=5`` and ``random_state=0`` and run in this process, one
after the other. Each is timed K times with ``time.perf_counter`` and the best
time is reported. The two must give the same importances, so the table also
prints their maximum absolute difference.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io
from sklearn.inspection import permutation_importance as sklearn_permutation_importance

from _timing import best_time
from explainer import load_model, permutation_importance

REPOSITORY = Path(__file__).resolve().parent.parent
DATASETS_DIR = REPOSITORY / "datasets"
TARGET = "income"
N_REPEATS = 5
RANDOM_STATE = 0

# Scorer names that both implementations accept for a binary classifier.
SCORINGS = ("roc_auc", "accuracy", "balanced_accuracy", "neg_log_loss")


def _import_training_script():
    """Import datasets/train_demo_models.py, which is a script, not a package module."""
    path = DATASETS_DIR / "train_demo_models.py"
    spec = importlib.util.spec_from_file_location("train_demo_models", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module



def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time explainer.permutation_importance against "
        "sklearn.inspection.permutation_importance on the adult pipeline."
    )
    parser.add_argument(
        "--rows",
        type=_positive_int,
        default=5000,
        help="rows of adult.csv to compute importances on, drawn with random_state=0 "
        "(default: 5000; the file has 32561)",
    )
    parser.add_argument(
        "--scoring", choices=SCORINGS, default="roc_auc", help="scorer name (default: roc_auc)"
    )
    parser.add_argument(
        "--repeats-timing",
        type=_positive_int,
        default=3,
        help="timed runs of each implementation; the best is reported (default: 3)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run both implementations, print the comparison table and return the exit status."""
    arguments = _parse_arguments(argv)
    frame = pd.read_csv(DATASETS_DIR / "adult.csv")
    if arguments.rows > len(frame):
        print(
            f"--rows must be at most {len(frame)}, the rows in adult.csv; got {arguments.rows}.",
            file=sys.stderr,
        )
        return 2

    training = _import_training_script()
    pipeline = training.train_adult_pipeline(frame, random_state=RANDOM_STATE)
    model = load_model(skops.io.dumps(pipeline))

    sample = frame
    if arguments.rows < len(frame):
        sample = frame.sample(n=arguments.rows, random_state=0)
    X = sample.drop(columns=TARGET).reset_index(drop=True)
    y = sample[TARGET].reset_index(drop=True)

    project_seconds, project_result = best_time(
        lambda: permutation_importance(
            model, X, y, scoring=arguments.scoring, n_repeats=N_REPEATS, random_state=RANDOM_STATE
        ),
        arguments.repeats_timing,
    )
    sklearn_seconds, sklearn_result = best_time(
        lambda: sklearn_permutation_importance(
            pipeline,
            X,
            y,
            scoring=arguments.scoring,
            n_repeats=N_REPEATS,
            random_state=RANDOM_STATE,
        ),
        arguments.repeats_timing,
    )

    # Both arrays have shape (n_features, n_repeats). The project orders the
    # rows by its feature names and scikit-learn by the columns of X.
    order = [list(project_result.feature_names).index(name) for name in X.columns]
    difference = np.abs(project_result.importances[order] - sklearn_result.importances).max()

    print(
        f"python {platform.python_version()}, scikit-learn {version('scikit-learn')}, "
        f"pandas {version('pandas')}, numpy {version('numpy')}; "
        f"n_repeats={N_REPEATS}, best of {arguments.repeats_timing} timed runs"
    )
    header = ("rows", "scoring", "project s", "sklearn s", "sklearn/project", "max |diff|")
    row = (
        str(len(X)),
        arguments.scoring,
        f"{project_seconds:.2f}",
        f"{sklearn_seconds:.2f}",
        f"{sklearn_seconds / project_seconds:.1f}x",
        f"{difference:.1e}",
    )
    widths = [max(len(title), len(value)) for title, value in zip(header, row)]
    print("  ".join(title.rjust(width) for title, width in zip(header, widths)))
    print("  ".join(value.rjust(width) for value, width in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
