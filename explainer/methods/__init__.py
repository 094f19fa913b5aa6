"""Explanation methods: one private module per method."""

from ._permutation import permutation_importance
from ._shap import choose_explainer, shap_values

__all__ = ["choose_explainer", "permutation_importance", "shap_values"]
