// Package image builds the container image from the Dockerfile with
// podman, offline (BASE=scratch), and runs it as the DaemonSet does: a
// non-root UID, a read-only root filesystem, every capability dropped, the
// host network. Its test needs root and podman; it skips with a hint
// without them, and fails instead when CI=true. The package has no code of
// its own.
package image
