# Two commands: `make run` starts the app, `make test` runs the whole test suite.
# Both create .venv and install the project on first use; later calls reuse it.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8501
# A CPU build of this torch version is what the set-up expects; other versions pull a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: run dev test lint format bench chromium clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,onnx,ray]" "$(TORCH_PIN)"
	@touch $(STAMP)

run: $(STAMP)
	@echo "Fusion Explorer: open http://127.0.0.1:$(PORT) in your browser (Ctrl+C stops it)"
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true

# For developing the app: reload pages when a source file changes (`make run` keeps the watcher off).
dev: $(STAMP)
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true --server.fileWatcherType auto \
		--server.runOnSave true

test: $(STAMP) chromium
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/bench_preprocessing.py
	$(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_onnx.py

# Browser tests use Debian's chromium. Install it when missing and the machine allows it
# (root with apt-get); elsewhere those tests skip and say how to enable them.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Debian's chromium for the browser tests..."; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
				|| echo "chromium could not be installed; browser tests will be skipped"; \
		else \
			echo "chromium not found: browser tests will be skipped (install Debian's chromium package to run them)"; \
		fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
