# recording-storage: the service image (master + workers; also carries `dracoon-emulator`).
# Not built by this repository's CI (no container runtime there): see docs/deployment.md.
#
#   docker build -t recording-storage .
#   docker run -e RECORDING_STORAGE_CONFIG_BUCKET=... -p 8080:8080 recording-storage
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install from a throw-away copy of the sources; only the installed package stays.
COPY setup.cfg setup.py README.md /tmp/src/
COPY recording_storage /tmp/src/recording_storage
RUN pip install /tmp/src && rm -rf /tmp/src

RUN groupadd --system --gid 10001 recording-storage \
    && useradd --system --uid 10001 --gid recording-storage --home-dir /app \
        --shell /usr/sbin/nologin recording-storage
WORKDIR /app
COPY entrypoint.sh /app/entrypoint.sh
# Templates only; entrypoint.sh downloads the real files from S3 into /app/conf (writable),
# or a volume/Secret is mounted there.
COPY --chown=recording-storage:recording-storage conf /app/conf
USER 10001:10001

# entrypoint.sh's defaults (docs/configuration.md, "entrypoint.sh's environment").
ENV RECORDING_STORAGE_CONFIG_DIR=/app/conf \
    RS_HTTP_ADDRESS=0.0.0.0:8080
EXPOSE 8080

# /healthcheck answers 200 while workers and dependencies are fine (docs/operations.md).
# The slim image has no curl: ask with Python. Any non-200 answer or error exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthcheck', timeout=4)"]

# The master must get SIGTERM and have time to finish transfers (workers.shutdownGraceSeconds
# + 30 s): docker run --stop-timeout 90, compose stop_grace_period, k8s terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/entrypoint.sh"]
