#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_reload_fail.sh -- a reload-hsp that cannot succeed leaves the
# running connector exactly as it was: a broker port nobody listens on, a
# file that is not JSON or has an unknown key, a broker that accepts the
# TCP connection but never answers (bounded by hsp.connect_timeout_s).  The
# reply says why and the daemon keeps answering.  Then "reload" and SIGHUP
# replace the connector only when the hsp section changed; without the
# section the connector keeps running (taking it away needs a restart).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

# Print the number of connections the broker has seen from the daemon.
daemon_connections() {
	grep -c "New client connected from .* as hr-" "$BROKER_DIR/mosquitto.log"
}

broker_start
hsp_config
start_daemon
wait_hsp_connected
status_json
client_id=$(jfield services.hsp.client_id)

# A port nobody listens on.
port=$(closed_port)
hsp_config '' '' "$port"
run ctl reload-hsp
assert_rc 1 "closed port: reload-hsp exits 1"
assert_match '^hotreloadctl: reload_failed: ' "$ERR" "closed port: reload_failed"
assert_contains "127.0.0.1:$port" "$ERR" "closed port: the message names the broker and port"
assert_match '[Rr]efused|[Cc]onnect' "$ERR" "closed port: the message says the connection was refused"
run ctl -j reload-hsp
assert_rc 1 "closed port: reload-hsp -j exits 1"
assert_json code reload_failed "closed port: -j prints the error object"
status_json
assert_fields "closed port: status" "$OUT" \
    services.hsp.generation 1 \
    services.hsp.connected true \
    services.hsp.state running \
    services.hsp.client_id "$client_id" \
    services.hsp.broker "127.0.0.1:$BROKER_PORT" \
    services.hsp.last_reload.ok false \
    services.hsp.retiring '[]'
assert_contains "127.0.0.1:$port" "$(jfield services.hsp.last_reload.error)" \
    "closed port: last_reload.error names the port"
loadpeer -n 50 --requires-ack
assert_all_answered 50 "closed port: echo still answered"
assert_lp acked 50 "closed port: echo still acknowledged"

# Not JSON: nothing changes at all, not even last_reload, and the broker
# sees no new connection.
status_json
last_reload=$(jfield services.hsp.last_reload)
connections=$(daemon_connections)
printf '{\n  "ai_id": "%s",\n  "control": {"socket": "%s"},\n  "hsp": {\n' \
    "$AI_ID" "$SOCKET" >"$CONFIG"
run ctl reload-hsp
assert_rc 1 "bad JSON: reload-hsp exits 1"
assert_match "^hotreloadctl: reload_failed: $CONFIG:[0-9]+:[0-9]+: invalid JSON" "$ERR" \
    "bad JSON: reload_failed naming the file and the position"
assert_contains "nothing was changed" "$ERR" "bad JSON: the message says nothing was changed"
status_json
assert_fields "bad JSON: status" "$OUT" \
    services.hsp.generation 1 \
    services.hsp.connected true \
    services.hsp.client_id "$client_id" \
    services.hsp.last_reload "$last_reload"
assert_eq "$connections" "$(daemon_connections)" "bad JSON: no new broker connection"

# An unknown key in the hsp section.
hsp_config '"conect_timeout_s": 1'
run ctl reload-hsp
assert_rc 1 "unknown key: reload-hsp exits 1"
assert_contains "hsp.conect_timeout_s" "$ERR" "unknown key: the message names hsp.conect_timeout_s"
assert_eq 1 "$(status_field services.hsp.generation)" "unknown key: generation still 1"
assert_eq "$connections" "$(daemon_connections)" "unknown key: no new broker connection"

# A "broker" that accepts the TCP connection but never says a word: the
# reload gives up after connect_timeout_s (1 s) and says so.
rm -f "$T/silent.port"
start_helper "$PYTHON" -E -S -c '
import os
import socket
import sys
import time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)' "$T/silent.port"
wait_until 10 test -s "$T/silent.port" || fatal "the silent listener did not start"
silent=$(cat "$T/silent.port")
hsp_config '"connect_timeout_s": 1' '' "$silent"
t0=$(now_ms)
run ctl reload-hsp
elapsed=$(($(now_ms) - t0))
assert_rc 1 "silent broker: reload-hsp exits 1"
assert_contains "127.0.0.1:$silent" "$ERR" "silent broker: the message names the broker and port"
assert_contains "within hsp.connect_timeout_s" "$ERR" \
    "silent broker: the message says it did not connect within hsp.connect_timeout_s"
CHECKS=$((CHECKS + 1))
if ((elapsed >= 900 && elapsed < 5000)); then
	pass "silent broker: reload-hsp gave up after about 1 s ($elapsed ms)"
else
	fail "silent broker: reload-hsp gave up after about 1 s" "it took $elapsed ms"
fi
status_json
assert_fields "silent broker: status" "$OUT" \
    services.hsp.generation 1 \
    services.hsp.connected true \
    services.hsp.client_id "$client_id" \
    services.hsp.last_reload.ok false
assert_contains "within hsp.connect_timeout_s" "$(jfield services.hsp.last_reload.error)" \
    "silent broker: last_reload.error says connect_timeout_s"
# The abandoned connector must not go on trying (it is being destroyed).
assert_not_contains "reconnecting to 127.0.0.1:$silent" "$(cat "$LOG")" \
    "silent broker: the abandoned connector schedules no reconnection"
loadpeer -n 50
assert_all_answered 50 "silent broker: echo still answered"

# "reload": hsp is replaced only when its section changed.
hsp_config '"dedup_window": 1000'
run ctl -j reload
assert_rc 0 "reload with a changed hsp section exits 0"
assert_json reloaded '["hsp"]' "reload with a changed hsp section: reloaded [\"hsp\"]"
assert_not_contains '"hsp"' "$(jfield unchanged)" \
    "reload with a changed hsp section: unchanged does not list hsp"
status_json
assert_fields "reload with a changed hsp section: status" "$OUT" \
    services.hsp.generation 2 \
    services.hsp.connected true \
    services.hsp.last_reload.ok true \
    services.hsp.dedup.window 1000

hsp_config '"dedup_window": 1000' '"queue_depth": 8'
run ctl -j reload
assert_rc 0 "reload with only a control change exits 0"
assert_json reloaded '[]' "reload with only a control change: reloaded []"
assert_contains '"hsp"' "$(jfield unchanged)" \
    "reload with only a control change: unchanged lists hsp"
status_json
assert_fields "reload with only a control change: status" "$OUT" \
    services.hsp.generation 2 \
    queue.depth 8

# SIGHUP takes the same path.
hsp_config '"dedup_window": 2000' '"queue_depth": 8'
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP with a changed hsp section: generation 3" 10 \
    status_is services.hsp.generation 3
hsp_config '"dedup_window": 2000' '"queue_depth": 12'
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP with only a control change: applied (queue depth 12)" 10 \
    status_is queue.depth 12
status_json
assert_fields "SIGHUP with only a control change: status" "$OUT" \
    services.hsp.generation 3 \
    services.hsp.connected true \
    services.hsp.dedup.window 2000
loadpeer -n 50 --requires-ack
assert_all_answered 50 "after the reloads: echo answered"

# The hsp section taken out: a service is taken away by a restart only, so
# the connector and its dependants keep running and the log says so.
write_config '"queue_depth": 12'
run ctl -j reload
assert_rc 0 "reload without the hsp section exits 0"
assert_fields "reload without the hsp section" "$OUT" \
    unchanged '["hsp","tool_dispatcher","service_discovery"]' \
    reloaded '[]'
assert_log "hsp: its section is gone from $CONFIG; it keeps running" \
    "reload without the hsp section: the log says the connector keeps running"
status_json
assert_fields "reload without the hsp section: status" "$OUT" \
    services.hsp.generation 3 \
    services.hsp.connected true
loadpeer -n 20 --requires-ack
assert_all_answered 20 "without the hsp section: echo still answered"
assert_daemon_alive "the daemon is still running at the end"

test_done
