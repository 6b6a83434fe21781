#!/usr/bin/env bash
# Checks libeagle.so as a shipped artifact: exactly the eagle.h API is exported, no Swift
# runtime is needed, the soname is versioned, and the pkg-config file builds a program.
# Usage: test_exports.sh BUILD_DIR   (after make -C Sources/CEagleClient BUILD=BUILD_DIR)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/.build-c}
lib=$(readlink -f "$build/lib/libeagle.so")
header=$root/Include/eagle/eagle.h
passed=0 failed=0
check() { # name, command...
    local name=$1; shift
    if out=$("$@" 2>&1); then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; printf '%s\n' "$out" | sed 's/^/    /'; fi
}

exported() { nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort; }
declared() { grep -o 'EAGLE_API [^(]*(' "$header" | grep -o 'eagle_[a-z_]*(' | tr -d '(' | sort; }

only_api_exported() { diff <(exported) <(declared); }
no_swift_runtime() { ! ldd "$lib" | grep -i swift && ! readelf -d "$lib" | grep -i 'NEEDED.*swift'; }
needs_only_libc_and_protobuf_c() {
    local bad
    bad=$(readelf -d "$lib" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | grep -v -e '^libc\.so' -e '^libprotobuf-c\.so' -e '^ld-linux' -e '^libpthread\.so')
    [ -z "$bad" ] || { echo "unexpected NEEDED: $bad"; return 1; }
}
versioned_soname() {
    local major
    major=$(sed -n 's/^#define EAGLE_VERSION_MAJOR \([0-9]*\).*/\1/p' "$header")
    readelf -d "$lib" | grep -q "SONAME.*\[libeagle\.so\.$major\]"
}
pkg_config_builds() {
    local tmp; tmp=$(mktemp -d)
    cat > "$tmp/app.c" <<'C'
#include <eagle/eagle.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    if (strcmp(eagle_version(), "") == 0) return 1;
    eagle_client *c = NULL;
    int rc = eagle_client_connect("/nonexistent/sock", "pc", &c);
    return rc == EAGLE_E_CONNECT && c == NULL ? 0 : 1;
}
C
    # shellcheck disable=SC2046
    cc -o "$tmp/app" "$tmp/app.c" $(PKG_CONFIG_PATH="$build/lib/pkgconfig" pkg-config --cflags --libs eagle) \
        -Wl,-rpath,"$build/lib" && "$tmp/app"
    local rc=$?
    rm -rf "$tmp"
    return $rc
}
header_is_cxx_clean() { # compiles as C++ and as strict C99
    echo '#include <eagle/eagle.h>' | c++ -x c++ -fsyntax-only -Wall -Wextra -I"$root/Include" - &&
    echo '#include <eagle/eagle.h>' | cc -x c -std=c99 -pedantic -fsyntax-only -Wall -Wextra -I"$root/Include" -
}

check only_api_exported only_api_exported
check no_swift_runtime no_swift_runtime
check needs_only_libc_and_protobuf_c needs_only_libc_and_protobuf_c
check versioned_soname versioned_soname
check pkg_config_builds pkg_config_builds
if command -v c++ >/dev/null; then check header_compiles_as_c99_and_cxx header_is_cxx_clean; fi
echo "test_exports: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
