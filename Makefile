# CodeQuest. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export CODEQUEST_CACHE ?= $(HOME)/.cache/codequest
TOOLS := hack/tools.sh
GO ?= go

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build codequest, judge and codequest-sandbox-init into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/codequest ./cmd/codequest
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/judge ./cmd/judge
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/codequest-sandbox-init ./cmd/codequest-sandbox-init

.PHONY: generate
generate: ## Regenerate protobuf, Connect and sqlc code, and the sandbox's seccomp table.
	rm -rf api/proto/codequest/v1/*.pb.go api/proto/codequest/v1/codequestv1connect
	cd api/proto && PATH="$$(dirname $$(../../$(TOOLS) path protoc-gen-go)):$$(dirname $$(../../$(TOOLS) path protoc-gen-connect-go)):$$PATH" \
		$$(../../$(TOOLS) path buf) generate
	cd apiserver/store && $$(../../$(TOOLS) path sqlc) generate
	$(GO) generate ./sandbox/

.PHONY: manifests
manifests: ## Regenerate CRDs, RBAC and deepcopy code from api/v1alpha1.
	@if [ -d api/v1alpha1 ] && ls api/v1alpha1/*.go >/dev/null 2>&1; then \
		$$($(TOOLS) path controller-gen) object paths=./api/v1alpha1/... ; \
		$$($(TOOLS) path controller-gen) crd rbac:roleName=codequest-controller paths=./api/v1alpha1/... paths=./controllers/... output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac ; \
		cp config/crd/bases/*.yaml charts/codequest/crds/ ; \
	else echo "no CRD types yet"; fi

.PHONY: control-plane
control-plane: ## Start etcd + kube-apiserver under .dev/ (admin kubeconfig: .dev/kubeconfig).
	hack/control-plane.sh up

.PHONY: control-plane-down
control-plane-down: ## Stop the control plane started by make control-plane.
	hack/control-plane.sh down

.PHONY: cluster-up
cluster-up: ## Start a real one-node cluster here, gVisor included (exports: hack/local-cluster.sh env).
	hack/local-cluster.sh up

.PHONY: cluster-down
cluster-down: ## Remove the cluster of make cluster-up and everything it left on the machine.
	hack/local-cluster.sh down

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet every package.
	$(GO) vet ./...

.PHONY: lint
lint: vet ## go vet, staticcheck, gofmt check and buf lint/breaking.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$$($(TOOLS) path staticcheck) ./...
	cd api/proto && $$(../../$(TOOLS) path buf) lint
	hack/buf-breaking.sh

.PHONY: checkgenerate
checkgenerate: generate manifests ## Fail when generated code differs from what is committed.
	@git add -N . && if ! git diff --exit-code --stat -- api apiserver config charts sandbox; then \
		echo "generated code is stale: run make generate manifests and commit"; exit 1; fi

.PHONY: deps
deps: ## Install Debian packages and build tools into the cache (idempotent).
	hack/deps.sh

.PHONY: test
test: deps ## Run everything CI runs: lint, generated-code check, unit, integration, judge corpus.
	hack/test.sh

.PHONY: bench
bench: deps ## Run the benchmarks side by side with their baselines.
	hack/bench.sh

.PHONY: dev
dev: deps build ## Run the platform on this machine (Ctrl-C stops it).
	bin/codequest dev

.PHONY: test-cluster
test-cluster: deps ## End-to-end suite on a real single-node cluster here: Helm install, gVisor Jobs, chaos; torn down after.
	hack/test-cluster.sh

.PHONY: test-e2e
test-e2e: ## The same suite on kind (needs Docker and kind; see hack/kind-e2e.sh).
	hack/kind-e2e.sh
