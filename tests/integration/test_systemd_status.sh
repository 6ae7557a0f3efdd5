#!/bin/bash
#
# test_systemd_status.sh -- the STATUS= line follows the work in flight, as
# hotreloadd(8) says ("whenever what it shows changes"; issue 16): with
# dialogue requests held by a slow back end, systemd hears their count
# within about a second, and "0 in flight" once they are answered; under a
# stream of requests the lines come at most once a second, and the last
# one says 0 (requests that start and end in one loop turn send nothing).
# A failed reload stays in the line while the count changes.
#
# tests/support/sdnotify plays systemd's notify socket, as in
# test_systemd_notify.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

SDNOTIFY=$TOP/tests/support/sdnotify
NOTIFY_SOCK=$T/notify.sock
NOTIFY_LOG=$T/notify.log
HELD=4
DELAY_MS=$((2500 * SLOWDOWN))

# The STATUS= lines logged after the first $1 lines: "USEC LINE".
status_lines_since() {
	tail -n +"$(($1 + 1))" "$NOTIFY_LOG" |
	    sed -n 's/^\([0-9]*\) \(.*|\)\{0,1\}STATUS=\([^|]*\).*/\1 \3/p'
}

# The last STATUS= line is $1.
last_status_is() {
	[[ $(status_lines_since 0 | tail -n 1 | cut -d' ' -f2-) == "$1" ]]
}

# Some STATUS= line after the first $1 lines is $2.
status_since_is() {
	status_lines_since "$1" | cut -d' ' -f2- | grep -qxF -- "$2"
}

start_helper "$PYTHON" -E -S "$SDNOTIFY" notify "$NOTIFY_SOCK" "$NOTIFY_LOG"
wait_until 5 test -S "$NOTIFY_SOCK" || fatal "sdnotify did not bind $NOTIFY_SOCK"

llm_setup
llm_server_start A
llm_config "\"backends\": [$(llm_backend A openai A)]"
NOTIFY_SOCKET=$NOTIFY_SOCK llm_start_daemon
IDLE="running: hsp gen 1, llm gen 1, 0 in flight"
assert_eventually "start: STATUS=$IDLE" 5 last_status_is "$IDLE"

# Requests held by the back end: their count reaches systemd.
mark=$(wc -l <"$NOTIFY_LOG")
llm_control A "{\"delay_ms\": $DELAY_MS}"
llm_load_bg "$T/held.json" peer-held "$HELD" '{"text":"slow"}'
HELD_PID=$HELPER_PID
assert_eventually "the back end holds $HELD requests" 10 \
    llm_counter_at_least A delayed "$HELD"
n=$(status_field in_flight)
assert_ge "$HELD" "$n" "status: at least $HELD in flight"
assert_eventually "STATUS= says $n in flight within 2 s" 2 \
    last_status_is "running: hsp gen 1, llm gen 1, $n in flight"
llm_load_wait "$HELD_PID" "$T/held.json"
assert_json answered "$HELD" "the $HELD held requests are answered"
assert_eventually "then STATUS= says 0 in flight again" 3 last_status_is "$IDLE"

# A stream of requests for about 2 s, each held 150 ms: the count changes
# all the time, the lines come at most once a second, the last says 0.
llm_control A '{"delay_ms": 150}'
mark=$(wc -l <"$NOTIFY_LOG")
llm_load peer-stream 200 '{"text":"quick"}' --rate 100
assert_json answered 200 "200 requests in a stream are answered"
assert_eventually "after the stream: STATUS= says 0 in flight" 3 last_status_is "$IDLE"
mapfile -t times < <(status_lines_since "$mark" | cut -d' ' -f1)
assert_ge 2 "${#times[@]}" "the stream changes the STATUS= line"
gap=1000000
for ((i = 1; i < ${#times[@]}; i++)); do
	((times[i] - times[i - 1] < gap)) && gap=$((times[i] - times[i - 1]))
done
# sdnotify stamps arrival: a line may arrive a little late, the next on time.
assert_ge 900 $((gap / 1000)) "STATUS= lines at least a second apart" ms

# After a failed reload, the line keeps the failure while the count changes.
printf '{ "control": { "sockte": 1 } }\n' >"$CONFIG"
run ctl reload
assert_rc 1 "a reload of a broken file fails"
llm_config "\"backends\": [$(llm_backend A openai A)]"
mark=$(wc -l <"$NOTIFY_LOG")
llm_control A "{\"delay_ms\": $DELAY_MS}"
llm_load_bg "$T/held2.json" peer-held2 1 '{"text":"slow"}'
HELD_PID=$HELPER_PID
assert_eventually "the back end holds a request" 10 llm_counter_at_least A delayed 1
n=$(status_field in_flight)
failed_status() {
	status_lines_since "$mark" | tail -n 1 | grep -qE \
	    "^[0-9]+ reload failed: .*control\.sockte.* \(running: hsp gen 1, llm gen 1, $n in flight\)\$"
}
assert_eventually "STATUS= keeps the failure, with $n in flight" 2 failed_status
llm_load_wait "$HELD_PID" "$T/held2.json"
assert_json answered 1 "the held request is answered"

test_done
