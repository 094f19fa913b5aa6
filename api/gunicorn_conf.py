"""gunicorn hooks that return running jobs to the queue when a worker stops.

Use with ``gunicorn -c python:api.gunicorn_conf "api:create_app()"``;
``explainer serve`` sets the same hooks. Without them a stopping worker
would leave its running jobs to be failed later as stale.
"""

from __future__ import annotations

import signal


def _job_runner(worker):
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    return extensions.get("explainer.jobs")


def post_worker_init(worker):
    """Chain the job runner's shutdown in front of the worker's SIGTERM handler."""
    runner = _job_runner(worker)
    if runner is None:
        return
    graceful_exit = worker.handle_exit

    def handle_exit(signal_number, frame):
        runner.shutdown()
        graceful_exit(signal_number, frame)

    # The worker registered its own bound method already, so register again.
    signal.signal(signal.SIGTERM, handle_exit)


def worker_int(worker):
    """On SIGINT or SIGQUIT (Ctrl-C), requeue running jobs before the worker exits."""
    runner = _job_runner(worker)
    if runner is not None:
        runner.shutdown()
