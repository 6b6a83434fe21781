#!/usr/bin/env bash
# Regenerates the committed protocol code from Sources/Wire/eagle.proto:
#   Sources/Wire/eagle.pb.swift              (swift-protobuf 1.39.0, public visibility)
#   Include/eagle/eagle.pb-c.h               (protoc-c 1.4.1)
#   Sources/CEagleClient/eagle.pb-c.c        (protoc-c 1.4.1)
# Needs Debian's protobuf-compiler and protobuf-c-compiler. protoc-gen-swift is built once
# from the mirrored swift-protobuf tag (never via its SwiftPM build plugin).
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT_PROTOBUF_VERSION=1.39.0
SWIFT_PROTOBUF_SRC=${SWIFT_PROTOBUF_SRC:-/tmp/swift-protobuf}
PLUGIN="$SWIFT_PROTOBUF_SRC/.build/release/protoc-gen-swift"

if [ ! -x "$PLUGIN" ]; then
    if [ ! -d "$SWIFT_PROTOBUF_SRC/.git" ]; then
        git clone -q https://github.com/apple/swift-protobuf.git "$SWIFT_PROTOBUF_SRC"
    fi
    git -C "$SWIFT_PROTOBUF_SRC" checkout -q "$SWIFT_PROTOBUF_VERSION"
    (cd "$SWIFT_PROTOBUF_SRC" && swift build -c release --product protoc-gen-swift)
fi

protoc --plugin=protoc-gen-swift="$PLUGIN" \
    --swift_out=Sources/Wire --swift_opt=Visibility=Public \
    -I Sources/Wire Sources/Wire/eagle.proto

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc-c --c_out="$tmp" -I Sources/Wire Sources/Wire/eagle.proto
mkdir -p Include/eagle Sources/CEagleClient
cp "$tmp/eagle.pb-c.h" Include/eagle/eagle.pb-c.h
# The header lives under Include/eagle/, so the source includes it by that path.
sed 's|#include "eagle.pb-c.h"|#include "eagle/eagle.pb-c.h"|' "$tmp/eagle.pb-c.c" > Sources/CEagleClient/eagle.pb-c.c
echo "regenerated: Sources/Wire/eagle.pb.swift Include/eagle/eagle.pb-c.h Sources/CEagleClient/eagle.pb-c.c"
