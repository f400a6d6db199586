#!/usr/bin/env bash
# Makes sure a Chromium is available for the browser environment, in this order:
# $CHROMIUM_PATH, /usr/bin/chromium, a Playwright-managed browser, else Debian's chromium when running as root.
set -euo pipefail
if [[ -n "${CHROMIUM_PATH:-}" && -x "${CHROMIUM_PATH}" ]]; then echo "→ chromium: $CHROMIUM_PATH"; exit 0; fi
if [[ -x /usr/bin/chromium ]]; then echo "→ chromium: /usr/bin/chromium"; exit 0; fi
pw=$(ls -d "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome 2>/dev/null | head -1 || true)
if [[ -n "$pw" ]]; then echo "→ chromium: $pw (Playwright-managed)"; exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "→ installing Debian's chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "No Chromium found: set CHROMIUM_PATH to a Chromium/Chrome binary, or install Debian's 'chromium' package." >&2
exit 1
