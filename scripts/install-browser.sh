#!/bin/sh
# Install what the report's browser test needs: Debian's chromium (system browser, no
# browser download) and the Playwright Python client that drives it.
# Idempotent; run as root (CI and the development machines are). Usage:
#   scripts/install-browser.sh [PYTHON]     (default: .venv/bin/python)
set -eu
PY=${1:-.venv/bin/python}
if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
if ! "$PY" -c "import playwright" 2>/dev/null; then
    # The Python client only: it drives /usr/bin/chromium (never `playwright install`).
    "$PY" -m pip install -q "playwright>=1.45"
fi
/usr/bin/chromium --version
