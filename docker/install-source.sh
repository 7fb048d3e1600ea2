#!/usr/bin/env bash
# The build steps of the image for the official nginx image
# (docker/Dockerfile.official), as a script: the Dockerfile runs it, and
# CI runs it on the host with nginx's source from Debian's archive.
#
#   docker/install-source.sh NGINX_SRC [DESTDIR]
#
# NGINX_SRC is the upstream source of the very nginx version the module
# will load into (the official image's "nginx -v").  The module is built
# with the project's Makefile (make NGINX_SRC=..., --with-compat), and is
# installed with the image's configuration under DESTDIR (default /).
# Then the nginx built from the same source runs "nginx -t" on it.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: docker/install-source.sh NGINX_SRC [DESTDIR]}
dest=${2:-/}
dest=${dest%/}
build=$top/build/source

src=$(cd "$src" && pwd)
[ -f "$src/src/core/nginx.c" ] \
    || { echo "docker/install-source.sh: no nginx source in $src" >&2; exit 1; }

SOURCE_ONLY=1 "$top/tools/deps"
make -C "$top" build NGINX_SRC="$src" BUILD="$build"

tree=$build/nginx-$(basename "$src")

install -D -m 0644 "$tree/ngx_http_foundry_module.so" \
    "$dest/usr/lib/nginx/modules/ngx_http_foundry_module.so"
install -D -m 0644 "$top/docker/nginx.conf" "$dest/etc/nginx/nginx.conf"
install -D -m 0644 "$top/conf.d/foundry_proxy_params" \
    "$dest/etc/nginx/foundry_proxy_params"
install -D -m 0644 "$top/docker/gateway.conf" \
    "$dest/etc/nginx/conf.d/gateway.conf"

# check the installed configuration with the nginx of the same source
check=$(mktemp -d)
mkdir -p "$check/logs"
trap 'rm -rf "$check"' EXIT

sed -e "s|/usr/lib/nginx/modules/|$dest/usr/lib/nginx/modules/|" \
    -e "s|/etc/nginx/|$dest/etc/nginx/|g" \
    -e "s|/tmp/nginx|$check|g" \
    "$dest/etc/nginx/nginx.conf" > "$check/nginx.conf"

"$tree/objs/nginx" -t -q -p "$check" -c "$check/nginx.conf"
echo "docker/install-source.sh: nginx $(basename "$src") module installed" \
     "under ${dest:-/}, nginx -t ok"
