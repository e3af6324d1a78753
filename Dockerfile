# The binary is built outside (make build: CGO_ENABLED=0, static) so that the
# image also builds offline: make image BASE=scratch.
ARG BASE=gcr.io/distroless/static-debian12:nonroot
FROM ${BASE}
# On the PATH, so that `oc exec ds/sensorprobe -- probe check` works.
COPY bin/probe /usr/local/bin/probe
# distroless "nonroot"; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/probe"]
