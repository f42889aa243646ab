# The body of the Docker bootstrap script; Script prepends the settings (see script.go).
# POSIX sh, run as root, idempotent: a second run changes nothing and reports DOCKER_CHANGED=0.

log() { echo "docker-bootstrap: $*"; }
fail() {
	echo "docker-bootstrap: error: $*" >&2
	exit 1
}
has() { command -v "$1" >/dev/null 2>&1; }
# systemd is the init system when this directory exists (sd_booted(3)).
use_systemd() { [ -d "$SYSTEMD_DIR" ] && has systemctl; }
docker_ready() { docker info >/dev/null 2>&1; }

install_docker() {
	case "$INSTALL_METHOD" in
	script)
		log "installing docker with $INSTALL_URL"
		tmp=$(mktemp)
		if has curl; then
			curl -fsSL "$INSTALL_URL" -o "$tmp" || fail "download of $INSTALL_URL failed"
		elif has wget; then
			wget -qO "$tmp" "$INSTALL_URL" || fail "download of $INSTALL_URL failed"
		else
			fail "neither curl nor wget is installed to fetch $INSTALL_URL"
		fi
		sh "$tmp" || fail "the install script $INSTALL_URL failed"
		rm -f "$tmp"
		;;
	distro)
		if has apt-get; then
			log "installing docker.io with apt-get"
			DEBIAN_FRONTEND=noninteractive
			export DEBIAN_FRONTEND
			apt-get update -q || fail "apt-get update failed"
			apt-get install -y -q docker.io || fail "apt-get install docker.io failed"
		elif has dnf; then
			log "installing docker with dnf"
			dnf install -y docker || fail "dnf install docker failed"
		elif has yum; then
			log "installing docker with yum"
			yum install -y docker || fail "yum install docker failed"
		elif has zypper; then
			log "installing docker with zypper"
			zypper --non-interactive install docker || fail "zypper install docker failed"
		else
			fail "no apt-get, dnf, yum or zypper to install docker with"
		fi
		;;
	*)
		fail "docker is not installed and the install method is none: use an image that has docker"
		;;
	esac
	if ! has docker || ! has dockerd; then
		fail "docker is still missing after the installation"
	fi
	changed=1
}

# ensure_group makes SSH_USER a member of the docker group, so RKE can use the socket through SSH.
ensure_group() {
	[ "$SSH_USER" != root ] || return 0
	if ! getent group docker >/dev/null; then
		log "creating the docker group"
		if has groupadd; then
			groupadd -r docker || fail "groupadd docker failed"
		else
			addgroup -S docker || fail "addgroup docker failed"
		fi
		# dockerd gives its socket to the group only when the group exists at start.
		restart=1
		changed=1
	fi
	case " $(id -nG "$SSH_USER") " in
	*" docker "*) return 0 ;;
	esac
	log "adding $SSH_USER to the docker group"
	if has usermod; then
		usermod -aG docker "$SSH_USER" || fail "usermod -aG docker $SSH_USER failed"
	else
		addgroup "$SSH_USER" docker || fail "addgroup $SSH_USER docker failed"
	fi
	changed=1
}

write_daemon_json() {
	[ -n "$DAEMON_JSON" ] || return 0
	if [ -f "$DAEMON_JSON_FILE" ] && [ "$(cat "$DAEMON_JSON_FILE")" = "$DAEMON_JSON" ]; then
		return 0
	fi
	log "writing $DAEMON_JSON_FILE"
	mkdir -p "$(dirname "$DAEMON_JSON_FILE")"
	printf '%s\n' "$DAEMON_JSON" >"$DAEMON_JSON_FILE.new"
	mv "$DAEMON_JSON_FILE.new" "$DAEMON_JSON_FILE"
	restart=1
	changed=1
}

# write_registry_ca makes Docker trust the private registry's CA. Docker reads certs.d at every
# pull, so it needs no restart.
write_registry_ca() {
	[ -n "$REGISTRY_CA" ] || return 0
	if [ -f "$REGISTRY_CA_FILE" ] && [ "$(cat "$REGISTRY_CA_FILE")" = "$REGISTRY_CA" ]; then
		return 0
	fi
	log "writing $REGISTRY_CA_FILE"
	mkdir -p "$(dirname "$REGISTRY_CA_FILE")"
	printf '%s\n' "$REGISTRY_CA" >"$REGISTRY_CA_FILE.new"
	mv "$REGISTRY_CA_FILE.new" "$REGISTRY_CA_FILE"
	changed=1
}

# wait_until runs "$@" every second until it succeeds, at most $1 times.
wait_until() {
	n=$1
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 1
	done
}

# dockerd_stopped: gone, or a zombie (PID 1 of a container may never reap it).
dockerd_stopped() {
	kill -0 "$1" 2>/dev/null || return 0
	case "$(cat "/proc/$1/stat" 2>/dev/null)" in
	*") Z "*) return 0 ;;
	esac
	return 1
}
dockerd_running() {
	pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null) && ! dockerd_stopped "$pid"
}

start_without_systemd() {
	if docker_ready || dockerd_running; then
		# Running, or still starting (wait_until docker_ready follows).
		[ "$restart" = 1 ] || return 0
		dockerd_running || fail "dockerd runs without systemd and without $DOCKER_PIDFILE: cannot restart it for the new configuration"
		log "restarting dockerd ($pid) for the new configuration"
		kill "$pid" || fail "cannot stop dockerd ($pid)"
		wait_until 60 dockerd_stopped "$pid" || fail "dockerd ($pid) did not stop within 60 s"
	else
		changed=1
	fi
	has setsid || fail "setsid is missing: cannot start dockerd without systemd"
	log "starting dockerd without systemd (log: $DOCKERD_LOG)"
	setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
}

start_with_systemd() {
	if ! systemctl is-enabled --quiet docker 2>/dev/null; then
		log "enabling docker"
		systemctl enable docker || fail "systemctl enable docker failed"
		changed=1
	fi
	if ! systemctl is-active --quiet docker; then
		log "starting docker"
		systemctl start docker || fail "systemctl start docker failed (see journalctl -u docker)"
		changed=1
	elif [ "$restart" = 1 ]; then
		log "restarting docker for the new configuration"
		systemctl restart docker || fail "systemctl restart docker failed (see journalctl -u docker)"
	fi
}

main() {
	umask 022
	changed=0
	restart=0
	if has docker && has dockerd; then
		log "found $(docker --version)"
	else
		install_docker
	fi
	ensure_group
	write_daemon_json
	write_registry_ca
	if use_systemd; then
		start_with_systemd
		wait_until 60 docker_ready || fail "docker does not answer 60 s after start (see journalctl -u docker)"
	else
		start_without_systemd
		wait_until 60 docker_ready || fail "docker does not answer 60 s after start (see $DOCKERD_LOG)"
	fi
	version=$(docker info --format '{{.ServerVersion}}') || fail "docker info failed"
	echo "DOCKER_CHANGED=$changed"
	echo "DOCKER_VERSION=$version"
}

# The script itself arrives on stdin: keep commands from reading the rest of it.
main </dev/null
