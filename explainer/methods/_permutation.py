"""Permutation importance computed with stacked prediction batches."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.utils import check_random_state

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..models._base import DEFAULT_BATCH_ROWS
from ..results import PermutationImportanceResult
from ._common import (
    ProgressCallback,
    check_positive_int,
    check_rows,
    encode_labels,
    regression_target,
    report,
)

# Scorers take (y_true, predictions) where y_true is class indices for
# classifiers and predictions is what Model.predict returns. Each gives the
# same number as the scikit-learn scorer of the same name called on the
# estimator. Greater is better, as in scikit-learn.
def _accuracy(y, proba):
    return metrics.accuracy_score(y, proba.argmax(axis=1))


def _balanced_accuracy(y, proba):
    return metrics.balanced_accuracy_score(y, proba.argmax(axis=1))


def _roc_auc(y, proba):
    if proba.shape[1] == 2:
        return metrics.roc_auc_score(y == 1, proba[:, 1])
    return metrics.roc_auc_score(y, proba, multi_class="ovr", labels=np.arange(proba.shape[1]))


def _neg_log_loss(y, proba):
    return -metrics.log_loss(y, proba, labels=np.arange(proba.shape[1]))


CLASSIFICATION_SCORERS = {
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "roc_auc": _roc_auc,
    "neg_log_loss": _neg_log_loss,
}
REGRESSION_SCORERS = {
    "r2": metrics.r2_score,
    "neg_mean_absolute_error": lambda y, p: -metrics.mean_absolute_error(y, p),
    "neg_mean_squared_error": lambda y, p: -metrics.mean_squared_error(y, p),
    "neg_root_mean_squared_error": lambda y, p: -metrics.root_mean_squared_error(y, p),
}


def _resolve_groups(feature_names, feature_groups) -> dict[str, list[str]]:
    """Return {label: columns}: the given groups, then every other feature alone."""
    if feature_groups is None:
        return {name: [name] for name in feature_names}
    if not isinstance(feature_groups, dict):
        raise InvalidParameterError(
            f"feature_groups must map a group name to a list of features, got {feature_groups!r}."
        )
    groups: dict[str, list[str]] = {}
    grouped: set[str] = set()
    for label, members in feature_groups.items():
        members = [members] if isinstance(members, str) else list(members)
        unknown = [name for name in members if name not in feature_names]
        if unknown or not members:
            raise InvalidParameterError(
                f"feature group {label!r} must list features of the model; unknown: {unknown}. "
                f"The model's features are {list(feature_names)}."
            )
        taken = grouped.intersection(members)
        if taken:
            raise InvalidParameterError(
                f"feature(s) {sorted(taken)} appear in more than one group; put each feature "
                "in one group at most."
            )
        grouped.update(members)
        groups[str(label)] = members
    for name in feature_names:
        if name not in grouped:
            groups[name] = [name]
    return groups


def _cumulative_permutations(n_rows: int, n_repeats: int, seed: int) -> np.ndarray:
    """Row orders used by scikit-learn, shape (n_repeats, n_rows).

    scikit-learn shuffles one index array in place at each repeat and reads
    the column from the copy permuted at the previous repeat, so repeat r
    sees the composition of the first r shuffles. Every column restarts the
    same RandomState(seed), so all columns see the same orders.
    """
    rng = np.random.RandomState(seed)
    shuffling = np.arange(n_rows)
    current = np.arange(n_rows)
    orders = np.empty((n_repeats, n_rows), dtype=np.int64)
    for repeat in range(n_repeats):
        rng.shuffle(shuffling)
        current = current[shuffling]
        orders[repeat] = current
    return orders


def permutation_importance(
    model: Model,
    X: pd.DataFrame,
    y,
    *,
    scoring: str | None = None,
    n_repeats: int = 5,
    random_state=None,
    feature_groups: dict | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    dataset_digest: str | None = None,
    progress: ProgressCallback | None = None,
) -> PermutationImportanceResult:
    """Measure how much a score drops when each feature is shuffled.

    Gives the same numbers as ``sklearn.inspection.permutation_importance``
    with the same estimator, data, ``scoring``, ``n_repeats`` and integer
    ``random_state``, but predicts all permuted copies of the data in large
    stacked batches instead of one call per feature and repeat.

    Parameters
    ----------
    model : Model
    X : pandas.DataFrame of shape (n_rows, n_columns)
        Raw feature columns; columns the model does not use are ignored.
    y : array-like of shape (n_rows,)
        True labels (classification) or values (regression).
    scoring : str, optional
        ``accuracy``, ``balanced_accuracy``, ``roc_auc`` or ``neg_log_loss``
        for classifiers; ``r2``, ``neg_mean_absolute_error``,
        ``neg_mean_squared_error`` or ``neg_root_mean_squared_error`` for
        regressors. Default: ``accuracy`` or ``r2``, as ``estimator.score``.
    n_repeats : int, default=5
    random_state : int, numpy.random.RandomState or None
        Seed, used exactly as scikit-learn uses it.
    feature_groups : dict of str to list of str, optional
        Features permuted together, reported under the group's name; every
        feature not in a group is permuted alone.
    batch_rows : int, default=32768
        Rows per prediction call. Whole permuted copies are stacked up to
        this many rows, with at least one copy per call.

    Returns
    -------
    PermutationImportanceResult
    """
    started = time.perf_counter()
    plan = PermutationPlan(model, X, y, scoring=scoring, n_repeats=n_repeats,
                           random_state=random_state, feature_groups=feature_groups, batch_rows=batch_rows)
    report(progress, 0.0, "baseline")
    baseline_score = plan.baseline_score()
    scores = plan.score_copies(0, plan.n_copies, progress)
    return plan.result(baseline_score, scores, elapsed_seconds=time.perf_counter() - started,
                       dataset_digest=dataset_digest)


class PermutationPlan:
    """Validated inputs of one permutation-importance run, scored in any slices.

    A "copy" is the data with one feature group permuted by one repeat's row
    order; copies are numbered group-major. Scoring copies [a, b) and [b, c)
    separately gives the scores of scoring [a, c) at once, so a job can be
    split into slices that run on different workers.
    """

    def __init__(self, model, X, y, *, scoring=None, n_repeats=5, random_state=None,
                 feature_groups=None, batch_rows=DEFAULT_BATCH_ROWS):
        check_rows(X)
        self.model = model
        self.n_repeats = check_positive_int("n_repeats", n_repeats, maximum=1000)
        self.batch_rows = check_positive_int("batch_rows", batch_rows)
        scorers = CLASSIFICATION_SCORERS if model.is_classifier else REGRESSION_SCORERS
        if scoring is None:
            scoring = "accuracy" if model.is_classifier else "r2"
        if scoring not in scorers:
            raise InvalidParameterError(
                f"scoring must be one of {list(scorers)} for a {model.task} model, got {scoring!r}."
            )
        self.scoring = scoring
        self.scorer = scorers[scoring]
        self.features = model.select_features(X).reset_index(drop=True)
        if len(y) != len(self.features):
            raise UnusableInputError(f"y has {len(y)} values but X has {len(self.features)} rows.")
        self.y_true = encode_labels(y, model.class_names) if model.is_classifier else regression_target(y)
        self.feature_groups = feature_groups
        self.groups = _resolve_groups(model.feature_names, feature_groups)
        self.random_state = random_state
        # The seed is drawn the way scikit-learn draws it, so that an integer
        # random_state reproduces its numbers; hence RandomState, not Generator.
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
        self.n_rows = len(self.features)
        self.orders = _cumulative_permutations(self.n_rows, self.n_repeats, seed)
        self.copies = [(label, repeat) for label in self.groups for repeat in range(self.n_repeats)]

    @property
    def n_copies(self) -> int:
        return len(self.copies)

    def baseline_score(self) -> float:
        return float(self.scorer(self.y_true, self.model.predict(self.features)))

    def score_copies(self, first: int, stop: int, progress: ProgressCallback | None = None) -> np.ndarray:
        """Scores of copies ``first`` to ``stop - 1``, shape (stop - first,)."""
        n_rows, features, groups = self.n_rows, self.features, self.groups
        copies = self.copies[first:stop]
        copies_per_batch = max(1, self.batch_rows // n_rows)
        scores = np.empty(len(copies))
        identity = np.arange(n_rows)
        for start in range(0, len(copies), copies_per_batch):
            batch = copies[start : start + copies_per_batch]
            stacked = {}
            for column in features.columns:
                row_order = np.concatenate(
                    [self.orders[repeat] if column in groups[label] else identity for label, repeat in batch]
                )
                stacked[column] = features[column].take(row_order).reset_index(drop=True)
            # predictions: (len(batch) * n_rows,) or (len(batch) * n_rows, n_classes)
            predictions = self.model.predict(pd.DataFrame(stacked), batch_rows=max(self.batch_rows, n_rows))
            for position in range(len(batch)):
                block = predictions[position * n_rows : (position + 1) * n_rows]
                scores[start + position] = self.scorer(self.y_true, block)
            report(progress, (start + len(batch)) / len(copies), "permuting")
        return scores

    def result(self, baseline_score: float, scores, *, elapsed_seconds: float,
               dataset_digest: str | None) -> PermutationImportanceResult:
        """Assemble the result from the baseline and the scores of all copies, in copy order."""
        scores = np.asarray(scores, dtype=np.float64).reshape(len(self.groups), self.n_repeats)
        importances = baseline_score - scores
        random_state = self.random_state
        return PermutationImportanceResult(
            method="permutation",
            parameters={
                "scoring": self.scoring,
                "n_repeats": self.n_repeats,
                "random_state": random_state if isinstance(random_state, (int, type(None))) else "object",
                "feature_groups": self.feature_groups,
            },
            output_space=self.model.output_space,
            model_digest=self.model.digest,
            dataset_digest=dataset_digest,
            elapsed_seconds=elapsed_seconds,
            feature_names=tuple(self.groups),
            feature_groups={label: members for label, members in self.groups.items() if len(members) > 1},
            scoring=self.scoring,
            baseline_score=baseline_score,
            importances=importances,
            importances_mean=importances.mean(axis=1),
            importances_std=importances.std(axis=1),
            n_rows=self.n_rows,
        )
