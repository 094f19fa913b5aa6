"""Recognise a serialized model from its bytes, whatever its file name."""

from __future__ import annotations

import io
import zipfile

SKOPS = "skops"
TORCHSCRIPT = "torchscript"
TORCH_EXPORT = "torch-export"
ONNX = "onnx"
XGBOOST_JSON = "xgboost-json"
XGBOOST_UBJ = "xgboost-ubj"
LIGHTGBM = "lightgbm"
CATBOOST = "catboost"
PICKLE = "pickle"
JOBLIB = "joblib"
TORCH_PICKLE = "torch-pickle"

SAFE_FORMATS = (SKOPS, TORCHSCRIPT, TORCH_EXPORT, ONNX, XGBOOST_JSON, XGBOOST_UBJ, LIGHTGBM, CATBOOST)
UNSAFE_FORMATS = (PICKLE, JOBLIB, TORCH_PICKLE)

# First bytes of the compressed containers joblib writes (zlib, gzip, bz2,
# lzma/xz) and of its own older "ZF" format.
_JOBLIB_MAGICS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x1f\x8b", b"BZh",
                  b"\xfd7zXZ", b"\x5d\x00\x00", b"ZF")


def detect_format(data: bytes) -> str | None:
    """Return the format name of a serialized model, or None if unknown."""
    if data[:4] == b"PK\x03\x04":
        return _detect_zip_format(data)
    # CatBoost's binary model files start with this signature.
    if data[:4] == b"CBM1":
        return CATBOOST
    # LightGBM's text format starts with the "tree" header line.
    if data[:5] == b"tree\n" or data[:6] == b"tree\r\n":
        return LIGHTGBM
    if _looks_like_xgboost_json(data):
        return XGBOOST_JSON
    # XGBoost's UBJSON starts an object ({) whose first key is "learner",
    # written as the length marker L, an 8-byte length 7, then the name.
    if data[:1] == b"{" and b"learner" in data[:32] and not data[1:2].isspace() and data[1:2] != b'"':
        return XGBOOST_UBJ
    # Pickle protocols 2 to 5 start with the PROTO opcode and the version.
    # NOTE: protocols 0 and 1 have no such header; they are reported as an
    # unknown format (and stay rejected) rather than as pickle.
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return PICKLE
    if data.startswith(_JOBLIB_MAGICS):
        return JOBLIB
    if _looks_like_onnx(data):
        return ONNX
    return None


def _looks_like_xgboost_json(data: bytes) -> bool:
    head = data[:4096].lstrip()
    return head[:1] == b"{" and b'"learner"' in head and b'"version"' in data[-4096:] + head


def _looks_like_onnx(data: bytes) -> bool:
    """Parse the bytes as an ONNX ModelProto with a non-empty graph."""
    # A serialized ModelProto starts with field 1 (ir_version, a varint),
    # which encodes as the byte 0x08; checking it first avoids parsing
    # arbitrary files with protobuf.
    if data[:1] != b"\x08":
        return False
    try:
        import onnx

        model = onnx.load_model_from_string(data)
    except Exception:  # protobuf raises DecodeError and others on non-ONNX bytes
        return False
    return len(model.graph.node) > 0


def _detect_zip_format(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return None
    if "schema.json" in names:
        return SKOPS
    # torch.export.save writes <archive>/archive_format next to the program.
    if any(name.endswith("archive_format") for name in names) and \
            any("serialized_exported_program" in name or "/models/" in name for name in names):
        return TORCH_EXPORT
    # torch.jit.save and torch.save both write <archive>/data.pkl; only
    # TorchScript adds the compiled code under <archive>/code/.
    if any(name.endswith("/data.pkl") for name in names):
        if any("/code/" in name for name in names):
            return TORCHSCRIPT
        return TORCH_PICKLE
    return None
