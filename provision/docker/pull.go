package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// apiVersion is the Docker API the pulls speak: RKE's, which every engine it accepts serves.
const apiVersion = "1.24"

// Dial connects to a node's Docker socket (the driver tunnels it over SSH).
type Dial func(ctx context.Context, network, addr string) (net.Conn, error)

// Registry is a private registry images are pulled from, with its credentials.
type Registry struct {
	URL      string // host[:port]; images under it are pulled with the credentials
	Username string // empty: anonymous pulls
	Password string
}

// PullOptions tune Pull.
type PullOptions struct {
	Concurrency int // images pulled at once; zero means 3
	Registry    Registry
}

// PullResult counts a node's images.
type PullResult struct {
	Present int // already on the node
	Pulled  int
}

// Errors a pull's failure may wrap, for the caller to name the setting to fix.
var (
	ErrRegistryAuth = errors.New("the registry refused the credentials")
	ErrRegistryCA   = errors.New("the registry's certificate is signed by an authority Docker does not trust")
)

// PullError is the failure of one image on one node, with the registry's (or Docker's) answer.
type PullError struct {
	Node  string
	Image string
	Err   error
	kind  error // ErrRegistryAuth, ErrRegistryCA or nil
}

func (e *PullError) Error() string {
	return fmt.Sprintf("pull %s on node %s: %v", e.Image, e.Node, e.Err)
}

func (e *PullError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.kind}
}

// Pull makes sure every image is on the node: it inspects each one and pulls those missing,
// opts.Concurrency at a time. It returns the counts and every image's failure joined (each a
// *PullError).
func Pull(ctx context.Context, node string, dial Dial, images []string, opts PullOptions) (PullResult, error) {
	c, err := client.NewClientWithOpts(
		client.WithHost("http://docker"), // the dialer decides where; the name is only the request's Host
		client.WithDialContext(dial),
		client.WithVersion(apiVersion),
	)
	if err != nil {
		return PullResult{}, fmt.Errorf("docker client for node %s: %w", node, err)
	}
	defer c.Close()
	limit := opts.Concurrency
	if limit <= 0 {
		limit = 3
	}
	var (
		mu  sync.Mutex
		res PullResult
	)
	errs := forEach(ctx, len(images), limit, func(i int) error {
		pulled, err := ensureImage(ctx, c, images[i], opts.Registry)
		if err != nil {
			return &PullError{Node: node, Image: images[i], Err: err, kind: classify(err)}
		}
		mu.Lock()
		defer mu.Unlock()
		if pulled {
			res.Pulled++
		} else {
			res.Present++
		}
		return nil
	}, func(i int, err error) error { return &PullError{Node: node, Image: images[i], Err: err} })
	return res, errors.Join(errs...)
}

// ensureImage pulls img unless the node has it; it reports whether it pulled.
func ensureImage(ctx context.Context, c *client.Client, img string, reg Registry) (bool, error) {
	_, _, err := c.ImageInspectWithRaw(ctx, img)
	if err == nil {
		return false, nil
	}
	if !client.IsErrNotFound(err) {
		return false, fmt.Errorf("inspect: %w", err)
	}
	auth, err := registryAuth(img, reg)
	if err != nil {
		return false, err
	}
	body, err := c.ImagePull(ctx, img, types.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return false, err
	}
	defer body.Close()
	return true, readProgress(body)
}

// registryAuth is the X-Registry-Auth value for img: the registry's credentials for its own
// images only, so they never go to another registry.
func registryAuth(img string, reg Registry) (string, error) {
	if reg.URL == "" || reg.Username == "" || !strings.HasPrefix(img, reg.URL+"/") {
		return "", nil
	}
	b, err := json.Marshal(types.AuthConfig{Username: reg.Username, Password: reg.Password, ServerAddress: reg.URL})
	if err != nil {
		return "", fmt.Errorf("encode registry credentials: %w", err)
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// progressMessage is the part of a line of Docker's pull progress that says it failed.
type progressMessage struct {
	Detail  *progressError `json:"errorDetail"`
	Message string         `json:"error"` // older engines
}

// progressError is a failure in the progress, with the registry's HTTP status when it gave one.
type progressError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *progressError) Error() string { return e.Message }

// readProgress reads a pull's progress to its end: Docker answers 200 first and reports a failure
// later in the stream.
func readProgress(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m progressMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read pull progress: %w", err)
		}
		if m.Detail != nil {
			return m.Detail
		}
		if m.Message != "" {
			return errors.New(m.Message)
		}
	}
}

// classify recognises the failures a registry setting causes from the answer's text, which is
// all Docker passes on of the registry's.
func classify(err error) error {
	msg := strings.ToLower(err.Error())
	var pe *progressError
	switch {
	case errdefs.IsUnauthorized(err), errors.As(err, &pe) && pe.Code == http.StatusUnauthorized,
		strings.Contains(msg, "unauthorized"), strings.Contains(msg, "authentication required"),
		strings.Contains(msg, "no basic auth credentials"):
		return ErrRegistryAuth
	case strings.Contains(msg, "unknown authority"):
		return ErrRegistryCA
	}
	return nil
}
