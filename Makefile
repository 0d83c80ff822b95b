# The two first commands on a fresh machine are `make demo` and `make test`.
# Both install what they need (hack/bootstrap.sh); `make help` lists the rest.
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: help demo test lint typecheck unit e2e bootstrap tools dev-cluster-up dev-cluster-down clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

bootstrap:  ## install Debian packages, .venv and the Go-built Kubernetes tools
	hack/bootstrap.sh

demo:  ## run the main job: the runtime with the example tenants (no cluster needed)
	hack/bootstrap.sh --no-go
	$(VENV)/ottc demo

test: bootstrap lint typecheck  ## run every test: lint, types, unit, integration, e2e
	$(VENV)/pytest $(PYTEST_ARGS)

lint:  ## ruff
	$(VENV)/ruff check runtime operator tests
	$(VENV)/ruff format --check runtime operator tests

typecheck:  ## mypy --strict
	$(VENV)/mypy

unit:  ## unit tests only (seconds, no cluster)
	$(VENV)/pytest tests/unit $(PYTEST_ARGS)

e2e:  ## e2e tests against the real control plane
	$(VENV)/pytest tests/e2e $(PYTEST_ARGS)

tools:  ## build etcd, kube-apiserver, kube-controller-manager, kubectl, helm (cached)
	hack/build-tools.sh

clean:  ## remove build outputs (keeps the Go cache)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .artifacts
