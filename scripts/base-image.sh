#!/usr/bin/env bash
# Makes the images' base, Debian 12 (bookworm), from Debian's own packages with
# mmdebstrap, and stores it in podman under the public image's name, so that
# `FROM docker.io/library/debian:bookworm` finds it without a pull. Online, the
# same Containerfiles build on the public image instead; this is for machines
# that reach Debian's archive but no image registry.
#
#   scripts/base-image.sh [--user USER] [--force]
#
# --user USER  store the image in USER's rootless podman (when run as root;
#              rootless podman is what builds and runs the images here)
# --force      make it again even if podman has it
# Idempotent: does nothing when the image exists. Needs mmdebstrap (apt).
set -euo pipefail

image="docker.io/library/debian:bookworm"
suite="bookworm"
user=""
force=0
say() { echo "base-image: $*" >&2; }
die() { say "$*"; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --user) user="${2:?--user needs a name}"; shift 2 ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

as_user() {
    if [ -n "$user" ] && [ "$(id -un)" != "$user" ]; then
        local uid
        uid="$(id -u "$user")" || die "no user $user"
        setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups -- \
            env HOME="$(getent passwd "$user" | cut -d: -f6)" USER="$user" \
            XDG_RUNTIME_DIR="/run/user/$uid" PATH=/usr/bin:/bin "$@"
    else
        "$@"
    fi
}

command -v podman >/dev/null || die "podman is missing; run scripts/install-system-deps.sh"
if [ "$force" -eq 0 ] && as_user podman image exists "$image"; then
    say "$image is in podman already"
    exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing; run scripts/install-system-deps.sh"

work="$(mktemp -d /tmp/kube-pmix-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
start=$SECONDS
# minbase: essential packages and apt only, as small as the public image. The
# archive and its keys are the machine's own apt set-up's.
mmdebstrap --variant=minbase --quiet \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
    "$suite" "$work/rootfs.tar"
chmod 0644 "$work/rootfs.tar"
as_user podman import -q --change 'CMD ["/bin/bash"]' "$work/rootfs.tar" "$image" >/dev/null
say "$image made in $((SECONDS - start)) s"
