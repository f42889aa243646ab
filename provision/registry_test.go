package provision

import (
	"reflect"
	"testing"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/docker"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision/rke"
)

// The private registry reaches RKE (URL and credentials) and Docker (URL and CA), each only with
// what it needs.
func TestRegistryReachesRKEAndDocker(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	nodes := []Node{{Name: "c-all-1", Pool: "all", Address: "10.0.0.1"}}
	for _, tc := range []struct {
		name       string
		registry   Registry
		wantRKE    rke.Registry
		wantDocker docker.RegistryCA
	}{
		{name: "none"},
		{
			name:       "credentials and CA",
			registry:   Registry{URL: "registry.example.com:5000", Username: "puller", Password: "s3cret", CACert: []byte(ca)},
			wantRKE:    rke.Registry{URL: "registry.example.com:5000", User: "puller", Password: "s3cret"},
			wantDocker: docker.RegistryCA{Host: "registry.example.com:5000", PEM: []byte(ca)},
		},
		{
			name:     "anonymous, publicly trusted",
			registry: Registry{URL: "registry.example.com"},
			wantRKE:  rke.Registry{URL: "registry.example.com"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{Pools: []Pool{{Name: "all", Count: 1, Roles: []string{rke.RoleEtcd, rke.RoleControlPlane, rke.RoleWorker}}},
				SSH: SSH{User: "ubuntu"}, Docker: docker.Config{InstallMethod: docker.InstallNone}, Registry: tc.registry}
			c, err := rkeConfig(spec, State{}, nodes)
			if err != nil {
				t.Fatal(err)
			}
			if c.Registry != tc.wantRKE {
				t.Errorf("RKE registry %v, want %v", c.Registry, tc.wantRKE)
			}
			if got := dockerConfig(spec).RegistryCA; !reflect.DeepEqual(got, tc.wantDocker) {
				t.Errorf("docker registry CA %+v, want %+v", got, tc.wantDocker)
			}
		})
	}
}
