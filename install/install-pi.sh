#!/usr/bin/env bash
# Install Stallbox on Raspberry Pi OS Bookworm (or Debian 12) in one command, as root:
#
#   sudo install/install-pi.sh [--root DIR] [--no-apt] [--no-console] [--no-start] [SOURCE_DIR]
#
# SOURCE_DIR is a Stallbox checkout (default: the one this script sits in). The script
#   1. installs the Debian packages it needs when they are missing (python3, python3-venv, ...),
#   2. creates the venv /opt/stallbox/venv and pip-installs the project with -c requirements.lock,
#      links /usr/local/bin/stallbox and copies the docs to /opt/stallbox/docs,
#   2b. with the console: builds its font /opt/stallbox/share/stallbox-console.psf from Debian's
#      unifont.hex (package unifont) and tui/vt/glyphs.set; the console unit setfont's it on tty1,
#   3. installs the sysusers.d and tmpfiles.d snippets and runs systemd-sysusers and
#      systemd-tmpfiles --create: the `stallbox` user and /var/lib/stallbox (0700),
#   4. installs and enables the units of systemd/ (node, sync, console; never the cloud's),
#   5. runs `stallbox init --state /var/lib/stallbox` as the stallbox user (key 0600),
#   6. (re)starts the units, unless --root or --no-start.
# Running it again upgrades the code and keeps the device key, the ledger and the config.
#
# --root DIR installs into an image or container tree instead of this machine; systemd-sysusers,
# systemd-tmpfiles and systemctl get --root DIR. Two cases:
#   * DIR is a real Debian root with Python >= 3.11 (debootstrap, a mounted Pi OS image with
#     qemu-user-static): the venv is built and `stallbox init` runs inside `chroot DIR`, so every
#     path and binary is the image's own.
#   * DIR is any other tree (a staging dir): the venv is built here with this machine's Python at
#     DIR/opt/stallbox/venv, then its scripts are rewritten to /opt/stallbox/venv. The image must
#     then have the same Python at the same path and the same CPU architecture as this machine.
# Environment: PYTHON (default python3), and pip's own PIP_* variables (PIP_INDEX_URL, ...).
set -euo pipefail

PREFIX=/opt/stallbox
VENV=$PREFIX/venv
STATE=/var/lib/stallbox
BIN_LINK=/usr/local/bin/stallbox
UNIT_DIR=/etc/systemd/system
SKIP_UNITS=(stallbox-cloud.service)  # the cloud runs elsewhere, never on a box
APT_PACKAGES=(python3 python3-venv python3-pip ca-certificates sqlite3)
PYTHON=${PYTHON:-python3}

ROOT=""
APT=1
CONSOLE=1
START=1
SRC=""

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install-pi.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || usage; ROOT=$2; shift 2 ;;
        --root=*) ROOT=${1#--root=}; shift ;;
        --no-apt) APT=0; shift ;;
        --no-console) CONSOLE=0; shift ;;
        --no-start) START=0; shift ;;
        -h|--help) usage ;;
        -*) printf 'install-pi.sh: unknown option %s\n' "$1" >&2; usage ;;
        *) [ -z "$SRC" ] || usage; SRC=$1; shift ;;
    esac
done

[ "$CONSOLE" = 1 ] && APT_PACKAGES+=(kbd unifont)  # setfont; the console font's source
[ "$(id -u)" = 0 ] || die "run as root (sudo $0 $*)"

if [ -z "$SRC" ]; then
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if [ -f "$here/pyproject.toml" ]; then SRC=$here; else SRC=$(dirname "$here"); fi
fi
SRC=$(cd "$SRC" && pwd)
if [ ! -f "$SRC/pyproject.toml" ] || [ ! -f "$SRC/requirements.lock" ] || [ ! -d "$SRC/systemd" ]; then
    die "$SRC: not a Stallbox checkout (no pyproject.toml, requirements.lock or systemd/)"
fi

if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" != / ] || ROOT=""
fi

# How the venv is built and `stallbox init` is run: on this machine, inside a chroot, or staged.
MODE=host
if [ -n "$ROOT" ]; then
    MODE=staging
    if [ -x "$ROOT/usr/bin/python3" ] && [ -f "$ROOT/etc/debian_version" ] \
        && chroot "$ROOT" /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        MODE=chroot
    fi
fi
say "installing Stallbox from $SRC into ${ROOT:-/} ($MODE)"
cd /  # nothing of the caller's working directory may shadow the installed packages

in_root() {  # in_root CMD... : run CMD inside the target (this machine, or chroot DIR)
    if [ "$MODE" = chroot ]; then chroot "$ROOT" "$@"; else "$@"; fi
}

# --- 1. Debian packages ---------------------------------------------------------------------
apt_install() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        # shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not the shell's
        in_root dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    in_root apt-get update -qq
    in_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
if [ "$APT" = 1 ]; then
    [ "$MODE" = staging ] && die "--root $ROOT is not a Debian root with Python >= 3.11: add --no-apt"
    apt_install
fi

# --- 2. the venv ----------------------------------------------------------------------------
# A clean copy of the sources, so that pip's build never writes into the checkout.
SCRATCH_PARENT=${TMPDIR:-/tmp}
[ "$MODE" = chroot ] && SCRATCH_PARENT=$ROOT/tmp
mkdir -p "$SCRATCH_PARENT"
SCRATCH=$(mktemp -d "$SCRATCH_PARENT/stallbox-install.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
tar -C "$SRC" --exclude=__pycache__ --exclude='*.egg-info' -cf - \
    pyproject.toml requirements.lock README.md appliance tui sync | tar -C "$SCRATCH" -xf -
chmod -R a+rX "$SCRATCH"
SCRATCH_IN=$SCRATCH
[ "$MODE" = chroot ] && SCRATCH_IN=${SCRATCH#"$ROOT"}

pip_quiet=(-q --disable-pip-version-check --no-input)
if [ "$MODE" = staging ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than 3.11 (set PYTHON=/path/to/python3.11)"
    venv_py=("$ROOT$VENV/bin/python")
    [ -x "$ROOT$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$ROOT$VENV"; }
else
    in_root python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "python3 is older than 3.11: Stallbox needs Raspberry Pi OS Bookworm or later"
    venv_py=("$VENV/bin/python")
    [ "$MODE" = chroot ] && venv_py=(chroot "$ROOT" "$VENV/bin/python")
    if ! in_root test -x "$VENV/bin/python"; then
        say "creating $VENV"
        in_root python3 -m venv "$VENV"
    fi
fi
say "installing stallbox and its pinned dependencies"
"${venv_py[@]}" -m pip install "${pip_quiet[@]}" -c "$SCRATCH_IN/requirements.lock" "$SCRATCH_IN"
# The same version again is an upgrade too (a newer checkout): reinstall the project itself.
"${venv_py[@]}" -m pip install "${pip_quiet[@]}" --no-deps --force-reinstall "$SCRATCH_IN"

if [ "$MODE" = staging ]; then
    # The venv was made at $ROOT$VENV; inside the image it lives at $VENV. Rewrite the paths in
    # its scripts and config, and recompile the bytecode with the image's paths.
    say "relocating the venv to $VENV"
    "$PYTHON" - "$ROOT" "$VENV" <<'PY'
import pathlib
import sys

root, venv = sys.argv[1], sys.argv[2]
old, new = (root + venv).encode(), venv.encode()
here = pathlib.Path(root + venv)
for path in [*sorted((here / "bin").iterdir()), here / "pyvenv.cfg"]:
    if path.is_symlink() or not path.is_file():
        continue
    data = path.read_bytes()
    if old in data:
        path.write_bytes(data.replace(old, new))
PY
    find "$ROOT$VENV" -name __pycache__ -type d -prune -exec rm -rf {} +
    "$ROOT$VENV/bin/python" -m compileall -q -j 0 -s "$ROOT" -p / "$ROOT$VENV/lib" >/dev/null
fi

mkdir -p "$ROOT$(dirname "$BIN_LINK")" "$ROOT$PREFIX/docs"
ln -sfn "$VENV/bin/stallbox" "$ROOT$BIN_LINK"
install -m 0644 "$SRC"/docs/*.md "$ROOT$PREFIX/docs/"

# --- 2b. the console font ------------------------------------------------------------------
# The stock console fonts lack glyphs the console draws (the QR's half blocks, ✔ ✖ ⚠ ⏎, input
# borders): build an 8x16 font of exactly those (tui/vt/glyphs.set, at most 512) from Debian's
# GNU Unifont source; the console unit loads it with setfont before each start.
FONT=$PREFIX/share/stallbox-console.psf
if [ "$CONSOLE" = 1 ]; then
    hex=$ROOT/usr/share/unifont/unifont.hex
    [ -f "$hex" ] || hex=/usr/share/unifont/unifont.hex  # --no-apt: this machine's copy
    if [ -f "$hex" ]; then
        cp "$hex" "$SCRATCH/unifont.hex"
        chmod a+r "$SCRATCH/unifont.hex"
        mkdir -p "$ROOT$PREFIX/share"
        font_out=$ROOT$FONT
        [ "$MODE" = chroot ] && font_out=$FONT
        "${venv_py[@]}" -m tui.vt.font --hex "$SCRATCH_IN/unifont.hex" --out "$font_out" >&2 \
            || die "the console font could not be built"
        chmod 0644 "$ROOT$FONT"
    else
        say "no unifont.hex (apt-get install unifont): no console font; the console falls back to the running font's glyphs"
    fi
fi

# --- 3. user and state dir ------------------------------------------------------------------
root_opt=()
[ -n "$ROOT" ] && root_opt=(--root "$ROOT")
install -D -m 0644 "$SRC/systemd/stallbox.sysusers.conf" "$ROOT/usr/lib/sysusers.d/stallbox.conf"
install -D -m 0644 "$SRC/systemd/stallbox.tmpfiles.conf" "$ROOT/usr/lib/tmpfiles.d/stallbox.conf"
say "creating the stallbox user and $STATE"
mkdir -p "$ROOT/etc" "$ROOT/var/lib"
systemd-sysusers "${root_opt[@]}" stallbox.conf
systemd-tmpfiles "${root_opt[@]}" --create stallbox.conf

# --- 4. units -------------------------------------------------------------------------------
units=()
for unit in "$SRC"/systemd/*.service; do
    name=$(basename "$unit")
    case " ${SKIP_UNITS[*]} " in *" $name "*) continue ;; esac
    [ "$CONSOLE" = 0 ] && [ "$name" = stallbox-console.service ] && continue
    install -D -m 0644 "$unit" "$ROOT$UNIT_DIR/$name"
    units+=("$name")
done
[ ${#units[@]} -gt 0 ] || die "$SRC/systemd: no unit to install"
[ -z "$ROOT" ] && systemctl daemon-reload
say "enabling ${units[*]}"
systemctl "${root_opt[@]}" --quiet enable "${units[@]}"
if [[ " ${units[*]} " == *" stallbox-console.service "* ]]; then
    # The console owns tty1; a login prompt stays on tty2..tty6 (Ctrl+Alt+F2).
    systemctl "${root_opt[@]}" --quiet disable getty@tty1.service 2>/dev/null || true
fi

# --- 5. stallbox init as the stallbox user --------------------------------------------------
say "stallbox init --state $STATE"
umask 077  # the key, the ledger and the config are the stallbox user's alone
case "$MODE" in
    host)
        runuser -u stallbox -- env HOME="$STATE" "$VENV/bin/stallbox" init --state "$STATE" ;;
    chroot)
        chroot "$ROOT" runuser -u stallbox -- env HOME="$STATE" "$VENV/bin/stallbox" init --state "$STATE" ;;
    staging)
        # The user exists only in the image's /etc/passwd: run as root, then hand it over.
        owner=$(awk -F: '$1 == "stallbox" { print $3 ":" $4 }' "$ROOT/etc/passwd")
        [ -n "$owner" ] || die "$ROOT/etc/passwd: no stallbox user after systemd-sysusers"
        "$ROOT$VENV/bin/python" "$ROOT$VENV/bin/stallbox" init --state "$ROOT$STATE"
        chown -R "$owner" "$ROOT$STATE"
        chmod 0700 "$ROOT$STATE" ;;
esac

# --- 6. start -------------------------------------------------------------------------------
if [ -z "$ROOT" ] && [ "$START" = 1 ]; then
    start=()
    for name in "${units[@]}"; do
        # Started from tty1 itself, the console would end this very login: leave it to the boot.
        if [ "$name" = stallbox-console.service ] && [ "$(tty 2>/dev/null || true)" = /dev/tty1 ]; then
            say "the console takes over tty1 at the next boot (sudo reboot)"
            continue
        fi
        start+=("$name")
    done
    say "starting ${start[*]}"
    systemctl restart "${start[@]}" || say "a unit did not start: see systemctl status ${start[*]}"
fi
say "done: systemctl status stallbox-node; pair a console with: sudo -u stallbox stallbox pair --state $STATE"
