#!/usr/bin/env bash
# Installs and builds what `make test` or `make demo` needs, on a fresh Debian bookworm machine (as
# root), skipping whatever is there already: Debian packages, Go modules, npm packages, Kubernetes
# binaries built from the Go module proxy, the stand-in's root filesystems and CRDs, and RKE's
# images. The expensive builds are cached under ~/.cache/harvesterrke (or $HARVESTERRKE_CACHE), so
# only a machine's first run pays for them (about 30 min on 2 cores); later runs take seconds.
#
# Usage: hack/setup.sh test|demo|ui
#   test  everything the tests need (make test)
#   demo  what hack/demo.sh needs: no browser, no npm packages (make demo)
#   ui    Node.js and ui/'s npm packages only (make ui)
# Go (go.mod's version or later) and Node.js >= 20 (test, ui) must be on the machine already:
# Debian bookworm's own are too old.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-}
case $target in
test | demo | ui) ;;
*) echo "usage: hack/setup.sh test|demo|ui" >&2; exit 2 ;;
esac

bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
# step announces the next of the target's steps, with what it does.
step() {
	step_i=$((step_i + 1))
	step_start=$SECONDS
	printf '%s==> [%d/%d] %s%s\n' "$bold" "$step_i" "$steps" "$*" "$plain" >&2
}
# done_in reports how long the step took when it took long enough to matter.
done_in() {
	local took=$((SECONDS - step_start))
	if [ "$took" -ge 60 ]; then
		echo "    done in $((took / 60)) min $((took % 60)) s" >&2
	elif [ "$took" -ge 5 ]; then
		echo "    done in $took s" >&2
	fi
}
die() { echo "setup: $*" >&2; exit 1; }

# Debian packages: what each target's tests or demo run besides Go.
apt_packages=()
case $target in
test | demo)
	apt_packages=(
		etcd-server                 # etcd for the local Harvester stand-in's kube-apiserver
		debootstrap                 # the fake VM hosts' root filesystems and RKE's images' base
		iptables iproute2           # fake hosts' network, and the guard keeping their traffic on this machine
		containernetworking-plugins # the pod network of fake hosts that run Kubernetes (CNI bridge)
		kmod                        # modprobe, where bridge netfilter or conntrack are kernel modules
		docker-registry             # test/registry: a private registry (TLS, basic auth) for RKE's images
	)
	;;&
test)
	apt_packages+=(
		openssh-client # ssh-keygen in tests; the driver itself speaks SSH in-process
		chromium       # ui/'s browser test (headless, driven by playwright-core)
		jq             # @rancher/shell's publish script, which packages the UI extension's chart
	)
	;;
esac

case $target in
test) steps=7 ;; # Debian packages, Node.js, Go modules, npm packages, chart tools, Kubernetes, the stand-in's images
demo) steps=4 ;; # Debian packages, Go modules, Kubernetes, the stand-in's images
ui) steps=2 ;;   # Node.js, npm packages
esac
step_i=0 step_start=$SECONDS

if [ "$target" != ui ] && [ "$(id -u)" -ne 0 ]; then
	die "make $target needs root: the local Harvester stand-in's VMs are network namespaces, and its
images are built with debootstrap. Without root, 'go test ./...' runs what it can and skips the rest
with the reason (go test -v shows them)."
fi

if [ ${#apt_packages[@]} -gt 0 ]; then
	missing=()
	for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	if [ ${#missing[@]} -eq 0 ]; then
		step "Debian packages: all ${#apt_packages[@]} installed"
	else
		step "Debian packages: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		done_in
	fi
	# docker-registry's own service (port 5000, /var/lib/docker-registry) is not ours: test/registry
	# runs its own registries, each with its configuration.
	if [ -d /run/systemd/system ] && systemctl is-enabled --quiet docker-registry.service 2>/dev/null; then
		systemctl disable --now --quiet docker-registry.service
	fi
fi

if [ "$target" != demo ]; then
	# @rancher/shell 3.0.8 needs Node.js >= 20; Debian 12's own nodejs is 18.
	have=$(node --version 2>/dev/null || echo none)
	step "Node.js: $have"
	node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null ||
		die "ui/ needs Node.js >= 20 (found $have): install it from nodejs.org or NodeSource"
fi

if [ "$target" != ui ]; then
	step "Go modules (go mod download)"
	go mod download
	done_in
fi

if [ "$target" != demo ]; then
	# The same check as the Makefile's: npm ci only when the lock file changed since the last one.
	if [ ui/node_modules/.package-lock.json -nt ui/package-lock.json ] &&
		[ ui/node_modules/.package-lock.json -nt ui/package.json ]; then
		step "ui/ npm packages: up to date"
	else
		step "ui/ npm packages (npm ci)"
		(cd ui && CYPRESS_INSTALL_BINARY=0 npm ci --no-audit --no-fund --loglevel=error)
		done_in
	fi
fi

[ "$target" != ui ] || exit 0

if [ "$target" = test ]; then
	# helm and yq for the UI extension's chart (make dist, make test-chart), built from the Go module proxy.
	step "helm and yq (hack/build-tools.sh; about 10 min on a cold machine, once)"
	hack/build-tools.sh helm yq >/dev/null
	done_in
fi

# Kubernetes is built from the Go module proxy (no release downloads are reachable): the stand-in's
# API server and controller manager, and all six for the images RKE runs (kubectl for the demo too).
step "Kubernetes binaries (hack/build-k8s.sh; about 15 min on a cold machine, once)"
hack/build-k8s.sh kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl >/dev/null
done_in

# The stand-in's root filesystems (debootstrap from the machine's Debian mirror), KubeVirt CRDs,
# RKE's images (test/rkeimages) and the Docker storage holding them; each is cached on its own.
step "the stand-in's root filesystems, CRDs and RKE's images (about 6 min on a cold machine, once)"
go run ./test/harvestersim/cmd/harvestersim prepare -rke-images
done_in
