FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ENVIRONMENT=production
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY kra_graphql ./kra_graphql
COPY workers ./workers
COPY migrations ./migrations
# Editable, so `kra-graphql migrate` finds migrations/ beside the package.
RUN pip install -e . && useradd --system --uid 10001 kra
USER kra

EXPOSE 8000
CMD ["kra-graphql", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
