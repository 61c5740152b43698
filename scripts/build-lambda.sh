#!/usr/bin/env bash
# Build lee's Lambda for AWS: target/lambda/bootstrap.zip, holding one file,
# `bootstrap` (mode 755), at its root, ready to upload or to deploy.
#
# The binary is `lee-lambda` built the way Rust-on-Lambda users build, with
# `cargo lambda build --release --arm64` (the workspace's release profile is
# the Lambda's, size first; see Cargo.toml), which is also what `sam build`
# runs for deploy/template.yaml: one build serves the three. cargo-lambda
# cross-compiles with zig for aarch64-unknown-linux-gnu, linking against an
# older glibc than provided.al2023's 2.34 (checked below). Installs what it
# lacks: cargo-lambda (with zig) from PyPI into a virtualenv under
# ~/.cache/lee-tools (pinned). Idempotent: a second run rebuilds nothing and
# rewrites the same zip.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

TARGET=aarch64-unknown-linux-gnu
# provided.al2023's glibc: the binary may need no newer symbol.
GLIBC=2.34
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET_DIR/lambda/bootstrap/bootstrap"
OUT="$TARGET_DIR/lambda"
ZIP="$OUT/bootstrap.zip"

ensure_rust_target "$TARGET"
tools_venv cargo-lambda==1.8.6
cargo lambda --version >/dev/null 2>&1 || die "cargo-lambda is not on PATH after installing it"

# TLS must come from rustls' ring provider: aws-lc-rs would double the build
# time and needs a C toolchain for the target.
tree=$(cargo tree --locked -p lee-lambda --target "$TARGET" -e normal,build --prefix none) \
    || die "cargo tree failed"
if grep -E '^aws-lc' <<<"$tree"; then
    die "lee-lambda depends on aws-lc (above): keep rustls on the ring provider"
fi

started=$SECONDS
cargo lambda build --locked --release --arm64 --bin bootstrap
build_seconds=$((SECONDS - started))

[ -f "$BIN" ] || die "the build did not produce $BIN"
# An ELF for aarch64: e_machine (offset 18, little endian) is 0xb7.
machine=$(od -An -tx1 -j18 -N2 "$BIN" | tr -d ' \n')
[ "$machine" = "b700" ] || die "$BIN is not an aarch64 ELF (e_machine $machine)"
newest_glibc=$(grep -ao 'GLIBC_2\.[0-9.]*' "$BIN" | sort -uV | tail -n1)
if [ -n "$newest_glibc" ] && [ "$(printf '%s\n' "GLIBC_$GLIBC" "$newest_glibc" | sort -V | tail -n1)" != "GLIBC_$GLIBC" ]; then
    die "$BIN needs $newest_glibc, newer than glibc $GLIBC"
fi

# The zip: fixed timestamp and no extra attributes, so the same binary always
# gives the same archive.
mkdir -p "$OUT/stage"
cp "$BIN" "$OUT/stage/bootstrap"
chmod 755 "$OUT/stage/bootstrap"
touch -d '1980-01-01 00:00:00' "$OUT/stage/bootstrap"
rm -f "$ZIP"
if command -v zip >/dev/null; then
    (cd "$OUT/stage" && zip -q -X -9 ../bootstrap.zip bootstrap)
else
    python3 - "$OUT/stage/bootstrap" "$ZIP" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.create_system = 3  # Unix, so the mode below is honoured
info.external_attr = (0o100755 << 16)
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
PY
fi
rm -rf "$OUT/stage"

# What Lambda will see: exactly one entry, `bootstrap`, executable.
python3 - "$ZIP" <<'PY' || die "$ZIP is not what Lambda needs"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = z.namelist()
    assert names == ["bootstrap"], f"entries: {names}"
    mode = z.getinfo("bootstrap").external_attr >> 16
    assert mode & 0o111, f"bootstrap is not executable in the zip (mode {mode:o})"
PY

printf '\nbuilt in %ss: %s (%s)\n' "$build_seconds" "$BIN" "${newest_glibc:-no glibc symbols}"
printf '  binary  %10s bytes  %s\n' "$(stat -c %s "$BIN")" "$BIN"
printf '  zip     %10s bytes  %s\n' "$(stat -c %s "$ZIP")" "$ZIP"
printf '  sha256  %s\n' "$(sha256sum "$ZIP" | cut -d' ' -f1)"
