#!/usr/bin/env bash
# Installs Debian's chromium and chromedriver for the viewer's browser tests (tests/test_app_browser.py),
# when they are missing and this user may install packages (root, or sudo without a password).
# Without them the browser tests skip, unless LIVER3D_REQUIRE_BROWSER=1 (CI) makes that a failure.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "note: chromium/chromedriver missing and no permission to install them; the browser tests will skip" >&2
    exit 0
fi
install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }
echo "installing chromium and chromium-driver (Debian) for the browser tests"
install || { $SUDO apt-get update -q >/dev/null && install; } || {
    echo "note: could not install chromium; the browser tests will skip" >&2
    exit 0
}
