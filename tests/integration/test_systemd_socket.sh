#!/bin/bash
#
# test_systemd_socket.sh -- socket activation, with systemd-socket-activate:
# the daemon serves hotreloadctl on the socket it was passed (and binds
# nothing at control.socket), logs where the socket came from, leaves the
# socket's mode alone on reload, and does not remove it when it exits.
# Two sockets, or a socket that is not a listening Unix stream socket, are
# refused at start with a clear error.
. "$(dirname "$0")/lib.sh"

ACTIVATE=$(command -v systemd-socket-activate) ||
	fatal "systemd-socket-activate is missing (scripts/install-deps installs it)"
ACT_SOCK=$T/activated.sock

# Start "systemd-socket-activate -l PATH... hotreloadd -v -c CONFIG"; it
# execs the daemon at the first connection, so $! is the daemon's pid.
start_activated() {
	local listen=() path
	for path in "$@"; do
		listen+=(-l "$path")
	done
	[[ " ${LOGS[*]} " == *" $LOG "* ]] || LOGS+=("$LOG")
	"$ACTIVATE" "${listen[@]}" "$HOTRELOADD" -v -c "$CONFIG" 2>>"$LOG" &
	DAEMON_PID=$!
	DAEMON_PIDS+=("$DAEMON_PID")
	wait_until 5 test -S "$1" ||
		fatal "systemd-socket-activate did not listen on $1"
}

# The configuration names SOCKET, which must stay unused.
write_config '"mode": "0600"' '"drain": { "timeout_s": 5 }'
start_activated "$ACT_SOCK"
chmod 0640 "$ACT_SOCK"

# The first connection starts the daemon, which answers on that socket.
run ctl -s "$ACT_SOCK" -j status
assert_rc 0 "status on the activated socket exits 0"
assert_json pid "$DAEMON_PID" "the daemon answers (systemd-socket-activate exec'd it)"
assert_log "listening on $ACT_SOCK (socket from systemd)" \
    "the log says the socket came from systemd"
assert_log "control.socket is $SOCKET but systemd passed $ACT_SOCK" \
    "the log warns that control.socket names another path"
assert_absent "$SOCKET" "nothing is bound at control.socket"

# State changes work over it; a reload leaves the socket's mode alone.
write_config '"mode": "0666"' '"drain": { "timeout_s": 5 }'
run ctl -s "$ACT_SOCK" reload
assert_rc 0 "reload on the activated socket exits 0"
assert_eq 640 "$(stat -c %a "$ACT_SOCK")" \
    "a reload with another control.mode leaves the activated socket's mode"
run ctl -s "$ACT_SOCK" drain
assert_rc 0 "drain on the activated socket exits 0"
run ctl -s "$ACT_SOCK" resume
assert_rc 0 "resume on the activated socket exits 0"

# SIGTERM: exit 0, and the socket stays (it is systemd's).
inode=$(stat -c %i "$ACT_SOCK")
kill -TERM "$DAEMON_PID"
assert_daemon_exits "SIGTERM (socket-activated)" 10
CHECKS=$((CHECKS + 1))
if [[ -S $ACT_SOCK && $(stat -c %i "$ACT_SOCK") == "$inode" ]]; then
	pass "SIGTERM: the activated socket is not removed"
else
	fail "SIGTERM: the activated socket is not removed" \
	    "$(ls -l "$ACT_SOCK" 2>&1)"
fi
rm -f "$ACT_SOCK"

# Two sockets: refused at start, exit 1, with a clear error.
: >"$LOG"
start_activated "$ACT_SOCK" "$T/second.sock"
run ctl -s "$ACT_SOCK" -t 5 status
assert_daemon_exits "two sockets" 10 1
assert_log "systemd passed 2 sockets; hotreloadd takes exactly one" \
    "two sockets: the log says why"
rm -f "$ACT_SOCK" "$T/second.sock"

# A datagram socket: not a listening stream socket, refused.
: >"$LOG"
[[ " ${LOGS[*]} " == *" $LOG "* ]] || LOGS+=("$LOG")
"$ACTIVATE" --datagram -l "$ACT_SOCK" "$HOTRELOADD" -v -c "$CONFIG" \
    2>>"$LOG" &
DAEMON_PID=$!
DAEMON_PIDS+=("$DAEMON_PID")
wait_until 5 test -S "$ACT_SOCK" ||
	fatal "systemd-socket-activate did not listen on $ACT_SOCK"
"$PYTHON" -E -S -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"hello", sys.argv[1])
' "$ACT_SOCK" || fatal "cannot send a datagram to $ACT_SOCK"
assert_daemon_exits "a datagram socket" 10 1
assert_log "is not a listening Unix stream socket" \
    "a datagram socket: the log says why"

test_done
