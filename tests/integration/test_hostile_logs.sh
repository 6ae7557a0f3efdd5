#!/bin/bash
#
# test_hostile_logs.sh -- a peer cannot forge log lines (DESIGN.md section
# 7.7, "Logs").  Under journald (JOURNAL_STREAM names stderr) every line the
# daemon writes starts with "<N>", its priority; a newline in peer text
# quoted by a log line used to start a line of the peer's own, "<0>" and
# all.  Through the real broker, a peer sends
#  - a message whose message_type has "\n<0>FORGED..." , CR, ESC and the C1
#    control U+009B in it (logged as malformed, the type quoted), on an
#    allowed topic, hsp/knowledge/facts/x;
#  - a TaskRequest whose callback_address has "\n<0>FORGED..." in it (the
#    publish to it fails, and the topic used to be logged as it was).
# Every line of the daemon's stderr must then start with "<N>", no line at
# priority 0 exists, "FORGED" appears only escaped (\n<0>FORGED) inside a
# line, and no raw ESC or C1 byte is in the log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

command -v mosquitto_pub >/dev/null ||
	fatal "mosquitto_pub is missing (package mosquitto-clients)"

# Publish the JSON text PAYLOAD on TOPIC through the test's broker.
publish() {
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$1" -m "$2" ||
		fatal "mosquitto_pub to $1 failed"
}

broker_start
hsp_config

# The daemon under "journald": stderr is the log file, and JOURNAL_STREAM
# names its device and inode (as in test_systemd_journal).
: >"$LOG"
LOGS+=("$LOG")
stream=$(stat -c '%d:%i' "$LOG")
JOURNAL_STREAM=$stream "$HOTRELOADD" -v -c "$CONFIG" 2>>"$LOG" &
DAEMON_PID=$!
DAEMON_PIDS+=("$DAEMON_PID")
wait_ready "$DAEMON_PID" "$SOCKET" "$LOG"
wait_hsp_connected
assert_log "<6>hotreloadd 0.1.0 started" "stderr has journald priorities (<6> for info)"

# 1. A malformed message: the unknown message_type is quoted in the log.
#    The JSON escapes become a newline, CR, ESC and U+009B in the string.
publish hsp/knowledge/facts/x '{"message_id": "m-forge-1", "sender_ai_id": "did:hsp:forger", "message_type": "x\n<0>FORGED-TYPE\r<1>FORGED-CR\u001b[2J\u009b"}'
assert_log "unknown message_type" "the malformed message is logged"

# 2. A TaskRequest (echo) whose callback address has a newline in it.
publish "hsp/requests/$AI_ID" "{\"message_id\": \"m-forge-2\", \"sender_ai_id\": \"did:hsp:forger\", \"recipient_ai_id\": \"$AI_ID\", \"message_type\": \"HSP::TaskRequest_v0.1\", \"payload\": {\"request_id\": \"r-forge-2\", \"requester_ai_id\": \"did:hsp:forger\", \"capability_name_filter\": \"echo\", \"parameters\": {}, \"callback_address\": \"hsp/results/forger\\n<0>FORGED-CALLBACK\"}}"
# The request is done when its result is sent or its publish has failed.
task_done() {
	local json
	json=$(ctl -j status) || return 1
	(($(jfield services.hsp.results_sent "$json") + \
	    $(jfield services.hsp.publish_failed "$json") >= 1))
}
assert_eventually "the TaskRequest is answered or its publish fails" 10 task_done
run ctl -j status
note "TaskRequest: results_sent $(jfield services.hsp.results_sent), publish_failed $(jfield services.hsp.publish_failed)"
# One more message that is logged, so that whatever the request logged
# is in the file before it is read (the log is written in order).
publish hsp/knowledge/facts/x '{"message_id": "m-forge-3"}'
assert_log "sender_ai_id missing" "a later malformed message is logged after it"

log_text=$(cat "$LOG")
lines=$(wc -l <"$LOG")
forged=$(grep -c 'FORGED' "$LOG")
note "log: $lines lines, $forged with FORGED in them"
grep -F 'FORGED' "$LOG" | cut -c1-200 | while IFS= read -r line; do
	note "  $line"
done

# Every line starts with the daemon's own "<N>".
bad=$(grep -vE '^<[0-7]>' "$LOG" | head -n 5)
assert_eq "" "$bad" "every line of stderr starts with a priority <0>..<7>"
assert_eq 0 "$(grep -c '^<0>' "$LOG")" "no line at priority 0 (emerg)"
assert_eq 0 "$(grep -cE '^<[0-7]>FORGED' "$LOG")" "no line starts with the peer's text"
# FORGED only inside lines, escaped.
assert_eq 0 "$(grep -F 'FORGED' "$LOG" | grep -cvF '\n<0>FORGED')" \
    "every line with FORGED has it escaped (\\n<0>FORGED)"
assert_line '<4>hsp: ignoring a malformed message on hsp/knowledge/facts/x: unknown message_type "x\\n<0>FORGED-TYPE\\r<1>FORGED-CR\\x1b\[2J\\u009b" .*' \
    "$log_text" "the type is quoted escaped: \\n \\r \\x1b \\u009b"
assert_eq 0 "$(grep -c $'\x1b' "$LOG")" "no raw ESC in the log"
assert_eq 0 "$(grep -c $'\xc2\x9b' "$LOG")" "no raw C1 control (U+009B) in the log"
callback=$(grep -cF 'FORGED-CALLBACK' "$LOG")
note "lines that quote the callback address: $callback"

assert_daemon_alive "the daemon is still running"
stop_daemon "the daemon exits 0 on SIGTERM"
test_done
