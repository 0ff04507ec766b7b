#!/usr/bin/env bash
# Builds OpenPMIx and PRRTE, with our plm/k8sgo + ess/k8sgo overlay, into a
# prefix under build/. The sources come from Debian's own `openmpi` source
# package (its orig tarball carries PRRTE and OpenPMIx under 3rd-party/),
# fetched with apt through a private configuration so that the machine's apt
# sources are left alone. Called by `make prrte-k8sgo` (mk/prrte-k8sgo.mk).
#
#   build-prrte-k8sgo.sh BUILD_DIR OVERLAY_DIR [pmix]
#
# With `pmix`, it stops once OpenPMIx is installed.
#
# Environment: OPENMPI_SRC_VERSION (the pinned Debian version), SRC_RELEASE
# (the Debian release whose deb-src suite has it), JOBS (make -j).
#
# Every stage leaves a stamp, so a second run costs nothing; an overlay
# change re-runs only PRRTE's stages (autogen only when a Makefile.am or
# configure.m4 changed).
set -euo pipefail

BUILD=$(realpath -m "$1")
OVERLAY=$(realpath "$2")
VERSION=${OPENMPI_SRC_VERSION:?}
RELEASE=${SRC_RELEASE:?}
JOBS=${JOBS:-2}
UPSTREAM=${VERSION%-*}
PREFIX=$BUILD/install
APT=$BUILD/apt
SRC=$BUILD/src/openmpi-$UPSTREAM/3rd-party
LOG=$BUILD/logs

die() { echo "prrte-k8sgo: $*" >&2; exit 1; }
log_run() { # log_run NAME CMD...: run CMD with its output in $LOG/NAME.log
    local name=$1; shift
    "$@" >"$LOG/$name.log" 2>&1 ||
        die "$name failed (see $LOG/$name.log): $(grep -m1 -E 'error:|Error:|ERROR' "$LOG/$name.log" || tail -n 1 "$LOG/$name.log")"
}

mkdir -p "$BUILD" "$LOG"

# -- the private apt configuration -------------------------------------------
# The machine's own Debian sources, with the release name rewritten and the
# type set to deb-src: the same mirror, no host written anywhere by us.
derive_sources() {
    local codename out=$APT/etc/sources.list.d
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || die "cannot tell this machine's Debian release (/etc/os-release)"
    mkdir -p "$out"
    : >"$out/debian-src.sources"
    : >"$out/debian-src.list"
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

fetch_source() {
    local stamp=$BUILD/.fetched-$VERSION dl=$BUILD/download
    [ -f "$stamp" ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found: the source comes from Debian's openmpi $VERSION source package"
    rm -rf "$APT"
    mkdir -p "$APT/state/lists/partial" "$APT/cache/archives/partial" "$APT/etc/preferences.d" "$dl"
    derive_sources
    local -a opts
    mapfile -t opts < <(apt_opts)
    # apt-get update exits 0 on some failures (W: Failed to fetch): look at what it said
    if ! apt-get "${opts[@]}" update >"$LOG/apt-update.log" 2>&1 ||
        grep -q '^W: Failed\|^E: \|^Err:' "$LOG/apt-update.log"; then
        die "cannot fetch Debian's openmpi $VERSION source: apt-get update of the $RELEASE deb-src suite failed: $(grep -m1 '^W: Failed\|^E: \|^Err:' "$LOG/apt-update.log" || tail -n 1 "$LOG/apt-update.log")"
    fi
    # apt checks the files against the signed Sources index (sha256)
    (cd "$dl" && apt-get "${opts[@]}" source --download-only "openmpi=$VERSION") >"$LOG/apt-source.log" 2>&1 ||
        die "cannot fetch Debian's openmpi $VERSION source package: $(grep -m1 '^E:' "$LOG/apt-source.log" || tail -n 1 "$LOG/apt-source.log")"
    [ -f "$dl/openmpi_$UPSTREAM.orig.tar.xz" ] || die "openmpi_$UPSTREAM.orig.tar.xz missing after apt-get source"
    touch "$stamp"
}

unpack() {
    local stamp=$BUILD/.unpacked-$VERSION
    [ -f "$stamp" ] && return 0
    rm -rf "$BUILD/src"
    mkdir -p "$BUILD/src"
    tar -C "$BUILD/src" -xJf "$BUILD/download/openmpi_$UPSTREAM.orig.tar.xz" \
        "openmpi-$UPSTREAM/3rd-party/openpmix" "openmpi-$UPSTREAM/3rd-party/prrte" ||
        die "cannot unpack openmpi_$UPSTREAM.orig.tar.xz"
    touch "$stamp"
}

# -- OpenPMIx -----------------------------------------------------------------
build_pmix() {
    local stamp=$BUILD/.pmix-installed
    [ -f "$stamp" ] && return 0
    cd "$SRC/openpmix"
    # the system's libevent and hwloc; nothing PRRTE does not need
    log_run pmix-configure ./configure --prefix="$PREFIX" --disable-static \
        --disable-man-pages --disable-python-bindings --disable-debug \
        --with-libevent --with-hwloc LDFLAGS="-Wl,-rpath,$PREFIX/lib"
    log_run pmix-make make -j"$JOBS"
    log_run pmix-install make install
    touch "$stamp"
}

# -- PRRTE with the overlay ---------------------------------------------------
overlay_sum() { # what decides whether autogen must run again
    (cd "$OVERLAY" && find src -name Makefile.am -o -name configure.m4 | sort | xargs sha256sum) | sha256sum | cut -d' ' -f1
}

build_prrte() {
    local sum stamp=$BUILD/.prrte-installed
    sum=$(overlay_sum)
    cd "$SRC/prrte"
    # keep the overlay's own times: a fresh copy must not look newer than
    # what autogen made from it, or make re-runs aclocal by itself (and fails)
    cp -Rp "$OVERLAY/src/." src/
    if [ "$(cat "$BUILD/.prrte-autogen" 2>/dev/null)" != "$sum" ]; then
        rm -f "$stamp"
        log_run prrte-autogen ./autogen.pl
        # PRRTE must link the OpenPMIx built above, never a system libpmix
        log_run prrte-configure ./configure --prefix="$PREFIX" --disable-static \
            --disable-man-pages --disable-debug --with-pmix="$PREFIX" \
            --with-libevent --with-hwloc LDFLAGS="-Wl,-rpath,$PREFIX/lib"
        echo "$sum" >"$BUILD/.prrte-autogen"
    fi
    log_run prrte-make make -j"$JOBS"
    log_run prrte-install make install
    local lib
    lib=$(ldd "$PREFIX/bin/prted" | awk '/libpmix/ {print $3}')
    [ "$lib" = "$PREFIX/lib/libpmix.so.2" ] || die "prted links '$lib', not the OpenPMIx in $PREFIX"
    [ -f "$PREFIX/lib/prte/prte_mca_plm_k8sgo.so" ] || grep -q k8sgo "$PREFIX/lib/libprrte.so" ||
        die "plm/k8sgo was not built into $PREFIX"
    touch "$stamp"
}

fetch_source
# fetch: only the source package (the images build PRRTE from it themselves)
[ "${3:-}" = fetch ] && exit 0
unpack
build_pmix
[ "${3:-}" = pmix ] && exit 0
build_prrte
echo "prrte-k8sgo: PRRTE with plm/k8sgo in $PREFIX"
