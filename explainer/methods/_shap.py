"""SHAP values on raw input columns, with the explainer chosen from the model."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import ShapResult, to_jsonable
from ._common import ProgressCallback, check_choice, check_positive_int, check_rows, report
from ._encoding import RawColumnEncoder
from ._pipeline import (
    UnmappableColumnsError,
    raw_feature_index,
    split_pipeline,
    sum_onto_raw,
    transform_dense,
)

OUTPUT_SPACES = ("auto", "probability", "log_odds", "raw")

# shap's PermutationExplainer reseeds and draws from NumPy's global generator,
# so two concurrent calls would change each other's permutations. This lock
# keeps a seeded call reproducible when the service runs jobs in threads.
_GLOBAL_RNG_LOCK = threading.Lock()

# Clip probabilities before taking log-odds so that p = 0 or 1 stays finite.
_PROBABILITY_EPSILON = 1e-12

# Largest additivity error accepted from shap's TreeSHAP, relative to the
# largest output (at least 1). On the XGBoost and LightGBM models of
# tests/test_boosters.py it missed by up to about 2e-7 of the output, near
# float32 precision. Larger errors mean that the values do not describe the
# model. With shap 0.51 that happened to HistGradientBoosting models on the
# breast-cancer data: rows with a value at a split threshold, or just below
# it, got values that missed by up to 0.3 in log-odds.
_TREE_ADDITIVITY_TOLERANCE = 1e-5


def _is_tree_model(estimator) -> bool:
    from sklearn import ensemble, tree

    tree_types = (
        tree.DecisionTreeClassifier,
        tree.DecisionTreeRegressor,
        ensemble.RandomForestClassifier,
        ensemble.RandomForestRegressor,
        ensemble.ExtraTreesClassifier,
        ensemble.ExtraTreesRegressor,
        ensemble.GradientBoostingClassifier,
        ensemble.GradientBoostingRegressor,
        ensemble.HistGradientBoostingClassifier,
        ensemble.HistGradientBoostingRegressor,
    )
    if isinstance(estimator, tree_types):
        return True
    return type(estimator).__module__.split(".", 1)[0] in ("xgboost", "lightgbm", "catboost")


def _library_of(estimator) -> str:
    return type(estimator).__module__.split(".", 1)[0]


def _leaves_hold_probabilities(estimator) -> bool:
    """Return True when the trees' leaves are class probabilities that the ensemble averages."""
    from sklearn import ensemble, tree

    averaged = (tree.DecisionTreeClassifier, ensemble.RandomForestClassifier, ensemble.ExtraTreesClassifier)
    return isinstance(estimator, averaged)


def _is_linear_model(estimator) -> bool:
    from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

    return isinstance(estimator, LinearModel | LinearClassifierMixin)


def _logit(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(probabilities, _PROBABILITY_EPSILON, 1 - _PROBABILITY_EPSILON)
    return np.log(clipped) - np.log1p(-clipped)


@dataclass
class _Explained:
    """A strategy's values and base values, in the raw-feature layout of ShapResult."""

    explainer: str
    values: np.ndarray  # (n_rows, n_features[, n_classes])
    base_values: np.ndarray  # (n_rows,[ n_classes])
    background_size: int | None
    background_method: str | None


def _as_class_layout(values, base_values, n_rows, space, n_classes):
    """Bring shap's output to (n, f, n_classes) and (n, n_classes).

    Binary classifiers often explain one output (the positive class). The
    negative class then has the opposite attributions, and its base value is
    1 - base (probability) or -base (log-odds).
    """
    values = np.asarray(values, dtype=np.float64)
    base_values = np.broadcast_to(np.asarray(base_values, dtype=np.float64), (n_rows,) + values.shape[2:])
    if values.ndim == 3:
        return values, np.array(base_values)
    if n_classes != 2:
        raise UnmappableColumnsError(f"expected {n_classes} outputs, got one")
    stacked_values = np.stack([-values, values], axis=2)
    negative_base = 1.0 - base_values if space == "probability" else -base_values
    return stacked_values, np.stack([negative_base, base_values], axis=1)


def _model_outputs(model: Model, frame: pd.DataFrame, space: str) -> np.ndarray:
    """Compute the explained quantity directly from the model."""
    if space == "log_odds" and hasattr(model, "predict_margin"):
        # Boosters predict their margin themselves: for a multiclass model the
        # margin is what the softmax takes, which is not the logit of each
        # class probability.
        return model.predict_margin(frame)
    predictions = model.predict(frame)
    if space == "log_odds":
        return _logit(predictions)
    return predictions


def _margin(final, transformed: np.ndarray, n_classes: int) -> np.ndarray:
    """Raw margin of a fitted classifier, as (n_rows, n_classes)."""
    if hasattr(final, "decision_function"):
        margin = np.asarray(final.decision_function(transformed), dtype=np.float64)
    else:
        margin = _logit(np.asarray(final.predict_proba(transformed), dtype=np.float64)[:, 1])
    if margin.ndim == 1:
        return np.stack([-margin, margin], axis=1)
    return margin


def _through_preprocessing(model, rows, background):
    """Split off the pipeline's preprocessing and apply it.

    Returns (final estimator, raw feature index per transformed column,
    transformed rows, transformed background).
    """
    preprocessor, final = split_pipeline(model.estimator)
    if preprocessor is None:
        index = np.arange(len(model.feature_names))
        return final, index, rows.to_numpy(dtype=np.float64), background.to_numpy(dtype=np.float64)
    index = raw_feature_index(preprocessor, model.feature_names, rows)
    return final, index, transform_dense(preprocessor, rows), transform_dense(preprocessor, background)


def _to_result_layout(model, explanation, n_rows, space):
    """shap's values and base values in the layout of ShapResult."""
    if model.is_classifier:
        return _as_class_layout(explanation.values, explanation.base_values, n_rows, space, model.n_outputs)
    values = np.asarray(explanation.values, dtype=np.float64)
    base_values = np.asarray(explanation.base_values, dtype=np.float64).reshape(-1)
    return values, np.broadcast_to(base_values, (n_rows,)).copy()


def _explain_tree(model, rows, background, space, random_state):
    import shap
    from shap.utils._exceptions import ExplainerError, InvalidModelError

    if _library_of(model.estimator) == "catboost":
        return _explain_catboost(model, rows, background, space)
    final, index, rows_t, background_t = _through_preprocessing(model, rows, background)
    if model.n_outputs > 2 and space == "probability" and not _leaves_hold_probabilities(final):
        raise UnmappableColumnsError(
            "TreeSHAP applies the logistic function to each class's margin, but this model's "
            "class probabilities are the softmax of all the margins"
        )
    if model.n_outputs > 2 and _library_of(final) == "lightgbm":
        raise UnmappableColumnsError("shap 0.51 reads a multiclass lightgbm.Booster as a single output")
    model_output = "probability" if model.is_classifier and space == "probability" else "raw"
    # NOTE: shap's interventional TreeSHAP sums paths in float32 (shap 0.51),
    # so the additivity error scales with the output: about 1e-8 of it, which
    # is 1e-3 on house prices. max_additivity_error reports it as measured.
    try:
        explainer = shap.TreeExplainer(
            final, data=background_t, model_output=model_output, feature_perturbation="interventional"
        )
    except (InvalidModelError, ExplainerError) as error:
        raise UnmappableColumnsError(f"shap's TreeExplainer rejected the model: {error}") from error
    # A booster's trees add up to the margin that predict_margin returns.
    predict_margin = getattr(model, "predict_margin", None)
    if (model.is_classifier and space == "log_odds" and predict_margin is None
            and explainer.model.tree_output != "log_odds"):
        raise UnusableInputError(
            f"{type(final).__name__} outputs {explainer.model.tree_output} from its trees, so "
            "its log-odds cannot be explained with TreeSHAP; use output_space='probability'."
        )
    values, base_values = _to_result_layout(model, explainer(rows_t, check_additivity=False), len(rows), space)

    if model.is_classifier and space == "log_odds" and predict_margin is not None:
        # The interventional base value is the mean margin over the
        # background. shap 0.51 computes it from the first of the per-class
        # base scores that XGBoost 3 records, so it is recomputed here.
        base_values = np.broadcast_to(predict_margin(background).mean(axis=0), base_values.shape).copy()

    if model.is_classifier and space == "log_odds":
        outputs = _margin(final, rows_t, model.n_outputs) if predict_margin is None else predict_margin(rows)
    else:
        outputs = _model_outputs(model, rows, space)
    error = float(np.max(np.abs(base_values + values.sum(axis=1) - outputs)))
    if error > _TREE_ADDITIVITY_TOLERANCE * max(1.0, float(np.max(np.abs(outputs)))):
        raise UnmappableColumnsError(f"TreeSHAP values missed the model's output by up to {error:.3g}")
    values = sum_onto_raw(values, index, len(model.feature_names))
    return _Explained("tree", values, base_values, len(background), "random sample"), outputs


def _explain_catboost(model, rows, background, space):
    """Explain a CatBoost model with CatBoost's own interventional TreeSHAP.

    shap 0.51's TreeExplainer leaves out the bias of CatBoost regressors and
    corrupts the heap on multiclass models (catboost 1.2.10). CatBoost
    computes the same interventional values (Independent Tree SHAP, given
    reference data) for every loss, with categorical features, in raw or
    probability space.
    """
    import catboost

    booster = model.estimator
    classes = getattr(booster, "classes_", None)
    # CatBoost requires labels on both pools although they do not change Raw
    # or Probability values, so any known class (or 0) will do.
    label = classes[0] if model.is_classifier and classes is not None and len(classes) else 0.0
    categorical = booster.get_cat_feature_indices()

    def pool(frame):
        return catboost.Pool(model.to_booster_input(frame), label=np.full(len(frame), label),
                             cat_features=categorical)

    model_output = "Probability" if model.is_classifier and space == "probability" else "Raw"
    explained = booster.get_feature_importance(
        data=pool(rows), type="ShapValues", reference_data=pool(background), model_output=model_output
    )
    # (n_rows, n_features + 1), or (n_rows, n_classes, n_features + 1) for
    # multiclass, with the base value last -> (n_rows, n_features + 1[, n_classes])
    explained = np.asarray(explained, dtype=np.float64)
    if explained.ndim == 3:
        explained = explained.transpose(0, 2, 1)
    values, base_values = explained[:, :-1], explained[:, -1]
    if model.is_classifier:
        values, base_values = _as_class_layout(values, base_values, len(rows), space, model.n_outputs)

    outputs = model.predict_margin(rows) if model.is_classifier and space == "log_odds" else None
    return _Explained("tree", values, base_values, len(background), "random sample"), outputs


def _explain_linear(model, rows, background, space, random_state):
    import shap

    if model.is_classifier and space == "probability":
        raise UnmappableColumnsError("linear SHAP explains the margin, not probabilities")
    final, index, rows_t, background_t = _through_preprocessing(model, rows, background)
    masker = shap.maskers.Independent(background_t, max_samples=len(background_t))
    explanation = shap.LinearExplainer(final, masker)(rows_t)
    values, base_values = _to_result_layout(model, explanation, len(rows), space)

    outputs = _margin(final, rows_t, model.n_outputs) if model.is_classifier else None
    values = sum_onto_raw(values, index, len(model.feature_names))
    return _Explained("linear", values, base_values, len(background), "random sample"), outputs


def _row_seed(seed: int, key: int) -> int:
    """Seed of one row's permutations, from the run's seed and the row's dataset index."""
    return int(np.random.SeedSequence([seed, int(key)]).generate_state(1)[0])


def _explain_permutation(model, rows, background, space, random_state, *, max_evals=None, progress=None,
                         row_keys=None):
    import shap

    encoder = RawColumnEncoder(pd.concat([background, rows], ignore_index=True))

    done_fraction = 0.05

    def predict_encoded(matrix: np.ndarray) -> np.ndarray:
        # Reporting here too lets a cancelled job stop within one model call;
        # the caller's callback decides how often it acts on reports.
        report(progress, done_fraction, "explaining rows")
        return _model_outputs(model, encoder.decode(matrix), space)

    n_features = len(model.feature_names)
    if max_evals is None:
        max_evals = max(500, 2 * (2 * n_features + 1))
    masker = shap.maskers.Independent(encoder.encode(background), max_samples=len(background))
    seed = int(np.random.default_rng(random_state).integers(2**31 - 1))
    keys = np.arange(len(rows)) if row_keys is None else np.asarray(row_keys)
    encoded = encoder.encode(rows)
    value_chunks, base_chunks = [], []
    with _GLOBAL_RNG_LOCK:
        explainer = shap.PermutationExplainer(predict_encoded, masker, seed=seed)
        for position in range(len(rows)):
            # shap draws permutations from numpy's global generator. Seeding it
            # per row from the row's dataset index makes a row's values the
            # same whichever other rows are explained with it, so a job split
            # into row chunks gives the values of the whole.
            np.random.seed(_row_seed(seed, keys[position]))
            explanation = explainer(encoded[position : position + 1], max_evals=max_evals, silent=True)
            value_chunks.append(np.asarray(explanation.values, dtype=np.float64))
            base_chunks.append(np.asarray(explanation.base_values, dtype=np.float64))
            done_fraction = 0.05 + 0.85 * (position + 1) / len(rows)
            report(progress, done_fraction, f"explained {position + 1} of {len(rows)} rows")
    values = np.concatenate(value_chunks, axis=0)
    base_values = np.concatenate(base_chunks, axis=0)
    if not model.is_classifier:
        values = values.reshape(len(rows), n_features)
        base_values = base_values.reshape(len(rows))
    return _Explained("permutation", values, base_values, len(background), "random sample"), None


_STRATEGIES = {
    "tree": _explain_tree,
    "linear": _explain_linear,
    "permutation": _explain_permutation,
}


def choose_explainer(model: Model) -> str:
    """Name the SHAP explainer used for ``model`` by default."""
    if model.estimator is not None:
        _, final = split_pipeline(model.estimator)
        if _is_tree_model(final):
            return "tree"
        if _is_linear_model(final):
            return "linear"
    return "permutation"


def shap_values(
    model: Model,
    X: pd.DataFrame,
    *,
    background: pd.DataFrame | None = None,
    background_size: int = 100,
    output_space: str = "auto",
    explainer: str = "auto",
    max_evals: int | None = None,
    random_state=None,
    row_indices=None,
    dataset_digest: str | None = None,
    progress: ProgressCallback | None = None,
) -> ShapResult:
    """Compute SHAP values of ``X`` on the model's raw input columns.

    The explainer is chosen from the model: TreeSHAP for tree ensembles (also
    at the end of a pipeline, through its preprocessing), linear SHAP for
    linear models, and shap's permutation explainer otherwise. Values of
    columns that the preprocessing expands (one-hot encoding) are summed back
    onto the raw column they come from.

    Parameters
    ----------
    model : Model
    X : pandas.DataFrame of shape (n_rows, n_columns)
        Rows to explain, as raw columns.
    background : pandas.DataFrame, optional
        Rows that stand for "feature unknown"; defaults to ``X``. A random
        sample of ``background_size`` rows of it is used.
    background_size : int, default=100
    output_space : {"auto", "probability", "log_odds", "raw"}
        What is explained. Classifiers: ``probability`` (the default) or
        ``log_odds``; regressors: ``raw`` (the model's unit).
    explainer : {"auto", "tree", "linear", "permutation"}
    max_evals : int, optional
        Model evaluations per row for the permutation explainer.
    random_state : int or None
        Seed of the background sample and of the permutation explainer.
    row_indices : sequence of int, optional
        Dataset indices of the rows of ``X``, reported with the result. The
        permutation explainer seeds each row from its index (default: the
        row's position in ``X``), so a row gets the same values whichever
        rows are explained with it.

    Returns
    -------
    ShapResult
        Values (n_rows, n_features) for regression and
        (n_rows, n_features, n_classes) for classification.
    """
    started = time.perf_counter()
    check_rows(X)
    background_size = check_positive_int("background_size", background_size, maximum=10_000)
    check_choice("output_space", output_space, OUTPUT_SPACES)
    check_choice("explainer", explainer, ("auto",) + tuple(_STRATEGIES))
    if max_evals is not None:
        max_evals = check_positive_int("max_evals", max_evals, minimum=2 * len(model.feature_names) + 1)

    if output_space == "auto":
        output_space = "probability" if model.is_classifier else "raw"
    if model.is_classifier and output_space == "raw":
        raise InvalidParameterError(
            "output_space 'raw' is for regressors; for a classifier use 'probability' or 'log_odds'."
        )
    if not model.is_classifier and output_space != "raw":
        raise InvalidParameterError(
            f"output_space {output_space!r} is for classifiers; a regressor is explained in 'raw' space."
        )

    rows = model.select_features(X).reset_index(drop=True)
    background = rows if background is None else model.select_features(background)
    rng = np.random.default_rng(random_state)
    if len(background) > background_size:
        picked = np.sort(rng.choice(len(background), size=background_size, replace=False))
        background = background.iloc[picked]
    background = background.reset_index(drop=True)

    chosen = choose_explainer(model) if explainer == "auto" else explainer
    if chosen in ("tree", "linear") and model.estimator is None:
        raise UnusableInputError(
            f"the {chosen} explainer needs a scikit-learn compatible model; use 'permutation'."
        )
    notes: list[str] = []
    report(progress, 0.05, f"explaining with {chosen}")
    seed = int(rng.integers(2**31 - 1))
    try:
        if chosen == "permutation":
            explained, outputs = _explain_permutation(model, rows, background, output_space, seed,
                                                      max_evals=max_evals, progress=progress,
                                                      row_keys=row_indices)
        else:
            explained, outputs = _STRATEGIES[chosen](model, rows, background, output_space, seed)
    except UnmappableColumnsError as reason:
        if explainer != "auto":
            raise UnusableInputError(
                f"the {chosen} explainer cannot explain this model: {reason}; use explainer='auto'."
            ) from reason
        notes.append(f"{chosen} explainer not applicable ({reason}); used the permutation explainer")
        explained, outputs = _explain_permutation(model, rows, background, output_space, seed,
                                                  max_evals=max_evals, progress=progress, row_keys=row_indices)
    report(progress, 0.9, "checking additivity")

    if outputs is None:
        outputs = _model_outputs(model, rows, output_space)
    # values: (n_rows, n_features[, n_classes]); summing features gives the
    # explained output minus the base value.
    reconstructed = explained.base_values + explained.values.sum(axis=1)
    additivity_error = float(np.max(np.abs(reconstructed - outputs)))
    mean_abs = np.abs(explained.values).mean(axis=0)
    report(progress, 1.0, "done")

    return ShapResult(
        method="shap",
        parameters={
            "background_size": background_size,
            "output_space": output_space,
            "explainer": explainer,
            "max_evals": max_evals,
            "random_state": random_state if isinstance(random_state, (int, type(None))) else "object",
        },
        output_space=output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        explainer=explained.explainer,
        feature_names=model.feature_names,
        class_names=model.class_names,
        values=explained.values,
        base_values=explained.base_values,
        predictions=outputs,
        mean_abs=mean_abs,
        data=[to_jsonable(record) for record in rows.to_dict(orient="records")],
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
        background_size=explained.background_size,
        background_method=explained.background_method,
        max_additivity_error=additivity_error,
        notes=tuple(notes),
    )
