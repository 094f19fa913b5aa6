"""Explanation methods: one private module per method."""

from ._integrated_gradients import integrated_gradients
from ._permutation import permutation_importance
from ._shap import choose_explainer, shap_values
from ._whatif import apply_changes, sweep, what_if

__all__ = [
    "apply_changes",
    "choose_explainer",
    "integrated_gradients",
    "permutation_importance",
    "shap_values",
    "sweep",
    "what_if",
]
