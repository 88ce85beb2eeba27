#!/usr/bin/env bash
# The whole test suite, slow and browser tests included: ./scripts/test.sh [pytest args...]
#
# On a machine with only Python 3.11 it installs what the tests start (redis-server,
# Chromium and its driver, PostgreSQL when missing) and GNU gettext (for the translation
# catalog test) with apt-get, creates .venv, installs the package with its test and lint
# extras, runs `ruff check .`, then pytest. A second run skips whatever is already done. The
# exit code is pytest's, or 1 if only the lint failed.
#
# Environment: PYTHON (default python3.11) builds the virtualenv; CI=true turns a missing
# server into a test failure instead of a skip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.cfpurge-installed

say() { printf '==> %s\n' "$*" >&2; }

in_ci() {
    local ci=${CI:-}
    case ${ci,,} in "" | 0 | false | no) return 1 ;; esac
}

have_postgres() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

install_system_packages() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v xgettext >/dev/null 2>&1 || missing+=(gettext)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    have_postgres || missing+=(postgresql)
    command -v "$PYTHON" >/dev/null 2>&1 || missing+=(python3 python3-venv)
    if command -v "$PYTHON" >/dev/null 2>&1 && ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    ((${#missing[@]})) || return 0

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            # Without a terminal nobody can type a password: fail instead of waiting.
            if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
        else
            say "not root and no sudo: cannot install ${missing[*]}; tests needing them skip (fail in CI)"
            return 0
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        say "no apt-get: install ${missing[*]} yourself; tests needing them skip (fail in CI)"
        return 0
    fi
    say "installing ${missing[*]}"
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        if in_ci; then
            say "apt-get failed"
            exit 1
        fi
        say "apt-get failed: tests needing ${missing[*]} will skip"
    fi
}

prepare_virtualenv() {
    # Rebuild when the interpreter it was made from has gone (pyenv upgrades do that).
    if [[ -d $VENV ]] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
        say "removing broken $VENV"
        rm -rf "$VENV"
    fi
    if [[ ! -d $VENV ]]; then
        say "creating $VENV with $PYTHON"
        "$PYTHON" -m venv "$VENV"
    fi
    if [[ -f $STAMP && $STAMP -nt pyproject.toml ]]; then
        return 0
    fi
    say "installing django-cfpurge[test,lint] into $VENV"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q -e ".[test,lint]"
    touch "$STAMP"
}

install_system_packages
prepare_virtualenv

# A developer's real Cloudflare credentials must not reach the tests.
unset CFPURGE_API_TOKEN CFPURGE_ZONE_ID CFPURGE_API_KEY CFPURGE_EMAIL CFPURGE_ACCOUNT_ID \
    CLOUDFLARE_API_TOKEN CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL CLOUDFLARE_ZONE_ID \
    CLOUDFLARE_ACCOUNT_ID

say "ruff check ."
lint_status=0
"$VENV/bin/ruff" check . || lint_status=$?

say "pytest $*"
test_status=0
"$VENV/bin/python" -m pytest "$@" || test_status=$?

if ((test_status == 5)); then
    say "pytest collected no tests: that is a failure"
elif ((test_status == 0 && lint_status != 0)); then
    say "tests passed but ruff check failed"
    exit 1
fi
exit "$test_status"
