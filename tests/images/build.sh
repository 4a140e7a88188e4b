#!/usr/bin/env bash
# Build the local dbarena test images from Debian bookworm packages, without
# any container registry:
#
#   dbarena-test/postgres:15  (+ :latest)   PostgreSQL 15
#   dbarena-test/mysql:mariadb-10.11        MariaDB 10.11 behind the mysql image contract
#   dbarena-test/redis:7                    Redis 7
#   dbarena-test/pgbouncer:1.18             PgBouncer 1.18 (the pooler of shared servers)
#
# One `debootstrap --variant=minbase --include=<all packages>` rootfs is
# created, pruned, and imported three times (`tar | docker import --change ...`)
# with image-specific ENTRYPOINT/CMD/EXPOSE/VOLUME/ENV/WORKDIR and with the
# other databases' package files left out.
#
# Caching: every image carries LABEL dbarena.test.recipe=<sha256 of this
# script + the image's directory (entrypoint script)>. Images whose label
# already matches are skipped; if nothing needs building the script takes
# about a second.
#
# Env:
#   DEBIAN_MIRROR      mirror URL (default: the one apt uses on this host,
#                      else http://deb.debian.org/debian)
#   DEBOOTSTRAP_CACHE  .deb cache dir ("" disables; default /var/cache/dbarena-test-images/debs)
#   FORCE_REBUILD=1    ignore the recipe labels
#   IMAGES="redis mysql"  build only these (default: postgres mysql redis pgbouncer)
#   KEEP_ROOTFS=1      (debugging) keep the customized rootfs and print its path
#   ROOTFS_FROM=DIR    (debugging) import from an already customized rootfs
#                      instead of running debootstrap
#
# Needs root (or sudo), debootstrap and a running docker daemon
# (see .ci/docker-up.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SUITE=bookworm
LABEL_KEY=dbarena.test.recipe
PACKAGES=postgresql,mariadb-server,mariadb-client,redis-server,redis-tools,pgbouncer
read -r -a IMAGES <<<"${IMAGES:-postgres mysql redis pgbouncer}"
DEBOOTSTRAP_CACHE="${DEBOOTSTRAP_CACHE-/var/cache/dbarena-test-images/debs}"
START=$SECONDS

progress() { printf '[build.sh %3ds] %s\n' "$((SECONDS - START))" "$*"; }
die() {
  printf '[build.sh] ERROR: %s\n' "$*" >&2
  exit 1
}

SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo -n"
fi

# ---------------------------------------------------------------- image specs
tags_of() {
  case "$1" in
    postgres) echo "dbarena-test/postgres:15 dbarena-test/postgres:latest" ;;
    mysql) echo "dbarena-test/mysql:mariadb-10.11 dbarena-test/mariadb:10.11" ;;
    redis) echo "dbarena-test/redis:7" ;;
    pgbouncer) echo "dbarena-test/pgbouncer:1.18" ;;
    *) die "unknown image $1" ;;
  esac
}

# Packages whose files are left out of an image (they belong to the others).
exclude_pkgs_of() {
  local pg="postgresql-15 postgresql-client-15"
  local maria="mariadb-server mariadb-server-core mariadb-client mariadb-client-core galera-4"
  local redis="redis-server redis-tools"
  local bouncer="pgbouncer"
  case "$1" in
    postgres) echo "$maria $redis $bouncer" ;;
    mysql) echo "$pg $redis $bouncer" ;;
    redis) echo "$pg $maria $bouncer" ;;
    pgbouncer) echo "$pg $maria $redis" ;;
  esac
}

BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

changes_of() {
  # one --change argument per line
  case "$1" in
    postgres)
      cat <<EOF
ENV PG_MAJOR=15
ENV PATH=/usr/lib/postgresql/15/bin:$BASE_PATH
ENV PGDATA=/var/lib/postgresql/data
ENV LANG=C.UTF-8
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
EOF
      ;;
    mysql)
      cat <<EOF
ENV PATH=$BASE_PATH
ENV LANG=C.UTF-8
VOLUME /var/lib/mysql
EXPOSE 3306 33060
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["mysqld"]
EOF
      ;;
    redis)
      cat <<EOF
ENV PATH=$BASE_PATH
ENV LANG=C.UTF-8
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
      ;;
    pgbouncer)
      # As edoburu/pgbouncer: runs as postgres; the config is a file the caller provides.
      cat <<EOF
ENV PATH=$BASE_PATH
ENV LANG=C.UTF-8
USER postgres
EXPOSE 6432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]
EOF
      ;;
  esac
}

# `docker import --change` (daemon 20.10) rejects STOPSIGNAL; images that need
# one get it from a one-line Dockerfile on top of the imported image.
stopsignal_of() {
  case "$1" in
    postgres) echo SIGINT ;; # like the official image: fast shutdown
  esac
}

recipe_of() {
  # build.sh + everything in the image's directory, in a stable order
  {
    echo "build.sh"
    cat "$HERE/build.sh"
    (cd "$HERE" && find "$1" -type f | LC_ALL=C sort) | while read -r f; do
      echo "$f"
      cat "$HERE/$f"
    done
  } | sha256sum | cut -d' ' -f1
}

label_of() {
  docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- preflight
docker info >/dev/null 2>&1 || die "docker daemon not reachable (run .ci/docker-up.sh)"

declare -A RECIPE
TODO=()
for img in "${IMAGES[@]}"; do
  RECIPE[$img]="$(recipe_of "$img")"
  read -r -a tags <<<"$(tags_of "$img")"
  if [ -z "${FORCE_REBUILD:-}" ] && [ "$(label_of "${tags[0]}")" = "${RECIPE[$img]}" ]; then
    for t in "${tags[@]:1}"; do
      if [ "$(label_of "$t")" != "${RECIPE[$img]}" ]; then
        docker tag "${tags[0]}" "$t"
      fi
    done
    progress "$img: ${tags[*]} up to date (recipe ${RECIPE[$img]:0:12})"
  else
    TODO+=("$img")
  fi
done

if [ ${#TODO[@]} -eq 0 ]; then
  progress "all images up to date"
  exit 0
fi
progress "to build: ${TODO[*]}"

command -v debootstrap >/dev/null 2>&1 || die "debootstrap not installed (apt-get install debootstrap, or run .ci/docker-up.sh)"

# ---------------------------------------------------------------- mirror
detect_mirror() {
  local f uri
  # deb822 .sources files: first stanza with Suites containing exactly $SUITE
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri="$(awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; ok = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
          if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) deb = 1
        }
        if (ok && deb && uris != "") { print uris; exit }
      }' "$f")"
    if [ -n "$uri" ]; then
      echo "$uri"
      return
    fi
  done
  # one-line format
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri="$(awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f")"
    if [ -n "$uri" ]; then
      echo "$uri"
      return
    fi
  done
  echo "http://deb.debian.org/debian"
}
MIRROR="${DEBIAN_MIRROR:-$(detect_mirror)}"
progress "mirror: $MIRROR"

# ---------------------------------------------------------------- rootfs
WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/dbarena-test-images.XXXXXX")"
ROOTFS="${ROOTFS_FROM:-$WORK/rootfs}"

cleanup() {
  if [ -n "${KEEP_ROOTFS:-}" ] || [ -n "${ROOTFS_FROM:-}" ]; then
    progress "keeping rootfs $ROOTFS"
    $SUDO find "$WORK" -mindepth 1 -maxdepth 1 ! -name rootfs -exec rm -rf {} +
    return
  fi
  # debootstrap mounts proc/sys (and maybe dev) inside the target; make sure
  # nothing is left mounted before deleting the tree.
  if [ -d "$ROOTFS" ]; then
    awk -v r="$ROOTFS" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do $SUDO umount -l "$m" 2>/dev/null || true; done
  fi
  $SUDO rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

cache_args=()
if [ -n "$DEBOOTSTRAP_CACHE" ]; then
  $SUDO mkdir -p "$DEBOOTSTRAP_CACHE"
  cache_args=(--cache-dir="$DEBOOTSTRAP_CACHE")
fi

in_root() { $SUDO chroot "$ROOTFS" "$@"; }

customize_rootfs() {
  progress "debootstrap $SUITE (minbase + $PACKAGES) into $ROOTFS (takes a few minutes)"
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase "${cache_args[@]}" \
    --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 </dev/null; then
    tail -n 40 "$WORK/debootstrap.log" >&2
    if [ -f "$ROOTFS/debootstrap/debootstrap.log" ]; then tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" >&2; fi
    die "debootstrap failed"
  fi
  progress "debootstrap done ($($SUDO du -sh --one-file-system "$ROOTFS" | cut -f1))"

  progress "customizing rootfs"
  # Postgres: drop the Debian-managed cluster, make the sample config listen on
  # '*' (the official image does the same sed), provide PGDATA like the official image.
  $SUDO rm -rf "$ROOTFS/var/lib/postgresql/15" "$ROOTFS/etc/postgresql/15"
  $SUDO sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" \
    "$ROOTFS/usr/share/postgresql/15/postgresql.conf.sample"
  grep -F "listen_addresses = '*'" "$ROOTFS/usr/share/postgresql/15/postgresql.conf.sample" >/dev/null ||
    die "could not patch postgresql.conf.sample"
  $SUDO mkdir -p "$ROOTFS/var/lib/postgresql/data" "$ROOTFS/var/run/postgresql"
  in_root chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
  $SUDO chmod 1777 "$ROOTFS/var/lib/postgresql/data"
  $SUDO chmod 3775 "$ROOTFS/var/run/postgresql"
  # The JIT provider (llvmjit.so -> libLLVM, libz3; ~140 MB) is optional: postgres
  # silently runs without JIT when it can't be loaded.
  $SUDO rm -rf "$ROOTFS"/usr/lib/postgresql/15/lib/llvmjit* "$ROOTFS"/usr/lib/postgresql/15/lib/bitcode \
    "$ROOTFS"/usr/lib/x86_64-linux-gnu/libLLVM-*.so* "$ROOTFS"/usr/lib/x86_64-linux-gnu/libz3.so*

  # MariaDB: empty datadir (the package's postinst initialized one), socket dir,
  # listen on all interfaces instead of Debian's 127.0.0.1, no DNS lookups.
  $SUDO find "$ROOTFS/var/lib/mysql" -mindepth 1 -delete
  $SUDO mkdir -p "$ROOTFS/run/mysqld"
  in_root chown mysql:mysql /var/lib/mysql /run/mysqld
  $SUDO chmod 1777 "$ROOTFS/run/mysqld"
  $SUDO sed -ri 's/^(bind-address\s*=)/#\1/' "$ROOTFS/etc/mysql/mariadb.conf.d/50-server.cnf"
  printf '[mariadbd]\nskip-host-cache\nskip-name-resolve\n' |
    $SUDO tee "$ROOTFS/etc/mysql/mariadb.conf.d/05-dbarena-docker.cnf" >/dev/null
  [ -e "$ROOTFS/usr/sbin/mysqld" ] || $SUDO ln -s mariadbd "$ROOTFS/usr/sbin/mysqld"

  # Redis: data dir
  $SUDO mkdir -p "$ROOTFS/data"
  in_root chown redis:redis /data

  # PgBouncer: no Debian sample config; the pooler's config is written into the
  # container by whoever runs it.
  $SUDO rm -f "$ROOTFS/etc/pgbouncer/pgbouncer.ini" "$ROOTFS/etc/pgbouncer/userlist.txt"
  $SUDO mkdir -p "$ROOTFS/etc/pgbouncer"
  in_root chown postgres:postgres /etc/pgbouncer

  # Slim down: apt caches and lists, docs, man pages, translations, logs.
  $SUDO rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/lib/dpkg/*-old \
    "$ROOTFS"/var/cache/man "$ROOTFS"/debootstrap
  $SUDO find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  $SUDO find "$ROOTFS/var/log" -type f -delete
  progress "rootfs customized ($($SUDO du -sh --one-file-system "$ROOTFS" | cut -f1))"
}

if [ -n "${ROOTFS_FROM:-}" ]; then
  progress "reusing rootfs $ROOTFS_FROM"
else
  customize_rootfs
fi

# ---------------------------------------------------------------- import
for img in "${TODO[@]}"; do
  read -r -a tags <<<"$(tags_of "$img")"
  progress "$img: importing ${tags[0]}"

  # this image's entrypoint
  $SUDO install -m 0755 "$HERE/$img/docker-entrypoint.sh" "$ROOTFS/usr/local/bin/docker-entrypoint.sh"

  # files of the other databases' packages: regular files and symlinks that
  # don't resolve to a directory (evaluated inside the chroot so absolute
  # symlinks resolve there; keeps usr-merge links like /lib -> usr/lib)
  excl="$WORK/exclude-$img"
  # shellcheck disable=SC2016,SC2046
  in_root sh -c 'dpkg -L "$@" 2>/dev/null | while read -r p; do
      if [ ! -d "$p" ] && { [ -L "$p" ] || [ -f "$p" ]; }; then echo ".$p"; fi
    done' sh $(exclude_pkgs_of "$img") >"$excl"

  changes=()
  while IFS= read -r line; do
    changes+=(--change "$line")
  done < <(changes_of "$img")
  changes+=(--change "LABEL $LABEL_KEY=${RECIPE[$img]}")
  sig="$(stopsignal_of "$img")"
  target="${tags[0]}"
  if [ -n "$sig" ]; then
    target="dbarena-test/tmp-import:$img"
  fi

  # (--no-wildcards applies to -X only; the following patterns are globs)
  id="$($SUDO tar --numeric-owner --anchored --no-wildcards -X "$excl" \
    --wildcards --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
    -C "$ROOTFS" -c . |
    docker import "${changes[@]}" --message "dbarena test image $img (recipe ${RECIPE[$img]})" - "$target")"
  if [ -n "$sig" ]; then
    printf 'FROM %s\nSTOPSIGNAL %s\n' "$target" "$sig" |
      DOCKER_BUILDKIT=0 docker build -q -t "${tags[0]}" - 2>/dev/null >/dev/null ||
      die "$img: docker build (STOPSIGNAL) failed"
    docker rmi "$target" >/dev/null
    id="$(docker image inspect --format '{{ .Id }}' "${tags[0]}")"
  fi
  for t in "${tags[@]:1}"; do
    docker tag "${tags[0]}" "$t"
  done
  size="$(docker image inspect --format '{{ .Size }}' "${tags[0]}")"
  progress "$img: built ${tags[*]} ${id:0:19} ($((size / 1000000)) MB, $(wc -l <"$excl") files of other DBs left out)"
done

progress "done"
