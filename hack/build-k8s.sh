#!/usr/bin/env bash
# Builds Kubernetes server binaries from the Go module proxy (no release downloads are reachable here)
# and caches them by version, so only the first run on a machine pays the build (~7-15 min on 2 cores).
#
# Usage: hack/build-k8s.sh [component...]   (default: kube-apiserver kube-controller-manager kubectl)
# Env:   K8S_VERSION (default 1.34.4), HARVESTERRKE_CACHE (default ~/.cache/harvesterrke)
# Prints the directory holding the binaries on its last line, and its progress on standard error.
# Parallel runs take turns (flock), so tests and commands may call it at the same time.
set -euo pipefail

version=${K8S_VERSION:-1.34.4}
cache=${HARVESTERRKE_CACHE:-$HOME/.cache/harvesterrke}
out=$cache/k8s/v$version
src=$cache/k8s/src-v$version
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver kube-controller-manager kubectl)

missing_components() {
	missing=()
	for c in "${components[@]}"; do [ -x "$out/$c" ] || missing+=("$c"); done
}
missing_components
if [ ${#missing[@]} -eq 0 ]; then echo "$out"; exit 0; fi

progress() { echo "build-k8s: $*" >&2; }

mkdir -p "$out" "$src"
exec 9>"$cache/k8s/build.lock"
if ! flock -n 9; then
	progress "waiting for another build of Kubernetes binaries to finish"
	flock 9
	missing_components
	if [ ${#missing[@]} -eq 0 ]; then echo "$out"; exit 0; fi
fi
cd "$src"
log=$src/build.log
: >"$log"
fail() {
	progress "$1 failed; the end of $log:"
	tail -n 30 "$log" >&2
	exit 1
}

if [ ! -f go.mod ]; then
	kmod=$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	gover=$(awk '$1=="go"{print $2; exit}' "$kmod")
	{
		printf 'module harvesterrke.local/k8sbins\n\ngo %s\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$gover" "$version"
		# k8s.io/kubernetes refers to its staging modules by relative path: pin each to its published tag.
		grep -E '^\s+k8s.io/[a-z0-9-]+ => ./staging/' "$kmod" | awk -v v="v0.${version#1.}" '{print "\t"$1" => "$1" "v}'
		printf ')\n'
	} > go.mod.new
	mv go.mod.new go.mod
fi

main_for() {
	case $1 in
	kube-apiserver) echo 'k8s.io/kubernetes/cmd/kube-apiserver/app|app.NewAPIServerCommand()' ;;
	kube-controller-manager) echo 'k8s.io/kubernetes/cmd/kube-controller-manager/app|app.NewControllerManagerCommand()' ;;
	kube-scheduler) echo 'k8s.io/kubernetes/cmd/kube-scheduler/app|app.NewSchedulerCommand()' ;;
	kube-proxy) echo 'k8s.io/kubernetes/cmd/kube-proxy/app|app.NewProxyCommand()' ;;
	kubelet) echo 'k8s.io/kubernetes/cmd/kubelet/app|app.NewKubeletCommand(context.Background())' ;;
	kubectl) echo 'k8s.io/kubectl/pkg/cmd|cmd.NewDefaultKubectlCommand()' ;;
	*) echo "unknown component $1" >&2; exit 2 ;;
	esac
}

for c in "${missing[@]}"; do
	IFS='|' read -r pkg ctor <<<"$(main_for "$c")"
	mkdir -p "cmd/$c"
	ctximport=""
	[[ $ctor == *context.* ]] && ctximport=$'\t"context"\n'
	cat > "cmd/$c/main.go" <<GO
package main

import (
${ctximport}	"os"

	_ "time/tzdata"

	"k8s.io/component-base/cli"
	"$pkg"
)

func main() { os.Exit(cli.Run($ctor)) }
GO
done
progress "resolving Kubernetes v$version's modules (go mod tidy; downloads them on a cold machine)"
go mod tidy >>"$log" 2>&1 || fail "go mod tidy"

minor=$(echo "$version" | cut -d. -f2)
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ld="$ld -X $p.gitVersion=v$version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
export CGO_ENABLED=0 # static binaries; go list must see the same build as go build
i=0
for c in "${missing[@]}"; do
	i=$((i + 1))
	start=$SECONDS
	# How far: the packages the build still has to compile (go build -v names each as it does).
	todo=$(go list -trimpath -deps -f '{{if .Stale}}x{{end}}' "./cmd/$c" 2>>"$log" | grep -c x || true)
	progress "building $c v$version ($i/${#missing[@]}): $todo packages to compile"
	: >"$src/$c.packages"
	go build -v -trimpath -ldflags="$ld" -o "$out/$c.tmp" "./cmd/$c" 2>"$src/$c.packages" &
	pid=$!
	next=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if [ "$SECONDS" -ge "$next" ]; then
			progress "  $c: $(wc -l <"$src/$c.packages") of $todo packages compiled, $((SECONDS - start)) s"
			next=$((SECONDS + 60))
		fi
	done
	if ! wait "$pid"; then
		cat "$src/$c.packages" >>"$log"
		fail "go build of $c"
	fi
	mv "$out/$c.tmp" "$out/$c"
	rm -f "$src/$c.packages"
	progress "built $c v$version ($i/${#missing[@]}) in $((SECONDS - start)) s"
done
echo "$out"
