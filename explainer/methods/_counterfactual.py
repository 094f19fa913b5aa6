"""Counterfactual search and input optimization by batched random and coordinate search.

Both searches treat the model as a black box: every candidate row is scored
with ``Model.predict`` in large batches, and no gradient is needed. The
search space (bounds, categories, steps, distance scales) comes from
``_search_space``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import CounterfactualResult, OptimizationResult, to_jsonable
from . import _search_space as search
from ._common import check_choice, check_positive_int

MAX_COUNTERFACTUALS = 20
MAX_EVALUATIONS = 1_000_000

# Counterfactual sampling rounds, from sparse and near to dense and far:
# (most features changed at once, radius as a fraction of each feature's
# bounds). The last level repeats until the sampling budget is spent.
SAMPLING_LEVELS = ((1, 0.1), (1, 0.3), (2, 0.3), (2, 0.6), (3, 0.6), (4, 1.0), (6, 1.0), (None, 1.0))
# Share of the evaluation budget that sampling may use once some candidate
# reaches the target; the rest shrinks the candidates found.
SAMPLING_SHARE = 0.5
MAX_BATCH_ROWS = 4096
MIN_BATCH_ROWS = 64
# Candidates shrunk per counterfactual requested, and sampled hits kept.
SHRUNK_PER_COUNTERFACTUAL = 5
POOL_PER_COUNTERFACTUAL = 20
MAX_BISECTION_STEPS = 12

# Input optimization: random starting rows, the best of which (with the base
# row) are improved by coordinate moves. A start stops when its radius, as a
# fraction of the bounds' width, falls below MIN_RADIUS without improving.
RANDOM_SHARE = 0.2
MAX_RANDOM_ROWS = 2000
N_STARTS = 4
START_RADIUS = 0.5
MIN_RADIUS = 1e-3
MOVE_FRACTIONS = (-1.0, -0.5, -0.25, -0.1, 0.1, 0.25, 0.5, 1.0)
MAX_CATEGORY_MOVES = 32


def _make_rng(random_state) -> np.random.Generator:
    if random_state is not None and not isinstance(random_state, np.random.Generator) and (
            isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))):
        raise InvalidParameterError(f"random_state must be an integer or null, got {random_state!r}.")
    return np.random.default_rng(random_state)


class _Evaluator:
    """Predict candidate rows and count them against the evaluation budget."""

    def __init__(self, model: Model, space: list[search.FeatureSpace], max_evaluations: int):
        self.model = model
        self.space = space
        self.max_evaluations = max_evaluations
        self.used = 0

    @property
    def remaining(self) -> int:
        return self.max_evaluations - self.used

    def predict(self, candidates: search.Candidates) -> np.ndarray:
        """Return predictions of shape (n_candidates, n_outputs), also for regressors."""
        n_rows = search.count(candidates)
        self.used += n_rows
        predictions = self.model.predict(search.to_frame(self.space, candidates))
        return predictions.reshape(n_rows, -1)


# Targets ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    """The goal of a counterfactual's prediction: a class, or a range of outputs."""

    class_index: int | None = None
    class_name: str | None = None
    min_probability: float | None = None
    low: float | None = None
    high: float | None = None

    def reaches(self, predictions: np.ndarray) -> np.ndarray:
        """Return a bool per row of predictions of shape (n_rows, n_outputs)."""
        if self.class_index is None:
            outputs = predictions[:, 0]
            reached = np.isfinite(outputs)
            if self.low is not None:
                reached &= outputs >= self.low
            if self.high is not None:
                reached &= outputs <= self.high
            return reached
        if self.min_probability is not None:
            return predictions[:, self.class_index] >= self.min_probability
        return predictions.argmax(axis=1) == self.class_index

    def to_dict(self) -> dict:
        if self.class_index is None:
            return {"range": [self.low, self.high]}
        return {"class": self.class_name}


def _class_index(model: Model, target_class) -> int:
    if isinstance(target_class, str):
        if target_class not in model.class_names:
            raise InvalidParameterError(
                f"target_class {target_class!r} is not a class of the model; classes: {list(model.class_names)}."
            )
        return model.class_names.index(target_class)
    if isinstance(target_class, bool) or not isinstance(target_class, (int, np.integer)) \
            or not 0 <= target_class < len(model.class_names):
        raise InvalidParameterError(
            f"target_class must be a class name {list(model.class_names)} or an index from 0 to "
            f"{len(model.class_names) - 1}, got {target_class!r}."
        )
    return int(target_class)


def _check_target_options(model: Model, target_class, target_range, min_probability) -> None:
    """Reject target options that do not fit the model's task, before any prediction."""
    if model.is_classifier:
        if target_range is not None:
            raise InvalidParameterError(
                f"target_range is for regressors, but the model is a classifier of {list(model.class_names)}; "
                f"give target_class instead, got target_range {target_range!r}."
            )
        if target_class is not None:
            _class_index(model, target_class)
        elif len(model.class_names) > 2:
            raise InvalidParameterError(
                f"target_class is required for a classifier of more than two classes; give one of "
                f"{list(model.class_names)}."
            )
        if min_probability is not None and (
                isinstance(min_probability, bool) or not isinstance(min_probability, (int, float, np.number))
                or not 0 < min_probability < 1):
            raise InvalidParameterError(
                f"min_probability must be a number between 0 and 1, exclusive, got {min_probability!r}."
            )
        return
    for name, value in (("target_class", target_class), ("min_probability", min_probability)):
        if value is not None:
            raise InvalidParameterError(
                f"{name} is for classifiers, but the model is a regressor; give target_range "
                f"[low, high] instead, got {name} {value!r}."
            )
    if target_range is None:
        raise InvalidParameterError(
            "target_range is required for a regressor: give [low, high], with null for an open side."
        )
    if not isinstance(target_range, (list, tuple)) or len(target_range) != 2 \
            or all(value is None for value in target_range):
        raise InvalidParameterError(
            f"target_range must be [low, high] with at least one number and null for an open side, "
            f"got {target_range!r}."
        )
    low, high = (None if value is None else search.check_finite("each side of target_range", value)
                 for value in target_range)
    if low is not None and high is not None and low > high:
        raise InvalidParameterError(f"target_range must have low <= high, got {list(target_range)}.")


def _resolve_target(model: Model, target_class, target_range, min_probability,
                    original_prediction: np.ndarray) -> _Target:
    if not model.is_classifier:
        low, high = (None if value is None else float(value) for value in target_range)
        return _Target(low=low, high=high)
    if target_class is None:
        # A binary classifier's default target: the class not predicted now.
        index = 1 - int(np.argmax(original_prediction))
    else:
        index = _class_index(model, target_class)
    return _Target(class_index=index, class_name=model.class_names[index],
                   min_probability=None if min_probability is None else float(min_probability))


# Counterfactuals -------------------------------------------------------------

def counterfactuals(
    model: Model,
    row: pd.DataFrame,
    *,
    target_class=None,
    target_range=None,
    min_probability: float | None = None,
    frozen=(),
    bounds: dict | None = None,
    allowed_categories: dict | None = None,
    steps: dict | None = None,
    n_counterfactuals: int = 3,
    max_evaluations: int = 20_000,
    reference: pd.DataFrame | None = None,
    random_state=0,
    dataset_digest: str | None = None,
) -> CounterfactualResult:
    """Find rows close to ``row`` whose prediction reaches a target.

    The search samples candidates that change small random subsets of the
    movable features, over a growing radius, and keeps those that reach the
    target. It then shrinks each: it reverts changed features to their
    original value one at a time while the target still holds, and moves
    numeric values back toward the original by bisection, on the step grid
    and within the bounds. Last it picks candidates with different sets of
    changed features (then the farthest from those picked) and sorts them by
    distance. Every returned row was predicted and reaches the target.

    The distance to ``row`` is an L1 sum over features. A numeric change
    costs ``abs(new - old) / scale``, where ``scale`` is the feature's median
    absolute deviation in ``reference``, or its range when that is 0, or the
    width of its bounds, or 1. A categorical or boolean change, and a change
    from or to a missing value, costs 1.

    Parameters
    ----------
    model : Model
    row : pandas.DataFrame with one row
        The base row, as raw columns.
    target_class : str or int, optional
        Classifiers: the class to reach, by name or index. Default: for a
        binary classifier, the class not predicted for ``row``; required for
        more than two classes.
    target_range : [low, high], optional
        Regressors (required): the interval the output must reach; either
        side may be None for an open side.
    min_probability : float in (0, 1), optional
        Classifiers: the target class's probability must reach it. Default:
        the target class must be the predicted (argmax) class.
    frozen : list of str, default=()
        Features that must not change.
    bounds : dict, optional
        ``{feature: [low, high]}`` for numeric features; a None side takes
        the default. Default: the minimum and maximum in ``reference``
        (widened to include the row's value), or the row's own value when
        there is no reference. Bounds limit the values that a change may
        set: an unchanged feature keeps its value even outside them.
    allowed_categories : dict, optional
        ``{feature: [values]}`` for categorical and boolean features.
        Default: the categories in ``reference``, plus the row's own value.
        A missing value (None) is proposed only when listed.
    steps : dict, optional
        ``{feature: step}``: numeric values move on multiples of ``step``
        from the lower bound. Default 1 for integer features (an integer
        dtype, or whole numbers only in ``reference``), none for others.
    n_counterfactuals : int, default=3
        At most 20.
    max_evaluations : int, default=20000
        Rows predicted in all, the base row included; at most 1,000,000.
    reference : pandas.DataFrame, optional
        The dataset, for default bounds, categories and distance scales.
    random_state : int or None, default=0
        Seed of the search; the same seed gives the same counterfactuals.

    Returns
    -------
    CounterfactualResult
        ``counterfactuals`` holds up to ``n_counterfactuals`` rows sorted by
        distance; fewer (possibly none) when the budget runs out, and then
        ``message`` names what to relax.

    Examples
    --------
    >>> result = counterfactuals(model, dataset.row(3), reference=dataset.frame,
    ...                          frozen=["sex", "race"], n_counterfactuals=2)
    >>> [item["changes"] for item in result.counterfactuals]
    """
    started = time.perf_counter()
    row = search.one_row(model, row)
    _check_target_options(model, target_class, target_range, min_probability)
    n_counterfactuals = check_positive_int("n_counterfactuals", n_counterfactuals, maximum=MAX_COUNTERFACTUALS)
    max_evaluations = check_positive_int("max_evaluations", max_evaluations, maximum=MAX_EVALUATIONS)
    rng = _make_rng(random_state)
    frozen = search.check_feature_list("frozen", frozen, model)
    space = search.build_space(
        model, row,
        movable=[feature for feature in model.feature_names if feature not in frozen],
        fixed_by="is frozen",
        bounds=bounds, allowed_categories=allowed_categories, steps=steps, reference=reference,
    )

    # The found rows are predicted again at the end, out of the same budget.
    evaluator = _Evaluator(model, space, max(1, max_evaluations - n_counterfactuals))
    original = search.originals(space, 1)
    original_prediction = evaluator.predict(original)[0]
    target = _resolve_target(model, target_class, target_range, min_probability, original_prediction)

    movable = [index for index, feature in enumerate(space) if feature.movable]
    if target.reaches(original_prediction[np.newaxis])[0]:
        found, message = search.originals(space, 0), (
            f"the row already reaches the target {target.to_dict()}, so nothing needs to change.")
    elif not movable:
        found, message = search.originals(space, 0), (
            "no feature can change: every feature is frozen, or has no allowed value other than its "
            "own; unfreeze features, widen bounds or allow more categories.")
    else:
        pool = _sample_hits(evaluator, target, movable, n_counterfactuals, rng)
        pool = _shrink(evaluator, target, pool, n_counterfactuals)
        pool = _search_alternatives(evaluator, target, pool, movable, n_counterfactuals, rng)
        found = _pick_diverse(space, pool, n_counterfactuals)
        message = None if search.count(found) == n_counterfactuals else _shortfall_message(
            search.count(found), n_counterfactuals, max_evaluations, frozen, bounds, allowed_categories)

    frame = search.to_frame(space, found)
    # Predicted again, so that each reported prediction is the model's own
    # output for the row exactly as reported.
    predictions = model.predict(frame).reshape(len(frame), -1) if len(frame) else np.empty((0, 0))
    costs = search.cost_matrix(space, found)
    changed = search.change_matrix(space, found)
    reached = target.reaches(predictions) if len(frame) else np.empty(0, dtype=bool)
    items = []
    for position in range(len(frame)):
        values = search.row_values(frame, position)
        items.append({
            "row": values,
            "changes": {feature.name: values[feature.name]
                        for index, feature in enumerate(space) if changed[position, index]},
            "distance": float(costs[position].sum()),
            "n_changed": int(changed[position].sum()),
            "prediction": predictions[position],
            "reaches_target": bool(reached[position]),
        })

    return CounterfactualResult(
        method="counterfactuals",
        parameters={
            "target_class": target_class, "target_range": target_range, "min_probability": min_probability,
            "frozen": frozen, "bounds": bounds, "allowed_categories": allowed_categories, "steps": steps,
            "n_counterfactuals": n_counterfactuals, "max_evaluations": max_evaluations,
            "random_state": random_state if not isinstance(random_state, np.random.Generator) else None,
        },
        output_space=model.output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        feature_names=model.feature_names,
        class_names=model.class_names,
        target=target.to_dict(),
        original_row=search.row_values(search.to_frame(space, original), 0),
        original_prediction=original_prediction,
        counterfactuals=items,
        n_found=len(items),
        evaluations=evaluator.used + len(frame),
        message=message,
    )


def _shortfall_message(n_found: int, n_requested: int, max_evaluations: int, frozen: list,
                       bounds, allowed_categories) -> str:
    relax = [f"raise max_evaluations (now {max_evaluations})"]
    if frozen:
        relax.append(f"unfreeze some of {frozen}")
    relax.append("widen bounds" if bounds else "give wider bounds than the dataset's range")
    if allowed_categories:
        relax.append("allow more categories")
    return (f"found {n_found} of {n_requested} requested counterfactuals within {max_evaluations} model "
            f"evaluations; to find more, {', '.join(relax[:-1])} or {relax[-1]}.")


def _sample_hits(evaluator: _Evaluator, target: _Target, movable: list[int], n_counterfactuals: int,
                 rng: np.random.Generator) -> search.Candidates:
    """Sample candidates over growing radii; return those that reach the target."""
    space = evaluator.space
    batch_rows = int(np.clip(evaluator.max_evaluations // 20, MIN_BATCH_ROWS, MAX_BATCH_ROWS))
    sampling_limit = int(evaluator.max_evaluations * SAMPLING_SHARE)
    pool_size = POOL_PER_COUNTERFACTUAL * n_counterfactuals
    hits: list[search.Candidates] = []
    n_hits = 0
    level = 0
    while evaluator.remaining > 0:
        if n_hits > 0 and evaluator.used >= sampling_limit:
            break
        max_changed, radius = SAMPLING_LEVELS[min(level, len(SAMPLING_LEVELS) - 1)]
        level += 1
        n_rows = min(batch_rows, evaluator.remaining)
        candidates = _random_changes(space, movable, n_rows, max_changed, radius, rng)
        reached = target.reaches(evaluator.predict(candidates))
        if reached.any():
            hits.append(search.take(candidates, reached))
            n_hits += int(reached.sum())
        if n_hits >= pool_size:
            pool = search.concatenate(hits, space)
            n_sets = len({mask.tobytes() for mask in search.change_matrix(space, pool)})
            if n_sets >= n_counterfactuals:
                break
            if n_hits > 4 * pool_size:
                hits = [search.take(pool, _round_robin(space, pool, pool_size))]
                n_hits = pool_size
    return search.concatenate(hits, space)


def _minimal_sets(masks: np.ndarray) -> list[np.ndarray]:
    """Return the distinct changed-feature sets of ``masks`` that strictly include no other one."""
    distinct = {mask.tobytes(): mask for mask in masks}.values()
    return [mask for mask in distinct
            if not any(np.all(mask >= other) and np.any(mask > other) for other in distinct)]


def _search_alternatives(evaluator: _Evaluator, target: _Target, pool: search.Candidates,
                         movable: list[int], n_counterfactuals: int,
                         rng: np.random.Generator) -> search.Candidates:
    """Sample again with the features of the sets found so far held fixed, until enough sets differ.

    Sampling keeps finding the feature that reaches the target most easily
    (on adult, capital-gain); holding it fixed lets other features show
    whether they reach the target too. Returns the pool with the new hits.
    """
    space = evaluator.space
    for _ in range(n_counterfactuals):
        if search.count(pool) == 0 or evaluator.remaining <= 0:
            break
        minimal = _minimal_sets(search.change_matrix(space, pool))
        if len(minimal) >= n_counterfactuals:
            break
        used = np.any(minimal, axis=0)
        rest = [index for index in movable if not used[index]]
        if not rest:
            break
        hits = _sample_hits(evaluator, target, rest, n_counterfactuals, rng)
        if search.count(hits) == 0:
            break
        pool = search.concatenate([pool, _shrink(evaluator, target, hits, n_counterfactuals)], space)
    return pool


def _random_changes(space: list[search.FeatureSpace], movable: list[int], n_rows: int,
                    max_changed: int | None, radius: float, rng: np.random.Generator) -> search.Candidates:
    """Change a random subset of 1 to ``max_changed`` movable features in each of ``n_rows`` base rows."""
    n_movable = len(movable)
    max_count = n_movable if max_changed is None else min(max_changed, n_movable)
    n_changed = rng.integers(1, max_count + 1, size=n_rows)
    # rank (n_rows, n_movable): a random permutation per row; a feature
    # changes where its rank is below the row's number of changes.
    rank = rng.random((n_rows, n_movable)).argsort(axis=1).argsort(axis=1)
    changes = rank < n_changed[:, np.newaxis]

    candidates = search.originals(space, n_rows)
    for column, index in enumerate(movable):
        feature = space[index]
        proposals = search.sample(feature, rng, n_rows, radius=radius)
        candidates[feature.name] = np.where(changes[:, column], proposals, candidates[feature.name])
    return candidates


def _order(space: list[search.FeatureSpace], pool: search.Candidates) -> np.ndarray:
    """Return pool positions sorted by distance, then by number of changes."""
    costs = search.cost_matrix(space, pool).sum(axis=1)
    n_changed = search.change_matrix(space, pool).sum(axis=1)
    return np.lexsort((n_changed, costs))


def _round_robin(space: list[search.FeatureSpace], pool: search.Candidates, limit: int) -> np.ndarray:
    """Pick up to ``limit`` positions: the nearest of each changed-feature set, then the next nearest..."""
    masks = search.change_matrix(space, pool)
    rank_in_set: dict[bytes, int] = {}
    ranks = []
    order = _order(space, pool)
    for position in order:
        key = masks[position].tobytes()
        ranks.append(rank_in_set.get(key, 0))
        rank_in_set[key] = ranks[-1] + 1
    # A stable sort by rank within the set keeps the distance order inside each rank.
    picked = order[np.argsort(np.array(ranks), kind="stable")]
    return picked[:limit]


# Shrinking -------------------------------------------------------------------

def _shrink(evaluator: _Evaluator, target: _Target, pool: search.Candidates,
            n_counterfactuals: int) -> search.Candidates:
    """Shrink the most promising hits toward the base row; return them with the unshrunk rest.

    Every row returned reaches the target: a change is kept only after the
    changed row was predicted.
    """
    space = evaluator.space
    if search.count(pool) == 0:
        return pool
    pool = search.take(pool, _unique(space, pool))
    chosen = _round_robin(space, pool, SHRUNK_PER_COUNTERFACTUAL * n_counterfactuals)
    rest = np.setdiff1d(np.arange(search.count(pool)), chosen)
    shrunk = search.take(pool, chosen)

    # order (n_shrunk, n_features): each row's features, most costly change first.
    costs = search.cost_matrix(space, shrunk)
    order = np.argsort(-costs, axis=1, kind="stable")
    for rank in range(len(space)):
        _revert(evaluator, target, shrunk, order[:, rank])
    for rank in range(len(space)):
        _bisect(evaluator, target, shrunk, order[:, rank])

    return search.concatenate([shrunk, search.take(pool, rest)], space)


def _revert(evaluator: _Evaluator, target: _Target, candidates: search.Candidates,
            features: np.ndarray) -> None:
    """Set feature ``features[i]`` of candidate i back to the original where the target still holds."""
    space = evaluator.space
    changed = search.change_matrix(space, candidates)
    rows = np.flatnonzero(changed[np.arange(len(features)), features])[:evaluator.remaining]
    if len(rows) == 0:
        return
    trial = search.take(candidates, rows)
    for index in np.unique(features[rows]):
        feature = space[index]
        trial[feature.name][features[rows] == index] = feature.original
    reached = target.reaches(evaluator.predict(trial))
    for feature in space:
        candidates[feature.name][rows[reached]] = trial[feature.name][reached]


def _bisect(evaluator: _Evaluator, target: _Target, candidates: search.Candidates,
            features: np.ndarray) -> None:
    """Move numeric feature ``features[i]`` of candidate i toward its original value by bisection."""
    space = evaluator.space
    changed = search.change_matrix(space, candidates)
    bisectable = np.array([space[index].is_numeric and math.isfinite(space[index].original)
                           for index in features], dtype=bool)
    rows = np.flatnonzero(bisectable & changed[np.arange(len(features)), features])
    if len(rows) == 0:
        return
    row_features = features[rows]
    original = np.array([space[index].original for index in row_features])
    current = np.array([candidates[space[index].name][row] for index, row in zip(row_features, rows)])
    # The fraction of the change kept: 1 is known to reach the target; 0 is the original.
    kept_ok = np.ones(len(rows))
    kept_bad = np.zeros(len(rows))
    value_ok = current.copy()
    active = np.ones(len(rows), dtype=bool)
    for _ in range(MAX_BISECTION_STEPS):
        middle = (kept_ok + kept_bad) / 2
        value = original + middle * (current - original)
        for index in np.unique(row_features):
            same = row_features == index
            value[same] = search.snap(space[index], value[same])
        value_bad = original + kept_bad * (current - original)
        active &= (value != value_ok) & (value != value_bad)
        trial_rows = np.flatnonzero(active)[:evaluator.remaining]
        if len(trial_rows) == 0:
            break
        trial = search.take(candidates, rows[trial_rows])
        for position, row in enumerate(trial_rows):
            trial[space[row_features[row]].name][position] = value[row]
        reached = target.reaches(evaluator.predict(trial))
        ok, bad = trial_rows[reached], trial_rows[~reached]
        kept_ok[ok], value_ok[ok] = middle[ok], value[ok]
        kept_bad[bad] = middle[bad]
    for position, row in enumerate(rows):
        candidates[space[row_features[position]].name][row] = value_ok[position]


# Selection -------------------------------------------------------------------

def _unique(space: list[search.FeatureSpace], candidates: search.Candidates) -> np.ndarray:
    """Return the positions of the first occurrence of each distinct candidate row."""
    seen = set()
    positions = []
    columns = [candidates[feature.name] for feature in space]
    for position in range(search.count(candidates)):
        key = tuple(to_jsonable(column[position]) for column in columns)
        if key not in seen:
            seen.add(key)
            positions.append(position)
    return np.array(positions, dtype=np.int64)


def _pick_diverse(space: list[search.FeatureSpace], pool: search.Candidates, n_counterfactuals: int) \
        -> search.Candidates:
    """Pick the nearest row of each changed-feature set, then the rows farthest from those picked.

    No row is picked whose changed features strictly include those of a row
    already picked, because the picked row reaches the target without the
    extra changes. The first pass also skips rows with a set already picked.
    Returns up to ``n_counterfactuals`` rows sorted by distance to the base
    row.
    """
    if search.count(pool) == 0:
        return pool
    pool = search.take(pool, _unique(space, pool))
    distances = search.cost_matrix(space, pool).sum(axis=1)
    masks = search.change_matrix(space, pool)
    picked = []
    for position in _order(space, pool):
        mask = masks[position]
        if any(np.all(mask >= masks[other]) for other in picked):
            continue
        picked.append(int(position))
        if len(picked) == n_counterfactuals:
            break

    # nearest (n_pool,): each row's distance to the closest row picked so far.
    nearest = np.min([search.pairwise_cost(space, pool, position) for position in picked], axis=0)
    while len(picked) < min(n_counterfactuals, search.count(pool)):
        nearest[picked] = -np.inf
        padded = [position for position in range(len(masks))
                  if any(np.all(masks[position] >= masks[other]) and np.any(masks[position] > masks[other])
                         for other in picked)]
        nearest[padded] = -np.inf
        if np.all(np.isneginf(nearest)):
            break
        # The farthest row; ties go to the one nearer the base row.
        position = int(np.lexsort((distances, -nearest))[0])
        picked.append(position)
        nearest = np.minimum(nearest, search.pairwise_cost(space, pool, position))

    picked.sort(key=lambda position: (distances[position], masks[position].sum()))
    return search.take(pool, np.array(picked, dtype=np.int64))


# Input optimization ----------------------------------------------------------

def optimize_inputs(
    model: Model,
    row: pd.DataFrame,
    *,
    objective: str = "maximize",
    target_class=None,
    features=None,
    bounds: dict | None = None,
    allowed_categories: dict | None = None,
    steps: dict | None = None,
    max_evaluations: int = 5000,
    reference: pd.DataFrame | None = None,
    random_state=0,
    dataset_digest: str | None = None,
) -> OptimizationResult:
    """Search for the input that maximizes or minimizes a model output, starting from ``row``.

    The search draws random rows within the bounds, then improves the base
    row and the best random rows by coordinate moves. For each start, every
    movable feature is tried at both bounds, at steps of a shrinking radius
    around its current value, and at each allowed category. The best single
    move, or the combination of each feature's best move, is kept. The
    result is the best row predicted within the budget, so it is never worse
    than ``row``. As for counterfactuals, bounds limit the values a change
    may set, so a start value outside them is kept when nothing beats it.

    Parameters
    ----------
    model : Model
    row : pandas.DataFrame with one row
        The start row, as raw columns.
    objective : {"maximize", "minimize"}, default="maximize"
    target_class : str or int, optional
        Classifiers: the class whose probability is the objective. Default:
        the last class. Regressors optimize their output.
    features : list of str, optional
        Features allowed to move. Default: all.
    bounds, allowed_categories, steps : dict, optional
        As for ``counterfactuals``.
    max_evaluations : int, default=5000
        Rows predicted in all, the start row included; at most 1,000,000.
    reference : pandas.DataFrame, optional
        The dataset, for default bounds and categories.
    random_state : int or None, default=0

    Returns
    -------
    OptimizationResult
        ``objective_value`` is the probability or output reached, and
        ``start_value`` that of ``row``.
    """
    started = time.perf_counter()
    row = search.one_row(model, row)
    objective = check_choice("objective", objective, ("maximize", "minimize"))
    if not model.is_classifier and target_class is not None:
        raise InvalidParameterError(
            f"target_class is for classifiers, but the model is a regressor; omit it, got {target_class!r}."
        )
    output = _class_index(model, target_class) if model.is_classifier and target_class is not None \
        else model.n_outputs - 1
    max_evaluations = check_positive_int("max_evaluations", max_evaluations, maximum=MAX_EVALUATIONS)
    rng = _make_rng(random_state)
    if features is not None:
        features = search.check_feature_list("features", features, model)
        if not features:
            raise InvalidParameterError("features must name at least one feature to move, got [].")
    movable = list(model.feature_names) if features is None else features
    space = search.build_space(
        model, row, movable=movable, fixed_by="is not in features",
        bounds=bounds, allowed_categories=allowed_categories, steps=steps, reference=reference,
    )

    evaluator = _Evaluator(model, space, max_evaluations)
    sign = 1.0 if objective == "maximize" else -1.0
    original = search.originals(space, 1)
    original_prediction = evaluator.predict(original)[0]
    start_value = float(original_prediction[output])
    movable_indices = [index for index, feature in enumerate(space) if feature.movable]
    best, best_prediction = original, original_prediction
    if movable_indices:
        best, best_prediction = _optimize(evaluator, movable_indices, output, sign, original,
                                          original_prediction, rng)

    frame = search.to_frame(space, best)
    values = search.row_values(frame, 0)
    changed = search.change_matrix(space, best)[0]
    return OptimizationResult(
        method="optimization",
        parameters={
            "objective": objective,
            "target_class": model.class_names[output] if model.is_classifier else None,
            "features": movable, "bounds": bounds, "allowed_categories": allowed_categories,
            "steps": steps, "max_evaluations": max_evaluations,
            "random_state": random_state if not isinstance(random_state, np.random.Generator) else None,
        },
        output_space=model.output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        feature_names=model.feature_names,
        class_names=model.class_names,
        original_row=search.row_values(search.to_frame(space, original), 0),
        original_prediction=original_prediction,
        row=values,
        changes={feature.name: values[feature.name] for index, feature in enumerate(space) if changed[index]},
        prediction=best_prediction,
        start_value=start_value,
        objective_value=float(best_prediction[output]),
        evaluations=evaluator.used,
    )


def _optimize(evaluator: _Evaluator, movable: list[int], output: int, sign: float,
              start: search.Candidates, start_prediction: np.ndarray, rng: np.random.Generator):
    """Return the best row found and its prediction; the start row wins ties."""
    space = evaluator.space

    # Random rows anywhere within the bounds.
    n_random = min(int(evaluator.max_evaluations * RANDOM_SHARE), MAX_RANDOM_ROWS, evaluator.remaining)
    starts, scores = start, np.array([sign * start_prediction[output]])
    predictions = start_prediction[np.newaxis]
    if n_random > 0:
        random_rows = search.originals(space, n_random)
        for index in movable:
            feature = space[index]
            random_rows[feature.name] = search.sample(feature, rng, n_random, include_original=True)
        random_predictions = evaluator.predict(random_rows)
        random_scores = sign * random_predictions[:, output]
        best_random = np.argsort(-random_scores, kind="stable")[:N_STARTS - 1]
        starts = search.concatenate([start, search.take(random_rows, best_random)], space)
        scores = np.concatenate([scores, random_scores[best_random]])
        predictions = np.concatenate([predictions, random_predictions[best_random]])

    # Coordinate moves from every start, batched over the starts.
    radius = np.full(len(scores), START_RADIUS)
    active = np.ones(len(scores), dtype=bool)
    while active.any() and evaluator.remaining > 0:
        improved = _coordinate_step(evaluator, movable, output, sign, starts, scores, predictions,
                                    radius, active, rng)
        radius[active & ~improved] /= 2
        active &= improved | (radius >= MIN_RADIUS)

    winner = int(np.argmax(scores))
    if scores[winner] <= scores[0]:
        winner = 0
    return search.take(starts, [winner]), predictions[winner]


def _coordinate_step(evaluator, movable, output, sign, starts, scores, predictions, radius, active, rng):
    """Try single-feature moves from each active start; apply the best, in place.

    Returns a bool per start: whether its score improved.
    """
    space = evaluator.space
    # moves: (start, feature index, new value) for every trial value.
    moves = []
    for start in np.flatnonzero(active):
        for index in movable:
            feature = space[index]
            current = starts[feature.name][start]
            for value in _trial_values(feature, current, radius[start], rng):
                moves.append((start, index, value))
    improved = np.zeros(len(scores), dtype=bool)
    room = evaluator.remaining
    if len(moves) > room:
        keep = np.sort(rng.choice(len(moves), size=room, replace=False))
        moves = [moves[position] for position in keep]
    if not moves:
        return improved

    move_starts = np.array([move[0] for move in moves])
    trial = search.take(starts, move_starts)
    for position, (_, index, value) in enumerate(moves):
        trial[space[index].name][position] = value
    trial_predictions = evaluator.predict(trial)
    trial_scores = sign * trial_predictions[:, output]

    # combined: each start with every feature at its best improving value.
    combined = search.take(starts, np.flatnonzero(active))
    combined_starts = np.flatnonzero(active)
    best_single = {}
    for start_position, start in enumerate(combined_starts):
        mine = np.flatnonzero((move_starts == start) & (trial_scores > scores[start]))
        if len(mine) == 0:
            continue
        best_single[start] = mine[np.argmax(trial_scores[mine])]
        for index in movable:
            of_feature = [position for position in mine if moves[position][1] == index]
            if of_feature:
                chosen = of_feature[int(np.argmax(trial_scores[of_feature]))]
                combined[space[index].name][start_position] = moves[chosen][2]

    with_gain = [position for position, start in enumerate(combined_starts) if start in best_single]
    combined_scores = np.full(len(combined_starts), -np.inf)
    combined_predictions = None
    if with_gain and evaluator.remaining >= len(with_gain):
        combined_predictions = evaluator.predict(search.take(combined, with_gain))
        combined_scores[with_gain] = sign * combined_predictions[:, output]

    for start_position, start in enumerate(combined_starts):
        if start not in best_single:
            continue
        single = best_single[start]
        if combined_scores[start_position] > trial_scores[single]:
            source, position = combined, start_position
            prediction = combined_predictions[with_gain.index(start_position)]
        else:
            source, position, prediction = trial, single, trial_predictions[single]
        for feature in space:
            starts[feature.name][start] = source[feature.name][position]
        scores[start] = sign * prediction[output]
        predictions[start] = prediction
        improved[start] = True
    return improved


def _trial_values(feature: search.FeatureSpace, current, radius: float, rng: np.random.Generator) -> list:
    """Return the values a coordinate move tries for one feature, without ``current``."""
    if not feature.is_numeric:
        values = [value for value in (*feature.categories, feature.original)
                  if not search.same_value(value, current)]
        if len(values) > MAX_CATEGORY_MOVES:
            values = [values[position] for position in
                      np.sort(rng.choice(len(values), size=MAX_CATEGORY_MOVES, replace=False))]
        return values
    width = feature.high - feature.low
    center = current if math.isfinite(current) else (feature.low + feature.high) / 2
    values = [feature.low, feature.high] + [center + fraction * radius * width for fraction in MOVE_FRACTIONS]
    if feature.step is not None:
        values += [center - feature.step, center + feature.step]
    snapped = search.snap(feature, np.array(values, dtype=np.float64))
    return [float(value) for value in np.unique(snapped) if value != current]
