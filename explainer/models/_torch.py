"""PyTorch models: TorchScript files, torch.export programs, and full pickles on opt-in."""

from __future__ import annotations

import copy
import io
import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnsupportedFormatError, UnusableInputError
from ._base import Model

# Name of the JSON file that a TorchScript archive may carry (through
# torch.jit.save's _extra_files) with feature_names, task, class_names and
# output. Upload metadata overrides it key by key.
METADATA_FILE = "explainer.json"

OUTPUT_KINDS = ("logits", "probabilities")

# Type names of the modules that map integer indices to vectors.
EMBEDDING_TYPES = ("Embedding", "EmbeddingBag")


class TorchModel(Model):
    """A ``torch.nn.Module`` taking float32 inputs of shape (n_rows, n_features).

    The module's output is (n_rows,) or (n_rows, 1) for regression. For
    classification it is (n_rows, n_classes) logits or probabilities, as the
    metadata key ``output`` says, or (n_rows, 1) for the positive class of a
    binary classifier.

    Categorical inputs are declared in the metadata. ``categories`` maps a
    feature to its list of categories, and the module receives the index of
    each row's category in that list as a float (which it turns into a long
    index itself). ``embeddings`` maps a categorical feature to the qualified
    name of the ``nn.Embedding`` that embeds it, which integrated gradients
    needs so that it never interpolates category indices. For example::

        {"categories": {"color": ["red", "green", "blue"]},
         "embeddings": {"color": "embed_color"}}

    Attributes
    ----------
    categories : dict of str to tuple of str
        The categories of each categorical feature, in index order.
    embeddings : dict of str to str
        The embedding layer of each categorical feature that has one.
    exported_program : torch.export.ExportedProgram or None
        The program a ``.pt2`` file holds, from which layer methods build a
        module whose layers accept hooks.
    """

    exported_program = None
    _layer_descriptions = None

    def __init__(self, module, *, format: str, digest: str, metadata: dict | None = None,
                 exported_program=None):
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
        self.exported_program = exported_program
        self._torch = torch
        self._output = output
        self.categories = _parse_categories(metadata.get("categories"), self.feature_names)
        self.embeddings = _parse_embeddings(metadata.get("embeddings"), self.categories)
        self._check_shapes()
        self._check_embeddings()

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

    def _check_embeddings(self) -> None:
        """Check that each declared embedding names an embedding layer large enough."""
        if not self.embeddings:
            return
        view = self.layer_view()
        for feature, name in self.embeddings.items():
            if name not in view.kinds:
                raise UnusableInputError(
                    f"metadata embeddings names layer {name!r} for feature {feature!r}, but the "
                    f"module has no such layer; its layers are {sorted(view.kinds)}."
                )
            if view.kinds[name] not in EMBEDDING_TYPES:
                raise UnusableInputError(
                    f"metadata embeddings names layer {name!r} for feature {feature!r}, which is a "
                    f"{view.kinds[name]}, not one of {list(EMBEDDING_TYPES)}."
                )
            weight = view.parameters.get(f"{name}.weight")
            if weight is not None and weight.shape[0] < len(self.categories[feature]):
                raise UnusableInputError(
                    f"embedding layer {name!r} has {weight.shape[0]} rows but feature {feature!r} "
                    f"has {len(self.categories[feature])} categories; each category needs a row."
                )

    def _encode_categories(self, features: pd.DataFrame) -> pd.DataFrame:
        """Replace each categorical column by the float index of its category.

        Values are matched by their string form, so a column of integers 1, 2
        matches the categories "1", "2".
        """
        encoded = {}
        for name, categories in self.categories.items():
            if name not in features.columns:
                continue
            column = features[name]
            if column.isna().any():
                raise UnusableInputError(
                    f"column {name!r} has {int(column.isna().sum())} missing value(s), but it is "
                    f"categorical with categories {list(categories)}; fill or drop those rows."
                )
            as_text = column.map(str)
            unknown = sorted(set(as_text) - set(categories))
            if unknown:
                raise UnusableInputError(
                    f"column {name!r} has value(s) {unknown[:10]} that are not among its "
                    f"categories {list(categories)}; map them to a known category or drop "
                    "those rows.",
                    details={"feature": name, "unknown_values": unknown[:10],
                             "categories": list(categories)},
                )
            index = {category: float(position) for position, category in enumerate(categories)}
            encoded[name] = as_text.map(index).astype(np.float32)
        return features.assign(**encoded) if encoded else features

    def to_tensor(self, features: pd.DataFrame):
        """Convert raw feature columns to the float32 tensor the module takes.

        Categorical columns become the float index of their category.
        """
        if self.categories:
            features = self._encode_categories(features)
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

    def forward_outputs(self, inputs, *, space: str = "probability", module=None):
        """Map a float tensor (n_rows, n_features) to outputs (n_rows, n_outputs).

        ``space`` is ``"probability"`` (class probabilities) or ``"raw"`` (the
        module's own output, reshaped). ``module`` replaces ``torch_module``,
        for example with the module of :meth:`layer_view`. Differentiable, for
        gradient methods.
        """
        torch = self._torch
        output = (self.torch_module if module is None else module)(inputs)
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

    def applicable_methods(self) -> tuple[str, ...]:
        """Return the methods that apply; layer methods only when some layer accepts hooks.

        Layers inside the compiled forward of a TorchScript module other than
        ``nn.Sequential`` accept no hooks, so such a module gets none.
        """
        methods = super().applicable_methods()
        if self.layer_view().layers:
            return methods
        return tuple(method for method in methods if method not in ("layer-attributions", "neuron-attributions"))

    def describe_layers(self) -> list[dict]:
        """Describe the layers that layer and neuron methods accept, in module order.

        Returns one dict per layer that accepts hooks: ``name`` (qualified),
        ``type`` (``"Linear"``, ``"ReLU"``...) and ``unit_shape``, the
        layer's output shape without the batch dimension, from one forward
        pass on two rows of zeros. ``unit_shape`` is None for a layer whose
        output is not one tensor, or that this pass does not call. The list
        is computed once per model.
        """
        if self._layer_descriptions is None:
            view = self.layer_view()
            shapes = {}

            def record_shape(module, args, output, name):
                # The first call counts, for a layer that the forward calls twice.
                if name not in shapes:
                    shapes[name] = list(output.shape[1:]) if isinstance(output, self._torch.Tensor) else None

            handles = [
                layer.register_forward_hook(partial(record_shape, name=name))
                for name, layer in view.layers.items()
            ]
            try:
                with self._torch.no_grad():
                    view.module(self._torch.zeros((2, len(self.feature_names)), dtype=self._torch.float32))
            finally:
                for handle in handles:
                    handle.remove()
            self._layer_descriptions = [
                {"name": name, "type": view.kinds.get(name), "unit_shape": shapes.get(name)}
                for name in view.layers
            ]
        return [dict(entry) for entry in self._layer_descriptions]

    def layer_view(self) -> "LayerView":
        """Build a module that computes the same outputs and whose layers accept hooks.

        Each call returns a new view, so that hooks one caller registers on it
        do not reach another caller or ``predict``. The view shares its
        parameters with ``torch_module``, except for eager modules, which are
        copied, and ``.pt2`` programs, which are unflattened anew.
        """
        return build_layer_view(self.torch_module, self.exported_program)


def _parse_categories(declared, feature_names) -> dict:
    """Parse metadata categories ({feature: [category, ...]}) into tuples of strings."""
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise UnusableInputError(
            f"metadata categories must map feature names to lists of categories, got {declared!r}."
        )
    unknown = sorted(set(declared) - set(feature_names))
    if unknown:
        raise UnusableInputError(
            f"metadata categories names {unknown}, which are not features of the model "
            f"{list(feature_names)}."
        )
    parsed = {}
    for name, categories in declared.items():
        if not isinstance(categories, (list, tuple)) or not categories:
            raise UnusableInputError(
                f"metadata categories for {name!r} must be a non-empty list, got {categories!r}."
            )
        as_text = tuple(str(category) for category in categories)
        if len(set(as_text)) != len(as_text):
            raise UnusableInputError(
                f"metadata categories for {name!r} must be unique, got {list(as_text)}."
            )
        parsed[name] = as_text
    # Keep the model's feature order, so that results list features in it.
    return {name: parsed[name] for name in feature_names if name in parsed}


def _parse_embeddings(declared, categories: dict) -> dict:
    """Parse metadata embeddings ({feature: layer name}) for declared categorical features."""
    if declared is None:
        return {}
    if not isinstance(declared, dict) or not all(isinstance(name, str) for name in declared.values()):
        raise UnusableInputError(
            "metadata embeddings must map categorical features to the qualified names of their "
            f"embedding layers, got {declared!r}."
        )
    not_categorical = sorted(set(declared) - set(categories))
    if not_categorical:
        raise UnusableInputError(
            f"metadata embeddings names {not_categorical}, which are not declared in metadata "
            f"categories {sorted(categories)}; declare their categories too."
        )
    layers = list(declared.values())
    shared = sorted({name for name in layers if layers.count(name) > 1})
    if shared:
        raise UnusableInputError(
            f"metadata embeddings gives layer(s) {shared} to more than one feature; each "
            "categorical feature needs its own embedding layer."
        )
    return {name: declared[name] for name in categories if name in declared}


# --- layer views --------------------------------------------------------------


@dataclass
class LayerView:
    """A module whose layers accept forward hooks, with what is known of its layers.

    Attributes
    ----------
    module : torch.nn.Module
        Computes the same outputs as the model's ``torch_module``.
    kinds : dict of str to str
        The type name (``"Linear"``, ``"ReLU"``...) of every layer, by
        qualified name, whether it accepts hooks or not.
    layers : dict of str to torch.nn.Module
        The layers of ``module`` that accept hooks, by qualified name.
    parameters : dict of str to torch.nn.Parameter
        Every parameter by its qualified name in the original module.
    buffers : dict of str to torch.Tensor
    unreachable : str or None
        Why the layers missing from ``layers`` accept no hooks, and the fix.
    """

    module: object
    kinds: dict
    layers: dict
    parameters: dict
    buffers: dict
    unreachable: str | None = None

    def layer(self, name: str):
        """Return the layer called ``name``, or raise an error listing the layers."""
        if name in self.layers:
            return self.layers[name]
        if name in self.kinds:
            raise UnusableInputError(
                f"layer {name!r} accepts no forward hooks, which layer methods need: "
                f"{self.unreachable}",
                details={"layer": name, "hookable_layers": sorted(self.layers)},
            )
        raise InvalidParameterError(
            f"layer must be the qualified name of one of the module's layers {sorted(self.kinds)}, "
            f"got {name!r}.",
            details={"available_layers": sorted(self.kinds)},
        )


_SCRIPT_HOOKS_MESSAGE = (
    "it runs inside the compiled forward of a TorchScript module, and PyTorch (2.13) supports "
    "no forward hooks on TorchScript modules. Export the model with torch.export and upload "
    "the .pt2 file (torch.export.save), or script an nn.Sequential whose children are the layers."
)


@lru_cache(maxsize=1)
def _scripted_layer_class():
    """Define the eager wrapper class once torch is imported."""
    from torch import nn

    class ScriptedLayer(nn.Module):
        """An eager module that calls one TorchScript module, so that hooks fire on it."""

        def __init__(self, scripted):
            super().__init__()
            # A plain attribute, not a submodule, so that the wrapper adds no
            # second name for the scripted module's parameters.
            object.__setattr__(self, "scripted", scripted)

        def forward(self, *inputs):
            return self.scripted(*inputs)

    return ScriptedLayer


def build_layer_view(module, exported_program=None) -> LayerView:
    """Return a :class:`LayerView` of ``module`` (see :meth:`TorchModel.layer_view`)."""
    import torch

    if exported_program is not None:
        return _view_of_program(exported_program)
    if isinstance(module, torch.jit.ScriptModule):
        return _view_of_script(module)
    copied = copy.deepcopy(module)
    layers = {name: layer for name, layer in copied.named_modules() if name}
    return LayerView(
        module=copied,
        kinds={name: type(layer).__name__ for name, layer in layers.items()},
        layers=layers,
        parameters=dict(copied.named_parameters()),
        buffers=dict(copied.named_buffers()),
    )


def _view_of_program(program) -> LayerView:
    """Unflatten a torch.export program into modules that keep the original hierarchy."""
    import torch

    module = torch.export.unflatten(program)
    # Unflattened layers are all InterpreterModules; the original type of
    # each layer is recorded on the graph nodes it produced.
    kinds = {}
    for node in program.graph.nodes:
        for name, type_name in node.meta.get("nn_module_stack", {}).values():
            if name:
                kinds[name] = str(getattr(type_name, "__name__", type_name)).rsplit(".", 1)[-1]
    layers = {name: layer for name, layer in module.named_modules() if name in kinds}
    return LayerView(
        module=module, kinds=kinds, layers=layers, parameters=dict(module.named_parameters()),
        buffers=dict(module.named_buffers()),
        unreachable="the exported program does not call it as a module.",
    )


def _view_of_script(scripted) -> LayerView:
    """Rebuild the nn.Sequential containers of a TorchScript module in eager Python.

    A scripted Sequential only calls its children in order, so running the
    children one by one from Python computes the same function, and eager
    wrappers around them accept hooks. Layers inside any other compiled
    forward stay out of reach.
    """
    from torch import nn

    kinds = {name: layer.original_name for name, layer in scripted.named_modules() if name}
    layers = {}

    def rebuild(module, prefix: str):
        if module.original_name == "Sequential":
            children = [
                (name, rebuild(child, f"{prefix}.{name}" if prefix else name))
                for name, child in module.named_children()
            ]
            rebuilt = nn.Sequential(OrderedDict(children))
        else:
            rebuilt = _scripted_layer_class()(module)
        if prefix:
            layers[prefix] = rebuilt
        return rebuilt

    return LayerView(
        module=rebuild(scripted, ""), kinds=kinds, layers=layers,
        parameters=dict(scripted.named_parameters()), buffers=dict(scripted.named_buffers()),
        unreachable=_SCRIPT_HOOKS_MESSAGE,
    )


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
    return TorchModel(module, format="torch-export", digest=digest, metadata=merged,
                      exported_program=program)
