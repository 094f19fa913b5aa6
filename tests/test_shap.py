"""SHAP values: additivity against the estimator, closed forms, explainer choice, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from explainer import InvalidParameterError, UnusableInputError, shap_values
from explainer.models._sklearn import SklearnModel
from tests.conftest import DATASETS

ADULT_FEATURES = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
]


@pytest.fixture(scope="module")
def adult_features(adult_frame):
    return adult_frame.drop(columns="income")


@pytest.fixture(scope="module")
def adult_rows(adult_features):
    # Rows with missing workclass and occupation are included, to cover NaN in the raw data.
    with_missing = adult_features[adult_features["workclass"].isna()].iloc[:10]
    complete = adult_features.dropna().sample(90, random_state=0)
    return pd.concat([with_missing, complete]).reset_index(drop=True)


@pytest.fixture(scope="module")
def adult_logistic_model(adult_frame):
    """Logistic regression behind imputation, scaling and one-hot encoding, on 3000 rows."""
    sample = adult_frame.sample(3000, random_state=0)
    X, y = sample.drop(columns="income"), sample["income"]
    numeric = [name for name in X.columns if pd.api.types.is_numeric_dtype(X[name])]
    categorical = [name for name in X.columns if name not in numeric]
    preprocess = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                      OneHotEncoder(handle_unknown="ignore")), categorical),
    ])
    pipeline = Pipeline([("preprocess", preprocess), ("model", LogisticRegression(max_iter=1000))])
    return SklearnModel(pipeline.fit(X, y), format="skops", digest="sha256:test")


@pytest.mark.parametrize("output_space", ["probability", "log_odds"])
def test_shap_adult_tree_on_raw_columns(adult_model, adult_rows, adult_features, output_space):
    result = shap_values(adult_model, adult_rows, background=adult_features, output_space=output_space,
                         random_state=0)

    assert result.explainer == "tree"
    assert result.output_space == output_space
    assert result.feature_names == tuple(ADULT_FEATURES)
    assert result.class_names == ("<=50K", ">50K")
    assert result.values.shape == (len(adult_rows), 14, 2)
    assert result.base_values.shape == (len(adult_rows), 2)
    assert result.background_size == 100
    assert result.max_additivity_error < 1e-6
    np.testing.assert_array_equal(result.values[..., 0], -result.values[..., 1])


def test_shap_probability_equals_predict_proba(adult_model, adult_rows, adult_features):
    result = shap_values(adult_model, adult_rows, background=adult_features, output_space="probability",
                         random_state=0)

    reconstructed = result.base_values + result.values.sum(axis=1)

    np.testing.assert_allclose(reconstructed, adult_model.estimator.predict_proba(adult_rows), atol=1e-6, rtol=0)


def test_shap_log_odds_equals_decision_function(adult_model, adult_rows, adult_features):
    result = shap_values(adult_model, adult_rows, background=adult_features, output_space="log_odds",
                         random_state=0)

    reconstructed = result.base_values + result.values.sum(axis=1)
    margin = adult_model.estimator.decision_function(adult_rows)

    np.testing.assert_allclose(reconstructed[:, 1], margin, atol=1e-6, rtol=0)
    np.testing.assert_allclose(reconstructed[:, 0], -margin, atol=1e-6, rtol=0)


def test_shap_california_equals_predict(california_model, california_frame):
    features = california_frame.drop(columns="median_house_value")
    rows = features.sample(100, random_state=0).reset_index(drop=True)

    result = shap_values(california_model, rows, background=features, random_state=0)

    reconstructed = result.base_values + result.values.sum(axis=1)
    predictions = california_model.estimator.predict(rows)
    assert result.explainer == "tree"
    assert result.output_space == "raw"
    assert result.values.shape == (100, 9)
    assert result.feature_names == tuple(features.columns)
    # shap's interventional TreeSHAP (tree_shap_indep in shap/cext/tree_shap.h)
    # keeps its path sums in float32. On house values near 2e5 dollars its sum
    # missed predict by 3.5e-3 dollars here, so the bound is relative.
    scale = np.abs(predictions).max()
    assert result.max_additivity_error < 1e-6 * scale
    np.testing.assert_allclose(reconstructed, predictions, atol=1e-6 * scale, rtol=0)


def test_shap_linear_regression_closed_form(breast_cancer_frame):
    features = breast_cancer_frame.drop(columns="target")
    estimator = LinearRegression().fit(features, breast_cancer_frame["target"])
    model = SklearnModel(estimator, format="skops", digest="sha256:test")
    background = features.iloc[:80]
    rows = features.iloc[100:120].reset_index(drop=True)

    result = shap_values(model, rows, background=background)

    expected = estimator.coef_ * (rows.to_numpy() - background.to_numpy().mean(axis=0))
    assert result.explainer == "linear"
    assert result.values.shape == (20, 30)
    np.testing.assert_allclose(result.values, expected, atol=1e-8, rtol=0)
    np.testing.assert_allclose(result.base_values, estimator.predict(background).mean(), atol=1e-8, rtol=0)
    assert result.max_additivity_error < 1e-8


def test_shap_logistic_log_odds_linear(adult_logistic_model, adult_rows, adult_features):
    result = shap_values(adult_logistic_model, adult_rows, background=adult_features, output_space="log_odds",
                         random_state=0)

    reconstructed = result.base_values + result.values.sum(axis=1)
    margin = adult_logistic_model.estimator.decision_function(adult_rows)
    assert result.explainer == "linear"
    assert result.notes == ()
    assert result.values.shape == (len(adult_rows), 14, 2)
    assert result.max_additivity_error < 1e-6
    np.testing.assert_allclose(reconstructed[:, 1], margin, atol=1e-6, rtol=0)


def test_shap_logistic_probability_falls_back(adult_logistic_model, adult_rows, adult_features):
    rows = adult_rows.iloc[:3]

    result = shap_values(adult_logistic_model, rows, background=adult_features, background_size=20,
                         output_space="probability", max_evals=100, random_state=0)

    reconstructed = result.base_values + result.values.sum(axis=1)
    assert result.explainer == "permutation"
    assert len(result.notes) == 1
    assert "linear explainer not applicable" in result.notes[0]
    assert result.max_additivity_error < 1e-6
    np.testing.assert_allclose(
        reconstructed, adult_logistic_model.estimator.predict_proba(rows), atol=1e-6, rtol=0
    )


def test_shap_linear_explainer_rejects_probability(adult_logistic_model, adult_rows):
    with pytest.raises(UnusableInputError, match=r"the linear explainer cannot explain this model"):
        shap_values(adult_logistic_model, adult_rows.iloc[:3], output_space="probability", explainer="linear")


def test_shap_mlp_permutation_additive(mlp_model, breast_cancer_frame):
    rows = breast_cancer_frame.sample(5, random_state=0).reset_index(drop=True)

    result = shap_values(mlp_model, rows, background=breast_cancer_frame, background_size=20, random_state=0)

    reconstructed = result.base_values + result.values.sum(axis=1)
    assert result.explainer == "permutation"
    assert result.values.shape == (5, 30, 2)
    assert result.background_size == 20
    assert result.max_additivity_error < 1e-6
    np.testing.assert_allclose(reconstructed, mlp_model.predict(rows), atol=1e-6, rtol=0)


def test_shap_mlp_same_random_state_same_values(mlp_model, breast_cancer_frame):
    rows = breast_cancer_frame.sample(3, random_state=1).reset_index(drop=True)

    first = shap_values(mlp_model, rows, background=breast_cancer_frame, background_size=20, random_state=3)
    second = shap_values(mlp_model, rows, background=breast_cancer_frame, background_size=20, random_state=3)

    np.testing.assert_array_equal(first.values, second.values)
    np.testing.assert_array_equal(first.base_values, second.base_values)


@pytest.mark.parametrize(
    "model_name, options, message",
    [
        ("adult_model", {"output_space": "raw"}, r"output_space 'raw' is for regressors"),
        ("california_model", {"output_space": "log_odds"}, r"output_space 'log_odds' is for classifiers"),
        ("adult_model", {"output_space": "margin"}, r"output_space must be one of \['auto'.*got 'margin'"),
        ("adult_model", {"background_size": 0}, r"background_size must be between 1 and 10000, got 0"),
        ("adult_model", {"explainer": "kernel"}, r"explainer must be one of .*got 'kernel'"),
        ("adult_model", {"max_evals": 5}, r"max_evals must be at least 29, got 5"),
    ],
)
def test_shap_bad_options(request, model_name, options, message, adult_features, california_frame):
    model = request.getfixturevalue(model_name)
    rows = adult_features.iloc[:5] if model_name == "adult_model" else california_frame.iloc[:5]

    with pytest.raises(InvalidParameterError, match=message):
        shap_values(model, rows, **options)


def test_shap_no_rows(adult_model, adult_features):
    with pytest.raises(UnusableInputError, match=r"X has no rows"):
        shap_values(adult_model, adult_features.iloc[:0])


def test_shap_background_missing_columns(adult_model, adult_features):
    with pytest.raises(UnusableInputError, match=r"\['age'\]") as raised:
        shap_values(adult_model, adult_features.iloc[:5], background=adult_features.drop(columns="age"))
    assert raised.value.details["missing_columns"] == ["age"]


def test_shap_to_dict_is_strict_json(adult_model, adult_rows, adult_features):
    result = shap_values(adult_model, adult_rows, background=adult_features, random_state=0)

    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))

    assert document["method"] == "shap"
    assert document["explainer"] == "tree"
    assert np.array(document["values"]).shape == (len(adult_rows), 14, 2)
    # The first rows have a missing workclass, which becomes null.
    assert document["data"][0]["workclass"] is None
    assert document["parameters"]["random_state"] == 0


def test_shap_multiclass_gradient_boosting_log_odds_is_margin():
    from sklearn.ensemble import GradientBoostingClassifier

    from explainer.models._sklearn import SklearnModel

    wine = pd.read_csv(DATASETS / "wine.csv")
    X, y = wine.drop(columns="target"), wine["target"]
    estimator = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    model = SklearnModel(estimator, format="skops", digest="sha256:test")

    result = shap_values(model, X.iloc[:10], background=X, background_size=30,
                         output_space="log_odds", random_state=0)

    assert result.values.shape == (10, 13, 3)
    np.testing.assert_allclose(result.predictions, estimator.decision_function(X.iloc[:10]), atol=1e-12)
    assert result.max_additivity_error < 1e-6
