# The two commands of the README: `make demo` and `make test`. Everything else is set up on the way.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KUSTOMIZE_VERSION := v5.8.1

.PHONY: demo test unit accuracy down clean

$(BIN)/callqa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'
	touch $@

demo: $(BIN)/callqa
	$(BIN)/callqa demo

# kustomize for tests/unit/test_deploy.py, built from the Go module proxy where Go is installed; without it (or if
# the build fails) the test uses `kubectl kustomize`.
$(BIN)/kustomize: | $(BIN)/callqa
	@if command -v go >/dev/null 2>&1; then \
	  GOBIN=$(abspath $(BIN)) GOFLAGS=-buildvcs=false go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION) \
	  || echo "kustomize $(KUSTOMIZE_VERSION) could not be built: the deploy test uses kubectl kustomize"; \
	else echo "no Go toolchain: the deploy test uses kubectl kustomize"; fi

# The dashboard's browser test drives Debian's headless chromium through Playwright (no browser download); a CJK
# font makes its screenshot readable.
BROWSER := /usr/bin/chromium /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
$(BROWSER):
	apt-get install -y chromium fonts-wqy-microhei || (apt-get update && apt-get install -y chromium fonts-wqy-microhei)

test: $(BIN)/callqa $(BIN)/kustomize $(BROWSER)
	$(BIN)/pytest

unit: $(BIN)/callqa $(BIN)/kustomize
	$(BIN)/pytest -m "not integration"

# The README's accuracy table: the default build; the same base fine-tuned as a plain bi-encoder (encoder states
# pooled, no decoder; same data and budget); the two ablation builds (stage 3 clean-only and naive mix, from the same
# pre-trained model); then every model and baseline scored by `callqa eval` on the fixed held-out splits.
DATA ?= ../shared/data
EVAL := .callqa/eval
MODELS := .callqa/models/default .callqa/biencoder/default .callqa/ablation/clean/default .callqa/ablation/mix/default
SCORERS := $(MODELS) baseline:tfidf-lr baseline:frozen-lr baseline:lexical baseline:prior
accuracy: $(BIN)/callqa
	test -f .callqa/models/default/modules.json || $(BIN)/callqa train all
	test -f .callqa/biencoder/default/modules.json || $(BIN)/callqa train finetune --init-dir=.callqa/models/transferred \
	  --out-dir=.callqa/biencoder/default --pool-from=encoder
	for mode in clean mix; do test -f .callqa/ablation/$$mode/default/modules.json || $(BIN)/callqa train all --start transfer \
	  --models .callqa/ablation/$$mode --transfer.mode=$$mode --transfer.init-dir=.callqa/models/pretrained || exit 1; done
	mkdir -p $(EVAL)
	for scorer in $(SCORERS); do for data in csds_topic_train online_shopping_train; do \
	  out=$(EVAL)/$$data.$$(echo $$scorer | tr '/:' '__').json; test -f $$out -a ! $$out -ot $$scorer/modules.json 2>/dev/null && continue; \
	  $(BIN)/callqa eval $(DATA)/$$data.jsonl --model $$scorer --out $$out || exit 1; \
	done; done
	$(BIN)/callqa compare $(EVAL)/*.json --out $(EVAL)/table.md

down: $(BIN)/callqa
	$(BIN)/callqa down

clean:
	rm -rf .callqa triton_repo/callqa_encoder_decoder/[0-9]* triton_repo/callqa_projector/[0-9]*
