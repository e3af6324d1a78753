//go:build linux

// Package kubevirttest is a lab for RHACS 4.12's pull mode, for tests of the
// probe's checks of that path. Start builds, for one test:
//
//   - a real etcd and kube-apiserver with RBAC and the aggregation layer
//     (kubetest.Options.Aggregation);
//   - a network namespace of the test's own, sp-pull-<N>, reached over a
//     veth from the root namespace, whose private addresses (10.215.N.2 and
//     up) the API server accepts as endpoints, nodes and pod IPs (see Net);
//   - the APIService v1.subresources.kubevirt.io, Service and EndpointSlice
//     openshift-cnv/virt-api, and a virt-api stand-in behind them that
//     authenticates the front-proxy certificate, asks the API server with a
//     SubjectAccessReview, checks the VMI and dials the node's virt-handler
//     as KubeVirt's virt-api does;
//   - per node a Node (InternalIP in the namespace) with a kubelet stand-in
//     serving container logs to the API server (pods/log), and a
//     virt-handler pod whose mutual-TLS WebSocket server on 8186 plays the
//     VMI's roxagent (Agent);
//   - VMIs, minimal KubeVirt CRDs and the KubeVirt and HyperConverged CRs
//     (with or without the VSOCK feature gate);
//   - RHACS's sensor: ServiceAccount, ClusterRoles and bindings as the chart
//     makes them, Deployment and pod, and a stand-in that scrapes as sensor's
//     VM scraper does (Lab.Scrape): it dials through the API server as
//     ServiceAccount sensor with client-go's WebSocket transport, writes
//     sensor's log lines (Info and up, RHACS's console format, read through
//     pods/log) and counts rox_sensor_vsock_pull_* on its metrics port
//     (read through the pod proxy).
//
// Everything is removed in t.Cleanup, also when the test fails. The lab
// needs root (network namespaces) and the kube-apiserver binaries of
// hack/kube-assets.sh (KUBE_ASSETS); without them its tests skip, and fail
// when the environment variable CI is set.
//
// What the stand-ins follow is quoted from the stackrox sources at
// bed4a7b2427 (master of 2026-08-22) and from KubeVirt's virt-api; what
// sensor's side produces through the real API server and client-go
// v0.37.2 is below, as TestPullMode and TestRBAC printed it. Every dial
// error reaches the scraper as "VSOCK dial <ns>/<name>:818: websocket dial: "
// followed by client-go's error, which for an answer other than 101 is
// "unable to upgrade streaming request: " and the Status message:
//
//	no VSOCK     VSOCK dial vms/fedora-plain:818: websocket dial: unable to upgrade streaming request: VSOCK is not attached.
//	RBAC         VSOCK dial vms/rhel9:818: websocket dial: unable to upgrade streaming request: virtualmachineinstances.subresources.kubevirt.io "rhel9" is forbidden: User "system:serviceaccount:stackrox:sensor" cannot get resource "virtualmachineinstances/vsock" in API group "subresources.kubevirt.io" in the namespace "vms"
//	handler down VSOCK dial vms/rhel9-on-worker-1:818: websocket dial: unable to upgrade streaming request: Internal error occurred: dialing virt-handler: dial tcp 10.215.117.5:8186: connect: connection refused
//	not running  VSOCK dial vms/rhel9-pending:818: websocket dial: unable to upgrade streaming request: Unable to connect to VirtualMachineInstance because phase is Pending instead of Running or Scheduled
//	no such VMI  VSOCK dial vms/no-such-vm:818: websocket dial: unable to upgrade streaming request: virtualmachineinstance.kubevirt.io "no-such-vm" not found
//
// The 403 comes from the API server's own authorizer, before virt-api sees
// the request; and the chart's stackrox:view-cluster (get on */*) allows
// the stream without stackrox:vsock-access. After the upgrade:
//
//	agent down   reading response: reading frame length: EOF                    (read_error, debug line only)
//	busy         agent is busy with another request: agent is already serving another request; retry after a backoff
//	not ready    agent has not yet generated a report: initial scan in progress, try again later   (not_ready, debug line only)
//	hung         reading response: context deadline exceeded                    (timeout)
//	         or  reading response: reading frame length: read tcp 127.0.0.1:52194->127.0.0.1:46505: i/o timeout   (timeout)
//	         or  reading response: reading frame length: read tcp 127.0.0.1:47072->127.0.0.1:34865: i/o timeout   (read_error)
//	Central      resource exhausted: Central is not reachable                   (send_error)
//
// A hung agent is any of the three, run to run: sensor sets the
// connection's read deadline to its context's, and when the read's timeout
// beats the context's cancellation the error keeps the i/o timeout's text,
// and if the context is still not done when sensor classifies it, sensor
// counts a read_error and logs a protocol error. Sensor's lines, as
// pods/log returned them:
//
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:35.974365 scraper.go:364: Info: VMScraper: scraping "vms/rhel9" (reason=poll backoff=0s)
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:36.120229 scraper.go:490: Warn: VMScraper: dialing roxagent on "vms/fedora-plain" failed: VSOCK dial vms/fedora-plain:818: websocket dial: unable to upgrade streaming request: VSOCK is not attached.
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:36.120326 scraper.go:389: Info: VMScraper: scrape "vms/fedora-plain" failed retryable next=10s
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:36.198368 scraper.go:535: Info: VMScraper: roxagent on "vms/rhel9-busy" is busy with another request: agent is busy with another request: agent is already serving another request; retry after a backoff
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:36.201257 scraper.go:431: Info: VMScraper: scrape "vms/rhel9" ok outcome=forwarded next=5m0s
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:37.976140 scraper.go:510: Warn: VMScraper: reading report from "vms/rhel9-hung" timed out: reading response: context deadline exceeded
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:38.150073 scraper.go:395: Info: VMScraper: scrape "vms/rhel9" ok outcome=unchanged next=5m0s
//	common/virtualmachine/index: 2026/12/07 09:40:40.143716 handler_impl.go:71: Warn: Cannot send index report for virtual machine with vsock_cid="108" to Central because Central is not reachable
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:40.143768 scraper.go:418: Error: VMScraper: sending "vms/rhel9-new" report to Central failed: resource exhausted: Central is not reachable
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:40.143802 scraper.go:423: Info: VMScraper: scrape "vms/rhel9-new" failed retryable next=10s
//	common/virtualmachine/vmscraper: 2026/12/07 09:40:42.038800 scraper.go:539: Warn: VMScraper: protocol error for "vms/rhel9-hung" (possible version mismatch): reading response: reading frame length: read tcp 127.0.0.1:47072->127.0.0.1:34865: i/o timeout
//
// Addresses, ports and times vary from run to run.
package kubevirttest
