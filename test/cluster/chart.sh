#!/usr/bin/env bash
# vaultkube installed in the local cluster with its Helm chart (charts/vaultkube), as users
# install it: release vaultkube in namespace vaultkube-system, injector and CSI provider (the
# provider named vault, for the driver that test/cluster/csi.sh up runs).
#   test/cluster/chart.sh up     helm upgrade --install --wait; first removes the injector of
#                                test/cluster/injector.sh and the provider of csi.sh provider,
#                                which would answer for the same pods and the same vault.sock
#   test/cluster/chart.sh down   helm uninstall (the e2e suite deploys its own components)
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh
RELEASE=vaultkube
NS=vaultkube-system

helm_vk() { "$HELM" --kubeconfig "$VK_KUBECONFIG" "$@"; }

case ${1:-up} in
  up)
    kubectl_vk get --raw /readyz >/dev/null 2>&1 || die "the local cluster is not running: make cluster-up"
    HELM=$(hack/helm.sh)
    test/cluster/images.sh vaultkube
    test/cluster/injector.sh down
    kubectl_vk delete -f test/cluster/manifests/csi-provider.yaml --ignore-not-found --wait=true >/dev/null
    # The image is rebuilt every time under the same tag: roll the pods when it changed.
    digest=$(sha256sum "$VK_CACHE/images/vaultkube.tar" | cut -c1-12)
    helm_vk upgrade --install "$RELEASE" charts/vaultkube -n "$NS" --create-namespace --wait --timeout 5m \
      --set image.repository=vaultkube.local/vaultkube --set image.tag=dev --set image.pullPolicy=Never \
      --set vault.address=http://vault.vault.svc:8200 \
      --set-string injector.podAnnotations.vaultkube\\.io/image-archive="$digest" \
      --set-string csi.podAnnotations.vaultkube\\.io/image-archive="$digest" >/dev/null ||
      die "helm upgrade --install $RELEASE failed: kubectl -n $NS get pods; kubectl -n $NS logs deploy/$RELEASE-injector"
    log "chart installed: release $RELEASE in namespace $NS (injector, CSI provider vault)"
    ;;
  down)
    [ -x "$VK_BIN/helm" ] || exit 0 # no helm: nothing was installed with it
    HELM=$VK_BIN/helm
    if helm_vk status "$RELEASE" -n "$NS" >/dev/null 2>&1; then
      helm_vk uninstall "$RELEASE" -n "$NS" --wait --timeout 2m >/dev/null
      kubectl_vk delete namespace "$NS" --ignore-not-found --timeout 60s >/dev/null
      log "chart release $RELEASE removed"
    fi
    ;;
  *) die "usage: test/cluster/chart.sh [up|down]" ;;
esac
