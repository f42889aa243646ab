package cli

import (
	"os"
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	s := store{dir: t.TempDir()}
	r := &record{Name: "c1", DriverName: "harvesterrke", Status: statusCreating, Metadata: map[string]string{"state": "x"}}
	for i := 0; i < 3; i++ {
		if err := s.put(r); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(s.clusterDir("c1"))
	if len(entries) != 1 || entries[0].Name() != "config.json" {
		t.Errorf("files after writes: %v, want only config.json (no temp files)", entries)
	}
	got, err := s.get("c1")
	if err != nil || got.Metadata["state"] != "x" || got.UpdatedAt.IsZero() {
		t.Errorf("get: %+v %v", got, err)
	}

	unlock, err := s.lock("c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.lock("c1"); err == nil || !strings.Contains(err.Error(), "cluster c1 is busy") {
		t.Errorf("second lock: %v", err)
	}
	unlock()
	unlock, err = s.lock("c1")
	if err != nil {
		t.Errorf("lock after unlock: %v", err)
	} else {
		unlock()
	}

	// A corrupt record is reported with its path, and ls still lists the others.
	os.WriteFile(s.path("c1"), []byte("{"), 0o600)
	if err := s.put(&record{Name: "c2"}); err != nil {
		t.Fatal(err)
	}
	recs, errs := s.list()
	if len(recs) != 1 || recs[0].Name != "c2" || len(errs) != 1 || !strings.Contains(errs[0].Error(), s.path("c1")) {
		t.Errorf("list: %v %v", recs, errs)
	}
}

// A second command on a cluster that another one is changing is refused, not interleaved.
func TestBusyCluster(t *testing.T) {
	h := newHarness(t)
	h.ok("create", "demo")
	unlock, err := store{dir: h.home}.lock("demo")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, args := range [][]string{{"update", "demo"}, {"rm", "demo"}, {"set-cluster-size", "demo", "4"}} {
		if code, _, errOut := h.run(args...); code != 1 || !strings.Contains(errOut, "is busy") {
			t.Errorf("%v while locked: %d %q", args, code, errOut)
		}
	}
	h.ok("inspect", "demo") // reading needs no lock
}
