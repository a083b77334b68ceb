# mtlsgate: `make run` starts the server with its embedded store; `make test`
# runs vet and the race-enabled tests. Tools are pinned in tools/go.mod.
GO     ?= go
TOOL   := $(GO) tool -modfile=tools/go.mod
BIN    := bin/mtlsgate
FUZZTIME ?= 20s

.PHONY: build run test etcd proto proto-check lint bench fuzz clean image

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/mtlsgate

run: build
	./$(BIN) serve $(ARGS)

test: etcd
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(GO) vet -C deploy/image ./...
	$(GO) test -C deploy/image -race -count=1 ./...
	$(GO) vet -C deploy/kubernetes ./...
	$(GO) test -C deploy/kubernetes -race -count=1 ./...

# The container image, as an OCI image layout in IMAGE_DIR, built without a
# Docker daemon or a base image by deploy/image (its own module, so that
# go-containerregistry stays out of go.mod): a static binary FROM scratch,
# run as 65532:65532, every timestamp the commit's (or SOURCE_DATE_EPOCH's).
# IMAGE_PLATFORMS=linux/amd64,linux/arm64 builds both. Loading it into a
# registry or a daemon: docs/deploy.md.
IMAGE_DIR       ?= bin/image
IMAGE_PLATFORMS ?= linux/amd64
IMAGE_TAG       ?= latest
image:
	$(GO) run -C deploy/image . -go $(GO) -repo $(CURDIR) -out $(abspath $(IMAGE_DIR)) -platforms $(IMAGE_PLATFORMS) -tag $(IMAGE_TAG)

# The etcd server the etcd backend's tests run (internal/etcdtest finds
# bin/etcd), built from the version pinned in tools/go.mod.
etcd: bin/etcd
bin/etcd: tools/go.mod
	$(GO) build -modfile=tools/go.mod -o bin/etcd go.etcd.io/etcd/server/v3

# Regenerates proto/ byte-identically from the .proto files.
proto:
	$(TOOL) buf generate

# Fails when the committed generated code is not what `make proto` makes.
proto-check: proto
	git diff --exit-code -- proto/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(TOOL) buf lint

# Benchmarks (docs/performance.md): Check under load against the real binary
# (OCSP sites included), the control plane at scale, revocation at scale (a
# million-entry CRL, refreshing 10,000 cached OCSP answers) and the micro-benchmarks,
# into bench/results/ (latest.md, latest.json, micro.txt, profiles/). Each
# part takes flags (./bin/mtlsgate-bench PART -h) through BENCH_CHECK,
# BENCH_CONTROLPLANE, BENCH_REVOCATION and BENCH_PARSERS. benchstat is run with go run at a
# pinned version (tools/go.mod does not carry it). bench-quick is a short
# smoke run of the same harness whose results stay in BENCH_QUICK_OUT.
BENCHSTAT       := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCH_PKGS      := ./authz ./pki/crlset ./authz/extract ./originhdr ./xds ./store/etcd ./accesslog
BENCH_RESULTS   := bench/results
BENCH_TMP       ?= $(or $(TMPDIR),/tmp)
BENCH_PARTS     ?= $(BENCH_TMP)/mtlsgate-bench-parts
BENCH_QUICK_OUT ?= $(BENCH_TMP)/mtlsgate-bench-quick
BENCH_CHECK        ?=
BENCH_CONTROLPLANE ?=
BENCH_REVOCATION   ?=
BENCH_PARSERS      ?=

bench: build etcd
	$(GO) build -o bin/mtlsgate-bench ./bench/cmd/mtlsgate-bench
	rm -rf $(BENCH_PARTS) $(BENCH_RESULTS)/profiles && mkdir -p $(BENCH_PARTS) $(BENCH_RESULTS)/profiles
	./bin/mtlsgate-bench check -out $(BENCH_PARTS)/check.json -profiles $(BENCH_RESULTS)/profiles $(BENCH_CHECK)
	./bin/mtlsgate-bench revocation -out $(BENCH_PARTS)/revocation.json -profiles $(BENCH_RESULTS)/profiles $(BENCH_REVOCATION)
	./bin/mtlsgate-bench parsers -out $(BENCH_PARTS)/parsers.json $(BENCH_PARSERS)
	./bin/mtlsgate-bench controlplane -out $(BENCH_PARTS)/controlplane.json -profiles $(BENCH_RESULTS)/profiles $(BENCH_CONTROLPLANE)
	@if [ -f $(BENCH_RESULTS)/micro.txt ]; then cp $(BENCH_RESULTS)/micro.txt $(BENCH_PARTS)/micro-old.txt; fi
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $(BENCH_PKGS) > $(BENCH_RESULTS)/micro.txt.tmp
	mv $(BENCH_RESULTS)/micro.txt.tmp $(BENCH_RESULTS)/micro.txt
	@if [ -f $(BENCH_PARTS)/micro-old.txt ]; then \
	  $(GO) run $(BENCHSTAT) previous=$(BENCH_PARTS)/micro-old.txt latest=$(BENCH_RESULTS)/micro.txt > $(BENCH_RESULTS)/micro-benchstat.txt; \
	fi
	./bin/mtlsgate-bench report -parts $(BENCH_PARTS) -out $(BENCH_RESULTS) -micro $(BENCH_RESULTS)/micro.txt -benchstat $(BENCH_RESULTS)/micro-benchstat.txt

.PHONY: bench-quick
bench-quick: build etcd
	$(GO) build -o bin/mtlsgate-bench ./bench/cmd/mtlsgate-bench
	rm -rf $(BENCH_QUICK_OUT) && mkdir -p $(BENCH_QUICK_OUT)/parts
	./bin/mtlsgate-bench check -out $(BENCH_QUICK_OUT)/parts/check.json -profiles $(BENCH_QUICK_OUT)/profiles \
	  -duration 1s -warmup 300ms -rounds 1 -paced-duration 1s -profile-duration 0 \
	  -hot-certs 200 -authz-cache 300 -cold-certs 1200 -ocsp-cache 250 -crl-entries 20000 -verify-certs 100
	./bin/mtlsgate-bench revocation -out $(BENCH_QUICK_OUT)/parts/revocation.json \
	  -entries 20000 -reps 1 -lookups 200000 -pool-certs 200 -ocsp-answers 2000 -ocsp-reps 1
	./bin/mtlsgate-bench parsers -out $(BENCH_QUICK_OUT)/parts/parsers.json -sizes 65536,262144 -min-time 30ms
	./bin/mtlsgate-bench controlplane -out $(BENCH_QUICK_OUT)/parts/controlplane.json -profiles $(BENCH_QUICK_OUT)/profiles \
	  -sizes 100,500 -reps 1 -ca-pool 100 -ads-sites 200 -changes 5
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 $(BENCH_PKGS) > $(BENCH_QUICK_OUT)/micro-once.txt # every benchmark still runs
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 100ms -count 1 ./authz/extract ./originhdr > $(BENCH_QUICK_OUT)/micro.txt
	./bin/mtlsgate-bench report -parts $(BENCH_QUICK_OUT)/parts -out $(BENCH_QUICK_OUT) -micro $(BENCH_QUICK_OUT)/micro.txt
	@echo "bench-quick: results in $(BENCH_QUICK_OUT)/latest.md"

# Runs every fuzz target for FUZZTIME each; new crashers land in testdata/fuzz.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
