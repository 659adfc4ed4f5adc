# syncbridge: one image, several roles (serve, worker, migrate). Multi-stage, non-root.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY connectors ./connectors
COPY migrations ./migrations
COPY taxonomy ./taxonomy
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNCBRIDGE_DATABASE_URL=sqlite+aiosqlite:////data/syncbridge.db \
    SYNCBRIDGE_ENVIRONMENT=production
# Production refuses to start without SYNCBRIDGE_SECRET_KEY (>= 32 random characters); create
# the first admin key with `docker run ... syncbridge keys create --name NAME --role admin`.
RUN groupadd --system syncbridge \
 && useradd --system --gid syncbridge --home-dir /data --create-home syncbridge
COPY --from=build /opt/venv /opt/venv
USER syncbridge
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
ENTRYPOINT ["syncbridge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
