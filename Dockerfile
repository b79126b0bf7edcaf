# The release image `aftershock compile --in-cluster` points its Job/CronJob at: the aftershock CLI,
# non-root, read-only root file system friendly (state on a volume). Build it with your own tooling:
#   docker build -t registry.example/aftershock:0.1.0 .        (or: buildah bud -t ... .)
#   aftershock compile --in-cluster gamedays/checkout-friday.yaml --image registry.example/aftershock:0.1.0
# BASE is any Debian-based image with python3 and its venv module (default: the official Python slim
# image; Debian's python3 + python3-venv work too). The CLI lives in the virtualenv /opt/aftershock.
# The test node (scripts/kube-testbed up --node) runs localhost/aftershock:dev instead, made from
# Debian packages by scripts/node-images (no registry there).
ARG BASE=python:3.11-slim
FROM ${BASE} AS build
# pip behind a mirror or a TLS-intercepting proxy: --build-arg PIP_INDEX_URL=... / PIP_CERT=<CA file
# mounted into the build>; unset, pip uses PyPI and its own CA bundle
ARG PIP_INDEX_URL
ARG PIP_CERT
WORKDIR /src
# setup.py ships manifests/, experiments/ and gamedays/ inside the package (chaos.bundled finds them)
COPY pyproject.toml setup.py README.md ./
COPY chaos ./chaos
COPY tui ./tui
COPY manifests ./manifests
COPY experiments ./experiments
COPY gamedays ./gamedays
RUN python3 -m venv /opt/aftershock && /opt/aftershock/bin/pip install --no-cache-dir .

FROM ${BASE}
COPY --from=build /opt/aftershock /opt/aftershock
ENV PATH=/opt/aftershock/bin:$PATH
# 65532: the Job's runAsUser; the state dir is a volume (PVC or emptyDir), the root FS read-only
RUN groupadd --gid 65532 aftershock && useradd --uid 65532 --gid 65532 --home-dir /var/lib/aftershock \
        --no-create-home --shell /usr/sbin/nologin aftershock \
    && mkdir -p /var/lib/aftershock /etc/aftershock/experiments && chown 65532:65532 /var/lib/aftershock \
    && aftershock --version
ENV AFTERSHOCK_STATE_DIR=/var/lib/aftershock HOME=/var/lib/aftershock PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
WORKDIR /var/lib/aftershock
ENTRYPOINT ["aftershock"]
CMD ["--help"]
