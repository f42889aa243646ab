package registry

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Pull is one manifest the registry served: an image pulled by tag or by digest.
type Pull struct {
	Repository string // "rancher/rke-tools"
	Reference  string // the tag or the digest asked for: "v0.1.114", "sha256:..."
	User       string // who was authenticated
}

// request is one request the registry answered, from the lines its JSON log has about it.
type request struct {
	ID         string `json:"http.request.id"`
	Msg        string `json:"msg"`
	Method     string `json:"http.request.method"`
	URI        string `json:"http.request.uri"`
	Status     int    `json:"http.response.status"`
	Repository string `json:"vars.name"`
	Reference  string `json:"vars.reference"`
	User       string `json:"auth.user.name"`
}

// Pulls lists the manifests served since the registry started, in order: every image a client
// pulled from it, with the user. HEAD requests (does it exist?) are not pulls. Docker pulls a tag by
// asking for its digest with a HEAD, then getting the manifest by digest: its pulls have the digest
// as Reference, which `docker images --digests` shows on the node.
func (r *Registry) Pulls() ([]Pull, error) {
	reqs, err := r.requests()
	if err != nil {
		return nil, err
	}
	var pulls []Pull
	for _, q := range reqs {
		if q.Method == http.MethodGet && q.Status == http.StatusOK && q.Reference != "" && strings.Contains(q.URI, "/manifests/") {
			pulls = append(pulls, Pull{Repository: q.Repository, Reference: q.Reference, User: q.User})
		}
	}
	return pulls, nil
}

// requests reads the completed requests from the registry's log, in the order they completed.
// No one line says it all: "response completed" has the status but, on success, neither the
// user nor the route's variables, which the request's debug lines carry; the request ID joins
// them.
func (r *Registry) requests() ([]request, error) {
	path := filepath.Join(r.dir, logFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read registry log: %w", err)
	}
	defer f.Close()
	byID := map[string]*request{}
	var done []*request
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20) // a line lists the request's fields: a few hundred bytes
	for sc.Scan() {
		var line request
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.ID == "" {
			continue // start-up messages, and anything that is not the registry's JSON
		}
		q, ok := byID[line.ID]
		if !ok {
			q = &request{ID: line.ID}
			byID[line.ID] = q
		}
		q.Method, q.URI = line.Method, line.URI
		for _, f := range []struct {
			dst *string
			src string
		}{
			{&q.Repository, line.Repository}, {&q.Reference, line.Reference}, {&q.User, line.User},
		} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
		// "response completed with error" ends a request too.
		if strings.HasPrefix(line.Msg, "response completed") {
			q.Status = line.Status
			done = append(done, q)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read registry log %s: %w", path, err)
	}
	reqs := make([]request, len(done))
	for i, q := range done {
		reqs[i] = *q
	}
	return reqs, nil
}
