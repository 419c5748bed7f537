# syntax=docker/dockerfile:1
# Image of the loan origination service (LOS). Build from the repository root:
#   docker build -f deploy/los.Dockerfile -t lending/los:local .
# One image runs every role: `los serve` (API, with or without workers), `los worker`,
# `los migrate`, `los create-topics` and the operator commands (outbox, dead-letters).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the pinned runtime set into a virtualenv (no dev dependencies) -------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv
RUN pip install uv==0.13.8 && python -m venv /opt/venv
WORKDIR /src
# Pins first, then the packages in dependency order (the contract, the maths, the glue, the service).
COPY requirements/constraints.txt requirements/constraints.txt
COPY shared-schemas/ shared-schemas/
COPY services/loanmath/ services/loanmath/
COPY services/servicekit/ services/servicekit/
COPY los-service/ los-service/
# Non-editable installs: the runtime image needs /opt/venv only, not the sources.
RUN uv pip install --python /opt/venv/bin/python -c requirements/constraints.txt \
        ./shared-schemas ./services/loanmath ./services/servicekit ./los-service \
    && /opt/venv/bin/los --help > /dev/null

# --- runtime: the virtualenv on a clean base, run as an unprivileged user ----------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lending-los" \
      org.opencontainers.image.description="Lending platform: loan origination service (LOS)"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    LOS_ENVIRONMENT=production \
    LOS_HOST=0.0.0.0 \
    LOS_PORT=8001 \
    LOS_LOG_JSON=true
# Production is the default: the service refuses to start without an explicit JWT secret of
# at least 32 characters (set LOS_JWT_SECRET, shared with the other service).
RUN groupadd --system --gid 10001 lending \
    && useradd --system --uid 10001 --gid lending --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin lending
COPY --from=build /opt/venv /opt/venv
# Nothing is written at run time outside /tmp (mount it writable when the root fs is read-only).
WORKDIR /app
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LOS_PORT', '8001') + '/health/live', timeout=2)"]
ENTRYPOINT ["los"]
CMD ["serve"]
