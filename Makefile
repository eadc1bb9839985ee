# emoprep: `make demo` runs the pipeline on the real sample clips, `make test` runs the tests.
PY     ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.emoprep-installed
OUT    ?= out/demo

.PHONY: install samples demo test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools<81" wheel
	# torch first, pinned: 2.13.0 resolves to the local CPU wheel (an unpinned torch pulls GBs of CUDA)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	@# bytecode now, as a wheel install does: start-up reads it even where PYTHONDONTWRITEBYTECODE is set
	$(BIN)/python -m compileall -q emoprep > /dev/null
	touch $(STAMP)

install: $(STAMP)

samples: $(STAMP)
	$(BIN)/emoprep samples

demo: samples
	@# no_face.mp4 has no face: it is reported as failed on purpose (exit code 1), the rest finish
	$(BIN)/emoprep run --manifest data_manifest.yaml --out $(OUT) --workers 2 --plots || \
	  $(BIN)/python -c "import json,sys; r=json.load(open('$(OUT)/summary.json')); \
	    bad=[v['video_id'] for v in r['videos'] if v['status']!='ok']; sys.exit(bad!=['no_face'])"
	@echo
	@echo "output: $(OUT)  (frames.h5, au/, features/, splits/, plots/, summary.json)"
	@echo "no_face.mp4 failing with 'no face found' is expected: that clip has no face."

test: samples
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check emoprep tests benchmarks tools
	$(BIN)/python -m mypy

bench: samples
	$(BIN)/python -m benchmarks.throughput
	$(BIN)/python -m benchmarks.incremental
	$(BIN)/python -m benchmarks.features

clean:
	rm -rf out .pytest_cache
