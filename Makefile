# The README's two commands: `make demo` and `make test`. Both set everything up on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DIR ?= out/demo

.PHONY: setup demo test test-fast test-kafka bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The main job on its embedded default. Until `flowcast demo` lands (issue 5), this simulates a
# city end to end: registry, a week of history with a Golden-Week day, and prints what it made.
demo: setup
	$(BIN)/flowcast simulate --sensors 300 --spots 5 --days 3 --start 2026-09-30T00:00+08:00 \
		--seed 7 --city-out $(DEMO_DIR)/city.geojson --out $(DEMO_DIR)/history --force

# Every test, Kafka integration tests included (the fixture resolves Kafka's jars with Maven
# into ~/.cache/flowcast on first use and starts a real broker), then each broker-free benchmark
# once as a smoke test (the broker and slow benchmarks run with `make bench`).
test: setup
	$(BIN)/ruff check flowcast tests benchmarks
	$(BIN)/pytest -q tests
	$(BIN)/pytest -q benchmarks --benchmark-disable -m "not kafka and not slow"

test-fast: setup
	$(BIN)/pytest -q -m "not kafka" tests

test-kafka: setup
	$(BIN)/pytest -q -m kafka tests

bench: setup
	$(BIN)/pytest benchmarks --benchmark-only --benchmark-columns=min,median,mean,ops,rounds

lint: setup
	$(BIN)/ruff check flowcast tests benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
