package rkeimages

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	set := &Set{Images: []Image{{Tag: ToolsTag, ID: "sha256:aa"}, {Tag: PauseTag, ID: "sha256:bb"}}}
	inspect := []string{"docker", "image", "inspect", "--format", "{{.Id}}", ToolsTag, PauseTag}
	tests := []struct {
		name     string
		loadErr  error
		inspect  string
		wantErr  string
		wantRuns [][]string
	}{
		{name: "loaded", inspect: "sha256:aa\nsha256:bb\n", wantRuns: [][]string{{"docker", "load", "--quiet", "--input", "/images.tar"}, inspect}},
		{name: "load fails", loadErr: errors.New("no space left on device"), wantErr: "load images from /images.tar: no space left on device",
			wantRuns: [][]string{{"docker", "load", "--quiet", "--input", "/images.tar"}}},
		{name: "another image under a tag", inspect: "sha256:aa\nsha256:cc\n", wantErr: "image rancher/mirrored-pause:3.7 is sha256:cc on the node, want sha256:bb"},
		{name: "missing image", inspect: "sha256:aa\n", wantErr: "docker printed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs [][]string
			run := func(_ context.Context, argv ...string) ([]byte, error) {
				runs = append(runs, argv)
				if argv[1] == "load" {
					return nil, tc.loadErr
				}
				return []byte(tc.inspect), nil
			}
			err := set.Load(context.Background(), run, "/images.tar")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.wantRuns != nil && !reflect.DeepEqual(runs, tc.wantRuns) {
				t.Errorf("ran %q, want %q", runs, tc.wantRuns)
			}
		})
	}
}
