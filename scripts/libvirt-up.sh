#!/usr/bin/env bash
# Makes this machine a libvirt host for sigmalite's libvirt driver and its tests: installs the
# Debian packages that are missing, then starts virtlogd and libvirtd if they do not run.
# Idempotent: a second run changes nothing and takes well under a second.
#
# Written for hosts without systemd (CI, containers). On a systemd host, install the same
# packages and let systemd run the daemons instead (docs/libvirt.md).
#
# libvirtd is pinned to CPU 0: on a VM whose vCPUs report different CPUIDs, libvirtd otherwise
# throws its QEMU capability cache away on about half of its starts ("host cpuid changed") and
# probes QEMU again for ~8 s, at start-up and again at a domain's start. QEMU itself still gets
# every CPU (libvirt resets a guest's affinity).
#
# Environment: LIBVIRT_UP_WAIT (seconds to wait for libvirtd to answer, default 120).
set -euo pipefail

PACKAGES=(qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients busybox-static cpio
  linux-image-amd64 dnsmasq-base socat xorriso isolinux)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$' ||
    missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "libvirt-up: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A daemon runs if its pidfile names a live process of that name. PID 1 here may never reap
# orphans, so a killed daemon lingers as a zombie that `kill -0` still finds: read its state.
running() { # name pidfile
  local pid state
  pid=$(cat "$2" 2>/dev/null) || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
  state=$(sed -E 's/^[0-9]+ \(.*\) (.).*/\1/' "/proc/$pid/stat")
  [ "$state" != Z ] && [ "$state" != X ]
}

mkdir -p /run/libvirt /var/log/libvirt
if ! running virtlogd /run/virtlogd.pid; then
  echo "libvirt-up: starting virtlogd" >&2
  virtlogd -d -p /run/virtlogd.pid
fi
if ! running libvirtd /run/libvirtd.pid; then
  echo "libvirt-up: starting libvirtd" >&2
  rm -f /run/libvirtd.pid
  taskset -c 0 libvirtd -d -p /run/libvirtd.pid
fi

# The first start probes QEMU's capabilities (7-9 s here); wait until libvirtd answers.
deadline=$((SECONDS + ${LIBVIRT_UP_WAIT:-120}))
until virsh -q -c qemu:///system version >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ]; then
    echo "libvirt-up: libvirtd does not answer on qemu:///system" >&2
    exit 1
  fi
  sleep 0.2
done
echo "libvirt-up: $(virsh -c qemu:///system version | sed -n 's/^Running hypervisor: //p') ready" >&2
