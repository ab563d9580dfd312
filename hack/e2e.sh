#!/usr/bin/env bash
# Runs the e2e suite against the local cluster. Reuses a running cluster; otherwise starts one
# and stops it afterwards (set VAULTKUBE_KEEP_CLUSTER=1 to keep it).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
. test/cluster/env.sh
started=0
if ! { running kube-apiserver && kubectl_vk get --raw /readyz >/dev/null 2>&1; }; then
  timed "cluster-up" test/cluster/up.sh 2
  started=1
else
  test/cluster/up.sh 2
fi
cleanup() {
  if [ "$started" = 1 ] && [ "${VAULTKUBE_KEEP_CLUSTER:-0}" != 1 ]; then
    test/cluster/down.sh
  fi
}
trap cleanup EXIT
# The cluster may be older than this checkout: import the vaultkube image built from it.
timed "vaultkube image" test/cluster/images.sh vaultkube
# A cluster left by `make demo` runs vaultkube from the chart (release vaultkube): the suite
# deploys its own injector and provider, which would share its pods and its vault.sock.
test/cluster/chart.sh down
# The real Secrets Store CSI Driver, registered with kubelet (test/e2e/csi_driver_test.go).
timed "csi driver" test/cluster/csi.sh up
export VAULTKUBE_STATE=$VK_STATE VAULTKUBE_BIN=$VK_BIN
timed "e2e tests" go test -tags e2e -count=1 -timeout 40m -v ./test/e2e/... "$@"
