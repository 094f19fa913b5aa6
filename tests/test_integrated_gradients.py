"""Integrated gradients: equality with captum, completeness, noise, sampled baselines, embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GradientShap, IntegratedGradients, NoiseTunnel

from explainer import InvalidParameterError, UnusableInputError, integrated_gradients, load_model
from explainer.methods._integrated_gradients import standardized_path

# With 500 Gauss-Legendre steps from the mean row, the demo MLP's 100 sampled
# rows converge to a delta of about 3e-3. The remaining delta is mostly float32
# rounding: over all 569 rows it stays near 1.5e-2 from 300 steps on, driven by
# one row with a logit of 69.
N_STEPS = 500


@pytest.fixture(scope="module")
def features(breast_cancer_frame):
    return breast_cancer_frame.drop(columns="target")


@pytest.fixture(scope="module")
def rows(features):
    return features.sample(100, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def mean_result(mlp_model, rows, features):
    return integrated_gradients(mlp_model, rows, baseline="mean", reference=features, n_steps=N_STEPS)


def _captum_attributions(mlp_model, rows, baseline_row, target, n_steps):
    """Attribute the module's logits with captum directly, from one baseline row."""
    inputs = mlp_model.to_tensor(rows)
    baselines = torch.from_numpy(np.tile(np.asarray(baseline_row, dtype=np.float32), (len(rows), 1)))
    attributions = IntegratedGradients(mlp_model.torch_module).attribute(
        inputs, baselines=baselines, target=target, n_steps=n_steps
    )
    return attributions.detach().to(torch.float64).numpy()


def test_integrated_gradients_equals_captum(mlp_model, rows, features):
    mean_row = features.to_numpy(dtype=np.float32).mean(axis=0)

    result = integrated_gradients(mlp_model, rows, baseline="mean", reference=features, n_steps=200, target=1)

    expected = _captum_attributions(mlp_model, rows, mean_row, 1, 200)
    assert result.attributions.shape == (100, 30)
    assert result.feature_names == tuple(features.columns)
    np.testing.assert_allclose(result.baseline, mean_row, atol=0, rtol=0)
    np.testing.assert_allclose(result.attributions, expected, atol=1e-6, rtol=0)


def test_integrated_gradients_default_target_predicted(mlp_model, rows):
    predicted = mlp_model.predict(rows).argmax(axis=1)

    result = integrated_gradients(mlp_model, rows, baseline="zeros", n_steps=50)

    expected = _captum_attributions(mlp_model, rows, np.zeros(30), torch.from_numpy(predicted), 50)
    assert result.targets == [mlp_model.class_names[index] for index in predicted]
    assert set(result.targets) == {"malignant", "benign"}
    np.testing.assert_allclose(result.attributions, expected, atol=1e-6, rtol=0)


def test_integrated_gradients_baseline_row_as_dict(mlp_model, rows, features):
    reference_row = features.iloc[7]

    result = integrated_gradients(mlp_model, rows, baseline=reference_row.to_dict(), n_steps=50, target=0)

    expected = _captum_attributions(mlp_model, rows, reference_row.to_numpy(), 0, 50)
    np.testing.assert_allclose(result.attributions, expected, atol=1e-6, rtol=0)


def test_integrated_gradients_completeness(mean_result):
    explained_change = mean_result.outputs - mean_result.baseline_outputs

    gap = np.abs(mean_result.attributions.sum(axis=1) - explained_change)

    assert np.all(gap <= np.abs(mean_result.convergence_delta) + 1e-5)


def test_integrated_gradients_mean_baseline_converges(mean_result):
    assert mean_result.convergence_delta.shape == (100,)
    assert mean_result.max_abs_convergence_delta == np.abs(mean_result.convergence_delta).max()
    assert mean_result.max_abs_convergence_delta < 1e-2


def test_integrated_gradients_more_steps_converge_closer(mlp_model, rows, features, mean_result):
    coarse = integrated_gradients(mlp_model, rows, baseline="mean", reference=features, n_steps=20)

    assert mean_result.max_abs_convergence_delta < coarse.max_abs_convergence_delta


def test_integrated_gradients_target_name_equals_index(mlp_model, rows):
    by_name = integrated_gradients(mlp_model, rows, target="benign", n_steps=50)
    by_index = integrated_gradients(mlp_model, rows, target=1, n_steps=50)

    np.testing.assert_array_equal(by_name.attributions, by_index.attributions)
    assert by_name.targets == ["benign"] * len(rows)


def test_integrated_gradients_probability_space_completeness(mlp_model, rows):
    result = integrated_gradients(mlp_model, rows, baseline="zeros", n_steps=200, target="malignant",
                                  output_space="probability")

    np.testing.assert_allclose(result.outputs, mlp_model.predict(rows)[:, 0], atol=1e-6)
    gap = np.abs(result.attributions.sum(axis=1) - (result.outputs - result.baseline_outputs))
    assert np.all(gap <= np.abs(result.convergence_delta) + 1e-5)


def test_integrated_gradients_tree_model_lists_methods(adult_model, adult_frame):
    with pytest.raises(UnusableInputError, match=r"Methods that apply to it: \['permutation', 'shap', 'what-if'\]") \
            as raised:
        integrated_gradients(adult_model, adult_frame.iloc[:5])
    assert raised.value.details["applicable_methods"] == ["permutation", "shap", "what-if"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"baseline": [0.0, 1.0, 2.0]}, r"a baseline row needs 30 finite numbers, got 3"),
        ({"baseline": [float("nan")] * 30}, r"a baseline row needs 30 finite numbers"),
        ({"baseline": "average"}, r"baseline must be one of \['zeros', 'mean', 'median', 'sample'\], got 'average'"),
        ({"baseline": {"mean radius": 1.0}}, r"unknown: \[\], missing: \['mean texture'"),
        ({"baseline": ["a"] * 30}, r"baseline must be one of .* a list of 30 numbers"),
        ({"n_steps": 1}, r"n_steps must be between 2 and 10000, got 1"),
        ({"method": "simpson"}, r"method must be one of \['gausslegendre'"),
        ({"target": "healthy"}, r"target 'healthy' is not a class of the model"),
        ({"target": 2}, r"target must be a class name .* or an index from 0 to 1, got 2"),
        ({"output_space": "log_odds"}, r"output_space must be one of \['raw', 'probability'\]"),
        ({"internal_batch_size": 0}, r"internal_batch_size must be at least 1, got 0"),
    ],
)
def test_integrated_gradients_bad_options(mlp_model, rows, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        integrated_gradients(mlp_model, rows.iloc[:5], **options)


def test_integrated_gradients_missing_values(mlp_model, rows):
    with_missing = rows.iloc[:5].copy()
    with_missing.loc[2, "mean area"] = np.nan

    with pytest.raises(UnusableInputError, match=r"column\(s\) \['mean area'\] have missing values"):
        integrated_gradients(mlp_model, with_missing)


# --- noise tunnel, sampled baselines, internal batches ------------------------


def _seeded(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def test_noise_tunnel_equals_captum(mlp_model, rows):
    noise_tunnel = {"type": "smoothgrad_sq", "n_samples": 4, "stdev": 0.5}

    result = integrated_gradients(mlp_model, rows.iloc[:20], target=1, n_steps=20,
                                  noise_tunnel=noise_tunnel, random_state=7)

    inputs = mlp_model.to_tensor(rows.iloc[:20])
    with torch.random.fork_rng(devices=[]):
        state = np.random.get_state()
        _seeded(7)
        expected = NoiseTunnel(IntegratedGradients(mlp_model.torch_module)).attribute(
            inputs, nt_type="smoothgrad_sq", nt_samples=4, stdevs=0.5, baselines=torch.zeros_like(inputs),
            target=1, n_steps=20,
        )
        np.random.set_state(state)
    np.testing.assert_allclose(result.attributions, expected.detach().numpy(), atol=1e-6, rtol=0)
    assert result.parameters["noise_tunnel"] == {**noise_tunnel, "scale": "raw"}
    assert result.parameters["random_state"] == 7


def test_noise_tunnel_seed_reproducible(mlp_model, rows):
    options = {"target": 1, "n_steps": 20, "noise_tunnel": {"type": "vargrad", "n_samples": 3, "stdev": 1.0}}
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()

    first = integrated_gradients(mlp_model, rows.iloc[:10], random_state=3, **options)
    second = integrated_gradients(mlp_model, rows.iloc[:10], random_state=3, **options)
    other = integrated_gradients(mlp_model, rows.iloc[:10], random_state=4, **options)

    np.testing.assert_array_equal(first.attributions, second.attributions)
    assert not np.allclose(first.attributions, other.attributions)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_delta_describes_attributions(mlp_model, breast_cancer_frame, features, nt_type):
    result = integrated_gradients(mlp_model, features.iloc[:5], baseline="mean", reference=features, n_steps=100,
                                  target="benign", random_state=0,
                                  noise_tunnel={"type": nt_type, "n_samples": 8, "stdev": 0.5})

    gap = result.attributions.sum(axis=1) - (result.outputs - result.baseline_outputs)
    assert result.convergence_delta.shape == (5,)
    np.testing.assert_allclose(result.convergence_delta, gap, rtol=0, atol=1e-9)
    assert result.max_abs_convergence_delta > 0.5, "noise of 0.5 in raw units breaks completeness"
    assert len(result.notes) == 1
    assert f"{nt_type} attributions are" in result.notes[0]
    assert "not complete" in result.notes[0]


def test_plain_integrated_gradients_no_notes(mean_result):
    assert mean_result.notes == ()
    assert mean_result.parameters["method"] == "gausslegendre"


def test_standardized_path_same_attributions(mlp_model, rows, features):
    inputs = mlp_model.to_tensor(rows.iloc[:20])
    baselines = torch.from_numpy(np.tile(features.to_numpy(dtype=np.float32).mean(axis=0), (20, 1)))
    center = torch.from_numpy(features.to_numpy(dtype=np.float32).mean(axis=0))
    spread = torch.from_numpy(features.to_numpy(dtype=np.float32).std(axis=0))

    plain = IntegratedGradients(mlp_model.torch_module).attribute(inputs, baselines=baselines, target=1, n_steps=100)
    forward_z, inputs_z, baselines_z = standardized_path(mlp_model.torch_module, inputs, baselines, center, spread)
    standardized = IntegratedGradients(forward_z).attribute(inputs_z, baselines=baselines_z, target=1, n_steps=100)

    np.testing.assert_allclose(standardized.detach().numpy(), plain.detach().numpy(), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(inputs_z, inputs), "the wrapping changes the inputs, not the attributions"


def test_noise_tunnel_std_scale_equals_captum(mlp_model, rows, features):
    noise_tunnel = {"type": "smoothgrad", "n_samples": 4, "stdev": 0.2, "scale": "std"}

    result = integrated_gradients(mlp_model, rows.iloc[:10], baseline="zeros", reference=features, target=1,
                                  n_steps=20, noise_tunnel=noise_tunnel, random_state=5)

    values = features.to_numpy(dtype=np.float64)
    mean = torch.tensor(values.mean(axis=0), dtype=torch.float32)
    std = torch.tensor(values.std(axis=0), dtype=torch.float32)

    class FromStandardized(torch.nn.Module):
        def forward(self, z):
            return mlp_model.torch_module(mean + z * std)

    inputs_z = (mlp_model.to_tensor(rows.iloc[:10]) - mean) / std
    with torch.random.fork_rng(devices=[]):
        state = np.random.get_state()
        _seeded(5)
        expected = NoiseTunnel(IntegratedGradients(FromStandardized())).attribute(
            inputs_z, nt_type="smoothgrad", nt_samples=4, stdevs=0.2, baselines=(-mean / std).repeat(10, 1), target=1,
            n_steps=20,
        )
        np.random.set_state(state)
    np.testing.assert_allclose(result.attributions, expected.detach().numpy(), atol=1e-5, rtol=1e-5)
    assert result.parameters["noise_tunnel"] == noise_tunnel


def test_noise_tunnel_std_scale_small_noise_complete(mlp_model, rows, features):
    plain = integrated_gradients(mlp_model, rows.iloc[:10], baseline="mean", reference=features, target=1,
                                 n_steps=100)
    smoothed = integrated_gradients(mlp_model, rows.iloc[:10], baseline="mean", reference=features, target=1,
                                    n_steps=100, random_state=0,
                                    noise_tunnel={"n_samples": 3, "stdev": 1e-6, "scale": "std"})

    np.testing.assert_allclose(smoothed.attributions, plain.attributions, atol=1e-3, rtol=1e-3)
    assert smoothed.max_abs_convergence_delta < plain.max_abs_convergence_delta + 1e-3


def test_sampled_baselines_equal_gradient_shap(mlp_model, rows, features):
    result = integrated_gradients(mlp_model, rows.iloc[:20], baseline="sample", reference=features,
                                  n_baselines=8, n_steps=30, target=0, random_state=11)

    positions = np.sort(np.random.default_rng(11).choice(len(features), size=8, replace=False))
    assert result.parameters["baseline_rows"] == positions.tolist()
    baselines = mlp_model.to_tensor(features.iloc[positions])
    with torch.random.fork_rng(devices=[]):
        state = np.random.get_state()
        _seeded(11)
        expected = GradientShap(mlp_model.torch_module).attribute(
            mlp_model.to_tensor(rows.iloc[:20]), baselines=baselines, target=0, n_samples=30, stdevs=0.0
        )
        np.random.set_state(state)
    np.testing.assert_allclose(result.attributions, expected.detach().numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(result.baseline, baselines.numpy().mean(axis=0), atol=1e-6)


def test_sampled_baselines_delta_against_mean_output(mlp_model, rows, features):
    result = integrated_gradients(mlp_model, rows.iloc[:20], baseline="sample", reference=features,
                                  n_baselines=5, n_steps=10, target=1, random_state=2)
    again = integrated_gradients(mlp_model, rows.iloc[:20], baseline="sample", reference=features,
                                 n_baselines=5, n_steps=10, target=1, random_state=2)

    baseline_logits = mlp_model.torch_module(
        mlp_model.to_tensor(features.iloc[result.parameters["baseline_rows"]])).detach().numpy()
    np.testing.assert_allclose(result.baseline_outputs, baseline_logits[:, 1].mean(), atol=1e-5)
    expected_delta = result.attributions.sum(axis=1) - (result.outputs - result.baseline_outputs)
    np.testing.assert_allclose(result.convergence_delta, expected_delta)
    np.testing.assert_array_equal(result.attributions, again.attributions)


def test_sampled_baselines_note_without_method(mlp_model, rows, features):
    result = integrated_gradients(mlp_model, rows.iloc[:5], baseline="sample", reference=features,
                                  n_baselines=3, n_steps=10, target=1, random_state=2)

    assert "method" not in result.parameters
    assert len(result.notes) == 1
    assert "3 baseline rows" in result.notes[0]
    assert "complete only in expectation" in result.notes[0]


def test_internal_batch_size_same_attributions(mlp_model, rows):
    whole = integrated_gradients(mlp_model, rows.iloc[:10], n_steps=64, target=1)
    batched = integrated_gradients(mlp_model, rows.iloc[:10], n_steps=64, target=1, internal_batch_size=7)

    np.testing.assert_allclose(batched.attributions, whole.attributions, atol=1e-6, rtol=0)
    assert batched.parameters["internal_batch_size"] == 7


@pytest.mark.parametrize(
    "options, message",
    [
        ({"noise_tunnel": {"type": "blur"}}, r"noise_tunnel type must be one of \['smoothgrad'"),
        ({"noise_tunnel": {"samples": 3}},
         r"noise_tunnel must be a dict with keys \['type', 'n_samples', 'stdev', 'scale'\]"),
        ({"noise_tunnel": {"scale": "minmax"}}, r"noise_tunnel scale must be one of \['raw', 'std'\]"),
        ({"noise_tunnel": {"stdev": 0}}, r"noise_tunnel stdev must be a positive number, got 0"),
        ({"noise_tunnel": {"n_samples": 0}}, r"noise_tunnel n_samples must be between 1 and 1000"),
        ({"baseline": "sample", "n_baselines": 0}, r"n_baselines must be between 1 and 10000, got 0"),
        ({"baseline": "sample", "noise_tunnel": {}}, r"noise_tunnel applies to one baseline"),
        ({"noise_tunnel": {}, "random_state": -1}, r"random_state must be between 0 and"),
    ],
)
def test_integrated_gradients_bad_random_options(mlp_model, rows, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        integrated_gradients(mlp_model, rows.iloc[:5], **options)


# --- categorical inputs through an embedding ----------------------------------


def test_categorical_completeness(categorical_model, categorical_frame):
    result = integrated_gradients(categorical_model, categorical_frame.iloc[:50], baseline="zeros",
                                  n_steps=300)

    gap = np.abs(result.attributions.sum(axis=1) - (result.outputs - result.baseline_outputs))
    np.testing.assert_allclose(result.outputs, categorical_model.predict(categorical_frame.iloc[:50]), atol=1e-5)
    assert np.all(gap <= np.abs(result.convergence_delta) + 1e-4)
    assert result.max_abs_convergence_delta < 1e-2
    assert result.feature_names == ("x0", "x1", "color")


def test_categorical_baseline_most_frequent(categorical_model, categorical_frame):
    result = integrated_gradients(categorical_model, categorical_frame.iloc[:5], reference=categorical_frame,
                                  n_steps=10)

    most_frequent = categorical_frame["color"].value_counts().idxmax()
    assert result.parameters["baseline_categories"] == {"color": most_frequent}
    assert result.baseline[2] == ["red", "green", "blue"].index(most_frequent)


def test_categorical_attribution_where_category_differs(categorical_model, categorical_frame):
    rows = categorical_frame.iloc[:60].reset_index(drop=True)
    baseline = {"x0": 0.0, "x1": 0.0, "color": "green"}

    result = integrated_gradients(categorical_model, rows, baseline=baseline, n_steps=100)

    color = result.attributions[:, 2]
    is_green = (rows["color"] == "green").to_numpy()
    # The same category gives the same embedding at both ends of the path.
    np.testing.assert_array_equal(color[is_green], 0.0)
    assert np.all(np.abs(color[~is_green]) > 0.1)
    # Blue adds 2 to the target and green 0, so blue rows get a positive share.
    assert np.all(color[(rows["color"] == "blue").to_numpy()] > 0.5)


def test_categorical_indices_never_interpolated(categorical_model, categorical_frame, monkeypatch):
    seen_columns, seen_indices = [], []
    build_view = categorical_model.layer_view

    def recording_view():
        view = build_view()
        view.module.register_forward_pre_hook(lambda module, args: seen_columns.append(args[0][:, 2].clone()))
        view.layers["embed_color"].register_forward_pre_hook(
            lambda module, args: seen_indices.append(args[0].clone()))
        return view

    monkeypatch.setattr(categorical_model, "layer_view", recording_view)
    rows = categorical_frame[categorical_frame["color"] == "blue"].iloc[:10]

    integrated_gradients(categorical_model, rows, baseline={"x0": 0.0, "x1": 0.0, "color": "red"}, n_steps=50)

    fed = torch.cat(seen_columns)
    indices = torch.cat(seen_indices)
    assert len(seen_columns) >= 3
    assert torch.equal(fed, fed.round())
    assert set(fed.tolist()) == {0.0, 2.0}
    assert set(indices.tolist()) == {0, 2}


def test_categorical_unknown_category(categorical_model, categorical_frame):
    rows = categorical_frame.iloc[:3].assign(color=["red", "purple", "blue"])

    with pytest.raises(UnusableInputError, match=r"column 'color' has value\(s\) \['purple'\] that are not "
                                                 r"among its categories \['red', 'green', 'blue'\]"):
        categorical_model.predict(rows)


def test_categorical_torchscript_names_fix(checkpoints_dir, categorical_frame):
    scripted = load_model(checkpoints_dir / "categorical" / "architecture.pt")

    np.testing.assert_allclose(scripted.predict(categorical_frame.iloc[:5]),
                               load_model(checkpoints_dir / "categorical" / "architecture.pt2")
                               .predict(categorical_frame.iloc[:5]), atol=1e-6)
    with pytest.raises(UnusableInputError, match=r"'embed_color' accepts no forward hooks.*\.pt2"):
        integrated_gradients(scripted, categorical_frame.iloc[:5])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"noise_tunnel": {}}, r"not available for models with categorical inputs \['color'\]"),
        ({"baseline": "sample"}, r"not available for models with categorical inputs"),
        ({"baseline": {"x0": 0, "x1": 0, "color": "pink"}}, r"gives 'pink' for the categorical feature 'color'"),
    ],
)
def test_categorical_bad_options(categorical_model, categorical_frame, options, message):
    with pytest.raises(InvalidParameterError, match=message):
        integrated_gradients(categorical_model, categorical_frame.iloc[:5], **options)


def test_categorical_metadata_checked(checkpoints_dir):
    data = (checkpoints_dir / "categorical" / "architecture.pt2").read_bytes()
    metadata = {"feature_names": ["x0", "x1", "color"], "task": "regression",
                "categories": {"color": ["red", "green", "blue"]}, "embeddings": {"color": "body.hidden"}}

    with pytest.raises(UnusableInputError, match=r"names layer 'body.hidden' for feature 'color', which is a "
                                                 r"Linear"):
        load_model(data, metadata=metadata)
    with pytest.raises(UnusableInputError, match=r"embeddings names \['shade'\], which are not declared"):
        load_model(data, metadata={**metadata, "embeddings": {"shade": "embed_color"}})
