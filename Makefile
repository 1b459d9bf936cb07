# The README's two commands: `make demo` and `make test`. Both set everything up on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DIR ?= out/demo

.PHONY: setup browser demo test test-fast test-kafka test-faults test-browser doctest bench lint \
	sizes clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Headless Chromium and its driver (Debian packages) for the page tests; installed once.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing chromium and chromium-driver (page tests drive a real browser)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; \
	fi

# The main job on its embedded default: a simulated city, a quick model, the real engine over the
# in-process bus at 60x real time, the guidance screen and bureau pages on http://127.0.0.1:8080.
demo: setup
	$(BIN)/flowcast demo --workdir $(DEMO_DIR)

# Every test, Kafka integration tests included (the fixture resolves Kafka's jars with Maven
# into ~/.cache/flowcast on first use and starts a real broker), then each broker-free benchmark
# once as a smoke test (the broker and slow benchmarks run with `make bench`).
test: setup browser
	$(BIN)/ruff check flowcast tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest -q tests
	$(BIN)/pytest -q --doctest-modules flowcast --doctest-glob=README.md README.md
	$(BIN)/pytest -q benchmarks --benchmark-disable -m "not kafka and not slow"

test-fast: setup
	$(BIN)/pytest -q -m "not kafka" tests

# The `>>>` examples in the package's docstrings and in README.md.
doctest: setup
	$(BIN)/pytest -q --doctest-modules flowcast --doctest-glob=README.md README.md

test-kafka: setup
	$(BIN)/pytest -q -m kafka tests

# The fault suite alone: poison input, broker kill and restart, kill -9, failover, SIGSTOP.
# -rP prints each test's measured figures (takeover and recovery times, values compared).
test-faults: setup
	$(BIN)/pytest -q -m fault -rP tests

test-browser: setup browser
	$(BIN)/pytest -q -m browser tests

bench: setup
	$(BIN)/pytest benchmarks --benchmark-only --benchmark-columns=min,median,mean,ops,rounds

lint: setup
	$(BIN)/ruff check flowcast tests benchmarks
	$(BIN)/lint-imports

# Module sizes: the largest (the house rule is 400 lines) and the median, __init__ files left out.
sizes:
	@find flowcast -name '*.py' ! -name '__init__.py' -print0 | xargs -0 wc -l | grep -v ' total$$' \
		| sort -n | awk '{n[NR]=$$1} END {m = (NR % 2) ? n[(NR+1)/2] : (n[NR/2] + n[NR/2+1]) / 2; print NR " modules, median " m \
		" lines, largest " n[NR] " lines"}'

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
