# samepage in a container: docs/deploy.md. Images are not built in CI (Docker cannot
# pull base images there); tests/deploy/test_container.py checks this file against the
# CLI and the tree instead.
#
#   docker build -t samepage .
#   docker run -e SAMEPAGE_SECRET=$(openssl rand -hex 32) -p 8000:8000 -v samepage-data:/var/lib/samepage samepage

# --- build: the package and its dependencies in a virtualenv ------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/samepage
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sync ./sync
COPY storage ./storage
# web/ carries the editor's committed bundle (web/static), installed as package data
COPY web ./web
RUN /opt/samepage/bin/pip install . \
    && /opt/samepage/bin/python -c "import importlib.resources as r; assert r.files('web').joinpath('static/editor.js').is_file()"

# --- runtime: the virtualenv only, run by an unprivileged user ----------------------
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 samepage \
    && useradd --system --uid 10001 --gid samepage --home-dir /var/lib/samepage --create-home samepage
COPY --from=build /opt/samepage /opt/samepage
ENV PATH=/opt/samepage/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SAMEPAGE_HOST=0.0.0.0 \
    SAMEPAGE_PORT=8000 \
    SAMEPAGE_DB=/var/lib/samepage/samepage.db
# The SQLite database (and its -wal, -shm and .lock files) lives here.
VOLUME ["/var/lib/samepage"]
WORKDIR /var/lib/samepage
USER samepage
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SAMEPAGE_PORT', '8000'), timeout=2)"]
# SIGTERM: stop accepting, /readyz 503, clients closed 1012 after every acknowledged
# update is stored, exit 0 within SAMEPAGE_SHUTDOWN_TIMEOUT (10 s; docker stop waits 10 s:
# use `docker stop -t 30` or compose's stop_grace_period).
STOPSIGNAL SIGTERM
# Serving on 0.0.0.0 needs SAMEPAGE_SECRET (token authentication) or SAMEPAGE_OPEN=1.
ENTRYPOINT ["samepage"]
CMD ["serve"]
