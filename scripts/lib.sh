# shellcheck shell=bash
# Helpers shared by the scripts in this folder (sourced, not run).
#
# Each script installs what it needs itself, so that it works on a fresh
# machine (Debian 12, Rust via rustup, Python 3.11, npm, apt) as well as on a
# developer's: Python tools go into one virtualenv under the cache directory
# (pinned versions, never the system Python), Debian packages through apt-get.

# Where downloaded tools live: the Python virtualenv and the npm emulator.
LEE_TOOLS_HOME="${LEE_TOOLS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/lee-tools}"
LEE_TOOLS_VENV="$LEE_TOOLS_HOME/venv"

die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

note() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -n "$@" || die "'$*' needs root (sudo -n failed)"
    else
        die "'$*' needs root, and there is no sudo"
    fi
}

# Install Debian packages (apt-get update once per script run).
apt_install() {
    command -v apt-get >/dev/null || die "apt-get is missing: install $* by hand"
    if [ -z "${LEE_APT_UPDATED:-}" ]; then
        note "apt-get update"
        as_root apt-get update -qq || die "apt-get update failed"
        LEE_APT_UPDATED=1
    fi
    note "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# Make sure a rustup target is installed.
ensure_rust_target() {
    command -v rustup >/dev/null || die "rustup is missing (install Rust with rustup)"
    if ! rustup target list --installed | grep -qx "$1"; then
        note "rustup target add $1"
        rustup target add "$1" >/dev/null || die "rustup target add $1 failed"
    fi
}

# Make sure the tools virtualenv exists and holds the given pinned packages
# (name==version ...); puts its bin/ first on PATH.
tools_venv() {
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null || die "$python is missing"
    if [ ! -x "$LEE_TOOLS_VENV/bin/python" ]; then
        mkdir -p "$LEE_TOOLS_HOME"
        if ! "$python" -m venv "$LEE_TOOLS_VENV" >/dev/null 2>&1; then
            # Debian's own python3 keeps venv in a separate package.
            rm -rf "$LEE_TOOLS_VENV"
            apt_install python3-venv
            "$python" -m venv "$LEE_TOOLS_VENV" || die "cannot create a virtualenv in $LEE_TOOLS_VENV"
        fi
    fi
    local missing=() spec name version
    for spec in "$@"; do
        name=${spec%%==*}
        version=${spec#*==}
        if [ "$("$LEE_TOOLS_VENV/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')" != "$version" ]; then
            missing+=("$spec")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        note "pip install ${missing[*]}"
        "$LEE_TOOLS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" \
            || die "pip install ${missing[*]} failed"
    fi
    export PATH="$LEE_TOOLS_VENV/bin:$PATH"
}

# Unpack npm package NAME@VERSION (pinned) under $LEE_TOOLS_HOME once, and
# print the folder holding its files (for packages of data or WebAssembly,
# used without installing them).
npm_unpacked() {
    local name=$1 version=$2 dir tarball
    command -v npm >/dev/null || die "npm is missing (needed for npm's $name)"
    dir="$LEE_TOOLS_HOME/$name-$version"
    if [ ! -f "$dir/package/package.json" ]; then
        note "npm pack $name@$version into $dir"
        mkdir -p "$dir"
        tarball=$(cd "$dir" && npm pack --silent "$name@$version") || die "npm pack $name@$version failed"
        tar -xzf "$dir/$tarball" -C "$dir" || die "cannot unpack $dir/$tarball"
    fi
    printf '%s\n' "$dir/package"
}
