"""Load serialized models into the one :class:`Model` interface."""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import UnsupportedFormatError
from ._base import CLASSIFICATION, REGRESSION, Model, ModelInfo, sha256_digest
from ._formats import SAFE_FORMATS, UNSAFE_FORMATS, detect_format
from ._remote import RemoteModel, RemoteModelSpec, check_allowed_url

__all__ = [
    "CLASSIFICATION",
    "REGRESSION",
    "Model",
    "ModelInfo",
    "RemoteModel",
    "RemoteModelSpec",
    "check_allowed_url",
    "load_model",
    "detect_format",
]


def _load_skops(data, *, digest, metadata, trusted_types):
    from ._sklearn import load_skops

    return load_skops(data, digest=digest, metadata=metadata, trusted_types=trusted_types)


def _load_torchscript(data, *, digest, metadata, trusted_types):
    from ._torch import load_torchscript

    return load_torchscript(data, digest=digest, metadata=metadata)


def _load_pickle(data, *, digest, metadata, trusted_types):
    from ._sklearn import load_pickled_estimator

    return load_pickled_estimator(data, digest=digest, metadata=metadata, format="pickle")


def _load_joblib(data, *, digest, metadata, trusted_types):
    from ._sklearn import load_pickled_estimator

    return load_pickled_estimator(data, digest=digest, metadata=metadata, format="joblib")


def _load_torch_pickle(data, *, digest, metadata, trusted_types):
    from ._torch import load_torch_pickle

    return load_torch_pickle(data, digest=digest, metadata=metadata)


def _load_torch_export(data, *, digest, metadata, trusted_types):
    from ._torch import load_torch_export

    return load_torch_export(data, digest=digest, metadata=metadata)


def _load_onnx(data, *, digest, metadata, trusted_types):
    from ._onnx import load_onnx

    return load_onnx(data, digest=digest, metadata=metadata)


def _load_xgboost(data, *, digest, metadata, trusted_types):
    from ._boosters import load_xgboost

    return load_xgboost(data, digest=digest, metadata=metadata)


def _load_lightgbm(data, *, digest, metadata, trusted_types):
    from ._boosters import load_lightgbm

    return load_lightgbm(data, digest=digest, metadata=metadata)


def _load_catboost(data, *, digest, metadata, trusted_types):
    from ._boosters import load_catboost

    return load_catboost(data, digest=digest, metadata=metadata)


_LOADERS = {
    "skops": _load_skops,
    "torchscript": _load_torchscript,
    "torch-export": _load_torch_export,
    "onnx": _load_onnx,
    "xgboost-json": _load_xgboost,
    "xgboost-ubj": _load_xgboost,
    "lightgbm": _load_lightgbm,
    "catboost": _load_catboost,
    "pickle": _load_pickle,
    "joblib": _load_joblib,
    "torch-pickle": _load_torch_pickle,
}


def load_model(
    source,
    *,
    metadata: dict | None = None,
    allow_pickle: bool = False,
    trusted_types=(),
) -> Model:
    """Load a serialized model, detecting its format from the content.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file path or the file's bytes.
    metadata : dict, optional
        What the file may not record: ``feature_names``, ``task``
        (``"classification"`` or ``"regression"``), ``class_names``, and for
        PyTorch models ``output`` (``"logits"`` or ``"probabilities"``).
    allow_pickle : bool, default=False
        Accept pickle, joblib and full ``torch.save`` files. Loading them runs
        arbitrary code from the file, so only enable this for trusted files.
    trusted_types : sequence of str
        Extra type names (or ``"package.*"`` prefixes) a skops file may contain.

    Returns
    -------
    Model

    Raises
    ------
    UnsupportedFormatError
        If the format is unknown (status 415, listing the supported formats),
        or unsafe and ``allow_pickle`` is False.
    UnusableInputError
        If the file loads but cannot be used (untrusted types, missing
        metadata, shapes that disagree with the metadata).
    """
    data = Path(source).read_bytes() if isinstance(source, (str, os.PathLike)) else bytes(source)
    supported = ", ".join(SAFE_FORMATS)
    format = detect_format(data)
    if format is None:
        raise UnsupportedFormatError(
            "the file is not a model in a supported format; supported formats: "
            f"{supported} (scikit-learn pipelines saved with skops.io.dump, PyTorch models "
            "saved with torch.jit.save or torch.export.save, ONNX, XGBoost JSON or UBJSON, "
            "LightGBM text, CatBoost .cbm).",
            details={"supported_formats": list(SAFE_FORMATS)},
        )
    if format in UNSAFE_FORMATS and not allow_pickle:
        raise UnsupportedFormatError(
            f"the file is a {format} file, which this server does not load because "
            "unpickling runs arbitrary code from the file. Save scikit-learn models "
            "with skops.io.dump and PyTorch models with torch.jit.save, or ask the "
            "operator to set EXPLAINER_ALLOW_PICKLE=true for trusted files.",
            details={"detected_format": format, "supported_formats": list(SAFE_FORMATS)},
        )
    loader = _LOADERS[format]
    return loader(data, digest=sha256_digest(data), metadata=metadata, trusted_types=trusted_types)
