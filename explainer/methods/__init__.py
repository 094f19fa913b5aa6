"""Explanation methods: one private module per method."""

from ._counterfactual import counterfactuals, optimize_inputs
from ._integrated_gradients import integrated_gradients
from ._layers import layer_attributions, neuron_attributions
from ._permutation import permutation_importance
from ._shap import choose_explainer, shap_values
from ._training_health import training_health
from ._whatif import apply_changes, sweep, sweep_2d, what_if, what_if_batch

__all__ = [
    "apply_changes",
    "choose_explainer",
    "counterfactuals",
    "integrated_gradients",
    "layer_attributions",
    "neuron_attributions",
    "training_health",
    "optimize_inputs",
    "permutation_importance",
    "shap_values",
    "sweep",
    "sweep_2d",
    "what_if",
    "what_if_batch",
]
