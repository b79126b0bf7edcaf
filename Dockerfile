# The image `aftershock compile --in-cluster` points its CronJob at: the aftershock CLI, non-root.
# Not built in this repository's CI (no container engine on the build machines): build and push it
# with your own tooling, e.g. `docker build -t registry.example/aftershock:0.1.0 .`, then
# `aftershock compile --in-cluster gamedays/checkout-friday.yaml --image registry.example/aftershock:0.1.0`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY chaos ./chaos
COPY tui ./tui
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# chaos.templating reads the templates from ../manifests next to the package
COPY manifests /usr/local/lib/python3.11/site-packages/manifests
# 65532: the CronJob's runAsUser; the state dir is a volume (PVC or emptyDir), the root FS read-only
RUN groupadd --gid 65532 aftershock && useradd --uid 65532 --gid 65532 --home-dir /var/lib/aftershock \
        --no-create-home --shell /usr/sbin/nologin aftershock \
    && mkdir -p /var/lib/aftershock /etc/aftershock/experiments && chown 65532:65532 /var/lib/aftershock
ENV AFTERSHOCK_STATE_DIR=/var/lib/aftershock HOME=/var/lib/aftershock PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
WORKDIR /var/lib/aftershock
ENTRYPOINT ["aftershock"]
CMD ["--help"]
