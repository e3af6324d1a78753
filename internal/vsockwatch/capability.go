package vsockwatch

import (
	"os"
	"path/filepath"
)

// Device names under the device directory.
const (
	DeviceVsock      = "vsock"       // /dev/vsock: the AF_VSOCK transport's control device
	DeviceVhostVsock = "vhost-vsock" // /dev/vhost-vsock: the host side KubeVirt VMs attach to
)

// Devices returns the device names Capability reports on, in a fixed order.
func Devices() []string { return []string{DeviceVsock, DeviceVhostVsock} }

// Capability says what this node can do with VSOCK.
type Capability struct {
	// Devices maps a device name (DeviceVsock, DeviceVhostVsock) to whether it exists.
	Devices map[string]bool `json:"devices"`
	// SocketsSupported is true when an AF_VSOCK stream socket could be created.
	SocketsSupported bool `json:"sockets_supported"`
	// SocketError says why not, empty when supported.
	SocketError string `json:"socket_error,omitempty"`
	// ContextID is the local context ID (2 on a hypervisor host, ≥3 in a VM);
	// valid only when ContextIDError is empty.
	ContextID uint32 `json:"context_id"`
	// ContextIDError says why the context ID could not be read.
	ContextIDError string `json:"context_id_error,omitempty"`
}

// CheckCapability looks at the VSOCK devices under devDir (normally "/dev";
// a container sees the host's devices only where they are mounted), tries to
// create an AF_VSOCK socket with socket (ProbeSocket in production), and
// reads the local context ID with contextID (vsock.ContextID). It opens
// nothing that outlives the call.
func CheckCapability(devDir string, socket func() error, contextID func() (uint32, error)) Capability {
	c := Capability{Devices: map[string]bool{}}
	for _, d := range Devices() {
		_, err := os.Stat(filepath.Join(devDir, d))
		c.Devices[d] = err == nil
	}
	if err := socket(); err != nil {
		c.SocketError = err.Error()
	} else {
		c.SocketsSupported = true
	}
	if cid, err := contextID(); err != nil {
		c.ContextIDError = err.Error()
	} else {
		c.ContextID = cid
	}
	return c
}
