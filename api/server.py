"""Run the service under gunicorn from Python (used by `explainer serve`)."""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError

from explainer import ExplainerError

from . import gunicorn_conf


class _Application(BaseApplication):
    def __init__(self, options: dict, config: dict):
        self._options = options
        self._config = config
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import create_app

        try:
            return create_app(self._config)
        except ExplainerError as error:
            # gunicorn prints this error's message alone, without a traceback,
            # and stops instead of starting the worker again.
            raise AppImportError(f"explainer: error: {error.message}") from error


def serve(*, host: str, port: int, threads: int, timeout: int, config: dict) -> None:
    """Serve the API with one gunicorn worker process and ``threads`` threads.

    One process, because the in-process job workers and the model cache live
    in it; threads serve concurrent requests.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "threads": threads,
        "timeout": timeout,
        "graceful_timeout": 10,
        "accesslog": None,
        "loglevel": "info",
        "post_worker_init": gunicorn_conf.post_worker_init,
        "worker_int": gunicorn_conf.worker_int,
    }
    _Application(options, config).run()
