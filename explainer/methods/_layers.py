"""Attributions inside a PyTorch network: to a layer's units, and from one unit to the inputs."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import LayerAttributionResult, NeuronAttributionResult
from ._common import ProgressCallback, check_choice, check_rows, report
from ._integrated_gradients import (
    _baseline_vector,
    _resolve_targets,
    check_differentiable,
    check_path_options,
)

LAYER_METHODS = ("integrated-gradients", "conductance", "activations")
NEURON_METHODS = ("integrated-gradients", "conductance")


def _check_options(model, X, *, n_steps, method, output_space, internal_batch_size):
    """Validate the options the layer and neuron methods share; return them normalized."""
    check_rows(X)
    return check_path_options(model, n_steps=n_steps, method=method, output_space=output_space,
                              internal_batch_size=internal_batch_size, method_parameter="integration_method")


def _layer_names(layer) -> list[str]:
    names = [layer] if isinstance(layer, str) else layer
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidParameterError(
            f"layer must be a layer's qualified name or a non-empty list of them, got {layer!r}."
        )
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"layer lists a name more than once: {list(names)}.")
    return list(names)


def check_layers(model: Model, layer) -> list[str]:
    """Return the names in ``layer`` after checking that each is a layer accepting hooks.

    Raises InvalidParameterError for an unknown name (listing the layers) and
    UnusableInputError for a layer inside a compiled TorchScript forward.
    """
    names = _layer_names(layer)
    view = model.layer_view()
    for name in names:
        view.layer(name)
    return names


def reject_interpolated_categories(model: Model, what: str) -> None:
    """Raise an error for a method that would interpolate category indices."""
    if getattr(model, "categories", {}):
        raise UnusableInputError(
            f"{what} interpolates the model's inputs, and the categorical inputs "
            f"{list(model.categories)} are indices that must not be interpolated. Use "
            "layer_attributions with method 'integrated-gradients' or 'activations', or "
            "integrated_gradients, which attribute through the embedding layers."
        )


def _numpy(tensor) -> np.ndarray:
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise UnusableInputError(
            f"the layer returns a {type(tensor).__name__}, not one tensor; choose a layer whose "
            "output is a single tensor."
        )
    return tensor.detach().to(torch.float64).numpy()


def layer_attributions(
    model: Model,
    X: pd.DataFrame,
    *,
    layer,
    method: str = "integrated-gradients",
    baseline="zeros",
    reference: pd.DataFrame | None = None,
    n_steps: int = 50,
    integration_method: str = "gausslegendre",
    target=None,
    output_space: str = "raw",
    internal_batch_size: int | None = None,
    row_indices=None,
    dataset_digest: str | None = None,
    progress: ProgressCallback | None = None,
) -> LayerAttributionResult:
    """Attribute a PyTorch model's output to the units of one or more of its layers.

    Parameters
    ----------
    model : Model
        A model with a differentiable ``torch_module``.
    X : pandas.DataFrame of shape (n_rows, n_columns)
    layer : str or list of str
        Qualified layer names, as ``dict(module.named_modules())`` lists
        them (``"hidden"``, ``"body.0"``).
    method : {"integrated-gradients", "conductance", "activations"}
        ``integrated-gradients`` integrates the gradient along the path of
        the layer's output from its value at the baseline to its value at
        the input (captum's LayerIntegratedGradients). ``conductance``
        integrates along the input path and splits the flow through each
        unit (LayerConductance). ``activations`` returns the layer's output
        (LayerActivation).
    baseline : {"zeros", "mean", "median"}, dict or sequence of float
        As for :func:`explainer.integrated_gradients`.
    n_steps : int, default=50
        Points on the path.
    integration_method : str, default="gausslegendre"
        captum's integral approximation.
    target, output_space, internal_batch_size
        As for :func:`explainer.integrated_gradients`.

    Returns
    -------
    LayerAttributionResult
        ``layers[name]["attributions"]`` has shape (n_rows, *unit_shape),
        where unit_shape is the layer's output shape without the batch
        dimension. For integrated gradients and conductance, the sum over a
        layer's units equals ``outputs - baseline_outputs`` within
        ``convergence_delta`` when every path from input to output passes
        through the layer.

    Raises
    ------
    InvalidParameterError
        If a layer name is unknown; the message lists the layers.
    UnusableInputError
        If a layer accepts no forward hooks (layers inside a compiled
        TorchScript forward), or ``conductance`` is asked of a model with
        categorical inputs.
    """
    started = time.perf_counter()
    check_differentiable(model, "layer attributions")
    check_choice("method", method, LAYER_METHODS)
    n_steps, internal_batch_size = _check_options(
        model, X, n_steps=n_steps, method=integration_method, output_space=output_space,
        internal_batch_size=internal_batch_size,
    )
    names = _layer_names(layer)
    if method == "conductance":
        reject_interpolated_categories(model, "layer conductance")
    view = model.layer_view()
    modules = {name: view.layer(name) for name in names}
    parameters = {
        "layer": names, "method": method, "baseline": baseline, "n_steps": n_steps,
        "integration_method": integration_method, "target": target, "output_space": output_space,
        "internal_batch_size": internal_batch_size,
    }
    provenance = {"started": started, "dataset_digest": dataset_digest, "row_indices": row_indices}

    import torch
    from captum.attr import LayerActivation, LayerConductance, LayerIntegratedGradients

    inputs = model.to_tensor(model.select_features(X))
    baseline_row = _baseline_vector(baseline, model, X if reference is None else reference)
    baselines = torch.from_numpy(np.tile(baseline_row, (len(inputs), 1)))

    def forward(batch):
        return model.forward_outputs(batch, space=output_space, module=view.module)

    layers = {}
    if method == "activations":
        activations = LayerActivation(forward, list(modules.values())).attribute(inputs)
        for name, values in zip(names, activations):
            layers[name] = _layer_entry(_numpy(values), None)
        report(progress, 1.0, "done")
        return _layer_result(model, parameters, layers, **provenance)

    with torch.no_grad():
        outputs = forward(inputs).to(torch.float64).numpy()
        baseline_outputs = forward(baselines[:1]).to(torch.float64).numpy()[0]
    targets = _resolve_targets(target, model, outputs)
    algorithm = LayerIntegratedGradients if method == "integrated-gradients" else LayerConductance
    for position, (name, module) in enumerate(modules.items()):
        report(progress, position / len(modules), f"layer {name}")
        attributions, delta = algorithm(forward, module).attribute(
            inputs,
            baselines=baselines,
            target=torch.from_numpy(targets),
            n_steps=n_steps,
            method=integration_method,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
        layers[name] = _layer_entry(_numpy(attributions), _numpy(delta))
    report(progress, 1.0, "done")
    rows = np.arange(len(inputs))
    if not isinstance(baseline, str):
        parameters["baseline"] = baseline_row.tolist()
    return _layer_result(
        model, parameters, layers, targets=targets, baseline=baseline_row,
        outputs=outputs[rows, targets], baseline_outputs=baseline_outputs[targets], **provenance,
    )


def _layer_entry(attributions: np.ndarray, delta: np.ndarray | None) -> dict:
    """Summarize one layer's attributions of shape (n_rows, *unit_shape)."""
    return {
        "unit_shape": list(attributions.shape[1:]),
        "attributions": attributions,
        "mean_abs": np.abs(attributions).mean(axis=0),
        "totals": attributions.reshape(len(attributions), -1).sum(axis=1),
        "convergence_delta": delta,
        "max_abs_convergence_delta": None if delta is None else float(np.max(np.abs(delta))),
    }


def _layer_result(model, parameters, layers, *, started, dataset_digest, row_indices, targets=None,
                  baseline=None, outputs=None, baseline_outputs=None) -> LayerAttributionResult:
    """Wrap per-layer entries into a result; the path fields are None for activations."""
    if parameters["method"] == "activations":
        # Activations use neither a baseline nor a path.
        parameters = {key: parameters[key] for key in ("layer", "method")}
    return LayerAttributionResult(
        method="layer-attributions",
        parameters=parameters,
        output_space=parameters.get("output_space", "activation"),
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        layer_method=parameters["method"],
        feature_names=model.feature_names,
        class_names=model.class_names,
        targets=None if targets is None else [
            model.class_names[index] if model.is_classifier else None for index in targets
        ],
        layers=layers,
        baseline=None if baseline is None else baseline.astype(np.float64),
        outputs=outputs,
        baseline_outputs=baseline_outputs,
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
    )


def check_neuron(neuron, unit_shape, layer: str) -> tuple:
    """Return ``neuron`` as an index tuple into the output of ``layer``, whose unit shape is ``unit_shape``."""
    index = (neuron,) if isinstance(neuron, (int, np.integer)) and not isinstance(neuron, bool) \
        else tuple(neuron) if isinstance(neuron, (list, tuple)) else None
    valid = (
        index is not None
        and len(index) == len(unit_shape)
        and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in index)
        and all(0 <= i < size for i, size in zip(index, unit_shape))
    )
    if not valid:
        ranges = ", ".join(f"0 to {size - 1}" for size in unit_shape)
        expected = f"an integer from {ranges}" if len(unit_shape) == 1 \
            else f"a list of {len(unit_shape)} integers, from {ranges}"
        raise InvalidParameterError(
            f"neuron must index one unit of layer {layer!r}, whose output has the unit shape "
            f"{list(unit_shape)}: {expected}; got {neuron!r}.",
            details={"layer": layer, "unit_shape": list(unit_shape)},
        )
    return tuple(int(i) for i in index)


def check_neuron_of_model(model: Model, layer: str, neuron) -> tuple:
    """Check ``neuron`` against the unit shape of ``layer`` from a forward pass on two rows; return its index tuple."""
    unit_shapes = {entry["name"]: entry["unit_shape"] for entry in model.describe_layers()}
    unit_shape = unit_shapes.get(layer)
    if unit_shape is None:
        raise UnusableInputError(
            f"layer {layer!r} does not return one tensor on a forward pass, so it has no units to "
            "choose from; choose a layer whose output is a single tensor."
        )
    return check_neuron(neuron, unit_shape, layer)


def neuron_attributions(
    model: Model,
    X: pd.DataFrame,
    *,
    layer: str,
    neuron,
    method: str = "integrated-gradients",
    baseline="zeros",
    reference: pd.DataFrame | None = None,
    n_steps: int = 50,
    integration_method: str = "gausslegendre",
    target=None,
    output_space: str = "raw",
    internal_batch_size: int | None = None,
    row_indices=None,
    dataset_digest: str | None = None,
    progress: ProgressCallback | None = None,
) -> NeuronAttributionResult:
    """Attribute one unit of a layer to the model's input features.

    Parameters
    ----------
    model : Model
        A model with a differentiable ``torch_module`` and no categorical
        inputs.
    X : pandas.DataFrame of shape (n_rows, n_columns)
    layer : str
        The layer's qualified name.
    neuron : int or list of int
        The unit's index in the layer's output without the batch dimension.
    method : {"integrated-gradients", "conductance"}
        ``integrated-gradients`` explains the unit's own value (captum's
        NeuronIntegratedGradients); ``conductance`` explains the flow of the
        ``target`` output through the unit (NeuronConductance).
    baseline, n_steps, integration_method, target, output_space, internal_batch_size
        As for :func:`layer_attributions`; ``target`` and ``output_space``
        apply to conductance only.

    Returns
    -------
    NeuronAttributionResult
        ``attributions`` of shape (n_rows, n_features). For integrated
        gradients they sum to ``neuron_values - baseline_neuron_value``
        within ``convergence_delta``.
    """
    started = time.perf_counter()
    check_differentiable(model, "neuron attributions")
    check_choice("method", method, NEURON_METHODS)
    n_steps, internal_batch_size = _check_options(
        model, X, n_steps=n_steps, method=integration_method, output_space=output_space,
        internal_batch_size=internal_batch_size,
    )
    if not isinstance(layer, str):
        raise InvalidParameterError(f"layer must be one layer's qualified name, got {layer!r}.")
    reject_interpolated_categories(model, f"neuron {method}")
    view = model.layer_view()
    module = view.layer(layer)

    import torch
    from captum.attr import LayerActivation, NeuronConductance, NeuronIntegratedGradients

    inputs = model.to_tensor(model.select_features(X))
    baseline_row = _baseline_vector(baseline, model, X if reference is None else reference)
    baselines = torch.from_numpy(np.tile(baseline_row, (len(inputs), 1)))

    def forward(batch):
        return model.forward_outputs(batch, space=output_space, module=view.module)

    activation = LayerActivation(forward, module)
    values = _numpy(activation.attribute(inputs))
    index = check_neuron(neuron, values.shape[1:], layer)
    neuron_values = values[(slice(None), *index)]
    baseline_neuron_value = float(_numpy(activation.attribute(baselines[:1]))[(0, *index)])

    report(progress, 0.1, f"{method} of unit {list(index)} of {layer}")
    options = {"baselines": baselines, "n_steps": n_steps, "method": integration_method,
               "internal_batch_size": internal_batch_size}
    targets = delta = None
    if method == "integrated-gradients":
        attributions = NeuronIntegratedGradients(forward, module).attribute(inputs, index, **options)
        attributions = _numpy(attributions)
        delta = attributions.sum(axis=1) - (neuron_values - baseline_neuron_value)
    else:
        with torch.no_grad():
            outputs = forward(inputs).to(torch.float64).numpy()
        targets = _resolve_targets(target, model, outputs)
        attributions = NeuronConductance(forward, module).attribute(
            inputs, index, target=torch.from_numpy(targets), **options
        )
        attributions = _numpy(attributions)
    report(progress, 1.0, "done")

    return NeuronAttributionResult(
        method="neuron-attributions",
        parameters={
            "layer": layer,
            "neuron": list(index),
            "method": method,
            "baseline": baseline if isinstance(baseline, str) else baseline_row.tolist(),
            "n_steps": n_steps,
            "integration_method": integration_method,
            "target": target,
            "output_space": output_space,
            "internal_batch_size": internal_batch_size,
        },
        output_space=output_space if method == "conductance" else "activation",
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        neuron_method=method,
        layer=layer,
        neuron=list(index),
        feature_names=model.feature_names,
        class_names=model.class_names,
        targets=None if targets is None else [
            model.class_names[i] if model.is_classifier else None for i in targets
        ],
        attributions=attributions,
        mean_abs=np.abs(attributions).mean(axis=0),
        baseline=baseline_row.astype(np.float64),
        neuron_values=neuron_values,
        baseline_neuron_value=baseline_neuron_value,
        convergence_delta=delta,
        max_abs_convergence_delta=None if delta is None else float(np.max(np.abs(delta))),
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
    )
