#!/usr/bin/env bash
# Prepares rootless podman for the unprivileged user that runs MPI ranks
# (wrap-container's real-podman tests, the benchmark and the local cluster).
# Run as root; idempotent: every step checks before it changes anything.
#
#   scripts/setup-rootless-podman.sh [USER]      (default USER: mpiuser)
#
# What it ensures, and why:
#   - the user exists (another part of the project may have created it first;
#     we never change its uid),
#   - subordinate uid/gid ranges, so podman can map a whole user namespace,
#   - /dev/mqueue is mounted: runc bind-mounts it into every container,
#   - ~/.config/containers/containers.conf: runc (crun refuses this machine's
#     hybrid cgroup layout), cgroupfs manager and no conmon cgroup (a rootless
#     user cannot create cgroup v1 groups), file events logger (no journald),
#   - ~/.config/containers/storage.conf: native overlay when the kernel lets an
#     unprivileged user namespace mount it (measured fastest), else
#     fuse-overlayfs when /dev/fuse is usable, else vfs,
#   - an XDG_RUNTIME_DIR (/run/user/UID), which podman needs and no login
#     manager creates here,
#   - `podman info` works as the user.
set -euo pipefail

user="${1:-mpiuser}"
say() { echo "setup-rootless-podman: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (creates a user, mounts /dev/mqueue)"
command -v podman >/dev/null || die "podman is missing; run scripts/install-system-deps.sh"
command -v runc >/dev/null || die "runc is missing; run scripts/install-system-deps.sh"
command -v newuidmap >/dev/null || die "newuidmap is missing (package uidmap)"

# 1. The user. Concurrent creators race on useradd; a failed useradd is fine
#    when the user exists afterwards.
if ! id -u "$user" >/dev/null 2>&1; then
    useradd -m -U -s /bin/bash "$user" 2>/dev/null || id -u "$user" >/dev/null \
        || die "cannot create user $user"
    say "created user $user"
fi
uid="$(id -u "$user")"
gid="$(id -g "$user")"
home="$(getent passwd "$user" | cut -d: -f6)"
[ -d "$home" ] || { mkdir -p "$home"; chown "$uid:$gid" "$home"; }

# 2. Subordinate ids: take the first 65536-wide range above every range in use.
next_free_start() {
    local file="$1" start=100000
    if [ -s "$file" ]; then
        start="$(awk -F: 'BEGIN{m=100000} NF==3 {e=$2+$3; if (e>m) m=e} END{print m}' "$file")"
    fi
    echo "$start"
}
touch /etc/subuid /etc/subgid
if ! grep -q "^${user}:" /etc/subuid && ! grep -q "^${uid}:" /etc/subuid; then
    start="$(next_free_start /etc/subuid)"
    usermod --add-subuids "${start}-$((start + 65535))" "$user"
    say "subuids ${start}-$((start + 65535)) for $user"
fi
if ! grep -q "^${user}:" /etc/subgid && ! grep -q "^${uid}:" /etc/subgid; then
    start="$(next_free_start /etc/subgid)"
    usermod --add-subgids "${start}-$((start + 65535))" "$user"
    say "subgids ${start}-$((start + 65535)) for $user"
fi

# 3. /dev/mqueue: runc mounts it into each container and fails if absent.
if ! mountpoint -q /dev/mqueue; then
    mkdir -p /dev/mqueue
    mount -t mqueue mqueue /dev/mqueue
    say "mounted /dev/mqueue"
fi

# 4. XDG_RUNTIME_DIR for the user.
rundir="/run/user/$uid"
if [ ! -d "$rundir" ]; then
    mkdir -p "$rundir"
    chown "$uid:$gid" "$rundir"
    chmod 0700 "$rundir"
    say "created $rundir"
fi

as_user() {
    runuser -u "$user" -- env HOME="$home" XDG_RUNTIME_DIR="$rundir" \
        XDG_CONFIG_HOME="$home/.config" PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

# 5. Configuration files, written as the user so ownership is right.
confdir="$home/.config/containers"
as_user mkdir -p "$confdir"
conf="$confdir/containers.conf"
want_conf='# Written by setup-rootless-podman.sh (kube-pmix).
[containers]
# a rootless user cannot create cgroup v1 groups for conmon
cgroups = "no-conmon"

[engine]
# crun refuses the hybrid cgroup v1/v2 layout of these machines
runtime = "runc"
cgroup_manager = "cgroupfs"
# no journald in pods or on this machine
events_logger = "file"
'
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$(printf '%s' "$want_conf")" ]; then
    printf '%s' "$want_conf" | as_user tee "$conf" >/dev/null
    say "wrote $conf"
fi

# Storage: keep whatever already works (changing the driver of a used store
# breaks it); for a new store probe the fastest driver that works.
storage="$confdir/storage.conf"
write_storage() {
    local driver="$1" extra="${2:-}"
    printf '# Written by setup-rootless-podman.sh (kube-pmix).\n[storage]\ndriver = "%s"\n%s' \
        "$driver" "$extra" | as_user tee "$storage" >/dev/null
}
probe_storage() {
    # a throw-away store per probe: the real one must never see a failed driver
    local driver="$1" opts="${2:-}" probe rc
    probe="$(as_user mktemp -d "$rundir/storage-probe.XXXXXX")"
    rc=0
    as_user podman --root "$probe/root" --runroot "$probe/run" --storage-driver "$driver" \
        $opts info >/dev/null 2>&1 || rc=$?
    as_user podman --root "$probe/root" --runroot "$probe/run" unshare rm -rf "$probe" \
        >/dev/null 2>&1 || rm -rf "$probe"
    return "$rc"
}
if [ ! -f "$storage" ]; then
    fuse_opt='--storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs'
    if probe_storage overlay; then
        write_storage overlay
        say "storage: native overlay"
    elif command -v fuse-overlayfs >/dev/null && probe_storage overlay "$fuse_opt"; then
        write_storage overlay $'[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n'
        say "storage: overlay with fuse-overlayfs"
    else
        write_storage vfs
        say "storage: vfs"
    fi
fi

# 6. Proof.
as_user podman info >/dev/null 2>"$rundir/podman-info.err" || {
    cat "$rundir/podman-info.err" >&2
    die "podman info fails as $user (see above)"
}
rm -f "$rundir/podman-info.err"
say "rootless podman ready for $user (uid $uid)"
