#!/bin/bash
#
# test_systemd_notify.sh -- what systemd hears over NOTIFY_SOCKET: READY=1
# with a STATUS= line once the control socket answers; RELOADING=1 with
# MONOTONIC_USEC= then READY=1 around SIGHUP, "hotreloadctl reload" and
# reload-hsp; READY=1 with the failure in STATUS= after a failed reload
# (a bad file, an unreachable broker); STATUS= on drain and resume;
# WATCHDOG=1 at half of WATCHDOG_USEC, and none when WATCHDOG_PID is another
# process; STOPPING=1 on SIGTERM, and exit 0.
#
# tests/support/sdnotify plays systemd: a datagram socket in the temp dir
# that logs every message with the CLOCK_MONOTONIC time it arrived.
. "$(dirname "$0")/lib.sh"

SDNOTIFY=$TOP/tests/support/sdnotify
NOTIFY_SOCK=$T/notify.sock
NOTIFY_LOG=$T/notify.log

# The HSP connector reports its first start at once and connects in the
# background, so READY=1 comes even though nothing listens on port 1; a
# reload-hsp fails within connect_timeout_s.
write_hsp_config() {
	write_config "$1" '"ai_id": "did:hsp:notify-test",
  "drain": { "timeout_s": 5 },
  "hsp": { "broker": { "host": "127.0.0.1", "port": 1 },
           "connect_timeout_s": 1 }'
}

# Lines logged so far.
notify_count() {
	wc -l <"$NOTIFY_LOG"
}

# The messages after the first $1 lines, watchdog pings left out, one a
# line, without the arrival time.
messages_since() {
	tail -n +"$(($1 + 1))" "$NOTIFY_LOG" | cut -d' ' -f2- |
	    grep -v '^WATCHDOG=1$'
}

# Some message after the first $1 lines matches the regular expression $2.
message_since() {
	messages_since "$1" | grep -qE -- "$2"
}

# WATCHDOG=1 pings logged so far.
watchdog_count() {
	grep -c ' WATCHDOG=1$' "$NOTIFY_LOG"
}

# At least $1 pings have been logged.
watchdog_at_least() {
	(($(watchdog_count) >= $1))
}

# Start hotreloadd with NOTIFY_SOCKET and WATCHDOG_USEC (and WATCHDOG_PID
# set to the daemon's own pid, or to $1 when given).  The shell execs the
# daemon, so $! is the daemon's pid.
start_notified() {
	[[ " ${LOGS[*]} " == *" $LOG "* ]] || LOGS+=("$LOG")
	NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=400000 WD_PID=${1-} \
	    sh -c 'WATCHDOG_PID=${WD_PID:-$$}; export WATCHDOG_PID
	        unset WD_PID; exec "$@"' sh "$HOTRELOADD" -v -c "$CONFIG" \
	    2>>"$LOG" &
	DAEMON_PID=$!
	DAEMON_PIDS+=("$DAEMON_PID")
}

# Run CMD... (a reload) and check that systemd hears exactly RELOADING=1
# with a plausible MONOTONIC_USEC=, then READY=1 whose STATUS= matches the
# regular expression STATUS_RE.  DESC names the case.
check_reload() {
	local desc=$1 status_re=$2 mark line recv mono
	shift 2
	mark=$(notify_count)
	"$@"
	assert_eventually "$desc: READY=1 follows" 10 \
	    message_since "$mark" '^READY=1'
	assert_eq 2 "$(messages_since "$mark" | wc -l)" \
	    "$desc: two messages, RELOADING=1 and READY=1"
	assert_match '^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=reloading$' \
	    "$(messages_since "$mark" | sed -n 1p)" \
	    "$desc: RELOADING=1 with MONOTONIC_USEC= first"
	assert_match "^READY=1\\|STATUS=($status_re)\$" \
	    "$(messages_since "$mark" | sed -n 2p)" \
	    "$desc: then READY=1 with the status line"
	# MONOTONIC_USEC= is the daemon's CLOCK_MONOTONIC: within 2 s of when
	# the message arrived.
	line=$(tail -n +"$((mark + 1))" "$NOTIFY_LOG" | grep -m1 ' RELOADING=1')
	recv=${line%% *}
	mono=${line#*MONOTONIC_USEC=}
	mono=${mono%%|*}
	CHECKS=$((CHECKS + 1))
	if [[ $recv =~ ^[0-9]+$ && $mono =~ ^[0-9]+$ ]] &&
	    ((mono <= recv && recv - mono < 2000000)); then
		pass "$desc: MONOTONIC_USEC= is the time of the reload"
	else
		fail "$desc: MONOTONIC_USEC= is the time of the reload" \
		    "received at $recv: $line"
	fi
}

start_helper "$PYTHON" -E -S "$SDNOTIFY" notify "$NOTIFY_SOCK" "$NOTIFY_LOG"
wait_until 5 test -S "$NOTIFY_SOCK" ||
	fatal "sdnotify did not bind $NOTIFY_SOCK"

write_hsp_config '"mode": "0600"'
start_notified

# Start: READY=1 once the socket answers, with the status line.
assert_eventually "start: READY=1 within 10 s" 10 message_since 0 '^READY=1'
run ctl status
assert_rc 0 "start: the control socket answers once READY=1 has come"
assert_eq "READY=1|STATUS=running: hsp gen 1, 0 in flight" \
    "$(messages_since 0 | sed -n 1p)" \
    "start: the first message is READY=1 with the status line"
assert_eq 1 "$(messages_since 0 | wc -l)" "start: nothing else but pings"

# Watchdog: WATCHDOG_USEC=400000 means a ping every 200 ms.
assert_log "watchdog: pinging systemd every 0.200 s" \
    "the log says the watchdog pings every 0.200 s"
pings=$(watchdog_count)
assert_eventually "watchdog: two more WATCHDOG=1 within 2 s" 2 \
    watchdog_at_least "$((pings + 2))"
assert_eventually "watchdog: it keeps pinging (two more again)" 2 \
    watchdog_at_least "$((pings + 4))"

# SIGHUP and hotreloadctl reload: RELOADING=1, then READY=1.
check_reload "SIGHUP" "running: hsp gen 1, 0 in flight" \
    kill -HUP "$DAEMON_PID"
check_reload "hotreloadctl reload" "running: hsp gen 1, 0 in flight" \
    run ctl reload
assert_rc 0 "hotreloadctl reload exits 0"

# A bad file: the reload fails, READY=1 still comes, STATUS= says why.
write_hsp_config '"mode": "0600", "queue_depht": 2'
check_reload "reload of a bad file" \
    "reload failed: $CONFIG:[0-9]+:[0-9]+: control\\.queue_depht: unknown key.* \\(running: hsp gen 1, 0 in flight\\)" \
    run ctl reload
assert_rc 1 "reload of a bad file exits 1"
write_hsp_config '"mode": "0600"'

# SIGHUP with a bad file: the same, though nobody waits for the reply.
write_hsp_config '"mode": "0600", "queue_depht": 2'
check_reload "SIGHUP with a bad file" \
    "reload failed: .*queue_depht.*" kill -HUP "$DAEMON_PID"
write_hsp_config '"mode": "0600"'

# reload-hsp to a broker that is not there: fails after connect_timeout_s.
check_reload "failed reload-hsp" \
    "reload failed: hsp: .*generation unchanged \\(running: hsp gen 1, 0 in flight\\)" \
    run ctl reload-hsp
assert_rc 1 "reload-hsp without a broker exits 1"

# Drain and resume change the status line.
mark=$(notify_count)
run ctl drain
assert_rc 0 "drain exits 0"
assert_eventually "drain: STATUS= follows" 5 message_since "$mark" '^STATUS='
assert_eq "STATUS=draining: 0 in flight (hsp gen 1)" \
    "$(messages_since "$mark")" "drain: STATUS=draining, and nothing else"
mark=$(notify_count)
run ctl resume
assert_rc 0 "resume exits 0"
assert_eventually "resume: STATUS= follows" 5 message_since "$mark" '^STATUS='
assert_eq "STATUS=running: hsp gen 1, 0 in flight" \
    "$(messages_since "$mark")" "resume: STATUS=running, and nothing else"

# SIGTERM: STOPPING=1, exit 0, no READY=1 after it.
mark=$(notify_count)
kill -TERM "$DAEMON_PID"
assert_daemon_exits SIGTERM 10
assert_match '^STOPPING=1\|STATUS=stopping: 0 in flight$' \
    "$(messages_since "$mark" | sed -n 1p)" "SIGTERM: STOPPING=1 first"
assert_not_contains "READY=1" "$(messages_since "$mark")" \
    "SIGTERM: no READY=1 after STOPPING=1"

# WATCHDOG_PID names another process: the watchdog is not for us.
: >"$NOTIFY_LOG"
: >"$LOG"
start_notified $$
assert_eventually "foreign WATCHDOG_PID: READY=1 within 10 s" 10 \
    message_since 0 '^READY=1'
run ctl reload
assert_rc 0 "foreign WATCHDOG_PID: reload exits 0"
assert_eq 0 "$(watchdog_count)" "foreign WATCHDOG_PID: no WATCHDOG=1"
CHECKS=$((CHECKS + 1))
if grep -q 'watchdog:' "$LOG"; then
	fail "foreign WATCHDOG_PID: no watchdog in the log" \
	    "$(grep 'watchdog:' "$LOG")"
else
	pass "foreign WATCHDOG_PID: no watchdog in the log"
fi
kill -TERM "$DAEMON_PID"
wait_exit "$DAEMON_PID" 10
assert_eq 0 "$EXIT_STATUS" "foreign WATCHDOG_PID: SIGTERM, exit status 0"

test_done
