package rke

import (
	"slices"
	"testing"
)

func TestEtcdMembers(t *testing.T) {
	etcdOnly := []string{RoleEtcd}
	cpOnly := []string{RoleControlPlane}
	tests := []struct {
		name  string
		files func(t *testing.T) Files
		want  []string
	}{
		{"no cluster yet", func(*testing.T) Files { return Files{} }, nil},
		{"no completed up", func(*testing.T) Files { return Files{State: []byte(`{"desiredState":{}}`)} }, nil},
		{"etcd with the control plane", func(t *testing.T) Files {
			return builtFiles(t, layout(pool{"cp", 1, etcdAndCP}, pool{"w", 2, workerOnly}))
		}, addresses(layout(pool{"cp", 1, etcdAndCP}))},
		{"three etcd of six nodes", func(t *testing.T) Files {
			return builtFiles(t, layout(pool{"etcd", 3, etcdOnly}, pool{"cp", 2, cpOnly}, pool{"w", 1, workerOnly}))
		}, addresses(layout(pool{"etcd", 3, etcdOnly}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EtcdMembers(tt.files(t))
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("EtcdMembers = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := EtcdMembers(Files{State: []byte("{not json")}); err == nil {
		t.Error("an unreadable state gave no error")
	}
}

func addresses(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Address)
	}
	return out
}
