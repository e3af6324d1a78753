package vsockwatch

import (
	"os"
	"path/filepath"
)

// Device names, as the kernel names them under /dev and /sys/class/misc.
const (
	DeviceVsock      = "vsock"       // /dev/vsock: the AF_VSOCK transport's control device
	DeviceVhostVsock = "vhost-vsock" // /dev/vhost-vsock: the host side KubeVirt VMs attach to
)

// Devices returns the device names Capability reports on, in a fixed order.
func Devices() []string { return []string{DeviceVsock, DeviceVhostVsock} }

// DeviceSource says where a device was seen. A container has /dev of its
// own, without the host's devices unless they are mounted, but it sees the
// host's /sys/class/misc (read-only), where the kernel lists each misc device
// while its module is loaded.
type DeviceSource struct {
	// Node is true when the device node exists in the device directory
	// (Config.DevDir). A node can exist before its module is loaded (a static
	// node the module is loaded on at first open).
	Node bool `json:"node"`
	// Sysfs is true when the misc class entry exists (under Config.SysMiscDir):
	// the device's module is loaded and the device registered.
	Sysfs bool `json:"sysfs"`
}

// Present reports whether the device was seen in either place.
func (s DeviceSource) Present() bool { return s.Node || s.Sysfs }

// Capability says what this node can do with VSOCK.
type Capability struct {
	// Devices maps a device name (DeviceVsock, DeviceVhostVsock) to whether
	// it exists: its device node or its sysfs entry was seen.
	Devices map[string]bool `json:"devices"`
	// DeviceSources maps a device name to where it was seen.
	DeviceSources map[string]DeviceSource `json:"device_sources"`
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

// CheckCapability looks for the VSOCK devices as nodes under devDir
// (normally "/dev"; a container sees the host's devices there only where they
// are mounted) and as entries under sysMiscDir (normally "/sys/class/misc",
// which a container sees without a mount), tries to create an AF_VSOCK socket
// with socket (ProbeSocket in production), and reads the local context ID
// with contextID (vsock.ContextID). It opens nothing that outlives the call.
func CheckCapability(devDir, sysMiscDir string, socket func() error, contextID func() (uint32, error)) Capability {
	c := Capability{Devices: map[string]bool{}, DeviceSources: map[string]DeviceSource{}}
	exists := func(dir, name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	for _, d := range Devices() {
		s := DeviceSource{Node: exists(devDir, d), Sysfs: exists(sysMiscDir, d)}
		c.DeviceSources[d] = s
		c.Devices[d] = s.Present()
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
