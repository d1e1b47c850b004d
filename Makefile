# The two commands: `make serve` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REPO ?= models
HOST ?= 127.0.0.1
PORT ?= 8000
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# PyTorch's CPU-only wheels: on the default index `torch` is the CUDA build (17 nvidia
# packages, several GB). Empty TORCH_INDEX to take torch from the default index instead.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN := $(shell grep -o '"torch==[^"]*"' pyproject.toml | head -n 1 | tr -d '"')

.PHONY: serve test check demo bench clean image

serve: $(VENV)/.serve-deps $(REPO)/digits/1/model.onnx
	$(BIN)/modelport serve --model-repository $(REPO) --host $(HOST) --http-port $(PORT)

test: $(VENV)/.test-deps
	$(BIN)/python -m pytest

check: $(VENV)/.test-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	scripts/gen-proto --check
	$(BIN)/hadolint Dockerfile docker/base.Dockerfile

demo: $(REPO)/digits/1/model.onnx

bench: $(VENV)/.test-deps
	$(BIN)/python benchmarks/run.py

# The container image: Python packages as wheels built here (no index is needed inside the
# build), on BASE; without BASE, on a Debian base built locally (scripts/base-image), so no
# image registry is needed either. EXTRAS=all for every framework.
IMAGE ?= modelport:latest
EXTRAS ?=
BASE ?=
LOCAL_BASE := modelport-base:bookworm
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' src/modelport/version.py)

image: | $(VENV)/bin/python
	rm -rf build/wheelhouse
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --wheel-dir build/wheelhouse \
		".$(if $(EXTRAS),[$(EXTRAS)])"
	$(if $(BASE),,scripts/base-image $(LOCAL_BASE))
	docker build --quiet --build-arg BASE=$(or $(BASE),$(LOCAL_BASE)) \
		--build-arg EXTRAS=$(EXTRAS) --build-arg VERSION=$(VERSION) -t $(IMAGE) .

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.serve-deps: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[examples]'
	touch $@

$(VENV)/.torch-cpu: pyproject.toml | $(VENV)/bin/python
ifneq ($(TORCH_INDEX),)
	$(PIP) --retries 1 --no-deps --index-url $(TORCH_INDEX) '$(TORCH_PIN)' \
		|| echo "note: $(TORCH_INDEX) not reachable; torch comes from the default index"
endif
	touch $@

$(VENV)/.test-deps: pyproject.toml $(VENV)/.torch-cpu | $(VENV)/bin/python
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.serve-deps

$(REPO)/digits/1/model.onnx: | $(VENV)/.serve-deps
	$(BIN)/modelport examples digits --out $(REPO)

clean:
	rm -rf $(VENV) $(REPO) .pytest_cache .mypy_cache .ruff_cache
