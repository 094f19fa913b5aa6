"""Split an explanation into chunks that run anywhere, and merge their results.

A job over many rows or many permuted copies is cut into chunks that
separate workers run; merging the partial results gives the result of
running the job whole. Local methods (SHAP, integrated gradients, layer and
neuron attributions) split by rows: a row's values do not depend on the
other rows explained with it. Permutation importance splits its permuted
copies (feature group x repeat): each copy's score depends only on the seed.

Some jobs run as one chunk. Integrated gradients with a noise tunnel or
sampled baselines draws its noise for all rows at once, so a row's values
depend on the rows drawn before it. Training health compares every
checkpoint with the others, and its cost grows with the checkpoints, not
the rows.

Chunks and partial results are plain JSON, so that they can travel through
a message broker and a database. Both job backends of the service run the
same plan, so the threads backend and the worker backend return the same
numbers, bit for bit. Against one unsplit :func:`explainer.explain` call the
numbers are also identical for scikit-learn models, and for PyTorch models
when the job fits in one chunk (up to ``IG_CHUNK_ROWS`` rows). Split into
several chunks, a PyTorch model's float32 outputs can differ in their last
float32 bits (relative 1e-7) because a chunk's batch size changes the order
of its sums.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from ._errors import InvalidParameterError
from ._explain import SERIES_METHODS, check_parameters, explain, permutation_inputs, select_rows
from .data import Dataset
from .methods._common import ProgressCallback
from .methods._permutation import PermutationPlan
from .methods._shap import choose_explainer

__all__ = ["explain_in_chunks", "merge_chunks", "plan_chunks", "run_chunk"]

# Rows per chunk of the local methods, by SHAP explainer. Model-agnostic SHAP
# costs about a second per row on a pipeline, so its chunks are small enough
# to spread a hundred rows over several workers; the other explainers take
# milliseconds per row.
SHAP_CHUNK_ROWS = {"tree": 2000, "linear": 5000, "permutation": 10}
# Rows per chunk of the gradient methods. Layer methods keep every layer's
# attributions of a row, so their chunks are no larger.
IG_CHUNK_ROWS = 1000
# Rows predicted per permutation-importance chunk: whole permuted copies are
# grouped until a chunk predicts about this many rows.
PERMUTATION_CHUNK_PREDICTIONS = 262_144


def plan_chunks(subject, dataset: Dataset | None, *, method: str, parameters: dict | None = None,
                chunk_rows: int | None = None) -> list[dict]:
    """Cut a job into chunks; returns one JSON-ready spec per chunk.

    ``subject`` is the Model, or for ``training-health`` the
    CheckpointSeries, that :func:`explainer.explain` takes. ``chunk_rows``
    overrides the rows per chunk of a local method (SHAP, integrated
    gradients, layer and neuron attributions), except for the jobs that run
    as one chunk (see the module's description). The plan depends on nothing
    else than the subject, the dataset and the parameters, so every process
    plans the same chunks.
    """
    parameters = check_parameters(subject, dataset, method, parameters)
    if method in SERIES_METHODS:
        return [{"whole": True}]
    if method == "permutation":
        frame, y, options = permutation_inputs(dataset, parameters)
        plan = PermutationPlan(subject, frame, y, **options)
        per_chunk = max(1, PERMUTATION_CHUNK_PREDICTIONS // plan.n_rows)
        return [
            {"copies": [first, min(first + per_chunk, plan.n_copies)], "baseline": first == 0}
            for first in range(0, plan.n_copies, per_chunk)
        ]
    _, indices = select_rows(
        dataset,
        n_rows=parameters.get("n_rows"),
        row_indices=parameters.get("row_indices"),
        random_state=parameters.get("random_state", 0),
    )
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int)
                                   or chunk_rows < 1):
        raise InvalidParameterError(f"chunk_rows must be a positive integer, got {chunk_rows!r}.")
    if _draws_across_rows(method, parameters):
        chunk_rows = len(indices)
    elif chunk_rows is None:
        if method == "shap":
            strategy = parameters.get("explainer", "auto")
            chunk_rows = SHAP_CHUNK_ROWS.get(choose_explainer(subject) if strategy == "auto" else strategy, 10)
        else:
            chunk_rows = IG_CHUNK_ROWS
    return [
        {"row_indices": [int(index) for index in indices[start : start + chunk_rows]]}
        for start in range(0, len(indices), chunk_rows)
    ]


def _draws_across_rows(method: str, parameters: dict) -> bool:
    """Tell whether a method's random draws for one row depend on the other rows of its call."""
    return method == "integrated-gradients" and (
        parameters.get("noise_tunnel") is not None or parameters.get("baseline") == "sample"
    )


def run_chunk(subject, dataset: Dataset | None, *, method: str, parameters: dict | None, chunk: dict,
              progress: ProgressCallback | None = None) -> dict:
    """Run one chunk of :func:`plan_chunks`; returns its partial result as JSON-ready data."""
    parameters = check_parameters(subject, dataset, method, parameters)
    if method == "permutation":
        frame, y, options = permutation_inputs(dataset, parameters)
        plan = PermutationPlan(subject, frame, y, **options)
        first, stop = chunk["copies"]
        baseline = plan.baseline_score() if chunk.get("baseline") else None
        scores = plan.score_copies(first, stop, progress)
        return {"copies": [first, stop], "baseline_score": baseline, "scores": scores.tolist()}
    if chunk.get("whole"):
        return {"result": explain(subject, dataset, method=method, parameters=parameters,
                                  progress=progress).to_dict()}
    rows = {key: value for key, value in parameters.items() if key not in ("n_rows", "row_indices")}
    rows["row_indices"] = chunk["row_indices"]
    return {"result": explain(subject, dataset, method=method, parameters=rows, progress=progress).to_dict()}


# Per-row fields of the local methods' results, concatenated by the merge.
# A field that is None (the outputs of layer activations, say) stays None.
_ROW_FIELDS = {
    "shap": ("values", "base_values", "predictions", "data", "row_indices"),
    "integrated-gradients": ("attributions", "outputs", "baseline_outputs", "convergence_delta", "targets",
                             "row_indices"),
    "layer-attributions": ("targets", "outputs", "baseline_outputs", "row_indices"),
    "neuron-attributions": ("attributions", "neuron_values", "convergence_delta", "targets", "row_indices"),
}
# Per-row fields of each layer of a layer-attributions result.
_LAYER_ROW_FIELDS = ("attributions", "totals", "convergence_delta")


def merge_chunks(subject, dataset: Dataset | None, *, method: str, parameters: dict | None,
                 partials: list[dict], elapsed_seconds: float = 0.0) -> dict:
    """Merge the partial results of all chunks, in plan order, into the job's result."""
    parameters = check_parameters(subject, dataset, method, parameters)
    if not partials:
        raise InvalidParameterError("there are no chunk results to merge.")
    if method == "permutation":
        frame, y, options = permutation_inputs(dataset, parameters)
        plan = PermutationPlan(subject, frame, y, **options)
        parts = sorted(partials, key=lambda part: part["copies"][0])
        covered = [index for part in parts for index in range(*part["copies"])]
        if covered != list(range(plan.n_copies)):
            raise InvalidParameterError("the chunk results do not cover every permuted copy once.")
        baseline = next(part["baseline_score"] for part in parts if part["baseline_score"] is not None)
        scores = np.concatenate([np.asarray(part["scores"], dtype=np.float64) for part in parts])
        result = plan.result(baseline, scores, elapsed_seconds=elapsed_seconds, dataset_digest=dataset.digest)
        return result.to_dict()
    if method in SERIES_METHODS:
        if len(partials) != 1:
            raise InvalidParameterError(f"a {method} job runs as one chunk, got {len(partials)} chunk results.")
        return {**partials[0]["result"], "elapsed_seconds": elapsed_seconds}

    results = [part["result"] for part in partials]
    merged = _concatenate(results, _ROW_FIELDS[method])
    merged["elapsed_seconds"] = elapsed_seconds
    if method == "shap":
        values = np.asarray(merged["values"], dtype=np.float64)
        merged["mean_abs"] = np.abs(values).mean(axis=0).tolist()
        merged["max_additivity_error"] = max(result["max_additivity_error"] for result in results)
        explainers = list(dict.fromkeys(result["explainer"] for result in results))
        merged["explainer"] = explainers[0] if len(explainers) == 1 else "+".join(explainers)
        merged["notes"] = list(dict.fromkeys(note for result in results for note in result["notes"]))
    elif method == "layer-attributions":
        merged["layers"] = {
            name: _summarize(_concatenate([result["layers"][name] for result in results], _LAYER_ROW_FIELDS))
            for name in merged["layers"]
        }
    else:
        _summarize(merged)
    return merged


def _concatenate(results: list[dict], names) -> dict:
    """Copy the first result, with the per-row fields ``names`` of all results concatenated."""
    merged = dict(results[0])
    for name in names:
        if merged[name] is not None:
            merged[name] = [item for result in results for item in result[name]]
    return merged


def _summarize(merged: dict) -> dict:
    """Recompute the mean |attribution| over rows and the largest |convergence delta|, in place."""
    attributions = np.asarray(merged["attributions"], dtype=np.float64)
    merged["mean_abs"] = np.abs(attributions).mean(axis=0).tolist()
    delta = merged["convergence_delta"]
    merged["max_abs_convergence_delta"] = None if delta is None else float(np.max(np.abs(delta)))
    return merged


def explain_in_chunks(subject, dataset: Dataset | None, *, method: str, parameters: dict | None = None,
                      progress: ProgressCallback | None = None, chunk_rows: int | None = None,
                      run: Callable[[Iterable[dict]], Iterable[dict]] | None = None) -> dict:
    """Plan, run and merge in this process; returns the result as JSON-ready data.

    ``run`` maps the chunk specs to their partial results; by default the
    chunks run one after another here, reporting progress across them.
    """
    started = time.perf_counter()
    chunks = plan_chunks(subject, dataset, method=method, parameters=parameters, chunk_rows=chunk_rows)
    if run is None:
        def run(specs):
            partials = []
            for position, spec in enumerate(specs):
                def chunk_progress(fraction, stage, position=position):
                    if progress is not None:
                        progress((position + fraction) / len(chunks), stage)

                partials.append(run_chunk(subject, dataset, method=method, parameters=parameters,
                                          chunk=spec, progress=chunk_progress))
            return partials

    partials = list(run(chunks))
    return merge_chunks(subject, dataset, method=method, parameters=parameters, partials=partials,
                        elapsed_seconds=time.perf_counter() - started)

