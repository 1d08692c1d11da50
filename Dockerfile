# The Bud Portal image that charts/budportal runs (web: uvicorn via budportal.serve, worker: qcluster, the migration hook Job).
# Build from the repository root and push to a registry your cluster can pull from:
#   docker build -t registry.example.com/budportal:0.1.0 . && docker push registry.example.com/budportal:0.1.0
# then install the chart with --set image.repository=registry.example.com/budportal (README, "Running in production").
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HELM_BINARY=/usr/local/bin/helm

WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY budportal ./budportal
COPY usecases ./usecases
COPY pipelines ./pipelines
COPY clusterjobs ./clusterjobs
COPY templates ./templates
COPY static ./static
COPY charts ./charts
COPY scripts/install_helm.py ./scripts/install_helm.py

# The pinned, checksum-verified helm the workers run. Static files need no collecting: the ASGI app serves them
# from static/ (budportal/asgi.py).
RUN pip install -e . \
    && python scripts/install_helm.py /usr/local/bin \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp budportal

# Never root; the chart also mounts /tmp (HOME) as the only writable path.
USER 10001
EXPOSE 8000
# budportal.serve passes uvicorn --no-proxy-headers: X-Forwarded-For is believed via TRUSTED_PROXIES only
# (budportal/client_ip.py). WEB_PROCESSES (default 1) processes share the port.
CMD ["python", "-m", "budportal.serve", "-b", "0.0.0.0", "-p", "8000"]
