#!/usr/bin/env bash
# Install the servers that the tests start on loopback ports (Redis,
# PostgreSQL) and the browser that the web frontend's tests drive (Chromium)
# from the Debian packages, when their programs are missing.
#
# Safe to run again: a package is installed only when its program is not
# found, and `apt-get update` runs at most once, only when something is
# missing. Uses sudo unless it runs as root. Reports what it does on
# standard error.
set -euo pipefail

# One line per package: the Debian package and a shell test that its program
# is installed.
services=(
    "redis-server|command -v redis-server"
    "postgresql|compgen -G '/usr/lib/postgresql/*/bin/initdb'"
    "chromium|command -v chromium"
)

missing=()
for entry in "${services[@]}"; do
    package=${entry%%|*}
    check=${entry#*|}
    if eval "$check" >/dev/null 2>&1; then
        echo "install-services: $package is installed" >&2
    else
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
echo "install-services: installing ${missing[*]} with apt-get" >&2
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
