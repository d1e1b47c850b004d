# modelport's image: `make image` builds it (see docker/README.md for the steps by hand).
# Python packages come only from build/wheelhouse, built on the host by `make image`, so no
# step here needs a package index; the first stage installs them, the second keeps the result.
ARG BASE=python:3.11-slim

FROM ${BASE} AS install
ARG EXTRAS=""
ARG VERSION
COPY build/wheelhouse /wheelhouse
RUN python3 -m venv /opt/modelport \
    && /opt/modelport/bin/pip install --no-cache-dir --no-index --find-links /wheelhouse \
        "modelport${EXTRAS:+[$EXTRAS]}==${VERSION}" \
    && find /opt/modelport -name '__pycache__' -prune -exec rm -rf {} +

FROM ${BASE}
LABEL org.opencontainers.image.title="modelport" \
      org.opencontainers.image.description="A model server that speaks every protocol your clients already do" \
      org.opencontainers.image.licenses="Apache-2.0" \
      com.amazonaws.sagemaker.capabilities.accept-bind-to-port="true" \
      com.amazonaws.sagemaker.capabilities.multi-models="true"
COPY --from=install /opt/modelport /opt/modelport
ENV PATH=/opt/modelport/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# A numeric user, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MODELPORT_HTTP_PORT', '8000') + '/v2/health/ready', timeout=2)"]
ENTRYPOINT ["modelport"]
CMD ["serve", "/models", "--host", "0.0.0.0"]
