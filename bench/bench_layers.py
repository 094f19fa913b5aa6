"""Time integrated gradients and layer conductance through the library against direct captum calls.

Usage::

    python bench/bench_layers.py [--rows N] [--n-steps S] [--layer NAME] [--repeats-timing K]

Uses the healthy breast-cancer network that ``datasets/train_checkpoints.py``
trains into ``var/checkpoints`` (standardize, Linear 30-16, ReLU, Linear 16-8,
ReLU, Linear 8-2), at its last checkpoint, and explains the same N rows with
the dataset's mean row as the baseline and the predicted class as the target:

- ``explainer.integrated_gradients`` against ``captum.attr.IntegratedGradients``;
- ``explainer.layer_attributions(..., method="conductance")`` against
  ``captum.attr.LayerConductance`` on the layer NAME (default ``relu1``).

The library loads the TorchScript file and runs its layers from an eager
rebuild of the scripted ``nn.Sequential``. captum gets the eager module the
script was made from, with the same weights. Library and captum calls
alternate, K of each, timed with ``time.perf_counter`` in this process; the
best time of each is printed with the ratio library / captum and the largest
absolute difference of the attributions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import safetensors.torch
import torch
from captum.attr import IntegratedGradients, LayerConductance

from _timing import best_time
from explainer import integrated_gradients, layer_attributions, load_model

REPOSITORY = Path(__file__).resolve().parent.parent
CHECKPOINTS = REPOSITORY / "var" / "checkpoints"
RANDOM_STATE = 0


def _eager_network(entry: dict, inputs: torch.Tensor) -> torch.nn.Module:
    """Rebuild the healthy network as an eager module with the weights of its last checkpoint."""
    spec = importlib.util.spec_from_file_location("train_checkpoints", REPOSITORY / "datasets" / "train_checkpoints.py")
    training = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(training)
    module = training._classifier(inputs, [16, 8], torch.nn.ReLU)
    module.load_state_dict(safetensors.torch.load_file(CHECKPOINTS / "healthy" / entry["weights"][-1]))
    return module.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500, help="rows explained (default 500)")
    parser.add_argument("--n-steps", type=int, default=50, help="points on the path (default 50)")
    parser.add_argument("--layer", default="relu1", help="layer of the conductance (default relu1)")
    parser.add_argument("--repeats-timing", type=int, default=10, help="timed runs; the best is printed")
    args = parser.parse_args()
    manifest = CHECKPOINTS / "checkpoints.json"
    if not manifest.is_file():
        parser.error(f"{manifest} is missing; run python datasets/train_checkpoints.py")
    entry = next(item for item in json.loads(manifest.read_text()) if item["name"] == "healthy")

    frame = pd.read_csv(entry["dataset_file"]).drop(columns=entry["target"])
    rows = frame.sample(min(args.rows, len(frame)), random_state=RANDOM_STATE).reset_index(drop=True)
    model = load_model(CHECKPOINTS / "healthy" / entry["architecture"])
    module = _eager_network(entry, torch.tensor(frame.to_numpy(dtype="float32")))
    inputs = model.to_tensor(rows)
    # The mean row as the library computes it, a float32 numpy mean. torch's
    # float32 mean rounds differently, and with the area columns (values near
    # 1000) that changed the attributions by up to 6e-3 on 500 rows.
    mean_row = model.to_tensor(frame).numpy().mean(axis=0)
    baselines = torch.from_numpy(np.tile(mean_row, (len(inputs), 1)))
    with torch.no_grad():
        targets = module(inputs).argmax(dim=1)
    options = {"baseline": "mean", "reference": frame, "n_steps": args.n_steps}

    def project_ig():
        return integrated_gradients(model, rows, **options).attributions

    def captum_ig():
        return IntegratedGradients(module).attribute(inputs, baselines=baselines, target=targets,
                                                     n_steps=args.n_steps).detach().double().numpy()

    def project_conductance():
        result = layer_attributions(model, rows, layer=args.layer, method="conductance", **options)
        return result.layers[args.layer]["attributions"]

    def captum_conductance():
        layer = dict(module.named_modules())[args.layer]
        return LayerConductance(module, layer).attribute(inputs, baselines=baselines, target=targets,
                                                         n_steps=args.n_steps).detach().double().numpy()

    print(f"rows={len(rows)} n_steps={args.n_steps} baseline=mean target=predicted class "
          f"threads={torch.get_num_threads()}")
    print(f"{'method':<28} {'library s':>10} {'captum s':>10} {'library/captum':>15} {'max |difference|':>17}")
    for label, project, direct in (
        ("integrated gradients", project_ig, captum_ig),
        (f"layer conductance ({args.layer})", project_conductance, captum_conductance),
    ):
        # Alternate the two, so that a burst of load from elsewhere slows both.
        project_seconds = direct_seconds = float("inf")
        for _ in range(args.repeats_timing):
            seconds, project_values = best_time(project, 1)
            project_seconds = min(project_seconds, seconds)
            seconds, direct_values = best_time(direct, 1)
            direct_seconds = min(direct_seconds, seconds)
        difference = float(np.max(np.abs(project_values - direct_values)))
        print(f"{label:<28} {project_seconds:10.4f} {direct_seconds:10.4f} "
              f"{project_seconds / direct_seconds:15.2f} {difference:17.1e}")


if __name__ == "__main__":
    main()
