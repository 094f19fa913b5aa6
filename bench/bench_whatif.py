"""Latency of a single-row what-if through the HTTP server, against the model's own predict.

Usage::

    python bench/bench_whatif.py [--requests N] [--clients C] [--load-seconds S] [--load-requests R]

Starts the service (`explainer serve`: gunicorn, one process, 8 request
threads) on a free loopback port with the demo models, and loads the same
adult pipeline in this process. In the same run it measures, after 20
untimed warm-up calls of each:

- ``predict_proba``: the fitted scikit-learn pipeline's own single-row
  ``predict_proba`` in this process, N times;
- ``what-if``: ``POST /what-if`` of one dataset row with one changed value
  and ``explain: false``, N times one after another on a kept-alive
  connection. The changed value cycles through ages 18 to 80;
- ``what-if + SHAP``: the same with ``explain: true`` (TreeSHAP of the
  changed row, 100 background rows), N / 4 times;
- load: C client threads, each with its own connection, each sending its
  next ``what-if`` request as soon as the previous response arrives, until S
  seconds have passed or R requests were sent, whichever comes first.

Latencies are wall times measured with ``time.perf_counter`` around each
call; p50 and p99 are percentiles over the calls. The client runs on the
same machine as the server and takes CPU from it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import requests

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from explainer import load_dataset, load_model  # noqa: E402
from tests.conftest import DATASETS, DEMO_MODELS, LiveServer  # noqa: E402

ROW_INDEX = 7
WARM_UP_CALLS = 20


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time a single-row what-if through the HTTP server against the model's own predict."
    )
    parser.add_argument("--requests", type=_positive_int, default=400,
                        help="sequential calls of each kind (default 400)")
    parser.add_argument("--clients", type=_positive_int, default=8,
                        help="concurrent client threads of the load test (default 8)")
    parser.add_argument("--load-seconds", type=float, default=20.0,
                        help="maximum duration of the load test, in seconds (default 20)")
    parser.add_argument("--load-requests", type=_positive_int, default=5000,
                        help="maximum number of requests the load test sends (default 5000)")
    return parser.parse_args(argv)


def _latencies(call, count: int) -> np.ndarray:
    """Warm up, then call ``call(i)`` ``count`` times; returns each call's seconds."""
    for i in range(WARM_UP_CALLS):
        call(i)
    seconds = np.empty(count)
    for i in range(count):
        started = time.perf_counter()
        call(i)
        seconds[i] = time.perf_counter() - started
    return seconds


def _what_if_call(session: requests.Session, url: str, *, explain: bool):
    def call(i: int):
        response = session.post(f"{url}/what-if", json={
            "model_id": "adult-gbm", "dataset_id": "adult", "row_index": ROW_INDEX,
            "changes": {"age": 18 + i % 63}, "explain": explain,
        }, timeout=60)
        response.raise_for_status()
        return response.json()["prediction_after"]
    return call


def _load(url: str, *, clients: int, seconds: float, limit: int) -> tuple[int, int, float, np.ndarray]:
    """Run the load test; returns (succeeded, failed, elapsed seconds, latencies of the successes)."""
    deadline = time.perf_counter() + seconds
    sent = iter(range(limit))
    lock = threading.Lock()
    latencies: list[float] = []
    failures = [0]

    def client():
        session = requests.Session()
        call = _what_if_call(session, url, explain=False)
        while time.perf_counter() < deadline:
            with lock:
                i = next(sent, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                call(i)
            except requests.RequestException:
                with lock:
                    failures[0] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), failures[0], time.perf_counter() - started, np.array(latencies)


def _row(name: str, seconds: np.ndarray, baseline_p50: float) -> str:
    p50, p99 = np.percentile(seconds, [50, 99]) * 1000
    return f"{name:>16}  {len(seconds):>5}  {p50:>8.2f}  {p99:>8.2f}  {p50 / (baseline_p50 * 1000):>9.1f}x"


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    model = load_model(DEMO_MODELS / "adult_gbm.skops")
    features = load_dataset(DATASETS / "adult.csv", target="income").features
    row = features.iloc[[ROW_INDEX]].reset_index(drop=True)
    ages = [18 + i % 63 for i in range(64)]
    changed_rows = [row.assign(age=age) for age in ages]

    def predict(i: int):
        return model.estimator.predict_proba(changed_rows[i % len(changed_rows)])

    predict_seconds = _latencies(predict, arguments.requests)
    with tempfile.TemporaryDirectory() as directory:
        server = LiveServer(Path(directory) / "service", demo_models=DEMO_MODELS).start()
        try:
            session = requests.Session()
            plain = _latencies(_what_if_call(session, server.url, explain=False), arguments.requests)
            explained = _latencies(_what_if_call(session, server.url, explain=True),
                                   max(arguments.requests // 4, 1))
            answer = _what_if_call(session, server.url, explain=False)(0)
            answered, failed, elapsed, under_load = _load(
                server.url, clients=arguments.clients, seconds=arguments.load_seconds,
                limit=arguments.load_requests)
        finally:
            server.stop()
    difference = float(np.max(np.abs(np.asarray(answer) - predict(0)[0])))

    print(f"python {platform.python_version()}, scikit-learn {version('scikit-learn')}, "
          f"flask {version('flask')}, gunicorn {version('gunicorn')}, requests {version('requests')}; "
          f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores")
    baseline_p50 = float(np.percentile(predict_seconds, 50))
    print(f"{'call':>16}  {'calls':>5}  {'p50 ms':>8}  {'p99 ms':>8}  {'p50/model':>9}")
    print(_row("predict_proba", predict_seconds, baseline_p50))
    print(_row("what-if", plain, baseline_p50))
    print(_row("what-if + SHAP", explained, baseline_p50))
    print(f"served prediction - predict_proba: max |diff| {difference:.1e}")
    if answered:
        p50, p99 = np.percentile(under_load, [50, 99]) * 1000
        print(f"load: {arguments.clients} clients, {answered} answered, {failed} failed in {elapsed:.1f} s: "
              f"{answered / elapsed:.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    else:
        print(f"load: {arguments.clients} clients, no request answered, {failed} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
