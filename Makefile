# Development tasks. Needs Go; `generate` and `check-generate` also need protoc from Debian's
# protobuf-compiler package (apt-get install -y protobuf-compiler).
#
#   make test            the README's test command (what CI runs)
#   make lint            gofmt check, go vet, staticcheck (pinned, from the module proxy)
#   make generate        regenerate messages/ from its .proto files with the pinned plugins
#   make check-generate  regenerate and fail if the checked-in code differs
#   make bench           the Go micro-benchmarks, short

GO ?= go

# Pinned tool versions. The generated files name protoc's and protoc-gen-go's in their headers:
# change a version only together with a regeneration.
PROTOC_VERSION := 3.21.12
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION := v1.21.1
STATICCHECK_VERSION := v0.8.2

TEST_TIMEOUT := 25m
BENCHTIME ?= 100ms

# The protoc plugins are installed once per version, outside the tree (override TOOLS to move them).
TOOLS ?= $(shell $(GO) env GOPATH)/kaquan-tools
PROTOC_GEN_GO := $(TOOLS)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_CONNECT_GO := $(TOOLS)/protoc-gen-connect-go-$(PROTOC_GEN_CONNECT_GO_VERSION)/protoc-gen-connect-go

.PHONY: test lint generate check-generate bench

test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# Generated code is formatted by its plugins and checked by check-generate instead.
lint:
	@files=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$files" ]; then echo "gofmt needed:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# The protoc command itself is the go:generate line in messages/generate.go.
generate: $(PROTOC_GEN_GO) $(PROTOC_GEN_CONNECT_GO)
	@have=$$(protoc --version 2>/dev/null || true); \
	if [ "$$have" != "libprotoc $(PROTOC_VERSION)" ]; then \
		echo "need protoc $(PROTOC_VERSION) (Debian: apt-get install -y protobuf-compiler), have: $${have:-none}"; exit 1; \
	fi
	PATH="$(dir $(PROTOC_GEN_GO)):$(dir $(PROTOC_GEN_CONNECT_GO)):$$PATH" $(GO) generate ./messages

$(PROTOC_GEN_GO):
	GOBIN="$(@D)" $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(PROTOC_GEN_CONNECT_GO):
	GOBIN="$(@D)" $(GO) install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(PROTOC_GEN_CONNECT_GO_VERSION)

# Regenerates into the tree, so on a clean checkout: a difference is code that was not regenerated
# (or was edited by hand), an untracked file is generated code that was not committed, and a .pb.go
# without its .proto is left over from a removed file.
check-generate: generate
	@git diff --exit-code -- messages/ || { echo "messages/: generated code differs; run make generate and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- messages/); \
	if [ -n "$$untracked" ]; then echo "messages/: untracked generated files:"; echo "$$untracked"; exit 1; fi
	@for f in $$(git ls-files 'messages/*.pb.go'); do \
		test -f "$${f%.pb.go}.proto" || { echo "$$f: no $${f%.pb.go}.proto"; exit 1; }; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./...
