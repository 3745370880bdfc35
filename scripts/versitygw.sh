#!/bin/sh
# Ensures the versitygw S3 gateway used by the S3 storage tests is built,
# then prints its path. The binary lives outside the repository and is
# reused across runs; building it takes several minutes on two cores.
set -eu

VERSION=v1.8.0
BIN_DIR="${MADBASE_CACHE:-$HOME/.cache/madbase}/bin"
BIN="$BIN_DIR/versitygw"
STAMP="$BIN_DIR/versitygw.version"

if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
	echo "$BIN"
	exit 0
fi

mkdir -p "$BIN_DIR"
echo "building versitygw $VERSION into $BIN_DIR (takes a few minutes)..." >&2
# Run outside any module so the repository's go.mod is not touched.
cd "$BIN_DIR"
GOBIN="$BIN_DIR" go install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2
echo "$VERSION" > "$STAMP"
echo "$BIN"
