"""Model loading: format detection, unsafe formats, skops trust, TorchScript metadata."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from explainer import (
    InvalidParameterError,
    UnsupportedFormatError,
    UnusableInputError,
    integrated_gradients,
    load_model,
    permutation_importance,
    shap_values,
)
from explainer.models import detect_format
from explainer.models._formats import SAFE_FORMATS
from explainer.models._sklearn import SklearnModel


def log_features(frame):
    """A preprocessing function that skops cannot load without trusting this module."""
    return np.log1p(frame)


LOG_FEATURES_TYPE = f"{log_features.__module__}.{log_features.__qualname__}"


@pytest.fixture(scope="module")
def cancer_data(breast_cancer_frame):
    return breast_cancer_frame.drop(columns="target"), breast_cancer_frame["target"]


@pytest.fixture(scope="module")
def logistic_pipeline(cancer_data):
    X, y = cancer_data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="module")
def log_pipeline(cancer_data):
    X, y = cancer_data
    return make_pipeline(FunctionTransformer(log_features), StandardScaler(),
                         LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="module")
def mlp_module(mlp_bytes):
    return torch.jit.load(io.BytesIO(mlp_bytes))


def _torchscript_bytes(module, metadata: dict | None = None) -> bytes:
    extra_files = {} if metadata is None else {"explainer.json": json.dumps(metadata)}
    buffer = io.BytesIO()
    torch.jit.save(module, buffer, _extra_files=extra_files)
    return buffer.getvalue()


def _joblib_bytes(estimator) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer, compress=3)
    return buffer.getvalue()


def test_load_model_skops_with_text_extension(tmp_path, adult_model_bytes, adult_model, adult_frame):
    path = tmp_path / "model.txt"
    path.write_bytes(adult_model_bytes)

    model = load_model(path)

    rows = adult_frame.iloc[:50]
    assert model.format == "skops"
    assert model.digest == adult_model.digest
    assert model.task == "classification"
    assert model.class_names == ("<=50K", ">50K")
    np.testing.assert_array_equal(model.predict(rows), adult_model.predict(rows))


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"PK\x03\x04 truncated zip", None),
        (b"plain text\n", None),
        (pickle.dumps({"a": 1}), "pickle"),
        (b"\x1f\x8b\x08\x00", "joblib"),
    ],
)
def test_detect_format_by_content(data, expected):
    assert detect_format(data) == expected


def test_detect_format_of_saved_models(adult_model_bytes, mlp_bytes, logistic_pipeline):
    assert detect_format(adult_model_bytes) == "skops"
    assert detect_format(mlp_bytes) == "torchscript"
    assert detect_format(pickle.dumps(logistic_pipeline)) == "pickle"
    assert detect_format(_joblib_bytes(logistic_pipeline)) == "joblib"


@pytest.mark.parametrize("data", [b"age,income\n39,<=50K\n", b"", b"\x00" * 64])
def test_load_model_unknown_format_lists_supported(data):
    with pytest.raises(UnsupportedFormatError, match=r"supported formats: skops, torchscript") as raised:
        load_model(data)
    assert raised.value.details["supported_formats"] == list(SAFE_FORMATS)


def test_load_model_text_file_path(tmp_path):
    path = tmp_path / "model.skops"
    path.write_text("not a model\n")

    with pytest.raises(UnsupportedFormatError, match=r"not a model in a supported format"):
        load_model(path)


@pytest.mark.parametrize(
    "serialize, format",
    [
        (pickle.dumps, "pickle"),
        (_joblib_bytes, "joblib"),
    ],
)
def test_load_model_rejects_pickles_by_default(logistic_pipeline, serialize, format):
    data = serialize(logistic_pipeline)

    with pytest.raises(UnsupportedFormatError, match=rf"is a {format} file.*unpickling runs arbitrary code") \
            as raised:
        load_model(data)
    assert raised.value.details["detected_format"] == format
    assert "skops.io.dump" in raised.value.message


@pytest.mark.parametrize(
    "serialize, format",
    [
        (pickle.dumps, "pickle"),
        (_joblib_bytes, "joblib"),
    ],
)
def test_load_model_accepts_pickles_on_opt_in(logistic_pipeline, cancer_data, serialize, format):
    X, _ = cancer_data

    model = load_model(serialize(logistic_pipeline), allow_pickle=True)

    assert model.format == format
    assert model.feature_names == tuple(X.columns)
    np.testing.assert_array_equal(model.predict(X), logistic_pipeline.predict_proba(X))


def test_load_model_joblib_file(tmp_path, logistic_pipeline, cancer_data):
    X, _ = cancer_data
    path = tmp_path / "model.joblib"
    joblib.dump(logistic_pipeline, path, compress=3)

    with pytest.raises(UnsupportedFormatError, match=r"joblib file"):
        load_model(path)
    model = load_model(path, allow_pickle=True)

    np.testing.assert_array_equal(model.predict(X), logistic_pipeline.predict_proba(X))


def test_load_model_torch_pickle_opt_in():
    module = torch.nn.Sequential(torch.nn.Linear(3, 2))
    buffer = io.BytesIO()
    torch.save(module, buffer)
    metadata = {"feature_names": ["a", "b", "c"], "task": "classification", "class_names": ["no", "yes"]}

    with pytest.raises(UnsupportedFormatError, match=r"torch-pickle file.*unpickling runs arbitrary code"):
        load_model(buffer.getvalue(), metadata=metadata)
    model = load_model(buffer.getvalue(), metadata=metadata, allow_pickle=True)

    frame = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})
    with torch.no_grad():
        expected = torch.softmax(module(torch.tensor([[1.0, 2.0, 3.0]])), dim=1).numpy()
    assert model.format == "torch-pickle"
    np.testing.assert_allclose(model.predict(frame), expected, atol=1e-7)


def test_load_model_skops_untrusted_type_listed(log_pipeline):
    data = skops.io.dumps(log_pipeline)

    with pytest.raises(UnusableInputError, match=rf"1 untrusted type\(s\): \['{LOG_FEATURES_TYPE}'\]") as raised:
        load_model(data)
    assert raised.value.details["untrusted_types"] == [LOG_FEATURES_TYPE]


@pytest.mark.parametrize("trusted", [LOG_FEATURES_TYPE, f"{log_features.__module__}.*"])
def test_load_model_skops_trusted_type_loads(log_pipeline, cancer_data, trusted):
    X, _ = cancer_data

    model = load_model(skops.io.dumps(log_pipeline), trusted_types=[trusted])

    np.testing.assert_array_equal(model.predict(X), log_pipeline.predict_proba(X))


def test_load_model_skops_other_trust_rejected(log_pipeline):
    with pytest.raises(UnusableInputError, match=r"untrusted type"):
        load_model(skops.io.dumps(log_pipeline), trusted_types=["mypackage.*"])


def test_load_model_corrupt_skops():
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("schema.json", "{not json")

    with pytest.raises(UnsupportedFormatError, match=r"looks like a skops archive but cannot be read"):
        load_model(archive.getvalue())


def test_load_model_torchscript_embedded_metadata(mlp_bytes, mlp_module, breast_cancer_frame):
    X = breast_cancer_frame.drop(columns="target")

    model = load_model(mlp_bytes)

    with torch.no_grad():
        logits = mlp_module(torch.tensor(X.to_numpy(dtype=np.float32)))
    assert model.format == "torchscript"
    assert model.feature_names == tuple(X.columns)
    assert model.class_names == ("malignant", "benign")
    assert model.metadata["output"] == "logits"
    assert "integrated-gradients" in model.applicable_methods()
    np.testing.assert_allclose(model.predict(X), torch.softmax(logits, dim=1).numpy(), atol=1e-7)


def test_load_model_torchscript_metadata_argument(mlp_module, breast_cancer_frame):
    names = [name for name in breast_cancer_frame.columns if name != "target"]
    metadata = {"feature_names": names, "task": "classification", "class_names": ["bad", "good"]}

    model = load_model(_torchscript_bytes(mlp_module), metadata=metadata)

    assert model.class_names == ("bad", "good")
    assert model.feature_names == tuple(names)


def test_load_model_torchscript_without_metadata(mlp_module):
    with pytest.raises(UnusableInputError, match=r"does not record \['feature_names', 'task', 'class_names'\]; supply them"):
        load_model(_torchscript_bytes(mlp_module))


@pytest.mark.parametrize("n_names", [5, 31])
def test_load_model_torchscript_wrong_feature_count(mlp_bytes, breast_cancer_frame, n_names):
    names = [f"x{index}" for index in range(n_names)]

    with pytest.raises(UnusableInputError, match=rf"input of shape \(2, {n_names}\).*must match") as raised:
        load_model(mlp_bytes, metadata={"feature_names": names})
    assert "Traceback" not in raised.value.message
    assert "\n" not in raised.value.message


def test_load_model_torchscript_class_count_mismatch(mlp_bytes):
    with pytest.raises(UnusableInputError, match=r"returns 2 outputs per row but the metadata lists 3 classes"):
        load_model(mlp_bytes, metadata={"class_names": ["a", "b", "c"]})


def test_load_model_torchscript_bad_output_kind(mlp_bytes):
    with pytest.raises(UnusableInputError, match=r"metadata output must be one of \['logits', 'probabilities'\]"):
        load_model(mlp_bytes, metadata={"output": "scores"})


def test_load_model_torchscript_invalid_task(mlp_bytes):
    with pytest.raises(InvalidParameterError, match=r"task must be one of \['classification', 'regression'\]"):
        load_model(mlp_bytes, metadata={"task": "ranking"})


def test_sklearn_model_without_column_names(cancer_data):
    X, y = cancer_data
    estimator = LinearRegression().fit(X.to_numpy(), y)

    with pytest.raises(UnusableInputError, match=r"fitted without column names; supply feature_names"):
        SklearnModel(estimator, format="skops", digest="sha256:test")
    with pytest.raises(UnusableInputError, match=r"lists 2 feature names but the estimator takes 30 inputs"):
        SklearnModel(estimator, format="skops", digest="sha256:test", metadata={"feature_names": ["a", "b"]})
    model = SklearnModel(estimator, format="skops", digest="sha256:test", metadata={"feature_names": list(X.columns)})
    np.testing.assert_array_equal(model.predict(X), estimator.predict(X.to_numpy()))


def test_sklearn_model_metadata_names_differ(logistic_pipeline):
    with pytest.raises(UnusableInputError, match=r"differ from the names the estimator was fitted with"):
        SklearnModel(logistic_pipeline, format="skops", digest="sha256:test",
                     metadata={"feature_names": ["a"] * 30})


def test_predict_missing_columns_lists_all(adult_model, adult_frame):
    frame = adult_frame.drop(columns=["sex", "age", "native-country"])

    with pytest.raises(UnusableInputError, match=r"lacks 3 column\(s\).*\['age', 'sex', 'native-country'\]") \
            as raised:
        adult_model.predict(frame)
    assert raised.value.details["missing_columns"] == ["age", "sex", "native-country"]


def test_predict_ignores_extra_columns_and_order(adult_model, adult_frame):
    rows = adult_frame.iloc[:20]
    shuffled = rows[list(reversed(rows.columns))]

    predictions = adult_model.predict(shuffled)

    assert predictions.shape == (20, 2)
    np.testing.assert_array_equal(predictions, adult_model.estimator.predict_proba(rows.drop(columns="income")))
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, atol=1e-12)


def test_predict_empty_frame(adult_model, california_model, adult_frame, california_frame):
    assert adult_model.predict(adult_frame.iloc[:0]).shape == (0, 2)
    assert california_model.predict(california_frame.iloc[:0]).shape == (0,)


def test_predict_rejects_non_frame(adult_model, adult_frame):
    with pytest.raises(InvalidParameterError, match=r"data must be a pandas DataFrame, got ndarray"):
        adult_model.predict(adult_frame.to_numpy())


def test_methods_leave_model_and_data_unchanged(adult_model, adult_frame):
    rows = adult_frame.sample(300, random_state=0).reset_index(drop=True)
    rows_before = rows.copy()
    predictions_before = adult_model.predict(rows)
    params_before = repr(adult_model.estimator.get_params(deep=True))

    shap_values(adult_model, rows.iloc[:20], background=rows, random_state=0)
    shap_values(adult_model, rows.iloc[:20], background=rows, output_space="log_odds", random_state=0)
    permutation_importance(adult_model, rows, rows["income"], n_repeats=2, random_state=0)

    np.testing.assert_array_equal(adult_model.predict(rows), predictions_before)
    assert repr(adult_model.estimator.get_params(deep=True)) == params_before
    pd.testing.assert_frame_equal(rows, rows_before)


def test_gradient_methods_leave_module_unchanged(mlp_model, breast_cancer_frame):
    rows = breast_cancer_frame.iloc[:10]
    state_before = {name: tensor.clone() for name, tensor in mlp_model.torch_module.state_dict().items()}
    predictions_before = mlp_model.predict(rows)

    integrated_gradients(mlp_model, rows, n_steps=20)

    for name, tensor in mlp_model.torch_module.state_dict().items():
        assert torch.equal(tensor, state_before[name]), name
    np.testing.assert_array_equal(mlp_model.predict(rows), predictions_before)
