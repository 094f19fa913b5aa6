"""Train the demo models that the service registers at start.

Usage::

    python datasets/train_demo_models.py --output DIR [--force]

Writes into DIR:

- ``adult_gbm.skops``: a scikit-learn pipeline (imputation, one-hot encoding,
  gradient boosting) that classifies ``income`` in ``adult.csv``.
- ``california_gbm.skops``: the same pipeline shape with a gradient-boosting
  regressor for ``median_house_value`` in ``california_housing.csv``.
- ``breast_cancer_mlp.pt``: a TorchScript MLP that classifies ``target`` in
  ``breast_cancer.csv`` from the raw feature values. The archive carries
  ``explainer.json`` with the feature names, task, class names and output kind.
- ``demo.json``: a JSON list with one entry per model, giving its name, file,
  dataset, absolute dataset path, target column and upload metadata.

Training is seeded and single-threaded, so a rerun on the same library versions
gives models with the same weights and predictions. The files still differ
byte for byte, because skops records object ids and zip write times, and
TorchScript adds a random serialization id.

When every output exists and ``--force`` is not given, the script trains
nothing and only rewrites ``demo.json`` if the dataset paths in it changed, so
it is cheap to run on every service start.

The training functions are importable, so tests can train the same models on
other rows.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import skops.io
import torch
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from torch import nn

DATASETS_DIR = Path(__file__).resolve().parent

ADULT_TARGET = "income"
CALIFORNIA_TARGET = "median_house_value"
BREAST_CANCER_TARGET = "target"

# Class 0 of breast_cancer.csv is malignant and class 1 benign, as in
# sklearn.datasets.load_breast_cancer.
BREAST_CANCER_CLASS_NAMES = ["malignant", "benign"]

# Name of the JSON file inside a TorchScript archive that the explainer reads
# for feature names, task, class names and output kind.
TORCHSCRIPT_METADATA_FILE = "explainer.json"

MANIFEST_FILE = "demo.json"


# --- scikit-learn pipelines ---------------------------------------------------


def _split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    if target not in frame.columns:
        raise ValueError(
            f"frame is missing the target column {target!r}. Its columns are "
            f"{list(frame.columns)}; pass the CSV file as pandas.read_csv returns it."
        )
    return frame.drop(columns=target), frame[target]


def _preprocessor(X: pd.DataFrame) -> ColumnTransformer:
    """Build median imputation for numeric columns and one-hot encoding for the rest."""
    numeric_columns = [name for name in X.columns if pd.api.types.is_numeric_dtype(X[name])]
    categorical_columns = [name for name in X.columns if name not in numeric_columns]
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numeric_columns),
            ("categorical", categorical, categorical_columns),
        ]
    )


def train_adult_pipeline(frame: pd.DataFrame, *, random_state: int = 0) -> Pipeline:
    """Fit a gradient-boosting classifier of ``income`` on the raw adult columns.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, 15)
        ``adult.csv`` as ``pandas.read_csv`` returns it: the 14 raw features,
        missing values as NaN, and the target ``income`` (``<=50K`` or ``>50K``).
    random_state : int, default=0
        Seed of the gradient-boosting classifier.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted on every row; ``feature_names_in_`` lists the 14 feature columns.
    """
    X, y = _split_target(frame, ADULT_TARGET)
    pipeline = Pipeline(
        [
            ("preprocess", _preprocessor(X)),
            (
                "model",
                GradientBoostingClassifier(
                    n_estimators=100, max_depth=3, random_state=random_state
                ),
            ),
        ]
    )
    return pipeline.fit(X, y)


def train_california_pipeline(frame: pd.DataFrame, *, random_state: int = 0) -> Pipeline:
    """Fit a gradient-boosting regressor of ``median_house_value`` on the raw columns.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, 10)
        ``california_housing.csv`` as ``pandas.read_csv`` returns it: 8 numeric
        features (``total_bedrooms`` with NaN), the string column
        ``ocean_proximity`` and the target ``median_house_value`` in US dollars.
    random_state : int, default=0
        Seed of the gradient-boosting regressor.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fitted on every row; ``feature_names_in_`` lists the 9 feature columns.
    """
    X, y = _split_target(frame, CALIFORNIA_TARGET)
    pipeline = Pipeline(
        [
            ("preprocess", _preprocessor(X)),
            (
                "model",
                GradientBoostingRegressor(n_estimators=100, max_depth=4, random_state=random_state),
            ),
        ]
    )
    return pipeline.fit(X, y)


# --- PyTorch MLP --------------------------------------------------------------


class BreastCancerMLP(nn.Module):
    """Standardize raw features, then Linear-ReLU-Linear to class logits.

    Takes float32 raw feature values of shape (n_rows, n_features) and returns
    logits of shape (n_rows, n_classes). The mean and standard deviation are
    buffers, so they are saved with the weights and the caller never scales.
    """

    def __init__(
        self, mean: torch.Tensor, std: torch.Tensor, *, hidden: int = 16, n_classes: int = 2
    ):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.hidden = nn.Linear(mean.shape[0], hidden)
        self.output = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        standardized = (x - self.mean) / self.std
        return self.output(torch.relu(self.hidden(standardized)))


@contextlib.contextmanager
def _deterministic_torch(seed: int) -> Iterator[None]:
    """Seed torch and use one thread and deterministic kernels inside the block.

    The thread count, the deterministic flag and the generator state are
    restored on exit.
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    # fork_rng restores the global CPU generator afterwards, so seeding here
    # does not change the random stream of the caller.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.set_num_threads(threads)


def train_breast_cancer_mlp(
    frame: pd.DataFrame,
    *,
    random_state: int = 0,
    n_epochs: int = 200,
    learning_rate: float = 1e-2,
    weight_decay: float = 0.05,
) -> nn.Module:
    """Train a small MLP that maps raw breast-cancer features to class logits.

    Full-batch Adam on the cross-entropy loss, in float32, on every row.

    Parameters
    ----------
    frame : pandas.DataFrame of shape (n_rows, 31)
        ``breast_cancer.csv``: 30 numeric features and ``target``
        (0 = malignant, 1 = benign).
    random_state : int, default=0
        Seed of the weight initialization.
    n_epochs : int, default=200
        Full-batch gradient steps.
    learning_rate : float, default=1e-2
        Adam's step size.
    weight_decay : float, default=0.05
        L2 penalty. Without it the logits grow past 100 on training rows,
        probabilities saturate at 0 or 1, and gradient methods see flat
        outputs; with it they stay within about 15 at 98% training accuracy.

    Returns
    -------
    BreastCancerMLP
        In eval mode. Takes float32 raw features of shape (n_rows, 30) in the
        column order of ``frame`` and returns logits of shape (n_rows, 2).
    """
    X, y = _split_target(frame, BREAST_CANCER_TARGET)
    inputs = torch.tensor(X.to_numpy(dtype="float32"))
    labels = torch.tensor(y.to_numpy(dtype="int64"))

    mean = inputs.mean(dim=0)
    std = inputs.std(dim=0)
    # A constant column would divide by zero, so it is scaled by 1 instead.
    std = torch.where(std > 0, std, torch.ones_like(std))

    with _deterministic_torch(random_state):
        module = BreastCancerMLP(mean, std, n_classes=len(BREAST_CANCER_CLASS_NAMES))
        optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate, weight_decay=weight_decay)
        loss_function = nn.CrossEntropyLoss()
        module.train()
        for _ in range(n_epochs):
            optimizer.zero_grad()
            loss = loss_function(module(inputs), labels)
            loss.backward()
            optimizer.step()

    return module.eval()


def script_mlp(
    module: nn.Module, feature_names: list[str], class_names: list[str]
) -> torch.jit.ScriptModule:
    """Compile ``module`` with ``torch.jit.script`` and check it against the names.

    The compiled module does not store the names, so pass them to
    :func:`torchscript_metadata` for the archive's ``explainer.json``.

    Raises
    ------
    ValueError
        If the module does not take ``len(feature_names)`` inputs or return
        ``len(class_names)`` logits.
    """
    scripted = torch.jit.script(module.eval())
    with torch.no_grad():
        output = scripted(torch.zeros((1, len(feature_names)), dtype=torch.float32))
    if tuple(output.shape) != (1, len(class_names)):
        raise ValueError(
            f"the module must return {len(class_names)} logits per row for the classes "
            f"{class_names}, got shape {tuple(output.shape)} for one row."
        )
    return scripted


def torchscript_metadata(feature_names: list[str], class_names: list[str]) -> dict:
    """Return the ``explainer.json`` content for a classifier that outputs logits."""
    return {
        "feature_names": list(feature_names),
        "task": "classification",
        "class_names": list(class_names),
        "output": "logits",
    }


# --- outputs ------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it to ``path``.

    ``os.replace`` is atomic within one file system, so an interrupted run
    leaves either the old file or none, never a truncated one that a later run
    would take as done. The temporary name carries the process id, so two
    runs at once do not write into the same file.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _save_skops(pipeline: Pipeline, path: Path) -> None:
    _write_atomically(path, skops.io.dumps(pipeline))


def _save_torchscript(scripted: torch.jit.ScriptModule, metadata: dict, path: Path) -> None:
    # Save to a buffer rather than to the temporary file, because
    # torch.jit.save names the archive's top folder after the file it writes.
    buffer = io.BytesIO()
    torch.jit.save(
        scripted, buffer, _extra_files={TORCHSCRIPT_METADATA_FILE: json.dumps(metadata)}
    )
    _write_atomically(path, buffer.getvalue())


def _save_json(content, path: Path) -> None:
    _write_atomically(path, (json.dumps(content, indent=2) + "\n").encode("utf-8"))


# One entry per demo model: its name in the service, output file, dataset
# (the CSV file name without .csv) and target column.
DEMO_MODELS = (
    {"name": "adult-gbm", "file": "adult_gbm.skops", "dataset": "adult", "target": ADULT_TARGET},
    {
        "name": "california-gbm",
        "file": "california_gbm.skops",
        "dataset": "california_housing",
        "target": CALIFORNIA_TARGET,
    },
    {
        "name": "breast-cancer-mlp",
        "file": "breast_cancer_mlp.pt",
        "dataset": "breast_cancer",
        "target": BREAST_CANCER_TARGET,
    },
)


def _dataset_path(dataset: str) -> Path:
    return DATASETS_DIR / f"{dataset}.csv"


def _feature_names(dataset: str, target: str) -> list[str]:
    """Return the feature columns of a dataset, reading only its CSV header."""
    columns = pd.read_csv(_dataset_path(dataset), nrows=0).columns
    return [name for name in columns if name != target]


def build_manifest() -> list[dict]:
    """Return the ``demo.json`` entries for the models in :data:`DEMO_MODELS`.

    ``file`` is relative to the output folder. ``metadata`` is what to send
    with the upload: empty for skops pipelines, which record their own feature
    and class names, and the ``explainer.json`` content for the MLP.
    """
    manifest = []
    for entry in DEMO_MODELS:
        metadata = {}
        if entry["file"].endswith(".pt"):
            feature_names = _feature_names(entry["dataset"], entry["target"])
            metadata = torchscript_metadata(feature_names, BREAST_CANCER_CLASS_NAMES)
        manifest.append(
            {
                "name": entry["name"],
                "file": entry["file"],
                "dataset": entry["dataset"],
                "dataset_file": str(_dataset_path(entry["dataset"])),
                "target": entry["target"],
                "metadata": metadata,
            }
        )
    return manifest


def _read_manifest(path: Path) -> list[dict] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _train_all(output: Path) -> None:
    started = time.perf_counter()
    adult = pd.read_csv(_dataset_path("adult"))
    pipeline = train_adult_pipeline(adult)
    accuracy = pipeline.score(adult.drop(columns=ADULT_TARGET), adult[ADULT_TARGET])
    _save_skops(pipeline, output / "adult_gbm.skops")
    print(
        f"adult-gbm: training accuracy {accuracy:.4f} on {len(adult)} rows, "
        f"{time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    california = pd.read_csv(_dataset_path("california_housing"))
    pipeline = train_california_pipeline(california)
    r2 = pipeline.score(
        california.drop(columns=CALIFORNIA_TARGET), california[CALIFORNIA_TARGET]
    )
    _save_skops(pipeline, output / "california_gbm.skops")
    print(
        f"california-gbm: training R² {r2:.4f} on {len(california)} rows, "
        f"{time.perf_counter() - started:.1f} s"
    )

    started = time.perf_counter()
    breast_cancer = pd.read_csv(_dataset_path("breast_cancer"))
    feature_names = [name for name in breast_cancer.columns if name != BREAST_CANCER_TARGET]
    module = train_breast_cancer_mlp(breast_cancer)
    scripted = script_mlp(module, feature_names, BREAST_CANCER_CLASS_NAMES)
    metadata = torchscript_metadata(feature_names, BREAST_CANCER_CLASS_NAMES)
    with torch.no_grad():
        logits = scripted(torch.tensor(breast_cancer[feature_names].to_numpy(dtype="float32")))
    predicted = logits.argmax(dim=1).numpy()
    accuracy = float((predicted == breast_cancer[BREAST_CANCER_TARGET].to_numpy()).mean())
    _save_torchscript(scripted, metadata, output / "breast_cancer_mlp.pt")
    print(
        f"breast-cancer-mlp: training accuracy {accuracy:.4f} on {len(breast_cancer)} rows, "
        f"{time.perf_counter() - started:.1f} s"
    )


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the demo models and write them with a demo.json manifest."
    )
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder to write the models into; created if missing",
    )
    parser.add_argument(
        "--force", action="store_true", help="train again even if every output file exists"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train the demo models into ``--output`` unless all outputs exist, and return 0."""
    arguments = _parse_arguments(argv)
    output = arguments.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    manifest = build_manifest()
    manifest_path = output / MANIFEST_FILE

    model_paths = [output / entry["file"] for entry in DEMO_MODELS]
    if not arguments.force and all(path.is_file() for path in model_paths + [manifest_path]):
        # The models do not depend on where the datasets are, but the manifest
        # names them by absolute path, which changes when the checkout moves.
        if _read_manifest(manifest_path) != manifest:
            _save_json(manifest, manifest_path)
            print(
                f"demo models in {output} are up to date; rewrote {MANIFEST_FILE} "
                "with the current dataset paths"
            )
        else:
            print(f"demo models in {output} are up to date; pass --force to train them again")
        return 0

    # demo.json is removed first and written last, so it exists only after a
    # run that wrote every model. An interrupted run is redone in full next time.
    manifest_path.unlink(missing_ok=True)
    started = time.perf_counter()
    _train_all(output)
    _save_json(manifest, manifest_path)
    elapsed = time.perf_counter() - started
    print(f"wrote {len(DEMO_MODELS)} models and {MANIFEST_FILE} to {output} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
