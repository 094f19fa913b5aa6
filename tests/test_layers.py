"""Layer and neuron attributions: completeness, equality with direct torch, hooks and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explainer import (
    InvalidParameterError,
    UnusableInputError,
    integrated_gradients,
    layer_attributions,
    load_model,
    neuron_attributions,
)


@pytest.fixture(scope="module")
def healthy_model(checkpoints_dir):
    """A TorchScript nn.Sequential: standardize, layer1, relu1, layer2, relu2, output."""
    return load_model(checkpoints_dir / "healthy" / "architecture.pt")


@pytest.fixture(scope="module")
def rows(breast_cancer_frame):
    return breast_cancer_frame.drop(columns="target").sample(40, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(breast_cancer_frame):
    return breast_cancer_frame.drop(columns="target")


def test_layer_conductance_completeness(healthy_model, rows, reference):
    result = layer_attributions(healthy_model, rows, layer="relu2", method="conductance",
                                baseline="mean", reference=reference, n_steps=300, target=1)

    entry = result.layers["relu2"]
    explained_change = result.outputs - result.baseline_outputs
    assert entry["attributions"].shape == (40, 8)
    assert entry["unit_shape"] == [8]
    np.testing.assert_allclose(entry["totals"], entry["attributions"].sum(axis=1))
    assert np.all(np.abs(entry["totals"] - explained_change) <= np.abs(entry["convergence_delta"]) + 1e-4)
    assert entry["max_abs_convergence_delta"] < 1e-2


def test_layer_conductance_total_equals_input_ig(healthy_model, rows, reference):
    conductance = layer_attributions(healthy_model, rows, layer="layer2", method="conductance",
                                     baseline="mean", reference=reference, n_steps=300, target=1)
    input_ig = integrated_gradients(healthy_model, rows, baseline="mean", reference=reference,
                                    n_steps=300, target=1)

    entry = conductance.layers["layer2"]
    tolerance = np.abs(entry["convergence_delta"]) + np.abs(input_ig.convergence_delta) + 1e-4
    assert np.all(np.abs(entry["totals"] - input_ig.attributions.sum(axis=1)) <= tolerance)
    np.testing.assert_allclose(conductance.outputs, input_ig.outputs, rtol=0, atol=1e-6)


def test_layer_integrated_gradients_completeness(healthy_model, rows, reference):
    result = layer_attributions(healthy_model, rows, layer=["layer1", "relu2"], baseline="mean",
                                reference=reference, n_steps=200, target="benign")

    for name in ("layer1", "relu2"):
        entry = result.layers[name]
        gap = np.abs(entry["totals"] - (result.outputs - result.baseline_outputs))
        assert np.all(gap <= np.abs(entry["convergence_delta"]) + 1e-4), name
    # Only linear layers follow relu2, so its path integral is exact.
    assert result.layers["relu2"]["max_abs_convergence_delta"] < 1e-4
    assert result.targets == ["benign"] * 40


def test_layer_activations_equal_direct_torch(healthy_model, rows):
    result = layer_attributions(healthy_model, rows, layer=["layer1", "relu1"], method="activations")

    module = healthy_model.torch_module
    with torch.no_grad():
        pre_activation = module.layer1(module.standardize(healthy_model.to_tensor(rows)))
    np.testing.assert_allclose(result.layers["layer1"]["attributions"], pre_activation.numpy(), atol=1e-6)
    np.testing.assert_allclose(result.layers["relu1"]["attributions"],
                               torch.relu(pre_activation).numpy(), atol=1e-6)
    np.testing.assert_allclose(result.layers["relu1"]["mean_abs"],
                               torch.relu(pre_activation).abs().mean(dim=0).numpy(), atol=1e-6)
    assert result.outputs is None
    assert result.layers["relu1"]["convergence_delta"] is None


def test_layer_result_is_json(healthy_model, rows):
    result = layer_attributions(healthy_model, rows.iloc[:3], layer="relu1", n_steps=10)

    document = json.loads(json.dumps(result.to_dict()))

    assert document["layer_method"] == "integrated-gradients"
    assert len(document["layers"]["relu1"]["attributions"]) == 3
    assert document["parameters"]["layer"] == ["relu1"]


def test_layer_exported_program_completeness(categorical_model, categorical_frame):
    """A .pt2 program whose forward is custom Python still exposes its layers."""
    result = layer_attributions(categorical_model, categorical_frame.iloc[:30], layer="body.relu",
                                baseline="zeros", n_steps=200)

    entry = result.layers["body.relu"]
    gap = np.abs(entry["totals"] - (result.outputs - result.baseline_outputs))
    assert entry["attributions"].shape == (30, 16)
    assert np.all(gap <= np.abs(entry["convergence_delta"]) + 1e-4)
    assert entry["max_abs_convergence_delta"] < 1e-4


def test_layer_unknown_name_lists_layers(healthy_model, rows):
    with pytest.raises(InvalidParameterError, match=r"layers \['layer1', 'layer2', 'output', 'relu1'") \
            as raised:
        layer_attributions(healthy_model, rows, layer="hidden")
    assert "standardize" in raised.value.details["available_layers"]


def test_layer_inside_torchscript_forward_names_fix(mlp_model, rows):
    with pytest.raises(UnusableInputError, match=r"layer 'hidden' accepts no forward hooks.*torch\.export"):
        layer_attributions(mlp_model, rows, layer="hidden")


def test_layer_conductance_categorical_rejected(categorical_model, categorical_frame):
    with pytest.raises(UnusableInputError, match=r"categorical inputs \['color'\] are indices"):
        layer_attributions(categorical_model, categorical_frame.iloc[:5], layer="body.relu",
                           method="conductance")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"layer": "relu1", "method": "gradcam"}, r"method must be one of \['integrated-gradients'"),
        ({"layer": []}, r"layer must be a layer's qualified name or a non-empty list"),
        ({"layer": ["relu1", "relu1"]}, r"layer lists a name more than once"),
        ({"layer": "relu1", "n_steps": 1}, r"n_steps must be between 2 and 10000, got 1"),
        ({"layer": "relu1", "integration_method": "simpson"}, r"integration_method must be one of \['gauss"),
        ({"layer": "relu1", "target": 5}, r"an index from 0 to 1, got 5"),
    ],
)
def test_layer_bad_options(healthy_model, rows, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        layer_attributions(healthy_model, rows.iloc[:3], **options)


def test_neuron_integrated_gradients_completeness(healthy_model, rows, reference):
    result = neuron_attributions(healthy_model, rows, layer="layer2", neuron=3, baseline="mean",
                                 reference=reference, n_steps=200)

    activations = layer_attributions(healthy_model, rows, layer="layer2", method="activations")
    np.testing.assert_allclose(result.neuron_values, activations.layers["layer2"]["attributions"][:, 3],
                               atol=1e-6)
    gap = np.abs(result.attributions.sum(axis=1) - (result.neuron_values - result.baseline_neuron_value))
    assert result.attributions.shape == (40, 30)
    assert np.all(gap <= np.abs(result.convergence_delta) + 1e-4)
    assert result.max_abs_convergence_delta < 1e-2


def test_neuron_conductance_sums_to_layer_conductance(healthy_model, rows, reference):
    neuron = neuron_attributions(healthy_model, rows, layer="relu2", neuron=[5], method="conductance",
                                 baseline="mean", reference=reference, n_steps=300, target=1)
    layer = layer_attributions(healthy_model, rows, layer="relu2", method="conductance",
                               baseline="mean", reference=reference, n_steps=300, target=1)

    np.testing.assert_allclose(neuron.attributions.sum(axis=1),
                               layer.layers["relu2"]["attributions"][:, 5], atol=2e-3)
    assert neuron.convergence_delta is None


@pytest.mark.parametrize("neuron", [16, -1, [1, 2], "3", True])
def test_neuron_bad_index(healthy_model, rows, neuron):
    with pytest.raises(InvalidParameterError, match=r"neuron must index one unit of layer 'layer1', whose output "
                                                    r"has the unit shape \[16\]: an integer from 0 to 15") as raised:
        neuron_attributions(healthy_model, rows.iloc[:3], layer="layer1", neuron=neuron)
    assert raised.value.details["unit_shape"] == [16]


def test_neuron_index_message_for_grid():
    from explainer.methods._layers import check_neuron

    assert check_neuron([2, 7], (3, 8), "conv") == (2, 7)
    with pytest.raises(InvalidParameterError, match=r"unit shape \[3, 8\]: a list of 2 integers, from 0 to 2, "
                                                    r"0 to 7; got \[3, 0\]"):
        check_neuron([3, 0], (3, 8), "conv")


def test_describe_layers_unit_shapes(healthy_model, mlp_model, categorical_model, adult_model):
    described = healthy_model.describe_layers()

    assert [entry["name"] for entry in described] == ["standardize", "layer1", "relu1", "layer2", "relu2", "output"]
    assert {"name": "layer1", "type": "Linear", "unit_shape": [16]} in described
    assert {"name": "relu2", "type": "ReLU", "unit_shape": [8]} in described
    assert {"name": "embed_color", "type": "Embedding", "unit_shape": [3]} in categorical_model.describe_layers()
    assert mlp_model.describe_layers() == [], "layers inside a compiled TorchScript forward accept no hooks"
    assert adult_model.describe_layers() is None


def test_neuron_categorical_rejected(categorical_model, categorical_frame):
    with pytest.raises(UnusableInputError, match=r"neuron integrated-gradients interpolates"):
        neuron_attributions(categorical_model, categorical_frame.iloc[:5], layer="body.relu", neuron=0)
