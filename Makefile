# Everything a fresh machine with Python 3.11+ and make needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck architecture pytest lock clean

# $(call debian_package,TARGET,COMMAND,PACKAGE,OTHERWISE): a shell command that installs Debian's PACKAGE where
# COMMAND is missing (as root, or with password-less sudo), else says that it is unavailable and OTHERWISE.
define debian_package
command -v $(2) >/dev/null 2>&1 || { \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "$(1): installing $(3) with apt-get"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(3) >/dev/null; } || true; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		echo "$(1): installing $(3) with sudo apt-get"; \
		{ sudo -n apt-get update -qq && sudo -n DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(3) >/dev/null; } || true; \
	fi; \
	command -v $(2) >/dev/null 2>&1 || echo "$(1): $(3) is unavailable (no apt-get, or not root); $(4)"; \
}
endef

$(STAMP): requirements/dev.lock requirements/build.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.lock -r requirements/build.lock
	# The project itself, editable: gives the users-service command and keeps running the checkout's code.
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

## Serve the API (default: embedded SQLite at ./users.db), migrations applied first. Unless the environment
## names a token key, the API trusts a development secret kept in .dev/jwt-secret (made on first run).
DEV_SECRET := .dev/jwt-secret
AUTH_CONFIGURED = $(or $(AUTH_JWT_SECRET),$(AUTH_JWT_SECRET_FILE),$(AUTH_JWT_PUBLIC_KEY_FILE),$(AUTH_JWKS_FILE),$(AUTH_DISABLED))

$(DEV_SECRET):
	@mkdir -p $(dir $@)
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > $@

run: $(STAMP) $(DEV_SECRET)
ifeq ($(AUTH_CONFIGURED),)
	@echo "Tokens for this server (development secret in $(DEV_SECRET)):"
	@echo "  AUTH_JWT_SECRET_FILE=$(DEV_SECRET) $(BIN)/users-service token --scope users:read --scope users:write"
	AUTH_JWT_SECRET_FILE=$(DEV_SECRET) $(BIN)/users-service serve
else
	@echo "Tokens: from your issuer, or $(BIN)/users-service token --scope users:write with the same settings"
	$(BIN)/users-service serve
endif

## The whole suite: lint, types, architecture contracts, then pytest with coverage.
test: lint typecheck architecture pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

architecture: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) browser
	$(BIN)/pytest

## Debian's Chromium, which the API docs' browser tests drive headless (tests/smoke/test_docs_in_browser.py).
.PHONY: browser
browser:
	@$(call debian_package,browser,chromium,chromium,the browser tests will be skipped)

## Fuzz the whole API from its OpenAPI document: FUZZ_EXAMPLES cases per backend (memory and PostgreSQL, the
## latter from TEST_DATABASE_URL as in make test), where make test runs 60. About 80 s; not part of make test.
FUZZ_EXAMPLES ?= 2500
.PHONY: fuzz
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/http/test_fuzz_api.py --no-cov --hypothesis-show-statistics

## Benchmark the service against a tutorial FastAPI app and a raw Starlette+asyncpg ceiling (minutes; local
## PostgreSQL, or the server in BENCH_DATABASE_URL; options in BENCH_ARGS, e.g. BENCH_ARGS=--quick).
.PHONY: bench
bench: $(STAMP)
	@$(call debian_package,bench,wrk,wrk,using the Python load generator)
	$(BIN)/python -m benchmarks.run --scaling $(BENCH_ARGS)

## Build the service image users-service:latest (IMAGE=...) on PYTHON_IMAGE (default python:3.11-slim). The
## locked wheels are downloaded here first and installed in the image without network; needs a Docker engine
## (.ci/with-docker make image starts one where none answers).
IMAGE ?= users-service:latest
PYTHON_IMAGE ?= python:3.11-slim
WHEEL_PLATFORMS = $(foreach tag,manylinux_2_17 manylinux_2_28 manylinux2014 manylinux_2_5 manylinux1 linux,--platform $(tag)_$(shell uname -m))
.PHONY: image
image: $(STAMP)
	@docker info >/dev/null 2>&1 || { echo "image: no Docker engine answers (try: .ci/with-docker make image)"; exit 1; }
	rm -rf requirements/wheels
	$(BIN)/python -m pip download --quiet --no-deps --require-hashes --only-binary=:all: --dest requirements/wheels \
		--implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none $(WHEEL_PLATFORMS) --platform any \
		-r requirements/app.lock -r requirements/build.lock
	docker build --quiet --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) --tag $(IMAGE) .
	@docker image inspect --format '$(IMAGE): {{ .Size }} bytes' $(IMAGE)

## Known vulnerabilities in every locked dependency (pip-audit, PyPI's advisory data). --strict: a package that
## cannot be looked up fails the audit instead of passing unaudited. Needs the registry's JSON API.
.PHONY: audit
audit: $(STAMP)
	$(BIN)/pip-audit --strict --require-hashes --disable-pip --vulnerability-service pypi --progress-spinner off \
		-r requirements/app.lock -r requirements/dev.lock -r requirements/build.lock

## Re-pin every dependency (needs uv); commit both lock files.
lock:
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--no-emit-index-url --custom-compile-command "make lock" -o requirements/dev.lock
	uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--no-emit-index-url --custom-compile-command "make lock" -c requirements/dev.lock -o requirements/app.lock
	echo "setuptools" | uv pip compile - --universal --python-version 3.11 --generate-hashes \
		--no-emit-index-url --custom-compile-command "make lock" -o requirements/build.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov requirements/wheels
