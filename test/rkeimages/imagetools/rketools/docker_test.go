package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEngine serves /info on a Unix socket as dockerd does and points DOCKER_HOST at it.
func fakeEngine(t *testing.T, status int, body string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/info" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+sock)
}

func TestDockerInfo(t *testing.T) {
	const info = `{"DockerRootDir":"/data/docker","CgroupDriver":"cgroupfs","CgroupVersion":"1","Driver":"overlay2"}`
	tests := []struct {
		name    string
		status  int
		args    []string
		want    string
		wantErr string
	}{
		{name: "format", status: 200, args: []string{"info", "--format", "{{.DockerRootDir}}"}, want: "/data/docker\n"},
		{name: "short flag, Info prefix", status: 200, args: []string{"info", "-f", "{{.Info.CgroupDriver}} v{{.CgroupVersion}}"}, want: "cgroupfs v1\n"},
		{name: "json", status: 200, args: []string{"info", "--format={{json .Driver}}"}, want: "\"overlay2\"\n"},
		{name: "other command", status: 200, args: []string{"ps"}, wantErr: "only `docker info --format TEMPLATE`"},
		{name: "no format", status: 200, args: []string{"info"}, wantErr: "--format is required"},
		{name: "daemon error", status: 500, args: []string{"info", "-f", "{{.Driver}}"}, wantErr: "500 Internal Server Error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakeEngine(t, tc.status, info)
			var out bytes.Buffer
			err := dockerCommand(context.Background(), tc.args, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}
