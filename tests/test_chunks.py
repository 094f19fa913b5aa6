"""Jobs split into chunks and merged give the numbers of the whole run."""

from __future__ import annotations

import numpy as np
import pytest

from explainer import InvalidParameterError, explain, load_dataset
from explainer.chunks import explain_in_chunks, merge_chunks, plan_chunks, run_chunk
from tests.conftest import DATASETS


@pytest.fixture(scope="module")
def adult():
    return load_dataset((DATASETS / "adult.csv").read_bytes(), name="adult", target="income")


@pytest.fixture(scope="module")
def breast_cancer():
    return load_dataset((DATASETS / "breast_cancer.csv").read_bytes(), name="breast_cancer", target="target")


def _without_timing(result: dict) -> dict:
    return {name: value for name, value in result.items() if name != "elapsed_seconds"}


@pytest.mark.parametrize("parameters, chunk_rows", [
    ({"n_rows": 300}, 70),
    ({"n_rows": 12, "explainer": "permutation", "max_evals": 100, "background_size": 30}, 5),
    ({"row_indices": [40, 3, 17, 3000, 9], "explainer": "permutation", "max_evals": 100}, 2),
])
def test_shap_in_chunks_equals_the_whole_run(adult_model, adult, parameters, chunk_rows):
    whole = explain(adult_model, adult, method="shap", parameters=parameters).to_dict()
    chunked = explain_in_chunks(adult_model, adult, method="shap", parameters=parameters, chunk_rows=chunk_rows)

    assert len(plan_chunks(adult_model, adult, method="shap", parameters=parameters,
                           chunk_rows=chunk_rows)) > 1
    assert _without_timing(chunked) == _without_timing(whole)


def test_permutation_in_chunks_equals_the_whole_run(adult_model, adult):
    parameters = {"n_repeats": 3, "max_rows": 20000, "scoring": "roc_auc"}
    whole = explain(adult_model, adult, method="permutation", parameters=parameters).to_dict()
    chunks = plan_chunks(adult_model, adult, method="permutation", parameters=parameters)
    chunked = explain_in_chunks(adult_model, adult, method="permutation", parameters=parameters)

    assert len(chunks) > 1
    assert [chunk["baseline"] for chunk in chunks].count(True) == 1
    assert _without_timing(chunked) == _without_timing(whole)


def test_integrated_gradients_in_chunks_equals_the_whole_run(mlp_model, breast_cancer):
    parameters = {"n_rows": 200, "n_steps": 50, "baseline": "mean"}
    whole = explain(mlp_model, breast_cancer, method="integrated-gradients", parameters=parameters).to_dict()
    chunked = explain_in_chunks(mlp_model, breast_cancer, method="integrated-gradients",
                                parameters=parameters, chunk_rows=64)

    assert _without_timing(chunked) == _without_timing(whole)


def test_agnostic_shap_of_a_row_does_not_depend_on_the_other_rows(adult_model, adult):
    options = {"explainer": "permutation", "max_evals": 100, "background_size": 30}
    alone = explain(adult_model, adult, method="shap", parameters={"row_indices": [17], **options})
    together = explain(adult_model, adult, method="shap", parameters={"row_indices": [5, 17, 900], **options})

    assert np.array_equal(alone.values[0], together.values[1])


def test_chunks_merge_in_any_order(adult_model, adult):
    parameters = {"n_repeats": 2, "max_rows": 30000}
    chunks = plan_chunks(adult_model, adult, method="permutation", parameters=parameters)
    partials = [run_chunk(adult_model, adult, method="permutation", parameters=parameters, chunk=chunk)
                for chunk in chunks]
    forward = merge_chunks(adult_model, adult, method="permutation", parameters=parameters, partials=partials)
    backward = merge_chunks(adult_model, adult, method="permutation", parameters=parameters,
                            partials=partials[::-1])

    assert forward == backward


def test_merge_refuses_missing_chunks(adult_model, adult):
    parameters = {"n_repeats": 2, "max_rows": 30000}
    chunks = plan_chunks(adult_model, adult, method="permutation", parameters=parameters)
    partials = [run_chunk(adult_model, adult, method="permutation", parameters=parameters, chunk=chunk)
                for chunk in chunks[1:]]

    with pytest.raises(InvalidParameterError, match="do not cover every permuted copy"):
        merge_chunks(adult_model, adult, method="permutation", parameters=parameters, partials=partials)


@pytest.mark.parametrize("chunk_rows", [0, -3, 2.5, True])
def test_plan_rejects_bad_chunk_rows(adult_model, adult, chunk_rows):
    with pytest.raises(InvalidParameterError, match="chunk_rows must be a positive integer"):
        plan_chunks(adult_model, adult, method="shap", parameters={"n_rows": 10}, chunk_rows=chunk_rows)


def test_plan_rejects_unknown_parameters(adult_model, adult):
    with pytest.raises(InvalidParameterError, match="unknown parameter"):
        plan_chunks(adult_model, adult, method="shap", parameters={"rows": 10})


@pytest.fixture(scope="module")
def healthy_network(checkpoints_dir):
    """A scripted nn.Sequential classifier of the breast-cancer data, whose layers accept hooks."""
    from explainer import load_model

    return load_model(checkpoints_dir / "healthy" / "architecture.pt")


def _assert_close(served, expected, path="result"):
    """Check nested JSON for equality, floats within float32 rounding (relative 1e-6, absolute 1e-5)."""
    if isinstance(expected, dict):
        assert sorted(served) == sorted(expected), path
        for name in expected:
            _assert_close(served[name], expected[name], f"{path}.{name}")
    elif isinstance(expected, list):
        assert len(served) == len(expected), path
        for position, (left, right) in enumerate(zip(served, expected)):
            _assert_close(left, right, f"{path}[{position}]")
    elif isinstance(expected, float):
        assert served == pytest.approx(expected, rel=1e-6, abs=1e-5), path
    else:
        assert served == expected, path


@pytest.mark.parametrize("method, parameters", [
    ("layer-attributions", {"layer": ["layer1", "relu2"], "baseline": "mean", "n_steps": 40}),
    ("layer-attributions", {"layer": "relu1", "layer_method": "activations"}),
    ("neuron-attributions", {"layer": "layer2", "neuron": 3, "n_steps": 40}),
    ("neuron-attributions", {"layer": "relu2", "neuron": [5], "neuron_method": "conductance", "n_steps": 40}),
], ids=["layer-ig", "layer-activations", "neuron-ig", "neuron-conductance"])
def test_layer_methods_in_chunks_match_the_whole_run(healthy_network, breast_cancer, method, parameters):
    parameters = {"n_rows": 30, **parameters}
    whole = explain(healthy_network, breast_cancer, method=method, parameters=parameters).to_dict()
    chunks = plan_chunks(healthy_network, breast_cancer, method=method, parameters=parameters, chunk_rows=7)
    split = explain_in_chunks(healthy_network, breast_cancer, method=method, parameters=parameters, chunk_rows=7)
    unsplit = explain_in_chunks(healthy_network, breast_cancer, method=method, parameters=parameters)

    assert len(chunks) == 5
    assert _without_timing(unsplit) == _without_timing(whole)
    _assert_close(_without_timing(split), _without_timing(whole))


@pytest.mark.parametrize("parameters", [
    {"noise_tunnel": {"type": "smoothgrad", "n_samples": 4, "stdev": 0.5}},
    {"baseline": "sample", "n_baselines": 6},
], ids=["noise-tunnel", "sampled-baselines"])
def test_random_integrated_gradients_runs_as_one_chunk(healthy_network, breast_cancer, parameters):
    parameters = {"n_rows": 20, "random_state": 3, **parameters}
    whole = explain(healthy_network, breast_cancer, method="integrated-gradients", parameters=parameters).to_dict()
    chunks = plan_chunks(healthy_network, breast_cancer, method="integrated-gradients", parameters=parameters,
                         chunk_rows=5)
    chunked = explain_in_chunks(healthy_network, breast_cancer, method="integrated-gradients",
                                parameters=parameters, chunk_rows=5)

    assert len(chunks) == 1
    assert _without_timing(chunked) == _without_timing(whole)
    assert whole["parameters"]["random_state"] == 3


def test_training_health_runs_as_one_chunk(checkpoints_dir, checkpoint_networks, breast_cancer):
    from explainer import load_checkpoints

    entry = checkpoint_networks["dead_relu"]
    folder = checkpoints_dir / "dead_relu"
    series = load_checkpoints(folder / entry["architecture"], [folder / name for name in entry["weights"]])
    parameters = {"n_bins": 8}

    whole = explain(series, breast_cancer, method="training-health", parameters=parameters).to_dict()
    chunks = plan_chunks(series, breast_cancer, method="training-health", parameters=parameters, chunk_rows=5)
    chunked = explain_in_chunks(series, breast_cancer, method="training-health", parameters=parameters)

    assert chunks == [{"whole": True}]
    assert _without_timing(chunked) == _without_timing(whole)
    assert [finding["layer"] for finding in whole["findings"]] == ["relu1"]


def test_training_health_needs_a_series(healthy_network, breast_cancer):
    with pytest.raises(InvalidParameterError, match="explains a CheckpointSeries from load_checkpoints, got TorchModel"):
        plan_chunks(healthy_network, breast_cancer, method="training-health", parameters={})
