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
# protoc-c 1.4.1 predates proto3 `optional` (protoc refuses it for that plugin), so the C
# code is generated from a copy where each `optional` field is written as the single-field
# oneof that protoc itself desugars it to (`_name`): same descriptor shape, same wire format.
# The C side then reads `_max_tokens_case == EAGLE__V1__GENERATE___MAX_TOKENS_MAX_TOKENS`
# instead of `has_max_tokens`. Drop this step with protoc-c >= 1.5.
sed -E 's/^([[:space:]]*)optional ([a-z0-9]+) ([a-z_0-9]+) = ([0-9]+);(.*)$/\1oneof _\3 {\n\1  \2 \3 = \4;\5\n\1}/' \
    Sources/Wire/eagle.proto > "$tmp/eagle.proto"
protoc-c --c_out="$tmp" -I "$tmp" "$tmp/eagle.proto"
mkdir -p Include/eagle Sources/CEagleClient
cp "$tmp/eagle.pb-c.h" Include/eagle/eagle.pb-c.h
# The header lives under Include/eagle/, so the source includes it by that path.
sed 's|#include "eagle.pb-c.h"|#include "eagle/eagle.pb-c.h"|' "$tmp/eagle.pb-c.c" > Sources/CEagleClient/eagle.pb-c.c
echo "regenerated: Sources/Wire/eagle.pb.swift Include/eagle/eagle.pb-c.h Sources/CEagleClient/eagle.pb-c.c"
