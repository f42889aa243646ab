#!/bin/bash
# Entrypoint of the Kubernetes containers RKE runs from the hyperkube image, out of the
# service-sidekick volume of the rke-tools image:
#
#   /opt/rke-tools/entrypoint.sh COMPONENT --flag=value...
#
# The image carries Kubernetes v1.34 binaries under RKE's v1.32 tag, so flags v1.34 refuses are
# dropped. The kubelet gets its container runtime here: containerd's CRI plugin on the socket RKE
# names for cri-dockerd.
set -euo pipefail

# The pod sandbox image shipped in the hyperkube image, imported into containerd at start.
SANDBOX_ARCHIVE=/usr/local/share/rkeimages/pause.tar
# Extra kubelet flags, one per line, from the node's /etc/rkeimages/kubelet.flags: the local
# Harvester stand-in gives each fake host's kubelet its own --cgroup-root there.
KUBELET_FLAGS_FILE=/host/etc/rkeimages/kubelet.flags
# The node's own pod network, if it has one (the local Harvester stand-in's hosts do): CNI
# configuration in net.d/ and plugins in bin/, installed at every kubelet start as a network
# plugin's DaemonSet would, since RKE's cleanup (e.g. before an etcd restore) deletes /etc/cni and
# /opt/cni. CNI_CONF_DIR and CNI_BIN_DIR are where the kubelet's runtime looks.
POD_NETWORK_DIR=/host/etc/rkeimages/cni
CNI_CONF_DIR=/etc/cni/net.d
CNI_BIN_DIR=/opt/cni/bin
# The machine-wide sysctls the kubelet sets when it starts (kernel.panic=10, kernel.panic_on_oops=1,
# vm.overcommit_memory=1, ...). These images run on test machines shared by many fake nodes: the
# kubelet gets private copies instead of changing the machine.
KERNEL_TUNABLES="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"

# removed_flags COMPONENT: the flags RKE v1.8 passes for Kubernetes v1.32 that v1.34 refuses.
removed_flags() {
	case $1 in
	kube-apiserver) echo cloud-provider cloud-config ;;
	kubelet) echo cloud-config ;; # v1.33 dropped it: an external cloud provider needs none there
	esac
}

# keep_flags COMPONENT ARG...: sets ARGS to the arguments without the removed flags. RKE always
# passes flags as --name=value.
keep_flags() {
	local component=$1 arg name removed
	shift
	removed=" $(removed_flags "$component") "
	ARGS=()
	for arg in "$@"; do
		name=${arg#--}
		name=${name%%=*}
		if [[ $arg == --* && $removed == *" $name "* ]]; then
			echo "entrypoint: dropping $arg: $component v1.34 does not accept it" >&2
			continue
		fi
		ARGS+=("$arg")
	done
}

# flag_value NAME: the value of --NAME=value in ARGS; fails when absent.
flag_value() {
	local arg
	for arg in "${ARGS[@]}"; do
		if [[ $arg == "--$1="* ]]; then
			echo "${arg#*=}"
			return 0
		fi
	done
	return 1
}

has_flag() {
	local arg
	for arg in "${ARGS[@]}"; do
		[[ $arg == "--$1" || $arg == "--$1="* ]] && return 0
	done
	return 1
}

# add_flags_from FILE: appends the flags FILE lists, one per line (blank lines and # comments skipped).
add_flags_from() {
	local line
	[ -f "$1" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		[[ -z ${line// /} || $line == \#* ]] && continue
		ARGS+=("$line")
	done <"$1"
}

# select_iptables: kube-proxy and the kubelet must use the iptables backend (nft or legacy) Docker
# uses on this node, or their rules and Docker's would not see each other.
select_iptables() {
	local legacy nft mode=nft t
	legacy=$( (iptables-legacy-save; ip6tables-legacy-save) 2>/dev/null | grep -c '^-' || true)
	nft=$( (iptables-nft-save; ip6tables-nft-save) 2>/dev/null | grep -c '^-' || true)
	if [ "${legacy:-0}" -gt "${nft:-0}" ]; then
		mode=legacy
	fi
	for t in iptables ip6tables; do
		update-alternatives --set "$t" "/usr/sbin/$t-$mode" >/dev/null
	done
}

# containerd_config ROOT STATE SOCKET SANDBOX_IMAGE: containerd serving CRI on SOCKET.
containerd_config() {
	cat <<TOML
version = 2
root = "$1"
state = "$2"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$3"

[debug]
  level = "warn"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$4"
  stream_server_address = "${CRIDOCKERD_STREAM_SERVER_ADDRESS:-127.0.0.1}"
  stream_server_port = "${CRIDOCKERD_STREAM_SERVER_PORT:-10010}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$CNI_CONF_DIR"
TOML
}

# start_cri DOCKER_ROOT SOCKET SANDBOX_IMAGE: starts containerd (pid in CRI_PID) and imports the
# sandbox image, since no registry may be reachable. Its images live under Docker's root directory,
# the one place of the node bound into this container that overlayfs can stack on.
start_cri() {
	local root=$1/rkeimages-cri state=/run/rkeimages-cri sock=$2
	mkdir -p "$root" "$state" "$(dirname "$sock")"
	containerd_config "$root" "$state" "$sock" "$3" >/etc/rkeimages-containerd.toml
	rm -f "$sock"
	containerd --config /etc/rkeimages-containerd.toml &
	CRI_PID=$!
	for _ in $(seq 150); do
		ctr --address "$sock" version >/dev/null 2>&1 && break
		kill -0 "$CRI_PID" 2>/dev/null || { echo "entrypoint: containerd exited" >&2; return 1; }
		sleep 0.2
	done
	ctr --address "$sock" version >/dev/null || { echo "entrypoint: containerd not serving on $sock after 30s" >&2; return 1; }
	ctr --address "$sock" --namespace k8s.io images import "$SANDBOX_ARCHIVE" >/dev/null
}

# unmount_nested DIR...: unmounts what is mounted below the DIRs. Bound from the node with its
# submounts (other containers' filesystems, network namespaces), they would stay busy while the
# kubelet runs, as rke-tools explains.
unmount_nested() {
	local d m
	for d in "$@"; do
		awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/mounts | tac | while read -r m; do
			umount "$m" 2>/dev/null || true
		done
	done
}

# private_kernel_tunables: binds a copy of each of KERNEL_TUNABLES over it, in this container.
private_kernel_tunables() {
	local t copy
	mkdir -p /tmp/rkeimages-sysctl
	for t in $KERNEL_TUNABLES; do
		copy=/tmp/rkeimages-sysctl/${t//\//.}
		cat "/proc/sys/$t" >"$copy"
		mount --bind "$copy" "/proc/sys/$t"
	done
}

# install_pod_network: copies the node's pod network (POD_NETWORK_DIR) where the runtime finds it.
install_pod_network() {
	[ -d "$POD_NETWORK_DIR" ] || return 0
	mkdir -p "$CNI_CONF_DIR" "$CNI_BIN_DIR"
	cp -a "$POD_NETWORK_DIR/net.d/." "$CNI_CONF_DIR/"
	cp -a "$POD_NETWORK_DIR/bin/." "$CNI_BIN_DIR/"
}

run_kubelet() {
	local docker_root endpoint status cgroup_root d
	add_flags_from "$KUBELET_FLAGS_FILE"
	docker_root=$(/opt/rke-tools/bin/docker info --format '{{.DockerRootDir}}')
	unmount_nested "$docker_root" /run /var/run
	mount --rbind /host/dev /dev
	mount -o rw,remount /sys/fs/cgroup 2>/dev/null || true
	if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
		# cgroup v1: the kubelet expects its pods' cgroup in every hierarchy.
		cgroup_root=$(flag_value cgroup-root || echo /)
		for d in /sys/fs/cgroup/*/; do
			mkdir -p "${d%/}${cgroup_root%/}/kubepods"
		done
	fi
	private_kernel_tunables
	# Report the node's identity and OS, not the image's.
	[ -f /host/etc/machine-id ] && ln -sf /host/etc/machine-id /etc/machine-id
	[ -f /host/etc/os-release ] && ln -sf /host/etc/os-release /usr/lib/os-release
	echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true
	select_iptables
	install_pod_network
	if ! endpoint=$(flag_value container-runtime-endpoint); then
		endpoint=unix:///var/run/cri-dockerd.sock
		ARGS+=("--container-runtime-endpoint=$endpoint")
	fi
	# containerd's runc uses cgroupfs; the kubelet must agree.
	has_flag cgroup-driver || ARGS+=(--cgroup-driver=cgroupfs)
	start_cri "$docker_root" "${endpoint#unix://}" "$(flag_value pod-infra-container-image || echo rancher/mirrored-pause:3.7)"
	kubelet "${ARGS[@]}" &
	local kubelet_pid=$!
	trap 'kill $kubelet_pid $CRI_PID 2>/dev/null' TERM INT
	# Either one exiting ends the container, so Docker restarts both.
	set +e
	wait -n "$kubelet_pid" "$CRI_PID"
	status=$?
	kill "$kubelet_pid" "$CRI_PID" 2>/dev/null
	wait
	exit "$status"
}

prepare_kube_proxy() {
	if [ "${RKE_KUBE_PROXY_BR_NETFILTER:-}" = true ]; then
		modprobe br_netfilter 2>/dev/null || true
	fi
	select_iptables
	# Outside the machine's first network namespace the conntrack table size is read-only: ask
	# kube-proxy to leave it.
	if [ ! -w /proc/sys/net/netfilter/nf_conntrack_max ] && ! has_flag conntrack-max-per-core; then
		ARGS+=(--conntrack-max-per-core=0)
	fi
}

main() {
	local component=${1:?usage: entrypoint.sh COMPONENT [FLAG...]}
	shift
	keep_flags "$component" "$@"
	case $component in
	kubelet) run_kubelet ;;
	kube-proxy) prepare_kube_proxy ;;
	esac
	exec "$component" "${ARGS[@]}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
