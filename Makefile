# The README's two commands: `make demo` and `make test`. Both start from nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.installed-core
DEV    := $(VENV)/.installed-dev

.PHONY: demo test bench lint clean-demo help chromium audio-tools serve

help:
	@echo "make demo   set up, then run the main job on the shipped seed CSVs (SQLite + ./lake)"
	@echo "make test   set up with the dev extras, then run the whole test suite"
	@echo "make bench  run the benchmarks under bench/ (prints figures; takes several minutes)"
	@echo "make serve  the web app at http://127.0.0.1:8000 over ./songscope.db and ./lake (run make demo first)"
	@echo "make lint   ruff"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(CORE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@ $(CORE)

demo: $(CORE)
	$(BIN)/songscope run

test: $(DEV) chromium audio-tools
	$(BIN)/python -m pytest

# The report's browser test opens it in Debian's Chromium (Playwright's own browser download
# cannot work offline). Installed when missing and possible; the test fails under CI=true without it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium missing: the browser test will be skipped (and fail under CI=true)"

# The audio tests render songs from MIDI (FluidSynth and a General MIDI soundfont) and compare
# loudness with FFmpeg's ebur128 filter. Installed when missing and possible, as Chromium is.
audio-tools:
	@{ command -v fluidsynth && command -v ffmpeg && [ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fluidsynth fluid-soundfont-gm ffmpeg >/dev/null; } || echo "fluidsynth/ffmpeg missing: the rendering tests will be skipped (and fail under CI=true)"

serve: $(DEV)
	$(BIN)/songscope serve

bench: $(DEV)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/kmeans.py
	$(BIN)/python bench/silhouette.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/spark.py
	$(BIN)/python bench/recommend.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scale.py --spark 1000000,5000000 --local 1000000

lint: $(DEV)
	$(BIN)/ruff check src tests bench

clean-demo:
	rm -rf songscope.db lake reports
