#!/usr/bin/env bash
# Creates, without any container registry, the base images that Dockerfile and docker-compose.yml
# name, from Debian's package archive and the host's Rust toolchain. This is the one place where
# the substitution for the official images is made (README, "Docker without a registry"):
#
#   debian:bookworm-slim  debootstrap --variant=minbase bookworm, security updates applied,
#                         documentation, man pages and locales left out (as the official slim image).
#   rust:1-bookworm       the same Debian plus gcc, libc6-dev, pkg-config, ca-certificates and git,
#                         plus the host's Rust toolchain (rustc, cargo, the standard library: what
#                         `rustc --print sysroot` holds minus its documentation) in /usr/local/rust.
#                         No rustup. CARGO_HOME=/usr/local/cargo as in the official image. It
#                         also trusts the extra certificate authorities the host trusts
#                         (/usr/local/share/ca-certificates), so cargo reaches crates.io here.
#   postgres:15-bookworm  the same Debian plus Debian's postgresql-15, with an entrypoint that gives
#                         the official image's interface as far as docker-compose.yml uses it
#                         (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA, pg_isready).
#
# Every image is made with `docker import` of a folder prepared on the host (chroot + apt-get), so
# no container needs network access to build them. An image whose tag exists is kept (FORCE=1
# rebuilds all three). Needs root, debootstrap and a Docker engine. Work folder:
# $RINGBANK_DOCKER_WORK (default /var/tmp/ringbank-docker), reused across runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=${RINGBANK_DOCKER_WORK:-/var/tmp/ringbank-docker}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
force=${FORCE:-0}
mkdir -p "$work"

mounted=()
cleanup() {
  for dir in "${mounted[@]}"; do umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true; done
}
trap cleanup EXIT

have_image() { [ "$force" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# Runs a shell command inside a root folder with /proc mounted and services kept from starting.
in_root() {
  local root=$1
  shift
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  mounted+=("$root/proc")
  local status=0
  # Package scripts are chatty (debconf, locales, certificates): their output goes to a log,
  # shown only when something fails.
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    /bin/sh -ec "$*" >>"$work/chroot.log" 2>&1 || status=$?
  [ "$status" = 0 ] || tail -30 "$work/chroot.log"
  umount "$root/proc"
  unset 'mounted[-1]'
  rm -f "$root/usr/sbin/policy-rc.d"
  return "$status"
}

# Leaves out of an image what a container never needs: package lists, caches, logs.
tidy_root() {
  local root=$1
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/apt/* "$root"/var/log/dpkg.log "$root"/tmp/* "$root"/root/.cache
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
}

import_root() {
  local root=$1 tag=$2
  shift 2
  echo "importing $tag"
  tar --numeric-owner -C "$root" -c . | docker import "$@" - "$tag" >/dev/null
  docker image ls --format '  {{.Repository}}:{{.Tag}} {{.Size}}' "$tag"
}

# The minimal Debian every image starts from; kept in $work/bookworm between runs.
base_ready=0
base_root() {
  local root=$work/bookworm
  # FORCE=1 makes it again once per run, not once per image.
  if [ "$base_ready" = 1 ] || { [ -f "$root/.complete" ] && [ "$force" != 1 ]; }; then
    return
  fi
  command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  rm -rf "$root"
  echo "debootstrap bookworm into $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  # As in the official slim image: packages installed later leave their documentation out too.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
  in_root "$root" 'apt-get update -qq && apt-get -y -qq upgrade >/dev/null'
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
  tidy_root "$root"
  touch "$root/.complete"
  base_ready=1
}

# A copy of the base folder to add packages to.
derived_root() {
  local name=$1
  rm -rf "${work:?}/$name"
  cp -a "$work/bookworm" "$work/$name"
  rm -f "$work/$name/.complete"
}

debian_slim() {
  have_image debian:bookworm-slim && { echo "debian:bookworm-slim exists"; return; }
  base_root
  import_root "$work/bookworm" debian:bookworm-slim --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase bookworm (tests/docker/base-images.sh)"
}

rust_build() {
  have_image rust:1-bookworm && { echo "rust:1-bookworm exists"; return; }
  base_root
  local root=$work/rust sysroot version
  derived_root rust
  in_root "$root" 'apt-get update -qq && apt-get install -y -qq gcc libc6-dev pkg-config ca-certificates git >/dev/null'
  # Cargo in the build stage downloads crates like cargo on the host does: where the host trusts
  # extra certificate authorities (a TLS-inspecting egress proxy, as on the project's machines),
  # the build image trusts them too. These are public certificates, not secrets.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    in_root "$root" 'update-ca-certificates >/dev/null'
  fi
  sysroot=$(rustc --print sysroot)
  version=$(rustc --version)
  echo "copying the host's toolchain ($version) from $sysroot"
  mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo/bin"
  cp -a "$sysroot/bin" "$sysroot/lib" "$root/usr/local/rust/"
  rm -rf "$root/usr/local/rust/bin/"rust-gdb* "$root/usr/local/rust/bin/rust-lldb"
  tidy_root "$root"
  import_root "$root" rust:1-bookworm \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' --message "Debian bookworm + gcc + the host's $version (tests/docker/base-images.sh)"
}

postgres_server() {
  have_image postgres:15-bookworm && { echo "postgres:15-bookworm exists"; return; }
  base_root
  local root=$work/postgres
  derived_root postgres
  in_root "$root" 'apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null
    pg_dropcluster 15 main 2>/dev/null || true
    mkdir -p /var/lib/postgresql/data /run/postgresql
    chown postgres:postgres /var/lib/postgresql/data /run/postgresql
    chmod 700 /var/lib/postgresql/data'
  install -m 755 tests/docker/postgres-entrypoint.sh "$root/usr/local/bin/docker-entrypoint.sh"
  tidy_root "$root"
  import_root "$root" postgres:15-bookworm \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' --change 'ENV LANG=C.UTF-8' \
    --change 'USER postgres' --change 'VOLUME /var/lib/postgresql/data' --change 'EXPOSE 5432' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' --change 'CMD ["postgres"]' \
    --message "Debian bookworm + Debian's postgresql-15 (tests/docker/base-images.sh)"
}

debian_slim
rust_build
postgres_server
