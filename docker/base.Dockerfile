# python3 on a Debian root filesystem imported by scripts/base-image (no registry needed).
ARG ROOTFS=modelport-base-rootfs:bookworm
FROM ${ROOTFS}
# Debian's bookworm python3 (3.11), whatever its current point release: pinning a version
# breaks the build at the next security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
