# syntax=docker/dockerfile:1
# One image for both jobs of the project:
#   serve (default):  docker run -p 127.0.0.1:8000:8000 -v models:/models:ro --read-only --tmpfs /tmp IMAGE
#   train:            docker run -v models:/models --read-only --tmpfs /tmp IMAGE python -m training --model-dir /models
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS requirements

# Only the runtime dependency list leaves this stage, so editing other parts of
# pyproject.toml (version, dev extras, tool settings) keeps the install layer cached.
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt


FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY --from=requirements /src/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --requirement /tmp/requirements.txt


FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" forecast \
    && useradd --uid "${APP_UID}" --gid forecast --home-dir /app --no-create-home --shell /usr/sbin/nologin forecast \
    && mkdir -p /app /models \
    && chown forecast:forecast /models

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml ./
COPY service/ ./service/
COPY training/ ./training/

# The root filesystem is meant to be read-only, so every path a process writes to lies under /tmp (a tmpfs) or /models.
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    KERAS_HOME=/tmp/keras \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc \
    FORECAST_HOST=0.0.0.0 \
    FORECAST_PORT=8000 \
    FORECAST_MODEL_DIR=/models \
    FORECAST_MODEL_NAME=sine

USER forecast
EXPOSE 8000

# python rather than curl, which the slim base does not have. Healthy means a model is loaded.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('FORECAST_PORT', '8000')}/readyz\", timeout=2).status == 200 else 1)"]

CMD ["python", "-m", "service"]
