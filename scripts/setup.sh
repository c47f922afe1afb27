#!/usr/bin/env bash
# Installs what jobman needs to build and test on Debian 12 (bookworm), then builds it.
# Usage: scripts/setup.sh [BUILD_DIR] [extra cmake args...]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  g++ cmake ninja-build pkg-config
  libcli11-dev libboost1.81-dev libsqlitecpp-dev nlohmann-json3-dev libfmt-dev catch2
  # run and test: a container engine, a busybox rootfs for test images, pytest
  podman runc catatonit busybox-static python3 python3-pytest util-linux passwd
  # the same tests against docker: dockerd, /usr/bin/docker, containerd; tini is docker-init (--init)
  docker.io containerd tini
  # packaging and completion tests: cpack's shlibdeps, the package's own dependency, shells
  dpkg-dev adduser lintian bash-completion zsh fish
)
. scripts/packages.sh
install_missing setup "${packages[@]}"

build_dir=${1:-build}
shift || true
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
ninja -C "$build_dir"
