# The two commands of the README: `make demo` and `make test`. Everything else is set up on the way.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test unit down clean

$(BIN)/callqa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'
	touch $@

demo: $(BIN)/callqa
	$(BIN)/callqa demo

test: $(BIN)/callqa
	$(BIN)/pytest

unit: $(BIN)/callqa
	$(BIN)/pytest -m "not integration"

down: $(BIN)/callqa
	$(BIN)/callqa down

clean:
	rm -rf .callqa triton_repo/callqa_encoder_decoder/[0-9]* triton_repo/callqa_projector/[0-9]*
