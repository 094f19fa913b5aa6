"""Time explanations of a model served by MLServer against the same model loaded locally.

Usage::

    python bench/bench_remote.py [--shap-rows N] [--max-batch-rows B] [--repeats-timing K]

Installs MLServer into .venv-mlserver (scripts/install-mlserver.sh, skipped
when already installed), trains the breast cancer pipeline of
tests/mlserver_model.py there, and serves it with ``mlserver start`` on a free
loopback port. The same pipeline is loaded in this process from its skops
file. Both copies are then explained in this run, one after the other:

- SHAP with the model-agnostic permutation explainer (the one a remote model
  gets) on N rows, with 100 background rows and ``random_state=0``;
- permutation importance on all 569 rows, ``n_repeats=5``, ``random_state=0``.

Each time is the best of K runs, measured with ``time.perf_counter`` after
one untimed warm-up call of each method. The table gives the HTTP requests
one run sent, the time per explained row (per scored row for permutation
importance), and the maximum absolute difference between the local and the
served results.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from _timing import best_time
from explainer import RemoteModel, load_dataset, load_model, permutation_importance, shap_values  # noqa: E402
from tests.model_server import (  # noqa: E402
    MODEL_NAME,
    MLServerProcess,
    install_mlserver,
    train_served_model,
)

TARGET = "target"
BACKGROUND_SIZE = 100
N_REPEATS = 5
RANDOM_STATE = 0



def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time SHAP and permutation importance of a model served by MLServer "
        "against the same model loaded locally."
    )
    parser.add_argument("--shap-rows", type=_positive_int, default=20, help="rows explained by SHAP (default 20)")
    parser.add_argument("--max-batch-rows", type=_positive_int, default=1000,
                        help="rows per HTTP request to MLServer (default 1000, the spec's default)")
    parser.add_argument("--repeats-timing", type=_positive_int, default=3,
                        help="timed runs of each method; the best is reported (default 3)")
    return parser.parse_args(argv)


def _measure(model, method, repeats: int):
    """Warm up, then time ``method(model)``; returns (seconds, requests of one run, result)."""
    method(model)
    before = getattr(model, "request_count", 0)
    seconds, result = best_time(lambda: method(model), repeats)
    requests_per_run = (getattr(model, "request_count", 0) - before) // repeats
    return seconds, requests_per_run, result


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    dataset = load_dataset(REPOSITORY / "datasets" / "breast_cancer.csv", target=TARGET)
    X, y = dataset.features, dataset.target_values()
    rows = X.iloc[: arguments.shap_rows]

    python = install_mlserver()
    with tempfile.TemporaryDirectory() as directory:
        repository = Path(directory)
        skops_path = train_served_model(python, repository / MODEL_NAME)
        local = load_model(skops_path.read_bytes())
        server = MLServerProcess(python, repository).start()
        try:
            spec = {
                "url": server.url, "protocol": "kserve-v2", "model_name": MODEL_NAME,
                "output_name": "predict_proba", "feature_names": list(X.columns),
                "task": "classification", "class_names": list(local.class_names),
                "max_batch_rows": arguments.max_batch_rows, "timeout_seconds": 60,
            }
            remote = RemoteModel(spec, allowed_hosts=["127.0.0.1"])
            methods = {
                "shap": (len(rows), lambda model: shap_values(
                    model, rows, background=X, background_size=BACKGROUND_SIZE,
                    explainer="permutation", random_state=RANDOM_STATE).values),
                "permutation": (len(X), lambda model: permutation_importance(
                    model, X, y, n_repeats=N_REPEATS, random_state=RANDOM_STATE).importances),
            }
            table = []
            for name, (n_rows, method) in methods.items():
                local_seconds, _, local_result = _measure(local, method, arguments.repeats_timing)
                remote_seconds, requests_sent, remote_result = _measure(remote, method, arguments.repeats_timing)
                difference = float(np.max(np.abs(np.asarray(local_result) - np.asarray(remote_result))))
                table.append((name, n_rows, requests_sent, local_seconds, remote_seconds, difference))
            remote.close()
        finally:
            server.stop()

    print(f"python {platform.python_version()}, scikit-learn {version('scikit-learn')}, "
          f"shap {version('shap')}, requests {version('requests')}; MLServer 1.7.1 in .venv-mlserver; "
          f"max_batch_rows {arguments.max_batch_rows}")
    print(f"{'method':>11}  {'rows':>4}  {'requests':>8}  {'local ms/row':>12}  {'remote ms/row':>13}  "
          f"{'remote/local':>12}  {'max |diff|':>10}")
    for name, n_rows, requests_sent, local_seconds, remote_seconds, difference in table:
        print(f"{name:>11}  {n_rows:>4}  {requests_sent:>8}  {1000 * local_seconds / n_rows:>12.2f}  "
              f"{1000 * remote_seconds / n_rows:>13.2f}  {remote_seconds / local_seconds:>11.1f}x  "
              f"{difference:>10.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
