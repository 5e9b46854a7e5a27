# The README's two commands: `make demo` and `make test`. Both start from nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.installed-core
DEV    := $(VENV)/.installed-dev

.PHONY: demo test bench lint clean-demo help system-packages serve

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
	$(BIN)/python -c "from songscope.audio.analyze import warm_up; warm_up()"  # librosa's compiled kernels, once (about 30 s)
	@touch $@ $(CORE)

demo: $(CORE)
	$(BIN)/songscope run

test: $(DEV) system-packages
	$(BIN)/python -m pytest

# Debian packages the tests need, installed when missing and possible (root), in one apt call:
# Chromium for the browser tests (Playwright's own browser download cannot work offline), and
# FluidSynth with a General MIDI soundfont for the audio tests (songs rendered from MIDI; bench/
# also uses FFmpeg, to check loudness against its ebur128 filter), and three real recordings (mp3s of
# the game Advanced Strategic Command, Debian asc-music). Under CI=true a test that lacks one fails.
SYSTEM_PACKAGES := chromium:chromium fluidsynth:fluidsynth /usr/share/sounds/sf2/FluidR3_GM.sf2:fluid-soundfont-gm \
                   /usr/share/games/asc/music/frontiers.mp3:asc-music

system-packages:
	@missing=""; for item in $(SYSTEM_PACKAGES); do need=$${item%%:*}; pkg=$${item##*:}; \
	  if [ "$${need#/}" != "$$need" ]; then [ -e "$$need" ] || missing="$$missing $$pkg"; else command -v "$$need" >/dev/null 2>&1 || missing="$$missing $$pkg"; fi; done; \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
	|| echo "missing:$$missing: the tests that need them will be skipped (and fail under CI=true)"

serve: $(DEV)
	$(BIN)/songscope serve

# The benchmarks' peers (bliss-audio, faiss) and FFmpeg, which bench/analyze.py checks loudness against.
bench: $(DEV) system-packages
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@command -v ffmpeg >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/kmeans.py
	$(BIN)/python bench/silhouette.py
	$(BIN)/python bench/text_hash.py
	$(BIN)/python bench/sweep.py
	$(BIN)/python bench/spark.py
	$(BIN)/python bench/recommend.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scale.py --spark 1000000,5000000 --local 1000000

lint: $(DEV)
	$(BIN)/ruff check src tests bench

clean-demo:
	rm -rf songscope.db lake reports
