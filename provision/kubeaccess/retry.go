package kubeaccess

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
)

// The API server of a cluster RKE just built may still be settling (restarts, leader changes):
// calls are retried with backoff for about 45 seconds (a restart of kube-apiserver takes 20), each
// attempt bounded on its own.
var (
	retryBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 9, Cap: 10 * time.Second}
	attemptLimit = 30 * time.Second
)

// retry runs call until it succeeds, fails for good, the backoff is spent or ctx ends.
func retry(ctx context.Context, what string, call func(context.Context) error) error {
	b := retryBackoff
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, attemptLimit)
		err := call(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w; last error: %w", what, ctx.Err(), err)
		}
		if !transient(err) || b.Steps <= 1 {
			return fmt.Errorf("%s: %w", what, err)
		}
		timer := time.NewTimer(b.Step())
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w; last error: %w", what, ctx.Err(), err)
		case <-timer.C:
		}
	}
}

// transient reports errors worth another attempt: the server unreachable or overloaded, or the
// attempt timed out.
func transient(err error) bool {
	if apierrors.IsInternalError(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Code >= 500
	}
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		utilnet.IsHTTP2ConnectionLost(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}
