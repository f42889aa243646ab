package docker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// forEach keeps to its limit, and an index whose turn never comes before ctx ends is not run but
// reported through skipped.
func TestForEach(t *testing.T) {
	tests := []struct {
		name        string
		n, limit    int
		cancelAfter time.Duration // 0: never
		wantRun     int
		wantSkipped int
	}{
		{"all run, one at a time", 4, 1, 0, 4, 0},
		{"all run, two at a time", 5, 2, 0, 5, 0},
		{"cancelled while the first runs", 3, 1, 20 * time.Millisecond, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAfter > 0 {
				time.AfterFunc(tt.cancelAfter, cancel)
			}
			var running, most, ran atomic.Int32
			errs := forEach(ctx, tt.n, tt.limit, func(int) error {
				now := running.Add(1)
				defer running.Add(-1)
				for {
					m := most.Load()
					if now <= m || most.CompareAndSwap(m, now) {
						break
					}
				}
				ran.Add(1)
				if tt.cancelAfter > 0 {
					<-ctx.Done() // hold the only turn until the cancel
				} else {
					time.Sleep(5 * time.Millisecond)
				}
				return nil
			}, func(_ int, err error) error { return err })
			skipped := 0
			for _, err := range errs {
				if errors.Is(err, context.Canceled) {
					skipped++
				}
			}
			if int(ran.Load()) != tt.wantRun || skipped != tt.wantSkipped || int(most.Load()) > tt.limit {
				t.Errorf("ran %d, skipped %d, at most %d at once; want %d, %d, at most %d",
					ran.Load(), skipped, most.Load(), tt.wantRun, tt.wantSkipped, tt.limit)
			}
		})
	}
}
