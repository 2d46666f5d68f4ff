#!/usr/bin/env bash
# What the browser tests (tests/browser) need from the system: Debian's `chromium` (driven by
# Playwright for Python, from requirements-dev.txt, at /usr/bin/chromium) and a CJK font, so the
# console's Chinese renders in screenshots. `make test` runs this once (stamp .venv/.browser-deps).
#
# Fast when both are present (dpkg/fc-list checks only). Otherwise, as root: apt-get install,
# non-interactive, waiting for the dpkg lock another apt may hold, `apt-get update` only when the
# install fails without it. Not root: says which command to run and fails.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
FONTS=(fonts-wqy-microhei fonts-noto-cjk)  # the first one the archive has
LOCK_WAIT=${BROWSER_DEPS_LOCK_WAIT:-900}   # seconds to wait for another apt/dpkg to finish

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

chromium_ok() {
  [ -x "$CHROMIUM" ] || return 1
  # a Debian machine: the package fully configured (not half-way through another apt's install)
  if command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W chromium >/dev/null 2>&1; then installed chromium; fi
}

cjk_font_ok() {
  local f
  for f in "${FONTS[@]}"; do installed "$f" && return 0; done
  # another CJK font (not from these packages) does as well
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null | head -n1)" ]
}

need=()
chromium_ok || need+=(chromium)
cjk_font_ok || need+=(cjk-font)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  {
    echo "The browser tests (tests/browser) need Debian's chromium at $CHROMIUM and a CJK font; missing: ${need[*]}."
    echo "Install them with:"
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium fonts-wqy-microhei"
    echo "(or fonts-noto-cjk where fonts-wqy-microhei is missing), then run make test again."
    echo "Everything but the browser tests: .venv/bin/pytest -m 'not browser'"
  } >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q --no-install-recommends -o "DPkg::Lock::Timeout=$LOCK_WAIT" -o Dpkg::Options::=--force-confdef
          -o Dpkg::Options::=--force-confold)

# apt-get, again while another apt/dpkg holds a lock DPkg::Lock::Timeout does not wait for
# (the lists and archives locks), up to LOCK_WAIT seconds. Its output is shown and kept in $apt_out.
apt_out=$(mktemp)
trap 'rm -f "$apt_out"' EXIT
apt_retry() {
  local deadline=$((SECONDS + LOCK_WAIT)) said=""
  while :; do
    if apt-get "$@" 2>&1 | tee "$apt_out"; then return 0; fi
    if grep -qiE 'could not get lock|unable to (acquire|lock)|is another process using it' "$apt_out" \
        && [ $SECONDS -lt $deadline ]; then
      [ -n "$said" ] || { echo "browser_deps: another apt/dpkg is running; waiting for it ..." >&2; said=1; }
      sleep 5
      continue
    fi
    return 1
  done
}

font_package() {  # the first of FONTS the archive offers (needs package lists)
  local f
  for f in "${FONTS[@]}"; do
    if [ -n "$(apt-cache policy "$f" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; then
      echo "$f"; return 0
    fi
  done
  echo "${FONTS[0]}"
}

packages() {
  local p=()
  chromium_ok || p+=(chromium)
  cjk_font_ok || p+=("$(font_package)")
  echo "${p[@]}"
}

want=$(packages)
echo "browser_deps: installing $want with apt-get (for tests/browser) ..." >&2
# shellcheck disable=SC2086  # word splitting of the package list is meant
if ! apt_retry install "${apt_opts[@]}" $want; then
  echo "browser_deps: install failed without fresh package lists; running apt-get update" >&2
  apt_retry update -q || exit 1
  want=$(packages)
  # shellcheck disable=SC2086
  apt_retry install "${apt_opts[@]}" $want || exit 1
fi

chromium_ok || { echo "browser_deps: $CHROMIUM is still missing after apt-get install chromium" >&2; exit 1; }
cjk_font_ok || { echo "browser_deps: no CJK font after apt-get install" >&2; exit 1; }
echo "browser_deps: $("$CHROMIUM" --version 2>/dev/null | tail -n1) and a CJK font are installed" >&2
