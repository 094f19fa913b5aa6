"""Recognise a serialized model from its bytes, whatever its file name."""

from __future__ import annotations

import io
import zipfile

SKOPS = "skops"
TORCHSCRIPT = "torchscript"
PICKLE = "pickle"
JOBLIB = "joblib"
TORCH_PICKLE = "torch-pickle"

SAFE_FORMATS = (SKOPS, TORCHSCRIPT)
UNSAFE_FORMATS = (PICKLE, JOBLIB, TORCH_PICKLE)

# First bytes of the compressed containers joblib writes (zlib, gzip, bz2,
# lzma/xz) and of its own older "ZF" format.
_JOBLIB_MAGICS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x1f\x8b", b"BZh",
                  b"\xfd7zXZ", b"\x5d\x00\x00", b"ZF")


def detect_format(data: bytes) -> str | None:
    """Return the format name of a serialized model, or None if unknown."""
    if data[:4] == b"PK\x03\x04":
        return _detect_zip_format(data)
    # Pickle protocols 2 to 5 start with the PROTO opcode and the version.
    # NOTE: protocols 0 and 1 have no such header; they are reported as an
    # unknown format (and stay rejected) rather than as pickle.
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return PICKLE
    if data.startswith(_JOBLIB_MAGICS):
        return JOBLIB
    return None


def _detect_zip_format(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return None
    if "schema.json" in names:
        return SKOPS
    # torch.jit.save and torch.save both write <archive>/data.pkl; only
    # TorchScript adds the compiled code under <archive>/code/.
    if any(name.endswith("/data.pkl") for name in names):
        if any("/code/" in name for name in names):
            return TORCHSCRIPT
        return TORCH_PICKLE
    return None
