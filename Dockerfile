# The explanation service with the demo models, served by gunicorn on port 8000.
#
#   docker build -t model-explainer .
#   docker run -p 8000:8000 -v explainer-data:/var/lib/explainer model-explainer
#
# docker-compose.yml runs this image as the API, Celery workers and a one-off
# schema migration, with PostgreSQL and Redis.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch is installed first, from the CPU wheel index, because the Linux torch
# wheels on PyPI depend on CUDA libraries of several GB that this image never
# uses. The later install finds the constraint torch==2.13.0 satisfied, since
# == ignores the local label of 2.13.0+cpu (PEP 440).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY explainer/ explainer/
COPY api/ api/
RUN pip install -c requirements/constraints.txt .

# demo.json and checkpoints.json record the absolute paths of the CSV files
# under /app/datasets, so the datasets stay in the image next to the trained
# models. The checkpoint series in /srv/demo-models/checkpoints are registered
# with the demo models on start.
COPY datasets/ datasets/
RUN python datasets/train_demo_models.py --output /srv/demo-models \
    && python datasets/train_checkpoints.py --output /srv/demo-models/checkpoints

# The service runs as this user. It gets a home directory because gunicorn
# (27.0) puts its control socket in $HOME/.gunicorn when XDG_RUNTIME_DIR is unset.
RUN useradd --system --uid 10001 --user-group --create-home --shell /usr/sbin/nologin explainer \
    && mkdir -p /var/lib/explainer \
    && chown explainer:explainer /var/lib/explainer

# EXPLAINER_DATA_DIR contains the uploaded models, datasets and results, and
# the SQLite metadata database unless EXPLAINER_DATABASE_URL names another.
# The volume keeps them across container restarts.
ENV EXPLAINER_DATA_DIR=/var/lib/explainer \
    EXPLAINER_DEMO_MODELS=/srv/demo-models
VOLUME ["/var/lib/explainer"]

USER explainer
EXPOSE 8000

# urlopen raises on a refused connection, a timeout or a non-2xx status, so
# the check fails unless /healthz returns 2xx within 5 s.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"]

# One worker process, because the in-process job backend keeps its queue and
# running jobs in that process: a second worker would not see them. The 8
# threads serve concurrent requests.
# The config module's hooks return running jobs to the queue on shutdown.
CMD ["gunicorn", "-c", "python:api.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "1", "--threads", "8", "--timeout", "120", "api:create_app()"]
