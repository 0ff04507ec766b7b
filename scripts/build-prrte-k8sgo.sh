#!/usr/bin/env bash
# Builds OpenPMIx and PRRTE, with our plm/k8sgo + ess/k8sgo overlay, into a
# prefix under build/. The sources come from Debian's own `openmpi` source
# package (its orig tarball carries PRRTE and OpenPMIx under 3rd-party/),
# fetched with apt through a private configuration so that the machine's apt
# sources are left alone. Called by `make prrte-k8sgo` (mk/prrte-k8sgo.mk).
#
#   build-prrte-k8sgo.sh BUILD_DIR OVERLAY_DIR [MODE]
#
# MODE: all (default); pmix (stop once OpenPMIx is installed); fetch (stop
# once the source is downloaded and checked); plan (print the stages a run
# would redo, one word each, and build nothing); sync (copy the overlay into
# the unpacked PRRTE tree, nothing else).
#
# Environment: OPENMPI_SRC_VERSION (the pinned Debian version), SRC_RELEASE
# (the Debian release whose deb-src suite has it), JOBS (make -j);
# PRRTE_K8SGO_APT_SOURCES (a deb-src sources file to use instead of the one
# derived from this machine's apt sources: tests point it at a local archive).
#
# Each stage records what it was made from (version, configure flags, the
# overlay's content) and is redone exactly when that changed, so a second run
# with nothing changed costs a few hashes. When the suite no longer serves the
# pinned version, the script builds the version it does serve, once it has
# checked that its 3rd-party/ still holds a PRRTE 3.0.x and an OpenPMIx 5.0.x
# (what the overlay is written against), and says so in one line.
set -euo pipefail

BUILD=$(realpath -m "$1")
OVERLAY=$(realpath "$2")
MODE=${3:-all}
PINNED=${OPENMPI_SRC_VERSION:?}
RELEASE=${SRC_RELEASE:?}
JOBS=${JOBS:-2}
PREFIX=$BUILD/install
APT=$BUILD/apt
DL=$BUILD/download
LOG=$BUILD/logs
# The series the overlay is written against (PRRTE internals differ between
# minor releases; OpenPMIx 5.0 is what PRRTE 3.0 builds with).
PRRTE_SERIES=3.0
PMIX_SERIES=5.0

die() { echo "prrte-k8sgo: $*" >&2; exit 1; }
log_run() { # log_run NAME CMD...: run CMD with its output in $LOG/NAME.log
    local name=$1; shift
    "$@" >"$LOG/$name.log" 2>&1 ||
        die "$name failed (see $LOG/$name.log): $(grep -m1 -E 'error:|Error:|ERROR' "$LOG/$name.log" || tail -n 1 "$LOG/$name.log")"
}
stamp_is() { [ -f "$BUILD/$1" ] && [ "$(cat "$BUILD/$1")" = "$2" ]; }
key() { printf '%s\n' "$@" | sha256sum | cut -d' ' -f1; }
upstream_of() { local v=${1#*:}; echo "${v%-*}"; } # 1:5.0.7-1 -> 5.0.7

# What each stage is made from. The flags are part of the keys: changing one
# here redoes the stages that use it.
PMIX_FLAGS=(--prefix="$PREFIX" --disable-static --disable-man-pages
    --disable-python-bindings --disable-debug --with-libevent --with-hwloc
    "LDFLAGS=-Wl,-rpath,$PREFIX/lib")
# PRRTE must link the OpenPMIx built here, never a system libpmix
PRRTE_FLAGS=(--prefix="$PREFIX" --disable-static --disable-man-pages --disable-debug
    --with-pmix="$PREFIX" --with-libevent --with-hwloc "LDFLAGS=-Wl,-rpath,$PREFIX/lib")

mkdir -p "$BUILD" "$LOG"

# -- the private apt configuration -------------------------------------------
# The machine's own Debian sources, with the release name rewritten and the
# type set to deb-src: the same mirror, no host written anywhere by us.
derive_sources() {
    local codename out=$APT/etc/sources.list.d
    mkdir -p "$out"
    : >"$out/debian-src.sources"
    : >"$out/debian-src.list"
    if [ -n "${PRRTE_K8SGO_APT_SOURCES:-}" ]; then
        cp "$PRRTE_K8SGO_APT_SOURCES" "$out/debian-src.list"
        return 0
    fi
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "cannot tell this machine's Debian release (/etc/os-release)"
    # deb822 files: keep the stanzas of the plain release suite
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v rel="$codename" -v new="$RELEASE" '
            BEGIN { RS = ""; ORS = "\n\n" }
            $0 ~ ("Suites:[^\n]*[ \t]" rel "([ \t]|\n|$)") {
                out = ""
                n = split($0, lines, "\n")
                for (i = 1; i <= n; i++) {
                    if (lines[i] ~ /^Types:/) lines[i] = "Types: deb-src"
                    else if (lines[i] ~ /^Suites:/) lines[i] = "Suites: " new
                    else if (lines[i] ~ /^#/) continue
                    out = out lines[i] "\n"
                }
                printf "%s\n", out
            }' "$f" >>"$out/debian-src.sources"
    done
    # one-line format
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v rel="$codename" -v new="$RELEASE" '
            $1 ~ /^deb(-src)?$/ {
                for (i = 2; i <= NF; i++) if ($i == rel) { $1 = "deb-src"; $i = new; print; break }
            }' "$f" >>"$out/debian-src.list"
    done
    [ -s "$out/debian-src.sources" ] || [ -s "$out/debian-src.list" ] ||
        die "no Debian '$codename' suite in this machine's apt sources to derive a '$RELEASE' deb-src entry from"
}

apt_opts() {
    printf '%s\n' \
        -o "Dir::Etc::SourceList=/dev/null" \
        -o "Dir::Etc::SourceParts=$APT/etc/sources.list.d" \
        -o "Dir::Etc::Preferences=/dev/null" \
        -o "Dir::Etc::PreferencesParts=$APT/etc/preferences.d" \
        -o "Dir::State=$APT/state" \
        -o "Dir::Cache=$APT/cache" \
        -o "APT::Sandbox::User=$(id -un)"
}

# series_of TARBALL UPSTREAM COMPONENT: "major.minor.release" from its VERSION file
series_of() {
    tar -xJOf "$1" "openmpi-$2/3rd-party/$3/VERSION" 2>/dev/null |
        awk -F= '$1 == "major" {M = $2} $1 == "minor" {m = $2} $1 == "release" {r = $2}
                 END { if (M != "") print M "." m "." r }'
}

# The PRRTE and OpenPMIx inside a fetched tarball must be the series the
# overlay is written against; prints "PRRTE x.y.z and OpenPMIx a.b.c".
check_series() {
    local tarball=$1 upstream=$2 prrte pmix
    prrte=$(series_of "$tarball" "$upstream" prrte)
    pmix=$(series_of "$tarball" "$upstream" openpmix)
    [ -n "$prrte" ] && [ -n "$pmix" ] ||
        die "openmpi $upstream: no 3rd-party/prrte or 3rd-party/openpmix VERSION in its orig tarball"
    case "$prrte" in "$PRRTE_SERIES".*) ;; *)
        die "openmpi $upstream carries PRRTE $prrte; plm/k8sgo is written for PRRTE $PRRTE_SERIES.x: pin OPENMPI_SRC_VERSION to a version with one" ;;
    esac
    case "$pmix" in "$PMIX_SERIES".*) ;; *)
        die "openmpi $upstream carries OpenPMIx $pmix; PRRTE $PRRTE_SERIES.x is built with OpenPMIx $PMIX_SERIES.x: pin OPENMPI_SRC_VERSION to a version with one" ;;
    esac
    echo "PRRTE $prrte and OpenPMIx $pmix"
}

# -- fetch: sets TAKEN (the Debian version whose source is in $DL) -------------
fetch_needed() { ! stamp_is .fetched "$PINNED" || [ ! -f "$DL/openmpi.orig.tar.xz" ]; }

fetch_source() {
    if ! fetch_needed; then
        TAKEN=$(cat "$DL/VERSION")
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found: the source comes from Debian's openmpi $PINNED source package"
    rm -rf "$APT" "$DL"
    mkdir -p "$APT/state/lists/partial" "$APT/cache/archives/partial" "$APT/etc/preferences.d" "$DL"
    derive_sources
    local -a opts
    mapfile -t opts < <(apt_opts)
    # apt-get update exits 0 on some failures (W: Failed to fetch): look at what it said
    if ! apt-get "${opts[@]}" update >"$LOG/apt-update.log" 2>&1 ||
        grep -q '^W: Failed\|^E: \|^Err:' "$LOG/apt-update.log"; then
        die "cannot fetch Debian's openmpi source: apt-get update of the $RELEASE deb-src suite failed: $(grep -m1 '^W: Failed\|^E: \|^Err:' "$LOG/apt-update.log" || tail -n 1 "$LOG/apt-update.log")"
    fi
    local served
    served=$(apt-cache "${opts[@]}" showsrc openmpi 2>/dev/null | awk '$1 == "Version:" {print $2}' | sort -V | tail -n 1)
    [ -n "$served" ] || die "the $RELEASE deb-src suite serves no openmpi source package"
    TAKEN=$PINNED
    if ! apt-cache "${opts[@]}" showsrc openmpi 2>/dev/null | grep -qx "Version: $PINNED"; then
        TAKEN=$served
    fi
    # apt checks the files against the signed Sources index (sha256)
    (cd "$DL" && apt-get "${opts[@]}" source --download-only "openmpi=$TAKEN") >"$LOG/apt-source.log" 2>&1 ||
        die "cannot fetch Debian's openmpi $TAKEN source package: $(grep -m1 '^E:' "$LOG/apt-source.log" || tail -n 1 "$LOG/apt-source.log")"
    local upstream inside
    upstream=$(upstream_of "$TAKEN")
    [ -f "$DL/openmpi_$upstream.orig.tar.xz" ] || die "openmpi_$upstream.orig.tar.xz missing after apt-get source"
    inside=$(check_series "$DL/openmpi_$upstream.orig.tar.xz" "$upstream")
    if [ "$TAKEN" != "$PINNED" ]; then
        echo "prrte-k8sgo: Debian's $RELEASE suite no longer serves openmpi $PINNED; building $TAKEN instead ($inside)" >&2
    fi
    # a name that does not change with the version, for the image builds
    ln -f "$DL/openmpi_$upstream.orig.tar.xz" "$DL/openmpi.orig.tar.xz"
    echo "$TAKEN" >"$DL/VERSION"
    echo "$PINNED" >"$BUILD/.fetched"
}

# -- unpack ---------------------------------------------------------------------
unpack() {
    stamp_is .unpacked "$TAKEN" && return 0
    local upstream
    upstream=$(upstream_of "$TAKEN")
    rm -rf "$BUILD/src" "$BUILD/.overlay-files"
    mkdir -p "$BUILD/src"
    tar -C "$BUILD/src" -xJf "$DL/openmpi.orig.tar.xz" \
        "openmpi-$upstream/3rd-party/openpmix" "openmpi-$upstream/3rd-party/prrte" ||
        die "cannot unpack openmpi_$upstream.orig.tar.xz"
    echo "$TAKEN" >"$BUILD/.unpacked"
}

src_dir() { echo "$BUILD/src/openmpi-$(upstream_of "$TAKEN")/3rd-party"; }

# -- OpenPMIx -------------------------------------------------------------------
pmix_key() { key "$TAKEN" "${PMIX_FLAGS[@]}"; }

build_pmix() {
    local k
    k=$(pmix_key)
    stamp_is .pmix-installed "$k" && return 0
    cd "$(src_dir)/openpmix"
    # a new version or new flags: nothing of the old install may stay, and PRRTE's install
    # in the same prefix goes with it (its stamp too, or a later run would trust it)
    rm -rf "$PREFIX" "$BUILD/.prrte-installed"
    [ -f Makefile ] && { make distclean >/dev/null 2>&1 || true; }
    # the system's libevent and hwloc; nothing PRRTE does not need
    log_run pmix-configure ./configure "${PMIX_FLAGS[@]}"
    log_run pmix-make make -j"$JOBS"
    log_run pmix-install make install
    echo "$k" >"$BUILD/.pmix-installed"
}

# -- PRRTE with the overlay -----------------------------------------------------
overlay_files() { (cd "$OVERLAY" && find src -type f | LC_ALL=C sort); }

# What decides whether autogen and configure must run again: the OpenPMIx
# build, PRRTE's flags, and the overlay's file names and build-system files.
configure_key() {
    local build_files
    build_files=$(cd "$OVERLAY" && find src -name Makefile.am -o -name configure.m4 | LC_ALL=C sort | xargs sha256sum)
    key "$(pmix_key)" "${PRRTE_FLAGS[@]}" "$(overlay_files)" "$build_files"
}

# ... and make/install: all of the overlay's content as well.
install_key() {
    key "$(configure_key)" "$(cd "$OVERLAY" && overlay_files | xargs sha256sum)"
}

# Copy the overlay into the tree; files (and component folders) it held last
# time but no longer has are removed, so the tree is the overlay, not a history.
sync_overlay() {
    local tree manifest=$BUILD/.overlay-files now
    tree=$(src_dir)/prrte
    now=$(overlay_files)
    if [ -f "$manifest" ]; then
        while read -r gone; do
            [ -n "$gone" ] || continue
            rm -f "$tree/$gone"
            # a component folder the overlay no longer has goes whole (generated files too)
            local comp
            comp=$(echo "$gone" | cut -d/ -f1-4)
            if ! grep -q "^$comp/" <<<"$now"; then
                rm -rf "${tree:?}/$comp"
            fi
        done < <(comm -23 "$manifest" <(echo "$now"))
    fi
    # keep the overlay's own times: a fresh copy must not look newer than
    # what autogen made from it, or make re-runs aclocal by itself (and fails)
    cp -Rp "$OVERLAY/src/." "$tree/src/"
    echo "$now" >"$manifest"
}

build_prrte() {
    local ck ik
    ck=$(configure_key)
    ik=$(install_key)
    stamp_is .prrte-installed "$ik" && return 0
    sync_overlay
    cd "$(src_dir)/prrte"
    if ! stamp_is .prrte-configured "$ck"; then
        log_run prrte-autogen ./autogen.pl
        log_run prrte-configure ./configure "${PRRTE_FLAGS[@]}"
        echo "$ck" >"$BUILD/.prrte-configured"
    fi
    log_run prrte-make make -j"$JOBS"
    log_run prrte-install make install
    local lib
    lib=$(ldd "$PREFIX/bin/prted" | awk '/libpmix/ {print $3}')
    [ "$lib" = "$PREFIX/lib/libpmix.so.2" ] || die "prted links '$lib', not the OpenPMIx in $PREFIX"
    [ -f "$PREFIX/lib/prte/prte_mca_plm_k8sgo.so" ] || grep -q k8sgo "$PREFIX/lib/libprrte.so" ||
        die "plm/k8sgo was not built into $PREFIX"
    echo "$ik" >"$BUILD/.prrte-installed"
}

# -- plan: what a run would redo (for tests and the curious) --------------------
plan() {
    if fetch_needed; then
        echo fetch unpack pmix prrte-configure prrte-install
        return 0
    fi
    TAKEN=$(cat "$DL/VERSION")
    local stages=()
    stamp_is .unpacked "$TAKEN" || stages+=(unpack)
    stamp_is .pmix-installed "$(pmix_key)" || stages+=(pmix)
    stamp_is .prrte-configured "$(configure_key)" || stages+=(prrte-configure)
    stamp_is .prrte-installed "$(install_key)" || stages+=(prrte-install)
    echo "${stages[@]}"
}

# Builds made before the stamps were keyed (empty stamp files named after the
# version) are adopted rather than rebuilt: they were made from the pinned
# version with the flags above.
adopt_old_stamps() {
    local upstream
    upstream=$(upstream_of "$PINNED")
    [ -f "$BUILD/.fetched-$PINNED" ] && [ -f "$DL/openmpi_$upstream.orig.tar.xz" ] || return 0
    TAKEN=$PINNED
    ln -f "$DL/openmpi_$upstream.orig.tar.xz" "$DL/openmpi.orig.tar.xz"
    echo "$PINNED" >"$DL/VERSION"
    echo "$PINNED" >"$BUILD/.fetched"
    if [ -f "$BUILD/.unpacked-$PINNED" ]; then
        echo "$PINNED" >"$BUILD/.unpacked"
        [ -f "$BUILD/.pmix-installed" ] && [ ! -s "$BUILD/.pmix-installed" ] && pmix_key >"$BUILD/.pmix-installed"
    fi
    rm -f "$BUILD/.fetched-$PINNED" "$BUILD/.unpacked-$PINNED" "$BUILD/.prrte-autogen"
}
main() {
    adopt_old_stamps
    case "$MODE" in
    plan) plan; return 0 ;;
    sync) TAKEN=$(cat "$DL/VERSION"); sync_overlay; return 0 ;;
    fetch) fetch_source; echo "$TAKEN"; return 0 ;;
    all | pmix) ;;
    *) die "unknown mode '$MODE' (all, pmix, fetch, plan, sync)" ;;
    esac
    fetch_source
    unpack
    build_pmix
    [ "$MODE" = pmix ] && return 0
    build_prrte
    echo "prrte-k8sgo: PRRTE with plm/k8sgo in $PREFIX (from Debian's openmpi $TAKEN)"
}

# sourced (the tests call the functions one by one), or run
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main
fi
