"""Request and response schemas. They validate input and generate /openapi.json."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Method parameters ------------------------------------------------------------

class RowSelection(_Strict):
    n_rows: int | None = Field(None, ge=1, description="Rows to explain, sampled with random_state. Default 100.")
    row_indices: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, description="Dataset rows to explain, instead of a sample."
    )
    random_state: int | None = Field(0, description="Seed of the row sample and of randomized explainers.")


class PermutationParameters(_Strict):
    scoring: str | None = Field(
        None, description="accuracy, balanced_accuracy, roc_auc, neg_log_loss (classifiers); r2, "
        "neg_mean_absolute_error, neg_mean_squared_error, neg_root_mean_squared_error (regressors).",
    )
    n_repeats: int = Field(5, ge=1, le=1000)
    random_state: int | None = 0
    feature_groups: dict[str, list[str]] | None = Field(
        None, description="Features permuted together, reported under the group name."
    )
    max_rows: int | None = Field(None, ge=1, description="Score on a seeded sample of this many rows.")


class ShapParameters(RowSelection):
    background_size: int = Field(100, ge=1, le=10_000, description="Background rows sampled from the dataset.")
    output_space: Literal["auto", "probability", "log_odds", "raw"] = "auto"
    explainer: Literal["auto", "tree", "linear", "permutation"] = "auto"
    max_evals: int | None = Field(None, ge=3, description="Model evaluations per row (permutation explainer).")


IntegrationMethod = Literal["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                            "riemann_middle"]


class NoiseTunnel(_Strict):
    """Average integrated gradients over noisy copies of each row (captum's NoiseTunnel)."""

    type: Literal["smoothgrad", "smoothgrad_sq", "vargrad"] = "smoothgrad"
    n_samples: int = Field(10, ge=1, le=1000, description="Noisy copies per row.")
    stdev: float = Field(1.0, gt=0, description="Standard deviation of the Gaussian noise: in the raw units of "
                         "the inputs, one value for all features (scale raw), or in standard deviations of each "
                         "feature in the dataset (scale std).")
    scale: Literal["raw", "std"] = Field(
        "raw", description="Unit of stdev. std adds the noise to standardized inputs, which leaves each noisy "
                           "copy's integrated gradients unchanged and suits features of different ranges.")


class IntegratedGradientsParameters(RowSelection):
    baseline: Literal["zeros", "mean", "median", "sample"] | dict[str, float] | list[float] = Field(
        "zeros", description="zeros, the dataset's mean or median row, a row given as {feature: value} or "
                             "a list, or sample: average over n_baselines dataset rows (expected gradients).")
    n_steps: int = Field(50, ge=2, le=10_000)
    method: IntegrationMethod = Field("gausslegendre", description="captum's integral approximation.")
    target: int | str | None = Field(None, description="Class index or name; default the predicted class.")
    output_space: Literal["raw", "probability"] = "raw"
    internal_batch_size: int | None = Field(None, ge=1)
    noise_tunnel: NoiseTunnel | None = Field(
        None, description="Smooth the attributions over noisy copies of each row, seeded by random_state. "
                          "Not with baseline sample, nor for models with categorical inputs. The smoothed "
                          "attributions are not complete: convergence_delta then measures how far they are "
                          "from it.")
    n_baselines: int = Field(10, ge=1, le=10_000, description="Rows drawn for baseline sample.")


class _LayerPathParameters(RowSelection):
    """Options of the path integral that the layer and neuron methods share."""

    baseline: Literal["zeros", "mean", "median"] | dict[str, float] | list[float] = "zeros"
    n_steps: int = Field(50, ge=2, le=10_000)
    integration_method: IntegrationMethod = Field("gausslegendre", description="captum's integral approximation.")
    target: int | str | None = Field(None, description="Class index or name; default the predicted class.")
    output_space: Literal["raw", "probability"] = "raw"
    internal_batch_size: int | None = Field(None, ge=1)


class LayerAttributionsParameters(_LayerPathParameters):
    layer: str | Annotated[list[str], Field(min_length=1)] = Field(
        description="Qualified layer name, or a list of them, as named_modules() lists them (body.relu).")
    layer_method: Literal["integrated-gradients", "conductance", "activations"] = Field(
        "integrated-gradients", description="integrated-gradients integrates along the layer's output "
        "(LayerIntegratedGradients), conductance along the input (LayerConductance); activations returns "
        "the layer's output.")


class NeuronAttributionsParameters(_LayerPathParameters):
    layer: str = Field(description="Qualified name of the layer holding the unit.")
    neuron: int | Annotated[list[int], Field(min_length=1)] = Field(
        description="Index of the unit in the layer's output without the batch dimension: an integer for "
                    "a flat layer, else a list.")
    neuron_method: Literal["integrated-gradients", "conductance"] = Field(
        "integrated-gradients", description="integrated-gradients explains the unit's value "
        "(NeuronIntegratedGradients); conductance the target output's flow through it (NeuronConductance).")


class TrainingHealthParameters(_Strict):
    n_bins: int = Field(20, ge=1, le=1000, description="Histogram bins per tensor, shared by its checkpoints.")
    near_zero_epsilon: float = Field(1e-3, gt=0, description="A weight with |w| below this counts as near zero.")
    max_rows: int = Field(2000, ge=1, description="Dataset rows used, sampled with random_state.")
    random_state: int | None = Field(0, description="Seed of the row sample.")


class _ExplanationBase(_Strict):
    model_id: str = Field(description="Model id or name.")
    dataset_id: str = Field(description="Dataset id or name.")


class PermutationRequest(_ExplanationBase):
    method: Literal["permutation"]
    parameters: PermutationParameters = PermutationParameters()


class ShapRequest(_ExplanationBase):
    method: Literal["shap"]
    parameters: ShapParameters = ShapParameters()


class IntegratedGradientsRequest(_ExplanationBase):
    method: Literal["integrated-gradients"]
    parameters: IntegratedGradientsParameters = IntegratedGradientsParameters()


class LayerAttributionsRequest(_ExplanationBase):
    method: Literal["layer-attributions"]
    parameters: LayerAttributionsParameters


class NeuronAttributionsRequest(_ExplanationBase):
    method: Literal["neuron-attributions"]
    parameters: NeuronAttributionsParameters


class ExplanationRequest(RootModel):
    root: Annotated[
        PermutationRequest | ShapRequest | IntegratedGradientsRequest | LayerAttributionsRequest
        | NeuronAttributionsRequest,
        Field(discriminator="method"),
    ]


class DiagnosisRequest(_Strict):
    """Diagnose a checkpoint series: statistics per tensor and checkpoint, and findings."""

    dataset_id: str | None = Field(
        None, description="Dataset id or name. Its rows give activation statistics, and its target the "
                          "loss and gradient norms. Without it only the weights are described.")
    parameters: TrainingHealthParameters = TrainingHealthParameters()


# What-if ---------------------------------------------------------------------

class _BaseRow(_Strict):
    model_id: str = Field(description="Model id or name.")
    dataset_id: str | None = Field(None, description="Dataset id or name: the row source and SHAP background.")
    row_index: int | None = Field(None, ge=0, strict=True, description="Base row, by its index in the dataset.")
    row: dict[str, Any] | None = Field(None, description="Base row given as {feature: value}.")


class WhatIfRequest(_BaseRow):
    changes: dict[str, Any] = Field(default_factory=dict, description="New values; null sets a value missing.")
    explain: bool = True
    output_space: Literal["auto", "probability", "log_odds", "raw"] = "auto"
    background_size: int = Field(100, ge=1, le=10_000)
    random_state: int | None = 0


class SweepRequest(_BaseRow):
    feature: str
    row_indices: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, max_length=10_000, description="Several base rows (ICE curves)."
    )
    grid: list[Any] | None = Field(None, min_length=1, max_length=1000)
    n_points: int = Field(20, ge=2, le=1000)
    include_missing: bool = False


_Bounds = dict[str, Annotated[list[float | None], Field(min_length=2, max_length=2)]]
_Categories = dict[str, Annotated[list[str | bool | None], Field(min_length=1)]]
_Steps = dict[str, Annotated[float, Field(gt=0)]]


class CounterfactualRequest(_BaseRow):
    """Find rows near the base row whose prediction reaches a target class or range."""

    target_class: str | int | None = Field(
        None, description="Classifiers: class name or index to reach. Default for a binary classifier: "
                          "the class not predicted now; required for more classes.")
    target_range: Annotated[list[float | None], Field(min_length=2, max_length=2)] | None = Field(
        None, description="Regressors (required): [low, high] the output must reach; null for an open side.")
    min_probability: float | None = Field(
        None, gt=0, lt=1, description="Classifiers: the target class's probability must reach this. "
                                      "Default: the target class must be the predicted class.")
    frozen: list[str] = Field(default_factory=list, description="Features that must not change.")
    bounds: _Bounds | None = Field(
        None, description="{feature: [low, high]} for numeric features; null for the default side. "
                          "Default: the dataset's minimum and maximum, or the row's own value without a dataset.")
    allowed_categories: _Categories | None = Field(
        None, description="{feature: [values]} a categorical feature may change to. Default: the dataset's "
                          "categories; null (missing) only when listed.")
    steps: _Steps | None = Field(
        None, description="{feature: step}: numeric values move on multiples of step from the low bound. "
                          "Default 1 for integer features, none for others.")
    n_counterfactuals: int = Field(3, ge=1, le=20)
    max_evaluations: int = Field(20_000, ge=1, le=1_000_000, description="Rows predicted in all.")
    random_state: int | None = 0


class OptimizationRequest(_BaseRow):
    """Search the inputs that maximize or minimize a class probability or a regression output."""

    objective: Literal["maximize", "minimize"] = "maximize"
    target_class: str | int | None = Field(
        None, description="Classifiers: the class whose probability is optimized; default the last class.")
    features: list[str] | None = Field(
        None, min_length=1, description="Features allowed to move; default all.")
    bounds: _Bounds | None = Field(None, description="As for counterfactuals.")
    allowed_categories: _Categories | None = Field(None, description="As for counterfactuals.")
    steps: _Steps | None = Field(None, description="As for counterfactuals.")
    max_evaluations: int = Field(5000, ge=1, le=1_000_000, description="Rows predicted in all.")
    random_state: int | None = 0


class SurfaceRequest(_BaseRow):
    features: list[str] = Field(min_length=2, max_length=2, description="The two features: x, then y.")
    row_indices: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, max_length=10_000, description="Several base rows."
    )
    grids: list[list[Any] | None] | None = Field(
        None, min_length=2, max_length=2, description="The grid of each feature; null builds the default."
    )
    n_points: int = Field(10, ge=2, le=1000, description="Default grid size of each feature.")
    include_missing: bool = False


class WhatIfVariant(_Strict):
    base: int = Field(0, ge=0, description="Position of the base row in row_indices or rows.")
    changes: dict[str, Any] = Field(default_factory=dict, description="New values; null sets a value missing.")


class WhatIfBatchRequest(_BaseRow):
    row_indices: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, max_length=10_000, description="Several base rows, by index in the dataset."
    )
    rows: list[dict[str, Any]] | None = Field(
        None, min_length=1, max_length=10_000, description="Several base rows given as {feature: value}."
    )
    variants: list[WhatIfVariant] = Field(min_length=1, max_length=10_000)
    explain: bool = Field(False, description="Add each variant's SHAP values (at most 500 variants).")
    output_space: Literal["auto", "probability", "log_odds", "raw"] = "auto"
    background_size: int = Field(100, ge=1, le=10_000)
    random_state: int | None = 0


class PredictRequest(_Strict):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)


OpenInferenceDatatype = Literal["FP64", "FP32", "INT64", "INT32", "BOOL", "BYTES"]


class RemoteModelRequest(_Strict):
    """A model served by a model server, called over HTTP for every prediction."""

    name: str | None = Field(None, min_length=1, max_length=200,
                             description="Unique name to refer to the model by, instead of its id.")
    url: str = Field(description="Base URL of the model server, such as http://mlserver:8080. Its host "
                                 "must be on the operator's EXPLAINER_REMOTE_ALLOWED_HOSTS.")
    protocol: Literal["kserve-v2", "mlflow"] = Field(
        description="kserve-v2: the Open Inference Protocol (MLServer, KServe, Triton), "
                    "POST {url}/v2/models/{model_name}/infer. mlflow: POST {url}/invocations.")
    model_name: str | None = Field(None, min_length=1, description="The served model's name (kserve-v2).")
    model_version: str | None = Field(None, min_length=1,
                                      description="The served model's version (kserve-v2); default the server's.")
    feature_names: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="Input columns, in the order the model takes them.")
    feature_types: dict[str, OpenInferenceDatatype] | None = Field(
        None, description="Datatype per feature; features not listed are sent by their dataset dtype "
                          "(integers INT64, other numbers FP64, booleans BOOL, the rest BYTES).")
    task: Literal["classification", "regression"]
    class_names: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, min_length=2, description="Classes in the order of the probability columns (classifiers).")
    output_name: str | None = Field(
        None, min_length=1, description="Output to request and read, such as predict_proba for MLServer's "
                                        "scikit-learn runtime; default the first output.")
    input_layout: Literal["columns", "tensor"] = Field(
        "columns", description="kserve-v2 request layout: one input per feature column with "
                               "content_type pd (MLServer), or one 2-D FP64 tensor (Triton).")
    input_name: str | None = Field(None, min_length=1,
                                   description="Name of the tensor layout's input; default input-0.")
    max_batch_rows: int = Field(1000, ge=1, le=100_000, description="Rows sent in one request.")
    timeout_seconds: float | None = Field(
        None, gt=0, description="Timeout of one request, in seconds; default and maximum "
                                "EXPLAINER_REMOTE_TIMEOUT_SECONDS.")
    max_retries: int | None = Field(
        None, ge=0, description="Retries after a connection error, a timeout or a 5xx status; "
                                "default and maximum EXPLAINER_REMOTE_MAX_RETRIES.")


# Responses -------------------------------------------------------------------

class LayerDescription(BaseModel):
    """A layer of a PyTorch model that accepts forward hooks."""

    name: str = Field(description="Qualified name, as the parameter layer takes it.")
    type: str | None = Field(description="Module type, such as Linear or ReLU.")
    unit_shape: list[int] | None = Field(
        description="Output shape without the batch dimension, from a forward pass on two rows of zeros; a "
                    "neuron indexes it. Null for a layer whose output is not one tensor.")


class ModelResource(BaseModel):
    id: str
    name: str | None
    digest: str
    format: str
    task: Literal["classification", "regression"]
    feature_names: list[str]
    class_names: list[str] | None
    output_space: str
    methods: list[str]
    metadata: dict[str, Any]
    size_bytes: int
    created_at: str
    layers: list[LayerDescription] | None = Field(
        None, description="The layers that layer-attributions and neuron-attributions accept, in module order; "
                          "null for a model that is not a PyTorch module. Returned by GET /models/{reference}, "
                          "not in the list of models.")


class DatasetResource(BaseModel):
    id: str
    name: str | None
    digest: str
    target: str | None
    n_rows: int
    columns: list[str]
    size_bytes: int
    created_at: str
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class JobResource(BaseModel):
    id: str
    model_id: str | None = Field(description="The explained model; null for a training-health job.")
    dataset_id: str | None = Field(description="The dataset; null for a training-health job without one.")
    checkpoints_id: str | None = Field(None, description="The diagnosed checkpoint series (training-health).")
    method: str
    parameters: dict[str, Any]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    stage: str | None
    error: dict[str, Any] | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    result: dict[str, Any] | None = None


class CheckpointFile(BaseModel):
    epoch: str
    digest: str
    size_bytes: int


class TensorDescription(BaseModel):
    name: str
    shape: list[int]
    dtype: str
    kind: Literal["parameter", "buffer"]


class CheckpointSeriesResource(BaseModel):
    id: str
    name: str | None
    format: str = Field(description="The architecture's format: torchscript or torch-export.")
    digest: str = Field(description="Digest of the architecture file.")
    task: Literal["classification", "regression"]
    feature_names: list[str]
    class_names: list[str] | None
    metadata: dict[str, Any]
    epochs: list[str]
    checkpoints: list[CheckpointFile]
    tensors: list[TensorDescription]
    size_bytes: int
    created_at: str


class CheckpointSeriesList(BaseModel):
    checkpoints: list[CheckpointSeriesResource]


class Problem(BaseModel):
    """An error, as application/problem+json (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None


class Predictions(BaseModel):
    model_id: str
    output_space: str
    class_names: list[str] | None
    predictions: list[Any]


class ModelList(BaseModel):
    models: list[ModelResource]


class DatasetList(BaseModel):
    datasets: list[DatasetResource]


class JobList(BaseModel):
    jobs: list[JobResource]


class Health(BaseModel):
    status: str
    checks: dict[str, Any] = {}


class Result(RootModel):
    """A method's result; its fields are listed in the API reference."""

    root: dict[str, Any]
