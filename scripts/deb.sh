#!/usr/bin/env bash
# Builds the Debian package stemedb_<version>_amd64.deb from a built binary
# and the files in deploy/ (the units, the configuration, deploy/debian/).
#
#   scripts/deb.sh BINARY OUT_DIR [fast]
#
# `make deb` packages the release binary with xz; the test suite passes its
# debug binary and `fast` (gzip -1), so CI needs no release build. The
# binary is stripped either way.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:?usage: scripts/deb.sh BINARY OUT_DIR [fast]}"
out="${2:?usage: scripts/deb.sh BINARY OUT_DIR [fast]}"
speed="${3:-}"
[ -x "$binary" ] || { echo "!! $binary is not an executable (build it first)" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "!! dpkg-deb not found (make deps installs it)" >&2; exit 1; }

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
mkdir -p "$out"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"

echo ">> staging stemedb $version from $binary"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
    "$root/etc/stemedb" "$root/var/lib/stemedb" \
    "$root/usr/share/doc/stemedb"
strip --strip-unneeded --remove-section=.comment --remove-section=.note -o "$root/usr/bin/stemedb" "$binary"
chmod 0755 "$root/usr/bin/stemedb"
for unit in deploy/systemd/*.service deploy/systemd/*.timer; do
    install -m 0644 "$unit" "$root/lib/systemd/system/"
done
install -m 0644 deploy/systemd/stemedb.toml "$root/etc/stemedb/stemedb.toml"
install -m 0644 deploy/debian/copyright deploy/debian/README.Debian "$root/usr/share/doc/stemedb/"
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$(date -R)/" deploy/debian/changelog \
    | gzip -9n > "$root/usr/share/doc/stemedb/changelog.gz"
chmod 0644 "$root/usr/share/doc/stemedb/changelog.gz"

install -m 0755 deploy/debian/postinst deploy/debian/postrm "$root/DEBIAN/"
echo /etc/stemedb/stemedb.toml > "$root/DEBIAN/conffiles"
# The libraries the binary links, as Debian's own packages name them.
depends="libc6 (>= 2.34), libgcc-s1 (>= 4.2), libstdc++6 (>= 12)"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    deploy/debian/control > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
    | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

deb="$out/stemedb_${version}_amd64.deb"
if [ "$speed" = fast ]; then compress=(-Zgzip -z1); else compress=(-Zxz); fi
echo ">> writing $deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$deb" >/dev/null
echo "$deb"
