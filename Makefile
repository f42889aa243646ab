# kontainer-engine-driver-harvesterrke: a Rancher cluster driver that builds RKE clusters on Harvester.
NAME      := kontainer-engine-driver-harvesterrke
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PLATFORMS := linux-amd64 linux-arm64 darwin-amd64 darwin-arm64
HOST      := $(shell go env GOOS)-$(shell go env GOARCH)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BINARIES  := $(addprefix dist/$(NAME)-,$(PLATFORMS))
# Every test runs: none is answered from Go's test cache (results depend on the machine's state).
# The timeout bounds a hang: test/e2e alone takes about an hour on 2 cores (docs/performance.md).
GOTEST    ?= go test -count=1 -timeout 80m
# The module's packages, without the Go code npm packages bring along into ui/node_modules (shell
# words, so that make prints the command short).
GOPKGS    := $$(go list ./... | grep -v /ui/)

.PHONY: all build dist dist-bin dist-ui test setup-test test-go lint bench demo sim-up sim-down clean $(sort $(BINARIES) dist/$(NAME)-$(HOST))

all: build

# The binary for this machine.
build: dist/$(NAME)-$(HOST)

# A release, all of one $(VERSION): the binaries for every platform with their checksums, the UI
# bundle (dist/ui), its Helm chart repository (dist/ui-repo) and the extension catalog image's build
# context (dist/ui-catalog).
dist: dist-bin dist-ui

dist-bin: $(BINARIES) dist/sha256sum.txt

# Static binaries (Rancher runs them in a jail without libc).
$(sort $(BINARIES) dist/$(NAME)-$(HOST)): dist/$(NAME)-%:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=$(word 1,$(subst -, ,$*)) GOARCH=$(word 2,$(subst -, ,$*)) \
		go build -trimpath -ldflags "$(LDFLAGS)" -o $@ .

dist/sha256sum.txt: $(BINARIES)
	cd dist && sha256sum $(notdir $(BINARIES)) > sha256sum.txt

# Everything CI runs, on a fresh machine as root: installs and builds what the tests need (cached
# after the first run, see hack/setup.sh), then lint, the Go tests and the UI's tests. Under it a test
# that cannot run (no root, a missing build or tool) fails instead of skipping.
test: export HARVESTERRKE_REQUIRE_ALL := 1
test: setup-test lint test-go test-ui test-chart test-ui-matrix-ci

setup-test:
	hack/setup.sh test

test-go:
	$(GOTEST) $(GOPKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(GOPKGS)

bench:
	go test -run '^$$' -bench . -benchtime 5x ./test/e2e/

# The driver at work on a local Harvester stand-in (as root, on a fresh machine too): installs and
# builds what it needs, builds a 3-node cluster, scales it to 4, lists its nodes and removes it.
demo:
	hack/setup.sh demo
	hack/demo.sh

# The local Harvester stand-in for by-hand use: prints the kubeconfig to use; sim-down removes it all.
sim-up:
	go run ./test/harvestersim/cmd/harvestersim up

sim-down:
	go run ./test/harvestersim/cmd/harvestersim down

clean: clean-ui
	rm -rf dist

# --- Rancher UI extension (ui/) ---
UI_PKG     := harvesterrke
UI_VERSION  = $(shell node -p "require('./ui/pkg/$(UI_PKG)/package.json').version")
UI_DEPS    := ui/node_modules/.package-lock.json

.PHONY: ui test-ui ui-screenshot clean-ui

$(UI_DEPS): ui/package.json ui/package-lock.json
	hack/setup.sh ui

# The extension bundle Rancher loads (see README), versioned by ui/pkg/harvesterrke/package.json.
# VERSION is unset for the build: the shell's build script would take it for the bundle's version.
ui: $(UI_DEPS)
	cd ui && env -u VERSION npm run build
	rm -rf dist/ui && mkdir -p dist/ui
	cp -r ui/dist-pkg/$(UI_PKG)-$(UI_VERSION)/. dist/ui/
	rm -f dist/ui/*.map dist/ui/report.html

# Lint, unit and parity tests (the parity test runs `go run . schema`), then the headless Chromium test.
test-ui: ui
	cd ui && npm run lint && npm test && npm run test:browser

# Refreshes docs/ui-form.png from the browser test.
ui-screenshot: test-ui
	cp ui/test-results/browser/create-2-vm.png docs/ui-form.png

clean-ui:
	rm -rf ui/dist-pkg ui/test-results

# --- Release packaging of the UI extension, and its compatibility matrix (issue #20) ---
# UI_REPO_URL is where dist/ui-repo/ will be served: the chart's UIPlugin sends Rancher there for the
# extension's files. The catalog image is named $(UI_CATALOG_REGISTRY)/$(UI_CATALOG_ORG)/ui-extension-harvesterrke-ui.
UI_REPO_URL         ?= http://localhost:8000
UI_CATALOG_REGISTRY ?= docker.io
UI_CATALOG_ORG      ?= harvesterrke
# Shell versions for test-ui-matrix (see ui/compat/matrix.json); CI runs the oldest and the newest.
UI_MATRIX           ?= all

.PHONY: test-chart test-ui-matrix test-ui-matrix-ci

dist-ui: $(UI_DEPS)
	VERSION=$(VERSION) UI_REPO_URL=$(UI_REPO_URL) UI_CATALOG_REGISTRY=$(UI_CATALOG_REGISTRY) \
		UI_CATALOG_ORG=$(UI_CATALOG_ORG) hack/ui-dist.sh dist

# helm lint, and the UIPlugin the chart renders created on a real API server with Rancher's CRD.
test-chart: dist-ui
	helm=$$(hack/build-tools.sh helm)/helm && chart=$$(ls $(CURDIR)/dist/ui-repo/assets/harvesterrke/*.tgz) && \
		$$helm lint --strict $$chart && \
		HARVESTERRKE_HELM=$$helm HARVESTERRKE_UI_CHART=$$chart $(GOTEST) ./test/uiplugin/

# Build, unit, parity and browser tests against the shell of each Rancher line the chart claims.
test-ui-matrix: $(UI_DEPS)
	hack/ui-matrix.sh $(UI_MATRIX)

# The matrix's oldest and newest Rancher lines (test-ui covers the shell the release is built
# with), whose browser tests also load the release's chart.
test-ui-matrix-ci: dist-ui
	HARVESTERRKE_UI_RELEASE_REPO=$(CURDIR)/dist/ui-repo hack/ui-matrix.sh ci

# The browser test loads the extension from the chart's files.
test-ui: dist-ui
