"""Train the breast cancer classifier that the MLServer tests and benchmark serve.

Run it with the Python of .venv-mlserver (scripts/install-mlserver.sh), so
that MLServer unpickles the model with the scikit-learn that pickled it::

    .venv-mlserver/bin/python tests/mlserver_model.py --output DIR

It fits ``StandardScaler`` then ``LogisticRegression`` on the 30 numeric
columns of ``datasets/breast_cancer.csv`` (target ``target``) and writes the
same fitted pipeline twice:

- ``DIR/model.joblib``, which MLServer's scikit-learn runtime loads;
- ``DIR/model.skops``, which the tests load in the project's environment with
  ``explainer.load_model`` to compare local and served explanations.

The script imports only scikit-learn, pandas, joblib and skops, because it
runs outside the project's environment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import pandas as pd
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATASET = Path(__file__).resolve().parent.parent / "datasets" / "breast_cancer.csv"
TARGET = "target"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="directory to write the model files to")
    arguments = parser.parse_args(argv)

    frame = pd.read_csv(DATASET)
    X, y = frame.drop(columns=TARGET), frame[TARGET]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(X, y)

    arguments.output.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, arguments.output / "model.joblib")
    skops.io.dump(pipeline, arguments.output / "model.skops")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
