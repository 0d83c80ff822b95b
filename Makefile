# The two first commands on a fresh machine are `make demo` and `make test`.
# Both install what they need (hack/bootstrap.sh); `make help` lists the rest.
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: help demo test lint typecheck unit e2e bench bootstrap tools manifests schema dev-cluster-up dev-cluster-down clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

bootstrap:  ## install Debian packages, .venv and the Go-built Kubernetes tools
	hack/bootstrap.sh

demo:  ## run the main job: the runtime with the example tenants (no cluster needed)
	hack/bootstrap.sh --no-go
	$(VENV)/ottc demo

test: bootstrap lint typecheck  ## run every test: lint, types, unit, integration, e2e
	$(VENV)/pytest $(PYTEST_ARGS)

lint:  ## ruff, and import-linter's layer contracts (pyproject.toml [tool.importlinter])
	$(VENV)/ruff check runtime operator tests
	$(VENV)/ruff format --check runtime operator tests
	$(VENV)/lint-imports --no-cache

typecheck:  ## mypy --strict
	$(VENV)/mypy

unit:  ## unit tests only (seconds, no cluster)
	$(VENV)/pytest tests/unit $(PYTEST_ARGS)

e2e:  ## e2e tests against the real control plane
	$(VENV)/pytest tests/e2e $(PYTEST_ARGS)

tools:  ## build etcd, kube-apiserver, kube-controller-manager, kubectl, helm (cached)
	hack/build-tools.sh

bench:  ## run the benchmarks in tests/bench (tables + JSON in .artifacts/bench)
	$(VENV)/ottc bench

manifests:  ## re-render examples/manifests and the chart's CRD copy from the chart and crds/
	hack/render-manifests.sh

schema:  ## re-export schema.graphql from the code
	$(VENV)/ottc graphql-schema -o schema.graphql

dev-cluster-up:  ## start the local control plane; prints the KUBECONFIG to export
	$(VENV)/ottc dev-cluster up

dev-cluster-down:  ## stop the local control plane and delete its state
	$(VENV)/ottc dev-cluster down

clean:  ## remove build outputs (keeps the Go cache)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .artifacts
