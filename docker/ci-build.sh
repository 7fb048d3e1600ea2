#!/usr/bin/env bash
# Builds docker/Dockerfile with podman, runs the image with the demo
# configuration in front of the bundled mock upstream, sends a chat
# completion and a discovery call through it, runs its health check,
# checks its logs for secrets, and removes what it made.  CI runs it; so
# can you (as root, on Debian 12):
#
#   docker/ci-build.sh           the whole check
#   docker/ci-build.sh --base    only make the base image (no registry)
#
# No registry is needed: the Dockerfile's base image (debian:12-slim),
# when podman does not have it, is made with debootstrap from the Debian
# mirror this machine's apt uses, and imported under the Dockerfile's name.
# The debootstrapped tree is cached as build/docker/<suite>-minbase.tar;
# delete it to make it again.
#
# Environment:
#   DEBIAN_MIRROR   the mirror for debootstrap (default: from
#                   /etc/apt/sources.list{,.d/*})
#   DEBIAN_SUITE    default bookworm (Debian 12, the Dockerfile's base)
#   KEEP_IMAGE=1    keep the built image (tagged localhost/nginx-foundry:ci)
#
# The container runs in a network namespace of its own, made for the run
# (ip netns), with the mock: its ports (8080 health, 8000 gateway, 8081
# mock) are private to it, and nothing on the host's ports gets in the way.
# To the container this is --network=host.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=$top/build/docker
suite=${DEBIAN_SUITE:-bookworm}
image=localhost/nginx-foundry:ci
name=nginx-foundry-ci-$$
netns=foundry-ci-$$

say() { echo "docker/ci-build.sh: $*"; }
fail() { echo "docker/ci-build.sh: FAIL: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

# the packages: podman (with runc: crun cannot set the rlimits in
# sandboxes like ours), debootstrap for the base image
need=()
for p in podman buildah runc debootstrap iproute2 curl; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "missing packages, run as root:" \
        "apt-get install -y --no-install-recommends ${need[*]}"
    say "installing: ${need[*]}"
    if ! apt-get install -y --no-install-recommends "${need[@]}"; then
        apt-get update
        apt-get install -y --no-install-recommends "${need[@]}"
    fi
fi

[ "$(id -u)" = 0 ] || fail "run as root (rootful podman, ip netns)"

tmp=$(mktemp -d)
chmod 0755 "$tmp"
mock_pid=
made_base=

cleanup() {
    local rc=$?
    set +e
    podman rm -f -t 0 "$name" >/dev/null 2>&1
    if [ "${KEEP_IMAGE:-0}" != 1 ] && [ "${base_only:-0}" != 1 ]; then
        podman rmi -f "$image" >/dev/null 2>&1
    fi
    if [ -n "$made_base" ] && [ "${base_only:-0}" != 1 ]; then
        podman rmi -f "$made_base" >/dev/null 2>&1
    fi
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null
        wait "$mock_pid" 2>/dev/null
    fi
    ip netns del "$netns" 2>/dev/null
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# podman's settings for this run only: runc, cgroupfs, and the rlimits of
# the container no higher than this machine's hard limits (podman's own
# defaults are higher, and runc cannot raise them without CAP_SYS_RESOURCE;
# on our sandboxes runc fails with an nproc over 32768 even below the hard
# limit)
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat > "$tmp/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF=$tmp/containers.conf

# the base image: the Dockerfile's FROM, from podman's store, else
# debootstrapped (cached) and imported under that name
debian_mirror() {
    local f
    if [ -n "${DEBIAN_MIRROR:-}" ]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    # one-line format: deb [opts] URI SUITE ...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '$1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == s) { print $i; exit } }' "$f"
    done | head -n 1 | grep . && return
    # deb822 format: the URIs of a stanza whose Suites has SUITE
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '
            /^[ \t]*$/ { if (ok && uri != "") { print uri; exit }
                         ok = 0; uri = ""; next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++)
                                           if ($i == s) ok = 1 }
            END { if (ok && uri != "") print uri }' "$f"
    done | head -n 1 | grep . && return
    echo http://deb.debian.org/debian
}

base=$(sed -n 's/^FROM[ \t]\{1,\}\([^ \t]*\).*/\1/p' \
       "$top/docker/Dockerfile" | sort -u)
[ "$(echo "$base" | wc -l)" = 1 ] \
    || fail "docker/Dockerfile: more than one base"
case "$base" in
    */*) ;;
    *) base=docker.io/library/$base ;;
esac

if podman image exists "$base"; then
    say "base image $base: from podman's store"
else
    tarball=$cache/$suite-minbase.tar
    if [ ! -s "$tarball" ]; then
        mirror=$(debian_mirror)
        say "debootstrap $suite from $mirror (cached in $tarball)"
        mkdir -p "$cache"
        root=$tmp/rootfs
        debootstrap --variant=minbase "$suite" "$root" "$mirror" \
            > "$tmp/debootstrap.log" 2>&1 \
            || { tail -n 30 "$tmp/debootstrap.log" >&2; fail debootstrap; }
        rm -rf "$root"/var/cache/apt/archives/*.deb \
               "$root"/var/lib/apt/lists/*_Packages
        tar -C "$root" -cf "$tarball.tmp" .
        mv -f "$tarball.tmp" "$tarball"
        rm -rf "$root"
    fi
    say "base image $base: imported from $tarball"
    podman import -q "$tarball" "$base" >/dev/null
    made_base=$base
fi

if [ "${1:-}" = --base ]; then
    base_only=1
    say "base image $base ready; now: podman build --pull=never" \
        "--network=host --format docker -f docker/Dockerfile -t nginx-foundry ."
    exit 0
fi

# the official-image variant cannot be pulled here (its install steps are
# checked on the host, docker/install-source.sh): the nginx version it is
# built for by default is the one the docs name
official=$(sed -n 's/^ARG NGINX_VERSION=//p' \
           "$top/docker/Dockerfile.official")
[ -n "$official" ] \
    || fail "docker/Dockerfile.official: no ARG NGINX_VERSION default"
named=$(grep -rhoE 'nginx:[0-9]+\.[0-9]+\.[0-9]+|NGINX_VERSION=[0-9.]+' \
        "$top/README.md" "$top/docs" "$top/docker" | sed 's/.*[:=]//' | sort -u)
[ "$named" = "$official" ] \
    || fail "docker/Dockerfile.official builds nginx $official," \
            "the docs name: $(echo "$named" | tr "\n" " ")"
say "official-image variant: nginx $official by default, as the docs say"

# the image: docker format, for its HEALTHCHECK; the network of the host
# for apt-get inside the build; no intermediate images left behind
mkdir -p "$cache"
say "building $image (log: build/docker/build.log)"
podman build --pull=never --network=host --format docker --layers=false \
    --force-rm --ulimit "nofile=$nofile:$nofile" \
    --ulimit "nproc=$nproc:$nproc" \
    -f "$top/docker/Dockerfile" -t "$image" "$top" 2>&1 \
    | while IFS= read -r l; do echo "$(date +%T) $l"; done \
    > "$cache/build.log" \
    || { tail -n 40 "$cache/build.log" >&2; fail "podman build"; }

# the demo configuration, as a file of the image's conf.d: the gateway on
# port 8000 (8080 is the image's health server), the mock upstream on
# 127.0.0.1:8081 as in "make demo", its JSON access log under /tmp, the
# error log at info level
mkdir -p "$tmp/conf"
{
    echo "error_log stderr info;"
    sed -e 's|listen 127\.0\.0\.1:8080;|listen 8000;|' \
        -e 's#access_log \(logs\|/var/log/nginx\)/#access_log /tmp/nginx/#' \
        "$top/conf.d/demo.conf"
} > "$tmp/conf/demo.conf"
cp "$top/conf.d/demo-keys.json" "$top/conf.d/demo-clients.json" \
   "$top/conf.d/demo-oauth2-key.pem" "$tmp/conf/"
chmod 0755 "$tmp/conf"
chmod 0644 "$tmp/conf"/*

# the network namespace of the run, its loopback, the mock in it
ip netns add "$netns"
ip -n "$netns" link set lo up
in_ns() { ip netns exec "$netns" "$@"; }

# (ip netns exec execs the mock: $! is the mock's pid)
ip netns exec "$netns" "$top/tools/foundry-mock" --port 8081 --quiet &
mock_pid=$!

say "running $image"
podman run -d --name "$name" --network "ns:/run/netns/$netns" \
    --read-only --tmpfs /tmp --health-interval disable \
    -v "$tmp/conf/demo.conf:/etc/nginx/conf.d/demo.conf:ro" \
    -v "$tmp/conf/demo-keys.json:/etc/nginx/demo-keys.json:ro" \
    -v "$tmp/conf/demo-clients.json:/etc/nginx/demo-clients.json:ro" \
    -v "$tmp/conf/demo-oauth2-key.pem:/etc/nginx/demo-oauth2-key.pem:ro" \
    "$image" > "$tmp/run.log" 2>&1 \
    || { cat "$tmp/run.log" >&2; fail "podman run"; }

up=
for _ in $(seq 100); do
    if in_ns curl -fsS -o /dev/null http://127.0.0.1:8080/healthz 2>/dev/null
    then
        up=1
        break
    fi
    sleep 0.1
done
[ -n "$up" ] || { podman logs "$name" >&2 || true; fail "no answer on 8080"; }

# the health check of the image, as the engine runs it
podman healthcheck run "$name" || fail "health check"
say "health check: healthy"

# a chat completion, the deployment in the body
out=$(in_ns curl -sS http://127.0.0.1:8000/v1/chat/completions \
    -H 'api-key: demo-key' -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}')
echo "$out" | grep -q '"content":"Hello from the mock upstream."' \
    || fail "chat completion: $out"
say "chat completion: the mock's answer"

# discovery, OpenAI format, the key as the OpenAI SDKs send it
out=$(in_ns curl -sS http://127.0.0.1:8000/v1/models \
    -H 'Authorization: Bearer demo-key')
echo "$out" | grep -q '"id":"gpt-4o-mini"' || fail "discovery: $out"
say "discovery: the configured deployments"

# a wrong key is refused
code=$(in_ns curl -sS -o "$tmp/refused" -w '%{http_code}' \
    http://127.0.0.1:8000/v1/chat/completions \
    -H 'api-key: wrong-key-ci-build-secret' \
    -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}')
[ "$code" = 401 ] || fail "a wrong key: $code $(cat "$tmp/refused")"
say "a wrong key: 401"

# the logs: the container's output (access log, error log at info) and
# the demo's JSON access log; no key, no upstream credential
podman logs "$name" > "$tmp/logs" 2>&1
podman exec "$name" cat /tmp/nginx/foundry.json >> "$tmp/logs"
grep -q '"status":200' "$tmp/logs" || fail "no access log line in the logs"
for secret in demo-key wrong-key-ci-build-secret demo-upstream-key mock-token-1 \
              demo-upstream-token
do
    if grep -n -w -F -- "$secret" "$tmp/logs" >&2; then
        fail "\"$secret\" in the container's logs"
    fi
done
say "logs: $(wc -l < "$tmp/logs") lines, no key nor upstream credential"

say "ok"
