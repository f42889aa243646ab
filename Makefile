# kontainer-engine-driver-harvesterrke: a Rancher cluster driver that builds RKE clusters on Harvester.
NAME      := kontainer-engine-driver-harvesterrke
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PLATFORMS := linux-amd64 linux-arm64 darwin-amd64 darwin-arm64
LDFLAGS   := -s -w -X main.version=$(VERSION)
BINARIES  := $(addprefix dist/$(NAME)-,$(PLATFORMS))
GOTEST    ?= go test -timeout 60m

.PHONY: all build test test-go lint bench demo sim-up sim-down clean $(BINARIES)

all: build ui

# Static binaries (Rancher runs them in a jail without libc) and their checksums.
build: $(BINARIES) dist/sha256sum.txt

$(BINARIES): dist/$(NAME)-%:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=$(word 1,$(subst -, ,$*)) GOARCH=$(word 2,$(subst -, ,$*)) \
		go build -trimpath -ldflags "$(LDFLAGS)" -o $@ .

dist/sha256sum.txt: $(BINARIES)
	cd dist && sha256sum $(notdir $(BINARIES)) > sha256sum.txt

# Everything CI runs. Tests against the local Harvester stand-in need root (network namespaces);
# the UI's need Node.js >= 20 and Debian's chromium.
test: test-go test-ui

test-go: lint
	$(GOTEST) ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchtime 5x ./test/e2e/

# A narrated tour of the command line on the local Harvester stand-in (needs root).
demo:
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
	cd ui && CYPRESS_INSTALL_BINARY=0 npm ci --no-audit --no-fund

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
