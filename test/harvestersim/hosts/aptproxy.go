package hosts

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// aptProxy is the HTTP proxy fake hosts use for apt: it forwards plain-HTTP GET and HEAD requests to
// the allow-listed Debian mirror and refuses everything else (other hosts, CONNECT, other ports), so a
// host can install distro packages and reach nothing else.
type aptProxy struct {
	allowed   map[string]bool
	transport *http.Transport
	logf      func(string, ...any)
}

func newAptProxy(mirrors []string, logf func(string, ...any)) *aptProxy {
	p := &aptProxy{allowed: map[string]bool{}, logf: logf}
	for _, m := range mirrors {
		p.allowed[m] = true
	}
	p.transport = &http.Transport{
		Proxy:                 nil, // straight to the mirror, as the machine's own apt does
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
		ResponseHeaderTimeout: time.Minute,
		MaxIdleConnsPerHost:   4,
		DisableCompression:    true, // pass the mirror's bytes through unchanged
	}
	return p
}

func (p *aptProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := r.URL
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !u.IsAbs() || u.Scheme != "http" ||
		(u.Port() != "" && u.Port() != "80") || !p.allowed[u.Hostname()] {
		p.logf("harvestersim: apt proxy refused %s %s", r.Method, u.Redacted())
		http.Error(w, "harvestersim: only the Debian mirror is reachable from fake hosts", http.StatusForbidden)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for k, v := range r.Header {
		switch k {
		case "Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive":
		default:
			out.Header[k] = v
		}
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// aptProxyAddr is where a slot's apt proxy listens.
func aptProxyAddr(slot int) string { return MachineServiceAddr(slot, 3142) }

// MachineServiceAddr is host:port of a service of the machine that the slot's hosts reach: the
// machine's address on their switch. Each slot has its own address, so stand-ins never share one.
func MachineServiceAddr(slot, port int) string {
	return net.JoinHostPort(machineAddr(slot).String(), strconv.Itoa(port))
}

// serve listens on addr until the returned server is closed.
func (p *aptProxy) serve(ctx context.Context, addr string) (*http.Server, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, nil
}
