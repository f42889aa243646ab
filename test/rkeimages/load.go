package rkeimages

import (
	"context"
	"fmt"
	"strings"
)

// Runner runs a command on a node (over SSH, or nsenter into a fake host) and returns its standard
// output; a failure's error says what went wrong.
type Runner func(ctx context.Context, argv ...string) ([]byte, error)

// Load loads the set into the Docker daemon of a node from path, where the node sees s.Archive,
// then checks that the images are there.
func (s *Set) Load(ctx context.Context, run Runner, path string) error {
	if _, err := run(ctx, "docker", "load", "--quiet", "--input", path); err != nil {
		return fmt.Errorf("load images from %s: %w", path, err)
	}
	return s.Check(ctx, run)
}

// Check reports whether the node's Docker daemon has every image of the set under its tag, so
// that RKE uses them instead of pulling.
func (s *Set) Check(ctx context.Context, run Runner) error {
	tags := s.Tags()
	out, err := run(ctx, append([]string{"docker", "image", "inspect", "--format", "{{.Id}}"}, tags...)...)
	if err != nil {
		return fmt.Errorf("check images %s: %w", strings.Join(tags, " "), err)
	}
	ids := strings.Fields(string(out))
	if len(ids) != len(tags) {
		return fmt.Errorf("check images %s: docker printed %q", strings.Join(tags, " "), out)
	}
	for i, img := range s.Images {
		if ids[i] != img.ID {
			return fmt.Errorf("image %s is %s on the node, want %s (built here)", img.Tag, ids[i], img.ID)
		}
	}
	return nil
}
