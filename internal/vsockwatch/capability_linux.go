package vsockwatch

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ProbeSocket creates and closes an AF_VSOCK stream socket, to tell whether
// the kernel has AF_VSOCK.
func ProbeSocket() error {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket AF_VSOCK: %w", err)
	}
	return unix.Close(fd)
}
