FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ENVIRONMENT=production
WORKDIR /app

# The runtime lock first, in a layer of its own: the versions `make dev` runs, checked
# against their hashes, and rebuilt only when the lock changes.
COPY requirements/runtime.txt ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md alembic.ini ./
COPY kra_graphql ./kra_graphql
COPY workers ./workers
COPY migrations ./migrations
# Editable, so `kra-graphql migrate` finds migrations/ beside the package; no dependencies
# beyond the lock, and `pip check` stops the build when the lock lags pyproject.toml.
RUN pip install --no-deps -e . && pip check && useradd --system --uid 10001 kra
USER kra

EXPOSE 8000
CMD ["kra-graphql", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
