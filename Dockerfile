# The V1tr0 API (default) or worker image: `docker build -t v1tr0 .`, then see docker-compose.yml.
# It expects an external PostgreSQL with pgvector (DATABASE_URL) and Redis (REDIS_URL); the embedded
# servers of `make run` are for laptops and are never started when both URLs are set.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    RAGAS_DO_NOT_TRACK=true \
    V1TR0_HOST=0.0.0.0 \
    PORT=8000 \
    V1TR0_DATA_DIR=/data

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && python -m venv /opt/venv \
    && mkdir -p /data/uploads \
    && chown -R app:app /data

WORKDIR /app

# Dependencies first, in their own layer, so a source change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-cache-dir -c constraints.txt . \
    && rm -rf build *.egg-info

USER app
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health/live\", timeout=4)"]

# Migrates, then serves with two uvicorn workers; `v1tr0 worker` runs the ingestion worker instead.
CMD ["v1tr0", "serve", "--workers", "2"]
