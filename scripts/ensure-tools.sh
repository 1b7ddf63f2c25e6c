#!/usr/bin/env bash
# Installs what the build needs beyond Rust and Go, when it is missing: protoc (Debian's
# protobuf-compiler), with which hiero-sdk-proto compiles the Hiero protobufs of
# `solo network address-book`. Sourced by the demo, test and bench scripts.
if ! command -v protoc >/dev/null 2>&1; then
  echo "tools: installing protoc (apt-get install protobuf-compiler libprotobuf-dev)" >&2
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq protobuf-compiler libprotobuf-dev >/dev/null; } ||
    { echo "tools: could not install protoc; install the Debian package protobuf-compiler and run again" >&2; exit 1; }
fi
