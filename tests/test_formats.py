"""ONNX and torch.export models: loaded by content, explained over HTTP.

Each model is compared with the same model in another format, since a
model-agnostic explainer must give the same answer for the same function.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch

import explainer
from explainer import UnusableInputError, load_model

SEED = 0


def _upload(client, data: bytes, metadata=None, filename="model.bin"):
    form = {"file": (io.BytesIO(data), filename)}
    if metadata is not None:
        form["metadata"] = json.dumps(metadata)
    response = client.post("/models", data=form, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json


def _upload_dataset(client, frame: pd.DataFrame, target: str):
    form = {"file": (io.BytesIO(frame.to_csv(index=False).encode()), "data.csv"), "target": target}
    response = client.post("/datasets", data=form, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["id"]


def _explain(client, model_id, dataset_id, method, parameters):
    response = client.post("/explanations?wait=120", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": method, "parameters": parameters})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "succeeded", response.json
    return response.json["result"]


@pytest.fixture(scope="module")
def breast_cancer_metadata(breast_cancer_frame):
    return {
        "feature_names": list(breast_cancer_frame.columns.drop("target")),
        "task": "classification",
        "class_names": ["malignant", "benign"],
    }


@pytest.fixture(scope="module")
def mlp_module(training, breast_cancer_frame):
    return training.train_breast_cancer_mlp(breast_cancer_frame)


@pytest.fixture(scope="module")
def exported_program_bytes(mlp_module, breast_cancer_metadata):
    example = torch.zeros((8, 30))
    program = torch.export.export(
        mlp_module, (example,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={"explainer.json": json.dumps(breast_cancer_metadata)})
    return buffer.getvalue()


@pytest.fixture(scope="module")
def onnx_network_bytes(mlp_module):
    buffer = io.BytesIO()
    torch.onnx.export(mlp_module, (torch.zeros((8, 30)),), buffer, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def adult_twin_pipelines(adult_frame):
    """The same adult pipeline twice: for skops (NaN missing) and for ONNX ("" missing).

    skl2onnx converts string imputers only when the missing marker is a
    string, so the ONNX twin marks missing strings with "". Both are fitted
    on the same rows and give the same predictions.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = adult_frame.iloc[:4000]
    X, y = frame.drop(columns="income"), frame["income"]
    categorical = [name for name in X.columns if not pd.api.types.is_numeric_dtype(X[name])]
    numeric = [name for name in X.columns if name not in categorical]

    def build(missing_marker):
        categories = Pipeline([
            ("impute", SimpleImputer(missing_values=missing_marker, strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ])
        preprocess = ColumnTransformer([("numeric", "passthrough", numeric), ("categorical", categories, categorical)])
        return Pipeline([("preprocess", preprocess),
                         ("model", GradientBoostingClassifier(n_estimators=30, random_state=SEED))])

    with_nan = build(np.nan).fit(X, y)
    filled = X.copy()
    filled[categorical] = filled[categorical].astype(object).where(filled[categorical].notna(), "")
    with_empty = build("").fit(filled, y)
    return with_nan, with_empty, X, categorical


@pytest.fixture(scope="module")
def adult_onnx_bytes(adult_twin_pipelines):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    _, with_empty, X, categorical = adult_twin_pipelines
    types = [(name, StringTensorType([None, 1]) if name in categorical else Int64TensorType([None, 1]))
             for name in X.columns]
    return convert_sklearn(with_empty, initial_types=types, options={"zipmap": False}).SerializeToString()


def test_onnx_pipeline_string_inputs_predicts_like_sklearn(adult_onnx_bytes, adult_twin_pipelines):
    with_nan, _, X, _ = adult_twin_pipelines

    unnamed = load_model(adult_onnx_bytes)
    model = load_model(adult_onnx_bytes, metadata={"feature_names": list(X.columns)})

    assert "education_num" in unnamed.feature_names
    assert model.format == "onnx"
    assert model.class_names == ("<=50K", ">50K")
    assert model.feature_names == tuple(X.columns)
    # ONNX tree ensembles compute in float32.
    np.testing.assert_allclose(model.predict(X), with_nan.predict_proba(X), atol=1e-5)


def test_onnx_pipeline_matches_skops_over_http(client, adult_onnx_bytes, adult_twin_pipelines, adult_frame):
    import skops.io

    with_nan, _, X, _ = adult_twin_pipelines
    onnx_model = _upload(client, adult_onnx_bytes, {"feature_names": list(X.columns)}, filename="adult.bin")
    skops_model = _upload(client, skops.io.dumps(with_nan))
    dataset_id = _upload_dataset(client, adult_frame.iloc[:1500], "income")
    parameters = {"n_rows": 10, "background_size": 20, "explainer": "permutation", "random_state": 1}

    from_onnx = _explain(client, onnx_model["id"], dataset_id, "shap", parameters)
    from_skops = _explain(client, skops_model["id"], dataset_id, "shap", parameters)
    importance_onnx = _explain(client, onnx_model["id"], dataset_id, "permutation",
                               {"n_repeats": 2, "scoring": "neg_log_loss"})
    importance_skops = _explain(client, skops_model["id"], dataset_id, "permutation",
                                {"n_repeats": 2, "scoring": "neg_log_loss"})

    # onnxruntime computes trees in float32, and its last bits vary with the
    # batch a row is predicted in, so additivity is exact only to float32 precision.
    assert from_onnx["max_additivity_error"] < 1e-6
    np.testing.assert_allclose(from_onnx["values"], from_skops["values"], atol=1e-5)
    np.testing.assert_allclose(importance_onnx["importances"], importance_skops["importances"], atol=1e-5)


def test_onnx_network_matches_torchscript(onnx_network_bytes, mlp_module, breast_cancer_frame,
                                          breast_cancer_metadata):
    X = breast_cancer_frame.drop(columns="target")

    model = load_model(onnx_network_bytes, metadata=breast_cancer_metadata)

    with torch.no_grad():
        expected = torch.softmax(mlp_module(torch.tensor(X.to_numpy(dtype=np.float32))), dim=1).numpy()
    assert model.format == "onnx"
    np.testing.assert_allclose(model.predict(X), expected, atol=1e-6)
    result = explainer.shap_values(model, X.iloc[:5], background=X, background_size=20, random_state=SEED)
    assert result.max_additivity_error < 1e-9


def test_onnx_matrix_input_needs_feature_names(onnx_network_bytes):
    with pytest.raises(UnusableInputError, match="supply feature_names"):
        load_model(onnx_network_bytes, metadata={"task": "classification", "class_names": ["a", "b"]})


def test_torch_export_explained_over_http(client, exported_program_bytes, breast_cancer_frame):
    model = _upload(client, exported_program_bytes, filename="model.onnx")
    dataset_id = _upload_dataset(client, breast_cancer_frame, "target")

    result = _explain(client, model["id"], dataset_id, "integrated-gradients",
                      {"n_rows": 30, "baseline": "mean", "n_steps": 500})

    assert model["format"] == "torch-export"
    assert "integrated-gradients" in model["methods"]
    assert result["max_abs_convergence_delta"] < 1e-2


def test_torch_export_matches_torchscript(exported_program_bytes, mlp_module, breast_cancer_frame):
    X = breast_cancer_frame.drop(columns="target")

    model = load_model(exported_program_bytes)

    with torch.no_grad():
        expected = torch.softmax(mlp_module(torch.tensor(X.to_numpy(dtype=np.float32))), dim=1).numpy()
    np.testing.assert_allclose(model.predict(X), expected, atol=1e-6)


def test_torch_export_fixed_batch_is_rejected(mlp_module, breast_cancer_metadata):
    program = torch.export.export(mlp_module, (torch.zeros((8, 30)),))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)

    with pytest.raises(UnusableInputError, match="dynamic batch dimension"):
        load_model(buffer.getvalue(), metadata=breast_cancer_metadata)


def test_unknown_format_lists_supported(client):
    response = client.post("/models", data={"file": (io.BytesIO(b"\x08garbage"), "m.onnx")},
                           content_type="multipart/form-data")

    assert response.status_code == 415
    for name in ("skops", "torchscript", "torch-export", "onnx", "xgboost-json", "lightgbm", "catboost"):
        assert name in response.json["supported_formats"]


def test_onnx_network_explained_over_http(client, onnx_network_bytes, mlp_bytes, breast_cancer_frame,
                                          breast_cancer_metadata):
    onnx_model = _upload(client, onnx_network_bytes, breast_cancer_metadata)
    torchscript_model = _upload(client, mlp_bytes)
    dataset_id = _upload_dataset(client, breast_cancer_frame, "target")
    parameters = {"n_rows": 8, "background_size": 25, "random_state": 3}

    from_onnx = _explain(client, onnx_model["id"], dataset_id, "shap", parameters)
    from_torchscript = _explain(client, torchscript_model["id"], dataset_id, "shap", parameters)

    assert onnx_model["methods"] == ["permutation", "shap", "what-if"]
    assert from_onnx["explainer"] == "permutation"
    assert from_onnx["max_additivity_error"] < 1e-9
    np.testing.assert_allclose(from_onnx["values"], from_torchscript["values"], atol=1e-6)


def test_torch_export_wrong_feature_count_names_features(exported_program_bytes, breast_cancer_metadata):
    metadata = {**breast_cancer_metadata, "feature_names": breast_cancer_metadata["feature_names"][:29]}

    with pytest.raises(UnusableInputError, match="feature_names lists every input") as raised:
        load_model(exported_program_bytes, metadata=metadata)
    assert "dynamic batch" not in raised.value.message
