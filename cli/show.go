package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rancher/kontainer-engine/types"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/driver"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// clusterView is what inspect and ls show of a cluster. It never holds a secret: credentials,
// keys, tokens and the kubeconfig stay in the record (kubeconfig prints the latter on request).
type clusterView struct {
	Name      string    `json:"name"`
	Driver    string    `json:"driver"`
	Status    string    `json:"status"`
	LastError string    `json:"lastError,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// From PostCheck: the built cluster's API and the version it reports.
	Endpoint string `json:"endpoint,omitempty"`
	Version  string `json:"version,omitempty"`

	Harvester         string     `json:"harvester,omitempty"` // Harvester's API URL
	Namespace         string     `json:"namespace,omitempty"`
	Image             string     `json:"image,omitempty"`
	Network           string     `json:"network,omitempty"`
	CPUs              int        `json:"cpus,omitempty"`
	Memory            string     `json:"memory,omitempty"`
	DiskSize          string     `json:"diskSize,omitempty"`
	SSHUser           string     `json:"sshUser,omitempty"`
	HostKeys          string     `json:"hostKeys,omitempty"` // "derived" or "trust-on-first-use"
	KubernetesVersion string     `json:"kubernetesVersion,omitempty"`
	Pools             []poolView `json:"pools,omitempty"`
	Nodes             []nodeView `json:"nodes"`
	// Options are those the cluster was created or last updated with; secrets show as "(secret)".
	Options map[string]interface{} `json:"options,omitempty"`
}

type poolView struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Roles []string `json:"roles"`
}

type nodeView struct {
	Name    string `json:"name"`
	Pool    string `json:"pool"`
	Address string `json:"address,omitempty"`
	Phase   string `json:"phase,omitempty"`
}

// viewOf builds the view of a record. Without driver state yet (a create interrupted before its
// first step) the spec comes from the stored options, which parse without contacting anything.
func viewOf(rec *record) clusterView {
	cv := clusterView{Name: rec.Name, Driver: rec.DriverName, Status: rec.Status, LastError: rec.LastError,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, Endpoint: rec.Endpoint, Version: rec.Version,
		Nodes: []nodeView{}, Options: visibleOptions(rec.DriverOptions)}
	var spec provision.Spec
	if v, err := driver.Inspect(rec.info()); err == nil {
		spec = v.Spec()
		cv.Harvester = v.HarvesterServer()
		for _, n := range v.Nodes() {
			cv.Nodes = append(cv.Nodes, nodeView{Name: n.Name, Pool: n.Pool, Address: n.Address, Phase: string(n.Phase)})
		}
	} else if s, err := driver.ParseOptions(rec.DriverOptions); err == nil {
		spec = s
	}
	t := spec.Template
	cv.Namespace, cv.CPUs, cv.SSHUser = t.Namespace, t.CPUs, spec.SSH.User
	if !t.Image.IsZero() {
		cv.Image = t.Image.String()
	}
	if !t.Network.IsZero() {
		cv.Network = t.Network.String()
	}
	if !t.Memory.IsZero() {
		cv.Memory, cv.DiskSize = t.Memory.String(), t.DiskSize.String()
	}
	if spec.SSH.User != "" {
		cv.HostKeys = "derived"
		if spec.SSH.TrustOnFirstUse {
			cv.HostKeys = "trust-on-first-use"
		}
	}
	cv.KubernetesVersion = spec.Kubernetes.KubernetesVersion
	for _, p := range spec.Pools {
		cv.Pools = append(cv.Pools, poolView{Name: p.Name, Count: p.Count, Roles: p.Roles})
	}
	return cv
}

// visibleOptions are the stored options with every secret's value hidden.
func visibleOptions(opts *types.DriverOptions) map[string]interface{} {
	if opts == nil {
		return nil
	}
	secret := map[string]bool{}
	for _, o := range driver.Options() {
		secret[o.Name] = o.Secret
	}
	out := map[string]interface{}{}
	for k, v := range opts.StringOptions {
		if secret[k] && v != "" {
			out[k] = "(secret)"
		} else {
			out[k] = v
		}
	}
	for k, v := range opts.IntOptions {
		out[k] = v
	}
	for k, v := range opts.BoolOptions {
		out[k] = v
	}
	for k, v := range opts.StringSliceOptions {
		if v != nil {
			out[k] = v.Value
		}
	}
	return out
}

func (a *App) inspect(_ context.Context, args []string) error {
	fs, c := a.newFlagSet("inspect", false)
	output := fs.String("output", "text", "text or json")
	fs.StringVar(output, "o", "text", "the same as --output")
	pos, err := a.parse(fs, args, 1, 1, -1, nil)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	st, err := c.store()
	if err != nil {
		return err
	}
	if err := checkName(pos[0]); err != nil {
		return err
	}
	rec, err := st.get(pos[0])
	if err != nil {
		return err
	}
	cv := viewOf(rec)
	if *output == "json" {
		return writeJSON(a.Stdout, cv)
	}
	printView(a.Stdout, cv)
	return nil
}

func (a *App) list(_ context.Context, args []string) error {
	fs, c := a.newFlagSet("ls", false)
	output := fs.String("output", "text", "text or json")
	fs.StringVar(output, "o", "text", "the same as --output")
	if _, err := a.parse(fs, args, 0, 0, -1, nil); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	st, err := c.store()
	if err != nil {
		return err
	}
	recs, errs := st.list()
	views := make([]clusterView, len(recs))
	for i, r := range recs {
		views[i] = viewOf(r)
	}
	if *output == "json" {
		if err := writeJSON(a.Stdout, views); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tNODES\tKUBERNETES\tENDPOINT\tLAST ERROR")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Status, nodesText(v), dash(v.Version), dash(v.Endpoint), dash(shorten(oneLine(v.LastError), 60)))
		}
		tw.Flush()
	}
	return errors.Join(errs...)
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return fmt.Errorf("%w: --output must be text or json, got %q", errUsage, o)
	}
	return nil
}

func writeJSON(w io.Writer, v interface{}) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// nodesText is a node count with how far the nodes are, e.g. "3 (Docker)".
func nodesText(v clusterView) string {
	nodes := make([]provision.Node, len(v.Nodes))
	for i, n := range v.Nodes {
		nodes[i] = provision.Node{Phase: provision.Phase(n.Phase)}
	}
	if len(nodes) == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", len(nodes), phaseCounts(nodes))
}

func printView(w io.Writer, v clusterView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, val string) {
		if val != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, val)
		}
	}
	row("Name", v.Name)
	row("Driver", v.Driver)
	row("Status", v.Status)
	row("Last error", v.LastError)
	row("Created", v.CreatedAt.Local().Format(time.RFC3339))
	row("Updated", v.UpdatedAt.Local().Format(time.RFC3339))
	row("Endpoint", v.Endpoint)
	row("Kubernetes", paren(v.KubernetesVersion, "RKE's default"))
	row("API version", v.Version)
	row("Harvester", v.Harvester)
	row("Namespace", v.Namespace)
	row("Image", v.Image)
	row("Network", paren(v.Network, "pod network"))
	if v.CPUs > 0 {
		cpus := "CPUs"
		if v.CPUs == 1 {
			cpus = "CPU"
		}
		row("VM", fmt.Sprintf("%d %s, %s memory, %s disk", v.CPUs, cpus, v.Memory, v.DiskSize))
	}
	if v.SSHUser != "" {
		row("SSH", fmt.Sprintf("user %s, host keys %s", v.SSHUser, v.HostKeys))
	}
	var pools []string
	for _, p := range v.Pools {
		pools = append(pools, fmt.Sprintf("%s=%d:%s", p.Name, p.Count, strings.Join(p.Roles, "+")))
	}
	row("Pools", strings.Join(pools, "  "))
	tw.Flush()
	if len(v.Nodes) == 0 {
		return
	}
	fmt.Fprintln(w, "Nodes:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tPOOL\tADDRESS\tPHASE")
	for _, n := range v.Nodes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", n.Name, n.Pool, dash(n.Address), dash(n.Phase))
	}
	tw.Flush()
}

// paren is s, or "(alt)" when s is empty.
func paren(s, alt string) string {
	if s == "" {
		return "(" + alt + ")"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// kubeconfig prints the built cluster's admin kubeconfig, or writes it to a file (mode 0600).
// It is the one command that shows a credential, because the user asks for exactly that.
func (a *App) kubeconfig(_ context.Context, args []string) error {
	fs, c := a.newFlagSet("kubeconfig", false)
	out := fs.String("o", "", "write the kubeconfig to this file (mode 0600) instead of printing it")
	pos, err := a.parse(fs, args, 1, 1, -1, nil)
	if err != nil {
		return err
	}
	v, rec, err := a.stateOf(c, pos[0])
	if err != nil {
		return err
	}
	kc := v.Kubeconfig()
	if len(kc) == 0 {
		return fmt.Errorf("cluster %s has no kubeconfig yet: Kubernetes has not come up (status %s)", rec.Name, rec.Status)
	}
	if *out == "" {
		_, err := a.Stdout.Write(kc)
		return err
	}
	// A new file, renamed over any old one: mode 0600 whatever the old file had.
	if err := writeAtomic(*out, kc); err != nil {
		return fmt.Errorf("write kubeconfig of cluster %s: %w", rec.Name, err)
	}
	fmt.Fprintf(a.Stderr, "wrote the kubeconfig of cluster %s to %s\n", rec.Name, *out)
	return nil
}

// ip prints node addresses: of one node, or "<name> <address>" of every node.
func (a *App) ip(_ context.Context, args []string) error {
	fs, c := a.newFlagSet("ip", false)
	pos, err := a.parse(fs, args, 1, 2, -1, nil)
	if err != nil {
		return err
	}
	v, rec, err := a.stateOf(c, pos[0])
	if err != nil {
		return err
	}
	nodes := v.Nodes()
	if len(pos) == 2 {
		n, err := findNode(rec.Name, nodes, pos[1])
		if err != nil {
			return err
		}
		if n.Address == "" {
			return fmt.Errorf("node %s has no address yet (phase %s)", n.Name, dash(string(n.Phase)))
		}
		fmt.Fprintln(a.Stdout, n.Address)
		return nil
	}
	for _, n := range nodes {
		fmt.Fprintf(a.Stdout, "%s %s\n", n.Name, dash(n.Address))
	}
	return nil
}

// stateOf reads a cluster's record and driver state.
func (a *App) stateOf(c *commonFlags, name string) (*driver.View, *record, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	st, err := c.store()
	if err != nil {
		return nil, nil, err
	}
	rec, err := st.get(name)
	if err != nil {
		return nil, nil, err
	}
	v, err := driver.Inspect(rec.info())
	if errors.Is(err, driver.ErrNoState) {
		return nil, rec, fmt.Errorf("cluster %s has no nodes yet (status %s)", name, rec.Status)
	}
	if err != nil {
		return nil, rec, fmt.Errorf("cluster %s: %w", name, err)
	}
	return v, rec, nil
}

// findNode finds a node by its name or the end of it after a '-' (e.g. "worker-1" for
// "demo-worker-1").
func findNode(cluster string, nodes []provision.Node, arg string) (provision.Node, error) {
	var matches []provision.Node
	for _, n := range nodes {
		if n.Name == arg {
			return n, nil
		}
		if strings.HasSuffix(n.Name, "-"+arg) {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.Name
		}
		sort.Strings(names)
		return provision.Node{}, fmt.Errorf("cluster %s has no node %q; its nodes: %s", cluster, arg, strings.Join(names, ", "))
	default:
		return provision.Node{}, fmt.Errorf("node %q is ambiguous in cluster %s: name it in full", arg, cluster)
	}
}
