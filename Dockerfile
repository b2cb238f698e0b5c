# logpipe worker image: `python -m app worker`, one process per container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/var/lib/logpipe WEB_PORT=6066 WEB_BIND=0.0.0.0 LOG_FORMAT=json

RUN useradd --system --create-home --home-dir /srv/logpipe logpipe \
    && mkdir -p /var/lib/logpipe && chown logpipe /var/lib/logpipe
WORKDIR /srv/logpipe

# Dependencies first (cached while only the code changes), at the versions the tests passed with.
COPY setup.cfg pyproject.toml constraints.txt README.md ./
COPY app/__init__.py app/__init__.py
COPY devstack/__init__.py devstack/__init__.py
# editable: the code stays in /srv/logpipe (the SQL migrations ship inside app/storage/migrations)
RUN pip install --no-cache-dir -c constraints.txt -e '.[tracing]' && rm -rf app devstack

COPY app app
COPY devstack devstack
RUN chown -R logpipe /srv/logpipe

USER logpipe
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"WEB_PORT\", \"6066\")}/health', timeout=2)"
CMD ["python", "-m", "app", "worker", "--loglevel", "info"]
