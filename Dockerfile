# recording-storage: the service image (master + workers) and, as a separate target, the same
# image with the DRACOON emulator for the local stack. Not built by this repository's CI (no
# container runtime there): see docs/deployment.md.
#
#   docker build -t recording-storage .                                  # production (default)
#   docker build --target emulator -t recording-storage-emulator .       # + dracoon-emulator
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> -t recording-storage .
#   docker run -e RECORDING_STORAGE_CONFIG_BUCKET=... -p 8080:8080 recording-storage
#
# The base image: pass PYTHON_IMAGE with the digest your release resolved (docs/deployment.md,
# "Base image and digest" says why the repository cannot pin one itself).
ARG PYTHON_IMAGE=python:3.11-slim

# -- install: the service and its dependencies in a virtual environment (no emulator) ----------
FROM ${PYTHON_IMAGE} AS install
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY setup.cfg setup.py README.md /tmp/src/
COPY recording_storage /tmp/src/recording_storage
# The service's wheel never contains the emulator; the find_spec check proves it for the image.
RUN python -m venv /opt/recording-storage \
    && /opt/recording-storage/bin/pip install /tmp/src \
    && rm -rf /tmp/src \
    && /opt/recording-storage/bin/python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("dracoon_emulator") is not None)' \
    && /opt/recording-storage/bin/recording-storage version

# -- install-emulator: the same plus the DRACOON emulator (a development tool) ---------------
# emulator/ is a distribution of its own (dracoon-emulator); only the emulator target copies
# this environment, so no layer of the production image ever holds it. It is installed next to
# recording-storage because seeding users from an encryption password generates their key
# pairs with recording_storage.dracoon.crypto (docs/emulator.md, "Distribution and dependencies").
FROM install AS install-emulator
COPY emulator /tmp/emulator
RUN /opt/recording-storage/bin/pip install /tmp/emulator \
    && rm -rf /tmp/emulator \
    && /opt/recording-storage/bin/dracoon-emulator --help >/dev/null

# -- runtime: what both images share ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/recording-storage/bin:$PATH
RUN groupadd --system --gid 10001 recording-storage \
    && useradd --system --uid 10001 --gid recording-storage --home-dir /app \
        --shell /usr/sbin/nologin recording-storage
WORKDIR /app
COPY entrypoint.sh /app/entrypoint.sh
# Templates only; entrypoint.sh downloads the real files from S3 into /app/conf (writable),
# or a volume/Secret is mounted there.
COPY --chown=recording-storage:recording-storage conf /app/conf
# entrypoint.sh's defaults (docs/configuration.md, "entrypoint.sh's environment").
ENV RECORDING_STORAGE_CONFIG_DIR=/app/conf \
    RS_HTTP_ADDRESS=0.0.0.0:8080
EXPOSE 8080
# /healthcheck answers 200 while workers and dependencies are fine (docs/operations.md).
# The slim image has no curl: ask with Python. Any non-200 answer or error exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/livez', timeout=4)"]
# The master must get SIGTERM and time to finish transfers: workers.shutdownGraceSeconds + 60 s
# (docs/operations.md, "Graceful shutdown"): docker run --stop-timeout 120, compose
# stop_grace_period: 120s, k8s terminationGracePeriodSeconds: 120.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/entrypoint.sh"]

# -- emulator: for docker-compose.yml's DRACOON stand-in (`dracoon-emulator`) -------------------
FROM runtime AS emulator
COPY --from=install-emulator /opt/recording-storage /opt/recording-storage
USER 10001:10001

# -- production (the default target: the last stage) -----------------------------------------
FROM runtime AS production
COPY --from=install /opt/recording-storage /opt/recording-storage
USER 10001:10001
