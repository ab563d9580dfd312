#!/usr/bin/env bash
# Installs helm (helm.sh/helm/v4, from the Go module proxy) into $VK_BIN (default
# ~/.cache/vaultkube/bin), skipped when its stamp names the wanted version. Prints the path of
# the helm binary on stdout. Helm v3 (v3.22.0 is served by the proxy) must not be used: the
# chart is tested with v4 only. Usage: hack/helm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

HELM_VERSION=${HELM_VERSION:-v4.3.2}
case $HELM_VERSION in
  v4.*) ;;
  *) die "HELM_VERSION=$HELM_VERSION: the chart needs helm v4 (helm.sh/helm/v4), not $HELM_VERSION" ;;
esac

stamp=$VK_BIN/.helm.version
if [ -x "$VK_BIN/helm" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$HELM_VERSION" ]; then
  log "helm $HELM_VERSION already in $VK_BIN"
else
  need_go
  mkdir -p "$VK_BIN"
  log "installing helm $HELM_VERSION into $VK_BIN (go install from the module proxy)"
  install_helm() {
    local v=helm.sh/helm/v4/internal/version
    GOBIN=$VK_BIN go install -ldflags "-s -w -X $v.version=$HELM_VERSION" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  }
  timed "helm $HELM_VERSION" install_helm
  echo "$HELM_VERSION" > "$stamp"
fi
echo "$VK_BIN/helm"
