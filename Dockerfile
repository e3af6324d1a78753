# The binaries are cross-compiled outside (make image: CGO_ENABLED=0, one per architecture in
# bin/<os>_<arch>/), so that the image builds offline for every architecture without running
# anything in it: make image BASE=scratch.
ARG BASE=gcr.io/distroless/static-debian12:nonroot
FROM ${BASE}
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="sensorprobe" \
      org.opencontainers.image.description="Checks that RHACS sensor is reachable from each node's host network, where the VM relay runs; exports Prometheus metrics and names the cause of failures." \
      org.opencontainers.image.source="https://github.com/sensorprobe/sensorprobe" \
      org.opencontainers.image.url="https://github.com/sensorprobe/sensorprobe" \
      org.opencontainers.image.documentation="https://github.com/sensorprobe/sensorprobe/blob/main/docs/install.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# On the PATH, so that `oc exec ds/sensorprobe -- probe check` works.
COPY bin/${TARGETOS}_${TARGETARCH}/probe /usr/local/bin/probe
# distroless "nonroot"; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/probe"]
