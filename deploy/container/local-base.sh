#!/usr/bin/env bash
# Makes the two base images the Containerfiles build FROM on a machine without a registry:
#   localhost/debian:bookworm              a minimal Debian 12 from debootstrap (the runtime base)
#   localhost/swift-build-base:bookworm    that plus what a Swift toolchain needs to link; the
#                                          toolchain itself is mounted at build time (--volume)
# Elsewhere, use the public images instead (the Containerfiles' defaults).
# Needs root, debootstrap and podman. The Debian base is made once; the build base is rebuilt from
# its Containerfile each time (podman's layer cache makes that instant when nothing changed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if ! podman image exists localhost/debian:bookworm; then
    rootfs="$(mktemp -d)"
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - localhost/debian:bookworm >/dev/null
fi

podman build --isolation chroot --quiet -t localhost/swift-build-base:bookworm \
    -f "$here/swift-build-base.Containerfile" "$here" >/dev/null
