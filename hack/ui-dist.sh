#!/usr/bin/env bash
# Packages the UI extension the way Rancher admins install extensions, with @rancher/shell's own
# publishing script (scripts/extension/publish, what extension projects run as `publish-pkgs`):
#
#   <out>/ui-repo/     a Helm chart repository (index.yaml, assets/, charts/, extensions/) to serve over
#                      HTTP(S) at $UI_REPO_URL: Extensions > Manage Repositories takes that URL, and the
#                      chart's UIPlugin points Rancher at extensions/<name>/<version> beside it
#   <out>/ui-catalog/  the build context of the extension catalog image (Dockerfile, nginx.conf,
#                      plugin/, index.yaml) and IMAGE, the name publish gave it; there is no Docker
#                      here, so the image itself is left to `docker build` elsewhere
#   <out>/ui/          the bundle alone, for Developer Load
#
# Usage: hack/ui-dist.sh <out-dir>
# Env:   VERSION (the driver's; the chart's version is its SemVer form), UI_REPO_URL,
#        UI_CATALOG_REGISTRY, UI_CATALOG_ORG, UI_DIR (default: ui/ of this repository),
#        UI_DIST_CATALOG=0 to skip the catalog image (the compatibility matrix needs the chart only)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: hack/ui-dist.sh <out-dir>}
ui=${UI_DIR:-$repo/ui}
url=${UI_REPO_URL:?set UI_REPO_URL: where <out>/ui-repo will be served, e.g. https://downloads.example.com/harvesterrke}
url=${url%/}
registry=${UI_CATALOG_REGISTRY:-docker.io}
org=${UI_CATALOG_ORG:-harvesterrke}
pkg=harvesterrke

case $url in http://* | https://*) ;; *) echo "UI_REPO_URL must be an http(s) URL, got $url" >&2; exit 2 ;; esac
[ -d "$ui/node_modules/@rancher/shell" ] || { echo "no $ui/node_modules: run npm ci in $ui first" >&2; exit 2; }

# The chart's version is the driver's: v1.2.3 -> 1.2.3; anything else (an untagged commit, a dirty
# tree) becomes a pre-release of 0.0.0 that names it, since Helm and Rancher need SemVer.
version=${VERSION:-$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo dev)}
if [[ $version =~ ^v?([0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$ ]]; then
	chart_version=${BASH_REMATCH[1]}
else
	chart_version=0.0.0-g$(printf '%s' "$version" | tr -c '0-9A-Za-z-' '-')
fi
out=$(mkdir -p "$out" && cd "$out" && pwd)

# publish needs node, jq, yq v4, git, helm and yarn (the shell ships yarn 1); Debian's yq is another program.
tools=$("$repo/hack/build-tools.sh" helm yq | paste -sd:)
export PATH="$tools:$ui/node_modules/.bin:$PATH"
for c in node jq git; do command -v $c >/dev/null || { echo "publish needs $c" >&2; exit 2; }; done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# publish works in the current directory and writes assets/, charts/, extensions/ and tmp/ there, so
# each run gets a copy of ui/ (outside git, so it neither reads an origin remote nor fetches one's
# index.yaml) with node_modules linked and both package.json files at the release version.
stage() {
	local d=$work/$1
	mkdir -p "$d/pkg"
	cp "$ui/package.json" "$d/"
	cp -r "$ui/pkg/$pkg" "$d/pkg/"
	rm -rf "$d/pkg/$pkg/.shell" "$d/pkg/$pkg/__tests__" "$d/pkg/$pkg"/*/__tests__
	ln -s "$ui/node_modules" "$d/node_modules"
	for f in "$d/package.json" "$d/pkg/$pkg/package.json"; do
		jq --arg v "$chart_version" '.version = $v' "$f" >"$f.new" && mv "$f.new" "$f"
	done
	echo "$d"
}
publish=$ui/node_modules/@rancher/shell/scripts/extension/publish
# VERSION would become the bundle's version inside build-pkg.
run_publish() { (cd "$1" && shift && env -u VERSION bash "$publish" "$@"); }

# 1. The Helm chart repository. publish's repository mode addresses the plugin files on
# raw.githubusercontent.com; the one value naming that host is set to UI_REPO_URL, and the chart
# packaged and indexed again as publish does.
s=$(stage repo)
run_publish "$s" -n -s "" -b main "$pkg"
r=$s/tmp
[ -f "$r/assets/$pkg/$pkg-$chart_version.tgz" ] || { echo "publish wrote no chart" >&2; exit 1; }
# Older shells' publish goes on after a failed build and packages a chart without the bundle.
[ -f "$r/extensions/$pkg/$chart_version/plugin/$pkg-$chart_version.umd.min.js" ] || { echo "the build failed: the chart has no $pkg-$chart_version.umd.min.js" >&2; exit 1; }
endpoint=$url/extensions/$pkg/$chart_version
yq -i ".plugin.endpoint = \"$endpoint\" | .plugin.compressedEndpoint = \"$endpoint.tgz\"" "$r/charts/$pkg/$chart_version/values.yaml"
rm "$r/assets/$pkg/$pkg-$chart_version.tgz" "$r/assets/index.yaml" "$r/index.yaml"
helm package "$r/charts/$pkg/$chart_version" -d "$r/assets/$pkg" >/dev/null
helm repo index "$r/assets" --url assets/
cp "$r/assets/index.yaml" "$r/index.yaml"
rm -rf "$out/ui-repo" "$out/ui"
mkdir -p "$out/ui-repo" "$out/ui"
cp -r "$r/index.yaml" "$r/assets" "$r/charts" "$r/extensions" "$out/ui-repo/"
cp -r "$r/extensions/$pkg/$chart_version/plugin/." "$out/ui/"
rm -f "$out/ui"/*.map

if [ "${UI_DIST_CATALOG:-1}" = 0 ]; then
	echo "chart $pkg $chart_version (driver $version): $out/ui-repo for $url"
	exit 0
fi

# 2. The extension catalog image. publish -c checks for docker and has it build the image from a
# context it then deletes; a stand-in `docker` keeps that context instead.
s=$(stage catalog)
mkdir -p "$work/bin"
cat >"$work/bin/docker" <<'SH'
#!/usr/bin/env bash
# Stand-in for docker in publish -c: keeps the build context instead of building an image.
set -euo pipefail
case ${1:-} in
images) exit 0 ;;
build)
	tag=""; while [ $# -gt 0 ]; do [ "$1" = -t ] && tag=$2; shift; done
	mkdir -p "$CATALOG_OUT" && cp -r . "$CATALOG_OUT/" && echo "$tag" >"$CATALOG_OUT/IMAGE"
	echo "kept the build context of $tag in $CATALOG_OUT" ;;
*) echo "docker stand-in: $* is not supported" >&2; exit 1 ;;
esac
SH
chmod +x "$work/bin/docker"
rm -rf "$out/ui-catalog"
PATH="$work/bin:$PATH" CATALOG_OUT="$out/ui-catalog" run_publish "$s" -n -c -r "$registry" -o "$org" "$pkg"
[ -s "$out/ui-catalog/IMAGE" ] || { echo "publish -c built no image context" >&2; exit 1; }

echo "chart $pkg $chart_version (driver $version): $out/ui-repo for $url; catalog image $(cat "$out/ui-catalog/IMAGE"): $out/ui-catalog"
