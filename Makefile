# Entry points for a fresh machine: `make run` serves, `make test` tests.
PYTHON_BASE ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
MODEL_DIR ?= model
MODEL_NAME ?= sine

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install train model run test compose-smoke clean bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BASE) -m venv $(VENV)
	$(PYTHON) -m pip install --upgrade pip
	$(PYTHON) -m pip install -e '.[dev]'
	touch $@

# Trains a new version every time it runs.
train: install
	$(PYTHON) -m training --model-dir $(MODEL_DIR) --name $(MODEL_NAME)

# Trains only when the repository holds no version of the model yet.
model: install
	@if ls -d $(MODEL_DIR)/$(MODEL_NAME)/[0-9]* >/dev/null 2>&1; then \
		echo "Using the existing model in $(MODEL_DIR)/$(MODEL_NAME)"; \
	else \
		$(PYTHON) -m training --model-dir $(MODEL_DIR) --name $(MODEL_NAME); \
	fi

run: model
	FORECAST_MODEL_DIR=$(MODEL_DIR) FORECAST_MODEL_NAME=$(MODEL_NAME) $(PYTHON) -m service

# One pytest process per test file: a single process that loads hundreds of in-process
# apps has crashed inside XLA late in the run (tests/conftest.py). PYTEST_ARGS passes options.
test: install
	@failed=""; \
	for file in tests/test_*.py; do \
		$(PYTHON) -m pytest $(PYTEST_ARGS) "$$file" || failed="$$failed $$file"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed" >&2; exit 1; fi

# Builds the image and runs docker-compose.yml under podman-compose on loopback; needs root.
compose-smoke: install
	$(PYTHON) deploy/smoke/compose_smoke.py

clean:
	rm -rf $(VENV) .pytest_cache

# Model-level, HTTP-level (wrk on 127.0.0.1) and memory benchmark; results go to bench/results/.
bench: model
	@command -v wrk >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q wrk) || { \
		echo "wrk is missing and could not be installed; install the Debian package: sudo apt-get install wrk" >&2; exit 1; }
	$(PYTHON) -m bench --model-dir $(MODEL_DIR) --name $(MODEL_NAME)
