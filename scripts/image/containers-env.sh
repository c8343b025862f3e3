# Sourced by the image scripts: buildah and podman settings this kind of machine needs, kept in
# files of their own so that nothing in the machine's /etc/containers changes. The vfs driver
# works where overlay mounts are refused, runc is the runtime Debian's podman runs here, and the
# ulimits stay under the limits of the machine's own shell.
# shellcheck shell=bash
SUNSET_CONTAINERS_DIR="${SUNSET_CONTAINERS_DIR:-/var/lib/sunset-containers}"
mkdir -p "$SUNSET_CONTAINERS_DIR/storage" "$SUNSET_CONTAINERS_DIR/run"
cat >"$SUNSET_CONTAINERS_DIR/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$SUNSET_CONTAINERS_DIR/storage"
runroot = "$SUNSET_CONTAINERS_DIR/run"
CONF
cat >"$SUNSET_CONTAINERS_DIR/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_STORAGE_CONF="$SUNSET_CONTAINERS_DIR/storage.conf"
export CONTAINERS_CONF="$SUNSET_CONTAINERS_DIR/containers.conf"
export BUILDAH_ISOLATION=chroot
