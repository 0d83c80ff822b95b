#!/usr/bin/env bash
# Renders the chart into plain manifests for clusters without Helm, one folder per value set
# in helm/ott-compliance/ci/, and copies crds/ (the source of truth) into the chart first.
# tests/unit/deploy/test_chart.py fails when either output is stale: run this after changing the
# chart, its value sets or crds/.
#
# Usage: hack/render-manifests.sh [OUTPUT_DIR]   (default: examples/manifests)
#        HELM=/path/to/helm hack/render-manifests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-examples/manifests}"
chart=helm/ott-compliance
release=ott-compliance
namespace=ott-compliance-system
# Pinned so that the output does not depend on the helm binary's built-in default version.
kube_version=1.34.4
helm="${HELM:-}"
if [[ -z "$helm" ]]; then
  helm="$(hack/build-tools.sh 2>/dev/null | tail -n1)/helm"
fi

# One source of truth for the CRDs: crds/ at the root. Helm packages only files inside the
# chart (a symlink does not survive `helm package` reliably), so the chart holds a copy.
if [[ "$out" == "examples/manifests" ]]; then
  cp crds/*.yaml "$chart/crds/"
fi

mkdir -p "$out"
rm -rf "${out:?}"/*/
header="# Rendered by hack/render-manifests.sh from $chart; do not edit, re-render."
{
  echo "$header"
  for crd in "$chart"/crds/*.yaml; do
    echo "---"
    cat "$crd"
  done
} > "$out/crds.yaml"
cat > "$out/namespace.yaml" <<YAML
$header
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
  labels:
    app.kubernetes.io/part-of: ott-compliance
    pod-security.kubernetes.io/enforce: restricted
YAML
for values in "$chart"/ci/*-values.yaml; do
  set_name="$(basename "$values" -values.yaml)"
  mkdir -p "$out/$set_name"
  {
    echo "$header"
    echo "# Value set: $values"
    "$helm" template "$release" "$chart" --namespace "$namespace" --kube-version "$kube_version" \
      --skip-crds -f "$values"
  } > "$out/$set_name/ott-compliance.yaml"
done
echo "rendered $(find "$out" -name '*.yaml' | wc -l) files into $out" >&2
