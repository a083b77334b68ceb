# mtlsgate: `make run` starts the server with its embedded store; `make test`
# runs vet and the race-enabled tests. Tools are pinned in tools/go.mod.
GO     ?= go
TOOL   := $(GO) tool -modfile=tools/go.mod
BIN    := bin/mtlsgate
FUZZTIME ?= 20s

.PHONY: build run test proto proto-check lint bench fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/mtlsgate

run: build
	./$(BIN) serve $(ARGS)

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Runs every fuzz target for FUZZTIME each; new crashers land in testdata/fuzz.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
