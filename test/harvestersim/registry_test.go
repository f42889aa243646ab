package harvestersim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim"
)

// With Options.Registry a host ready for RKE boots with an empty Docker storage, and its Docker,
// trusting the registry's CA, reaches the registry over TLS and is asked for credentials. Pulls with
// them are proven end to end (test/e2e, TestPrivateRegistryOnStandIn); here no password is put on a
// host's command line, which an error would print.
func TestRegistry(t *testing.T) {
	s := harvestersim.Start(t, harvestersim.Options{Registry: true})
	e := newEnv(t, s)
	reg := s.Registry
	if reg == nil || reg.URL == "" || len(reg.CACert) == 0 || reg.Username == "" || reg.Password == "" {
		t.Fatalf("Sim.Registry: %v", reg)
	}
	if strings.Contains(reg.String(), reg.Password) {
		t.Error("Registry.String shows the password")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e.createVM(ctx, t, debian12("reg", "", simpleUserData(newKeys(t))))
	e.waitVMI(ctx, t, "reg", running)
	exec := func(argv ...string) string {
		t.Helper()
		out, err := s.Exec(ctx, "default/reg", argv...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}

	if got := exec("sh", "-c", "ls -A /var/lib/docker"); got != "" {
		t.Errorf("the host's Docker storage before dockerd starts: %q, want empty", got)
	}
	certs := "/etc/docker/certs.d/" + reg.URL
	exec("sh", "-c", `mkdir -p "$1" && printf %s "$2" >"$1/ca.crt"`, "sh", certs, string(reg.CACert))
	exec("sh", "-c", "setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &")
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		if _, err := s.Exec(ctx, "default/reg", "docker", "info"); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("dockerd never answered")
		case <-time.After(delay):
		}
	}
	_, err := s.Exec(ctx, "default/reg", "docker", "pull", reg.URL+"/rancher/mirrored-pause:3.7")
	if err == nil || !strings.Contains(err.Error(), "no basic auth credentials") {
		t.Errorf("pull without credentials: %v, want the registry to ask for them", err)
	}
	if pulls, err := reg.Pulls(); err != nil || len(pulls) != 0 {
		t.Errorf("pulls: %v %v, want none", pulls, err)
	}
}
