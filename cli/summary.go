package cli

import (
	"fmt"
	"strings"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// nodesOf are the nodes in info's driver state; none when it has no state yet.
func nodesOf(info *types.ClusterInfo) []provision.Node {
	v, err := driver.Inspect(info)
	if err != nil {
		return nil
	}
	return v.Nodes()
}

// summary ends a create or update with one paragraph: where the cluster stands and what to do next.
func (a *App) summary(p *progress, rec *record, what string, err error) {
	nodes := nodesOf(rec.info())
	took := clock(p.elapsed())
	if err == nil {
		switch what {
		case "create":
			p.printf("Cluster %s is up in %s: %d nodes, Kubernetes %s at %s.\nUse it with: %s kubeconfig %s -o %s.kubeconfig",
				rec.Name, took, len(nodes), rec.Version, rec.Endpoint, binaryName, rec.Name, rec.Name)
		default:
			p.printf("Cluster %s: %s done in %s: %d nodes (%s).", rec.Name, what, took, len(nodes), phaseCounts(nodes))
		}
		return
	}
	p.printf("Cluster %s: %s stopped at the %s step after %s; nodes: %s.", rec.Name, what, stoppedAt(nodes), took, phaseCounts(nodes))
	if what == "create" {
		p.printf("Run '%s create %s' again to resume it, or '%s rm %s' to remove it.", binaryName, rec.Name, binaryName, rec.Name)
	} else {
		p.printf("Run the same command again to retry; '%s inspect %s' shows the nodes.", binaryName, rec.Name)
	}
}

// stoppedAt names the step the least advanced node was at.
func stoppedAt(nodes []provision.Node) string {
	if len(nodes) == 0 {
		return "pre-flight"
	}
	least := len(phases) - 1
	for _, n := range nodes {
		least = min(least, phaseIndex(n.Phase))
	}
	if least+1 < len(phases) {
		return phases[least+1].name
	}
	return phases[least].name
}

// phaseCounts says how many nodes reached each phase: "3 at Docker", "2 at SSH, 1 at address".
func phaseCounts(nodes []provision.Node) string {
	if len(nodes) == 0 {
		return "none"
	}
	counts := make([]int, len(phases))
	for _, n := range nodes {
		if i := phaseIndex(n.Phase); i >= 0 {
			counts[i]++
		}
	}
	var parts []string
	for i := len(phases) - 1; i >= 0; i-- {
		if counts[i] > 0 {
			parts = append(parts, fmt.Sprintf("%d at %s", counts[i], phases[i].name))
		}
	}
	return strings.Join(parts, ", ")
}
