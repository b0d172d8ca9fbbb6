#!/usr/bin/env bash
# Local real services for sluice's demo, tests and benchmarks — no Docker.
#
#   scripts/services.sh install            fetch what is missing (Kafka jars, ClickHouse, ZooKeeper, kcat)
#   scripts/services.sh start   [kafka|zookeeper|clickhouse]   install if needed, start, wait until ready
#   scripts/services.sh stop    [kafka|zookeeper|clickhouse]
#   scripts/services.sh restart [kafka|zookeeper|clickhouse]
#   scripts/services.sh kill    [kafka|zookeeper|clickhouse]   SIGKILL: a crash, for fault tests
#   scripts/services.sh status
#   scripts/services.sh start|stop|kill mirrormaker   MirrorMaker 2 (LOCAL_MM2_* below; never part of `all`)
#   scripts/services.sh start|stop|restart|kill registry   Apicurio Registry (Confluent API), only on demand
#
# Contract: idempotent (start on a running service is a no-op, stop on a
# stopped one too); everything lives under .local/ (git-ignored), never in
# /var/lib; every service listens on 127.0.0.1 only. Kafka 4.x runs as one
# combined broker+controller in KRaft mode from the jars Maven Central
# publishes; ClickHouse is Debian's clickhouse-server package; ZooKeeper is
# Debian's zookeeper package, there only so that ClickHouse can run
# ReplicatedMergeTree (the engine that deduplicates re-inserted blocks, which
# is how the tests prove exactly-once). ClickHouse 18.16 reads its
# <zookeeper> section once, at start, so ZooKeeper comes up first:
# `start clickhouse` starts ZooKeeper before it and `stop clickhouse` stops
# it after (no ZooKeeper is left behind without its ClickHouse); `start|stop
# zookeeper` act on ZooKeeper alone. ClickHouse reconnects by itself, but
# slowly: 18.16 counts any lost connection as an expired session, and its
# replicated tables take a new one only at their next check (every 60 s,
# zookeeper_session_expiration_check_period); until then inserts into them
# fail with code 225 (51-56 s after a ZooKeeper restart, measured here).
# `kill` is a crash (SIGKILL, nothing flushed, no answer sent): a graceful
# `stop` of ClickHouse 18.16 keeps serving the HTTP keep-alive connections
# already open until they go idle, so a busy client drains its work into a
# stopping server and no insert is ever cut off. `kill clickhouse` leaves
# ZooKeeper running, as a crashed server would. A port
# held by some other process, or a failed download, ends with one clear message.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A second, private pair of services (used by the fault-injection tests, so
# stopping "ClickHouse" there never disturbs anything else) is the same
# script with another LOCAL_SERVICES_DIR and other ports.
STATE="${LOCAL_SERVICES_DIR:-$ROOT/.local}"
KAFKA_DIR="$STATE/kafka"
KAFKA_LIBS="$ROOT/.local/kafka-libs"
CH_DIR="$STATE/clickhouse"
KAFKA_PORT="${LOCAL_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${LOCAL_KAFKA_CONTROLLER_PORT:-9093}"
CH_HTTP_PORT="${LOCAL_CH_HTTP_PORT:-8123}"
CH_TCP_PORT="${LOCAL_CH_TCP_PORT:-9000}"
ZK_DIR="$STATE/zookeeper"
ZK_PORT="${LOCAL_ZK_PORT:-2181}"
# ZooKeeper holds only the replication metadata of test tables: a small heap
# and the serial collector (fewer threads on machines with 2 shared cores).
ZK_HEAP="${LOCAL_ZK_HEAP:--Xms32m -Xmx128m}"
ZK_JARS=/usr/share/java
# Optional SASL_SSL listener (PLAIN, user "sluice" / "sluice-secret", a
# throwaway CA generated with openssl) for the TLS/SASL tests.
KAFKA_SASL_SSL_PORT="${LOCAL_KAFKA_SASL_SSL_PORT:-}"
# Optional https port for ClickHouse (same kind of throwaway CA, under .../clickhouse/tls).
CH_HTTPS_PORT="${LOCAL_CH_HTTPS_PORT:-}"
KAFKA_HEAP="${LOCAL_KAFKA_HEAP:--Xms256m -Xmx768m}"
# MirrorMaker 2 (dedicated mode) replicating cluster "P" (LOCAL_MM2_SOURCE,
# host:port) into cluster "B" (LOCAL_MM2_TARGET) for the failover test:
# topics matching LOCAL_MM2_TOPICS, every group's offsets as checkpoints and
# synced offsets; LOCAL_MM2_POLICY is default (B names P's "t" "P.t") or
# identity (same name). Its state and log live in $STATE/mirrormaker.
MM2_LIBS="$ROOT/.local/mirrormaker-libs"
MM2_DIR="$STATE/mirrormaker"
MM2_HEAP="${LOCAL_MM2_HEAP:--Xms64m -Xmx256m}"

# Apicurio Registry 3.0.9 (a Quarkus app on Java 17) for the Schema Registry
# formats: its Confluent-compatible API is
# http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7. Not part of `start` (all):
# the tests that use it start it (`start registry`); `install` fetches it.
# Its storage is an H2 file under the state dir (registry/data), not the
# default in-memory one, so that a restart keeps the schemas as a real
# registry does (the outage test stops and starts it mid-stream).
REGISTRY_VERSION=3.0.9
REGISTRY_APP="$ROOT/.local/apicurio-registry-$REGISTRY_VERSION"
REGISTRY_DIR="$STATE/registry"
REGISTRY_PORT="${LOCAL_REGISTRY_PORT:-8081}"
REGISTRY_HEAP="${LOCAL_REGISTRY_HEAP:--Xms64m -Xmx384m}"

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root (or sudo) to run: $*"; fi; }

install_clickhouse() {
  local missing=()
  command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
  command -v clickhouse-client >/dev/null || missing+=(clickhouse-client)
  command -v kcat >/dev/null || missing+=(kcat)
  command -v openssl >/dev/null || missing+=(openssl) # the TLS test listeners' throwaway CA
  [ -f "$ZK_JARS/zookeeper.jar" ] || missing+=(zookeeper) # for ReplicatedMergeTree; java comes with it
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
    || die "apt-get update failed: cannot reach Debian's package archive"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
  # The package enables a system service on /var/lib; we run our own copy.
  as_root systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
}

install_kafka() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka broker jars"
  command -v java >/dev/null || die "Java 17+ is needed to run the Kafka broker"
  say "fetching the Kafka broker jars from Maven Central"
  rm -rf "$KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  if ! mvn -q -B -f "$ROOT/scripts/kafka-pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$KAFKA_LIBS" >"$ROOT/.local/kafka-mvn.log" 2>&1; then
    tail -20 "$ROOT/.local/kafka-mvn.log" >&2
    die "downloading the Kafka jars failed (see .local/kafka-mvn.log)"
  fi
  touch "$KAFKA_LIBS/.complete"
}

install_registry() {
  [ -f "$REGISTRY_APP/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Apicurio Registry"
  command -v java >/dev/null || die "Java 17+ is needed to run Apicurio Registry"
  say "fetching Apicurio Registry $REGISTRY_VERSION from Maven Central"
  mkdir -p "$ROOT/.local"
  # maven-dependency-plugin 2.8: newer versions fail on a parent POM Maven Central does not serve.
  if ! mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:2.8:get \
        -Dartifact="io.apicurio:apicurio-registry-app:$REGISTRY_VERSION:tar.gz:all" -Dtransitive=false \
        >"$ROOT/.local/registry-mvn.log" 2>&1; then
    tail -20 "$ROOT/.local/registry-mvn.log" >&2
    die "downloading Apicurio Registry failed (see .local/registry-mvn.log)"
  fi
  # The local Maven repository: the default one, or where settings.xml moved it.
  local tgz="$HOME/.m2/repository/io/apicurio/apicurio-registry-app/$REGISTRY_VERSION/apicurio-registry-app-$REGISTRY_VERSION-all.tar.gz"
  if [ ! -f "$tgz" ]; then
    local repo; repo=$(mvn -q -B help:evaluate -Dexpression=settings.localRepository -DforceStdout 2>/dev/null || true)
    tgz="$repo/io/apicurio/apicurio-registry-app/$REGISTRY_VERSION/apicurio-registry-app-$REGISTRY_VERSION-all.tar.gz"
  fi
  [ -f "$tgz" ] || die "Apicurio Registry archive not found in the Maven repository ($tgz)"
  rm -rf "$REGISTRY_APP"; mkdir -p "$REGISTRY_APP"
  tar -xzf "$tgz" -C "$REGISTRY_APP" || die "unpacking $tgz failed"
  touch "$REGISTRY_APP/.complete"
}

registry_ready() { curl -sf --max-time 2 "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/schemas/types" >/dev/null 2>&1; }

start_registry() {
  if pid_alive "$REGISTRY_DIR/registry.pid"; then say "registry already running (pid $(cat "$REGISTRY_DIR/registry.pid"))"; return 0; fi
  port_open "$REGISTRY_PORT" && die "port $REGISTRY_PORT (registry) is taken by another process; stop it first (ss -ltnp 'sport = :$REGISTRY_PORT') or set LOCAL_REGISTRY_PORT"
  install_registry
  mkdir -p "$REGISTRY_DIR/data"
  # Serial GC and one worker pool thread per core: it shares 2 cores with Kafka and ClickHouse.
  # shellcheck disable=SC2086
  nohup java $REGISTRY_HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 -Dapicurio.datasource.url="jdbc:h2:file:$REGISTRY_DIR/data/registry" \
    -Dquarkus.log.level=WARN -Dquarkus.log.console.level=WARN \
    -jar "$REGISTRY_APP/apicurio-registry-app-$REGISTRY_VERSION-runner.jar" \
    >"$REGISTRY_DIR/registry.log" 2>&1 </dev/null &
  echo $! >"$REGISTRY_DIR/registry.pid"
  for _ in $(seq 1 240); do
    if registry_ready; then say "registry ready on http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"; return 0; fi
    pid_alive "$REGISTRY_DIR/registry.pid" || { tail -30 "$REGISTRY_DIR/registry.log" >&2; die "registry exited during start-up (log: $REGISTRY_DIR/registry.log)"; }
    sleep 0.5
  done
  die "registry did not answer on 127.0.0.1:$REGISTRY_PORT within 120 s (log: $REGISTRY_DIR/registry.log)"
}

make_tls() { # DIR: a throwaway CA and a server certificate for 127.0.0.1 / localhost, once
  local dir="$1"
  [ -f "$dir/server.pem" ] && return 0
  command -v openssl >/dev/null || die "openssl is needed for the TLS test listeners"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=sluice test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 || die "openssl: CA generation failed"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/server.key.rsa" -out "$dir/server.csr" >/dev/null 2>&1 \
    || die "openssl: server key generation failed"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 3650 \
    -extfile "$dir/san.ext" -out "$dir/server.crt" >/dev/null 2>&1 || die "openssl: signing the server certificate failed"
  # Kafka's PEM key store wants an unencrypted PKCS#8 key followed by the chain.
  openssl pkcs8 -topk8 -nocrypt -in "$dir/server.key.rsa" -out "$dir/server.key" || die "openssl: pkcs8 failed"
  cat "$dir/server.key" "$dir/server.crt" "$dir/ca.pem" >"$dir/server.pem"
}

write_kafka_config() {
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$KAFKA_SASL_SSL_PORT" ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT"
    protocols="$protocols,SASL_SSL:SASL_SSL"
  fi
  cat >"$KAFKA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
EOF
  if [ -n "$KAFKA_SASL_SSL_PORT" ]; then
    make_tls "$KAFKA_DIR/tls"
    cat >>"$KAFKA_DIR/server.properties" <<EOF
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_sluice="sluice-secret";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_DIR/tls/server.pem
EOF
  fi
  cat >"$KAFKA_DIR/simplelogger.properties" <<EOF
org.slf4j.simpleLogger.defaultLogLevel=warn
org.slf4j.simpleLogger.showDateTime=true
EOF
}

start_kafka() {
  if pid_alive "$KAFKA_DIR/kafka.pid"; then say "kafka already running (pid $(cat "$KAFKA_DIR/kafka.pid"))"; return 0; fi
  port_open $KAFKA_PORT && die "port $KAFKA_PORT is taken by another process; stop it first (ss -ltnp 'sport = :$KAFKA_PORT')"
  port_open $KAFKA_CONTROLLER_PORT && die "port $KAFKA_CONTROLLER_PORT (Kafka controller) is taken by another process"
  if [ -n "$KAFKA_SASL_SSL_PORT" ] && port_open "$KAFKA_SASL_SSL_PORT"; then die "port $KAFKA_SASL_SSL_PORT (Kafka SASL_SSL) is taken by another process"; fi
  install_kafka
  mkdir -p "$KAFKA_DIR/data"
  write_kafka_config
  local cp="$KAFKA_LIBS/*"
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    local id
    id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 \
      || { cat "$KAFKA_DIR/format.log" >&2; die "formatting the Kafka log dir failed"; }
  fi
  # shellcheck disable=SC2086
  nohup java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=50 -Djava.awt.headless=true \
    -Dslf4j.internal.verbosity=WARN -cp "$KAFKA_DIR:$cp" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >"$KAFKA_DIR/kafka.log" 2>&1 </dev/null &
  echo $! >"$KAFKA_DIR/kafka.pid"
  for _ in $(seq 1 120); do
    if port_open $KAFKA_PORT; then say "kafka ready on 127.0.0.1:$KAFKA_PORT"; return 0; fi
    pid_alive "$KAFKA_DIR/kafka.pid" || { tail -30 "$KAFKA_DIR/kafka.log" >&2; die "kafka exited during start-up (log: $KAFKA_DIR/kafka.log)"; }
    sleep 0.5
  done
  die "kafka did not open 127.0.0.1:$KAFKA_PORT within 60 s (log: $KAFKA_DIR/kafka.log)"
}

zk_ask() { # WORD: ZooKeeper's answer to a four-letter word (it closes the connection after it), empty if none
  ( exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf '%s' "$1" >&3 && timeout 2 cat <&3 ) 2>/dev/null || true
}

zk_serving() { zk_ask srvr | grep -q '^Mode: standalone'; }

write_zookeeper_config() {
  mkdir -p "$ZK_DIR/data"
  # forceSync=no: the metadata of throwaway test tables need not survive a
  # power cut, and an fsync per ZooKeeper write would slow every replicated
  # insert on a shared disk. The admin server (HTTP on 8080) is off; srvr
  # and ruok are what the readiness check and `status` use.
  cat >"$ZK_DIR/zoo.cfg" <<EOF
tickTime=2000
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr
forceSync=no
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
EOF
}

start_zookeeper() {
  if pid_alive "$ZK_DIR/zookeeper.pid"; then say "zookeeper already running (pid $(cat "$ZK_DIR/zookeeper.pid"))"; return 0; fi
  port_open "$ZK_PORT" && die "port $ZK_PORT (ZooKeeper) is taken by another process; stop it first (ss -ltnp 'sport = :$ZK_PORT') or set LOCAL_ZK_PORT"
  install_clickhouse
  command -v java >/dev/null || die "Java is needed to run ZooKeeper"
  write_zookeeper_config
  # The jar's manifest names its dependencies in /usr/share/java; slf4j-simple
  # (shipped beside it) makes its warnings readable in zookeeper.log.
  local cp="$ZK_JARS/zookeeper.jar"
  [ -f "$ZK_JARS/slf4j-simple.jar" ] && cp="$cp:$ZK_JARS/slf4j-simple.jar"
  # shellcheck disable=SC2086
  nohup java $ZK_HEAP -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "$cp" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_DIR/zoo.cfg" \
    >"$ZK_DIR/zookeeper.log" 2>&1 </dev/null &
  echo $! >"$ZK_DIR/zookeeper.pid"
  for _ in $(seq 1 120); do
    if zk_serving; then say "zookeeper ready on 127.0.0.1:$ZK_PORT"; return 0; fi
    pid_alive "$ZK_DIR/zookeeper.pid" || { tail -30 "$ZK_DIR/zookeeper.log" >&2; die "zookeeper exited during start-up (log: $ZK_DIR/zookeeper.log)"; }
    sleep 0.25
  done
  die "zookeeper did not serve on 127.0.0.1:$ZK_PORT within 30 s (log: $ZK_DIR/zookeeper.log)"
}

write_clickhouse_config() { # FILE: the config.xml the server runs with
  local out="$1"
  mkdir -p "$CH_DIR"/{data,tmp,logs,user_files}
  local https=""
  if [ -n "$CH_HTTPS_PORT" ]; then
    make_tls "$CH_DIR/tls"
    https="<https_port>$CH_HTTPS_PORT</https_port><openSSL><server><certificateFile>$CH_DIR/tls/server.crt</certificateFile><privateKeyFile>$CH_DIR/tls/server.key</privateKeyFile><verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers></server></openSSL>"
  fi
  # <zookeeper> and <macros> let tests create
  # ReplicatedMergeTree('/clickhouse/tables/{shard}/NAME', '{replica}').
  cat >"$out" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$CH_DIR/logs/server.log</log><errorlog>$CH_DIR/logs/error.log</errorlog><size>100M</size><count>2</count></logger>
  <http_port>$CH_HTTP_PORT</http_port>
  $https
  <tcp_port>$CH_TCP_PORT</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>4096</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$CH_DIR/data/</path>
  <tmp_path>$CH_DIR/tmp/</tmp_path>
  <user_files_path>$CH_DIR/user_files/</user_files_path>
  <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <zookeeper><node><host>127.0.0.1</host><port>$ZK_PORT</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
  <macros><shard>01</shard><replica>r1</replica></macros>
</yandex>
EOF
  cat >"$CH_DIR/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <!-- for the tests of password authentication -->
    <sluice><password>sluice-secret</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></sluice>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
}

start_clickhouse() {
  if pid_alive "$CH_DIR/clickhouse.pid"; then
    say "clickhouse already running (pid $(cat "$CH_DIR/clickhouse.pid"))"
    # A server started by an older version of this script keeps its old
    # config (18.16 reads <zookeeper> and <macros> only at start): say so.
    write_clickhouse_config "$CH_DIR/config.xml.new"
    if ! cmp -s "$CH_DIR/config.xml.new" "$CH_DIR/config.xml"; then
      say "WARNING: clickhouse runs with an older config (e.g. without <zookeeper>/<macros>); apply it with: scripts/services.sh restart clickhouse"
    fi
    rm -f "$CH_DIR/config.xml.new"
    return 0
  fi
  port_open $CH_HTTP_PORT && die "port $CH_HTTP_PORT is taken by another process; stop it first (ss -ltnp 'sport = :$CH_HTTP_PORT')"
  port_open $CH_TCP_PORT && die "port $CH_TCP_PORT (ClickHouse native) is taken by another process"
  if [ -n "$CH_HTTPS_PORT" ] && port_open "$CH_HTTPS_PORT"; then die "port $CH_HTTPS_PORT (ClickHouse https) is taken by another process"; fi
  install_clickhouse
  write_clickhouse_config "$CH_DIR/config.xml"
  nohup clickhouse-server --config-file="$CH_DIR/config.xml" >"$CH_DIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$CH_DIR/clickhouse.pid"
  for _ in $(seq 1 120); do
    if [ "$(curl -s --max-time 1 "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]; then
      say "clickhouse ready on 127.0.0.1:$CH_HTTP_PORT"; return 0
    fi
    pid_alive "$CH_DIR/clickhouse.pid" || { tail -30 "$CH_DIR/logs/stdout.log" "$CH_DIR/logs/error.log" >&2 || true; die "clickhouse exited during start-up"; }
    sleep 0.5
  done
  die "clickhouse did not answer on 127.0.0.1:$CH_HTTP_PORT within 60 s"
}

stop_pid() { # name pidfile
  local pf="$2"
  if ! pid_alive "$pf"; then rm -f "$pf"; say "$1 not running"; return 0; fi
  local pid; pid=$(cat "$pf")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$pf"; say "$1 stopped"; return 0; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pf"
  say "$1 killed after 30 s"
}

kill_pid() { # name pidfile: SIGKILL and wait until it is gone
  local pf="$2"
  if ! pid_alive "$pf"; then rm -f "$pf"; say "$1 not running"; return 0; fi
  local pid; pid=$(cat "$pf")
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pf"
  say "$1 killed"
}

install_mirrormaker() {
  [ -f "$MM2_LIBS/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the MirrorMaker 2 jars"
  say "fetching the MirrorMaker 2 jars from Maven Central"
  rm -rf "$MM2_LIBS"
  mkdir -p "$MM2_LIBS"
  if ! mvn -q -B -f "$ROOT/scripts/mirrormaker-pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$MM2_LIBS" >"$ROOT/.local/mirrormaker-mvn.log" 2>&1; then
    tail -20 "$ROOT/.local/mirrormaker-mvn.log" >&2
    die "downloading the MirrorMaker 2 jars failed (see .local/mirrormaker-mvn.log)"
  fi
  touch "$MM2_LIBS/.complete"
}

start_mirrormaker() {
  if pid_alive "$MM2_DIR/mm2.pid"; then say "mirrormaker already running (pid $(cat "$MM2_DIR/mm2.pid"))"; return 0; fi
  [ -n "${LOCAL_MM2_SOURCE:-}" ] && [ -n "${LOCAL_MM2_TARGET:-}" ] || die "start mirrormaker needs LOCAL_MM2_SOURCE and LOCAL_MM2_TARGET (host:port of clusters P and B)"
  local policy
  case "${LOCAL_MM2_POLICY:-default}" in
    default) policy=org.apache.kafka.connect.mirror.DefaultReplicationPolicy ;;
    identity) policy=org.apache.kafka.connect.mirror.IdentityReplicationPolicy ;;
    *) die "LOCAL_MM2_POLICY must be default or identity, not '${LOCAL_MM2_POLICY}'" ;;
  esac
  install_mirrormaker
  mkdir -p "$MM2_DIR"
  # Intervals of a second or two: the test waits for replication, checkpoints
  # and synced offsets instead of sleeping. Every internal topic has one
  # replica (single-broker clusters).
  cat >"$MM2_DIR/mm2.properties" <<EOF
clusters=P, B
P.bootstrap.servers=$LOCAL_MM2_SOURCE
B.bootstrap.servers=$LOCAL_MM2_TARGET
P->B.enabled=true
B->P.enabled=false
P->B.topics=${LOCAL_MM2_TOPICS:-.*}
P->B.groups=.*
replication.policy.class=$policy
replication.factor=1
checkpoints.topic.replication.factor=1
heartbeats.topic.replication.factor=1
offset-syncs.topic.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
config.storage.replication.factor=1
tasks.max=1
refresh.topics.interval.seconds=2
refresh.groups.interval.seconds=2
emit.checkpoints.interval.seconds=1
sync.group.offsets.enabled=true
sync.group.offsets.interval.seconds=1
sync.topic.configs.enabled=false
sync.topic.acls.enabled=false
EOF
  # The properties file comes before --clusters (dedicated mode takes it as
  # its one positional argument); only the flows into B run here.
  # shellcheck disable=SC2086
  nohup java $MM2_HEAP -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "$MM2_LIBS/*" org.apache.kafka.connect.mirror.MirrorMaker "$MM2_DIR/mm2.properties" --clusters B \
    >"$MM2_DIR/mm2.log" 2>&1 </dev/null &
  echo $! >"$MM2_DIR/mm2.pid"
  sleep 2
  pid_alive "$MM2_DIR/mm2.pid" || { tail -30 "$MM2_DIR/mm2.log" >&2; die "mirrormaker exited during start-up (log: $MM2_DIR/mm2.log)"; }
  say "mirrormaker running ($LOCAL_MM2_SOURCE -> $LOCAL_MM2_TARGET, ${LOCAL_MM2_POLICY:-default} policy)"
}

status() {
  local rc=0
  if pid_alive "$KAFKA_DIR/kafka.pid"; then echo "kafka: running (pid $(cat "$KAFKA_DIR/kafka.pid"), 127.0.0.1:$KAFKA_PORT)"; else echo "kafka: stopped"; rc=1; fi
  if pid_alive "$ZK_DIR/zookeeper.pid"; then
    if zk_serving; then echo "zookeeper: running (pid $(cat "$ZK_DIR/zookeeper.pid"), 127.0.0.1:$ZK_PORT)"; else echo "zookeeper: running (pid $(cat "$ZK_DIR/zookeeper.pid")) but not serving on 127.0.0.1:$ZK_PORT"; rc=1; fi
  else echo "zookeeper: stopped"; rc=1; fi
  if pid_alive "$CH_DIR/clickhouse.pid"; then echo "clickhouse: running (pid $(cat "$CH_DIR/clickhouse.pid"), http://127.0.0.1:$CH_HTTP_PORT)"; else echo "clickhouse: stopped"; rc=1; fi
  # Started on demand only: its absence is not a failure.
  if pid_alive "$REGISTRY_DIR/registry.pid"; then echo "registry: running (pid $(cat "$REGISTRY_DIR/registry.pid"), http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7)"; else echo "registry: stopped (started on demand)"; fi
  return $rc
}

cmd="${1:-status}"; which="${2:-all}"
case "$which" in all|kafka|zookeeper|clickhouse|mirrormaker|registry) ;; *) die "unknown service '$which' (kafka | zookeeper | clickhouse | mirrormaker | registry)";; esac
case "$cmd" in
  install) install_clickhouse; install_kafka; install_mirrormaker; install_registry ;;
  start) # ZooKeeper before ClickHouse, which connects to it at start
    case "$which" in all|kafka) start_kafka ;; esac
    case "$which" in all|zookeeper|clickhouse) start_zookeeper ;; esac
    case "$which" in all|clickhouse) start_clickhouse ;; esac
    case "$which" in mirrormaker) start_mirrormaker ;; registry) start_registry ;; esac
    ;;
  stop) # ClickHouse before ZooKeeper, so that it never runs without it for long
    case "$which" in mirrormaker) stop_pid mirrormaker "$MM2_DIR/mm2.pid" ;; esac
    case "$which" in all|kafka) stop_pid kafka "$KAFKA_DIR/kafka.pid" ;; esac
    case "$which" in all|clickhouse) stop_pid clickhouse "$CH_DIR/clickhouse.pid" ;; esac
    case "$which" in all|zookeeper|clickhouse) stop_pid zookeeper "$ZK_DIR/zookeeper.pid" ;; esac
    case "$which" in all|registry) stop_pid registry "$REGISTRY_DIR/registry.pid" ;; esac
    ;;
  restart) "$0" stop "$which"; "$0" start "$which" ;;
  kill) # one service, as a crash; `all` kills none (say which)
    case "$which" in
      kafka) kill_pid kafka "$KAFKA_DIR/kafka.pid" ;;
      clickhouse) kill_pid clickhouse "$CH_DIR/clickhouse.pid" ;;
      zookeeper) kill_pid zookeeper "$ZK_DIR/zookeeper.pid" ;;
      mirrormaker) kill_pid mirrormaker "$MM2_DIR/mm2.pid" ;;
      registry) kill_pid registry "$REGISTRY_DIR/registry.pid" ;;
      *) die "kill needs a service: kafka | zookeeper | clickhouse | mirrormaker | registry" ;;
    esac
    ;;
  status) status ;;
  *) die "usage: scripts/services.sh install|start|stop|restart|kill|status [kafka|zookeeper|clickhouse|mirrormaker|registry]" ;;
esac
