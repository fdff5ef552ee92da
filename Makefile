# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve portal serve-portal test lint typecheck protos bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/civitas serve $(ARGS)

# The citizen portal (portal/, docs/portal.md) on http://localhost:8080, against `make serve`.
# Open it as localhost, not 127.0.0.1: passkeys are bound to the name `localhost`.
PORTAL_ORIGIN ?= http://localhost:8080
portal: $(STAMP)
	$(BIN)/civitas portal --listen 127.0.0.1:8080 $(PORTAL_ARGS)

# Both at once for a newcomer: the service (accepting passkeys from the portal's origin) in the
# background, the portal in the foreground; Ctrl+C stops both.
serve-portal: $(STAMP)
	@$(BIN)/civitas serve --rp-origin $(PORTAL_ORIGIN) $(ARGS) & server=$$!; \
	trap 'kill $$server' EXIT INT TERM; \
	$(BIN)/python -c 'import socket, time; exec("while socket.socket().connect_ex((\"127.0.0.1\", 50051)): time.sleep(0.2)")'; \
	$(BIN)/civitas portal --listen 127.0.0.1:8080 $(PORTAL_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy civitas ledger identity portal projections verifier witness protos/generate.py tests benchmarks

# Most tests wait on servers, subprocesses and browsers rather than compute, so the suite runs on
# more workers than cores. A file's tests stay on one worker (--dist loadfile): they share
# module-scoped servers and folders. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 4
test: lint typecheck
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

protos: $(STAMP)
	$(BIN)/python -m protos.generate
