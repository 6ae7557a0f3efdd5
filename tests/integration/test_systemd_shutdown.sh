#!/bin/bash
#
# test_systemd_shutdown.sh -- a shutdown that waits for work in flight keeps
# systemd informed: STOPPING=1 with the count in flight, then
# EXTEND_TIMEOUT_USEC= about once a second with a STATUS= saying what it
# waits for, while it drains (drain.timeout_s) and retires; then exit 0.
#
# The work in flight is a "dialogue" task sent over a private broker by
# tests/support/loadpeer, held by a fake LLM back end (tests/support/
# llmserver) that answers only after a minute; tests/support/sdnotify plays
# systemd's notify socket.
. "$(dirname "$0")/lib.sh"

SDNOTIFY=$TOP/tests/support/sdnotify
BROKER=$TOP/tests/support/broker
LLMSERVER=$TOP/tests/support/llmserver
LOADPEER=$TOP/tests/support/loadpeer
NOTIFY_SOCK=$T/notify.sock
NOTIFY_LOG=$T/notify.log
AI_ID=did:hsp:shutdown-test

for prog in "$LLMSERVER" "$LOADPEER"; do
	[[ -x $prog ]] || fatal "$prog is not built (make check-build)"
done

# The messages logged so far, watchdog pings left out, without the time.
messages() {
	cut -d' ' -f2- "$NOTIFY_LOG" | grep -v '^WATCHDOG=1$'
}

port=$("$BROKER" start --no-persistence "$T/broker") ||
	fatal "cannot start the test broker"
HELPER_PIDS+=("$(cat "$T/broker/mosquitto.pid")")
start_helper "$LLMSERVER" --port-file "$T/llm.port" --delay-ms 60000 \
    --model model-A >/dev/null 2>"$T/llm.log"
wait_until 10 test -s "$T/llm.port" || fatal "llmserver did not start"
start_helper "$PYTHON" -E -S "$SDNOTIFY" notify "$NOTIFY_SOCK" "$NOTIFY_LOG"
wait_until 5 test -S "$NOTIFY_SOCK" || fatal "sdnotify did not bind $NOTIFY_SOCK"

write_config '"mode": "0600"' "\"ai_id\": \"$AI_ID\",
  \"drain\": { \"timeout_s\": 4 },
  \"hsp\": { \"broker\": { \"host\": \"127.0.0.1\", \"port\": $port } },
  \"llm\": { \"backends\": [ { \"name\": \"A\", \"provider\": \"openai\",
      \"base_url\": \"http://127.0.0.1:$(cat "$T/llm.port")/v1\",
      \"model\": \"model-A\" } ], \"fallback\": [\"A\"] }"
LOGS+=("$LOG")
NOTIFY_SOCKET=$NOTIFY_SOCK "$HOTRELOADD" -v -c "$CONFIG" 2>>"$LOG" &
DAEMON_PID=$!
DAEMON_PIDS+=("$DAEMON_PID")
wait_ready "$DAEMON_PID" "$SOCKET" "$LOG"
assert_eventually "READY=1" 10 grep -q ' READY=1' "$NOTIFY_LOG"
assert_eventually "the HSP connector is connected" 10 \
    eval 'ctl -j status | grep -q "\"connected\": true"'

# One dialogue request, held by the back end.
start_helper "$LOADPEER" -p "$port" --target "$AI_ID" --id did:hsp:peer \
    -n 1 --capability-name dialogue --params '{"text":"hold on"}' --wait 30 \
    >"$T/loadpeer.out" 2>&1
assert_eventually "the request is in flight" 10 status_at_least in_flight 1

kill -TERM "$DAEMON_PID"
assert_daemon_exits SIGTERM 20

after=$(messages | sed -n '/^STOPPING=1/,$p')
assert_match '^STOPPING=1\|STATUS=stopping: [1-9][0-9]* in flight$' \
    "$(printf '%s\n' "$after" | sed -n 1p)" \
    "STOPPING=1 first, with the work in flight"
CHECKS=$((CHECKS + 1))
n=$(printf '%s\n' "$after" |
    grep -c '^EXTEND_TIMEOUT_USEC=5000000|STATUS=stopping: draining, [1-9][0-9]* in flight$')
if ((n >= 2)); then
	pass "EXTEND_TIMEOUT_USEC= while draining, about once a second ($n)"
else
	fail "EXTEND_TIMEOUT_USEC= while draining, about once a second" \
	    "$n of them in:" "$after"
fi
assert_not_contains "READY=1" "$after" "no READY=1 after STOPPING=1"
assert_log "still in flight after 4 s (drain.timeout_s)" \
    "the log says the drain ran out"

test_done
