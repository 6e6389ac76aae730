#!/usr/bin/env bash
# Installs every Debian 12 package sluice needs to build, run and test. Idempotent.
# Why each: see README "Dependencies".
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (apt-get install needs it)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config \
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
  libabsl-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libre2-dev libssl-dev \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  libgtest-dev libgmock-dev liburing-dev \
  python3 iproute2 util-linux procps \
  dnsmasq-base dnsutils openssl curl gnutls-bin \
  prometheus-cpp-dev libcivetweb-dev libcurl4-openssl-dev rsyslog rsyslog-openssl prometheus \
  python3-yaml buildah netcat-openbsd qemu-system-x86 >/dev/null
