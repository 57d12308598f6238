# The Nuage app image: web (gunicorn), the console proxy (uvicorn), Celery worker and beat all
# run from it.
# Debian 12 (bookworm) like the development machines, so libvirt-python builds against libvirt 9.

# The consoles' browser libraries (xterm.js, noVNC) from package-lock.json.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt-dev pkg-config gcc \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies only (pyproject.toml declares no packages): this layer survives code changes.
COPY pyproject.toml ./
RUN pip install .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=portal.settings \
    NUAGE_VAR_DIR=/var/lib/nuage
# libvirt0: the client library (remote driver for qemu+tcp/tls/ssh, test driver);
# openssh-client: qemu+ssh:// hosts; qemu-utils: qemu-img, which OVA imports and exports run
# on the worker. /var/lib/nuage/exports exists, owned by nuage, so that the volume compose
# mounts there (shared by web and workers) starts out writable.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt0 openssh-client qemu-utils \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 nuage \
 && install -d -o nuage -g nuage /var/lib/nuage /var/lib/nuage/exports
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
COPY --from=assets /src/node_modules ./node_modules
# collectstatic reads settings, which refuse to load without a key; this one is never used
# to sign anything.
RUN SECRET_KEY=collectstatic-only-placeholder python manage.py collectstatic --no-input -v0
USER nuage
EXPOSE 8000
# Threaded workers (gthread): a sync worker is killed once a request outlasts gunicorn's timeout
# (30 s), and an OVA upload or export download of several GiB does.
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4", "--access-logfile", "-"]
