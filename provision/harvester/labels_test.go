package harvester

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNodeIndex(t *testing.T) {
	for _, tc := range []struct {
		name, pool string
		want       int
		ok         bool
	}{
		{"demo-worker-1", "worker", 1, true},
		{"demo-worker-12", "worker", 12, true},
		{"my-demo-control-plane-3", "control-plane", 3, true},
		{"demo-worker-0", "worker", 0, false},
		{"demo-worker-01", "worker", 0, false},
		{"demo-worker-x", "worker", 0, false},
		{"demo-worker", "worker", 0, false},
		{"demo-cp-1", "worker", 0, false},
		{"demo-xworker-1", "worker", 0, false},
		{"worker-1", "worker", 0, false},
	} {
		n, ok := NodeIndex(tc.name, tc.pool)
		if n != tc.want || ok != tc.ok {
			t.Errorf("NodeIndex(%q, %q) = %d, %v; want %d, %v", tc.name, tc.pool, n, ok, tc.want, tc.ok)
		}
	}
}

func TestNames(t *testing.T) {
	for got, want := range map[string]string{
		VMName("demo", "worker", 3):          "demo-worker-3",
		CloudInitSecretName("demo-worker-3"): "demo-worker-3-cloudinit",
		RootDiskPVCName("demo-worker-3"):     "demo-worker-3-disk-0",
		AnchorSecretName("demo"):             "demo-ssh",
		testOwner.selector():                 "harvesterrke.io/cluster-id=id-abc12",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestOwnerLabels(t *testing.T) {
	if got, want := testOwner.labels(), map[string]string{LabelCluster: "c-abc12", LabelClusterID: "id-abc12"}; !reflect.DeepEqual(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	// The selector picks by id alone: a cluster of the same name with another id is not selected,
	// an object made before ids (name only) neither (AdoptLegacy labels those first).
	sel, err := labels.Parse(testOwner.selector())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"ours", testOwner.labels(), true},
		{"ours with more labels", map[string]string{LabelCluster: "c-abc12", LabelClusterID: "id-abc12", LabelPool: "cp"}, true},
		{"same name, another id", twinOwner.labels(), false},
		{"another cluster", otherOwner.labels(), false},
		{"legacy, name only", legacyLabels("c-abc12"), false},
		{"none", nil, false},
	} {
		if got := sel.Matches(labels.Set(tc.labels)); got != tc.want {
			t.Errorf("selector %s matches %s (%v): %v, want %v", sel, tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestOwnerOwns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"our id and name", testOwner.labels(), true},
		{"our id, another name (the cluster was renamed)", map[string]string{LabelCluster: "c-renamed", LabelClusterID: "id-abc12"}, true},
		{"our id alone", map[string]string{LabelClusterID: "id-abc12"}, true},
		{"legacy: our name, no id", legacyLabels("c-abc12"), true},
		{"legacy: our name, empty id", map[string]string{LabelCluster: "c-abc12", LabelClusterID: ""}, true},
		{"same name, another id", twinOwner.labels(), false},
		{"another cluster", otherOwner.labels(), false},
		{"legacy of another cluster", legacyLabels("c-other"), false},
		{"no labels", nil, false},
		{"other labels only", map[string]string{"team": "infra"}, false},
	} {
		if got := testOwner.owns(tc.labels); got != tc.want {
			t.Errorf("owns(%s %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestOwnerNotOwned(t *testing.T) {
	err := testOwner.notOwned("vm vms/demo-cp-1", twinOwner.labels())
	want := `vm vms/demo-cp-1 belongs to another cluster (harvesterrke.io/cluster="c-abc12", harvesterrke.io/cluster-id="id-twin"), not to cluster c-abc12 (id id-abc12)`
	if err == nil || err.Error() != want {
		t.Errorf("notOwned = %v, want %s", err, want)
	}
}

// An empty or invalid name or id would select objects of other clusters (or fail later): refused.
func TestOwnerCheck(t *testing.T) {
	for _, tc := range []struct {
		owner Owner
		err   string
	}{
		{owner: testOwner},
		{owner: Owner{Name: "c-abc12", ID: strings.Repeat("a", 63)}},
		{owner: Owner{ID: "id-abc12"}, err: `cluster name "" is not a label value`},
		{owner: Owner{Name: "c abc", ID: "id-abc12"}, err: `cluster name "c abc" is not a label value`},
		{owner: Owner{Name: "c-abc12"}, err: `cluster c-abc12: id "" is not a label value`},
		{owner: Owner{Name: "c-abc12", ID: "id,other"}, err: `cluster c-abc12: id "id,other" is not a label value`},
		{owner: Owner{Name: "c-abc12", ID: strings.Repeat("a", 64)}, err: "is not a label value"},
	} {
		err := tc.owner.check()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("check(%+v) = %v, want %q", tc.owner, err, tc.err)
		}
	}
}

func TestNewClusterID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id, err := NewClusterID()
		if err != nil {
			t.Fatal(err)
		}
		if errs := validation.IsValidLabelValue(id); len(errs) > 0 || len(id) != 20 || id != strings.ToLower(id) {
			t.Fatalf("id %q: %v, want 20 lower-case characters valid as a label value", id, errs)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
	}
}
