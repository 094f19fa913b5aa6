"""The one interface every loaded model is turned into."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

# Rows sent to the underlying model in one call. Methods build large stacked
# frames, and this bounds the memory of one call without going row by row.
# Larger calls got slower again: for the adult demo pipeline, 131,072-row
# calls took 1.5 times as long per row as 32,768-row calls
# (2 cores, scikit-learn 1.9).
DEFAULT_BATCH_ROWS = 32_768


def sha256_digest(data: bytes) -> str:
    """Return the digest that identifies a model or dataset file."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _parse_feature_dtypes(declared, feature_names) -> dict:
    """Parse metadata feature_dtypes ({feature: dtype name}) into pandas dtypes."""
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise UnusableInputError(
            f"metadata feature_dtypes must map feature names to dtype names, got {declared!r}."
        )
    unknown = sorted(set(declared) - set(feature_names))
    if unknown:
        raise UnusableInputError(
            f"metadata feature_dtypes names {unknown}, which are not features of the model "
            f"{list(feature_names)}."
        )
    parsed = {}
    for name, text in declared.items():
        try:
            parsed[name] = pd.api.types.pandas_dtype(text)
        except TypeError as error:
            raise UnusableInputError(
                f"metadata feature_dtypes gives {text!r} for {name!r}, which is not a pandas dtype "
                "(for example int64, float64, str, category, bool)."
            ) from error
    return parsed


@dataclass(frozen=True)
class ModelInfo:
    """Description of a loaded model, as stored and returned by the service."""

    format: str
    digest: str
    task: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] | None
    output_space: str
    explainers: tuple[str, ...]
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "digest": self.digest,
            "task": self.task,
            "feature_names": list(self.feature_names),
            "class_names": None if self.class_names is None else list(self.class_names),
            "output_space": self.output_space,
            "methods": list(self.explainers),
            "metadata": self.metadata,
        }


class Model:
    """A loaded model behind one batch-prediction interface.

    Subclasses implement ``_predict_array``. Everything else (column checks,
    batching, the output layout) is shared.

    Attributes
    ----------
    task : {"classification", "regression"}
    feature_names : tuple of str
        The raw input columns, in the order the model takes them.
    class_names : tuple of str or None
        Class labels in the order of the probability columns; None for
        regression.
    output_space : str
        What ``predict`` returns: ``"probability"`` for classifiers, ``"raw"``
        (the model's own unit) for regressors.
    format : str
        The serialization format the model was loaded from.
    digest : str
        ``sha256:<hex>`` of the serialized bytes.
    estimator : object or None
        The fitted scikit-learn estimator, or the booster of an XGBoost,
        LightGBM or CatBoost file, when there is one (fast paths).
    torch_module : torch.nn.Module or None
        A differentiable module taking a float tensor of shape
        (n_rows, n_features), when there is one (gradient methods).
    """

    estimator: Any = None
    torch_module: Any = None

    def __init__(
        self,
        *,
        task: str,
        feature_names,
        class_names=None,
        format: str,
        digest: str,
        metadata: dict | None = None,
    ):
        if task not in TASKS:
            raise InvalidParameterError(
                f"task must be one of {list(TASKS)}, got {task!r}."
            )
        self.task = task
        self.feature_names = tuple(str(name) for name in feature_names)
        if len(set(self.feature_names)) != len(self.feature_names):
            raise UnusableInputError(
                f"feature names must be unique, got {list(self.feature_names)}."
            )
        if task == CLASSIFICATION:
            if class_names is None or len(class_names) < 2:
                raise UnusableInputError(
                    "a classifier needs at least two class names, got "
                    f"{class_names!r}; supply class_names in the model metadata."
                )
            self.class_names = tuple(str(name) for name in class_names)
        else:
            self.class_names = None
        self.format = format
        self.digest = digest
        self.metadata = dict(metadata or {})
        self.feature_dtypes = _parse_feature_dtypes(self.metadata.get("feature_dtypes"), self.feature_names)

    @property
    def output_space(self) -> str:
        return "probability" if self.task == CLASSIFICATION else "raw"

    @property
    def is_classifier(self) -> bool:
        return self.task == CLASSIFICATION

    @property
    def n_outputs(self) -> int:
        return len(self.class_names) if self.is_classifier else 1

    @property
    def supports_gradients(self) -> bool:
        return self.torch_module is not None

    def applicable_methods(self) -> tuple[str, ...]:
        """Return the names of the methods that can explain this model."""
        methods = ["permutation", "shap", "what-if"]
        if self.supports_gradients:
            methods += ["integrated-gradients", "layer-attributions", "neuron-attributions"]
        return tuple(methods)

    def describe_layers(self) -> list[dict] | None:
        """Describe the layers that layer and neuron methods accept; None for a model without layers.

        See :meth:`TorchModel.describe_layers`.
        """
        return None

    def info(self) -> ModelInfo:
        return ModelInfo(
            format=self.format,
            digest=self.digest,
            task=self.task,
            feature_names=self.feature_names,
            class_names=self.class_names,
            output_space=self.output_space,
            explainers=self.applicable_methods(),
            metadata=self.metadata,
        )

    def select_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return the model's columns of ``frame``, in the model's order.

        Raises
        ------
        UnusableInputError
            If ``frame`` lacks any of the model's features; the message and
            ``details["missing_columns"]`` list every missing one.
        """
        if not isinstance(frame, pd.DataFrame):
            raise InvalidParameterError(
                f"data must be a pandas DataFrame, got {type(frame).__name__}."
            )
        missing = [name for name in self.feature_names if name not in frame.columns]
        if missing:
            raise UnusableInputError(
                f"the data lacks {len(missing)} column(s) that the model needs: "
                f"{missing}. Add them, or use data with the model's features "
                f"{list(self.feature_names)}.",
                details={"missing_columns": missing},
            )
        selected = frame.loc[:, list(self.feature_names)]
        return self._conform_dtypes(selected) if self.feature_dtypes else selected

    def _conform_dtypes(self, features: pd.DataFrame) -> pd.DataFrame:
        """Convert columns to the dtypes declared in the metadata's feature_dtypes."""
        converted = {}
        for name, dtype in self.feature_dtypes.items():
            column = features[name]
            if column.dtype == dtype:
                continue
            try:
                converted[name] = column.astype(dtype)
            except (ValueError, TypeError) as error:
                raise UnusableInputError(
                    f"column {name!r} ({column.dtype}) cannot be converted to the model's training "
                    f"dtype {dtype}: {error}. Fix the data, or the feature_dtypes metadata."
                ) from error
        return features.assign(**converted) if converted else features

    def predict(self, frame: pd.DataFrame, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
        """Predict a batch of rows given as raw feature columns.

        Parameters
        ----------
        frame : pandas.DataFrame
            Raw input columns; extra columns are ignored.
        batch_rows : int
            Maximum rows passed to the underlying model in one call.

        Returns
        -------
        ndarray
            Shape (n_rows,) for regression, (n_rows, n_classes) class
            probabilities for classification, float64.
        """
        features = self.select_features(frame)
        if len(features) == 0:
            return np.empty((0, self.n_outputs) if self.is_classifier else (0,))
        parts = [
            self._predict_array(features.iloc[start : start + batch_rows])
            for start in range(0, len(features), batch_rows)
        ]
        return np.concatenate(parts, axis=0)

    def _predict_array(self, features: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError
