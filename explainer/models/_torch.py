"""PyTorch models: TorchScript files, and full pickles on operator opt-in."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from .._errors import UnsupportedFormatError, UnusableInputError
from ._base import Model

# Name of the JSON file that a TorchScript archive may carry (through
# torch.jit.save's _extra_files) with feature_names, task, class_names and
# output. Upload metadata overrides it key by key.
METADATA_FILE = "explainer.json"

OUTPUT_KINDS = ("logits", "probabilities")


class TorchModel(Model):
    """A ``torch.nn.Module`` taking float32 inputs of shape (n_rows, n_features).

    The module's output is (n_rows,) or (n_rows, 1) for regression. For
    classification it is (n_rows, n_classes) logits or probabilities, as the
    metadata key ``output`` says, or (n_rows, 1) for the positive class of a
    binary classifier.
    """

    def __init__(self, module, *, format: str, digest: str, metadata: dict | None = None):
        import torch

        metadata = dict(metadata or {})
        required = ["feature_names", "task"]
        if metadata.get("task", "classification") == "classification":
            required.append("class_names")
        missing = [key for key in required if key not in metadata]
        if missing:
            raise UnusableInputError(
                f"a {format} model does not record {missing}; supply them as upload "
                "metadata, for example {\"feature_names\": [...], \"task\": "
                "\"classification\", \"class_names\": [...]}."
            )
        output = metadata.setdefault("output", "logits")
        if output not in OUTPUT_KINDS:
            raise UnusableInputError(
                f"metadata output must be one of {list(OUTPUT_KINDS)}, got {output!r}."
            )
        task = metadata["task"]
        class_names = metadata.get("class_names")
        super().__init__(
            task=task,
            feature_names=metadata["feature_names"],
            class_names=class_names,
            format=format,
            digest=digest,
            metadata=metadata,
        )
        try:
            module.eval()
        except NotImplementedError:
            # Modules from torch.export are already in inference form and
            # reject eval() (torch 2.13).
            pass
        self.torch_module = module
        self._torch = torch
        self._output = output
        self._check_shapes()

    def _check_shapes(self) -> None:
        probe = self._torch.zeros((2, len(self.feature_names)), dtype=self._torch.float32)
        try:
            with self._torch.no_grad():
                output = self.torch_module(probe)
        except Exception as error:
            # A TorchScript error carries the interpreter's traceback. Its last
            # line states the cause, so only that line goes into the message.
            lines = str(error).strip().splitlines()
            cause = lines[-1] if lines else type(error).__name__
            raise UnusableInputError(
                f"the model failed on a float32 input of shape (2, {len(self.feature_names)}) "
                f"built from the {len(self.feature_names)} feature names: {cause}. Check "
                "that feature_names lists every input, in order."
            ) from error
        width = 1 if output.dim() == 1 else int(output.shape[1])
        if output.dim() > 2 or output.shape[0] != 2:
            raise UnusableInputError(
                f"the model returned shape {tuple(output.shape)} for 2 rows; it must "
                "return (n_rows,) or (n_rows, n_outputs)."
            )
        if self.is_classifier:
            if width not in (1, len(self.class_names)):
                raise UnusableInputError(
                    f"the model returns {width} outputs per row but the metadata lists "
                    f"{len(self.class_names)} classes {list(self.class_names)}."
                )
            if width == 1 and len(self.class_names) != 2:
                raise UnusableInputError(
                    "a model with one output can only be a binary classifier, but the "
                    f"metadata lists {len(self.class_names)} classes."
                )
        elif width != 1:
            raise UnusableInputError(
                f"a regression model must return one output per row, got {width}."
            )

    def to_tensor(self, features: pd.DataFrame):
        """Convert raw feature columns to the float32 tensor the module takes."""
        non_numeric = [
            name for name in features.columns if not pd.api.types.is_numeric_dtype(features[name])
            and not pd.api.types.is_bool_dtype(features[name])
        ]
        if non_numeric:
            raise UnusableInputError(
                f"the PyTorch model takes numbers only, but column(s) {non_numeric} are "
                "not numeric; encode them before calling the model."
            )
        # A copy: to_numpy may return a read-only view, which torch warns about.
        values = np.array(features.to_numpy(dtype=np.float32, na_value=np.nan), copy=True)
        if np.isnan(values).any():
            with_nan = [name for name in features.columns if features[name].isna().any()]
            raise UnusableInputError(
                f"column(s) {with_nan} have missing values, which the PyTorch model "
                "cannot take; impute or drop those rows first."
            )
        return self._torch.from_numpy(values)

    def forward_outputs(self, inputs, *, space: str = "probability"):
        """Map a float tensor (n_rows, n_features) to outputs (n_rows, n_outputs).

        ``space`` is ``"probability"`` (class probabilities) or ``"raw"`` (the
        module's own output, reshaped). Differentiable, for gradient methods.
        """
        torch = self._torch
        output = self.torch_module(inputs)
        if output.dim() == 1:
            output = output.unsqueeze(1)
        if not self.is_classifier or space == "raw":
            return output
        if output.shape[1] == 1:
            positive = torch.sigmoid(output) if self._output == "logits" else output
            return torch.cat([1 - positive, positive], dim=1)
        return torch.softmax(output, dim=1) if self._output == "logits" else output

    def _predict_array(self, features: pd.DataFrame) -> np.ndarray:
        inputs = self.to_tensor(features)
        with self._torch.no_grad():
            outputs = self.forward_outputs(inputs).to(self._torch.float64).numpy()
        return outputs if self.is_classifier else outputs.reshape(-1)


def load_torchscript(data: bytes, *, digest: str, metadata: dict | None) -> TorchModel:
    import torch

    extra_files = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra_files)
    except Exception as error:
        raise UnsupportedFormatError(
            f"the file looks like TorchScript but cannot be loaded ({error}); save it "
            "with torch.jit.save(torch.jit.script(model), path)."
        ) from error
    embedded = {}
    if extra_files[METADATA_FILE]:
        try:
            embedded = json.loads(extra_files[METADATA_FILE])
        except ValueError as error:
            raise UnusableInputError(
                f"the model's embedded {METADATA_FILE} is not valid JSON: {error}."
            ) from error
    merged = {**embedded, **(metadata or {})}
    return TorchModel(module, format="torchscript", digest=digest, metadata=merged)


def load_torch_pickle(data: bytes, *, digest: str, metadata: dict | None) -> TorchModel:
    """Load a full ``torch.save`` pickle. Runs arbitrary code: opt-in only."""
    import torch

    try:
        module = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as error:
        raise UnusableInputError(f"the torch.save file could not be loaded: {error}.") from error
    if not isinstance(module, torch.nn.Module):
        raise UnusableInputError(
            f"the torch.save file contains a {type(module).__name__}, not a torch.nn.Module; "
            "a state_dict alone cannot be explained without its architecture, so "
            "export the model with torch.jit.script or torch.export."
        )
    return TorchModel(module, format="torch-pickle", digest=digest, metadata=metadata)


def load_torch_export(data: bytes, *, digest: str, metadata: dict | None) -> TorchModel:
    """Load a ``torch.export`` program (.pt2) whose batch dimension is dynamic."""
    import torch

    extra_files = {METADATA_FILE: ""}
    try:
        program = torch.export.load(io.BytesIO(data), extra_files=extra_files)
    except Exception as error:  # torch raises several types on bad archives
        raise UnsupportedFormatError(
            f"the file looks like a torch.export program but cannot be loaded ({error}); save "
            "it with torch.export.save(torch.export.export(model, ...), path)."
        ) from error
    embedded = json.loads(extra_files[METADATA_FILE]) if extra_files[METADATA_FILE] else {}
    merged = {**embedded, **(metadata or {})}
    module = program.module()

    # A program exported for one batch size rejects every other size.
    n_features = len(merged.get("feature_names", []))
    if n_features:
        for batch in (1, 3):
            try:
                with torch.no_grad():
                    module(torch.zeros((batch, n_features)))
            except Exception as error:  # the guard raises RuntimeError or AssertionError
                reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
                # Shape guards name the dimension they check; dimension 0 is the batch.
                if "size()[0]" not in reason:
                    raise UnusableInputError(
                        f"the exported program failed on a float32 input of shape ({batch}, "
                        f"{n_features}) built from the {n_features} feature names: {reason}. Check "
                        "that feature_names lists every input, in order."
                    ) from error
                raise UnusableInputError(
                    f"the exported program does not accept a batch of {batch} rows ({reason}). "
                    "Export it with a dynamic batch dimension: torch.export.export(model, "
                    "(example,), dynamic_shapes={'x': {0: torch.export.Dim('batch')}}), naming "
                    "the forward argument instead of 'x'."
                ) from error
    return TorchModel(module, format="torch-export", digest=digest, metadata=merged)
