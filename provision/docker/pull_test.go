package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDocker speaks the few endpoints of Docker's API a pull uses.
type fakeDocker struct {
	present map[string]bool   // images the node has
	answers map[string]answer // how pulls of an image end; default success

	mu       sync.Mutex
	auth     map[string]string // image pulled → its X-Registry-Auth
	inFlight int
	maxIn    int
}

// answer is a failed pull: an HTTP status before any progress, or an error in the progress.
type answer struct {
	status  int
	message string
	code    int // errorDetail's code in the progress
}

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v"+apiVersion)
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json")
		if !f.present[name] {
			http.Error(w, `{"message":"No such image: `+name+`"}`, http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"Id":"sha256:1","RepoTags":[%q]}`, name)
	case r.Method == http.MethodPost && path == "/images/create":
		f.pull(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeDocker) pull(w http.ResponseWriter, r *http.Request) {
	img := r.URL.Query().Get("fromImage") + ":" + r.URL.Query().Get("tag")
	f.mu.Lock()
	f.auth[img] = r.Header.Get("X-Registry-Auth")
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	time.Sleep(50 * time.Millisecond) // lets the pulls overlap as much as they are allowed to
	a, failed := f.answers[img]
	if failed && a.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		fmt.Fprintf(w, `{"message":%q}`, a.message)
		return
	}
	fmt.Fprintf(w, `{"status":"Pulling from %s"}`+"\n", img)
	fmt.Fprintln(w, `{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"abc"}`)
	if failed {
		fmt.Fprintf(w, `{"errorDetail":{"code":%d,"message":%q},"error":%q}`+"\n", a.code, a.message, a.message)
		return
	}
	fmt.Fprintf(w, `{"status":"Status: Downloaded newer image for %s"}`+"\n", img)
}

// start serves f and returns a dialer that reaches it whatever address the client asks for.
func (f *fakeDocker) start(t *testing.T) Dial {
	t.Helper()
	if f.auth == nil {
		f.auth = map[string]string{}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	}
}

func TestPullSkipsPresentAndAuthenticatesOnlyAtTheRegistry(t *testing.T) {
	f := &fakeDocker{present: map[string]bool{"reg.example:5000/rancher/present:1": true}}
	images := []string{"reg.example:5000/rancher/present:1", "reg.example:5000/rancher/missing:1", "rancher/other:2"}
	reg := Registry{URL: "reg.example:5000", Username: "u", Password: "s3cret"}
	res, err := Pull(context.Background(), "node-1", f.start(t), images, PullOptions{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if res != (PullResult{Present: 1, Pulled: 2}) {
		t.Errorf("result = %+v, want 1 present and 2 pulled", res)
	}
	if _, pulled := f.auth["reg.example:5000/rancher/present:1"]; pulled {
		t.Error("a present image was pulled")
	}
	if a, pulled := f.auth["rancher/other:2"]; !pulled || a != "" {
		t.Errorf("an image of another registry: pulled %v, with credentials %q", pulled, a)
	}
	raw, err := base64.URLEncoding.DecodeString(f.auth["reg.example:5000/rancher/missing:1"])
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Username, Password, ServerAddress string }
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Username != "u" || got.Password != "s3cret" || got.ServerAddress != "reg.example:5000" {
		t.Errorf("registry auth = %+v", got)
	}
}

func TestPullErrors(t *testing.T) {
	const img = "reg.example/rancher/rke-tools:v1"
	tests := []struct {
		name   string
		answer answer
		kind   error
	}{
		{"HTTP 401", answer{status: http.StatusInternalServerError, message: "Head \"https://reg.example/v2/rancher/rke-tools/manifests/v1\": unauthorized: authentication required"}, ErrRegistryAuth},
		{"401 in the progress", answer{code: http.StatusUnauthorized, message: "denied: bad login"}, ErrRegistryAuth},
		{"unknown CA", answer{status: http.StatusInternalServerError, message: "Get \"https://reg.example/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"}, ErrRegistryCA},
		{"other failure", answer{message: "manifest for reg.example/rancher/rke-tools:v1 not found"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDocker{answers: map[string]answer{img: tt.answer}}
			_, err := Pull(context.Background(), "node-2", f.start(t), []string{img}, PullOptions{})
			var pe *PullError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is no *PullError", err)
			}
			for _, want := range []string{img, "node-2", tt.answer.message} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, kind := range []error{ErrRegistryAuth, ErrRegistryCA} {
				if got, want := errors.Is(err, kind), kind == tt.kind; got != want {
					t.Errorf("errors.Is(%v) = %v, want %v", kind, got, want)
				}
			}
		})
	}
}

func TestPullConcurrencyBound(t *testing.T) {
	f := &fakeDocker{}
	var images []string
	for i := range 8 {
		images = append(images, fmt.Sprintf("rancher/image%d:v1", i))
	}
	res, err := Pull(context.Background(), "node-3", f.start(t), images, PullOptions{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pulled != len(images) {
		t.Errorf("pulled %d, want %d", res.Pulled, len(images))
	}
	if f.maxIn != 3 {
		t.Errorf("%d pulls at once, want 3", f.maxIn)
	}
}
