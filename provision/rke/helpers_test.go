package rke

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/rancher/rke/log"
	"github.com/rancher/rke/metadata"
)

// metadataLoadedAtStart records whether anything parsed RKE's metadata before the tests ran:
// package initialisation must not, the binary starts for every Rancher call.
var metadataLoadedAtStart bool

func TestMain(m *testing.M) {
	metadataLoadedAtStart = metadata.K8sVersionToRKESystemImages != nil
	os.Exit(m.Run())
}

// testLogger sends RKE's progress to the test log.
type testLogger struct{ t testing.TB }

func (l testLogger) Debugf(msg string, args ...interface{}) {}
func (l testLogger) Infof(msg string, args ...interface{})  { l.t.Logf(msg, args...) }
func (l testLogger) Warnf(msg string, args ...interface{})  { l.t.Logf("WARN "+msg, args...) }

func testContext(t testing.TB) context.Context {
	return log.SetLogger(context.Background(), testLogger{t})
}

// testKey is a throwaway SSH private key in the PEM form the driver generates.
// layout builds nodes named by pool, addressed 192.168.10.x in order.
func layout(pools ...pool) []Node {
	var nodes []Node
	for _, p := range pools {
		for i := range p.count {
			nodes = append(nodes, Node{
				Name:    fmt.Sprintf("%s-%d", p.name, i+1),
				Address: fmt.Sprintf("192.168.10.%d", len(nodes)+10),
				User:    "rancher",
				Roles:   p.roles,
			})
		}
	}
	return nodes
}

type pool struct {
	name  string
	count int
	roles []string
}

var (
	allRoles   = []string{RoleEtcd, RoleControlPlane, RoleWorker}
	etcdAndCP  = []string{RoleEtcd, RoleControlPlane}
	workerOnly = []string{RoleWorker}
)
