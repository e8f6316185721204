#!/bin/sh
# Installs the Debian packages the application itself needs at run time, when missing
# (root, or sudo): a CJK font for rendering licenses (media/render.py). WenQuanYi Micro Hei
# (~5 MB) rather than Noto CJK (~93 MB) keeps a fresh machine and CI fast; render.py prefers
# Noto when an operator has installed it.
set -e
missing=""
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$missing fonts-wqy-microhei"
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # word splitting of $missing is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
