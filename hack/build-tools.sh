#!/usr/bin/env bash
# Builds the real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager), kubectl and helm, and Jaeger v2 (the tracing tests'
# backend) from the Go module proxy, pinned, and caches the binaries under the
# user's cache directory keyed by version. A second run with the same versions
# does nothing.
#
# Usage: hack/build-tools.sh            # build what is missing, print the Kubernetes bin dir
#        hack/build-tools.sh jaeger     # only Jaeger; print its bin dir
#        OTTC_TOOLS_DIR=... hack/build-tools.sh
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.19.5}"
# Jaeger's Go module keeps v1 tags; its cmd/jaeger at v1.76.0 is the Jaeger v2.13.0 binary
# (the OpenTelemetry-collector based one that ingests OTLP natively).
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"

cache_root="${OTTC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ott-compliance/tools}"
bin_dir="$cache_root/bin-k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}-helm-${HELM_VERSION}"
jaeger_bin_dir="$cache_root/jaeger-${JAEGER_VERSION}"
work_root="$cache_root/src"
export GOFLAGS="${GOFLAGS:--mod=mod}"
export CGO_ENABLED=0

log() { printf '[build-tools] %s\n' "$*" >&2; }

need() {
  for b in "$@"; do [[ -x "$bin_dir/$b" ]] || return 0; done
  return 1
}

if ! command -v go >/dev/null 2>&1; then
  log "Go is required (apt-get install golang-go, or a Go toolchain on PATH)"; exit 1
fi
mkdir -p "$bin_dir" "$work_root"

build_kubernetes() {
  local dir="$work_root/kubernetes-$KUBERNETES_VERSION" minor staging
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  staging="v0.${KUBERNETES_VERSION#v1.}"
  mkdir -p "$dir"
  log "kubernetes $KUBERNETES_VERSION: resolving the module graph"
  # k8s.io/kubernetes replaces its staging modules with local paths that the
  # module proxy does not ship; point each one at its published version instead.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module ottc.local/k8stools"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools
GO
  local ld="-s -w"
  ld+=" -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
  ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
  ld+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (
    cd "$dir"
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
           "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
           "k8s.io/kubernetes/cmd/kubectl@$KUBERNETES_VERSION" >/dev/null
    for cmd in kube-apiserver kube-controller-manager kubectl; do
      log "kubernetes $KUBERNETES_VERSION: building $cmd (first build takes several minutes)"
      go build -trimpath -ldflags "$ld" -o "$bin_dir/$cmd.tmp.$$" "k8s.io/kubernetes/cmd/$cmd"
      mv "$bin_dir/$cmd.tmp.$$" "$bin_dir/$cmd"
    done
  )
}

build_etcd() {
  local dir="$work_root/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  log "etcd $ETCD_VERSION: building"
  printf 'module ottc.local/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$dir/go.mod"
  cat > "$dir/main.go" <<'GO'
// Command etcd runs the etcd server from its published server module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$dir"
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$bin_dir/etcd.tmp.$$" .
    mv "$bin_dir/etcd.tmp.$$" "$bin_dir/etcd"
  )
}

build_helm() {
  log "helm $HELM_VERSION: building"
  local major="${HELM_VERSION%%.*}"
  GOBIN="$bin_dir/.helm" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/$major/cmd/helm@$HELM_VERSION"
  mv "$bin_dir/.helm/helm" "$bin_dir/helm"
  rmdir "$bin_dir/.helm"
}

build_jaeger() {
  local dir="$work_root/jaeger-$JAEGER_VERSION" gomod
  mkdir -p "$dir" "$jaeger_bin_dir"
  log "jaeger $JAEGER_VERSION: building cmd/jaeger (first build takes several minutes)"
  # `go install module@version` refuses modules with replace directives, and Jaeger's go.mod
  # has some: a wrapper module requires Jaeger and copies them.
  gomod=$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    printf 'module ottc.local/jaeger\n\ngo 1.24.6\n\nrequire github.com/jaegertracing/jaeger %s\n\n' "$JAEGER_VERSION"
    grep '^replace ' "$gomod" || true
  } > "$dir/go.mod"
  cat > "$dir/tools.go" <<'GO'
//go:build tools

package tools
GO
  local pkg="github.com/jaegertracing/jaeger/internal/version"
  (
    cd "$dir"
    go get "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >/dev/null
    go build -trimpath \
      -ldflags "-s -w -X $pkg.latestVersion=$JAEGER_VERSION -X $pkg.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      -o "$jaeger_bin_dir/jaeger.tmp.$$" github.com/jaegertracing/jaeger/cmd/jaeger
    mv "$jaeger_bin_dir/jaeger.tmp.$$" "$jaeger_bin_dir/jaeger"
  )
}

case "${1:-all}" in
  jaeger)
    [[ -x "$jaeger_bin_dir/jaeger" ]] || build_jaeger
    log "jaeger ready in $jaeger_bin_dir"
    echo "$jaeger_bin_dir"
    exit 0
    ;;
  all) ;;
  *) log "unknown component '$1' (expected: jaeger, or nothing for everything)"; exit 2 ;;
esac

if need etcd; then build_etcd; fi
if need kube-apiserver kube-controller-manager kubectl; then build_kubernetes; fi
if need helm; then build_helm; fi
[[ -x "$jaeger_bin_dir/jaeger" ]] || build_jaeger
log "tools ready in $bin_dir (jaeger in $jaeger_bin_dir)"
# The last line stays the Kubernetes bin dir: ott_runtime.devcluster.tools reads it.
echo "$bin_dir"
