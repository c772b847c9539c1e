# The users service. Build: make image (or docker build -t users-service .)   Run: see compose.yaml.
# PYTHON_IMAGE: any Python 3.11 image with python on the PATH; .ci/build-images makes one where no registry
# can be reached.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtual environment with the locked dependencies and the service ---------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
# Dependencies first, so that a change of the code alone reuses this layer. Hash-checked either way: from the
# wheels that `make image` downloads into requirements/wheels (no network needed here), else from the index.
COPY requirements/ requirements/
RUN if ls requirements/wheels/*.whl >/dev/null 2>&1; then offline="--no-index --find-links requirements/wheels"; fi; \
    /opt/venv/bin/pip install $offline --require-hashes --no-deps -r requirements/app.lock -r requirements/build.lock
COPY pyproject.toml README.md alembic.ini ./
COPY domain domain
COPY application application
COPY adapters adapters
COPY entrypoints entrypoints
COPY migrations migrations
# Editable, so that the code (and alembic.ini beside it) stays in /app; then drop the build-only tooling.
# The compiled extensions' sources and stubs go too; nothing reads them at run time.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --editable . \
    && /opt/venv/bin/pip uninstall --yes setuptools pip \
    && rm -rf /app/requirements \
    && find /opt/venv /app -name "__pycache__" -type d -prune -exec rm -rf {} + \
    && find /opt/venv \( -name "*.c" -o -name "*.cpp" -o -name "*.h" -o -name "*.pyx" -o -name "*.pxd" -o -name "*.pyi" \) -delete

# --- runtime: slim base, no compilers, no caches, not root -----------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir /data && chown app:app /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite+aiosqlite:////data/users.db \
    SHUTDOWN_GRACE_SECONDS=20
USER app:app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
STOPSIGNAL SIGTERM
# Applies pending migrations (under a PostgreSQL advisory lock, so replicas may start together), then serves.
CMD ["users-service", "serve"]
