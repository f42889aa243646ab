package docker

import (
	"context"
	"sync"
)

// forEach runs do(i) for every i below n, at most limit at a time, and waits for all. An i whose
// turn has not come when ctx ends is not run: its error is skipped(i, ctx.Err()).
func forEach(ctx context.Context, n, limit int, do func(i int) error, skipped func(i int, err error) error) []error {
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			// A turn that comes with ctx already ended is not taken either.
			if err := ctx.Err(); err != nil {
				errs[i] = skipped(i, err)
				return
			}
			errs[i] = do(i)
		}()
	}
	wg.Wait()
	return errs
}
