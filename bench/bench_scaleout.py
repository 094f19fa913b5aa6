"""Time jobs on the Celery backend with one worker and with two, against the library.

Usage::

    python bench/bench_scaleout.py [--shap-rows N] [--small-jobs J]

Starts Redis and PostgreSQL on free loopback ports (tests/services.py), the
service (`explainer serve`, EXPLAINER_JOB_BACKEND=celery) and `explainer
worker` processes with one pool process each, all sharing one data
directory. In the same run it measures:

- one large job: model-agnostic SHAP on N rows of adult (the demo pipeline,
  100 background rows, 500 evaluations per row), split into chunks of 10
  rows; the plain library call ``explainer.explain`` in this process, then
  the job with one worker, then with two;
- many small jobs: J TreeSHAP jobs of 20 rows each submitted at once; the
  same J library calls one after another, then the jobs with one worker and
  with two. Throughput is jobs per second from the first submission to the
  last job's end.

Job times run from the POST to the moment a poll sees the job succeeded
(polls wait on the server, so they return as soon as the job ends). Each
configuration first runs a small warm-up job, so model loading and the first
call's compilation are not timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from explainer import explain, load_dataset, load_model  # noqa: E402
from tests.conftest import DATASETS, DEMO_MODELS, LiveServer  # noqa: E402
from tests.services import PostgresServer, RedisServer  # noqa: E402
from tests.deployment import Deployment  # noqa: E402

LARGE = {"explainer": "permutation", "background_size": 100}
SMALL = {"n_rows": 20, "background_size": 20}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _run_jobs(deployment: Deployment, requests_: list[tuple[str, dict]]) -> float:
    """Submit all jobs at once; returns seconds until the last one succeeded."""
    started = time.perf_counter()
    jobs = [deployment.submit(method, parameters) for method, parameters in requests_]
    for job in jobs:
        final = deployment.wait_for(job["id"], timeout=3600)
        if final["status"] != "succeeded":
            raise SystemExit(f"job {job['id']} ended as {final['status']}: {final.get('error')}")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shap-rows", type=_positive_int, default=80, help="rows of the large job (80)")
    parser.add_argument("--small-jobs", type=_positive_int, default=40, help="number of small jobs (40)")
    args = parser.parse_args(argv)

    if not (DEMO_MODELS / "adult_gbm.skops").is_file():
        raise SystemExit("train the demo models first: python datasets/train_demo_models.py "
                         "--output var/demo-models")
    model_bytes = (DEMO_MODELS / "adult_gbm.skops").read_bytes()
    model = load_model(model_bytes)
    dataset = load_dataset((DATASETS / "adult.csv").read_bytes(), name="adult", target="income")
    large = ("shap", {"n_rows": args.shap_rows, **LARGE})
    small = [("shap", {**SMALL, "random_state": index}) for index in range(args.small_jobs)]

    explain(model, dataset, method="shap", parameters={"n_rows": 5, **LARGE})  # warm-up
    started = time.perf_counter()
    explain(model, dataset, method=large[0], parameters=large[1])
    library_large = time.perf_counter() - started
    started = time.perf_counter()
    for method, parameters in small:
        explain(model, dataset, method=method, parameters=parameters)
    library_small = time.perf_counter() - started

    timings = {}
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as temporary:
        root = Path(temporary)
        redis, postgres = RedisServer().start(), PostgresServer().start()
        deployment = None
        try:
            deployment = Deployment(root / "deployment", lambda env: LiveServer(root / "service", env=env).start(),
                                    postgres.url, redis.url)
            deployment.root.mkdir()
            deployment.start_api()
            deployment.register_adult(model_bytes)
            for workers in (1, 2):
                deployment.start_workers(workers - len(deployment.workers))
                _run_jobs(deployment, [("shap", {"n_rows": 10 * workers, **LARGE}), small[0]])  # warm-up
                timings[workers] = (_run_jobs(deployment, [large]), _run_jobs(deployment, small))
        finally:
            if deployment is not None:
                deployment.stop()
            redis.stop()
            postgres.stop()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")
    print(f"large job: SHAP (model-agnostic) on {args.shap_rows} adult rows, chunks of 10 rows")
    print(f"  library call in this process   {library_large:8.2f} s")
    for workers, (large_seconds, _) in timings.items():
        print(f"  celery, {workers} worker(s)            {large_seconds:8.2f} s   "
              f"{large_seconds / library_large:5.2f}x the library call")
    print(f"  one worker / two workers       {timings[1][0] / timings[2][0]:8.2f}")
    print(f"small jobs: {args.small_jobs} TreeSHAP jobs of 20 rows, submitted at once")
    print(f"  library calls one by one       {args.small_jobs / library_small:8.2f} jobs/s")
    for workers, (_, small_seconds) in timings.items():
        print(f"  celery, {workers} worker(s)            {args.small_jobs / small_seconds:8.2f} jobs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
