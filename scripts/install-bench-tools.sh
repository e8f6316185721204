#!/bin/sh
# Installs what `make bench` needs besides the test servers, when missing (Debian, root):
# wrk, the HTTP load generator.
set -e
command -v wrk >/dev/null 2>&1 && exit 0
echo "installing: wrk"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
