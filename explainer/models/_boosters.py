"""XGBoost, LightGBM and CatBoost models loaded from their native files.

One :class:`BoosterModel` covers the three libraries. A small adapter per
library reads what the file records (objective, input and output widths,
feature and class names) and runs the library's own prediction, so that
probabilities and raw margins come from the booster itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import UnsupportedFormatError, UnusableInputError
from ._base import CLASSIFICATION, DEFAULT_BATCH_ROWS, REGRESSION, Model
from ._booster_checks import check_lightgbm_layout, check_ubjson
from ._formats import XGBOOST_JSON, XGBOOST_UBJ, detect_format


@dataclass(frozen=True)
class Objective:
    """The task and link function of a training objective.

    The link maps the sum of the trees (the margin) to the prediction.

    ``link`` is ``"logistic"`` (binary probability), ``"softmax"`` (class
    probabilities), ``"identity"`` (the margin is the prediction) or ``"log"``
    (the prediction is exp(margin)).
    """

    task: str
    link: str


_LOGISTIC = Objective(CLASSIFICATION, "logistic")
_SOFTMAX = Objective(CLASSIFICATION, "softmax")
_IDENTITY = Objective(REGRESSION, "identity")
_LOG = Objective(REGRESSION, "log")

XGBOOST_OBJECTIVES = {
    "binary:logistic": _LOGISTIC,
    "multi:softprob": _SOFTMAX,
    "multi:softmax": _SOFTMAX,
    "reg:squarederror": _IDENTITY,
    "reg:squaredlogerror": _IDENTITY,
    "reg:pseudohubererror": _IDENTITY,
    "reg:absoluteerror": _IDENTITY,
    "reg:quantileerror": _IDENTITY,
    "count:poisson": _LOG,
    "reg:gamma": _LOG,
    "reg:tweedie": _LOG,
}

# Canonical names, as LightGBM writes them in the model file's objective line.
LIGHTGBM_OBJECTIVES = {
    "binary": _LOGISTIC,
    "multiclass": _SOFTMAX,
    "regression": _IDENTITY,
    "regression_l1": _IDENTITY,
    "huber": _IDENTITY,
    "fair": _IDENTITY,
    "quantile": _IDENTITY,
    "mape": _IDENTITY,
    "poisson": _LOG,
    "gamma": _LOG,
    "tweedie": _LOG,
}

# CatBoost loss functions, without their ":param=value" options.
CATBOOST_LOSSES = {
    "Logloss": _LOGISTIC,
    "CrossEntropy": _LOGISTIC,
    "MultiClass": _SOFTMAX,
    "RMSE": _IDENTITY,
    "MAE": _IDENTITY,
    "Quantile": _IDENTITY,
    "MAPE": _IDENTITY,
    "Huber": _IDENTITY,
    "Lq": _IDENTITY,
    "Expectile": _IDENTITY,
    "LogCosh": _IDENTITY,
    "Poisson": _LOG,
    "Tweedie": _LOG,
}


# XGBoost and CatBoost start their errors with a time and a C++ source
# position, such as "[21:32:37] /workspace/src/common/json.cc:409: ".
_SOURCE_POSITION = re.compile(r"^(\[[0-9:]+\]\s*)?(\S+\.(cc|cpp|h):\d+:\s*)?")


def _first_line(error: Exception) -> str:
    """Return the message of a library error without its source position and stack trace."""
    lines = str(error).strip().splitlines()
    return _SOURCE_POSITION.sub("", lines[0]) if lines else type(error).__name__


def _numeric_matrix(features: pd.DataFrame, library: str) -> np.ndarray:
    """Return the columns as float64 (n_rows, n_features), missing values as NaN."""
    non_numeric = [
        name for name in features.columns if not pd.api.types.is_numeric_dtype(features[name])
    ]
    if non_numeric:
        raise UnusableInputError(
            f"the {library} model takes numbers only, but column(s) {non_numeric} are not "
            "numeric; encode them as the model was trained."
        )
    return features.to_numpy(dtype=np.float64, na_value=np.nan)


def _softmax(margin: np.ndarray) -> np.ndarray:
    shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class _XGBoost:
    """An ``xgboost.Booster`` behind the calls that BoosterModel makes."""

    library = "XGBoost"
    objectives = XGBOOST_OBJECTIVES

    def __init__(self, booster):
        self.booster = booster
        learner = json.loads(booster.save_config())["learner"]
        self.objective = learner["objective"]["name"]
        model_parameters = learner["learner_model_param"]
        self.n_features = booster.num_features()
        self.n_targets = int(model_parameters.get("num_target", "1"))
        # num_class is 0 unless the objective is multi:*.
        n_classes = int(model_parameters.get("num_class", "0"))
        self.n_classes = n_classes if n_classes > 1 else 2
        self.feature_names = booster.feature_names
        self.class_names = None
        # A gblinear booster is a linear model, which TreeSHAP cannot read.
        self.has_trees = learner["gradient_booster"]["name"] != "gblinear"
        # The scikit-learn interface of XGBoost (3.2) and shap's TreeExplainer
        # (0.51) both stop at the best iteration when early stopping recorded
        # one, so predictions do too, and the two agree.
        try:
            self._iteration_range = (0, booster.best_iteration + 1)
        except AttributeError:
            self._iteration_range = (0, 0)

    def check(self) -> None:
        if self.n_targets > 1:
            raise UnusableInputError(
                f"the XGBoost model has {self.n_targets} targets; only single-target "
                "models are supported."
            )
        categorical = [
            name for name, kind in zip(self.feature_names or range(self.n_features),
                                       self.booster.feature_types or ())
            if kind == "c"
        ]
        if categorical:
            raise UnusableInputError(
                f"the XGBoost model splits on categorical features {categorical}, which "
                "this service does not support yet; train it on encoded columns, or save "
                "a scikit-learn pipeline that encodes them with skops.io.dump."
            )

    def names_match(self, from_metadata: list[str], recorded: list[str]) -> bool:
        return from_metadata == recorded

    def to_input(self, features: pd.DataFrame) -> np.ndarray:
        return _numeric_matrix(features, self.library)

    def predict(self, features: pd.DataFrame, *, margin: bool) -> np.ndarray:
        # multi:softmax predicts class indices; its probabilities are the
        # softmax of the margins, as multi:softprob computes them.
        if self.objective == "multi:softmax" and not margin:
            return _softmax(np.asarray(self.predict(features, margin=True), dtype=np.float64))

        values = self.to_input(features)
        if not self.has_trees:
            # gblinear has no in-place prediction.
            return self.booster.predict(
                _xgboost_matrix(values), output_margin=margin, iteration_range=self._iteration_range,
                validate_features=False,
            )
        return self.booster.inplace_predict(
            values, predict_type="margin" if margin else "value", missing=np.nan,
            iteration_range=self._iteration_range, validate_features=False,
        )


def _xgboost_matrix(values: np.ndarray):
    import xgboost

    return xgboost.DMatrix(values, missing=np.nan)


class _LightGBM:
    """A ``lightgbm.Booster`` behind the calls that BoosterModel makes."""

    library = "LightGBM"
    objectives = LIGHTGBM_OBJECTIVES
    has_trees = True

    def __init__(self, booster, model_text: str):
        self.booster = booster
        # The objective line reads, for example, "objective=binary sigmoid:1".
        # It is read from the text because Booster.dump_model fails on some
        # feature names (a tab, in LightGBM 4.7).
        # A model trained with a custom objective function has no such line.
        found = re.search(r"^objective=(.*)$", model_text, flags=re.MULTILINE)
        tokens = found.group(1).split() if found else ["custom"]
        self.objective = tokens[0]
        self.objective_options = dict(
            token.split(":", 1) if ":" in token else (token, "") for token in tokens[1:]
        )
        self.n_features = booster.num_feature()
        n_classes = int(self.objective_options.get("num_class", "1"))
        self.n_classes = n_classes if n_classes > 1 else 2
        names = booster.feature_name()
        # LightGBM names the columns of a model trained without names
        # Column_0, Column_1, ...
        defaults = [f"Column_{index}" for index in range(len(names))]
        self.feature_names = None if names == defaults else names
        self.class_names = None

    def check(self) -> None:
        sigmoid = self.objective_options.get("sigmoid", "1")
        if self.objective == "binary" and float(sigmoid) != 1.0:
            raise UnusableInputError(
                f"the LightGBM model was trained with sigmoid={sigmoid}, so its probabilities "
                "are not the logistic function of its margin; only sigmoid=1 (the default) "
                "is supported."
            )
        if "sqrt" in self.objective_options:
            raise UnusableInputError(
                "the LightGBM model was trained with reg_sqrt=true, so it predicts the square "
                "of its margin; retrain it without reg_sqrt."
            )
        if self.booster.pandas_categorical:
            raise UnusableInputError(
                "the LightGBM model was trained on pandas categorical columns, which this "
                "service does not support yet; train it on encoded columns, or save a "
                "scikit-learn pipeline that encodes them with skops.io.dump."
            )

    def names_match(self, from_metadata: list[str], recorded: list[str]) -> bool:
        # LightGBM replaces spaces in feature names with underscores when it
        # trains, so the original names are accepted as well.
        return [name.replace(" ", "_") for name in from_metadata] == recorded

    def to_input(self, features: pd.DataFrame) -> np.ndarray:
        return _numeric_matrix(features, self.library)

    def predict(self, features: pd.DataFrame, *, margin: bool) -> np.ndarray:
        return self.booster.predict(self.to_input(features), raw_score=margin)


class _CatBoost:
    """A ``catboost.CatBoost`` model behind the calls that BoosterModel makes."""

    library = "CatBoost"
    objectives = CATBOOST_LOSSES
    has_trees = True

    def __init__(self, booster):
        self.booster = booster
        parameters = booster.get_all_params()
        self.objective = str(parameters.get("loss_function", "")).split(":", 1)[0]
        self.n_features = len(booster.feature_names_)
        names = list(booster.feature_names_)
        # CatBoost names the columns of a model trained without names "0", "1", ...
        self.feature_names = None if names == [str(index) for index in range(len(names))] else names
        class_names = parameters.get("class_names")
        self.class_names = None if not class_names else [str(name) for name in class_names]
        if self.objective == "MultiClass":
            self.n_classes = len(class_names) if class_names else int(parameters.get("classes_count", 0))
        else:
            self.n_classes = 2
        self.categorical = list(booster.get_cat_feature_indices())

    def check(self) -> None:
        other = list(self.booster.get_text_feature_indices()) + list(self.booster.get_embedding_feature_indices())
        if other:
            raise UnusableInputError(
                f"the CatBoost model has text or embedding features at positions {other}; "
                "only numeric and categorical features are supported."
            )
        if self.objective == "MultiClass" and self.n_classes < 2:
            raise UnusableInputError(
                "the CatBoost MultiClass model records neither class_names nor classes_count."
            )

    def names_match(self, from_metadata: list[str], recorded: list[str]) -> bool:
        return from_metadata == recorded

    def to_input(self, features: pd.DataFrame) -> pd.DataFrame:
        """Return the columns with numeric ones as float64 and categorical ones as strings."""
        columns = {}
        for position, name in enumerate(features.columns):
            column = features[name]
            if position in self.categorical:
                columns[name] = _category_strings(column)
            elif pd.api.types.is_numeric_dtype(column):
                columns[name] = column.astype(np.float64)
            else:
                raise UnusableInputError(
                    f"the CatBoost model takes numbers in column {name!r}, which is not "
                    "numeric; encode it as the model was trained."
                )
        return pd.DataFrame(columns, index=features.index)

    def predict(self, features: pd.DataFrame, *, margin: bool) -> np.ndarray:
        if margin:
            prediction_type = "RawFormulaVal"
        elif self.objectives[self.objective] is _LOG:
            prediction_type = "Exponent"
        elif self.objectives[self.objective].task == CLASSIFICATION:
            prediction_type = "Probability"
        else:
            prediction_type = "RawFormulaVal"
        return self.booster.predict(self.to_input(features), prediction_type=prediction_type)


def _category_strings(column: pd.Series) -> pd.Series:
    """Write a categorical column as the strings CatBoost hashes.

    CatBoost takes categories as strings or integers and rejects floats and
    missing values. Whole floats (integer codes that a missing value turned
    into floats) are written as integers. A missing value becomes "nan", the
    string that ``str(float("nan"))`` and pandas' ``astype(str)`` give.
    """
    def as_string(value) -> str:
        if pd.isna(value):
            return "nan"
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)

    return column.astype(object).map(as_string)


class BoosterModel(Model):
    """A gradient-boosted tree ensemble in its library's native format.

    ``estimator`` is the booster itself (``xgboost.Booster``,
    ``lightgbm.Booster`` or ``catboost.CatBoost``), which is the TreeSHAP fast
    path. It is None for regressors with a log link (Poisson, gamma, Tweedie),
    because their trees add up to the log of the prediction, and for XGBoost's
    linear booster (gblinear). Those are explained with the permutation
    explainer.

    Attributes
    ----------
    objective : str
        The training objective (XGBoost, LightGBM) or loss function (CatBoost).
    """

    def __init__(self, adapter, *, format: str, digest: str, metadata: dict | None = None):
        metadata = dict(metadata or {})
        library = adapter.library
        objective = adapter.objectives.get(adapter.objective)
        if objective is None:
            raise UnusableInputError(
                f"the {library} objective {adapter.objective!r} is not supported; supported "
                f"objectives: {list(adapter.objectives)}.",
                details={"objective": adapter.objective},
            )
        adapter.check()

        metadata_task = metadata.get("task")
        if metadata_task is not None and metadata_task != objective.task:
            raise UnusableInputError(
                f"metadata task {metadata_task!r} differs from the task of the {library} "
                f"objective {adapter.objective!r}, which is {objective.task!r}; drop task "
                "from the metadata or correct it."
            )
        feature_names = _resolve_feature_names(adapter, metadata.get("feature_names"))
        class_names = _resolve_class_names(adapter, objective, metadata.get("class_names"))

        super().__init__(
            task=objective.task,
            feature_names=feature_names,
            class_names=class_names,
            format=format,
            digest=digest,
            metadata=metadata,
        )
        self.objective = adapter.objective
        self.estimator = adapter.booster if adapter.has_trees and objective.link != "log" else None
        self._adapter = adapter

    def to_booster_input(self, frame: pd.DataFrame):
        """Return the model's columns of ``frame`` as the booster takes them.

        A float64 array (n_rows, n_features) for XGBoost and LightGBM, missing
        values as NaN. For CatBoost, a DataFrame whose categorical columns are
        strings.
        """
        return self._adapter.to_input(self.select_features(frame))

    def predict_margin(self, frame: pd.DataFrame, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
        """Predict a classifier's raw margin, which is the log-odds for a binary model.

        Returns
        -------
        ndarray of shape (n_rows, n_classes), float64
            The sum of the trees per class, which the logistic function
            (binary) or the softmax (multiclass) turns into probabilities. A
            binary model has one margin m, the log-odds of its second class,
            and the first class gets -m.
        """
        if not self.is_classifier:
            raise UnusableInputError(
                f"a raw margin is defined for classifiers; this {self._adapter.library} "
                "model is a regressor, whose predictions are its output."
            )
        features = self.select_features(frame)
        parts = [
            self._margin_array(features.iloc[start : start + batch_rows])
            for start in range(0, len(features), batch_rows)
        ]
        return np.concatenate(parts, axis=0) if parts else np.empty((0, self.n_outputs))

    def _margin_array(self, features: pd.DataFrame) -> np.ndarray:
        margin = np.asarray(self._adapter.predict(features, margin=True), dtype=np.float64)
        if margin.ndim == 1:
            return np.stack([-margin, margin], axis=1)
        return margin

    def _predict_array(self, features: pd.DataFrame) -> np.ndarray:
        outputs = np.asarray(self._adapter.predict(features, margin=False), dtype=np.float64)
        if not self.is_classifier:
            return outputs.reshape(-1)
        if outputs.ndim == 1:
            return np.stack([1.0 - outputs, outputs], axis=1)
        return outputs


def _resolve_feature_names(adapter, from_metadata) -> list[str]:
    library = adapter.library
    if from_metadata is not None:
        if not isinstance(from_metadata, list | tuple) or \
                not all(isinstance(name, str) for name in from_metadata):
            raise UnusableInputError(
                f"metadata feature_names must be a list of strings, got {from_metadata!r}."
            )
        from_metadata = list(from_metadata)
    recorded = None if adapter.feature_names is None else [str(name) for name in adapter.feature_names]

    if recorded is not None:
        if from_metadata is not None and not adapter.names_match(from_metadata, recorded):
            raise UnusableInputError(
                f"metadata feature_names {from_metadata} differ from the names the {library} "
                f"model records, {recorded}; drop them from the metadata or correct them."
            )
        return from_metadata if from_metadata is not None else recorded
    if from_metadata is None:
        raise UnusableInputError(
            f"the {library} model does not record its feature names; supply feature_names "
            f"in the model metadata: {adapter.n_features} names, in the order of its inputs."
        )
    if len(from_metadata) != adapter.n_features:
        raise UnusableInputError(
            f"metadata lists {len(from_metadata)} feature names but the {library} model takes "
            f"{adapter.n_features} inputs; give exactly {adapter.n_features} names."
        )
    return from_metadata


def _resolve_class_names(adapter, objective: Objective, from_metadata) -> list[str] | None:
    library = adapter.library
    if objective.task == REGRESSION:
        if from_metadata is not None:
            raise UnusableInputError(
                f"metadata lists class names, but the {library} objective "
                f"{adapter.objective!r} makes a regressor with one output; drop class_names."
            )
        return None

    n_classes = adapter.n_classes
    if from_metadata is None:
        if adapter.class_names is not None:
            return adapter.class_names
        return [str(index) for index in range(n_classes)]
    if not isinstance(from_metadata, list | tuple):
        raise UnusableInputError(f"metadata class_names must be a list, got {from_metadata!r}.")
    if len(from_metadata) != n_classes:
        raise UnusableInputError(
            f"metadata lists {len(from_metadata)} class names but the {library} model has "
            f"{n_classes} classes; give exactly {n_classes} names."
        )
    return [str(name) for name in from_metadata]


def load_xgboost(data: bytes, *, digest: str, metadata: dict | None) -> BoosterModel:
    """Load an XGBoost model saved as JSON or UBJSON (``Booster.save_model``)."""
    import xgboost

    format = XGBOOST_UBJ if detect_format(data) == XGBOOST_UBJ else XGBOOST_JSON
    problem = check_ubjson(data) if format == XGBOOST_UBJ else None
    if problem is not None:
        raise UnsupportedFormatError(
            f"the file looks like an XGBoost UBJSON model but is damaged or cut short: {problem}. "
            "Upload the complete file that Booster.save_model wrote."
        )
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgboost.core.XGBoostError as error:
        raise UnsupportedFormatError(
            f"the file looks like an XGBoost model but cannot be read ({_first_line(error)}); "
            "save it again with Booster.save_model to a .json or .ubj file."
        ) from error
    return BoosterModel(_XGBoost(booster), format=format, digest=digest, metadata=metadata)


def load_lightgbm(data: bytes, *, digest: str, metadata: dict | None) -> BoosterModel:
    """Load a LightGBM model saved as text (``Booster.save_model``)."""
    import lightgbm

    problem = check_lightgbm_layout(data)
    if problem is not None:
        raise UnsupportedFormatError(
            f"the file looks like a LightGBM model but is damaged or cut short: {problem}. "
            "Upload the complete file that Booster.save_model wrote."
        )
    try:
        text = data.decode("utf-8")
        booster = lightgbm.Booster(model_str=text)
    except (UnicodeDecodeError, lightgbm.basic.LightGBMError) as error:
        raise UnsupportedFormatError(
            f"the file looks like a LightGBM model but cannot be read ({_first_line(error)}); "
            "save it again with Booster.save_model."
        ) from error
    return BoosterModel(_LightGBM(booster, text), format="lightgbm", digest=digest, metadata=metadata)


def load_catboost(data: bytes, *, digest: str, metadata: dict | None) -> BoosterModel:
    """Load a CatBoost model saved in its binary format (``save_model``, ``.cbm``)."""
    import catboost

    try:
        booster = catboost.CatBoost().load_model(blob=data)
        # A damaged file can load and then fail when its options are read.
        adapter = _CatBoost(booster)
    except catboost.CatBoostError as error:
        raise UnsupportedFormatError(
            f"the file looks like a CatBoost model but cannot be read ({_first_line(error)}); "
            "save it again with save_model(path, format='cbm')."
        ) from error
    return BoosterModel(adapter, format="catboost", digest=digest, metadata=metadata)
