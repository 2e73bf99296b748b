#!/usr/bin/env bash
# Install everything gridlink needs on a fresh Debian machine, idempotently.
#   scripts/bootstrap.sh          runtime: PostGIS (unless GRIDLINK_DATABASE_URL), venv, map assets
#   scripts/bootstrap.sh --test   also the test/bench tools: Chromium, GDAL's ogr2ogr, QGIS
# Each step is skipped when already done, so a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '\033[1;34m[gridlink]\033[0m %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@";
    elif command -v sudo >/dev/null 2>&1; then sudo "$@";
    else echo "gridlink: need root (or sudo) to run: $*" >&2; exit 1; fi
}

apt_packages=()
if [ -z "${GRIDLINK_DATABASE_URL:-}" ]; then
    # PostgreSQL server + PostGIS, in the Debian default version.
    command -v pg_config >/dev/null 2>&1 || apt_packages+=(postgresql-common)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)
    ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || apt_packages+=(postgresql-postgis)
fi
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
if [ "$want_test" = 1 ]; then
    command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
    command -v ogr2ogr >/dev/null 2>&1 || apt_packages+=(gdal-bin)
    # QGIS's own providers, driven headless in Debian's python3: OGC API Features
    # (tests/api/test_ogc_clients.py) and vector tiles (tests/e2e/test_qgis_tiles.py)
    /usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1 || apt_packages+=(python3-qgis qgis-providers)
    # a CJK font so map screenshots in tests show Chinese labels, not boxes
    [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || apt_packages+=(fonts-wqy-zenhei)
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
    say "installing Debian packages: ${apt_packages[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    say "creating virtualenv .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.gridlink-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing gridlink and its Python dependencies into .venv"
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e '.[dev,bench]'
    touch "$stamp"
fi

# The OpenAPI client generator for tests/api/test_generated_client.py, in a virtualenv of its
# own: its pins (httpx < 0.29, typer < 0.28) must not move the project's versions.
if [ "$want_test" = 1 ] && [ ! -x .gridlink/tools/bin/openapi-python-client ]; then
    say "installing openapi-python-client into .gridlink/tools"
    "$PY" -m venv .gridlink/tools
    .gridlink/tools/bin/pip install -q 'openapi-python-client>=0.29,<0.30'
fi

# Map assets (Leaflet, Folium plugins) from npm, served by gridlink under /static; the
# dashboard's ECharts bundle is built from them (esbuild, layers/static/build, precompressed).
if [ -f package.json ]; then
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
        say "installing map assets from npm"
        npm ci --no-audit --no-fund --silent
        touch node_modules
    fi
    bundle=layers/static/build/echarts-dashboard.min.js
    if [ ! -f "$bundle" ] || [ node_modules -nt "$bundle" ] \
            || [ layers/static/src/echarts-dashboard.js -nt "$bundle" ]; then
        say "building the dashboard's ECharts bundle"
        npm run --silent build
    fi
fi
