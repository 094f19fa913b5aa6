"""Load a series of training checkpoints: one architecture, one safetensors file per epoch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ._errors import InvalidParameterError, UnsupportedFormatError, UnusableInputError
from .models import load_model
from .models._base import sha256_digest

__all__ = ["CheckpointSeries", "load_checkpoints"]

ARCHITECTURE_FORMATS = ("torchscript", "torch-export")


@dataclass(frozen=True)
class CheckpointSeries:
    """An architecture and the state of its parameters at each checkpoint, in training order.

    Attributes
    ----------
    model : TorchModel
        The architecture, loaded with its metadata; its own weights are
        replaced by each checkpoint's in turn.
    epochs : tuple of str
        The label of each checkpoint.
    states : tuple of dict of str to torch.Tensor
        Each checkpoint's tensors by qualified name: every parameter of the
        architecture, and any of its buffers.
    digests : tuple of str
        ``sha256:<hex>`` of each weights file.
    """

    model: object
    epochs: tuple
    states: tuple
    digests: tuple

    def __len__(self) -> int:
        return len(self.states)


def _read(source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).read_bytes()
    return bytes(source)


def load_checkpoints(architecture, weights, *, epochs=None, metadata: dict | None = None) -> CheckpointSeries:
    """Load an architecture and its weights at each checkpoint.

    Parameters
    ----------
    architecture : str, os.PathLike or bytes
        A TorchScript file (``torch.jit.save``) or a torch.export program
        (``.pt2``), with the metadata :func:`explainer.load_model` needs.
    weights : sequence of (str, os.PathLike or bytes)
        One safetensors file per checkpoint, in training order, each holding
        a ``state_dict`` of the architecture. Pickled checkpoints
        (``torch.save``) are not accepted, because loading them runs code.
    epochs : sequence of str or int, optional
        A label per checkpoint; default ``"0"``, ``"1"``... in order.
    metadata : dict, optional
        Upload metadata for the architecture (see :func:`explainer.load_model`).

    Returns
    -------
    CheckpointSeries

    Raises
    ------
    UnsupportedFormatError
        If the architecture is neither TorchScript nor a torch.export program,
        or a weights file is not a safetensors file.
    UnusableInputError
        If a weights file lacks a parameter of the architecture, has a tensor
        the architecture does not, or a tensor of another shape.
    """
    import safetensors
    import safetensors.torch

    if isinstance(weights, (str, bytes, os.PathLike)) or not weights:
        raise InvalidParameterError(
            f"weights must be a non-empty list of safetensors files, one per checkpoint, got {weights!r}."
        )
    weights = list(weights)
    if epochs is None:
        labels = tuple(str(position) for position in range(len(weights)))
    else:
        labels = tuple(str(label) for label in epochs)
        if len(labels) != len(weights):
            raise InvalidParameterError(
                f"epochs must give one label per weights file ({len(weights)}), got {len(labels)}."
            )
        if len(set(labels)) != len(labels):
            raise InvalidParameterError(f"epochs must be unique labels, got {list(labels)}.")

    model = load_model(_read(architecture), metadata=metadata)
    if model.format not in ARCHITECTURE_FORMATS:
        raise UnsupportedFormatError(
            f"the architecture is a {model.format} file; it must be TorchScript (torch.jit.save) or "
            "a torch.export program (torch.export.save), so that each checkpoint's weights can be "
            "loaded into it."
        )
    view = model.layer_view()

    states, digests = [], []
    for label, source in zip(labels, weights):
        data = _read(source)
        try:
            state = safetensors.torch.load(data)
        except (safetensors.SafetensorError, ValueError) as error:
            raise UnsupportedFormatError(
                f"the weights of checkpoint {label!r} are not a safetensors file ({error}); save "
                "them with safetensors.torch.save_file(model.state_dict(), path)."
            ) from error
        _check_state(state, view, label)
        states.append(state)
        digests.append(sha256_digest(data))
    return CheckpointSeries(model=model, epochs=labels, states=tuple(states), digests=tuple(digests))


def _check_state(state: dict, view, label: str) -> None:
    """Check that ``state`` has every parameter of the view, nothing unknown, and equal shapes."""
    known = {**view.parameters, **view.buffers}
    missing = [name for name in view.parameters if name not in state]
    unexpected = sorted(name for name in state if name not in known)
    mismatched = [
        f"{name}: {tuple(tensor.shape)} in the file, {tuple(known[name].shape)} in the architecture"
        for name, tensor in state.items()
        if name in known and tuple(tensor.shape) != tuple(known[name].shape)
    ]
    if missing or unexpected or mismatched:
        raise UnusableInputError(
            f"the weights of checkpoint {label!r} do not match the architecture: missing "
            f"{missing}, unexpected {unexpected}, other shapes {mismatched}. Save every "
            "checkpoint from the same architecture with "
            "safetensors.torch.save_file(model.state_dict(), path).",
            details={"checkpoint": label, "missing": missing, "unexpected": unexpected,
                     "shape_mismatches": mismatched},
        )
