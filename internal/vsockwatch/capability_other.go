//go:build !linux

package vsockwatch

import (
	"fmt"
	"syscall"
)

// probeSocket fails: AF_VSOCK is only probed on Linux.
func probeSocket() error {
	return fmt.Errorf("socket AF_VSOCK: %w", syscall.EAFNOSUPPORT)
}
