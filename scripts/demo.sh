#!/usr/bin/env bash
# The demo in one command: ./scripts/demo.sh [run_demo.py options...]
#
# Needs only Python (3.10 or newer; PYTHON picks the interpreter, default python3.11, else
# python3). Creates the virtualenv .venv-demo (reused on later runs), installs the package
# and the example's requirements into it, then runs example_project/run_demo.py, which
# migrates, seeds and starts the fake Cloudflare (API and edge cache), Django, a Celery
# worker and beat. No Redis, no PostgreSQL, no Cloudflare account. Ctrl-C stops everything.
#
# Ports: DEMO_WEB_PORT (8000), DEMO_EDGE_PORT (8001), DEMO_API_PORT (8787).
# Data: DEMO_DATA_DIR (example_project/var); delete it to start afresh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv-demo
STAMP=$VENV/.demo-installed

say() { printf '==> %s\n' "$*" >&2; }

pick_python() {
    if [[ -n ${PYTHON:-} ]]; then
        printf '%s' "$PYTHON"
    elif command -v python3.11 >/dev/null 2>&1; then
        printf 'python3.11'
    else
        printf 'python3'
    fi
}

PYTHON=$(pick_python)
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    say "$PYTHON is missing or older than 3.10: install Python 3.11, or set PYTHON=/path/to/python3"
    exit 1
fi

# Rebuild when the interpreter it was made from has gone (pyenv upgrades do that).
if [[ -d $VENV ]] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "removing broken $VENV"
    rm -rf "$VENV"
fi
if [[ ! -d $VENV ]]; then
    say "creating $VENV with $PYTHON"
    if ! "$PYTHON" -m venv "$VENV"; then
        rm -rf "$VENV"
        say "could not create a virtualenv: on Debian/Ubuntu, apt-get install python3-venv"
        exit 1
    fi
fi
if [[ ! -f $STAMP || pyproject.toml -nt $STAMP || example_project/requirements.txt -nt $STAMP ]]; then
    say "installing django-cfpurge and the example's requirements into $VENV"
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$VENV/bin/python" -m pip install -q -e . -r example_project/requirements.txt
    touch "$STAMP"
fi

exec "$VENV/bin/python" example_project/run_demo.py "$@"
