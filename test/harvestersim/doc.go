// Package harvestersim is a local stand-in for Harvester, for tests and demos only (it is never linked
// into the driver binary): the one package tests and commands use, which puts the sub-packages
// together.
//
// New (or Start, in a test) takes a slot on the machine (package slot), starts a real etcd,
// kube-apiserver and kube-controller-manager on 127.0.0.1 with the KubeVirt, Harvester and Multus
// CRDs (package controlplane), and runs a controller that does what Harvester would (package
// controller): a VirtualMachine gets a VirtualMachineInstance, image-backed PVCs and a fake host
// (package hosts: a network namespace with a copy-on-write Debian root filesystem from package
// hostimage and a real OpenSSH server, configured from the VM's cloud-init by package cloudinit).
// Faults can be injected per VM or globally. Everything is torn down by Close (or the test's
// cleanup), and leftovers of crashed runs are swept on the next start.
//
// Tests call Start; the harvestersim command (up/down) runs the same stand-in as a daemon for demos.
package harvestersim
