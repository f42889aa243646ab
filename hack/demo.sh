#!/usr/bin/env bash
# make demo: the driver's command line on the local Harvester stand-in, narrated for a newcomer.
# It builds the driver, starts a stand-in (needs root: its VMs are network namespaces running
# sshd and Docker, with RKE's images preloaded), creates a 3-node Kubernetes cluster, looks at it,
# runs `docker info` and lists RKE's containers on a node over SSH, scales it to 4 nodes and ends
# with kubectl listing the nodes; then the cluster is removed and everything it started is stopped,
# also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root: the stand-in's VMs are network namespaces" >&2
	exit 1
fi

work=$(mktemp -d)
kubectl=
bin=$work/kontainer-engine-driver-harvesterrke
sim=$work/harvestersim
cluster=demo

bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
# show prints a command as the reader would type it, then runs it.
show() {
	local shown=${*/#$bin/harvesterrke}
	[ -z "$kubectl" ] || shown=${shown/#$kubectl/kubectl}
	printf '%s$ %s%s\n' "$bold" "$shown" "$plain"
	"$@"
}

cleanup() {
	status=$?
	trap - EXIT INT TERM
	if [ -d "$KONTAINER_HOME/clusters/$cluster" ]; then
		say "Removing the cluster: every VM, disk and secret on Harvester, then the local state"
		show "$bin" rm -f "$cluster" || true
	fi
	if [ -x "$sim" ]; then
		say "Stopping the stand-in"
		"$sim" down -state "$work/sim" || true
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT INT TERM

say "Building the driver (one static binary: Rancher runs it as '<binary> <port>', you run its commands)"
export KONTAINER_HOME=$work/kontainer # where the CLI keeps each cluster's state (default ~/.kontainer)
go build -o "$bin" .
go build -o "$sim" ./test/harvestersim/cmd/harvestersim
kubectl=$(hack/build-k8s.sh kubectl | tail -n 1)/kubectl # built from the module proxy, cached

say "Starting the local Harvester stand-in (a real Kubernetes API with KubeVirt's and Harvester's APIs)"
# -rke-images: its VM image carries RKE's images pre-pulled, as no registry is reachable here.
eval "$("$sim" up -rke-images -state "$work/sim")"

say "Harvester access and node settings come from HARVESTER_* variables (or --flags; see 'create --help')"
# The kubeconfig is a secret: from the environment it stays out of the process list and the shell history.
HARVESTER_KUBECONFIG_CONTENT=$(cat "$KUBECONFIG")
export HARVESTER_KUBECONFIG_CONTENT
export HARVESTER_IMAGE=${HARVESTER_IMAGE:-default/debian-12}
export HARVESTER_CPUS=1 HARVESTER_MEMORY=1Gi HARVESTER_DISK_SIZE=10Gi
# The stand-in's image has Docker; Kubernetes without add-ons needs only RKE's core images.
export HARVESTER_DOCKER_INSTALL_METHOD=none HARVESTER_NETWORK_PLUGIN=none HARVESTER_INGRESS_PROVIDER=none \
	HARVESTER_DNS_PROVIDER=none HARVESTER_MONITORING_PROVIDER=none
env | grep '^HARVESTER_' | grep -v KUBECONFIG | sed 's/^/  /'
echo "  HARVESTER_KUBECONFIG_CONTENT=(the stand-in's kubeconfig)"

say "Creating a 3-node cluster: VMs, SSH, Docker, then RKE on one etcd, one control-plane and one worker"
show "$bin" create "$cluster"

say "What the CLI knows about the cluster (also: inspect -o json, ls)"
show "$bin" inspect "$cluster"

say "SSH to a node with the cluster's key; the node's host key is known in advance, never just trusted"
show "$bin" ssh "$cluster" worker-1 docker info --format "'Docker {{.ServerVersion}}, {{.ContainersRunning}} containers running, storage {{.Driver}}'"
show "$bin" ssh "$cluster" worker-1 docker ps --format "'{{.Names}}: {{.Image}}'"

say "Scaling to 4 nodes: a second worker VM joins the cluster"
show "$bin" set-cluster-size "$cluster" 4
show "$bin" ls

say "The cluster's own API, with the kubeconfig RKE wrote"
show "$bin" kubeconfig "$cluster" -o "$work/kubeconfig"
show "$kubectl" --kubeconfig "$work/kubeconfig" get nodes -o wide
