#!/usr/bin/env bash
# Unpacks Debian 12's cloud-init and the Python packages its CloudSigma datasource imports into
# DIR (default /tmp/sigmalite-cloud-init), never installing them: installing cloud-init would
# change the machine's network setup. Run by .ci/run and by test/clients/cloud-init.test.ts;
# prints the directory to put on PYTHONPATH (for /usr/bin/python3). Idempotent: a complete
# unpack is reused.
set -euo pipefail
dir=${1:-/tmp/sigmalite-cloud-init}
site="$dir/root/usr/lib/python3/dist-packages"
if [ -f "$dir/complete" ]; then
  echo "$site"
  exit 0
fi
# What DataSourceCloudSigma (cloudinit.sources, cloudinit.util, cepko) imports at run time, less
# python3-yaml, which Debian's python3 has.
packages=(
  cloud-init python3-serial python3-requests python3-urllib3 python3-idna python3-certifi
  python3-chardet python3-charset-normalizer python3-jinja2 python3-markupsafe python3-configobj
  python3-six python3-jsonpatch python3-json-pointer python3-jsonschema python3-attr
  python3-pyrsistent python3-netifaces python3-yaml
)
rm -rf "$dir"
mkdir -p "$dir/debs"
cd "$dir/debs"
# apt's sandbox user cannot write into a directory of root's; the download itself is the same.
if ! apt-get download -o APT::Sandbox::User=root "${packages[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get download -o APT::Sandbox::User=root "${packages[@]}" >/dev/null
fi
for deb in *.deb; do dpkg-deb -x "$deb" "$dir/root"; done
touch "$dir/complete"
echo "$site"
