"""ONNX models through onnxruntime: converted scikit-learn pipelines and networks.

Two input layouts are supported. A graph with one input per column (what
skl2onnx makes of a pipeline on a DataFrame) takes each raw column as an
(n_rows, 1) tensor, strings included. A graph with a single 2-D input takes
every feature as one float matrix, in the order of ``feature_names``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .._errors import UnsupportedFormatError, UnusableInputError
from ._base import CLASSIFICATION, REGRESSION, Model

# onnxruntime type strings of tensor inputs, and the NumPy dtype fed to each.
_INPUT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": object,
    "tensor(bool)": np.bool_,
}
# Output names that skl2onnx and common exporters give to class probabilities.
_PROBABILITY_OUTPUTS = ("probabilities", "output_probability", "probability", "probs")
_LABEL_OUTPUTS = ("label", "output_label")


def _class_labels_in_graph(graph) -> list[str] | None:
    """Class labels stored in a classifier or ZipMap node, if any."""
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [value.decode() for value in attribute.strings]
            if attribute.name in ("classlabels_int64s", "classlabels_ints") and attribute.ints:
                return [str(value) for value in attribute.ints]
    return None


def _onnx_name(name: str) -> str:
    """Return the input name that skl2onnx derives from a column name."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _match_inputs(feature_names: list[str], input_names: list[str]) -> dict[str, str]:
    """Map each feature to its graph input, by exact name or by skl2onnx's renaming."""
    if len(feature_names) != len(input_names):
        raise UnusableInputError(
            f"the ONNX graph has {len(input_names)} inputs {input_names} but metadata lists "
            f"{len(feature_names)} feature names."
        )
    by_onnx_name = {_onnx_name(name): name for name in input_names}
    mapping = {}
    for feature in feature_names:
        name = feature if feature in input_names else by_onnx_name.get(_onnx_name(feature))
        if name is None:
            raise UnusableInputError(
                f"feature {feature!r} matches none of the ONNX graph's inputs {input_names}; "
                "give feature_names that match the inputs."
            )
        mapping[feature] = name
    return mapping


class OnnxModel(Model):
    """An ONNX graph run by onnxruntime on the CPU."""

    def __init__(self, data: bytes, *, digest: str, metadata: dict | None = None):
        import onnx
        import onnxruntime

        metadata = dict(metadata or {})
        try:
            self._session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise UnsupportedFormatError(f"onnxruntime cannot load the ONNX file: {error}") from error
        graph = onnx.load_model_from_string(data).graph

        inputs = self._session.get_inputs()
        unsupported = [f"{item.name} ({item.type})" for item in inputs if item.type not in _INPUT_DTYPES]
        if unsupported:
            raise UnusableInputError(
                f"the ONNX graph has input(s) of unsupported types: {unsupported}; inputs must be "
                f"tensors of {sorted(_INPUT_DTYPES)}."
            )
        self._per_column = len(inputs) > 1 or (len(inputs) == 1 and "feature_names" not in metadata
                                                and inputs[0].shape[-1] == 1)
        input_names = [item.name for item in inputs]
        if self._per_column:
            feature_names = list(metadata.get("feature_names") or input_names)
            self._input_of = _match_inputs(feature_names, input_names)
        else:
            self._input_of = {}
            feature_names = metadata.get("feature_names")
            if feature_names is None:
                raise UnusableInputError(
                    "the ONNX graph takes one matrix input, which does not name its columns; supply "
                    "feature_names in the model metadata, in the order of the matrix columns."
                )
            width = inputs[0].shape[-1]
            if isinstance(width, int) and width != len(feature_names):
                raise UnusableInputError(
                    f"the ONNX input {inputs[0].name!r} takes {width} columns but metadata lists "
                    f"{len(feature_names)} feature names."
                )
        self._inputs = {item.name: _INPUT_DTYPES[item.type] for item in inputs}
        self._matrix_input = inputs[0].name

        outputs = self._session.get_outputs()
        names = [item.name for item in outputs]
        self._output = metadata.get("output_name") or next(
            (name for name in names if name in _PROBABILITY_OUTPUTS),
            next((name for name in names if name not in _LABEL_OUTPUTS), names[0]),
        )
        if self._output not in names:
            raise UnusableInputError(f"output_name {self._output!r} is not an output of the graph {names}.")
        has_label = any(name in _LABEL_OUTPUTS for name in names)

        task = metadata.get("task") or (CLASSIFICATION if has_label else None)
        if task not in (CLASSIFICATION, REGRESSION):
            raise UnusableInputError(
                "cannot tell whether the ONNX model is a classifier or a regressor; supply "
                "task='classification' or 'regression' in the model metadata, and class_names "
                "for a classifier."
            )
        class_names = metadata.get("class_names") or (
            _class_labels_in_graph(graph) if task == CLASSIFICATION else None
        )
        if task == CLASSIFICATION and class_names is None:
            raise UnusableInputError(
                "the ONNX graph does not record its class labels; supply class_names in the model "
                "metadata, in the order of the output columns."
            )
        self._output_kind = metadata.setdefault("output", "probabilities" if has_label else "logits")
        super().__init__(task=task, feature_names=feature_names, class_names=class_names,
                         format="onnx", digest=digest, metadata=metadata)

    def _feed(self, features: pd.DataFrame) -> dict:
        if not self._per_column:
            dtype = self._inputs[self._matrix_input]
            return {self._matrix_input: features.to_numpy(dtype=np.float64, na_value=np.nan).astype(dtype)}
        feed = {}
        for feature, name in self._input_of.items():
            dtype = self._inputs[name]
            column = features[feature]
            if dtype is object:
                # NOTE: ONNX string tensors cannot hold a missing value, so a
                # missing string is sent as "" (what skl2onnx's string imputer
                # matches with missing_values="").
                values = column.astype(object).where(column.notna(), "").map(str).to_numpy()
            else:
                values = column.to_numpy(dtype=np.float64, na_value=np.nan)
                if np.issubdtype(dtype, np.integer) and np.isnan(values).any():
                    raise UnusableInputError(
                        f"column {name!r} has missing values, but the ONNX input takes integers; "
                        "impute them first."
                    )
                values = values.astype(dtype)
            feed[name] = values.reshape(-1, 1)
        return feed

    def _predict_array(self, features: pd.DataFrame) -> np.ndarray:
        output = self._session.run([self._output], self._feed(features))[0]
        if isinstance(output, list):
            # A ZipMap output: one {label: probability} dict per row.
            output = np.array([[row[label] for label in row] for row in output])
        output = np.asarray(output, dtype=np.float64)
        if not self.is_classifier:
            return output.reshape(-1)
        output = output.reshape(len(features), -1)
        if output.shape[1] == 1:
            positive = 1 / (1 + np.exp(-output[:, 0])) if self._output_kind == "logits" else output[:, 0]
            return np.stack([1 - positive, positive], axis=1)
        if self._output_kind == "logits":
            shifted = np.exp(output - output.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)
        return output


def load_onnx(data: bytes, *, digest: str, metadata: dict | None) -> OnnxModel:
    model = OnnxModel(data, digest=digest, metadata=metadata)
    # One prediction on zeros checks that outputs agree with the class names.
    if model._per_column:
        probe = pd.DataFrame({feature: ([""] if model._inputs[name] is object else [0])
                              for feature, name in model._input_of.items()})
    else:
        probe = pd.DataFrame([[0.0] * len(model.feature_names)], columns=model.feature_names)
    try:
        predictions = model.predict(probe)
    except Exception as error:  # onnxruntime raises its own exception types
        raise UnusableInputError(f"the ONNX model failed on a probe row: {error}") from error
    if model.is_classifier and predictions.shape[1] != len(model.class_names):
        raise UnusableInputError(
            f"the ONNX model returns {predictions.shape[1]} outputs per row but the model has "
            f"{len(model.class_names)} class names {list(model.class_names)}."
        )
    return model
