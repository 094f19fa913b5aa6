"""Integrated gradients: equality with captum, completeness, targets, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients

from explainer import InvalidParameterError, UnusableInputError, integrated_gradients

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
        ({"baseline": "average"}, r"baseline must be one of \['zeros', 'mean', 'median'\], got 'average'"),
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
