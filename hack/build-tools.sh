#!/usr/bin/env bash
# Builds the command-line tools that packaging the UI extension needs from the Go module proxy (no
# release downloads are reachable here) and caches each by version, so a machine pays once:
#   helm  (helm.sh/helm/v3)         publish-pkgs packages and indexes the chart; `helm lint`/`template`
#   yq    (github.com/mikefarah/yq) publish-pkgs edits Chart.yaml with yq v4's syntax (Debian's `yq`
#                                   is a different program with the same name)
#
# Usage: hack/build-tools.sh [tool...]   (default: helm yq)
# Env:   HARVESTERRKE_CACHE (default ~/.cache/harvesterrke)
# Prints one directory per line holding each tool; put them first on PATH.
set -euo pipefail

HELM_VERSION=v3.21.4
YQ_VERSION=v4.54.3
cache=${HARVESTERRKE_CACHE:-$HOME/.cache/harvesterrke}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(helm yq)

build() { # name version package ldflags
	local dir=$cache/tools/$1-$2
	if [ ! -x "$dir/$1" ]; then
		mkdir -p "$dir"
		# Both modules build without replace directives at these versions, so `go install pkg@version`
		# works; GOFLAGS from the caller (e.g. -mod=vendor) must not leak in.
		GOFLAGS= GOBIN="$dir.tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w $4" "$3@$2" >&2
		mv "$dir.tmp/$1" "$dir/$1" && rmdir "$dir.tmp"
	fi
	echo "$dir"
}

for t in "${tools[@]}"; do
	case $t in
	helm) build helm $HELM_VERSION helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
	yq) build yq $YQ_VERSION github.com/mikefarah/yq/v4 "" ;;
	*) echo "unknown tool $t (known: helm yq)" >&2; exit 2 ;;
	esac
done
