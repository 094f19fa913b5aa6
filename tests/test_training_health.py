"""Training health: findings on broken networks, statistics equal to torch's, checkpoint checks."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch

from explainer import (
    InvalidParameterError,
    UnsupportedFormatError,
    UnusableInputError,
    load_checkpoints,
    training_health,
)
from explainer.methods import _training_health as health
from tests.conftest import DATASETS


def _series(checkpoint_networks, checkpoints_dir, name, architecture="architecture"):
    entry = checkpoint_networks[name]
    folder = checkpoints_dir / name
    return load_checkpoints(folder / entry[architecture], [folder / file for file in entry["weights"]],
                            epochs=entry["epochs"])


def _data(checkpoint_networks, name):
    entry = checkpoint_networks[name]
    frame = pd.read_csv(entry["dataset_file"])
    return frame.drop(columns=entry["target"]), frame[entry["target"]]


@pytest.fixture(scope="module")
def results(checkpoint_networks, checkpoints_dir):
    """The training-health result of each network on its own training data."""
    computed = {}
    for name in ("healthy", "vanishing", "exploding", "dead_relu"):
        X, y = _data(checkpoint_networks, name)
        computed[name] = training_health(_series(checkpoint_networks, checkpoints_dir, name), X, y)
    return computed


def _findings(result, problem):
    return {finding["layer"]: finding for finding in result.findings if finding["problem"] == problem}


def test_healthy_network_no_findings(results):
    assert results["healthy"].findings == []
    assert results["healthy"].loss[-1] < results["healthy"].loss[0] / 5


def test_vanishing_gradients_named(results):
    found = _findings(results["vanishing"], "vanishing-gradients")

    assert {"layer1.weight", "layer2.weight"} <= set(found)
    assert "output.weight" not in found
    assert "layer8.weight" not in found
    first = found["layer1.weight"]
    assert first["measured"] < health.VANISHING_GRADIENT_RATIO
    assert first["threshold"] == health.VANISHING_GRADIENT_RATIO
    assert first["checkpoints"] == results["vanishing"].epochs
    assert "ReLU" in " ".join(first["remedies"])
    assert {finding["problem"] for finding in results["vanishing"].findings} == {"vanishing-gradients"}


def test_exploding_weights_named(results):
    found = _findings(results["exploding"], "exploding-weights")

    assert set(found) == {"layer1.weight", "output.weight"}
    assert found["layer1.weight"]["checkpoint"] == results["exploding"].epochs[-1]
    assert found["layer1.weight"]["measured"] > 1000
    assert "learning rate" in found["layer1.weight"]["remedies"][0]


def test_exploding_loss_and_gradients_diverge(results):
    result = results["exploding"]
    loss_findings = _findings(result, "diverging-loss")
    gradient_findings = _findings(result, "diverging-gradients")

    assert {finding["problem"] for finding in result.findings} == {
        "exploding-weights", "diverging-loss", "diverging-gradients"}
    assert set(loss_findings) == {None}
    assert loss_findings[None]["measured"] == pytest.approx(result.loss[-1] / result.loss[0])
    assert loss_findings[None]["threshold"] == health.DIVERGING_LOSS_FACTOR
    assert loss_findings[None]["checkpoint"] == result.epochs[-1]
    assert "learning rate" in loss_findings[None]["remedies"][0]
    assert set(gradient_findings) == {"layer1.weight", "output.weight"}
    first_norm = result.gradients["layer1.weight"]["norm"][0]
    assert gradient_findings["layer1.weight"]["measured"] == pytest.approx(
        result.gradients["layer1.weight"]["norm"].max() / first_norm)
    assert not _findings(result, "rising-loss"), "a diverging loss is not reported as rising too"


def test_checkpoints_out_of_order_rising_loss(checkpoint_networks, checkpoints_dir):
    entry = checkpoint_networks["healthy"]
    folder = checkpoints_dir / "healthy"
    X, y = _data(checkpoint_networks, "healthy")
    reversed_series = load_checkpoints(folder / entry["architecture"],
                                       [folder / file for file in reversed(entry["weights"])],
                                       epochs=list(reversed(entry["epochs"])))

    result = training_health(reversed_series, X, y)

    assert [finding["problem"] for finding in result.findings] == ["rising-loss"]
    finding = result.findings[0]
    assert finding["layer"] is None
    assert finding["checkpoint"] == entry["epochs"][0]
    assert finding["measured"] == pytest.approx(result.loss[-1] / result.loss[0])
    assert finding["threshold"] == health.RISING_LOSS_FACTOR
    assert "training order" in finding["remedies"][0]
    assert result.thresholds["rising_loss_factor"] == health.RISING_LOSS_FACTOR


@pytest.mark.parametrize(
    ("loss", "problems", "checkpoints"),
    [
        ([1.0, 0.5, 0.4], [], []),
        ([1.0, 0.8, 1.4], [], []),
        ([1.0, 2.0, 0.9], [], []),
        ([1.0, 1.2, 1.6], ["rising-loss"], ["c"]),
        ([1.0, 2.0, 1.6], ["rising-loss"], ["b", "c"]),
        ([1.0, 2e3, 3.0], ["diverging-loss"], ["b"]),
        ([1.0, float("nan"), 0.5], ["diverging-loss"], ["b"]),
        ([1.0, 0.5, float("inf")], ["diverging-loss"], ["c"]),
        ([0.0, 0.5, 3.0], [], []),
    ],
    ids=["falling", "below-factor", "rises-then-falls", "ends-higher", "peak-in-between", "diverges",
         "nan", "infinite", "first-zero"],
)
def test_loss_findings_rules(loss, problems, checkpoints):
    found = health.find_problems(["a", "b", "c"], {}, {}, {}, np.array(loss))

    assert [finding["problem"] for finding in found] == problems
    if found:
        assert found[0]["checkpoints"] == checkpoints
        assert found[0]["layer"] is None


def test_diverging_gradients_rule():
    growing = {"layer1.weight": {"norm": np.array([0.1, 5.0, 2e3])},
               "output.weight": {"norm": np.array([1.0, 50.0, float("nan")])}}
    weights = {name: {"shape": [4, 4], "l2_norm": np.ones(3), "nan_count": np.zeros(3),
                      "inf_count": np.zeros(3)} for name in growing}

    found = {finding["layer"]: finding for finding in health.find_problems(["a", "b", "c"], weights, {}, growing)
             if finding["problem"] == "diverging-gradients"}

    assert set(found) == {"layer1.weight", "output.weight"}
    assert found["layer1.weight"]["measured"] == pytest.approx(2e4)
    assert found["layer1.weight"]["checkpoints"] == ["c"]
    assert found["output.weight"]["measured"] == np.inf


def test_dead_relu_units_named(results, checkpoint_networks, checkpoints_dir):
    found = _findings(results["dead_relu"], "dead-relu-units")
    assert set(found) == {"relu1"}
    series = _series(checkpoint_networks, checkpoints_dir, "dead_relu")
    X, _ = _data(checkpoint_networks, "dead_relu")

    module = series.model.torch_module
    module.load_state_dict(series.states[-1])
    with torch.no_grad():
        hidden = torch.relu(module.layer1(module.standardize(series.model.to_tensor(X))))
    dead = float((hidden == 0).all(dim=0).double().mean())
    dead_fractions = results["dead_relu"].activations["relu1"]["dead_fraction"]
    assert dead_fractions[-1] == pytest.approx(dead)
    assert dead > health.DEAD_UNIT_FRACTION
    assert found["relu1"]["measured"] == dead_fractions.max()
    assert found["relu1"]["threshold"] == health.DEAD_UNIT_FRACTION


def test_weight_statistics_equal_torch(results, checkpoint_networks, checkpoints_dir):
    series = _series(checkpoint_networks, checkpoints_dir, "healthy")
    statistics = results["healthy"].weights["layer1.weight"]
    edges = statistics["histogram_edges"]

    for position, state in enumerate(series.states):
        tensor = state["layer1.weight"].to(torch.float64).reshape(-1)
        assert statistics["mean"][position] == pytest.approx(float(tensor.mean()))
        assert statistics["std"][position] == pytest.approx(float(tensor.std(correction=0)))
        assert statistics["min"][position] == float(tensor.min())
        assert statistics["max"][position] == float(tensor.max())
        expected = torch.quantile(tensor, torch.tensor([1, 5, 25, 50, 75, 95, 99], dtype=torch.float64) / 100)
        np.testing.assert_allclose(statistics["percentiles"][position], expected.numpy(), rtol=1e-12)
        assert statistics["l2_norm"][position] == pytest.approx(float(torch.linalg.vector_norm(tensor)))
        assert statistics["near_zero_fraction"][position] == float((tensor.abs() < 1e-3).double().mean())
        counts = torch.histc(tensor, bins=len(edges) - 1, min=float(edges[0]), max=float(edges[-1]))
        np.testing.assert_array_equal(statistics["histogram_counts"][position], counts.numpy())
        if position:
            previous = series.states[position - 1]["layer1.weight"].to(torch.float64)
            change = torch.linalg.vector_norm(state["layer1.weight"].to(torch.float64) - previous)
            assert statistics["update_ratio"][position] == pytest.approx(
                float(change / torch.linalg.vector_norm(previous)))
    assert np.isnan(statistics["update_ratio"][0])
    assert edges[0] == min(float(state["layer1.weight"].min()) for state in series.states)
    assert statistics["histogram_counts"].sum(axis=1).tolist() == [16 * 30] * len(series)


def test_gradient_norms_equal_torch(results, checkpoint_networks, checkpoints_dir):
    series = _series(checkpoint_networks, checkpoints_dir, "healthy")
    X, y = _data(checkpoint_networks, "healthy")
    module = series.model.torch_module
    module.load_state_dict(series.states[3])

    loss = torch.nn.functional.cross_entropy(module(series.model.to_tensor(X)), torch.tensor(y.to_numpy()))
    loss.backward()

    result = results["healthy"]
    assert result.loss[3] == pytest.approx(float(loss), rel=1e-6)
    for name, parameter in module.named_parameters():
        assert result.gradients[name]["norm"][3] == pytest.approx(float(parameter.grad.norm()), rel=1e-5)


def test_non_finite_weights_named(checkpoint_networks, checkpoints_dir):
    entry = checkpoint_networks["healthy"]
    folder = checkpoints_dir / "healthy"
    broken = safetensors.torch.load_file(folder / entry["weights"][-1])
    broken["layer2.weight"][0, :3] = torch.tensor([float("nan"), float("inf"), float("-inf")])
    weights = [(folder / file).read_bytes() for file in entry["weights"][:2]] + [safetensors.torch.save(broken)]

    series = load_checkpoints(folder / "architecture.pt", weights, epochs=["a", "b", "c"])
    result = training_health(series)

    found = _findings(result, "non-finite-weights")
    assert set(found) == {"layer2.weight"}
    assert found["layer2.weight"]["checkpoint"] == "c"
    assert found["layer2.weight"]["measured"] == 3
    assert result.weights["layer2.weight"]["nan_count"].tolist() == [0, 0, 1]
    assert result.weights["layer2.weight"]["inf_count"].tolist() == [0, 0, 2]
    assert result.activations == {}
    assert result.loss is None


def test_exported_architecture_activations(checkpoint_networks, checkpoints_dir):
    X, y = _data(checkpoint_networks, "categorical")
    exported = _series(checkpoint_networks, checkpoints_dir, "categorical", "exported_architecture")
    scripted = _series(checkpoint_networks, checkpoints_dir, "categorical")

    with_hooks = training_health(exported, X, y)
    without_hooks = training_health(scripted, X, y)

    assert with_hooks.activations["body.relu"]["kind"] == "ReLU"
    assert "embed_color" in with_hooks.activations
    assert without_hooks.activations == {}
    assert "torch.export" in without_hooks.notes[0]
    np.testing.assert_allclose(without_hooks.loss, with_hooks.loss, rtol=1e-5)


def test_mismatched_weights_named(checkpoint_networks, checkpoints_dir):
    folder = checkpoints_dir / "healthy"
    state = safetensors.torch.load_file(folder / checkpoint_networks["healthy"]["weights"][0])
    state.pop("output.bias")
    state["layer2.weight"] = torch.zeros((3, 3))
    state["extra.weight"] = torch.zeros(2)

    with pytest.raises(UnusableInputError, match=r"checkpoint '0' do not match the architecture: missing "
                                                 r"\['output.bias'\], unexpected \['extra.weight'\], other "
                                                 r"shapes \['layer2.weight: \(3, 3\) in the file, \(8, 16\)"):
        load_checkpoints(folder / "architecture.pt", [safetensors.torch.save(state)])


def test_pickled_weights_rejected(checkpoint_networks, checkpoints_dir):
    folder = checkpoints_dir / "healthy"
    buffer = io.BytesIO()
    torch.save(safetensors.torch.load_file(folder / checkpoint_networks["healthy"]["weights"][0]), buffer)

    with pytest.raises(UnsupportedFormatError, match=r"checkpoint '0' are not a safetensors file"):
        load_checkpoints(folder / "architecture.pt", [buffer.getvalue()])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda series: load_checkpoints(series, []), r"weights must be a non-empty list"),
        (lambda series: training_health(series, n_bins=0), r"n_bins must be between 1 and 1000, got 0"),
        (lambda series: training_health(series, near_zero_epsilon=-1), r"near_zero_epsilon must be a positive"),
        (lambda series: training_health(series, y=[0, 1]), r"y needs X"),
        (lambda series: training_health("series"), r"series must be a CheckpointSeries"),
    ],
)
def test_training_health_bad_options(checkpoint_networks, checkpoints_dir, call, message):
    series = _series(checkpoint_networks, checkpoints_dir, "healthy")
    with pytest.raises(InvalidParameterError, match=message):
        call(series)


def _training_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_checkpoints", DATASETS / "train_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_checkpoints_describes_networks(checkpoints_dir, capsys):
    module = _training_script()

    assert module.main(["--output", str(checkpoints_dir)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(module.NETWORKS)
    for name, line in zip(module.NETWORKS, lines[1:]):
        assert line.startswith(f"  {name}: ")
    assert "vanishing-gradients" in lines[2]


def test_train_checkpoints_regressor_metadata(checkpoints_dir, checkpoint_networks):
    module = _training_script()
    manifest = json.loads((checkpoints_dir / "checkpoints.json").read_text(encoding="utf-8"))
    stale = [dict(entry, metadata={**entry["metadata"], "output": "logits"}) for entry in manifest]

    assert "output" not in checkpoint_networks["exploding"]["metadata"]
    assert "output" not in checkpoint_networks["categorical"]["metadata"]
    assert checkpoint_networks["healthy"]["metadata"]["output"] == "logits"
    embedded = {"explainer.json": ""}
    torch.jit.load(checkpoints_dir / "exploding" / "architecture.pt", _extra_files=embedded)
    assert "output" not in json.loads(embedded["explainer.json"])
    assert module._is_complete(checkpoints_dir, manifest)
    assert not module._is_complete(checkpoints_dir, stale), "a manifest with other metadata is retrained"


def test_train_checkpoints_idempotent(checkpoints_dir, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_checkpoints", DATASETS / "train_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = (checkpoints_dir / "healthy" / "epoch-001.safetensors").stat().st_mtime_ns

    assert module.main(["--output", str(checkpoints_dir)]) == 0

    assert "up to date" in capsys.readouterr().out
    assert (checkpoints_dir / "healthy" / "epoch-001.safetensors").stat().st_mtime_ns == written
