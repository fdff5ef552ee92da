# Civitas server image. Build from the repository root:  docker build -t civitas .
# Run it with deploy/docker-compose.yml (PostgreSQL, migrations, two replicas); see deploy/README.md.

# --- builder: the project and its runtime dependencies in a virtualenv, no dev extras ---
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/civitas

WORKDIR /src
COPY pyproject.toml README.md ./
COPY civitas/ civitas/
COPY identity/ identity/
COPY ledger/ ledger/
COPY projections/ projections/
COPY protos/ protos/
COPY verifier/ verifier/
# `.` is this project only: its [dev] extra (test and lint tools) stays out of the image, and
# so do the installers once done.
RUN /opt/civitas/bin/pip install --no-cache-dir . \
    && /opt/civitas/bin/pip uninstall --yes pip setuptools

# --- runtime: the virtualenv on a slim base, run by an unprivileged user ---
FROM python:3.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="civitas" \
      org.opencontainers.image.description="Event-sourced identity and transaction ledger (gRPC)"

# A fixed uid, so the data volume and mounted files can be granted to it from outside, and
# numeric in USER so an orchestrator can tell it is not root (runAsNonRoot).
RUN groupadd --system --gid 10001 civitas \
    && useradd --system --uid 10001 --gid civitas --home-dir /var/lib/civitas \
       --no-create-home --shell /usr/sbin/nologin civitas \
    && install --directory --owner=civitas --group=civitas --mode=0700 /var/lib/civitas

# Owned by root and read-only to the service: the code cannot be changed by the process it runs.
COPY --from=builder /opt/civitas /opt/civitas

# CIVITAS_HEALTHCHECK_*: where the probe finds the server's CA (the TLS files the default command
# reads live beside it); set CIVITAS_HEALTHCHECK_CERT/_KEY as well when serving mutual TLS.
# MALLOC_MMAP_THRESHOLD_: each Argon2id check allocates 19 MiB. glibc's dynamic threshold moves
# such blocks onto the heap after the first free and keeps them: measured under the 64-client
# load test, 550-730 MiB without this setting, about 95 MiB with it (as tests/civitas/test_load.py).
ENV PATH="/opt/civitas/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    PYTHONDONTWRITEBYTECODE=1 \
    CIVITAS_DATA=/var/lib/civitas \
    CIVITAS_METRICS_PORT=9464 \
    CIVITAS_HEALTHCHECK_TARGET=127.0.0.1:50051 \
    CIVITAS_HEALTHCHECK_CA=/etc/civitas/tls/ca.pem

# The SQLite file (when no PostgreSQL is given) and, always, the signing keys every replica shares.
VOLUME ["/var/lib/civitas"]
WORKDIR /var/lib/civitas
USER 10001:10001

# gRPC (TLS), and Prometheus metrics over plain HTTP: publish the metrics port to the scraper only.
EXPOSE 50051 9464

# Through the gRPC health service (grpc.health.v1.Health/Check), over the same TLS as real callers.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "civitas.healthcheck"]

ENTRYPOINT ["civitas"]
# Production transport: TLS on every interface. Mount the certificate and key at these paths
# (deploy/make-certs.sh makes a set); add --client-ca /etc/civitas/tls/ca.pem for mutual TLS.
CMD ["serve", "--host", "0.0.0.0", "--port", "50051", \
     "--tls-cert", "/etc/civitas/tls/server.pem", "--tls-key", "/etc/civitas/tls/server.key"]
