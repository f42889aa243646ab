package ssh

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff spaces connection attempts: the wait doubles from Initial up to Max, and each wait is
// drawn from [d/2, d) so that many nodes booting together do not knock in step.
type Backoff struct {
	Initial time.Duration // zero means 500 ms
	Max     time.Duration // zero means 10 s
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 500 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// delay is the jittered wait before attempt n+1 (n from 0).
func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + rand.N(d/2+1)
}

// WaitReady connects to ep until it accepts the login or ctx ends (give it a deadline). Closed or
// unreachable ports are retried with backoff; a refused login only for Config.AuthRetry; a host key
// mismatch fails at once. The error names the node and wraps the last attempt's sentinel error.
func (d *Dialer) WaitReady(ctx context.Context, ep Endpoint) (*Client, error) {
	start := time.Now()
	var last error // the last error that was not the context's
	var firstRefusal time.Time
	for attempt := 1; ; attempt++ {
		c, err := d.Dial(ctx, ep)
		switch {
		case err == nil:
			return c, nil
		case ctx.Err() != nil:
			return nil, gaveUp(ctx, attempt, start, last, err)
		case errors.Is(err, ErrPortClosed):
		case errors.Is(err, ErrAuthRefused):
			if firstRefusal.IsZero() {
				firstRefusal = time.Now()
			}
			if time.Since(firstRefusal) >= d.cfg.AuthRetry {
				return nil, fmt.Errorf("wait for ssh: %w (still refused after %s)", err, d.cfg.AuthRetry)
			}
		default:
			return nil, err
		}
		last = err

		timer := time.NewTimer(d.cfg.Backoff.delay(attempt - 1))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, gaveUp(ctx, attempt, start, last, err)
		case <-timer.C:
		}
	}
}

// gaveUp is WaitReady's error when ctx ends: the context's error and, if there was one, the last
// real failure (which names the node).
func gaveUp(ctx context.Context, attempts int, start time.Time, last, err error) error {
	if last == nil {
		return fmt.Errorf("wait for ssh: %w", err)
	}
	return fmt.Errorf("wait for ssh: %w after %d attempts in %s, last: %w",
		ctx.Err(), attempts, time.Since(start).Round(time.Millisecond), last)
}
