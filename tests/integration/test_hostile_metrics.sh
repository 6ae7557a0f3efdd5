#!/bin/bash
#
# test_hostile_metrics.sh -- a connection flood on metrics.listen (issue 11).
#
# The daemon runs with 512 file descriptors; 3,000 TCP connections are opened
# to metrics.listen and held without sending anything.  The daemon keeps at
# most metrics.max_connections of them (the rest wait in the kernel's
# backlog), far below its descriptor limit; hotreloadctl status and reload
# are served meanwhile; a reload that lowers metrics.max_connections takes
# effect; the log does not flood; once the flood is released a new client
# gets /metrics.  Also: HEAD, other paths and other methods, and a request
# head that never ends.
. "$(dirname "$0")/lib.sh"

FLOOD=3000
MAX_CONNS=16
TIMEOUT_S=2
DAEMON_FDS=512
HOSTILE=$TOP/tests/support/hostile

# The flood's sockets are ours; the daemon gets a lower limit below.
need=$((FLOOD + 100))
if (($(ulimit -n) < need)); then
	ulimit -n "$need" 2>/dev/null ||
		fatal "ulimit -n is $(ulimit -n) and cannot be raised to $need" \
		    "(hard limit $(ulimit -Hn))"
fi
flood_fds=$(ulimit -n)

port=$("$PYTHON" -E -S -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The metrics section with max_connections $1.
metrics_config() {
	write_config '' "\"metrics\": { \"listen\": \"127.0.0.1:$port\", \"max_connections\": $1, \"timeout_s\": $TIMEOUT_S }"
}

# GET or another request of PATH ($1) with METHOD ($2, default GET): prints
# the status code, then the body.
http_request() {
	"$PYTHON" -E -S -c 'import sys, http.client
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request(sys.argv[3], sys.argv[2])
r = c.getresponse()
print(r.status); print(r.read().decode())' "$port" "$1" "${2-GET}"
}

# /metrics answers 200 to a new client.
metrics_served() {
	[[ $(http_request /metrics | head -n 1) == 200 ]]
}

# Open descriptors of the daemon.
daemon_fds() {
	find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# Succeeds when the daemon has at most N descriptors open.
daemon_fds_at_most() {
	(($(daemon_fds) <= $1))
}

metrics_config "$MAX_CONNS"
# Without the limit the flood would take every descriptor of the daemon.
ulimit -Sn "$DAEMON_FDS"
start_daemon
ulimit -Sn "$flood_fds"
fd_limit=$(awk '/^Max open files/ { print $4 }' "/proc/$DAEMON_PID/limits")
note "daemon's descriptor limit: $fd_limit"

run http_request /metrics
assert_eq 200 "$(line_of 1 "$OUT")" "GET /metrics: 200"
assert_line "hotreload_draining 0" "$OUT" "GET /metrics: the metrics"
run http_request /metrics HEAD
assert_eq 200 "$(line_of 1 "$OUT")" "HEAD /metrics: 200"
assert_not_contains "hotreload_draining" "$OUT" "HEAD /metrics: no body"
run http_request '/metrics?x=1'
assert_eq 200 "$(line_of 1 "$OUT")" "GET /metrics?x=1: 200"
run http_request /other
assert_eq 404 "$(line_of 1 "$OUT")" "GET /other: 404"
run http_request /metrics POST
assert_eq 405 "$(line_of 1 "$OUT")" "POST /metrics: 405"

# A request head that never ends: answered 431 past 16 KiB, not buffered on.
run "$PYTHON" -E -S -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /metrics HTTP/1.1\r\n")
try:
    for i in range(400):
        s.sendall(b"X-Padding-%d: %s\r\n" % (i, b"p" * 100))
except OSError:
    pass
print(s.recv(200).split(b"\r\n")[0].decode())' "$port"
assert_contains " 431 " "$OUT" "a request head over 16 KiB: 431"

fds_before=$(daemon_fds)
log_before=$(wc -l <"$LOG")

# The flood: $FLOOD connections, held until the helper is killed.
start_helper "$PYTHON" -E -S "$HOSTILE" tcpflood 127.0.0.1 "$port" "$FLOOD" 120 \
    >"$T/flood.out" 2>&1
flood=$HELPER_PID
wait_until $((30 * SLOWDOWN)) grep -q '^established ' "$T/flood.out" ||
	fatal "the flood did not start: $(cat "$T/flood.out")"
note "flood: $(tr '\n' ' ' <"$T/flood.out")"

started=$(now_ms)
run ctl -t 20 status
note "status during the flood: $(($(now_ms) - started)) ms"
assert_rc 0 "status is served during the flood"
fds=$(daemon_fds)
note "daemon's descriptors during the flood: $fds (before: $fds_before, limit: $fd_limit)"
assert_eq yes "$( ((fds < fd_limit)) && echo yes || echo "no: $fds")" \
    "the daemon's descriptors stay below its limit"
assert_eq yes "$( ((fds <= fds_before + MAX_CONNS + 2)) && echo yes || echo "no: $fds")" \
    "the daemon holds at most metrics.max_connections ($MAX_CONNS) of the flood"

# A reload during the flood, lowering the limit: it takes effect.
LOWER=4
metrics_config "$LOWER"
started=$(now_ms)
run ctl -t 20 reload
note "reload during the flood: $(($(now_ms) - started)) ms"
assert_rc 0 "reload is served during the flood"
assert_eventually "with metrics.max_connections $LOWER, the daemon holds at most $LOWER of the flood" \
    $((TIMEOUT_S * 3 * SLOWDOWN)) daemon_fds_at_most $((fds_before + LOWER + 2))
note "daemon's descriptors after the reload: $(daemon_fds)"
status_json
assert_json limits.metrics_max_connections "$LOWER" "status: limits.metrics_max_connections $LOWER"

# Released: a new client is served.
kill "$flood"
wait "$flood" 2>/dev/null
forget_pid "$flood"
assert_eventually "a new client gets /metrics once the flood is released" \
    $((30 * SLOWDOWN)) metrics_served

lines=$(tail -n +$((log_before + 1)) "$LOG" | wc -l)
note "daemon log lines during the flood (with -v): $lines"
assert_eq yes "$( ((lines < 100)) && echo yes || echo "no: $lines")" \
    "the flood does not flood the log (fewer than 100 lines)"
assert_daemon_alive "the daemon is alive"
run ctl -t 10 version
assert_rc 0 "version is served afterwards"

test_done
