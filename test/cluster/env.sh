# shellcheck shell=bash
# Settings of the local cluster, shared by up.sh, down.sh and the e2e tests (which read the
# same defaults from Go). Source it after hack/lib.sh.
VK_STATE=${VAULTKUBE_STATE:-$VK_CACHE/cluster}
VK_NETNS=${VAULTKUBE_NETNS:-vaultkube}
VK_HOST_IP=10.250.0.1
VK_NODE_IP=10.250.0.2
VK_NODE_NAME=vk-node
VK_SERVICE_CIDR=10.96.0.0/24
VK_POD_CIDR=10.244.0.0/24
VK_DNS_IP=10.96.0.10
VK_KUBECONFIG=$VK_STATE/admin.kubeconfig
VK_PIDS=$VK_STATE/pids
NSENTER=(nsenter "--net=/run/netns/$VK_NETNS")

kubectl_vk() { "$VK_BIN/kubectl" --kubeconfig "$VK_KUBECONFIG" "$@"; }

# start NAME CMD...: start CMD in the node's network namespace, log to $VK_STATE/logs/NAME.log,
# record its PID for down.sh.
start() {
  local name=$1
  shift
  mkdir -p "$VK_STATE/logs" "$VK_PIDS"
  "${NSENTER[@]}" "$@" >"$VK_STATE/logs/$name.log" 2>&1 &
  echo $! >"$VK_PIDS/$name"
}

running() { [ -f "$VK_PIDS/$1" ] && kill -0 "$(cat "$VK_PIDS/$1")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "timed out after ${secs}s waiting for $what; see $VK_STATE/logs"
  return 1
}
