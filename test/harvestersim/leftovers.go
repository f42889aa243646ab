package harvestersim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
)

// leftoverKinds are the kinds of objects searched for the label.
var leftoverKinds = []struct {
	kind string
	gvr  schema.GroupVersionResource
}{
	{"VirtualMachine", vmGVR},
	{"VirtualMachineInstance", vmiGVR},
	{"PersistentVolumeClaim", schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}},
	{"Secret", schema.GroupVersionResource{Version: "v1", Resource: "secrets"}},
	{"ConfigMap", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}},
	{"KeyPair", keyPairGVR},
}

// Leftovers lists, sorted, what exists of everything labelled with selector (e.g.
// "harvesterrke.io/cluster=c1"): objects carrying the label; the VMI, PVCs, owned Secrets and fake host
// of any VM that carried it (even after the VM is gone); network namespaces, switch ports, cgroups and
// mounts of this stand-in that no running host accounts for; and machine sysctls changed since the
// stand-in started. After a clean removal it is empty.
func (s *Sim) Leftovers(ctx context.Context, selector string) ([]string, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("leftovers: selector %q: %w", selector, err)
	}
	found := map[string]bool{}
	for _, k := range leftoverKinds {
		list, err := s.clients.dyn.Resource(k.gvr).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if apierrors.IsNotFound(err) {
			continue // KubernetesOnly: no such CRD
		} else if err != nil {
			return nil, fmt.Errorf("leftovers: list %s: %w", k.kind, err)
		}
		for _, o := range list.Items {
			found[k.kind+" "+o.GetNamespace()+"/"+o.GetName()] = true
		}
	}
	if s.ctrl != nil {
		for _, key := range s.ctrl.vmsLabelled(sel) {
			if err := s.vmLeftovers(ctx, key, found); err != nil {
				return nil, err
			}
		}
	}
	if err := s.machineLeftovers(ctx, found); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(found))
	for f := range found {
		out = append(out, f)
	}
	slices.Sort(out)
	return out, nil
}

// vmLeftovers adds what exists of a VM's own objects and host.
func (s *Sim) vmLeftovers(ctx context.Context, key string, found map[string]bool) error {
	ns, name, _ := strings.Cut(key, "/")
	if _, err := s.clients.dyn.Resource(vmiGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
		found["VirtualMachineInstance "+key] = true
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("leftovers: %w", err)
	}
	pvcs, err := s.clients.kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("leftovers: %w", err)
	}
	for _, p := range pvcs.Items {
		if strings.Contains(p.Annotations[annOwnedBy], `"`+key+`"`) {
			found["PersistentVolumeClaim "+ns+"/"+p.Name] = true
		}
	}
	secrets, err := s.clients.kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("leftovers: %w", err)
	}
	for _, sec := range secrets.Items {
		for _, o := range sec.OwnerReferences {
			if o.Kind == "VirtualMachine" && o.Name == name {
				found["Secret "+ns+"/"+sec.Name] = true
			}
		}
	}
	if st, ok := s.hosts.get(key); ok {
		where := st.ip
		if !s.hosts.noHosts {
			where = netnsName(s.slot.n, st.k) + ", " + st.ip
		}
		found[fmt.Sprintf("host %s (%s)", key, where)] = true
	}
	return nil
}

// machineLeftovers adds this stand-in's network namespaces, switch ports, cgroups and mounts that no
// host accounts for, and the machine's sysctls that differ from when it started.
func (s *Sim) machineLeftovers(ctx context.Context, found map[string]bool) error {
	if s.hosts == nil || s.hosts.noHosts {
		return nil
	}
	live := map[string]bool{switchNetns(s.slot.n): true}
	for _, k := range s.hosts.keys() {
		if st, ok := s.hosts.get(k); ok {
			live[netnsName(s.slot.n, st.k)] = true
			live[switchPort(st.k)] = true
			live[hostCgroup(s.slot.n, st.k)] = true
		}
	}
	names, err := netnsNames(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, netnsPrefix(s.slot.n)) && !live[n] {
			found["netns "+n] = true
		}
	}
	ports, err := switchPorts(ctx, s.slot.n)
	if err != nil {
		return err
	}
	for _, p := range ports {
		if !live[p] {
			found["switch port "+p] = true
		}
	}
	for _, c := range slotCgroups(s.slot.n) {
		if !live[c] {
			found["cgroup "+strings.Join(cgroupDirs(c), ", ")] = true
		}
	}
	if s.tunables != nil {
		changed, _, err := s.tunables.changed()
		if err != nil {
			return err
		}
		for _, c := range changed {
			found["sysctl "+c] = true
		}
	}
	mounts, err := diskcache.MountsUnder(s.slot.dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		found["mount "+m] = true
	}
	return nil
}

// WaitNoLeftovers waits until Leftovers(selector) is empty, re-checking on every change the stand-in
// observes (garbage collection and PVC protection finish shortly after a VM is gone).
func (s *Sim) WaitNoLeftovers(ctx context.Context, selector string) error {
	if s.ctrl == nil {
		return fmt.Errorf("wait for leftovers: the simulator is not running (KubernetesOnly)")
	}
	for {
		changed := s.ctrl.changes.next()
		left, err := s.Leftovers(ctx, selector)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("leftovers of %s: %s: %w", selector, strings.Join(left, "; "), ctx.Err())
		}
	}
}
