"""Permutation importance: identity with scikit-learn, stacked batches, groups, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance as sklearn_permutation_importance
from sklearn.metrics import get_scorer

from explainer import InvalidParameterError, UnusableInputError, permutation_importance
from explainer.models._sklearn import SklearnModel

N_ROWS = 1500
N_REPEATS = 3
SEED = 7


def _split(frame: pd.DataFrame, target: str, n_rows: int = N_ROWS):
    sample = frame.sample(n_rows, random_state=0).reset_index(drop=True)
    return sample.drop(columns=target), sample[target]


@pytest.fixture(scope="module")
def adult_data(adult_frame):
    return _split(adult_frame, "income")


@pytest.fixture(scope="module")
def california_data(california_frame):
    return _split(california_frame, "median_house_value")


class CountingModel(SklearnModel):
    """A scikit-learn model that records the rows of every call to the estimator."""

    def __init__(self, estimator):
        super().__init__(estimator, format="skops", digest="sha256:test")
        self.call_rows: list[int] = []

    def _predict_array(self, features: pd.DataFrame) -> np.ndarray:
        self.call_rows.append(len(features))
        return super()._predict_array(features)


def _joint_permutation_importances(estimator, X, y, columns, *, scoring, n_repeats, random_state):
    """Importances of ``columns`` shuffled together, as scikit-learn shuffles one column.

    scikit-learn draws a seed from ``random_state``, restarts a RandomState
    from it, and at each repeat shuffles an index in place and reorders the
    already permuted copy with it. Here every column of the group is
    reordered with that same index.
    """
    scorer = get_scorer(scoring)
    baseline = scorer(estimator, X, y)
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)
    rng = np.random.RandomState(seed)
    order = np.arange(len(X))
    permuted = X.copy()
    importances = []
    for _ in range(n_repeats):
        rng.shuffle(order)
        for column in columns:
            permuted[column] = permuted[column].iloc[order].to_numpy()
        importances.append(baseline - scorer(estimator, permuted, y))
    return np.array(importances)


@pytest.mark.parametrize(
    "model_name, data_name, scoring",
    [
        ("adult_model", "adult_data", "accuracy"),
        ("adult_model", "adult_data", "roc_auc"),
        ("adult_model", "adult_data", "neg_log_loss"),
        ("california_model", "california_data", "r2"),
        ("california_model", "california_data", "neg_mean_absolute_error"),
    ],
)
def test_permutation_importance_equals_sklearn(request, model_name, data_name, scoring):
    model = request.getfixturevalue(model_name)
    X, y = request.getfixturevalue(data_name)

    result = permutation_importance(model, X, y, scoring=scoring, n_repeats=N_REPEATS, random_state=SEED)
    expected = sklearn_permutation_importance(
        model.estimator, X, y, scoring=scoring, n_repeats=N_REPEATS, random_state=SEED
    )

    assert result.feature_names == tuple(X.columns)
    assert result.importances.shape == (X.shape[1], N_REPEATS)
    np.testing.assert_allclose(result.importances, expected.importances, atol=1e-12, rtol=0)
    np.testing.assert_allclose(result.importances_mean, expected.importances_mean, atol=1e-12, rtol=0)
    np.testing.assert_allclose(result.importances_std, expected.importances_std, atol=1e-12, rtol=0)
    assert result.baseline_score == pytest.approx(get_scorer(scoring)(model.estimator, X, y), abs=1e-12)


def test_permutation_importance_small_batches_same_numbers(adult_model, adult_data):
    X, y = adult_data
    X, y = X.iloc[:500], y.iloc[:500]
    model = CountingModel(adult_model.estimator)

    default = permutation_importance(model, X, y, n_repeats=N_REPEATS, random_state=SEED)
    default_calls = list(model.call_rows)
    model.call_rows.clear()
    batched = permutation_importance(model, X, y, n_repeats=N_REPEATS, random_state=SEED, batch_rows=5000)

    np.testing.assert_array_equal(batched.importances, default.importances)
    # 14 features x 3 repeats = 42 permuted copies of 500 rows: 10 copies fit in
    # 5000 rows, so 5 stacked calls follow the one call for the baseline score.
    n_copies = X.shape[1] * N_REPEATS
    assert model.call_rows == [500] + [5000] * 4 + [2 * 500]
    assert sum(model.call_rows) == 500 + n_copies * 500
    assert default_calls == [500, n_copies * 500]


def test_permutation_importance_predicts_stacked_batches(california_model, california_data):
    X, y = california_data
    model = CountingModel(california_model.estimator)

    permutation_importance(model, X, y, n_repeats=N_REPEATS, random_state=SEED, batch_rows=20_000)

    n_copies = X.shape[1] * N_REPEATS
    copies_per_call = 20_000 // len(X)
    assert len(model.call_rows) == 1 + math.ceil(n_copies / copies_per_call)
    assert len(model.call_rows) < n_copies
    assert max(model.call_rows) == copies_per_call * len(X)


def test_permutation_importance_group_of_one_equals_sklearn(adult_model, adult_data):
    X, y = adult_data

    result = permutation_importance(
        adult_model, X, y, n_repeats=N_REPEATS, random_state=SEED, feature_groups={"years": ["age"]}
    )
    expected = sklearn_permutation_importance(
        adult_model.estimator, X, y, n_repeats=N_REPEATS, random_state=SEED
    )

    assert result.feature_names == ("years",) + tuple(name for name in X.columns if name != "age")
    np.testing.assert_allclose(
        result.importances[0], expected.importances[list(X.columns).index("age")], atol=1e-12, rtol=0
    )


def test_permutation_importance_group_permutes_jointly(adult_model, adult_data):
    X, y = adult_data
    capital = ["capital-gain", "capital-loss"]

    result = permutation_importance(
        adult_model, X, y, scoring="neg_log_loss", n_repeats=N_REPEATS, random_state=SEED,
        feature_groups={"capital": capital},
    )
    expected = _joint_permutation_importances(
        adult_model.estimator, X, y, capital, scoring="neg_log_loss", n_repeats=N_REPEATS,
        random_state=SEED,
    )

    others = [name for name in X.columns if name not in capital]
    assert result.feature_names == ("capital",) + tuple(others)
    assert result.feature_groups == {"capital": capital}
    assert result.importances.shape == (len(others) + 1, N_REPEATS)
    np.testing.assert_allclose(result.importances[0], expected, atol=1e-12, rtol=0)


def test_joint_reference_matches_sklearn(adult_model, adult_data):
    # The hand-written reference above must agree with scikit-learn where both apply.
    X, y = adult_data
    expected = sklearn_permutation_importance(
        adult_model.estimator, X, y, n_repeats=N_REPEATS, random_state=SEED
    )

    reference = _joint_permutation_importances(
        adult_model.estimator, X, y, ["education"], scoring="accuracy", n_repeats=N_REPEATS,
        random_state=SEED,
    )

    np.testing.assert_allclose(
        reference, expected.importances[list(X.columns).index("education")], atol=1e-12, rtol=0
    )


@pytest.mark.parametrize(
    "feature_groups, message",
    [
        ({"money": ["capital-gain", "salary"]}, r"feature group 'money'.*unknown: \['salary'\]"),
        ({"money": []}, r"feature group 'money' must list features"),
        ({"a": ["age", "sex"], "b": ["sex"]}, r"\['sex'\] appear in more than one group"),
        (["age", "sex"], r"feature_groups must map a group name"),
    ],
)
def test_permutation_importance_bad_feature_groups(adult_model, adult_data, feature_groups, message):
    X, y = adult_data

    with pytest.raises(InvalidParameterError, match=message):
        permutation_importance(adult_model, X, y, feature_groups=feature_groups)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"scoring": "r2"}, r"scoring must be one of \['accuracy'.* for a classification model, got 'r2'"),
        ({"scoring": "precision"}, r"scoring must be one of .*got 'precision'"),
        ({"n_repeats": 0}, r"n_repeats must be between 1 and 1000, got 0"),
        ({"n_repeats": 2.5}, r"n_repeats must be an integer, got 2.5"),
        ({"batch_rows": 0}, r"batch_rows must be at least 1, got 0"),
    ],
)
def test_permutation_importance_bad_options(adult_model, adult_data, options, message):
    X, y = adult_data

    with pytest.raises(InvalidParameterError, match=message):
        permutation_importance(adult_model, X, y, **options)


def test_permutation_importance_regressor_scoring(california_model, california_data):
    X, y = california_data

    with pytest.raises(InvalidParameterError, match=r"for a regression model, got 'accuracy'"):
        permutation_importance(california_model, X, y, scoring="accuracy")


def test_permutation_importance_y_length_mismatch(adult_model, adult_data):
    X, y = adult_data

    with pytest.raises(UnusableInputError, match=rf"y has {len(y) - 1} values but X has {len(X)} rows"):
        permutation_importance(adult_model, X, y.iloc[:-1])


def test_permutation_importance_labels_not_classes(adult_model, adult_data):
    X, y = adult_data
    y = y.replace({">50K": "rich"})

    with pytest.raises(UnusableInputError, match=r"label\(s\) \['rich'\] that are not classes"):
        permutation_importance(adult_model, X, y)


def test_permutation_importance_missing_labels(adult_model, adult_data):
    X, y = adult_data
    y = y.copy()
    y.iloc[:3] = None

    with pytest.raises(UnusableInputError, match=r"the target has 3 missing value\(s\)"):
        permutation_importance(adult_model, X, y)


def test_permutation_importance_non_numeric_target(california_model, california_data):
    X, y = california_data
    y = y.astype(object)
    y.iloc[0] = "expensive"

    with pytest.raises(UnusableInputError, match=r"regression target has missing or non-numeric values"):
        permutation_importance(california_model, X, y)


def test_permutation_importance_missing_columns(adult_model, adult_data):
    X, y = adult_data

    with pytest.raises(UnusableInputError, match=r"lacks 1 column\(s\).*\['sex'\]") as raised:
        permutation_importance(adult_model, X.drop(columns="sex"), y)
    assert raised.value.details["missing_columns"] == ["sex"]
