# kontainer-engine-driver-harvesterrke: a Rancher cluster driver that builds RKE clusters on Harvester.
NAME      := kontainer-engine-driver-harvesterrke
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PLATFORMS := linux-amd64 linux-arm64 darwin-amd64 darwin-arm64
LDFLAGS   := -s -w -X main.version=$(VERSION)
BINARIES  := $(addprefix dist/$(NAME)-,$(PLATFORMS))
GOTEST    ?= go test -timeout 60m

.PHONY: all build test lint bench demo sim-up sim-down clean $(BINARIES)

all: build

# Static binaries (Rancher runs them in a jail without libc) and their checksums.
build: $(BINARIES) dist/sha256sum.txt

$(BINARIES): dist/$(NAME)-%:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=$(word 1,$(subst -, ,$*)) GOARCH=$(word 2,$(subst -, ,$*)) \
		go build -trimpath -ldflags "$(LDFLAGS)" -o $@ .

dist/sha256sum.txt: $(BINARIES)
	cd dist && sha256sum $(notdir $(BINARIES)) > sha256sum.txt

# Everything CI runs. Tests against the local Harvester stand-in need root (network namespaces).
test: lint
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

clean:
	rm -rf dist
