// Package harvestersim is a local stand-in for Harvester, for tests and demos only (it is never linked
// into the driver binary).
//
// It runs a real etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, installs the KubeVirt,
// Harvester and Multus CRDs with real schemas, and runs a controller that does what Harvester would: a
// VirtualMachine gets a VirtualMachineInstance, image-backed PVCs and a fake host (a network namespace
// with a copy-on-write Debian root filesystem and a real OpenSSH server configured from the VM's
// cloud-init). Faults can be injected per VM or globally. Everything is torn down by Close (or the test's
// cleanup), and leftovers of crashed runs are swept on the next start.
//
// Tests call Start; the harvestersim command (up/down) runs the same stand-in as a daemon for demos.
package harvestersim
