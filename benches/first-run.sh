#!/usr/bin/env bash
# Benchmark: the README's demo command on a fresh machine, to the first certificate.
#
# A fresh Debian bookworm root (debootstrap, minbase) holds what a new build host has before
# anything of wildcert's: gcc, git, python3 with venv, the CA certificates, and this machine's
# Rust toolchain (rustup's home, bind-mounted read-only). Everything else starts empty: no
# apt lists, no Pebble/BIND/moto, an empty cargo registry and target directory. The repo's
# HEAD is cloned into it and `scripts/demo` runs there under `time`; its own per-step lines
# show where the time goes. Run it on an otherwise idle machine.
#
#   sudo benches/first-run.sh            # needs root (debootstrap, chroot, mounts)
#
# Mounts are made in a private mount namespace, so they end with the script; the root is
# deleted afterwards (KEEP=1 keeps it, for a look around).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "first-run: needs root (debootstrap, chroot)" >&2; exit 1; }

if [ "${FIRST_RUN_INSIDE:-}" != 1 ]; then
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  exec env FIRST_RUN_INSIDE=1 unshare --mount --propagation private "$0" "$@"
fi

rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_bin=$(dirname "$(command -v cargo)")
root=$(mktemp -d /var/tmp/wildcert-first-run.XXXXXX)
chmod 0755 "$root" # apt's download user must reach its cache in there
cleanup() {
  [ -x "$root/root/wildcert/scripts/demo" ] && chroot "$root" /root/wildcert/scripts/demo stop >/dev/null 2>&1
  umount -R "$root/proc" "$root/dev" "$root/sys" "$root/root/.rustup" 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "first-run: root kept in $root"; else rm -rf "$root"; fi
}
trap cleanup EXIT

echo "== preparing a fresh Debian root in $root (not timed)"
debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A host that reaches the network through an intercepting proxy trusts its CA: so does the
# fresh root (and pip, where a pip.conf names a bundle).
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  gcc libc6-dev git python3 python3-venv ca-certificates >/dev/null && update-ca-certificates >/dev/null'
rm -rf "$root"/var/lib/apt/lists/*
mkdir -p "$root/root/.rustup" "$root/root/.cargo/bin"
mount --bind "$rustup_home" "$root/root/.rustup"
mount -o remount,bind,ro "$root/root/.rustup"
for tool in cargo rustc rustdoc rustup; do cp -a "$cargo_bin/$tool" "$root/root/.cargo/bin/"; done
git clone -q "$repo" "$root/root/wildcert"
echo "== $(git -C "$root/root/wildcert" log --oneline -1 | cut -c1-72)"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

bundle=/etc/ssl/certs/ca-certificates.crt
chroot "$root" env -i HOME=/root TERM=dumb \
  PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  SSL_CERT_FILE=$bundle PIP_CERT=$bundle REQUESTS_CA_BUNDLE=$bundle CURL_CA_BUNDLE=$bundle \
  bash -c 'cd /root/wildcert && time scripts/demo' 2>&1 | grep -v '^W: '
