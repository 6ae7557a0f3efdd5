#!/bin/bash
#
# test_status.sh -- status, version and metrics of a daemon that runs with
# no service configured: what an operator sees in human form and in JSON.
. "$(dirname "$0")/lib.sh"

services=(llm hsp tool_dispatcher dialogue_manager service_discovery)
version=$(cat "$TOP/VERSION")

write_config '"queue_depth": 16'
start_daemon

# Human status: one line per service, each not configured.
run ctl status
assert_rc 0 "status exits 0"
assert_match "^hotreloadd $version +pid $DAEMON_PID " "$(line_of 1 "$OUT")" \
    "status names the version and the daemon's pid"
assert_line "draining +no" "$OUT" "status says not draining"
for service in "${services[@]}"; do
	assert_line "$service +not_configured .*" "$OUT" \
	    "status shows $service as not_configured"
done

# JSON status.
run ctl -j status
assert_rc 0 "status -j exits 0"
assert_json pid "$DAEMON_PID" "status: pid is the daemon's"
assert_json version "$version" "status: version"
assert_json draining false "status: not draining"
assert_json in_flight 0 "status: nothing in flight"
assert_json queue.pending 0 "status: nothing pending"
assert_json queue.running null "status: nothing running"
assert_json queue.depth 16 "status: queue depth from the config"
assert_json limits.queue_depth 16 "status: limits.queue_depth from the config"
SHA=$(sha256sum "$CONFIG" | cut -d' ' -f1)
assert_fields "status: the configuration" "$OUT" \
    config.path "$CONFIG" config.source file \
    config.running_sha256 "$SHA" config.file_sha256 "$SHA" config.services '{}'
for service in "${services[@]}"; do
	assert_json "services.$service.initialized" false \
	    "status: $service not initialized"
	assert_json "services.$service.state" not_configured \
	    "status: $service state not_configured"
	assert_json "services.$service.generation" 0 \
	    "status: $service generation 0"
done
assert_eq 5 "$(jpy 'len(d["services"])')" "status: exactly five services"

# The same through HOTRELOAD_SOCKET instead of -s.
HOTRELOAD_SOCKET=$SOCKET run timeout 10 "$HOTRELOADCTL" -j status
assert_rc 0 "status via HOTRELOAD_SOCKET exits 0"
assert_json pid "$DAEMON_PID" "status via HOTRELOAD_SOCKET reaches the daemon"

# version: the daemon's version and the protocol.
run ctl version
assert_rc 0 "version exits 0"
assert_eq "hotreloadd $version (protocol 1)" "$OUT" "version, human form"
run ctl -j version
assert_rc 0 "version -j exits 0"
assert_json version "$version" "version -j: version"
assert_json protocol 1 "version -j: protocol 1"

# metrics: the Prometheus text.
run ctl metrics
assert_rc 0 "metrics exits 0"
assert_line "hotreload_draining 0" "$OUT" \
    "metrics: hotreload_draining 0"
assert_line "hotreload_reloads_total\{service=\"config\",result=\"ok\"\} 0" \
    "$OUT" "metrics: no config reload yet"
assert_line "hotreload_queue_depth 0" "$OUT" \
    "metrics: hotreload_queue_depth 0"
assert_line "# TYPE hotreload_reloads_total counter" "$OUT" \
    "metrics: reloads_total is a counter"
run ctl -j metrics
assert_rc 0 "metrics -j exits 0"
assert_contains "hotreload_draining 0" "$(jfield text)" "metrics -j: text member"

# metrics.listen, turned on by a reload: the same text over HTTP.
port=$("$PYTHON" -E -S -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config '"queue_depth": 16' "\"metrics\": { \"listen\": \"127.0.0.1:$port\" }"
run ctl reload
assert_rc 0 "reload with metrics.listen exits 0"
http_get() {
	"$PYTHON" -E -S -c 'import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)' "$1"
}
run http_get "http://127.0.0.1:$port/metrics"
assert_eq 200 "$(line_of 1 "$OUT")" "GET /metrics: 200"
assert_line "hotreload_draining 0" "$OUT" "GET /metrics: hotreload_draining 0"
run http_get "http://127.0.0.1:$port/other"
assert_eq 404 "$(line_of 1 "$OUT")" "GET /other: 404"
write_config '"queue_depth": 16'
run ctl reload
assert_rc 0 "reload without metrics.listen exits 0"
run http_get "http://127.0.0.1:$port/metrics"
assert_not_contains "hotreload_draining" "$OUT" "metrics over HTTP stop after the reload"

# Read-only commands changed nothing.
status_json
assert_json draining false "status: still not draining after the reads"

test_done
