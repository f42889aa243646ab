package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// A registry's refusal names the driver options to fix; other failures pass unchanged.
func TestPrepullNamesTheRegistryOptions(t *testing.T) {
	const url = "registry.example.com:5000"
	tests := []struct {
		name     string
		registry Registry
		answer   string // Docker's answer to every pull
		want     []string
		notWant  string
	}{
		{"wrong password", Registry{URL: url, Username: "u", Password: "wrong-s3cret"},
			"unauthorized: authentication required",
			[]string{"private-registry-username", "private-registry-password", url, "node-1", url + "/rancher/rke-tools"}, "wrong-s3cret"},
		{"unknown CA", Registry{URL: url},
			"tls: failed to verify certificate: x509: certificate signed by unknown authority",
			[]string{"private-registry-ca-cert", "node-1", "unknown authority"}, "private-registry-password"},
		{"no registry", Registry{},
			"unauthorized: authentication required",
			[]string{"node-1", "rancher/rke-tools", "unauthorized"}, "private-registry"},
		{"other failure", Registry{URL: url},
			"manifest unknown",
			[]string{"node-1", "manifest unknown"}, "private-registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/json") {
					http.Error(w, `{"message":"No such image"}`, http.StatusNotFound)
					return
				}
				http.Error(w, fmt.Sprintf(`{"message":%q}`, tt.answer), http.StatusInternalServerError)
			}))
			defer srv.Close()
			dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
			}
			spec := Spec{Registry: tt.registry}
			err := prepull(context.Background(), spec, "node-1", []string{rke.RoleWorker}, dial)
			var pe *docker.PullError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is no pull error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error contains %q:\n%v", tt.notWant, err)
			}
		})
	}
}
