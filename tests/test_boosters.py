"""Native XGBoost, LightGBM and CatBoost files: loading, predictions, TreeSHAP, bad metadata.

The models are small (30 trees) and trained once per session on the real
datasets: breast cancer (binary, with missing values added), wine (three
classes) and the numeric columns of California housing (regression).
"""

from __future__ import annotations

import io
import json
import re

import catboost
import lightgbm
import numpy as np
import pandas as pd
import pytest
import skops.io
import xgboost
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

from explainer import UnsupportedFormatError, UnusableInputError, load_model, permutation_importance, shap_values
from tests.conftest import DATASETS, problem_of

N_TREES = 30
FAMILIES = ("xgboost", "lightgbm", "catboost")
CALIFORNIA_TARGET = "median_house_value"
# Breast-cancer columns that get missing values, in training data and in the
# rows whose explanations are checked.
MISSING_COLUMNS = ["mean radius", "mean texture", "worst area", "worst concavity"]


@pytest.fixture(scope="session")
def cancer(breast_cancer_frame):
    """Breast-cancer features with a tenth of MISSING_COLUMNS missing, and the 0/1 target."""
    X = breast_cancer_frame.drop(columns="target")
    rng = np.random.default_rng(0)
    for name in MISSING_COLUMNS:
        X.loc[rng.choice(len(X), size=len(X) // 10, replace=False), name] = np.nan
    return X, breast_cancer_frame["target"]


@pytest.fixture(scope="session")
def missing_rows(cancer):
    """Twelve rows with two to four of MISSING_COLUMNS missing."""
    X, _ = cancer
    rows = X.iloc[::47].iloc[:12].reset_index(drop=True)
    for position in range(len(rows)):
        missing = MISSING_COLUMNS[position % 3: position % 3 + 2 + position % 3]
        rows.loc[position, missing] = np.nan
    return rows


@pytest.fixture(scope="session")
def wine():
    frame = pd.read_csv(DATASETS / "wine.csv")
    return frame.drop(columns="target"), frame["target"]


@pytest.fixture(scope="session")
def california(california_frame):
    X = california_frame.drop(columns=[CALIFORNIA_TARGET, "ocean_proximity"])
    return X, california_frame[CALIFORNIA_TARGET]


def _catboost_bytes(model, directory) -> bytes:
    path = directory / "model.cbm"
    model.save_model(str(path))
    return path.read_bytes()


def _train(family: str, problem: str, X, y, directory):
    """Fit a small model; return (the library's model object, its native file)."""
    if family == "xgboost":
        objective = {"binary": "binary:logistic", "multiclass": "multi:softprob",
                     "regression": "reg:squarederror"}[problem]
        extra = {"num_class": 3} if problem == "multiclass" else {}
        booster = xgboost.train({"objective": objective, "max_depth": 3, "seed": 0, "nthread": 1, **extra},
                                xgboost.DMatrix(X, label=y), N_TREES)
        return booster, bytes(booster.save_raw("json"))
    if family == "lightgbm":
        objective = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[problem]
        extra = {"num_class": 3} if problem == "multiclass" else {}
        booster = lightgbm.train({"objective": objective, "num_leaves": 8, "seed": 0, "verbose": -1, "num_threads": 1, **extra},
                                 lightgbm.Dataset(X, label=y), N_TREES)
        return booster, booster.model_to_string().encode()
    options = {"iterations": N_TREES, "depth": 4, "random_seed": 0, "verbose": 0, "allow_writing_files": False}
    if problem == "regression":
        model = catboost.CatBoostRegressor(**options).fit(X, y)
    else:
        loss = "MultiClass" if problem == "multiclass" else "Logloss"
        model = catboost.CatBoostClassifier(loss_function=loss, **options).fit(X, y)
    return model, _catboost_bytes(model, directory)


@pytest.fixture(scope="session")
def data(cancer, wine, california):
    return {"binary": cancer, "multiclass": wine, "regression": california}


@pytest.fixture(scope="session")
def trained(data, tmp_path_factory):
    """(family, problem) -> (the library's model object, its native file)."""
    models = {}
    for family in FAMILIES:
        for problem, (X, y) in data.items():
            directory = tmp_path_factory.mktemp(f"{family}-{problem}")
            models[family, problem] = _train(family, problem, X, y, directory)
    return models


@pytest.fixture(scope="session")
def sklearn_files(cancer, wine):
    """scikit-learn gradient boosting saved with skops, keyed by (name, problem)."""
    files = {}
    for problem, (X, y) in {"binary": cancer, "multiclass": wine}.items():
        histogram = HistGradientBoostingClassifier(max_iter=N_TREES, random_state=0).fit(X, y)
        files["hist-gradient-boosting", problem] = (histogram, skops.io.dumps(histogram))
    X, y = wine
    boosting = GradientBoostingClassifier(n_estimators=N_TREES, max_depth=3, random_state=0).fit(X, y)
    files["gradient-boosting", "multiclass"] = (boosting, skops.io.dumps(boosting))
    # GradientBoostingClassifier rejects missing values, so the binary one
    # imputes them first.
    X, y = cancer
    boosting = make_pipeline(SimpleImputer(strategy="median"),
                             GradientBoostingClassifier(n_estimators=N_TREES, max_depth=3, random_state=0))
    files["gradient-boosting", "binary"] = (boosting.fit(X, y), skops.io.dumps(boosting))
    return files


def _metadata(family: str, X) -> dict | None:
    # LightGBM writes "mean radius" as "mean_radius"; the original names are
    # given back through the metadata, which accepts them.
    return {"feature_names": list(X.columns)} if family == "lightgbm" else None


def _load(trained, data, family: str, problem: str):
    X, _ = data[problem]
    return load_model(trained[family, problem][1], metadata=_metadata(family, X))


def _native_outputs(family: str, native, X, *, space: str) -> np.ndarray:
    """The library's own prediction: probabilities, margins or values, classes as columns."""
    if family == "xgboost":
        outputs = native.predict(xgboost.DMatrix(X), output_margin=space == "log_odds")
    elif family == "lightgbm":
        outputs = native.predict(X.to_numpy(), raw_score=space == "log_odds")
    elif family == "catboost":
        if space == "log_odds":
            outputs = native.predict(X, prediction_type="RawFormulaVal")
        elif space == "probability":
            outputs = native.predict_proba(X)
        else:
            outputs = native.predict(X)
    elif space == "log_odds":
        outputs = native.decision_function(X)
    else:
        outputs = native.predict_proba(X)
    outputs = np.asarray(outputs, dtype=np.float64)
    if space == "raw" or outputs.ndim == 2:
        return outputs
    # A binary model's single output is for the second class.
    return np.stack([-outputs, outputs] if space == "log_odds" else [1 - outputs, outputs], axis=1)


def _additivity_bound(family: str, expected: np.ndarray) -> float:
    # shap's interventional TreeSHAP for XGBoost and LightGBM keeps its path
    # sums in float32 (shap 0.51), so the bound is relative to the output.
    # CatBoost computes its own values in float64.
    if family == "catboost":
        return 1e-6
    return 1e-4 * float(np.abs(expected).max())


def _upload_model(client, data: bytes, *, metadata=None, filename="model.skops"):
    form = {"file": (io.BytesIO(data), filename)}
    if metadata is not None:
        form["metadata"] = json.dumps(metadata)
    return client.post("/models", data=form, content_type="multipart/form-data")


def _upload_dataset(client, data: bytes, *, target: str):
    form = {"file": (io.BytesIO(data), "data.csv"), "target": target}
    return client.post("/datasets", data=form, content_type="multipart/form-data")


BINARY_FILES = ["xgboost-json", "xgboost-ubj", "lightgbm", "catboost"]


@pytest.fixture(scope="session")
def binary_files(trained):
    """The binary models' native files, keyed by format name."""
    xgboost_booster = trained["xgboost", "binary"][0]
    return {
        "xgboost-json": ("xgboost", trained["xgboost", "binary"][1]),
        "xgboost-ubj": ("xgboost", bytes(xgboost_booster.save_raw("ubj"))),
        "lightgbm": ("lightgbm", trained["lightgbm", "binary"][1]),
        "catboost": ("catboost", trained["catboost", "binary"][1]),
    }


@pytest.mark.parametrize("format", BINARY_FILES)
def test_booster_file_loads_with_misleading_extension(tmp_path, binary_files, trained, cancer, format):
    family, data = binary_files[format]
    X, _ = cancer
    path = tmp_path / "model.skops"
    path.write_bytes(data)

    model = load_model(path, metadata=_metadata(family, X))

    native = trained[family, "binary"][0]
    assert model.format == format
    assert model.task == "classification"
    assert model.feature_names == tuple(X.columns)
    assert model.class_names == ("0", "1")
    assert model.estimator is not None
    np.testing.assert_array_equal(model.predict(X), _native_outputs(family, native, X, space="probability"))
    np.testing.assert_array_equal(model.predict_margin(X), _native_outputs(family, native, X, space="log_odds"))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_booster_predicts_like_its_library(trained, data, family, problem):
    X, _ = data[problem]
    native = trained[family, problem][0]

    model = _load(trained, data, family, problem)

    if problem == "regression":
        assert model.task == "regression"
        assert model.class_names is None
        np.testing.assert_array_equal(model.predict(X), _native_outputs(family, native, X, space="raw"))
        return
    n_classes = 3 if problem == "multiclass" else 2
    assert model.class_names == tuple(str(index) for index in range(n_classes))
    probabilities = model.predict(X)
    assert probabilities.shape == (len(X), n_classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(probabilities, _native_outputs(family, native, X, space="probability"))
    np.testing.assert_array_equal(model.predict_margin(X), _native_outputs(family, native, X, space="log_odds"))


@pytest.fixture(scope="session")
def dataset_files(cancer):
    X, y = cancer
    return {
        "binary": (X.assign(target=y).to_csv(index=False).encode(), "target"),
        "multiclass": ((DATASETS / "wine.csv").read_bytes(), "target"),
        "regression": ((DATASETS / "california_housing.csv").read_bytes(), CALIFORNIA_TARGET),
    }


HTTP_CASES = [
    *[(format, "binary", space) for format in BINARY_FILES for space in ("probability", "log_odds")],
    *[(family, "regression", "raw") for family in FAMILIES],
    ("xgboost", "multiclass", "log_odds"),
    ("catboost", "multiclass", "probability"),
    ("catboost", "multiclass", "log_odds"),
]


@pytest.mark.parametrize("name, problem, space", HTTP_CASES)
def test_booster_shap_over_http_is_additive(client, trained, data, binary_files, dataset_files, name, problem,
                                            space):
    family, model_file = binary_files[name] if problem == "binary" else (name, trained[name, problem][1])
    X, _ = data[problem]
    dataset_bytes, target = dataset_files[problem]
    model = _upload_model(client, model_file, metadata=_metadata(family, X))
    assert model.status_code == 201, model.json
    dataset = _upload_dataset(client, dataset_bytes, target=target)
    assert dataset.status_code == 201, dataset.json

    response = client.post("/explanations?wait=60", json={
        "model_id": model.json["id"], "dataset_id": dataset.json["id"], "method": "shap",
        "parameters": {"n_rows": 20, "output_space": space},
    })

    assert response.status_code == 200, response.json
    assert response.json["status"] == "succeeded", response.json
    result = response.json["result"]
    rows = pd.read_csv(io.BytesIO(dataset_bytes)).iloc[result["row_indices"]][list(X.columns)]
    expected = _native_outputs(family, trained[family, problem][0], rows, space=space)
    values = np.asarray(result["values"])
    reconstructed = np.asarray(result["base_values"]) + values.sum(axis=1)
    bound = _additivity_bound(family, expected)
    assert result["explainer"] == "tree"
    assert result["output_space"] == space
    assert result["notes"] == []
    assert values.shape == (20, X.shape[1]) + expected.shape[1:]
    assert result["max_additivity_error"] < bound
    np.testing.assert_allclose(reconstructed, expected, rtol=0, atol=bound)


@pytest.mark.parametrize("space", ["probability", "log_odds"])
@pytest.mark.parametrize("family", ["xgboost", "lightgbm", "hist-gradient-boosting"])
def test_missing_values_explained_additively(trained, data, sklearn_files, cancer, missing_rows, family, space):
    X, _ = cancer
    if family == "hist-gradient-boosting":
        native, model_file = sklearn_files[family, "binary"]
        model = load_model(model_file)
    else:
        native = trained[family, "binary"][0]
        model = _load(trained, data, family, "binary")

    result = shap_values(model, missing_rows, background=X, background_size=40, output_space=space,
                         random_state=0)

    expected = _native_outputs(family, native, missing_rows, space=space)
    reconstructed = result.base_values + result.values.sum(axis=1)
    bound = _additivity_bound(family, expected)
    assert missing_rows[MISSING_COLUMNS].isna().sum(axis=1).min() >= 2
    assert result.max_additivity_error < bound
    if family == "hist-gradient-boosting" and result.explainer == "permutation":
        # shap 0.51's TreeSHAP values for this model miss its output, so the
        # additivity check hands the rows to the permutation explainer.
        assert "TreeSHAP values missed the model's output" in result.notes[0]
    else:
        assert result.explainer == "tree"
    np.testing.assert_allclose(reconstructed, expected, rtol=0, atol=bound)


LAYOUT_FAMILIES = [*FAMILIES, "gradient-boosting"]


@pytest.mark.parametrize("space", ["probability", "log_odds"])
@pytest.mark.parametrize("problem", ["binary", "multiclass"])
@pytest.mark.parametrize("family", LAYOUT_FAMILIES)
def test_classifier_layout_same_for_every_family(trained, data, sklearn_files, family, problem, space):
    X, _ = data[problem]
    if family == "gradient-boosting":
        native, model_file = sklearn_files[family, problem]
        model = load_model(model_file)
    else:
        native = trained[family, problem][0]
        model = _load(trained, data, family, problem)
    rows = X.iloc[:5]
    n_classes = 3 if problem == "multiclass" else 2

    result = shap_values(model, rows, background=X, background_size=50, output_space=space, random_state=0)

    reconstructed = result.base_values + result.values.sum(axis=1)
    assert result.values.shape == (5, X.shape[1], n_classes)
    assert result.base_values.shape == (5, n_classes)
    assert result.class_names == tuple(str(index) for index in range(n_classes))
    assert result.max_additivity_error < 1e-4
    np.testing.assert_allclose(reconstructed, result.predictions, rtol=0, atol=1e-4)
    if family != "gradient-boosting" or space == "probability" or problem == "binary":
        expected = _native_outputs(family, native, rows, space=space)
        np.testing.assert_allclose(result.predictions, expected, rtol=0, atol=1e-12)
    if result.explainer == "permutation":
        assert problem == "multiclass"
        assert family != "catboost"
        assert len(result.notes) == 1
        assert "used the permutation explainer" in result.notes[0]


def test_lightgbm_multiclass_log_odds_falls_back(trained, data):
    X, _ = data["multiclass"]
    model = _load(trained, data, "lightgbm", "multiclass")

    result = shap_values(model, X.iloc[:3], background=X, background_size=30, output_space="log_odds",
                         random_state=0)

    assert result.explainer == "permutation"
    assert "reads a multiclass lightgbm.Booster as a single output" in result.notes[0]


def _serialized(family: str, booster) -> bytes:
    if family == "xgboost":
        return bytes(booster.save_raw("json"))
    if family == "lightgbm":
        return booster.model_to_string().encode()
    return bytes(booster._serialize_model())


@pytest.mark.parametrize("family", FAMILIES)
def test_explaining_leaves_booster_unchanged(trained, data, family):
    X, y = data["binary"]
    model = _load(trained, data, family, "binary")
    probabilities_before = model.predict(X)
    margins_before = model.predict_margin(X)
    serialized_before = _serialized(family, model.estimator)

    shap_values(model, X.iloc[:20], background=X, output_space="probability", random_state=0)
    shap_values(model, X.iloc[:20], background=X, output_space="log_odds", random_state=0)
    permutation_importance(model, X, y, n_repeats=2, random_state=0)

    np.testing.assert_array_equal(model.predict(X), probabilities_before)
    np.testing.assert_array_equal(model.predict_margin(X), margins_before)
    assert _serialized(family, model.estimator) == serialized_before


@pytest.fixture(scope="session")
def unnamed_xgboost(cancer) -> bytes:
    """A binary XGBoost model trained on a bare array, so it records no feature names."""
    X, y = cancer
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(X.to_numpy(), label=y), 5)
    return bytes(booster.save_raw("json"))


def test_booster_without_feature_names_rejected(client, unnamed_xgboost):
    response = _upload_model(client, unnamed_xgboost)

    body = problem_of(response)
    assert response.status_code == 422
    assert "does not record its feature names; supply feature_names" in body["detail"]
    assert "30 names" in body["detail"]


def test_booster_feature_names_from_metadata(unnamed_xgboost, cancer):
    X, _ = cancer

    model = load_model(unnamed_xgboost, metadata={"feature_names": list(X.columns)})

    assert model.feature_names == tuple(X.columns)
    assert model.predict(X).shape == (len(X), 2)


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"feature_names": [f"x{index}" for index in range(29)]},
         r"lists 29 feature names but the XGBoost model takes 30 inputs"),
        ({"feature_names": [f"x{index}" for index in range(30)], "class_names": ["a", "b", "c"]},
         r"lists 3 class names but the XGBoost model has 2 classes"),
        ({"feature_names": [f"x{index}" for index in range(30)], "task": "regression"},
         r"metadata task 'regression' differs .* objective 'binary:logistic'"),
    ],
)
def test_booster_metadata_mismatch_rejected(client, unnamed_xgboost, metadata, message):
    response = _upload_model(client, unnamed_xgboost, metadata=metadata)

    assert response.status_code == 422
    assert re.search(message, problem_of(response)["detail"])


def test_booster_metadata_names_differ_from_recorded(trained):
    wrong_names = [f"x{index}" for index in range(30)]

    with pytest.raises(UnusableInputError, match=r"differ from the names the XGBoost model records") as raised:
        load_model(trained["xgboost", "binary"][1], metadata={"feature_names": wrong_names})
    assert "'x0'" in raised.value.message
    assert "'mean radius'" in raised.value.message


def test_lightgbm_records_names_with_underscores(trained, cancer):
    X, _ = cancer

    model = load_model(trained["lightgbm", "binary"][1])

    assert model.feature_names[0] == "mean_radius"
    with pytest.raises(UnusableInputError, match=r"lacks 30 column"):
        model.predict(X)


def test_booster_regressor_rejects_class_names(trained):
    with pytest.raises(UnusableInputError, match=r"objective 'regression' makes a regressor"):
        load_model(trained["lightgbm", "regression"][1], metadata={"class_names": ["a", "b"]})


def test_booster_unsupported_objective_named(cancer):
    X, y = cancer
    booster = xgboost.train({"objective": "binary:hinge"}, xgboost.DMatrix(X, label=y), 2)

    with pytest.raises(UnusableInputError, match=r"objective 'binary:hinge' is not supported") as raised:
        load_model(bytes(booster.save_raw("json")))
    assert raised.value.details["objective"] == "binary:hinge"


@pytest.mark.parametrize(
    "format, message",
    [
        ("xgboost-json", r"looks like an XGBoost model but cannot be read"),
        ("xgboost-ubj", r"looks like an XGBoost UBJSON model but is damaged or cut short"),
        ("lightgbm", r"looks like a LightGBM model but is damaged or cut short: tree \d+ is not where"),
        ("catboost", r"looks like a CatBoost model but cannot be read"),
    ],
)
def test_booster_file_missing_middle_rejected(binary_files, format, message):
    _, data = binary_files[format]
    # The start and end stay, so the format is still recognised.
    damaged = data[: len(data) // 2] + data[-200:]

    with pytest.raises(UnsupportedFormatError, match=message):
        load_model(damaged)


def test_lightgbm_file_cut_in_parameters_rejected(binary_files):
    _, data = binary_files["lightgbm"]
    # LightGBM 4.7 itself crashes the process on this file instead of raising.
    truncated = data[: data.rindex(b"end of parameters")]

    with pytest.raises(UnsupportedFormatError, match=r"the line 'end of parameters' is missing"):
        load_model(truncated)


def test_log_link_booster_explained_by_permutation(california):
    X, y = california
    booster = xgboost.train({"objective": "count:poisson", "max_depth": 3}, xgboost.DMatrix(X, label=y / 1e5), 20)

    model = load_model(bytes(booster.save_raw("json")))
    result = shap_values(model, X.iloc[:3], background=X, background_size=20, random_state=0)

    assert model.estimator is None
    np.testing.assert_array_equal(model.predict(X.iloc[:50]), booster.predict(xgboost.DMatrix(X.iloc[:50])))
    assert result.explainer == "permutation"
    assert result.max_additivity_error < 1e-9


def test_xgboost_linear_booster_explained_by_permutation(cancer):
    X, y = cancer
    booster = xgboost.train({"objective": "binary:logistic", "booster": "gblinear", "nthread": 1},
                            xgboost.DMatrix(X, label=y), 5)

    model = load_model(bytes(booster.save_raw("json")))
    result = shap_values(model, X.iloc[:3], background=X, background_size=20, random_state=0)

    assert model.estimator is None
    assert result.explainer == "permutation"
    assert result.values.shape == (3, 30, 2)
    assert result.max_additivity_error < 1e-9


@pytest.fixture(scope="session")
def adult_catboost(adult_frame, tmp_path_factory):
    """A CatBoost classifier on 2000 adult rows, its string columns categorical."""
    sample = adult_frame.sample(2000, random_state=0)
    X, y = sample.drop(columns="income"), sample["income"]
    categorical = [name for name in X.columns if not pd.api.types.is_numeric_dtype(X[name])]
    # CatBoost rejects missing categories, so training writes them as "nan",
    # which is what the loaded model passes for a missing value too.
    filled = X.astype({name: object for name in categorical})
    filled[categorical] = filled[categorical].fillna("nan")
    model = catboost.CatBoostClassifier(iterations=N_TREES, depth=4, random_seed=0, verbose=0,
                                        allow_writing_files=False, cat_features=categorical).fit(filled, y)
    return model, _catboost_bytes(model, tmp_path_factory.mktemp("adult-catboost")), categorical


@pytest.mark.parametrize("space", ["probability", "log_odds"])
def test_catboost_categorical_features_explained(adult_catboost, adult_frame, space):
    native, model_file, categorical = adult_catboost
    features = adult_frame.drop(columns="income")
    rows = pd.concat([features[features["workclass"].isna()].iloc[:5], features.iloc[:5]], ignore_index=True)
    filled = rows.astype({name: object for name in categorical})
    filled[categorical] = filled[categorical].fillna("nan")

    model = load_model(model_file)
    result = shap_values(model, rows, background=features, background_size=50, output_space=space,
                         random_state=0)

    expected = _native_outputs("catboost", native, filled, space=space)
    assert model.class_names == ("<=50K", ">50K")
    np.testing.assert_array_equal(model.predict(rows), native.predict_proba(filled))
    assert result.explainer == "tree"
    assert result.values.shape == (10, 14, 2)
    assert result.max_additivity_error < 1e-6
    np.testing.assert_allclose(result.base_values + result.values.sum(axis=1), expected, rtol=0, atol=1e-6)
