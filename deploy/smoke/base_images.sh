#!/usr/bin/env bash
# Build local stand-ins for the public base images that docker-compose.yml and
# the Dockerfile name, for machines that cannot reach an image registry.
# Each image is built with debootstrap from Debian bookworm packages, and only
# when no image with that tag exists yet. The stand-ins serve the smoke test
# only: the Dockerfile and the compose file stay the ones a Docker user runs.
set -euo pipefail

PYTHON_IMAGE=${PYTHON_IMAGE:-docker.io/library/python:3.11-slim}
PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-docker.io/prom/prometheus:v2.55.1}
NGINX_IMAGE=${NGINX_IMAGE:-docker.io/library/nginx:1.27}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK_DIR=$(mktemp -d /tmp/forecast-base-images.XXXXXX)
trap 'rm -rf "$WORK_DIR"' EXIT

bootstrap() {
    local rootfs=$1 packages=$2
    debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 \
        || { tail -n 30 "$rootfs.log"; echo "debootstrap of $rootfs failed" >&2; exit 1; }
    # Downloads inside later builds go through the host's TLS setup, so the stand-in trusts the host's CAs.
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
}

if ! podman image exists "$PYTHON_IMAGE"; then
    echo "building stand-in $PYTHON_IMAGE"
    bootstrap "$WORK_DIR/python" python3,python3-venv,python3-pip,ca-certificates,passwd
    # passwd gives useradd, as in the official image. Debian bookworm's python3 is 3.11, the minor version of the official image, which installs it as /usr/local/bin/python.
    ln -sf /usr/bin/python3 "$WORK_DIR/python/usr/local/bin/python"
    tar -C "$WORK_DIR/python" -c . | podman import \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' - "$PYTHON_IMAGE"
fi

if ! podman image exists "$PROMETHEUS_IMAGE" || ! podman image exists "$NGINX_IMAGE"; then
    echo "building stand-ins $PROMETHEUS_IMAGE and $NGINX_IMAGE"
    bootstrap "$WORK_DIR/tools" prometheus,nginx,ca-certificates
    # The official Prometheus image runs as nobody and keeps its database in /prometheus.
    mkdir -p "$WORK_DIR/tools/prometheus"
    chown 65534:65534 "$WORK_DIR/tools/prometheus"
    podman image exists "$PROMETHEUS_IMAGE" || tar -C "$WORK_DIR/tools" -c . | podman import \
        --change 'USER nobody' \
        --change 'WORKDIR /prometheus' \
        --change 'ENTRYPOINT ["/usr/bin/prometheus"]' \
        --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
        - "$PROMETHEUS_IMAGE"
    podman image exists "$NGINX_IMAGE" || tar -C "$WORK_DIR/tools" -c . | podman import \
        --change 'CMD ["nginx", "-g", "daemon off;"]' \
        - "$NGINX_IMAGE"
fi
