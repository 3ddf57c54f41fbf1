#!/usr/bin/env bash
# Real Kafka (KRaft, one node) and MinIO on 127.0.0.1, without Docker.
#
#   deploy/local/services.sh install [kafka|minio|all]   fetch/build into the cache (idempotent)
#   deploy/local/services.sh start   [kafka|minio|all]   install if needed, start, wait healthy
#   deploy/local/services.sh stop    [--kill] [kafka|minio|all]   SIGTERM, wait, SIGKILL
#   deploy/local/services.sh kill    [kafka|minio|all]   SIGKILL at once (outage tests)
#   deploy/local/services.sh status  [kafka|minio|all]   exit 0 only if all are up and healthy
#   deploy/local/services.sh env                         `export RUNSTREAM_...=` lines
#   deploy/local/services.sh clean   [kafka|minio|all]   stop and delete the state (data, logs)
#
# Kafka comes from Maven Central (kafka/pom.xml), MinIO from the Go module proxy; both are
# cached outside the repository, in $RUNSTREAM_LOCAL_CACHE (default ~/.cache/runstream-local).
# Data, pid files, logs and generated configs live in $RUNSTREAM_LOCAL_STATE
# (default deploy/local/.run). See deploy/local/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)

KAFKA_VERSION=${RUNSTREAM_LOCAL_KAFKA_VERSION:-4.4.0}
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=${RUNSTREAM_LOCAL_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}

CACHE_DIR=${RUNSTREAM_LOCAL_CACHE:-$HOME/.cache/runstream-local}
STATE_DIR=${RUNSTREAM_LOCAL_STATE:-$SCRIPT_DIR/.run}

HOST=127.0.0.1
KAFKA_PORT=${RUNSTREAM_LOCAL_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${RUNSTREAM_LOCAL_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_JAVA_OPTS=${RUNSTREAM_LOCAL_KAFKA_JAVA_OPTS:--Xmx512m}
MINIO_PORT=${RUNSTREAM_LOCAL_MINIO_PORT:-19000}
MINIO_CONSOLE_PORT=${RUNSTREAM_LOCAL_MINIO_CONSOLE_PORT:-19001}
S3_ACCESS_KEY=${RUNSTREAM_LOCAL_S3_ACCESS_KEY:-runstream}
S3_SECRET_KEY=${RUNSTREAM_LOCAL_S3_SECRET_KEY:-runstream-secret}
S3_BUCKET=${RUNSTREAM_LOCAL_S3_BUCKET:-runstream-artifacts}
START_TIMEOUT=${RUNSTREAM_LOCAL_START_TIMEOUT:-60}
STOP_TIMEOUT=${RUNSTREAM_LOCAL_STOP_TIMEOUT:-30}

KAFKA_LIB="$CACHE_DIR/kafka/$KAFKA_VERSION/lib"
MINIO_BIN="$CACHE_DIR/minio/$MINIO_VERSION/minio"
GO_DIR="$CACHE_DIR/go"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# A Python for the Kafka health check: kafka-python if it has it, else a stdlib probe.
python_bin() {
    if [[ -n ${RUNSTREAM_LOCAL_PYTHON:-} ]]; then
        printf '%s\n' "$RUNSTREAM_LOCAL_PYTHON"
    elif [[ -x $REPO_ROOT/.venv/bin/python ]]; then
        printf '%s\n' "$REPO_ROOT/.venv/bin/python"
    elif command -v python3 >/dev/null 2>&1; then
        command -v python3
    else
        die "no python3 found for the Kafka health check (set RUNSTREAM_LOCAL_PYTHON)"
    fi
}

# Serialize installs (cache, fd 8) and start/stop (state, fd 9) between concurrent callers.
lock_cache() {
    mkdir -p -- "$CACHE_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 8>"$CACHE_DIR/.install.lock"
        flock 8
    fi
}

lock_state() {
    mkdir -p -- "$STATE_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$STATE_DIR/.lock"
        flock 9
    fi
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Fail clearly when a port is held by something else; a process killed a moment ago may
# still be releasing it, so give it a few seconds.
need_free_port() {
    local port=$1 hint=$2 deadline=$((SECONDS + 10))
    while port_open "$port"; do
        if ((SECONDS >= deadline)); then
            die "$HOST:$port is taken by another process (set $hint)"
        fi
        sleep 0.3
    done
}

pid_file() { printf '%s/%s/%s.pid\n' "$STATE_DIR" "$1" "$1"; }

# PID of the running service (only if the process is alive and is ours), else empty.
running_pid() {
    local file pid args
    file=$(pid_file "$1")
    [[ -f $file ]] || return 0
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    args=$(ps -ww -o args= -p "$pid" 2>/dev/null || true)
    case $1 in
        kafka) [[ $args == *java*kafka.Kafka* ]] || return 0 ;;
        minio) [[ $args == *minio*server* ]] || return 0 ;;
    esac
    printf '%s\n' "$pid"
}

# ---------------------------------------------------------------------------- install

install_kafka() {
    if [[ -f $KAFKA_LIB/.complete ]]; then
        return 0
    fi
    lock_cache
    [[ -f $KAFKA_LIB/.complete ]] && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn (Maven 3) is needed to fetch Kafka $KAFKA_VERSION"
    command -v java >/dev/null 2>&1 || die "java (17+) is needed to run Kafka"
    log "fetching Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIB"
    local parent tmp start=$SECONDS
    parent=$(dirname -- "$KAFKA_LIB")
    mkdir -p -- "$parent"
    tmp=$(mktemp -d "$parent/.lib.XXXXXX")
    if ! mvn -B -q -f "$SCRIPT_DIR/kafka/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$tmp" \
        >"$tmp.log" 2>&1; then
        cat -- "$tmp.log" >&2
        rm -rf -- "$tmp" "$tmp.log"
        rmdir -- "$parent" 2>/dev/null || true
        die "mvn could not fetch Kafka $KAFKA_VERSION (see the output above)"
    fi
    rm -f -- "$tmp.log"
    touch "$tmp/.complete"
    rm -rf -- "$KAFKA_LIB"
    mv -- "$tmp" "$KAFKA_LIB"
    log "Kafka $KAFKA_VERSION installed ($(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars, $((SECONDS - start)) s)"
}

install_minio() {
    if [[ -x $MINIO_BIN ]]; then
        return 0
    fi
    lock_cache
    [[ -x $MINIO_BIN ]] && return 0
    command -v go >/dev/null 2>&1 || die "go (1.24+) is needed to build MinIO from its Go module"
    log "building MinIO $MINIO_VERSION with $(go version | cut -d' ' -f3) (minutes the first time)"
    local parent tmp start=$SECONDS
    parent=$(dirname -- "$MINIO_BIN")
    mkdir -p -- "$parent" "$GO_DIR"
    tmp=$(mktemp -d "$parent/.bin.XXXXXX")
    # Everything Go downloads or compiles stays in the cache, so a second build is quick;
    # -modcacherw lets `rm -rf` remove the module cache.
    if ! GOBIN="$tmp" GOPATH="$GO_DIR" GOMODCACHE="$GO_DIR/pkg/mod" GOCACHE="$GO_DIR/build" \
        GOFLAGS="-mod=mod -modcacherw" CGO_ENABLED=0 \
        go install "$MINIO_MODULE@$MINIO_VERSION" >&2; then
        rm -rf -- "$tmp"
        die "go install $MINIO_MODULE@$MINIO_VERSION failed (see the output above)"
    fi
    mv -- "$tmp/minio" "$MINIO_BIN"
    rm -rf -- "$tmp"
    log "MinIO installed: $MINIO_BIN ($((SECONDS - start)) s)"
}

# ---------------------------------------------------------------------------- health

kafka_healthy() {
    port_open "$KAFKA_PORT" || return 1
    local -a guard=()
    if command -v timeout >/dev/null 2>&1; then guard=(timeout 10); fi
    "${guard[@]}" "$PYTHON" - "$HOST:$KAFKA_PORT" >/dev/null 2>&1 <<'PY'
import sys

bootstrap = sys.argv[1]
try:
    from kafka import KafkaAdminClient
except ImportError:
    KafkaAdminClient = None

if KafkaAdminClient is not None:
    # A metadata round trip: the broker is registered and answers requests.
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=3000, bootstrap_timeout_ms=3000
    )
    try:
        brokers = admin.describe_cluster().get("brokers") or []
        sys.exit(0 if any(not b.get("is_fenced") for b in brokers) else 1)
    finally:
        admin.close()

# No kafka-python: an ApiVersions (v0) round trip over a plain socket.
import socket
import struct

client_id = b"runstream-health"
body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
host, port = bootstrap.rsplit(":", 1)
with socket.create_connection((host, int(port)), timeout=3) as sock:
    sock.sendall(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
    reply = sock.recv(size, socket.MSG_WAITALL)
correlation, error = struct.unpack(">ih", reply[:6])
sys.exit(0 if correlation == 7 and error == 0 else 1)
PY
}

minio_healthy() {
    local url="http://$HOST:$MINIO_PORT/minio/health/live"
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 3 "$url" 2>/dev/null
    else
        "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' \
            "$url" >/dev/null 2>&1
    fi
}

healthy() { "${1}_healthy"; }

log_file() {
    case $1 in
        kafka) printf '%s/kafka/logs/stdout.log\n' "$STATE_DIR" ;;
        minio) printf '%s/minio/minio.log\n' "$STATE_DIR" ;;
    esac
}

show_log_tail() {
    local file
    file=$(log_file "$1")
    if [[ -s $file ]]; then
        log "last lines of $file:"
        tail -n 20 -- "$file" >&2
    fi
    if [[ $1 == kafka && -s $STATE_DIR/kafka/logs/server.log ]]; then
        log "last lines of $STATE_DIR/kafka/logs/server.log:"
        tail -n 20 -- "$STATE_DIR/kafka/logs/server.log" >&2
    fi
}

wait_healthy() {
    local svc=$1 pid=$2 deadline=$((SECONDS + START_TIMEOUT))
    while ! healthy "$svc"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            show_log_tail "$svc"
            rm -f -- "$(pid_file "$svc")"
            die "$svc exited during start-up (pid $pid); logs in $STATE_DIR/$svc"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail "$svc"
            die "$svc (pid $pid) not healthy after ${START_TIMEOUT}s; it is left running, logs in $STATE_DIR/$svc"
        fi
        sleep 0.3
    done
}

# Launch a server detached from this shell's session. $! is the server's own PID: the
# background child execs setsid, which execs the server (it forks only when it is a process
# group leader, and a background child of a non-interactive shell is not). The lock fds are
# closed so that a server never holds our locks.
launch() {
    local out=$1
    shift
    if command -v setsid >/dev/null 2>&1; then
        setsid "$@" </dev/null >>"$out" 2>&1 8>&- 9>&- &
    else
        nohup "$@" </dev/null >>"$out" 2>&1 8>&- 9>&- &
    fi
    LAUNCHED_PID=$!
}

# ---------------------------------------------------------------------------- start

write_kafka_config() {
    local dir=$1
    cat >"$dir/server.properties" <<EOF
# Generated by deploy/local/services.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2000
auto.create.topics.enable=false
EOF
}

# The java command line for Kafka's classes, into the array KAFKA_JAVA.
kafka_java_cmd() {
    local dir=$1
    local -a opts
    read -r -a opts <<<"$KAFKA_JAVA_OPTS"
    KAFKA_JAVA=(java "${opts[@]}" -Djava.awt.headless=true
        -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties"
        -Dkafka.logs.dir="$dir/logs" -cp "$KAFKA_LIB/*")
}

start_kafka() {
    local dir="$STATE_DIR/kafka" pid
    pid=$(running_pid kafka)
    if [[ -n $pid ]]; then
        wait_healthy kafka "$pid"
        log "kafka already running (pid $pid) on $HOST:$KAFKA_PORT"
        return 0
    fi
    install_kafka
    need_free_port "$KAFKA_PORT" RUNSTREAM_LOCAL_KAFKA_PORT
    need_free_port "$KAFKA_CONTROLLER_PORT" RUNSTREAM_LOCAL_KAFKA_CONTROLLER_PORT
    mkdir -p -- "$dir/logs"
    write_kafka_config "$dir"
    local -a KAFKA_JAVA
    kafka_java_cmd "$dir"
    if [[ ! -f $dir/data/meta.properties ]]; then
        local cluster_id
        cluster_id=$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>>"$dir/logs/stdout.log") ||
            die "java could not run Kafka's StorageTool; see $dir/logs/stdout.log"
        log "formatting fresh Kafka storage in $dir/data (cluster $cluster_id)"
        "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
            -c "$dir/server.properties" >>"$dir/logs/stdout.log" 2>&1 ||
            die "kafka storage format failed; see $dir/logs/stdout.log"
    fi
    local start=$SECONDS
    launch "$dir/logs/stdout.log" "${KAFKA_JAVA[@]}" kafka.Kafka "$dir/server.properties"
    printf '%s\n' "$LAUNCHED_PID" >"$(pid_file kafka)"
    wait_healthy kafka "$LAUNCHED_PID"
    log "kafka $KAFKA_VERSION up on $HOST:$KAFKA_PORT (pid $LAUNCHED_PID, $((SECONDS - start)) s)"
}

start_minio() {
    local dir="$STATE_DIR/minio" pid
    pid=$(running_pid minio)
    if [[ -n $pid ]]; then
        wait_healthy minio "$pid"
        log "minio already running (pid $pid) on http://$HOST:$MINIO_PORT"
        return 0
    fi
    install_minio
    need_free_port "$MINIO_PORT" RUNSTREAM_LOCAL_MINIO_PORT
    need_free_port "$MINIO_CONSOLE_PORT" RUNSTREAM_LOCAL_MINIO_CONSOLE_PORT
    mkdir -p -- "$dir/data"
    local start=$SECONDS
    launch "$dir/minio.log" env MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" \
        MINIO_BROWSER=off MINIO_UPDATE=off \
        "$MINIO_BIN" server "$dir/data" --quiet \
        --address "$HOST:$MINIO_PORT" --console-address "$HOST:$MINIO_CONSOLE_PORT"
    printf '%s\n' "$LAUNCHED_PID" >"$(pid_file minio)"
    wait_healthy minio "$LAUNCHED_PID"
    log "minio up on http://$HOST:$MINIO_PORT (pid $LAUNCHED_PID, $((SECONDS - start)) s)"
}

# ---------------------------------------------------------------------------- stop

stop_service() {
    local svc=$1 signal=$2 pid deadline
    pid=$(running_pid "$svc")
    if [[ -z $pid ]]; then
        rm -f -- "$(pid_file "$svc")"
        log "$svc is not running"
        return 0
    fi
    if [[ $signal == KILL ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    else
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_TIMEOUT))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$svc (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Gone for good (all threads, sockets closed) before we return, so that a restart finds
    # its ports free; bounded in case nothing reaps the orphan.
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    rm -f -- "$(pid_file "$svc")"
    log "$svc stopped (pid $pid, SIG$signal)"
}

# ---------------------------------------------------------------------------- status / env

status_service() {
    local svc=$1 pid where installed
    installed=no
    case $svc in
        kafka)
            where="$HOST:$KAFKA_PORT"
            if [[ -f $KAFKA_LIB/.complete ]]; then installed=yes; fi
            ;;
        minio)
            where="http://$HOST:$MINIO_PORT"
            if [[ -x $MINIO_BIN ]]; then installed=yes; fi
            ;;
    esac
    pid=$(running_pid "$svc")
    if [[ -z $pid ]]; then
        printf '%-6s stopped   %-24s installed=%s\n' "$svc" "$where" "$installed"
        return 1
    elif healthy "$svc"; then
        printf '%-6s running   %-24s pid=%s healthy\n' "$svc" "$where" "$pid"
    else
        printf '%-6s running   %-24s pid=%s NOT healthy (yet)\n' "$svc" "$where" "$pid"
        return 1
    fi
}

print_env() {
    printf 'export RUNSTREAM_KAFKA_BOOTSTRAP=%q\n' "$HOST:$KAFKA_PORT"
    printf 'export RUNSTREAM_S3_ENDPOINT=%q\n' "http://$HOST:$MINIO_PORT"
    printf 'export RUNSTREAM_S3_ACCESS_KEY=%q\n' "$S3_ACCESS_KEY"
    printf 'export RUNSTREAM_S3_SECRET_KEY=%q\n' "$S3_SECRET_KEY"
    printf 'export RUNSTREAM_S3_BUCKET=%q\n' "$S3_BUCKET"
}

# ---------------------------------------------------------------------------- main

main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || usage
    shift
    local signal=TERM
    if [[ $cmd == stop && ${1:-} == --kill ]]; then
        signal=KILL
        shift
    elif [[ $cmd == kill ]]; then
        cmd=stop
        signal=KILL
    fi
    (($# <= 1)) || usage
    case $cmd in
        install | start | stop | status | clean) ;;
        env)
            (($# == 0)) || usage
            print_env
            return 0
            ;;
        *) usage ;;
    esac
    local -a svcs
    case ${1:-all} in
        all) svcs=(kafka minio) ;;
        kafka | minio) svcs=("$1") ;;
        *) die "unknown service '$1' (kafka, minio or all)" ;;
    esac

    if [[ $cmd == start || $cmd == status ]]; then
        PYTHON=$(python_bin)
    fi

    local svc rc=0
    case $cmd in
        install) for svc in "${svcs[@]}"; do "install_$svc"; done ;;
        start)
            lock_state
            for svc in "${svcs[@]}"; do "start_$svc"; done
            ;;
        stop)
            lock_state
            for svc in "${svcs[@]}"; do stop_service "$svc" "$signal"; done
            ;;
        status) for svc in "${svcs[@]}"; do status_service "$svc" || rc=3; done ;;
        clean)
            lock_state
            for svc in "${svcs[@]}"; do
                stop_service "$svc" TERM
                rm -rf -- "${STATE_DIR:?}/$svc"
                log "$svc state removed"
            done
            ;;
    esac
    return "$rc"
}

main "$@"
