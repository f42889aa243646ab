// Package ssh connects to the cluster's VMs with strict host-key checking, waits for them to
// accept logins, runs commands and tunnels the Docker socket (in-process: the driver binary is
// static and runs in a jail without an SSH client).
package ssh

import (
	"net"

	gossh "golang.org/x/crypto/ssh"
)

// Endpoint is one SSH server to connect to.
type Endpoint struct {
	Name    string // node name, used in errors and progress
	Address string // host or host:port (port 22 when absent)
	User    string
	// HostKey is the key the server must present. Nil means trust on first use, which the Dialer only
	// accepts when it was configured to.
	HostKey gossh.PublicKey
}

// hostPort is Address with the default port added when it has none.
func (e Endpoint) hostPort() string {
	if _, _, err := net.SplitHostPort(e.Address); err == nil {
		return e.Address
	}
	return net.JoinHostPort(e.Address, "22")
}
