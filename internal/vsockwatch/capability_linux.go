package vsockwatch

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// probeSocket creates and closes an AF_VSOCK stream socket.
func probeSocket() error {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket AF_VSOCK: %w", err)
	}
	return unix.Close(fd)
}
