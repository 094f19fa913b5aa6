"""Every method calls the model with its training schema: names, order, dtypes.

The guard below is the first step of a real pipeline and raises on any
DataFrame whose columns or dtypes differ from those it was fitted on, so a
method that hands the model NumPy arrays or retyped columns fails loudly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import explainer
from explainer import UnusableInputError
from explainer.models._sklearn import SklearnModel

SEED = 0


class SchemaGuard(TransformerMixin, BaseEstimator):
    """Pass a DataFrame through unchanged, raising unless it has the fitted schema."""

    def fit(self, X, y=None):
        self.dtypes_ = X.dtypes.copy()
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"expected a DataFrame, got {type(X).__name__}")
        if list(X.columns) != list(self.dtypes_.index):
            raise TypeError(f"columns {list(X.columns)} differ from {list(self.dtypes_.index)}")
        changed = {name: (str(X[name].dtype), str(dtype)) for name, dtype in self.dtypes_.items()
                   if X[name].dtype != dtype}
        if changed:
            raise TypeError(f"dtypes differ from training: {changed}")
        return X

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.dtypes_.index, dtype=object)


@pytest.fixture(scope="module")
def guarded(adult_frame):
    frame = adult_frame.iloc[:3000].reset_index(drop=True)
    X, y = frame.drop(columns="income"), frame["income"]
    categorical = [name for name in X.columns if not pd.api.types.is_numeric_dtype(X[name])]
    numeric = [name for name in X.columns if name not in categorical]
    preprocess = ColumnTransformer([
        ("numeric", StandardScaler(), numeric),
        ("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), categorical),
    ])
    pipeline = Pipeline([("guard", SchemaGuard()), ("preprocess", preprocess),
                         ("model", LogisticRegression(max_iter=500))]).fit(X, y)
    model = SklearnModel(pipeline, format="skops", digest="sha256:test")
    return model, X, y


def test_guard_rejects_retyped_columns(guarded):
    model, X, _ = guarded
    retyped = X.astype({"age": "float64"})

    with pytest.raises(TypeError, match="age"):
        model.predict(retyped)


def test_missing_values_present_in_string_columns(guarded):
    _, X, _ = guarded

    assert X["workclass"].isna().any()
    assert X["occupation"].isna().any()


def test_permutation_explainer_keeps_training_dtypes(guarded):
    model, X, _ = guarded

    result = explainer.shap_values(model, X.iloc[:5], background=X, background_size=30,
                                   explainer="permutation", random_state=SEED)

    assert result.explainer == "permutation"
    assert result.max_additivity_error < 1e-9


def test_permutation_importance_keeps_training_dtypes(guarded):
    model, X, y = guarded

    result = explainer.permutation_importance(model, X, y, n_repeats=2, random_state=SEED)

    assert result.importances.shape == (14, 2)


def test_whatif_and_sweep_keep_training_dtypes(guarded):
    model, X, _ = guarded

    changed = explainer.what_if(model, X.iloc[[1]], {"age": 50, "workclass": "Private"},
                                background=X, background_size=20, explain=True)
    ages = explainer.sweep(model, X.iloc[:3], "age", n_points=5, reference=X)
    workclasses = explainer.sweep(model, X.iloc[:3], "workclass", reference=X)

    assert changed.explanation["max_additivity_error"] < 1e-6
    assert all(isinstance(value, int) for value in ages.grid)
    assert set(workclasses.grid) == set(X["workclass"].dropna())


def test_whatif_non_integer_for_integer_feature_is_rejected(guarded):
    model, X, _ = guarded

    with pytest.raises(explainer.InvalidParameterError, match="whole number"):
        explainer.what_if(model, X.iloc[[1]], {"age": 50.5}, explain=False)


def test_declared_feature_dtypes_convert_inputs(guarded):
    model, X, _ = guarded
    declared = SklearnModel(model.estimator, format="skops", digest="sha256:test",
                            metadata={"feature_dtypes": {name: str(dtype) for name, dtype in X.dtypes.items()}})
    as_floats = X.iloc[:5].astype({"age": "float64", "hours-per-week": "float64"})

    np.testing.assert_array_equal(declared.predict(as_floats), model.predict(X.iloc[:5]))


def test_declared_integer_dtype_with_missing_is_rejected(guarded):
    model, X, _ = guarded
    declared = SklearnModel(model.estimator, format="skops", digest="sha256:test",
                            metadata={"feature_dtypes": {"age": "int64"}})
    with_missing = X.iloc[:5].astype({"age": "float64"})
    with_missing.loc[0, "age"] = np.nan

    with pytest.raises(UnusableInputError, match="'age'.*int64"):
        declared.predict(with_missing)


def test_declared_dtype_for_unknown_feature_is_rejected(guarded):
    model, _, _ = guarded

    with pytest.raises(UnusableInputError, match="salary"):
        SklearnModel(model.estimator, format="skops", digest="sha256:test",
                     metadata={"feature_dtypes": {"salary": "float64"}})
