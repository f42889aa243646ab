package harvester

import (
	"context"
	"errors"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
)

func anchorSecret(l map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "demo-ssh", Namespace: "vms", Labels: l},
		Data: map[string][]byte{"seed": []byte("existing")}}
}

// newID stands for "a freshly made id" in the tables below.
const newID = "<new>"

func TestLoadOrCreateAnchor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing *corev1.Secret
		stateID  string // owner.ID: the id the state knows, if any
		wantID   string // newID: a new one
		wantData string
		wantGen  int      // calls of generate
		err      []string // parts of the error; the anchor is then left as it was
	}{
		{name: "first create: a new id", wantID: newID, wantData: "generated", wantGen: 1},
		{name: "first create killed after the state kept the id: the state's id", stateID: "id-abc12", wantID: "id-abc12", wantData: "generated", wantGen: 1},
		{name: "anchor with the state's id", existing: anchorSecret(testOwner.labels()), stateID: "id-abc12", wantID: "id-abc12", wantData: "existing"},
		{name: "anchor with an id, state lost: the anchor's id", existing: anchorSecret(testOwner.labels()), wantID: "id-abc12", wantData: "existing"},
		{name: "legacy anchor without id: labelled with a new id", existing: anchorSecret(legacyLabels("c-abc12")), wantID: newID, wantData: "existing"},
		{name: "legacy anchor without id: labelled with the state's id", existing: anchorSecret(legacyLabels("c-abc12")), stateID: "id-abc12", wantID: "id-abc12", wantData: "existing"},
		{name: "anchor of a cluster of the same name with another id: refused", existing: anchorSecret(twinOwner.labels()), stateID: "id-abc12",
			err: []string{"anchor secret vms/demo-ssh belongs to another cluster named c-abc12 (id id-twin; this cluster's id is id-abc12)", "choose another vm-name-prefix"}},
		{name: "anchor of a cluster of another name: refused", existing: anchorSecret(otherOwner.labels()),
			err: []string{`anchor secret vms/demo-ssh belongs to cluster "c-other", not "c-abc12"`, "choose another vm-name-prefix"}},
		{name: "anchor of nobody: refused", existing: anchorSecret(nil), stateID: "id-abc12",
			err: []string{`anchor secret vms/demo-ssh belongs to cluster "", not "c-abc12"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.existing != nil {
				objs = append(objs, tc.existing.DeepCopy())
			}
			f := newFakes(t, nil, objs...)
			gens := 0
			gen := func() (map[string][]byte, error) {
				gens++
				return map[string][]byte{"seed": []byte("generated")}, nil
			}
			owner := Owner{Name: "c-abc12", ID: tc.stateID}
			data, id, err := f.LoadOrCreateAnchor(context.Background(), "vms", "demo", owner, gen)
			s, getErr := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-ssh", metav1.GetOptions{})
			if tc.err != nil {
				wantAll(t, err, tc.err...)
				if data != nil || id != "" {
					t.Errorf("refused anchor still returned data %v, id %q", data, id)
				}
				if getErr != nil || !reflect.DeepEqual(s.Labels, tc.existing.Labels) || string(s.Data["seed"]) != "existing" {
					t.Errorf("the refused anchor was changed: %+v, %v", s, getErr)
				}
				if gens != 0 {
					t.Errorf("generate called %d times for a refused anchor", gens)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID == newID {
				if errs := validation.IsValidLabelValue(id); id == "" || len(errs) > 0 || id == tc.stateID {
					t.Errorf("id %q, want a new label value", id)
				}
			} else if id != tc.wantID {
				t.Errorf("id = %q, want %q", id, tc.wantID)
			}
			if string(data["seed"]) != tc.wantData || gens != tc.wantGen {
				t.Errorf("data %q after %d generations, want %q after %d", data["seed"], gens, tc.wantData, tc.wantGen)
			}
			if getErr != nil || s.Labels[LabelCluster] != "c-abc12" || s.Labels[LabelClusterID] != id {
				t.Fatalf("anchor %+v, %v; want vms/demo-ssh labelled with the cluster's name and id %s", s, getErr, id)
			}

			// Repeated, with the id now known or still not: the same data and id, nothing generated.
			for _, known := range []string{"", id} {
				again, againID, err := f.LoadOrCreateAnchor(context.Background(), "vms", "demo", Owner{Name: "c-abc12", ID: known}, gen)
				if err != nil || againID != id || !reflect.DeepEqual(again, data) || gens != tc.wantGen {
					t.Errorf("again with id %q: %q, %v, %v after %d generations; want %s and the same data", known, againID, again, err, gens, id)
				}
			}
		})
	}
}

// A failed generation creates nothing: the next call tries again.
func TestLoadOrCreateAnchorGenerateFails(t *testing.T) {
	f := newFakes(t, nil)
	_, _, err := f.LoadOrCreateAnchor(context.Background(), "vms", "demo", Owner{Name: "c-abc12"}, func() (map[string][]byte, error) {
		return nil, errors.New("no entropy")
	})
	wantAll(t, err, "generate anchor secret data for cluster c-abc12", "no entropy")
	if got := f.secretNames(t, "vms"); len(got) != 0 {
		t.Errorf("secrets %v after a failed generation", got)
	}
}

// ClusterID finds the id of a cluster to remove without its state.
func TestClusterID(t *testing.T) {
	for _, tc := range []struct {
		name       string
		existing   *corev1.Secret
		wantID     string
		wantLabels map[string]string // the anchor's labels afterwards; nil: no anchor
	}{
		{name: "no anchor: a new id, nothing stored", wantID: newID},
		{name: "anchor with an id", existing: anchorSecret(testOwner.labels()), wantID: "id-abc12", wantLabels: testOwner.labels()},
		{name: "legacy anchor: a new id, stored on it", existing: anchorSecret(legacyLabels("c-abc12")), wantID: newID,
			wantLabels: map[string]string{LabelCluster: "c-abc12", LabelClusterID: newID}},
		{name: "another cluster's anchor: a new id, the anchor untouched", existing: anchorSecret(otherOwner.labels()), wantID: newID,
			wantLabels: otherOwner.labels()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.existing != nil {
				objs = append(objs, tc.existing.DeepCopy())
			}
			f := newFakes(t, nil, objs...)
			id, err := f.ClusterID(context.Background(), "vms", "demo", "c-abc12")
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID == newID {
				if errs := validation.IsValidLabelValue(id); id == "" || len(errs) > 0 || id == "id-abc12" || id == "id-other" {
					t.Errorf("id %q, want a new label value", id)
				}
			} else if id != tc.wantID {
				t.Errorf("id = %q, want %q", id, tc.wantID)
			}
			s, err := f.core.CoreV1().Secrets("vms").Get(context.Background(), "demo-ssh", metav1.GetOptions{})
			if tc.wantLabels == nil {
				if err == nil {
					t.Errorf("an anchor was made: %+v", s)
				}
				return
			}
			want := map[string]string{}
			for k, v := range tc.wantLabels {
				if v == newID {
					v = id
				}
				want[k] = v
			}
			if err != nil || !reflect.DeepEqual(s.Labels, want) {
				t.Errorf("anchor labels %v (%v), want %v", s.Labels, err, want)
			}
		})
	}
}
