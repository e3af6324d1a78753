//go:build !linux

package vsockwatch

import (
	"fmt"
	"syscall"
)

// ProbeSocket fails: AF_VSOCK is only probed on Linux.
func ProbeSocket() error {
	return fmt.Errorf("socket AF_VSOCK: %w", syscall.EAFNOSUPPORT)
}
