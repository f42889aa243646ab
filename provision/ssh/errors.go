package ssh

import "errors"

// Sentinel errors of Dial and WaitReady, for errors.Is. The returned errors wrap them with the node
// name, the address and the cause.
var (
	// ErrPortClosed: nothing accepted the connection (refused, unreachable, timed out) or it was
	// dropped before authentication; the node is probably still booting. Retried by WaitReady.
	ErrPortClosed = errors.New("ssh port closed or unreachable")
	// ErrAuthRefused: the server presented the right host key but accepted none of our keys for the
	// user (wrong user or key, or cloud-init has not written authorized_keys yet). Retried briefly.
	ErrAuthRefused = errors.New("ssh login refused")
	// ErrHostKeyMismatch: the server presented another host key than expected; the message names
	// both fingerprints. Never retried.
	ErrHostKeyMismatch = errors.New("ssh host key mismatch")
	// ErrNoHostKey: the endpoint has no host key and the Dialer does not trust on first use.
	ErrNoHostKey = errors.New("no ssh host key to verify and trust on first use is off")
)
