package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/template"
	"time"
)

// dockerCommand implements `docker info --format TEMPLATE` against the Engine API, which is all the
// component entrypoint asks of Docker: a full CLI would add 45 MB to the image.
func dockerCommand(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "info" {
		return fmt.Errorf("only `docker info --format TEMPLATE` is supported, got %q", args)
	}
	fs := flag.NewFlagSet("docker info", flag.ContinueOnError)
	var format string
	fs.StringVar(&format, "format", "", "Go template over the daemon's /info")
	fs.StringVar(&format, "f", "", "shorthand for --format")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if format == "" {
		return fmt.Errorf("docker info: --format is required")
	}
	tmpl, err := template.New("format").Funcs(template.FuncMap{"json": toJSON}).Parse(format)
	if err != nil {
		return fmt.Errorf("docker info: template: %w", err)
	}
	info, err := engineInfo(ctx, dockerSocket())
	if err != nil {
		return err
	}
	// The real CLI accepts both {{.DockerRootDir}} and {{.Info.DockerRootDir}}.
	data := map[string]any{"Info": info}
	for k, v := range info {
		data[k] = v
	}
	if err := tmpl.Execute(out, data); err != nil {
		return fmt.Errorf("docker info: template: %w", err)
	}
	_, err = fmt.Fprintln(out)
	return err
}

// dockerSocket is the daemon's socket: DOCKER_HOST when it names a Unix socket, else the default.
func dockerSocket() string {
	if h, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok {
		return h
	}
	return "/var/run/docker.sock"
}

func engineInfo(ctx context.Context, socket string) (map[string]any, error) {
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/info", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("docker info: ask the daemon at %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("docker info: daemon at %s: %s: %s", socket, resp.Status, strings.TrimSpace(string(body)))
	}
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return nil, fmt.Errorf("docker info: decode the daemon's answer: %w", err)
	}
	return info, nil
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
