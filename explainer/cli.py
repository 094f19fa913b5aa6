"""The ``explainer`` command: run the service, or explain a model file on a data file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._errors import ExplainerError, InvalidParameterError

METHOD_ALIASES = {"permutation": "permutation", "shap": "shap", "ig": "integrated-gradients",
                  "integrated-gradients": "integrated-gradients", "layer-attributions": "layer-attributions",
                  "neuron-attributions": "neuron-attributions"}


def _json_argument(text: str | None, option: str) -> dict | None:
    """Parse a JSON object given inline or as @path."""
    if text is None:
        return None
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidParameterError(f"{option} must be a JSON object (or @file): {error}.") from error
    if not isinstance(value, dict):
        raise InvalidParameterError(f"{option} must be a JSON object, got {text[:80]!r}.")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explainer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (gunicorn, one process)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    serve.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    serve.add_argument("--timeout", type=int, default=120, help="seconds a request may take (default 120)")
    serve.add_argument("--data-dir", help="database and artifact directory (EXPLAINER_DATA_DIR)")
    serve.add_argument("--demo-models",
                       help="directory with demo.json, and optionally checkpoints/checkpoints.json, to register on start")
    serve.add_argument("--job-workers", type=int, help="explanation job threads (EXPLAINER_JOB_WORKERS)")

    explain = commands.add_parser("explain", help="explain MODEL on DATA and print JSON")
    explain.add_argument("model", help="model file (skops, TorchScript; pickle with --allow-pickle)")
    explain.add_argument("data", help="CSV or Parquet file")
    explain.add_argument("--method", required=True, choices=sorted(METHOD_ALIASES),
                         help="permutation, shap, ig (integrated gradients), layer-attributions or "
                              "neuron-attributions (these two take layer, and neuron, in --parameters)")
    explain.add_argument("--target", help="target column of DATA (required by permutation)")
    explain.add_argument("--parameters", help="method parameters as a JSON object, or @file")
    explain.add_argument("--metadata", help="model metadata as a JSON object, or @file "
                         "(feature_names, task, class_names for TorchScript)")
    explain.add_argument("--n-repeats", type=int, help="permutation repeats")
    explain.add_argument("--n-rows", type=int,
                         help="rows explained by shap, ig and the layer methods (default 100)")
    explain.add_argument("--random-state", type=int, help="seed")
    explain.add_argument("--allow-pickle", action="store_true",
                         help="load pickle/joblib files; this runs code from the file")
    explain.add_argument("--output", help="write the JSON here instead of standard output")
    explain.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    cleanup = commands.add_parser("cleanup", help="delete finished jobs and their results older than an age")
    cleanup.add_argument("--data-dir", help="the service's data directory (EXPLAINER_DATA_DIR)")
    cleanup.add_argument("--older-than-days", type=float, required=True,
                         help="delete jobs that ended more than this many days ago")

    database = commands.add_parser("db", help="show or upgrade the schema of the service's metadata database")
    database_commands = database.add_subparsers(dest="db_command", metavar="{upgrade,current}", required=True)
    for name, text in (("upgrade", "apply the schema migrations that the database lacks"),
                       ("current", "print the schema revision of the database ('none' when empty)")):
        subcommand = database_commands.add_parser(name, help=text)
        subcommand.add_argument("--database-url", help="SQLAlchemy URL of the database "
                                "(EXPLAINER_DATABASE_URL); default SQLite in the data directory")
        subcommand.add_argument("--data-dir", help="the service's data directory (EXPLAINER_DATA_DIR)")

    worker = commands.add_parser(
        "worker", help="run a Celery worker for a service with EXPLAINER_JOB_BACKEND=celery")
    worker.add_argument("--concurrency", type=int, default=1,
                        help="job chunks run at once, one process each (default 1)")
    worker.add_argument("--name", help="worker name shown in logs (default celery@HOST)")
    worker.add_argument("--data-dir", help="the service's data directory, shared with the API (EXPLAINER_DATA_DIR)")
    worker.add_argument("--database-url", help="the service's database (EXPLAINER_DATABASE_URL)")
    worker.add_argument("--broker-url", help="Redis broker URL (EXPLAINER_BROKER_URL)")

    submit = commands.add_parser("submit", help="run a job on a running service and print its result")
    submit.add_argument("--url", default="http://127.0.0.1:8000", help="service URL (default http://127.0.0.1:8000)")
    submit.add_argument("--model", required=True, help="model id or name registered in the service")
    submit.add_argument("--dataset", required=True, help="dataset id or name registered in the service")
    submit.add_argument("--method", required=True, choices=sorted(METHOD_ALIASES),
                        help="permutation, shap, ig (integrated gradients), layer-attributions or "
                             "neuron-attributions")
    submit.add_argument("--parameters", help="method parameters as a JSON object, or @file")
    submit.add_argument("--timeout", type=float, default=3600, help="seconds to follow the job (default 3600)")
    submit.add_argument("--output", help="write the JSON here instead of standard output")
    submit.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    return parser


def _submit(args) -> int:
    """Submit a job over HTTP, follow its event stream with a progress bar, print the result."""
    import time

    import requests
    from tqdm import tqdm

    from ._errors import UpstreamError

    method = METHOD_ALIASES[args.method]
    base = args.url.rstrip("/")
    body = {"model_id": args.model, "dataset_id": args.dataset, "method": method,
            "parameters": _json_argument(args.parameters, "--parameters") or {}}
    try:
        created = requests.post(f"{base}/explanations", json=body, timeout=60)
    except requests.RequestException as error:
        raise UpstreamError(f"cannot reach the service at {base}: {error}") from error
    if created.status_code >= 400:
        raise UpstreamError(f"the service rejected the job ({created.status_code}): "
                            f"{created.json().get('detail', created.text)}")
    job_id = created.json()["id"]
    bar = None if args.no_progress else tqdm(total=100, desc=method, file=sys.stderr,
                                              bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}")
    deadline = time.monotonic() + args.timeout
    try:
        # The stream ends when the job does, or after the server's stream
        # limit, in which case it is opened again.
        while time.monotonic() < deadline:
            with requests.get(f"{base}/explanations/{job_id}/events", stream=True, timeout=60) as stream:
                for line in stream.iter_lines(decode_unicode=True):
                    if not line or not line.startswith("data: ") or bar is None:
                        continue
                    state = json.loads(line[len("data: "):])
                    bar.n = round(100 * (state.get("progress") or 0))
                    bar.set_description_str(f"{method}: {state.get('stage') or state['status']}", refresh=False)
                    bar.refresh()
            job = requests.get(f"{base}/explanations/{job_id}", timeout=60).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
    except requests.RequestException as error:
        raise UpstreamError(f"lost the connection to the service at {base}: {error}") from error
    finally:
        if bar is not None:
            bar.close()
    if job["status"] != "succeeded":
        detail = (job.get("error") or {}).get("detail", "no reason given")
        raise UpstreamError(f"job {job_id} ended as {job['status']}: {detail}")
    text = json.dumps(job["result"], indent=2, allow_nan=False)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def _cleanup(args) -> int:
    from datetime import timedelta

    from api.config import Settings
    from api.workspace import Workspace

    if args.older_than_days < 0:
        raise InvalidParameterError(f"--older-than-days must be 0 or more, got {args.older_than_days}.")
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    deleted = Workspace(Settings.from_env(**overrides)).delete_finished_jobs(
        timedelta(days=args.older_than_days))
    print(f"deleted {deleted} finished job(s) older than {args.older_than_days:g} day(s)")
    return 0


def _database(args) -> int:
    from api.config import Settings
    from api.storage import database_revision, upgrade_database

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    settings = Settings.from_env(**overrides)
    url = settings.resolved_database_url
    if args.db_command == "current":
        print(database_revision(url) or "none")
        return 0

    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade = upgrade_database(url)
    if upgrade.before == upgrade.after:
        print(f"the database schema is at revision {upgrade.after}, the newest; nothing to do")
    else:
        print(f"upgraded the database schema from revision {upgrade.before or 'none'} to {upgrade.after}")
    return 0


def _worker(args) -> int:
    from api.config import Settings
    from api.scaleout import run_worker

    if args.concurrency < 1:
        raise InvalidParameterError(f"--concurrency must be at least 1, got {args.concurrency}.")
    overrides = {"job_backend": "celery"}
    for option in ("data_dir", "database_url", "broker_url"):
        if getattr(args, option):
            overrides[option] = getattr(args, option)
    settings = Settings.from_env(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_worker(settings, concurrency=args.concurrency, name=args.name)
    return 0


def _serve(args) -> int:
    from api.server import serve  # the library itself never imports the web stack

    config = {}
    if args.data_dir:
        config["data_dir"] = args.data_dir
    if args.demo_models:
        config["demo_models"] = args.demo_models
    if args.job_workers is not None:
        config["job_workers"] = args.job_workers
    serve(host=args.host, port=args.port, threads=args.threads, timeout=args.timeout, config=config)
    return 0


def _explain(args) -> int:
    from tqdm import tqdm

    from . import explain, load_dataset, load_model

    method = METHOD_ALIASES[args.method]
    parameters = _json_argument(args.parameters, "--parameters") or {}
    for option, name in (("n_repeats", "n_repeats"), ("n_rows", "n_rows"), ("random_state", "random_state")):
        value = getattr(args, option)
        if value is not None:
            parameters[name] = value
    model = load_model(Path(args.model), metadata=_json_argument(args.metadata, "--metadata"),
                       allow_pickle=args.allow_pickle)
    dataset = load_dataset(Path(args.data), target=args.target)

    bar = None if args.no_progress else tqdm(total=100, desc=method, file=sys.stderr,
                                              bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(fraction: float, stage: str) -> None:
        if bar is not None:
            bar.n = round(fraction * 100)
            bar.set_description_str(f"{method}: {stage}", refresh=False)
            bar.refresh()

    try:
        result = explain(model, dataset, method=method, parameters=parameters, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    text = json.dumps(result.to_dict(), indent=2, allow_nan=False)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def main(argv=None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "submit":
            return _submit(args)
        if args.command == "cleanup":
            return _cleanup(args)
        if args.command == "db":
            return _database(args)
        if args.command == "worker":
            return _worker(args)
        return _explain(args)
    except ExplainerError as error:
        print(f"explainer: error: {error.message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"explainer: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
