#!/usr/bin/env bash
# Installs, starts, stops and reports the real services that zenreg's
# end-to-end tests talk to, all on loopback:
#
#   docker    Docker Engine (Debian's docker.io dockerd) on a unix socket only
#   registry  two Distribution registries (Debian's docker-registry):
#             an open one and one behind htpasswd (bcrypt) basic auth
#   moto      moto_server, which mocks AWS (ECR, STS, ...) over HTTP
#   ecr       a stand-in for Amazon ECR's data plane: a third registry on
#             127.0.0.1:80 that accepts only the login moto's ECR hands out,
#             reached as 123456789012.dkr.ecr.us-east-1.amazonaws.com through
#             an /etc/hosts line (see the `ecr` section below)
#   postgres  two PostgreSQL servers of our own (Debian's postgresql), run as the
#             `postgres` user from the state dir with scram-sha-256 logins: a plain
#             one and one that accepts only TLS, with a certificate from a test CA
#   podman    Podman's Docker-compatible API (Debian's podman 4.3, `podman system
#             service`) on a unix socket of its own, with storage and a
#             registries.conf of its own under the state dir: the open registry
#             (127.0.0.1:5000) is marked `insecure = true` there, nothing else is
#
# Usage:
#   scripts/services.sh start  [docker|registry|moto|ecr|postgres|podman ...]   (default: all)
#   scripts/services.sh stop   [docker|registry|moto|ecr|postgres|podman ...]
#   scripts/services.sh status [docker|registry|moto|ecr|postgres|podman ...]
#   scripts/services.sh env    [docker|registry|moto|ecr|postgres|podman ...]   (exports only)
#   scripts/services.sh clean                               (stop + wipe state)
#
# `start` prints only `export NAME=value` lines on stdout, so callers can do
#   eval "$(scripts/services.sh start)"
# Every progress or error message goes to stderr.
#
# Knobs (environment):
#   ZENREG_SERVICES_DIR          state dir (default /tmp/zenreg-services)
#   ZENREG_DOCKER_SOCKET         dockerd socket (default /var/run/docker.sock,
#                                or STATE/docker.sock if a foreign daemon owns it)
#   ZENREG_DOCKER_STORAGE_DRIVER force a storage driver (default: overlay2 if
#                                the kernel takes it, else vfs)
#   ZENREG_INSECURE_REGISTRIES   extra --insecure-registry entries, space separated
#   ZENREG_REGISTRY_PORT         open registry port (default 5000)
#   ZENREG_AUTH_REGISTRY_PORT    htpasswd registry port (default 5001)
#   ZENREG_MOTO_PORT             moto_server port (default 5002)
#   ZENREG_ECR_HOST              the ECR host the stand-in answers for (default
#                                123456789012.dkr.ecr.us-east-1.amazonaws.com,
#                                moto's default account; another region works, another
#                                account only if moto is called as that account;
#                                the port is always 80)
#   ZENREG_PG_PORT               plain PostgreSQL port (default 5433)
#   ZENREG_PG_TLS_PORT           TLS-only PostgreSQL port (default 5434)
#   ZENREG_SERVICES_TIMEOUT      seconds to wait for each service (default 60)
#
# Needs root (it installs Debian packages, runs dockerd, binds port 80 and
# edits /etc/hosts for the `ecr` service).
#
# Why bash and not a Rust xtask: nearly every line runs another program (apt-get,
# dockerd, docker-registry, pg_ctl, podman, curl) and bash says that directly; an
# xtask would wrap each in a Command, and add a build before every service start.
# The test command runs shellcheck over every script, which catches the quoting
# and error-handling slips bash invites.

set -euo pipefail

readonly ALL_SERVICES=(docker registry moto ecr postgres podman)

STATE_DIR=${ZENREG_SERVICES_DIR:-/tmp/zenreg-services}
REGISTRY_PORT=${ZENREG_REGISTRY_PORT:-5000}
AUTH_REGISTRY_PORT=${ZENREG_AUTH_REGISTRY_PORT:-5001}
MOTO_PORT=${ZENREG_MOTO_PORT:-5002}
PG_PORT=${ZENREG_PG_PORT:-5433}
PG_TLS_PORT=${ZENREG_PG_TLS_PORT:-5434}
TIMEOUT=${ZENREG_SERVICES_TIMEOUT:-60}
INSECURE_REGISTRIES=${ZENREG_INSECURE_REGISTRIES:-}
STORAGE_DRIVER=${ZENREG_DOCKER_STORAGE_DRIVER:-}
DEFAULT_DOCKER_SOCKET=/var/run/docker.sock

readonly AUTH_USER=zenreg
readonly AUTH_PASSWORD=zenreg-test-password

ECR_HOST=${ZENREG_ECR_HOST:-123456789012.dkr.ecr.us-east-1.amazonaws.com}
# moto's GetAuthorizationToken returns base64("AWS:<account>-auth-token") for
# the calling account (moto/ecr/models.py), so that is the stand-in's only login.
readonly ECR_USER=AWS
ECR_PASSWORD=${ECR_HOST%%.*}-auth-token
# Fixed: an ECR host has no port, and dockerd's plain-HTTP fallback goes to :80.
readonly ECR_PORT=80
readonly HOSTS_FILE=/etc/hosts
readonly HOSTS_MARK="# zenreg-services ecr"

PID_DIR=$STATE_DIR/pids
LOG_DIR=$STATE_DIR/logs
DOCKER_DIR=$STATE_DIR/docker
MOTO_VENV=$STATE_DIR/moto-venv

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------
# process bookkeeping

pid_file() { printf '%s/%s.pid\n' "$PID_DIR" "$1"; }

# Prints the recorded pid of a unit if that process is still alive *and* is
# still the program we started: a bare `kill -0` would be fooled by pid reuse
# after a reboot or a long time, and we must never signal a stranger.
live_pid() {
    local unit=$1 pattern=$2 file pid cmdline
    file=$(pid_file "$unit")
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$pattern"* ]] || return 1
    printf '%s\n' "$pid"
}

# Starts a daemon fully detached: its own session (so the caller's Ctrl-C or
# hang-up does not reach it) and no inherited stdout, which would otherwise
# keep `$(scripts/services.sh start)` waiting until the daemon exits.
# The fingerprint (command line plus a hash of its config files) is kept so
# that a later `start` with other settings restarts the daemon instead of
# keeping one that no longer matches what was asked for.
spawn() {
    local unit=$1 fingerprint=$2
    shift 2
    local logf=$LOG_DIR/$unit.log
    printf '\n===== %s starting %s =====\n' "$(date -Is)" "$unit" >>"$logf"
    setsid "$@" </dev/null >>"$logf" 2>&1 &
    printf '%s\n' "$!" >"$(pid_file "$unit")"
    printf '%s\n' "$fingerprint" >"$PID_DIR/$unit.fingerprint"
}

same_fingerprint() {
    [[ -f $PID_DIR/$1.fingerprint && "$(<"$PID_DIR/$1.fingerprint")" == "$2" ]]
}

# A daemon we started is re-parented to pid 1 when this script exits, and
# this machine's pid 1 reaps orphans only every couple of seconds: a zombie
# has already exited and must not be waited for.
alive() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

show_log_tail() {
    local logf=$LOG_DIR/$1.log
    if [[ -f $logf ]]; then
        log "last lines of $logf:"
        tail -n 40 "$logf" | sed 's/^/    /' >&2
    fi
}

# Polls a health check until it passes, the process dies, or the timeout runs
# out; the last two print the log tail and fail, so a broken service is
# reported where it broke instead of as a confusing test failure later.
# The pid, not the command line, is checked here: right after the fork the
# child may not have exec'd the daemon yet.
wait_healthy() {
    local unit=$1 pid
    shift
    pid=$(<"$(pid_file "$unit")")
    local deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if ! alive "$pid"; then
            show_log_tail "$unit"
            die "$unit exited during startup"
        fi
        sleep 0.3
    done
    show_log_tail "$unit"
    die "$unit did not become healthy within ${TIMEOUT}s"
}

stop_unit() {
    local unit=$1 pattern=$2 grace=${3:-15} pid
    if ! pid=$(live_pid "$unit" "$pattern"); then
        rm -f "$(pid_file "$unit")"
        return 0
    fi
    log "stopping $unit (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if alive "$pid"; then
        log "$unit ignored SIGTERM for ${grace}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$(pid_file "$unit")"
    STOPPED_PIDS+=("$pid")
}

# Exited daemons linger as zombies until pid 1 gets round to reaping them;
# waiting (bounded) lets `stop` return with nothing at all left in `ps`.
STOPPED_PIDS=()
wait_reaped() {
    local deadline=$((SECONDS + 5)) pid
    for pid in "${STOPPED_PIDS[@]}"; do
        while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.1; done
    done
}

# Something answering on our port that we did not start would otherwise pass
# the health check and be mistaken for ours.
port_in_use() {
    local port=$1
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# ---------------------------------------------------------------------------
# installation

APT_UPDATED=0
POLICY_RC_CREATED=0

cleanup() {
    if ((POLICY_RC_CREATED)); then
        rm -f /usr/sbin/policy-rc.d
    fi
}
trap cleanup EXIT

pkg_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

apt_get_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

apt_install() {
    local missing=() pkg policy
    for pkg in "$@"; do
        pkg_installed "$pkg" || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0

    # A fresh machine may have no package lists, or lists too old to name a
    # candidate; update once per run, and only then.
    if ((!APT_UPDATED)); then
        for pkg in "${missing[@]}"; do
            # Not `apt-cache policy | grep -q`: under pipefail, grep quitting
            # early makes apt-cache die of SIGPIPE and the test fail.
            policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
            if [[ ! $policy =~ Candidate:\ [^\(] ]]; then
                log "apt-get update"
                apt-get update -qq >&2
                APT_UPDATED=1
                break
            fi
        done
    fi

    # docker.io and docker-registry ship init scripts that the postinst would
    # start: a system dockerd we do not control, and a registry listening on
    # :5000 (all interfaces) that would steal our port. policy-rc.d "101"
    # is Debian's documented way to say "do not start services here".
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    log "apt-get install ${missing[*]}"
    # Lists that name a candidate can still be stale: the mirror then answers
    # 404 for a superseded .deb. One update and a retry fix that.
    if ! apt_get_install "${missing[@]}"; then
        ((!APT_UPDATED)) || die "apt-get install ${missing[*]} failed"
        log "apt-get install failed; apt-get update and retry"
        apt-get update -qq >&2
        APT_UPDATED=1
        apt_get_install "${missing[@]}"
    fi
    cleanup
    POLICY_RC_CREATED=0
}

# Exactly one moto_server is used: the one already on PATH if it can start
# (i.e. moto was installed with its [server] extra), else one in a private
# venv. A venv sidesteps Debian's PEP 668 "externally managed" refusal of
# `pip install` into the system Python.
MOTO_BIN=
find_moto() {
    local candidate scripts
    # `python3 -m pip` puts moto_server in the interpreter's scripts dir, which
    # is not always on PATH (pyenv only exposes it after `pyenv rehash`).
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
    for candidate in "$MOTO_VENV/bin/moto_server" "$(command -v moto_server 2>/dev/null || true)" \
        "${scripts:+$scripts/moto_server}"; do
        [[ -n $candidate && -x $candidate ]] || continue
        if "$candidate" --help >/dev/null 2>&1; then
            MOTO_BIN=$candidate
            return 0
        fi
    done
    return 1
}

install_moto() {
    find_moto && return 0
    local stdlib
    stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))' 2>/dev/null || true)
    if python3 -m pip --version >/dev/null 2>&1 && [[ ! -e $stdlib/EXTERNALLY-MANAGED ]]; then
        log "pip install 'moto[server]'"
        python3 -m pip install -q 'moto[server]' >&2
    else
        apt_install python3-venv
        log "pip install 'moto[server]' into $MOTO_VENV"
        python3 -m venv "$MOTO_VENV" >&2
        "$MOTO_VENV/bin/pip" install -q 'moto[server]' >&2
    fi
    find_moto || die "moto_server still not usable after installing moto[server]"
}

install_for() {
    local want=() svc
    for svc in "$@"; do
        case $svc in
            # skopeo and busybox-static: the push tests build images around /bin/busybox and read
            # registries back with skopeo (Debian's Docker 20.10 cannot pull zstd layers).
            docker) want+=(docker.io curl skopeo busybox-static man-db) ;; # man-db: `man -l` checks zenreg's man page
            # openssl: the OCI push tests run registries of their own behind a test CA and
            # sign the tokens of their token issuer with it.
            registry) want+=(docker-registry apache2-utils curl openssl) ;;
            moto) want+=(curl) ;;
            ecr) want+=(docker-registry apache2-utils curl) ;;
            # postgresql pulls the server (postgresql-15), psql and pg_isready; openssl makes
            # the test CA; setpriv (util-linux) drops root to the postgres user.
            postgres) want+=(postgresql postgresql-client openssl util-linux) ;;
            # podman: its Docker-compatible API service (and buildah inside it for `build`).
            podman) want+=(podman curl) ;;
        esac
    done
    apt_install "${want[@]}"
    if [[ " $* " == *" moto "* ]]; then
        install_moto
    fi
}

# ---------------------------------------------------------------------------
# docker

docker_socket() {
    if [[ -f $DOCKER_DIR/socket ]]; then
        cat "$DOCKER_DIR/socket"
    else
        printf '%s\n' "${ZENREG_DOCKER_SOCKET:-$DEFAULT_DOCKER_SOCKET}"
    fi
}

docker_ping() {
    [[ "$(curl -fsS --max-time 3 --unix-socket "$1" http://localhost/_ping)" == OK ]]
}

docker_pick_driver() {
    if [[ -n $STORAGE_DRIVER ]]; then
        printf '%s\n' "$STORAGE_DRIVER"
    elif grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null; then
        # overlay2 is fast and shares layers; it needs the data root on a
        # filesystem that supports d_type (ext4/xfs do, tmpfs does on modern
        # kernels). dockerd refuses overlay2 otherwise, hence the override.
        printf 'overlay2\n'
    else
        # vfs works anywhere (full copy per layer): slow but fine for the
        # tiny images the tests build.
        printf 'vfs\n'
    fi
}

docker_args() {
    local sock=$1 driver=$2 reg
    local args=(
        dockerd
        # Only the unix socket: no TCP listener at all.
        --host "unix://$sock"
        # Everything lives in the state dir so it never mixes with a system
        # Docker's /var/lib/docker or /run/docker.
        --data-root "$DOCKER_DIR/data"
        --exec-root "$DOCKER_DIR/exec"
        --pidfile "$DOCKER_DIR/dockerd.pid"
        # An empty config file so a host /etc/docker/daemon.json cannot
        # conflict with the flags below (dockerd refuses duplicates).
        --config-file "$DOCKER_DIR/daemon.json"
        --storage-driver "$driver"
        # No bridge, NAT or forwarding. dockerd boots without these too, but
        # then it creates docker0 (172.17.0.1/16), adds MASQUERADE rules to
        # the host's iptables and sets net.ipv4.ip_forward=1: host-wide
        # changes the tests do not need (they build, push and pull over
        # loopback; RUN steps and `docker run` still work, with no network)
        # and a private range this machine must not route to.
        --bridge=none
        --iptables=false
        --ip-masq=false
        --ip-forward=false
        --userland-proxy=false
        --log-level=warn
    )
    # Plain-HTTP registries. 127.0.0.0/8 is insecure by default, and dockerd
    # resolves a registry's hostname and checks it against that range, so a
    # name mapped to 127.0.0.1 in /etc/hosts (a fake ECR host) already
    # works; explicit entries cover names that resolve elsewhere or only
    # later, and make the intent visible in `docker info`.
    for reg in $INSECURE_REGISTRIES; do
        args+=(--insecure-registry "$reg")
    done
    printf '%s\n' "${args[@]}"
}

start_docker() {
    local sock driver args pid
    mkdir -p "$DOCKER_DIR/data" "$DOCKER_DIR/exec"
    [[ -f $DOCKER_DIR/daemon.json ]] || printf '{}\n' >"$DOCKER_DIR/daemon.json"

    if pid=$(live_pid docker dockerd); then
        sock=$(docker_socket)
        driver=$(docker_pick_driver)
        mapfile -t args < <(docker_args "$sock" "$driver")
        if same_fingerprint docker "${args[*]}" && docker_ping "$sock" &&
            [[ -z ${ZENREG_DOCKER_SOCKET:-} || $ZENREG_DOCKER_SOCKET == "$sock" ]]; then
            log "docker already running (pid $pid, unix://$sock)"
            return 0
        fi
        log "docker running with other settings or unhealthy; restarting"
        stop_docker
    fi

    sock=${ZENREG_DOCKER_SOCKET:-$DEFAULT_DOCKER_SOCKET}
    if [[ -S $sock ]] && docker_ping "$sock"; then
        # Someone else's daemon: leave it alone and use a socket of our own,
        # so our insecure-registry settings are the ones in force.
        [[ -z ${ZENREG_DOCKER_SOCKET:-} ]] ||
            die "$sock is served by a Docker daemon this script did not start"
        log "$sock belongs to another Docker daemon; using $STATE_DIR/docker.sock"
        sock=$STATE_DIR/docker.sock
    fi
    mkdir -p "$(dirname "$sock")"
    driver=$(docker_pick_driver)
    mapfile -t args < <(docker_args "$sock" "$driver")
    printf '%s\n' "$sock" >"$DOCKER_DIR/socket"

    log "starting dockerd (storage driver $driver, unix://$sock)"
    spawn docker "${args[*]}" "${args[@]}"
    wait_healthy docker docker_ping "$sock"
    log "docker is up"
}

stop_docker() {
    local containerd_pid cmdline m
    # On SIGTERM dockerd stops its containers (15s shutdown timeout) and its
    # own containerd; give it that long and more before resorting to SIGKILL.
    stop_unit docker dockerd 40
    # After a SIGKILL the managed containerd would be orphaned.
    if [[ -s $DOCKER_DIR/exec/containerd/containerd.pid ]]; then
        containerd_pid=$(<"$DOCKER_DIR/exec/containerd/containerd.pid")
        cmdline=$(tr '\0' ' ' <"/proc/$containerd_pid/cmdline" 2>/dev/null || true)
        if [[ $cmdline == *"$DOCKER_DIR"* ]]; then
            log "stopping orphaned containerd (pid $containerd_pid)"
            kill -TERM "$containerd_pid" 2>/dev/null || true
            local deadline=$((SECONDS + 10))
            while alive "$containerd_pid" && ((SECONDS < deadline)); do sleep 0.1; done
            kill -KILL "$containerd_pid" 2>/dev/null || true
        fi
    fi
    # Layer and netns mounts only survive an unclean exit; unmount them so
    # `clean` can delete the state dir and a restart starts tidy.
    while read -r m; do
        if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
    done < <(findmnt -rn -o TARGET | grep -F "$DOCKER_DIR/" | sort -r || true)
}

status_docker() {
    local pid
    if pid=$(live_pid docker dockerd) && docker_ping "$(docker_socket)"; then
        echo "docker: running (pid $pid, unix://$(docker_socket))"
    elif [[ -n ${pid:-} ]]; then
        echo "docker: unhealthy (pid $pid, unix://$(docker_socket) does not answer)"
        return 1
    else
        echo "docker: stopped"
        return 1
    fi
}

env_docker() { echo "export DOCKER_HOST=unix://$(docker_socket)"; }

# ---------------------------------------------------------------------------
# registries

# Format of docker-registry 2.8 (Distribution v2) in Debian 12: `version: 0.1`
# and the keys below. The htpasswd auth backend accepts only bcrypt entries.
write_registry_config() {
    local unit=$1 port=$2 dir=$STATE_DIR/$1
    mkdir -p "$dir/data"
    {
        cat <<EOF
version: 0.1
log:
  level: info
  fields:
    service: $unit
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  # Fixed so the registry does not warn about a random one; it only signs
  # upload state, and this registry is a local test fixture.
  secret: zenreg-test-upload-secret
  headers:
    X-Content-Type-Options: [nosniff]
EOF
        if [[ $unit == auth-registry || $unit == ecr-registry ]]; then
            cat <<EOF
auth:
  htpasswd:
    realm: zenreg-test
    path: $dir/htpasswd
EOF
        fi
    } >"$dir/config.yml.new"
    # Replace only on change, so an unchanged config keeps its fingerprint.
    if cmp -s "$dir/config.yml.new" "$dir/config.yml"; then
        rm -f "$dir/config.yml.new"
    else
        mv "$dir/config.yml.new" "$dir/config.yml"
    fi
}

# write_htpasswd FILE USER PASSWORD: a file whose only entry is USER.
write_htpasswd() {
    local file=$1 user=$2 password=$3
    # -v re-checks an existing file, so an unchanged password is not rewritten
    # (bcrypt salts differ each time, which would look like a config change).
    if [[ -f $file ]] && htpasswd -vb "$file" "$user" "$password" >/dev/null 2>&1; then
        return 0
    fi
    # -B: bcrypt, the only hash the registry's htpasswd backend accepts
    # (MD5/SHA/crypt lines are rejected). The registry re-checks the hash on
    # every request, so a low cost (-C 5) keeps pushes of many blobs fast.
    htpasswd -nbB -C 5 "$user" "$password" | sed '/^$/d' >"$file.new"
    mv "$file.new" "$file"
}

registry_v2_status() {
    curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://127.0.0.1:$1/v2/" || true
}
registry_open_ok() { [[ "$(registry_v2_status "$1")" == 200 ]]; }
# registry_auth_ok PORT [USER PASSWORD]: refuses anonymous requests, accepts the login.
registry_auth_ok() {
    [[ "$(registry_v2_status "$1")" == 401 ]] &&
        [[ "$(curl -s -o /dev/null --max-time 3 -w '%{http_code}' \
            -u "${2:-$AUTH_USER}:${3:-$AUTH_PASSWORD}" "http://127.0.0.1:$1/v2/")" == 200 ]]
}

start_one_registry() {
    local unit=$1 port=$2 check=$3 pid cfg fp
    cfg=$STATE_DIR/$unit/config.yml
    write_registry_config "$unit" "$port"
    case $unit in
        auth-registry) write_htpasswd "$STATE_DIR/$unit/htpasswd" "$AUTH_USER" "$AUTH_PASSWORD" ;;
        ecr-registry) write_htpasswd "$STATE_DIR/$unit/htpasswd" "$ECR_USER" "$ECR_PASSWORD" ;;
    esac
    # The open registry has no htpasswd file; cat's complaint is expected.
    fp="docker-registry serve $cfg $({ cat "$STATE_DIR/$unit"/config.yml "$STATE_DIR/$unit"/htpasswd 2>/dev/null || true; } | sha256sum)"
    if pid=$(live_pid "$unit" docker-registry); then
        if same_fingerprint "$unit" "$fp" && "$check" "$port"; then
            log "$unit already running (pid $pid, 127.0.0.1:$port)"
            return 0
        fi
        log "$unit configuration changed or unhealthy; restarting"
        stop_unit "$unit" docker-registry
    fi
    port_in_use "$port" && die "127.0.0.1:$port is already taken by a process this script did not start"
    log "starting $unit on 127.0.0.1:$port"
    spawn "$unit" "$fp" docker-registry serve "$cfg"
    wait_healthy "$unit" "$check" "$port"
    log "$unit is up"
}

start_registry() {
    [[ $REGISTRY_PORT != "$AUTH_REGISTRY_PORT" ]] || die "registry ports must differ"
    start_one_registry registry "$REGISTRY_PORT" registry_open_ok
    start_one_registry auth-registry "$AUTH_REGISTRY_PORT" registry_auth_ok
}

stop_registry() {
    stop_unit registry docker-registry
    stop_unit auth-registry docker-registry
}

status_registry() {
    local rc=0 unit port check pid
    for unit in registry auth-registry; do
        if [[ $unit == registry ]]; then
            port=$REGISTRY_PORT check=registry_open_ok
        else
            port=$AUTH_REGISTRY_PORT check=registry_auth_ok
        fi
        if pid=$(live_pid "$unit" docker-registry) && "$check" "$port"; then
            echo "$unit: running (pid $pid, http://127.0.0.1:$port)"
        else
            echo "$unit: stopped"
            rc=1
        fi
    done
    return "$rc"
}

env_registry() {
    echo "export ZENREG_REGISTRY=127.0.0.1:$REGISTRY_PORT"
    echo "export ZENREG_AUTH_REGISTRY=127.0.0.1:$AUTH_REGISTRY_PORT"
    echo "export ZENREG_AUTH_REGISTRY_USER=$AUTH_USER"
    echo "export ZENREG_AUTH_REGISTRY_PASSWORD=$AUTH_PASSWORD"
}

# ---------------------------------------------------------------------------
# moto

moto_ok() {
    [[ "$(curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://127.0.0.1:$1/moto-api/data.json")" == 200 ]]
}

start_moto() {
    local pid
    find_moto || die "moto_server not installed"
    if pid=$(live_pid moto moto_server); then
        if same_fingerprint moto "$MOTO_BIN -H 127.0.0.1 -p $MOTO_PORT" && moto_ok "$MOTO_PORT"; then
            log "moto already running (pid $pid, 127.0.0.1:$MOTO_PORT)"
            return 0
        fi
        log "moto running with other settings or unhealthy; restarting"
        stop_unit moto moto_server
    fi
    port_in_use "$MOTO_PORT" && die "127.0.0.1:$MOTO_PORT is already taken by a process this script did not start"
    log "starting moto_server on 127.0.0.1:$MOTO_PORT"
    spawn moto "$MOTO_BIN -H 127.0.0.1 -p $MOTO_PORT" "$MOTO_BIN" -H 127.0.0.1 -p "$MOTO_PORT"
    wait_healthy moto moto_ok "$MOTO_PORT"
    log "moto is up"
}

stop_moto() { stop_unit moto moto_server; }

status_moto() {
    local pid
    if pid=$(live_pid moto moto_server) && moto_ok "$MOTO_PORT"; then
        echo "moto: running (pid $pid, http://127.0.0.1:$MOTO_PORT)"
    else
        echo "moto: stopped"
        return 1
    fi
}

env_moto() { echo "export ZENREG_MOTO_ENDPOINT=http://127.0.0.1:$MOTO_PORT"; }

# ---------------------------------------------------------------------------
# ecr: a stand-in for Amazon ECR's data plane
#
# moto mocks ECR's API but serves no registry: GetAuthorizationToken answers
# with the proxy endpoint https://<account>.dkr.ecr.<region>.amazonaws.com and
# a token that decodes to AWS:<account>-auth-token. A push through zenreg's
# `aws` flavor therefore needs that host to reach a real registry, and the
# registry should accept exactly that login, so a push only succeeds if the
# token really went from moto through zenreg to the daemon. Hence:
#   - a docker-registry on 127.0.0.1:80 behind htpasswd, only user `AWS`;
#   - "127.0.0.1 <host>" in /etc/hosts, marked with "$HOSTS_MARK", added once
#     and removed again by `stop`.
# dockerd needs no flag for this: on every push it resolves the registry host,
# treats an address in 127.0.0.0/8 as insecure, tries https on :443 (refused
# here) and falls back to plain http on :80, which is why the port is 80.
# (Checked with Debian's docker.io 20.10; the name is resolved per push, so a
# daemon started before the hosts line was added works too.)

ecr_ok() { registry_auth_ok "$1" "$ECR_USER" "$ECR_PASSWORD"; }

# Prints the first IPv4 address the host resolves to (through /etc/hosts, as dockerd does).
ecr_address() { getent ahostsv4 "$ECR_HOST" 2>/dev/null | awk 'NR == 1 { print $1 }'; }

# Written in place, never replaced: in a container /etc/hosts is a bind mount
# that `mv` or `sed -i` cannot replace.
hosts_add() {
    local line="127.0.0.1 $1 $HOSTS_MARK"
    grep -qxF -- "$line" "$HOSTS_FILE" && return 0
    hosts_remove # a line of ours for another host, from an earlier ZENREG_ECR_HOST
    log "adding '127.0.0.1 $1' to $HOSTS_FILE"
    if [[ -s $HOSTS_FILE && -n "$(tail -c 1 "$HOSTS_FILE")" ]]; then
        printf '\n' >>"$HOSTS_FILE"
    fi
    printf '%s\n' "$line" >>"$HOSTS_FILE"
}

hosts_remove() {
    local kept
    grep -qF -- "$HOSTS_MARK" "$HOSTS_FILE" 2>/dev/null || return 0
    log "removing the ecr line from $HOSTS_FILE"
    kept=$(grep -vF -- "$HOSTS_MARK" "$HOSTS_FILE" || true)
    printf '%s\n' "$kept" >"$HOSTS_FILE"
}

start_ecr() {
    [[ $ECR_HOST =~ ^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$ ]] ||
        die "ZENREG_ECR_HOST=$ECR_HOST is not <12-digit account>.dkr.ecr.<region>.amazonaws.com"
    hosts_add "$ECR_HOST"
    local address
    address=$(ecr_address)
    [[ $address == 127.0.0.1 ]] ||
        die "$ECR_HOST resolves to '${address:-nothing}', not 127.0.0.1: another line in $HOSTS_FILE names it"
    start_one_registry ecr-registry "$ECR_PORT" ecr_ok
}

stop_ecr() {
    stop_unit ecr-registry docker-registry
    hosts_remove
}

status_ecr() {
    local pid
    if pid=$(live_pid ecr-registry docker-registry) && ecr_ok "$ECR_PORT" && [[ "$(ecr_address)" == 127.0.0.1 ]]; then
        echo "ecr: running (pid $pid, http://$ECR_HOST -> 127.0.0.1:$ECR_PORT)"
    else
        echo "ecr: stopped"
        return 1
    fi
}

env_ecr() {
    echo "export ZENREG_ECR_HOST=$ECR_HOST"
    echo "export ZENREG_ECR_REGISTRY=127.0.0.1:$ECR_PORT"
    echo "export ZENREG_ECR_USER=$ECR_USER"
    echo "export ZENREG_ECR_PASSWORD=$ECR_PASSWORD"
}

# ---------------------------------------------------------------------------
# postgres: two servers of our own for the PostgreSQL store's tests
#
#   postgres      127.0.0.1:$PG_PORT, plain TCP (TLS not offered)
#   postgres-tls  127.0.0.1:$PG_TLS_PORT, TLS only (pg_hba: hostssl, hostnossl reject),
#                 certificate for localhost and 127.0.0.1 signed by a test CA
#
# Each has its own data dir under $STATE_DIR/postgres, owned by the `postgres` user (the server
# refuses to run as root), and its Unix socket there too, so Debian's own cluster (if any) and
# /var/run/postgresql are never touched. Logins over TCP are scram-sha-256 only. The role
# `zenreg` (CREATEDB, so tests can make a database each) owns the database `zenreg`. Passwords
# go to psql on stdin, never on a command line.

readonly PG_ROLE=zenreg
readonly PG_DATABASE=zenreg
readonly PG_PASSWORD=zenreg-pg-test-password
PG_DIR=$STATE_DIR/postgres
PG_CERTS=$PG_DIR/certs

pg_bin() {
    local dir
    dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    [[ -n $dir && -x $dir/postgres ]] || die "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)"
    printf '%s/%s\n' "$dir" "$1"
}

# Runs a command as the postgres user. setpriv execs (no extra process in between), so the
# pid that spawn records is the postmaster's own.
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

pg_unit_port() { if [[ $1 == postgres-tls ]]; then echo "$PG_TLS_PORT"; else echo "$PG_PORT"; fi; }

# A test CA and a server certificate for localhost / 127.0.0.1, made once.
pg_make_certs() {
    [[ -s $PG_CERTS/ca.crt && -s $PG_CERTS/server.crt && -s $PG_CERTS/server.key ]] && return 0
    log "making a test CA and a server certificate in $PG_CERTS"
    mkdir -p "$PG_CERTS"
    (
        cd "$PG_CERTS"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=zenreg test CA" \
            -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.crt 2>/dev/null
        rm -f server.csr server.ext
    ) || die "openssl could not make the test certificates"
    # Clients read the CA; only the server reads its key (it refuses a key others can read).
    chmod 755 "$PG_CERTS"
    chmod 644 "$PG_CERTS/ca.crt" "$PG_CERTS/server.crt"
    chown postgres:postgres "$PG_CERTS/server.key" "$PG_CERTS/server.crt"
    chmod 600 "$PG_CERTS/server.key"
}

pg_init() {
    local unit=$1 data=$PG_DIR/$1/data pwfile
    [[ -s $data/PG_VERSION ]] && return 0
    log "initdb $data"
    mkdir -p "$PG_DIR/$unit"
    chown postgres:postgres "$PG_DIR/$unit"
    chmod 700 "$PG_DIR/$unit"
    # The superuser gets a random password nobody uses (it logs in by peer over the socket);
    # scram-sha-256 for every TCP login.
    pwfile=$PG_DIR/$unit/initdb.pw
    head -c 24 /dev/urandom | base64 | as_postgres tee "$pwfile" >/dev/null
    as_postgres "$(pg_bin initdb)" -D "$data" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >>"$LOG_DIR/$unit.log" 2>&1 ||
        { show_log_tail "$unit"; die "initdb failed for $unit"; }
    rm -f "$pwfile"
}

pg_write_hba() {
    local unit=$1 hba=$PG_DIR/$1/pg_hba.conf
    {
        echo "# written by scripts/services.sh"
        echo "local all postgres peer"
        if [[ $unit == postgres-tls ]]; then
            echo "hostssl   all all 127.0.0.1/32 scram-sha-256"
            echo "hostnossl all all 127.0.0.1/32 reject"
        else
            echo "host all all 127.0.0.1/32 scram-sha-256"
        fi
    } >"$hba.new"
    chown postgres:postgres "$hba.new"
    if cmp -s "$hba.new" "$hba"; then rm -f "$hba.new"; else mv "$hba.new" "$hba"; fi
}

pg_args() {
    local unit=$1 port
    port=$(pg_unit_port "$unit")
    local args=(
        "$(pg_bin postgres)" -D "$PG_DIR/$unit/data"
        -c listen_addresses=127.0.0.1 -c port="$port"
        -c unix_socket_directories="$PG_DIR/$unit"
        -c hba_file="$PG_DIR/$unit/pg_hba.conf"
        -c password_encryption=scram-sha-256
        # Small: the machine is shared; tests open a few dozen connections at most.
        -c shared_buffers=16MB -c max_connections=60
        -c log_min_messages=warning -c log_connections=off
    )
    if [[ $unit == postgres-tls ]]; then
        args+=(-c ssl=on -c ssl_cert_file="$PG_CERTS/server.crt" -c ssl_key_file="$PG_CERTS/server.key")
    else
        args+=(-c ssl=off)
    fi
    printf '%s\n' "${args[@]}"
}

pg_ready() { "$(pg_bin pg_isready)" -q -h 127.0.0.1 -p "$1" -t 2; }

# Creates (or resets the password of) the test role and its database; safe to repeat.
pg_provision() {
    local unit=$1 port
    port=$(pg_unit_port "$unit")
    as_postgres "$(pg_bin psql)" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR/$unit" -p "$port" -U postgres -d postgres \
        >>"$LOG_DIR/$unit.log" 2>&1 <<EOF || { show_log_tail "$unit"; die "could not create the test role in $unit"; }
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN CREATEDB;
    END IF;
END \$\$;
ALTER ROLE $PG_ROLE PASSWORD '$PG_PASSWORD';
SELECT 'CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DATABASE') \gexec
EOF
}

start_one_postgres() {
    local unit=$1 port pid fp args
    port=$(pg_unit_port "$unit")
    pg_init "$unit"
    pg_write_hba "$unit"
    mapfile -t args < <(pg_args "$unit")
    fp="${args[*]} $(cat "$PG_DIR/$unit/pg_hba.conf" "$PG_CERTS/server.crt" | sha256sum)"
    if pid=$(live_pid "$unit" "$PG_DIR/$unit/data"); then
        if same_fingerprint "$unit" "$fp" && pg_ready "$port"; then
            log "$unit already running (pid $pid, 127.0.0.1:$port)"
            pg_provision "$unit"
            return 0
        fi
        log "$unit configuration changed or unhealthy; restarting"
        stop_one_postgres "$unit"
    fi
    port_in_use "$port" && die "127.0.0.1:$port is already taken by a process this script did not start"
    # A postmaster killed hard leaves its pid file; with no live process behind it, it is stale.
    rm -f "$PG_DIR/$unit/data/postmaster.pid"
    log "starting $unit on 127.0.0.1:$port"
    spawn "$unit" "$fp" setpriv --reuid=postgres --regid=postgres --init-groups -- "${args[@]}"
    wait_healthy "$unit" pg_ready "$port"
    pg_provision "$unit"
    log "$unit is up"
}

stop_one_postgres() {
    local unit=$1 pid deadline
    # SIGINT is PostgreSQL's fast shutdown: open sessions are ended and rolled back. (SIGTERM,
    # the smart one, would wait for every client to leave.) stop_unit then reaps it, or kills a
    # server that did not stop.
    if pid=$(live_pid "$unit" "$PG_DIR/$unit/data"); then
        log "stopping $unit (pid $pid, fast shutdown)"
        kill -INT "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 30))
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    fi
    stop_unit "$unit" "$PG_DIR/$unit/data"
}

start_postgres() {
    [[ $PG_PORT != "$PG_TLS_PORT" ]] || die "PostgreSQL ports must differ"
    id postgres >/dev/null 2>&1 || die "no postgres user (the postgresql package creates it)"
    mkdir -p "$PG_DIR"
    chmod 755 "$PG_DIR"
    pg_make_certs
    start_one_postgres postgres
    start_one_postgres postgres-tls
}

stop_postgres() {
    stop_one_postgres postgres-tls
    stop_one_postgres postgres
}

status_postgres() {
    local rc=0 unit port pid
    for unit in postgres postgres-tls; do
        port=$(pg_unit_port "$unit")
        if pid=$(live_pid "$unit" "$PG_DIR/$unit/data") && pg_ready "$port"; then
            echo "$unit: running (pid $pid, 127.0.0.1:$port)"
        else
            echo "$unit: stopped"
            rc=1
        fi
    done
    return "$rc"
}

# URLs without the password; the password in its own variables (PGPASSWORD is what libpq
# tools and zenreg read when a URL has none).
env_postgres() {
    printf 'export ZENREG_PG_URL=%q\n' "postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DATABASE?sslmode=disable"
    printf 'export ZENREG_PG_TLS_URL=%q\n' \
        "postgresql://$PG_ROLE@127.0.0.1:$PG_TLS_PORT/$PG_DATABASE?sslmode=verify-full&sslrootcert=$PG_CERTS/ca.crt"
    printf 'export ZENREG_PG_CA=%q\n' "$PG_CERTS/ca.crt"
    printf 'export ZENREG_PG_PASSWORD=%q\n' "$PG_PASSWORD"
}

# ---------------------------------------------------------------------------
# podman: the Docker Engine API as Podman serves it
#
# `podman system service` answers the Docker-compatible API (and libpod's) on a
# unix socket. It runs with storage, run root and registries.conf of its own in
# the state dir, so it never touches /var/lib/containers or a host's
# /etc/containers/registries.conf. Podman, unlike dockerd, treats no registry as
# plain HTTP unless registries.conf says `insecure = true`: only the open
# registry is marked so, which lets the tests see both answers.

PODMAN_DIR=$STATE_DIR/podman

podman_socket() { printf '%s/podman.sock\n' "$PODMAN_DIR"; }

podman_ping() {
    [[ "$(curl -fsS --max-time 3 --unix-socket "$1" http://localhost/_ping)" == OK ]]
}

write_podman_config() {
    mkdir -p "$PODMAN_DIR/storage" "$PODMAN_DIR/run" "$PODMAN_DIR/tmp"
    cat >"$PODMAN_DIR/registries.conf.new" <<EOF
# Written by scripts/services.sh: the only registry Podman may reach over plain HTTP.
unqualified-search-registries = []

[[registry]]
location = "127.0.0.1:$REGISTRY_PORT"
insecure = true
EOF
    if cmp -s "$PODMAN_DIR/registries.conf.new" "$PODMAN_DIR/registries.conf"; then
        rm -f "$PODMAN_DIR/registries.conf.new"
    else
        mv "$PODMAN_DIR/registries.conf.new" "$PODMAN_DIR/registries.conf"
    fi
}

# The service's command line (its fingerprint too).
podman_args() {
    printf '%s\n' podman --root "$PODMAN_DIR/storage" --runroot "$PODMAN_DIR/run" \
        --tmpdir "$PODMAN_DIR/tmp" system service --time=0 "unix://$(podman_socket)"
}

start_podman() {
    local pid args fp
    write_podman_config
    mapfile -t args < <(podman_args)
    fp="${args[*]} $(sha256sum <"$PODMAN_DIR/registries.conf")"
    if pid=$(live_pid podman "system service"); then
        if same_fingerprint podman "$fp" && podman_ping "$(podman_socket)"; then
            log "podman already running (pid $pid, unix://$(podman_socket))"
            return 0
        fi
        log "podman running with other settings or unhealthy; restarting"
        stop_podman
    fi
    rm -f "$(podman_socket)"
    log "starting podman system service (unix://$(podman_socket))"
    CONTAINERS_REGISTRIES_CONF=$PODMAN_DIR/registries.conf spawn podman "$fp" "${args[@]}"
    wait_healthy podman podman_ping "$(podman_socket)"
    log "podman is up"
}

stop_podman() {
    stop_unit podman "system service"
    rm -f "$(podman_socket)"
}

status_podman() {
    local pid
    if pid=$(live_pid podman "system service") && podman_ping "$(podman_socket)"; then
        echo "podman: running (pid $pid, unix://$(podman_socket))"
    else
        echo "podman: stopped"
        return 1
    fi
}

# The tests build their images through the API socket (`docker -H $ZENREG_PODMAN_HOST build`).
env_podman() {
    printf 'export ZENREG_PODMAN_HOST=%q\n' "unix://$(podman_socket)"
}

# ---------------------------------------------------------------------------

usage() {

    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || usage
    shift
    local services=("$@") svc i
    ((${#services[@]})) || services=("${ALL_SERVICES[@]}")
    for svc in "${services[@]}"; do
        [[ " ${ALL_SERVICES[*]} " == *" $svc "* ]] || die "unknown service '$svc' (known: ${ALL_SERVICES[*]})"
    done

    case $cmd in
        start)
            ((EUID == 0)) || die "start needs root (apt-get, dockerd)"
            mkdir -p "$PID_DIR" "$LOG_DIR"
            install_for "${services[@]}"
            for svc in "${services[@]}"; do "start_$svc"; done
            for svc in "${services[@]}"; do "env_$svc"; done
            ;;
        stop)
            # Reverse order: dependants first, the engine last.
            for ((i = ${#services[@]} - 1; i >= 0; i--)); do "stop_${services[i]}"; done
            wait_reaped
            ;;
        status)
            local rc=0
            for svc in "${services[@]}"; do "status_$svc" || rc=3; done
            return "$rc"
            ;;
        env)
            for svc in "${services[@]}"; do "env_$svc"; done
            ;;
        clean)
            for svc in podman postgres ecr moto registry docker; do "stop_$svc"; done
            wait_reaped
            if [[ "$(findmnt -rn -o TARGET)" == *"$STATE_DIR/"* ]]; then
                die "mounts remain under $STATE_DIR; not deleting it"
            fi
            log "removing $STATE_DIR"
            rm -rf -- "$STATE_DIR"
            ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
