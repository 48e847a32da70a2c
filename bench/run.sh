#!/usr/bin/env bash
# Load benchmark, in one run on loopback, same duration and concurrency each:
#   1. direct:   wrk -> downstream stub              (the limit)
#   2. nginx:    wrk -> nginx proxy_pass -> stub     (the reference; keep-alive upstream)
#   3. hookgate: wrk -> hookgate -> stub             (chatwoot signature verified, info logs on)
#   4. queued:   wrk -> hookgate -> store, 202       (a second route of the same gateway with
#                delivery = "queued": fsync'd before each answer, delivered to the stub meanwhile)
#   5. floor:    wrk -> examples/stack_floor -> stub (with --floor: hookgate's stack alone, hyper
#                server + hyper-util client on a runtime per core, nothing else: the best any
#                gateway on this stack could do)
#   6. flooded:  wrk -> hookgate -> stub while 4 more connections loop on GET /docs (with
#                --docs-flood: the unauthenticated docs page must not take the webhooks' capacity)
#   7. otlp:     wrk -> hookgate -> stub with traces exported (with --otlp: a second gateway of the
#                same build, its sync route alone, `[telemetry] otlp_endpoint` at the stub, which
#                answers POST /v1/traces with 200)
# Prints requests/s, p50/p99 latency, errors, hookgate's peak RSS and the ratios.
#
# Usage: bench/run.sh [--sweep] [--floor] [--docs-flood] [--otlp] [--filter] [--event-log M] [--duration 10s] [--connections 64] [--compare BIN]
#   --sweep          runs each at 1, 64 and 256 connections.
#   --floor          also measures examples/stack_floor.rs, as "floor".
#   --docs-flood     also measures hookgate while /docs is flooded, as "flooded".
#   --otlp           also measures the sync route with OpenTelemetry traces exported, as "otlp".
#   --event-log M    what the event log keeps of the sync route: bodies (the default), metadata, off.
#   --filter         the sync route's one destination has a filter on a JSON field (which the
#                    payload meets): what a filter costs. The --compare build's route has none.
#   --compare BIN    also measures another hookgate build (e.g. a branch), as "compare".
#   --compare-event-log M  what the compared build's event log keeps (default: its default).
#   --pairs N        with --compare: then N more runs of each, alternating (hookgate first in odd
#                    pairs, compare first in even ones); prints each pair's ratio and the median.
#   --log-cost N     then N rounds of three more sync routes of the same gateway, alike but for
#                    what the event log keeps of them (off, metadata, bodies), each round in
#                    another order; prints each round's ratios to "off" and their medians.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s
connections=(64)
compare=""
floor=""
docs_flood=""
otlp=""
filter=""
event_log=bodies
compare_event_log=""
pairs=0
log_cost=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) connections=(1 64 256) ;;
    --floor) floor=yes ;;
    --docs-flood) docs_flood=yes ;;
    --otlp) otlp=yes ;;
    --filter) filter=yes ;;
    --event-log) event_log=$2; shift ;;
    --duration) duration=$2; shift ;;
    --connections) connections=("$2"); shift ;;
    --compare) compare=$(realpath "$2"); shift ;;
    --compare-event-log) compare_event_log=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --log-cost) log_cost=$2; shift
      [[ "$log_cost" =~ ^[0-9]+$ ]] || { echo "--log-cost takes a number of rounds" >&2; exit 2; } ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --quiet
if [ -n "$floor" ]; then cargo build --release --quiet --example stack_floor; fi
work=$(mktemp -d)
# The queue's store on the project's disk: on a tmpfs /tmp an fsync would cost nothing.
store=$(mktemp -d -p "$PWD/target" bench-store.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work" "$store"; }
trap cleanup EXIT

# hookgate watches its config's directory: nginx's access log must not share
# it, or every proxied request would wake hookgate's watcher during nginx's run.
conf="$work/gateway"
mkdir "$conf"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stub_port=$(free_port); proxy_port=$(free_port); gate_port=$(free_port); compare_port=$(free_port)
floor_port=$(free_port); otlp_port=$(free_port)

# The downstream stub: one nginx worker answering 200 at once.
cat > "$work/stub.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/stub.pid;
error_log $work/stub.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$stub_port;
    location / { return 200 '{"ok":true}'; }
    # The OTLP collector of --otlp: an empty body is an empty ExportTraceServiceResponse.
    location = /v1/traces { return 200 ''; }
  }
}
CONF
# The reference: nginx proxy_pass with upstream keep-alive, default access log on.
cat > "$work/proxy.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/proxy.pid;
error_log $work/proxy.err warn;
events { worker_connections 4096; }
http {
  access_log $work/proxy.access.log;
  keepalive_requests 1000000;
  upstream stub { server 127.0.0.1:$stub_port; keepalive 256; }
  server {
    listen 127.0.0.1:$proxy_port;
    location / { proxy_pass http://stub; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
cat > "$conf/routes.toml" <<CONF
[server]
listen = "127.0.0.1:$gate_port"
[routes.chatwoot]
path = "/api/webhooks/chatwoot"
downstream = "http://127.0.0.1:$stub_port/webhooks/chatwoot"
timeout = "4s"
max_in_flight = 4096
[routes.chatwoot.signature]
scheme = "chatwoot"
secret = "bench-secret"
CONF
# The sync routes alone, for --compare (a build without queued delivery, and no shared store).
cp "$conf/routes.toml" "$conf/sync.toml"
# What the event log keeps of the sync route (not in sync.toml: an older build may not know the key).
log_table() { # mode: the route's `log` for it
  case "$1" in
    off) echo '{ enabled = false }' ;;
    metadata) echo '{ bodies = false }' ;;
    *) echo '{ bodies = true }' ;;
  esac
}
keep() { # mode file; bodies (the default) or none leaves the route as it is
  case "$1" in
    off | metadata) sed -i "0,/^max_in_flight = 4096\$/s//&\nlog = $(log_table "$1")/" "$2" ;;
  esac
}
keep "$event_log" "$conf/routes.toml"
if [ -n "$filter" ]; then
  # The route's downstream as a destination with a filter (after the
  # signature table, before the queued route is appended).
  sed -i '0,/^downstream = .*$/s///' "$conf/routes.toml"
  cat >> "$conf/routes.toml" <<CONF
[routes.chatwoot.destinations.default]
url = "http://127.0.0.1:$stub_port/webhooks/chatwoot"
filter = { "json:/event" = ["message_created", "message_updated"] }
CONF
fi
# The same gateway's queued route: same scheme and secret, so the same signed
# request. Bound high enough that no run fills it.
cat >> "$conf/routes.toml" <<CONF
[routes.queued]
path = "/api/webhooks/chatwoot-queued"
downstream = "http://127.0.0.1:$stub_port/webhooks/chatwoot"
timeout = "4s"
max_in_flight = 4096
delivery = "queued"
max_queued = 100000000
[routes.queued.signature]
scheme = "chatwoot"
secret = "bench-secret"
[store]
path = "$store/hookgate.db"
CONF
# --log-cost: three sync routes alike but for what the log keeps of them.
if [ "$log_cost" -gt 0 ]; then
  for mode in off metadata bodies; do
    cat >> "$conf/routes.toml" <<CONF
[routes.cost-$mode]
path = "/api/webhooks/cost-$mode"
downstream = "http://127.0.0.1:$stub_port/webhooks/chatwoot"
timeout = "4s"
max_in_flight = 4096
log = $(log_table "$mode")
[routes.cost-$mode.signature]
scheme = "chatwoot"
secret = "bench-secret"
CONF
  done
fi

"$NGINX" -c "$work/stub.conf" -p "$work" & pids+=($!)
"$NGINX" -c "$work/proxy.conf" -p "$work" & pids+=($!)
RUST_LOG=info target/release/hookgate serve --config "$conf/routes.toml" 2>"$work/hookgate.log" & gate=$!
pids+=($gate)
ports="$stub_port $proxy_port $gate_port"
if [ -n "$compare" ]; then
  sed "s/$gate_port/$compare_port/" "$conf/sync.toml" > "$conf/compare.toml"
  keep "$compare_event_log" "$conf/compare.toml"
  # Its admin API on a port of its own: the default 127.0.0.1:9180 is the first gateway's.
  HOOKGATE_ADMIN__LISTEN=127.0.0.1:0 RUST_LOG=info "$compare" serve --config "$conf/compare.toml" 2>"$work/compare.log" & compare_pid=$!
  pids+=($compare_pid)
  ports="$ports $compare_port"
fi
if [ -n "$otlp" ]; then
  # The sync route alone, as "hookgate" measures it, with its own event log and traces on.
  sed "s/$gate_port/$otlp_port/" "$conf/sync.toml" > "$conf/otlp.toml"
  keep "$event_log" "$conf/otlp.toml"
  mkdir -p "$store/otlp"
  printf '[store]\npath = "%s"\n[telemetry]\notlp_endpoint = "http://127.0.0.1:%s"\n' \
    "$store/otlp/hookgate.db" "$stub_port" >> "$conf/otlp.toml"
  HOOKGATE_ADMIN__LISTEN=127.0.0.1:0 RUST_LOG=info target/release/hookgate serve --config "$conf/otlp.toml" 2>"$work/otlp.log" & otlp_pid=$!
  pids+=($otlp_pid)
  ports="$ports $otlp_port"
fi
if [ -n "$floor" ]; then
  target/release/examples/stack_floor "127.0.0.1:$floor_port" "http://127.0.0.1:$stub_port/webhooks/chatwoot" & pids+=($!)
  ports="$ports $floor_port"
fi
for port in $ports; do
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
done

# A wrk script posting the payload with fresh Chatwoot headers (valid for 5 minutes).
{
  echo 'wrk.method = "POST"'
  echo "wrk.body = io.open(\"bench/payload.json\"):read(\"*a\")"
  echo 'wrk.headers["Content-Type"] = "application/json"'
  target/release/hookgate sign --route chatwoot --config "$conf/routes.toml" bench/payload.json |
    sed -E 's/^([^:]+): (.*)$/wrk.headers["\1"] = "\2"/'
  # A delivery id of its own per request, as Chatwoot sends: with one id for
  # every request the event log's writes cost what a real source never gets.
  cat <<'LUA'
wrk.headers["X-Chatwoot-Delivery"] = nil
-- A table's address tells the threads (each has a Lua state of its own) apart.
local sent, run = 0, tostring({}):match("0x%x+")
request = function()
  sent = sent + 1
  wrk.headers["X-Chatwoot-Delivery"] = run .. "-" .. sent
  return wrk.format()
end
LUA
} > "$work/post.lua"

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # name url connections [pid whose CPU time per request to report]
  local threads=$(( $3 < 2 ? 1 : 2 )) before=""
  [ -n "${4:-}" ] && before=$(cpu_ticks "$4")
  wrk -t"$threads" -c"$3" -d"$duration" --latency -s "$work/post.lua" "$2" > "$work/$1-$3.txt"
  [ -n "$before" ] && echo $(( $(cpu_ticks "$4") - before )) > "$work/$1-$3.cpu"
  return 0
}

# Records the gateway's event log dropped so far (a full writer drops, never waits):
# a throughput bought by dropping records would not be the log's cost.
log_dropped() { log_counter hookgate_event_log_dropped_total; }
# Records kept without their bodies (the writer behind by 8 MiB): a
# throughput with bodies shed is not the cost of keeping them either.
log_shed() { log_counter hookgate_event_log_bodies_shed_total; }
log_counter() { # name
  curl -s "http://127.0.0.1:$gate_port/metrics" |
    awk -v name="$1" '$1 == name {n = $2} END {print n + 0}'
}

# Waits (at most 5 minutes) until the queued route has delivered its backlog,
# so that no delivery runs during the next measurement.
drain() {
  local depth=""
  sleep 1.5 # the queue gauges are refreshed every second
  for _ in $(seq 1500); do
    depth=$(curl -s "http://127.0.0.1:$gate_port/metrics" |
      awk '/^hookgate_queue_depth\{route="queued"\}/ {print $2}' || true)
    [ "${depth:-0}" = 0 ] && return
    sleep 0.2
  done
  echo "warning: the queued route still holds $depth events" >&2
}

# --pairs: the machine's speed drifts over minutes, so one run of each build
# compares two moments as much as two builds. Alternating short pairs, each
# order as often, and their median ratio, put both builds in the same moments.
pair_runs() { # connections
  local i
  for i in $(seq "$pairs"); do
    local order="hookgate compare"
    [ $((i % 2)) = 0 ] && order="compare hookgate"
    for who in $order; do
      if [ "$who" = hookgate ]; then
        run "pair$i-hookgate" "http://127.0.0.1:$gate_port/api/webhooks/chatwoot" "$1" "$gate"
      else
        run "pair$i-compare" "http://127.0.0.1:$compare_port/api/webhooks/chatwoot" "$1" "$compare_pid"
      fi
    done
  done
}

# --log-cost: rounds of the three routes of the same gateway, each round in
# another order (off first, then metadata first, then bodies first, ...), so
# that each mode runs as often in each place of a round.
log_cost_runs() { # connections
  local i modes=(off metadata bodies)
  for i in $(seq "$log_cost"); do
    local k
    for k in 0 1 2; do
      local mode=${modes[$(( (i - 1 + k) % 3 ))]} dropped shed
      dropped=$(log_dropped)
      shed=$(log_shed)
      run "cost$i-$mode" "http://127.0.0.1:$gate_port/api/webhooks/cost-$mode" "$1" "$gate"
      # What the run cost the log: records dropped, bodies shed.
      echo "$(( $(log_dropped) - dropped )) $(( $(log_shed) - shed ))" > "$work/cost$i-$mode-$1.lost"
    done
  done
}

for c in "${connections[@]}"; do
  run direct "http://127.0.0.1:$stub_port/webhooks/chatwoot" "$c"
  run nginx "http://127.0.0.1:$proxy_port/webhooks/chatwoot" "$c"
  run hookgate "http://127.0.0.1:$gate_port/api/webhooks/chatwoot" "$c" "$gate"
  sync_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$gate/status")
  sync_dropped=$(log_dropped)
  sync_shed=$(log_shed)
  # Before the queued run: its backlog, and its records in the log, are not the sync route's cost.
  if [ -n "$compare" ]; then pair_runs "$c"; fi
  if [ "$log_cost" -gt 0 ]; then log_cost_runs "$c"; fi
  # Right after hookgate, before the queued run's backlog and log: the ratio of two neighbours.
  if [ -n "$otlp" ]; then
    run otlp "http://127.0.0.1:$otlp_port/api/webhooks/chatwoot" "$c" "$otlp_pid"
  fi
  run queued "http://127.0.0.1:$gate_port/api/webhooks/chatwoot-queued" "$c"
  drain
  if [ -n "$compare" ]; then
    run compare "http://127.0.0.1:$compare_port/api/webhooks/chatwoot" "$c" "$compare_pid"
  fi
  if [ -n "$docs_flood" ]; then
    wrk -t1 -c4 -d"$duration" "http://127.0.0.1:$gate_port/docs" > "$work/docs-flood-$c.log" & flood=$!
    run flooded "http://127.0.0.1:$gate_port/api/webhooks/chatwoot" "$c"
    wait "$flood"
  fi
  if [ -n "$floor" ]; then run floor "http://127.0.0.1:$floor_port/api/webhooks/chatwoot" "$c"; fi
done
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$gate/status")

# The table and ratios, the --pairs medians, and the gateways' CPU time per
# request: steadier than requests/s on a shared machine, where the load
# generator and the stub compete for the same cores.
python3 bench/report.py "$work" "$rss_kib" "$duration" "$(getconf CLK_TCK)" "${connections[@]}"
# The compared build serves the sync route alone: its peak RSS beside
# hookgate's before its queued route ran.
awk -v k="$sync_rss_kib" 'BEGIN {printf "hookgate peak RSS after the sync runs: %.1f MiB\n", k / 1024}'
echo "event log records dropped: $sync_dropped after the sync runs, $(log_dropped) in all"
echo "event log bodies shed: $sync_shed after the sync runs, $(log_shed) in all"
if [ -n "$compare" ]; then
  awk '/VmHWM/ {printf "compare peak RSS: %.1f MiB (sync route only)\n", $2 / 1024}' "/proc/$compare_pid/status"
fi

