"""Jobs split into chunks and merged give the numbers of the whole run."""

from __future__ import annotations

import numpy as np
import pytest

from explainer import InvalidParameterError, explain, load_dataset
from explainer.chunks import explain_in_chunks, merge_chunks, plan_chunks, run_chunk
from tests.conftest import DATASETS


@pytest.fixture(scope="module")
def adult():
    return load_dataset((DATASETS / "adult.csv").read_bytes(), name="adult", target="income")


@pytest.fixture(scope="module")
def breast_cancer():
    return load_dataset((DATASETS / "breast_cancer.csv").read_bytes(), name="breast_cancer", target="target")


def _without_timing(result: dict) -> dict:
    return {name: value for name, value in result.items() if name != "elapsed_seconds"}


@pytest.mark.parametrize("parameters, chunk_rows", [
    ({"n_rows": 300}, 70),
    ({"n_rows": 12, "explainer": "permutation", "max_evals": 100, "background_size": 30}, 5),
    ({"row_indices": [40, 3, 17, 3000, 9], "explainer": "permutation", "max_evals": 100}, 2),
])
def test_shap_in_chunks_equals_the_whole_run(adult_model, adult, parameters, chunk_rows):
    whole = explain(adult_model, adult, method="shap", parameters=parameters).to_dict()
    chunked = explain_in_chunks(adult_model, adult, method="shap", parameters=parameters, chunk_rows=chunk_rows)

    assert len(plan_chunks(adult_model, adult, method="shap", parameters=parameters,
                           chunk_rows=chunk_rows)) > 1
    assert _without_timing(chunked) == _without_timing(whole)


def test_permutation_in_chunks_equals_the_whole_run(adult_model, adult):
    parameters = {"n_repeats": 3, "max_rows": 20000, "scoring": "roc_auc"}
    whole = explain(adult_model, adult, method="permutation", parameters=parameters).to_dict()
    chunks = plan_chunks(adult_model, adult, method="permutation", parameters=parameters)
    chunked = explain_in_chunks(adult_model, adult, method="permutation", parameters=parameters)

    assert len(chunks) > 1
    assert [chunk["baseline"] for chunk in chunks].count(True) == 1
    assert _without_timing(chunked) == _without_timing(whole)


def test_integrated_gradients_in_chunks_equals_the_whole_run(mlp_model, breast_cancer):
    parameters = {"n_rows": 200, "n_steps": 50, "baseline": "mean"}
    whole = explain(mlp_model, breast_cancer, method="integrated-gradients", parameters=parameters).to_dict()
    chunked = explain_in_chunks(mlp_model, breast_cancer, method="integrated-gradients",
                                parameters=parameters, chunk_rows=64)

    assert _without_timing(chunked) == _without_timing(whole)


def test_agnostic_shap_of_a_row_does_not_depend_on_the_other_rows(adult_model, adult):
    options = {"explainer": "permutation", "max_evals": 100, "background_size": 30}
    alone = explain(adult_model, adult, method="shap", parameters={"row_indices": [17], **options})
    together = explain(adult_model, adult, method="shap", parameters={"row_indices": [5, 17, 900], **options})

    assert np.array_equal(alone.values[0], together.values[1])


def test_chunks_merge_in_any_order(adult_model, adult):
    parameters = {"n_repeats": 2, "max_rows": 30000}
    chunks = plan_chunks(adult_model, adult, method="permutation", parameters=parameters)
    partials = [run_chunk(adult_model, adult, method="permutation", parameters=parameters, chunk=chunk)
                for chunk in chunks]
    forward = merge_chunks(adult_model, adult, method="permutation", parameters=parameters, partials=partials)
    backward = merge_chunks(adult_model, adult, method="permutation", parameters=parameters,
                            partials=partials[::-1])

    assert forward == backward


def test_merge_refuses_missing_chunks(adult_model, adult):
    parameters = {"n_repeats": 2, "max_rows": 30000}
    chunks = plan_chunks(adult_model, adult, method="permutation", parameters=parameters)
    partials = [run_chunk(adult_model, adult, method="permutation", parameters=parameters, chunk=chunk)
                for chunk in chunks[1:]]

    with pytest.raises(InvalidParameterError, match="do not cover every permuted copy"):
        merge_chunks(adult_model, adult, method="permutation", parameters=parameters, partials=partials)


@pytest.mark.parametrize("chunk_rows", [0, -3, 2.5, True])
def test_plan_rejects_bad_chunk_rows(adult_model, adult, chunk_rows):
    with pytest.raises(InvalidParameterError, match="chunk_rows must be a positive integer"):
        plan_chunks(adult_model, adult, method="shap", parameters={"n_rows": 10}, chunk_rows=chunk_rows)


def test_plan_rejects_unknown_parameters(adult_model, adult):
    with pytest.raises(InvalidParameterError, match="unknown parameter"):
        plan_chunks(adult_model, adult, method="shap", parameters={"rows": 10})
