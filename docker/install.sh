#!/usr/bin/env bash
# The image's build steps, as a script: the Dockerfile runs it, and CI runs
# it on the host (there is no Docker engine on our machines), so the path
# that is tested is the path the image is built by.
#
#   docker/install.sh [DESTDIR]
#
# Installs the Debian packages, builds the module with the project's
# Makefile (the same tools/configure-nginx as "make"), and installs the
# module and the image's configuration under DESTDIR (default /).  Then
# "nginx -t" checks that configuration.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-/}
dest=${dest%/}

# the build's packages only: the image is not where the tests run
BUILD_ONLY=1 make -C "$top" deps
make -C "$top" build

install -D -m 0644 "$top/build/ngx_http_foundry_module.so" \
    "$dest/usr/lib/nginx/modules/ngx_http_foundry_module.so"
install -D -m 0644 "$top/docker/nginx.conf" "$dest/etc/nginx/nginx.conf"
install -D -m 0644 "$top/conf.d/foundry_proxy_params" \
    "$dest/etc/nginx/foundry_proxy_params"
install -D -m 0644 "$top/docker/gateway.conf" \
    "$dest/etc/nginx/conf.d/gateway.conf"

# check the installed configuration; outside of an image, with its paths
# moved under DESTDIR
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT

sed -e "s|/usr/lib/nginx/modules/|$dest/usr/lib/nginx/modules/|" \
    -e "s|/etc/nginx/|$dest/etc/nginx/|g" \
    -e "s|/tmp/nginx|$check|g" \
    "$dest/etc/nginx/nginx.conf" > "$check/nginx.conf"

/usr/sbin/nginx -t -q -p "$check" -c "$check/nginx.conf"
echo "docker/install.sh: installed under ${dest:-/}, nginx -t ok"
