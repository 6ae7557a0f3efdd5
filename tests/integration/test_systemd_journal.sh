#!/bin/bash
#
# test_systemd_journal.sh -- under journald (JOURNAL_STREAM names stderr):
# log lines carry "<N>" priorities, and every reload leaves a journal entry
# with HOTRELOAD_SERVICE=, HOTRELOAD_GENERATION=, HOTRELOAD_RESULT=,
# PRIORITY= and MESSAGE= (sd_journal_send): a "reload" (service "config"),
# a successful and a failed reload-hsp (service "hsp"), a bad file.
#
# sd_journal_send() writes to /run/systemd/journal/socket, a fixed path: the
# daemon runs in a private mount namespace (unshare -m, as root) where a
# directory of the test is mounted on /run/systemd, and tests/support/sdnotify
# plays journald on the socket there.  The host's /run/systemd is untouched.
. "$(dirname "$0")/lib.sh"

SDNOTIFY=$TOP/tests/support/sdnotify
BROKER=$TOP/tests/support/broker
RUN_SYSTEMD=$T/run-systemd
JOURNAL_LOG=$T/journal.log

# The journal entries with HOTRELOAD_SERVICE=$1, one JSON object a line.
entries() {
	grep -F "\"HOTRELOAD_SERVICE\": \"$1\"" "$JOURNAL_LOG"
}

# There are at least $2 entries for service $1.
entries_at_least() {
	(($(entries "$1" | wc -l) >= $2))
}

# Check the last entry for service $1: generation $2, result $3, priority
# $4, a MESSAGE= that contains $5.
check_entry() {
	local entry
	entry=$(entries "$1" | tail -n 1)
	assert_json HOTRELOAD_GENERATION "$2" "$1 entry: HOTRELOAD_GENERATION=$2" "$entry"
	assert_json HOTRELOAD_RESULT "$3" "$1 entry: HOTRELOAD_RESULT=$3" "$entry"
	assert_json PRIORITY "$4" "$1 entry: PRIORITY=$4" "$entry"
	assert_json SYSLOG_IDENTIFIER hotreloadd "$1 entry: SYSLOG_IDENTIFIER=hotreloadd" "$entry"
	assert_contains "$5" "$(jfield MESSAGE "$entry")" "$1 entry: MESSAGE= says \"$5\""
}

command -v unshare >/dev/null || fatal "unshare is missing (util-linux)"
unshare -m true ||
	fatal "unshare -m is not permitted: this test needs root and mount namespaces"

port=$("$BROKER" start --no-persistence "$T/broker") ||
	fatal "cannot start the test broker"
HELPER_PIDS+=("$(cat "$T/broker/mosquitto.pid")")

write_journal_config() {
	write_config '"mode": "0600"' "\"ai_id\": \"did:hsp:journal-test\",
  \"drain\": { \"timeout_s\": 5 },
  \"hsp\": { \"broker\": { \"host\": \"127.0.0.1\", \"port\": $1 },
           \"connect_timeout_s\": 2 }"
}

mkdir -p "$RUN_SYSTEMD/journal"
start_helper "$PYTHON" -E -S "$SDNOTIFY" journal \
    "$RUN_SYSTEMD/journal/socket" "$JOURNAL_LOG"
wait_until 5 test -S "$RUN_SYSTEMD/journal/socket" ||
	fatal "sdnotify did not bind $RUN_SYSTEMD/journal/socket"

# stderr is the log file: JOURNAL_STREAM names its device and inode.
write_journal_config "$port"
: >"$LOG"
LOGS+=("$LOG")
stream=$(stat -c '%d:%i' "$LOG")
# shellcheck disable=SC2016  # the inner shell expands them
JOURNAL_STREAM=$stream unshare -m sh -c \
    'mount --bind "$1" /run/systemd && shift && exec "$@"' sh \
    "$RUN_SYSTEMD" "$HOTRELOADD" -v -c "$CONFIG" 2>>"$LOG" &
DAEMON_PID=$!
DAEMON_PIDS+=("$DAEMON_PID")
wait_ready "$DAEMON_PID" "$SOCKET" "$LOG"

# Priorities on stderr.
assert_log "<6>hotreloadd 0.1.0 started" "stderr: an info line starts with <6>"
CHECKS=$((CHECKS + 1))
if grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$LOG"; then
	fail "stderr: no timestamps under journald" "$(head -n 5 "$LOG")"
else
	pass "stderr: no timestamps under journald"
fi

# reload with nothing changed: a "config" entry, generation 2.
run ctl reload
assert_rc 0 "reload exits 0"
assert_eventually "reload: a config entry" 5 entries_at_least config 1
check_entry config 2 ok 6 "configuration reloaded"

# reload-hsp: a new connector, generation 2.
run ctl reload-hsp
assert_rc 0 "reload-hsp exits 0"
assert_eventually "reload-hsp: an hsp entry" 5 entries_at_least hsp 1
check_entry hsp 2 ok 6 "hsp reloaded: generation 2"

# reload-hsp to a port nobody listens on: failed, generation 2 stays.
write_journal_config 1
run ctl reload-hsp
assert_rc 1 "reload-hsp to port 1 exits 1"
assert_eventually "failed reload-hsp: a second hsp entry" 5 entries_at_least hsp 2
check_entry hsp 2 failed 4 "hsp reload failed: "

# A bad file: a failed config entry, the configuration's generation stays.
write_config '"mode": "0600", "queue_depht": 1'
run ctl reload
assert_rc 1 "reload of a bad file exits 1"
assert_eventually "bad file: a second config entry" 5 entries_at_least config 2
check_entry config 2 failed 4 "queue_depht"

kill -TERM "$DAEMON_PID"
wait_exit "$DAEMON_PID" 10
assert_eq 0 "$EXIT_STATUS" "SIGTERM: exit status 0"

test_done
