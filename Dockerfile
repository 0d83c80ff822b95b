# syntax=docker/dockerfile:1.7
#
# One image for both halves of the project:
#   ottc operator   (the kopf operator, 2 replicas with peering)
#   ottc serve      (the runtime: ingest, REST, GraphQL, WebSocket, dashboard, models)
#
# Stages:
#   assets   front-end bundles for the dashboard (pinned npm packages, no CDN at run time)
#   build    the project wheel plus a wheel for every dependency (compilers live here only)
#   runtime  slim Python, non-root, installs the wheels offline; no build tools, no pip cache
#
# The runtime stage works with a read-only root filesystem: everything that writes goes to
# HOME/TMPDIR (/tmp, an emptyDir in the chart) or to /var/lib/ottc (data, a volume).

ARG PYTHON_VERSION=3.11
ARG NODE_VERSION=22

# --- front-end assets ------------------------------------------------------------------------
# The dashboard (frontend/: pinned npm packages, package-lock.json) bundled by esbuild into
# /assets, which the build stage copies into the package: no CDN at run time.
FROM node:${NODE_VERSION}-bookworm-slim AS assets
WORKDIR /src
COPY frontend/package.json frontend/package-lock.json frontend/.npmrc ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build -- --outdir=/assets

# --- wheels ----------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY runtime/ runtime/
COPY operator/ operator/
COPY --from=assets /assets/ runtime/ott_runtime/dashboard/static/
# `pip wheel .` builds ott-compliance and collects a wheel for each dependency, so the runtime
# stage installs with --no-index and never needs a compiler or the network.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="ott-compliance" \
      org.opencontainers.image.description="OTT Compliance Operator and runtime (ottc operator | ottc serve)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/ott-compliance/ott-compliance-operator"

# A numeric user so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
ARG OTTC_UID=10001
RUN groupadd --system --gid "${OTTC_UID}" ottc \
 && useradd --system --uid "${OTTC_UID}" --gid ottc --no-create-home \
            --home-dir /tmp --shell /usr/sbin/nologin ottc \
 && install -d -o ottc -g ottc -m 0750 /var/lib/ottc

# Installed from the build stage's wheels through a bind mount: the wheels never become a
# layer of this image. pip byte-compiles on install, so nothing is written at start-up.
# In the same layer, what is never used at run time goes: TensorFlow's C++ headers (287 MB,
# for compiling custom ops) and the test suites of the scientific stack (~110 MB).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/ott_compliance-*.whl \
 && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf "$site/tensorflow/include" \
 && find "$site/numpy" "$site/scipy" "$site/pandas" "$site/sklearn" -depth -type d -name tests \
         -exec rm -rf {} + \
 && ottc --help >/dev/null

# Read-only root filesystem: every library that caches or writes config is pointed at /tmp
# (an emptyDir in the chart); `ottc serve`'s state (standalone SQLite, keyrings, model
# registry) under $XDG_STATE_HOME, i.e. /var/lib/ottc (a volume). In a container `ottc serve`
# listens on every interface (its default outside one is 127.0.0.1): the operator's scoring
# Deployment runs plain `serve` and relies on it.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    KERAS_HOME=/tmp/.keras \
    MPLCONFIGDIR=/tmp/.matplotlib \
    TF_CPP_MIN_LOG_LEVEL=2 \
    XDG_STATE_HOME=/var/lib/ottc \
    OTTC_HOST=0.0.0.0 \
    OTTC_PORT=8080

USER 10001:10001
WORKDIR /var/lib/ottc
VOLUME ["/tmp", "/var/lib/ottc"]
# REST, GraphQL, WebSocket, /metrics and the operator's /healthz all use one port.
EXPOSE 8080

ENTRYPOINT ["ottc"]
CMD ["serve"]
