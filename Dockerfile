# syntax=docker/dockerfile:1
# Naevus: one image for web, workers, beat and training (docs/deploy.md).
#
#   docker build -t naevus .                                               CPU-only torch (smaller image)
#   docker build -t naevus --build-arg TORCH_INDEX_URL=https://pypi.org/simple .
#                                                                          CUDA torch, for GPU workers and training
#
# PyPI's torch wheels are the CUDA build and carry the CUDA, cuDNN and NCCL libraries with them, so
# the GPU image needs no CUDA base image: only the host's NVIDIA driver, which the NVIDIA Container
# Toolkit mounts in. BASE_IMAGE swaps the Python base (a mirror, a pinned digest).

ARG NODE_IMAGE=node:20-bookworm-slim
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${NODE_IMAGE} AS spa
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
# No settings baked in: Django injects the SPA's run-time configuration, so one image serves every site.
RUN npm run build

FROM ${BASE_IMAGE} AS runtime
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=portal.settings.production \
    DJANGO_STATIC_ROOT=/app/static \
    DJANGO_MEDIA_ROOT=/app/var/media \
    NAEVUS_MODEL_STORE=/app/var/models
# Pango (with HarfBuzz) and a font for the PDF reports (WeasyPrint); the Makefile's system-libs lists the same.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# torch and torchvision first, from the chosen index; the rest of the pins then find them satisfied.
RUN pip install --index-url "${TORCH_INDEX_URL}" \
        "$(grep -E '^torch==' /tmp/requirements.txt)" "$(grep -E '^torchvision==' /tmp/requirements.txt)" \
    && pip install -r /tmp/requirements.txt

RUN useradd --system --uid 10001 --create-home --home-dir /home/naevus --shell /usr/sbin/nologin naevus
WORKDIR /app
# The code stays root-owned (read-only to the service); only var/ is writable.
COPY . .
COPY --from=spa /src/frontend/dist /app/frontend/dist
# Placeholders only: production settings refuse to import without these, and collectstatic
# needs neither a database nor a broker. Real values come from .env at run time.
RUN DJANGO_SECRET_KEY=collectstatic-only-placeholder \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=sqlite:////tmp/unused.sqlite3 \
    CELERY_BROKER_URL=redis://localhost:6379/0 \
    CACHE_URL=redis://localhost:6379/1 \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var/media /app/var/models /app/var/training \
    && chown -R naevus:naevus /app/var

USER 10001
EXPOSE 8000
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
