#!/usr/bin/env bash
# Installs the Debian packages the local cluster needs, when missing: containerd and runc
# (the node's runtime), CNI plugins, iptables and conntrack (kube-proxy), busybox-static
# (the shell in the vault image), openssl (the cluster's PKI), curl (e2e scrapes metrics
# inside the node namespace).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
want=(containerd runc containernetworking-plugins iptables conntrack busybox-static openssl iproute2 util-linux curl)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; install them as root: apt-get install -y ${missing[*]}"
log "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package may start its own containerd; ours runs with its own config and socket.
