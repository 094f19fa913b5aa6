"""Train small networks and save a checkpoint per epoch, healthy and broken on purpose.

Usage::

    python datasets/train_checkpoints.py [--output DIR] [--force]

Writes one folder per network into DIR (default ``var/checkpoints``):

- ``architecture.pt``: the network as TorchScript, carrying ``explainer.json``
  (feature names, task, class names and, for classifiers, the output kind
  ``logits``) for the explainer's loader.
- ``epoch-000.safetensors`` to ``epoch-NNN.safetensors``: the state dict
  (parameters and buffers) at initialization and after each epoch.
- ``data.csv`` for networks trained on synthetic data.

The networks:

- ``healthy``: breast-cancer classifier, Linear-ReLU-Linear-ReLU-Linear,
  trained with Adam at a moderate learning rate.
- ``vanishing``: the same task through eight Linear-Sigmoid layers, trained
  with SGD, so that the gradient shrinks about sevenfold per layer on its way
  back to ``layer1``.
- ``exploding``: a Linear-ReLU-Linear regressor of a synthetic target,
  trained with SGD at a learning rate far above the stable range, so that
  its weights grow by large factors each epoch.
- ``dead_relu``: the healthy architecture with ``hidden1``'s bias initialized
  to -4, so that most ReLU units of ``relu1`` output zero on every row from the
  start and never recover.
- ``categorical``: a regressor of a synthetic target from two numeric columns
  and one categorical column ``color``, embedded by ``embed_color``. It is
  saved as TorchScript (``architecture.pt``) and as a torch.export program
  (``architecture.pt2``), whose layers accept hooks, with ``categories`` and
  ``embeddings`` in its metadata.

``checkpoints.json`` lists every network with its files, epoch labels,
dataset path and target column. It is written last, so it exists only after a
complete run. Without ``--force``, a run whose manifest matches what this
script would write trains nothing.

Training is seeded and single-threaded with deterministic kernels, so a rerun
on the same library versions writes the same weights.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import safetensors.torch
import torch
from torch import nn

DATASETS_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = DATASETS_DIR.parent / "var" / "checkpoints"
MANIFEST_FILE = "checkpoints.json"
METADATA_FILE = "explainer.json"

BREAST_CANCER_TARGET = "target"
BREAST_CANCER_CLASS_NAMES = ["malignant", "benign"]
SYNTHETIC_TARGET = "y"
COLORS = ["red", "green", "blue"]
# Shift of the synthetic categorical target per color.
COLOR_EFFECTS = {"red": -1.0, "green": 0.0, "blue": 2.0}


class Standardize(nn.Module):
    """Subtract the training mean and divide by the training standard deviation."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class CategoricalRegressor(nn.Module):
    """Regress from numeric columns 0 and 1 and a category index in column 2.

    Column 2 contains the category's index as a float, and the module turns
    it into a long index for ``embed_color``.
    """

    def __init__(self, *, embedding_dim: int = 3, hidden: int = 16):
        super().__init__()
        self.embed_color = nn.Embedding(len(COLORS), embedding_dim)
        self.body = nn.Sequential(
            OrderedDict(
                hidden=nn.Linear(2 + embedding_dim, hidden),
                relu=nn.ReLU(),
                output=nn.Linear(hidden, 1),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedded = self.embed_color(x[:, 2].long())
        return self.body(torch.cat([x[:, :2], embedded], dim=1))


@contextlib.contextmanager
def _deterministic_torch(seed: int) -> Iterator[None]:
    """Seed torch, use one thread and deterministic kernels, and restore all on exit."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.set_num_threads(threads)


def _breast_cancer() -> tuple[pd.DataFrame, torch.Tensor, torch.Tensor]:
    frame = pd.read_csv(DATASETS_DIR / "breast_cancer.csv")
    inputs = torch.tensor(frame.drop(columns=BREAST_CANCER_TARGET).to_numpy(dtype="float32"))
    labels = torch.tensor(frame[BREAST_CANCER_TARGET].to_numpy(dtype="int64"))
    return frame, inputs, labels


def _classifier(inputs: torch.Tensor, widths: list[int], activation) -> nn.Sequential:
    """Build Standardize, then Linear-activation pairs of ``widths``, then a 2-logit Linear."""
    layers = [("standardize", Standardize(inputs.mean(dim=0), inputs.std(dim=0)))]
    fan_in = inputs.shape[1]
    for number, width in enumerate(widths, start=1):
        layers.append((f"layer{number}", nn.Linear(fan_in, width)))
        layers.append((f"{activation.__name__.lower()}{number}", activation()))
        fan_in = width
    layers.append(("output", nn.Linear(fan_in, len(BREAST_CANCER_CLASS_NAMES))))
    return nn.Sequential(OrderedDict(layers))


def _train(module, inputs, targets, *, loss_function, optimizer, n_epochs, batch_size, seed):
    """Train in seeded mini-batches; return the state dict at start and after each epoch."""
    generator = torch.Generator().manual_seed(seed)
    states = [_state_of(module)]
    module.train()
    for _ in range(n_epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_function(module(inputs[batch]), targets[batch]).backward()
            optimizer.step()
        states.append(_state_of(module))
    module.eval()
    return states


def _state_of(module: nn.Module) -> dict:
    # safetensors refuses tensors that share memory, so each is copied.
    return {name: tensor.detach().clone().contiguous() for name, tensor in module.state_dict().items()}


def train_healthy(seed: int = 0):
    """Train the healthy classifier; return (module, states, frame)."""
    frame, inputs, labels = _breast_cancer()
    with _deterministic_torch(seed):
        module = _classifier(inputs, [16, 8], nn.ReLU)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
        states = _train(module, inputs, labels, loss_function=nn.CrossEntropyLoss(),
                        optimizer=optimizer, n_epochs=10, batch_size=64, seed=seed)
    return module, states, frame


def train_vanishing(seed: int = 0):
    """Train a stack of eight Linear-Sigmoid layers; return (module, states, frame)."""
    frame, inputs, labels = _breast_cancer()
    with _deterministic_torch(seed):
        module = _classifier(inputs, [16] * 8, nn.Sigmoid)
        optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
        states = _train(module, inputs, labels, loss_function=nn.CrossEntropyLoss(),
                        optimizer=optimizer, n_epochs=10, batch_size=64, seed=seed)
    return module, states, frame


def train_dead_relu(seed: int = 0):
    """Train the healthy architecture with a large negative first bias; return (module, states, frame)."""
    frame, inputs, labels = _breast_cancer()
    with _deterministic_torch(seed):
        module = _classifier(inputs, [32, 16], nn.ReLU)
        with torch.no_grad():
            module.layer1.bias.fill_(-4.0)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
        states = _train(module, inputs, labels, loss_function=nn.CrossEntropyLoss(),
                        optimizer=optimizer, n_epochs=10, batch_size=64, seed=seed)
    return module, states, frame


def synthetic_regression(seed: int = 0, n_rows: int = 400) -> pd.DataFrame:
    """Return columns x0..x3 drawn from N(0, 1) and y = 3 x0 - 2 x1 + x2 x3 + noise."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_rows, 4))
    target = 3 * values[:, 0] - 2 * values[:, 1] + values[:, 2] * values[:, 3]
    frame = pd.DataFrame(values, columns=[f"x{i}" for i in range(4)])
    frame[SYNTHETIC_TARGET] = target + rng.normal(scale=0.1, size=n_rows)
    return frame


def train_exploding(seed: int = 0):
    """Train a regressor with SGD at far too high a learning rate; return (module, states, frame)."""
    frame = synthetic_regression(seed)
    inputs = torch.tensor(frame.drop(columns=SYNTHETIC_TARGET).to_numpy(dtype="float32"))
    targets = torch.tensor(frame[[SYNTHETIC_TARGET]].to_numpy(dtype="float32"))
    with _deterministic_torch(seed):
        module = nn.Sequential(
            OrderedDict(layer1=nn.Linear(4, 16), relu1=nn.ReLU(), output=nn.Linear(16, 1))
        )
        # Full-batch gradient descent on this loss is stable up to a learning rate
        # of about 0.3 (measured); at 0.5 the layer1 weight norm grows about
        # 1e5-fold within six epochs, while staying finite.
        optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
        states = _train(module, inputs, targets, loss_function=nn.MSELoss(), optimizer=optimizer,
                        n_epochs=6, batch_size=400, seed=seed)
    return module, states, frame


def synthetic_categorical(seed: int = 0, n_rows: int = 300) -> pd.DataFrame:
    """Return x0, x1 from N(0, 1), a color, and y = x0 - 2 x1 + the color's effect."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_rows, 2))
    colors = rng.choice(COLORS, size=n_rows, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame(values, columns=["x0", "x1"])
    frame["color"] = colors
    frame[SYNTHETIC_TARGET] = (
        values[:, 0] - 2 * values[:, 1] + np.array([COLOR_EFFECTS[color] for color in colors])
    )
    return frame


def train_categorical(seed: int = 0):
    """Train the embedding regressor; return (module, states, frame)."""
    frame = synthetic_categorical(seed)
    color_index = frame["color"].map({color: i for i, color in enumerate(COLORS)})
    inputs = torch.tensor(
        np.column_stack([frame[["x0", "x1"]].to_numpy(), color_index.to_numpy()]).astype("float32")
    )
    targets = torch.tensor(frame[[SYNTHETIC_TARGET]].to_numpy(dtype="float32"))
    with _deterministic_torch(seed):
        module = CategoricalRegressor()
        optimizer = torch.optim.Adam(module.parameters(), lr=2e-2)
        states = _train(module, inputs, targets, loss_function=nn.MSELoss(), optimizer=optimizer,
                        n_epochs=20, batch_size=50, seed=seed)
    return module, states, frame


# --- outputs ------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it, so no file is half written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _torchscript_bytes(module: nn.Module, metadata: dict) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module.eval()), buffer,
                   _extra_files={METADATA_FILE: json.dumps(metadata)})
    return buffer.getvalue()


def _export_bytes(module: nn.Module, n_features: int, metadata: dict) -> bytes:
    example = torch.zeros((4, n_features))
    example[:, 2] = torch.tensor([0.0, 1.0, 2.0, 0.0])
    program = torch.export.export(
        module.eval(), (example,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={METADATA_FILE: json.dumps(metadata)})
    return buffer.getvalue()


# Each network: its training function, dataset (a CSV in datasets/ or
# "synthetic"), upload metadata apart from the feature names, and what it is
# and demonstrates, as the run prints it.
_CLASSIFIER = {"task": "classification", "output": "logits", "class_names": BREAST_CANCER_CLASS_NAMES}
NETWORKS = {
    "healthy": (train_healthy, "breast_cancer.csv", _CLASSIFIER,
                "breast-cancer classifier trained with Adam; a diagnosis finds nothing, "
                "and its loss falls from 0.67 to 0.03"),
    "vanishing": (train_vanishing, "breast_cancer.csv", _CLASSIFIER,
                  "eight Linear-Sigmoid layers trained with SGD; shows vanishing-gradients in the "
                  "early layers"),
    "exploding": (train_exploding, "synthetic", {"task": "regression"},
                  "regressor trained with SGD at too high a learning rate; shows exploding-weights, "
                  "diverging-gradients and diverging-loss"),
    "dead_relu": (train_dead_relu, "breast_cancer.csv", _CLASSIFIER,
                  "the healthy architecture with a first bias of -4; shows dead-relu-units in relu1"),
    "categorical": (train_categorical, "synthetic",
                    {"task": "regression", "categories": {"color": COLORS},
                     "embeddings": {"color": "embed_color"}},
                    "regressor with the categorical input color through an embedding, also as a "
                    "torch.export program; for integrated gradients and layer methods on embeddings"),
}


def _target_of(dataset: str) -> str:
    return BREAST_CANCER_TARGET if dataset == "breast_cancer.csv" else SYNTHETIC_TARGET


def _write_network(name: str, output: Path) -> dict:
    """Train one network, write its folder, and return its manifest entry."""
    train, dataset, extra_metadata, _ = NETWORKS[name]
    module, states, frame = train()
    target = _target_of(dataset)
    folder = output / name
    folder.mkdir(parents=True, exist_ok=True)

    metadata = {"feature_names": [column for column in frame.columns if column != target], **extra_metadata}
    _write_atomically(folder / "architecture.pt", _torchscript_bytes(module, metadata))
    files = {"architecture": "architecture.pt"}
    if name == "categorical":
        _write_atomically(folder / "architecture.pt2",
                          _export_bytes(module, len(metadata["feature_names"]), metadata))
        files["exported_architecture"] = "architecture.pt2"

    weights = []
    for epoch, state in enumerate(states):
        file = f"epoch-{epoch:03d}.safetensors"
        _write_atomically(folder / file, safetensors.torch.save(state))
        weights.append(file)
    if dataset == "synthetic":
        _write_atomically(folder / "data.csv", frame.to_csv(index=False).encode("utf-8"))
        dataset_file = folder / "data.csv"
    else:
        dataset_file = DATASETS_DIR / dataset
    return {
        "name": name,
        **files,
        "weights": weights,
        "epochs": [str(epoch) for epoch in range(len(states))],
        "dataset_file": str(dataset_file),
        "target": target,
        "metadata": metadata,
    }


def _read_manifest(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(output: Path, manifest) -> bool:
    """Tell whether a manifest lists every network with this script's metadata, and all its files exist."""
    if not isinstance(manifest, list) or [entry.get("name") for entry in manifest] != list(NETWORKS):
        return False
    for entry in manifest:
        metadata = {key: value for key, value in (entry.get("metadata") or {}).items() if key != "feature_names"}
        if metadata != NETWORKS[entry["name"]][2]:
            return False
        names = [entry["architecture"], *entry["weights"], *([entry["exported_architecture"]]
                 if "exported_architecture" in entry else [])]
        if not all((output / entry["name"] / name).is_file() for name in names):
            return False
        if not Path(entry["dataset_file"]).is_file():
            return False
    return True


def _parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description="Train small networks and write a safetensors checkpoint per epoch."
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR",
                        help=f"folder to write into; created if missing (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--force", action="store_true",
                        help="train again even if the manifest lists every file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train every network into ``--output`` unless a complete run is there, and return 0."""
    arguments = _parse_arguments(argv)
    output = arguments.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    manifest_path = output / MANIFEST_FILE
    if not arguments.force and _is_complete(output, _read_manifest(manifest_path)):
        print(f"checkpoints in {output} are up to date; pass --force to train them again")
    else:
        manifest_path.unlink(missing_ok=True)
        started = time.perf_counter()
        manifest = [_write_network(name, output) for name in NETWORKS]
        _write_atomically(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
        print(f"wrote {len(manifest)} networks and {MANIFEST_FILE} to {output} in "
              f"{time.perf_counter() - started:.1f} s")
    for name, (_, _, _, description) in NETWORKS.items():
        print(f"  {name}: {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
