# litesmith: `make test` installs what it needs into .venv and runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo docs clean fuzz arm-check

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install lint
	$(BIN)/pytest -q tests

# pyflakes-level checks only (unused imports and names, undefined names, syntax): cheap, no style debates.
lint: install
	$(BIN)/ruff check --quiet --select F,E9 --exclude backends/tflite/schema_generated.py .

# Coverage-guided fuzzing of every reader (tests/fuzz_readers.py), FUZZ_SECONDS per reader.
# A finding stops its reader's run and lands in tests/data/fuzz_findings/, which `make test` replays.
# Then the differential tester on DIFF_COUNT random graphs (tests/difftest.py).
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= graphdef tflite ir onnx
DIFF_COUNT ?= 2000
fuzz: install
	$(BIN)/python -m pip install --quiet -e '.[dev,fuzz]'
	for t in $(FUZZ_TARGETS); do $(BIN)/python tests/fuzz_readers.py $$t --seconds $(FUZZ_SECONDS) || exit 1; done
	$(BIN)/python tests/difftest.py --count $(DIFF_COUNT)

# The int8 models in LiteRT, TFLite Micro and Arm NN 20.08 (CpuRef), compared in LSB (docs/targets.md).
# Not part of `make test`: it unpacks Debian's Arm NN packages (apt-get download) into ARM_CHECK_CACHE.
ARM_CHECK_STEPS ?= 50
ARM_CHECK_IMAGES ?= 8
arm-check: install
	nice $(BIN)/python benchmarks/arm_check.py --steps $(ARM_CHECK_STEPS) --images $(ARM_CHECK_IMAGES)

demo: install
	$(BIN)/python -m litesmith.demo

docs: install
	$(BIN)/python -m litesmith.ir.docgen

clean:
	rm -rf $(VENV) build *.egg-info
