#!/usr/bin/env bash
# The real Secrets Store CSI Driver in the local cluster, and the vaultkube CSI provider beside it.
#   test/cluster/csi.sh up        the driver: its CRDs (from the Go module cache), the CSIDriver
#                                 object, RBAC, the DaemonSet kube-system/csi-secrets-store
#                                 (driver + our registrar); waits until kubelet registered it
#   test/cluster/csi.sh provider  the vaultkube CSI provider DaemonSet (namespace vaultkube),
#                                 serving vault.sock in /var/run/secrets-store-csi-providers
#   test/cluster/csi.sh down      removes both
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh
CSI_DRIVER_VERSION=${CSI_DRIVER_VERSION:-v1.6.1} # as hack/build-deps.sh builds it
DRIVER=secrets-store.csi.k8s.io
KROOT=$VK_STATE/kubelet/root

# crd_dir prints the driver module's CRD directory, downloading the module when needed.
crd_dir() {
  local m
  m=$(go env GOMODCACHE)/sigs.k8s.io/secrets-store-csi-driver@$CSI_DRIVER_VERSION
  [ -d "$m" ] || m=$(cd "$VK_CACHE" && go mod download -json "sigs.k8s.io/secrets-store-csi-driver@$CSI_DRIVER_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
  [ -d "$m/config/crd/bases" ] || die "no CRDs in $m/config/crd/bases"
  echo "$m/config/crd/bases"
}

driver_manifest() { sed "s|@KUBELET_ROOT@|$KROOT|g" test/cluster/manifests/csi-driver.yaml; }

registered() {
  kubectl_vk get csinode "$VK_NODE_NAME" -o jsonpath='{.spec.drivers[*].name}' 2>/dev/null | tr ' ' '\n' | grep -qx "$DRIVER"
}

case ${1:-up} in
  up)
    kubectl_vk get --raw /readyz >/dev/null 2>&1 || die "the local cluster is not running: make cluster-up"
    # Bidirectional mount propagation needs kubelet's root dir on a shared mount (up.sh does it).
    prop=$(findmnt -n -o PROPAGATION --target "$KROOT" 2>/dev/null || true)
    [ "$(findmnt -n -o TARGET --target "$KROOT" 2>/dev/null)" = "$KROOT" ] && [[ $prop == shared* ]] ||
      die "$KROOT is not a shared mount of its own (propagation '$prop'): the cluster was started by an older up.sh; restart it (make cluster-down cluster-up)"
    d=$(crd_dir)
    kubectl_vk apply -f "$d/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml" \
      -f "$d/secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml" >/dev/null
    kubectl_vk wait --for condition=established --timeout 60s \
      crd/secretproviderclasses.secrets-store.csi.x-k8s.io crd/secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io >/dev/null
    # The image may be newer than the running pods (a rebuilt driver or registrar): import it,
    # and restart a running DaemonSet when the archive changed (images.sh rebuilds it only then).
    tar=$VK_CACHE/images/csidriver.tar
    before=$(stat -c %Y "$tar" 2>/dev/null || echo 0)
    test/cluster/images.sh csidriver
    existed=0
    kubectl_vk -n kube-system get ds/csi-secrets-store >/dev/null 2>&1 && existed=1
    driver_manifest | kubectl_vk apply -f - >/dev/null
    if [ "$existed" = 1 ] && [ "$(stat -c %Y "$tar")" != "$before" ]; then
      kubectl_vk -n kube-system rollout restart ds/csi-secrets-store >/dev/null
    fi
    kubectl_vk -n kube-system rollout status ds/csi-secrets-store --timeout 180s >/dev/null ||
      die "DaemonSet kube-system/csi-secrets-store is not ready: kubectl -n kube-system logs ds/csi-secrets-store -c secrets-store (or -c node-driver-registrar)"
    wait_for "CSINode $VK_NODE_NAME to list $DRIVER" 120 registered ||
      die "kubelet did not register $DRIVER: see $VK_STATE/logs/kubelet.log and kubectl -n kube-system logs ds/csi-secrets-store -c node-driver-registrar"
    log "CSI driver $DRIVER $CSI_DRIVER_VERSION registered on $VK_NODE_NAME (socket $KROOT/plugins/csi-secrets-store/csi.sock, providers in /var/run/secrets-store-csi-providers)"
    ;;
  provider)
    kubectl_vk create namespace vaultkube --dry-run=client -o yaml | kubectl_vk apply -f - >/dev/null
    test/cluster/images.sh vaultkube
    existed=0
    kubectl_vk -n vaultkube get ds/vaultkube-csi-provider >/dev/null 2>&1 && existed=1
    kubectl_vk apply -f test/cluster/manifests/csi-provider.yaml >/dev/null
    # The vaultkube image is rebuilt every time (as for the injector): restart running pods.
    [ "$existed" = 0 ] || kubectl_vk -n vaultkube rollout restart ds/vaultkube-csi-provider >/dev/null
    kubectl_vk -n vaultkube rollout status ds/vaultkube-csi-provider --timeout 120s >/dev/null ||
      die "DaemonSet vaultkube/vaultkube-csi-provider is not ready: kubectl -n vaultkube logs ds/vaultkube-csi-provider"
    log "vaultkube CSI provider ready: /var/run/secrets-store-csi-providers/vault.sock"
    ;;
  down)
    kubectl_vk delete -f test/cluster/manifests/csi-provider.yaml --ignore-not-found --wait=false >/dev/null
    driver_manifest | kubectl_vk delete -f - --ignore-not-found >/dev/null
    d=$(crd_dir)
    kubectl_vk delete --ignore-not-found -f "$d/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml" \
      -f "$d/secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml" >/dev/null
    log "CSI driver and provider removed"
    ;;
  *) die "usage: test/cluster/csi.sh [up|provider|down]" ;;
esac
