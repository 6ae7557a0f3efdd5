# shellcheck shell=bash
#
# lib.sh -- what every tests/integration/test_*.sh sources.
#
# Gives a test a private temp dir (reachable by "nobody", so a socket in it
# can be tried by an unprivileged client), a way to write configurations,
# start the real hotreloadd in the background and wait until it answers,
# wrappers for hotreloadctl (ctl) and the raw client (raw), and assertions
# that print what was expected, what came, and the end of the daemon's log.
# An EXIT trap stops the daemons and helpers the test started, removes the
# temp dir and turns the count of failed checks into the exit status.
#
# A test calls test_done as its last line: a test that stops before it (a
# fatal error, an unset variable) fails even if no check did.

set -u -o pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
HOTRELOADD=$TOP/hotreloadd
HOTRELOADCTL=$TOP/hotreloadctl
JGET=$TOP/tests/support/jget
CTLRAW=$TOP/tests/support/ctlraw
TEST_NAME=$(basename "$0" .sh)

# The system python3 (a version manager's shim in PATH can take most of a
# second to start, and the tests start it often).
if [[ -z ${PYTHON-} ]]; then
	if [[ -x /usr/bin/python3 ]]; then
		PYTHON=/usr/bin/python3
	else
		PYTHON=$(command -v python3) || PYTHON=python3
	fi
fi

# Seconds any single client command may take before the test calls it hung.
CMD_TIMEOUT=20
# Seconds a daemon may take to answer after it is started (more under
# HOTRELOADD_WRAPPER, below: valgrind takes seconds to start).
READY_TIMEOUT=10
# HOTRELOAD_TEST_SLOWDOWN: how many times slower than a normal build the
# programs run (make check-asan sets it).  A test whose load must outlast
# an operation (a stream during a rolling reload, requests held during a
# reload) multiplies its length by it; no test asserts on speed.
SLOWDOWN=${HOTRELOAD_TEST_SLOWDOWN:-1}
[[ $SLOWDOWN =~ ^[1-9][0-9]*$ ]] || SLOWDOWN=1
# HOTRELOADD_WRAPPER: a command line (split on blanks) that start_daemon
# runs the daemon under, e.g. "valgrind --error-exitcode=87"; make
# check-valgrind sets it.  The wrapper must exec the daemon in its own
# process (valgrind does), so that signals and the exit status are the
# daemon's.
read -r -a DAEMON_WRAPPER <<<"${HOTRELOADD_WRAPPER-}"
((${#DAEMON_WRAPPER[@]} > 0)) && READY_TIMEOUT=60

# Nothing from the caller's environment may steer the daemon or the client.
unset HOTRELOAD_SOCKET JOURNAL_STREAM NOTIFY_SOCKET LISTEN_FDS LISTEN_PID \
    LISTEN_FDNAMES WATCHDOG_USEC WATCHDOG_PID

FAILURES=0
CHECKS=0
COMPLETED=0
DAEMON_PID=
DAEMON_PIDS=()
HELPER_PIDS=()
LOGS=()
RC=0
OUT=
ERR=
RUN_CMD=
EXIT_STATUS=

T=$(mktemp -d "${TMPDIR:-/tmp}/hotreload-$TEST_NAME.XXXXXX") || exit 1
chmod 0755 "$T"
SOCKET=$T/control.sock
CONFIG=$T/hotreloadd.conf
LOG=$T/hotreloadd.log

# Print a message on the test's output.
note() {
	printf '# %s\n' "$*"
}

# Print the last 30 lines of every daemon log of this test.
show_logs() {
	local log
	for log in "${LOGS[@]}"; do
		[[ -f $log ]] || continue
		printf '    --- last 30 lines of %s ---\n' "${log##*/}"
		tail -n 30 "$log" | sed 's/^/    | /'
	done
}

# Record a failed check: DESC, then lines of detail.
fail() {
	local desc=$1
	shift
	FAILURES=$((FAILURES + 1))
	printf 'not ok - %s\n' "$desc"
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/    /'
	done
	show_logs
}

# Record a passed check.
pass() {
	printf 'ok - %s\n' "$1"
}

# Stop the test at once (setup went wrong); the EXIT trap reports it.
fatal() {
	fail "FATAL: $*"
	exit 1
}

# EXIT trap: stop what we started, clean up, set the exit status.
cleanup() {
	local status=$? pid i
	set +e
	trap - EXIT
	for pid in "${HELPER_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${DAEMON_PIDS[@]}"; do
		kill -CONT "$pid" 2>/dev/null	# in case a test stopped it
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${DAEMON_PIDS[@]}"; do
		for ((i = 0; i < 200; i++)); do
			process_running "$pid" || break
			sleep 0.05
		done
		if process_running "$pid"; then
			FAILURES=$((FAILURES + 1))
			printf 'not ok - daemon %s stops on SIGTERM at the end\n' \
			    "$pid"
			show_logs
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			continue
		fi
		# A clean stop is part of every test: a crash or a sanitizer
		# report at exit shows here.
		wait "$pid" 2>/dev/null
		i=$?
		if ((i != 0)); then
			FAILURES=$((FAILURES + 1))
			printf 'not ok - daemon %s exits 0 on SIGTERM at the end (status %d)\n' \
			    "$pid" "$i"
			show_logs
		fi
	done
	if ((COMPLETED == 0)); then
		FAILURES=$((FAILURES + 1))
		printf 'not ok - %s stopped before its end (status %d)\n' \
		    "$TEST_NAME" "$status"
		show_logs
	fi
	rm -rf "$T"
	if ((FAILURES > 0)); then
		printf '# %s: %d of %d checks failed\n' "$TEST_NAME" \
		    "$FAILURES" "$CHECKS"
		exit 1
	fi
	printf '# %s: all %d checks passed\n' "$TEST_NAME" "$CHECKS"
	exit 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The last line of every test.
test_done() {
	COMPLETED=1
}

# Is PID a process that has not exited (a zombie has)?
process_running() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[[ -n $state && $state != Z && $state != X ]]
}

# Stop every daemon the test started the way a normal shutdown would
# (SIGTERM; stopped ones are continued first), waiting up to SEC seconds
# for each (default 5).
stop_daemons() {
	local sec=${1:-5} pid i
	for pid in "${DAEMON_PIDS[@]}"; do
		kill -CONT "$pid" 2>/dev/null
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${DAEMON_PIDS[@]}"; do
		for ((i = 0; i < sec * 20; i++)); do
			process_running "$pid" || break
			sleep 0.05
		done
	done
}

# Milliseconds on the wall clock.
now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	echo $((t / 1000))
}

# Poll CMD... every 50 ms until it succeeds or TIMEOUT seconds pass.
wait_until() {
	local timeout=$1 deadline
	shift
	deadline=$(($(now_ms) + timeout * 1000))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		(($(now_ms) >= deadline)) && return 1
		sleep 0.05
	done
}

# Run CMD...; its status, stdout and stderr go to RC, OUT and ERR.
run() {
	RUN_CMD=$*
	"$@" >"$T/run.out" 2>"$T/run.err"
	RC=$?
	OUT=$(cat "$T/run.out")
	ERR=$(cat "$T/run.err")
	return 0
}

# hotreloadctl on the test's socket (SOCKET).
ctl() {
	timeout -k 2 "$CMD_TIMEOUT" "$HOTRELOADCTL" -s "$SOCKET" "$@"
}

# The raw client on the test's socket.
raw() {
	timeout -k 2 "$CMD_TIMEOUT" "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" "$@"
}

# --- JSON: every lookup goes through tests/support/jget --------------------
# Values are in jget's form: strings bare, the rest compact JSON, and
# "<missing>" for a field that does not exist.

# Print field PATH (dotted) of the JSON in $2 (default: OUT), or DEFAULT
# ($3, default "<missing>") if it does not exist.
jfield() {
	printf '%s' "${2-$OUT}" | "$PYTHON" -E -S "$JGET" "$1" "${3-<missing>}"
}

# Print the fields PATH... of the JSON document JSON, one a line (a newline
# in a string as \n); one python for all of them, since a python start is
# what costs on a busy machine.
jfields() {
	local json=$1
	shift
	printf '%s' "$json" | "$PYTHON" -E -S "$JGET" -f "$@"
}

# Print the value of the Python expression EXPR on d, the JSON document in
# $2 (default: OUT): strings bare, the rest compact JSON with sorted keys.
# For what a path cannot say (a count, a search in an array).
jpy() {
	printf '%s' "${2-$OUT}" | "$PYTHON" -E -S "$JGET" -e "$1"
}

# Print field PATH of a fresh JSON status of the test's daemon.
status_field() {
	local json
	json=$(ctl -j status) || return 1
	jfield "$1" "$json"
}

# Succeeds when field PATH of a fresh status equals VALUE.
status_is() {
	[[ $(status_field "$1") == "$2" ]]
}

# Succeeds when field PATH of a fresh status is an integer at least MIN.
status_at_least() {
	local n
	n=$(status_field "$1") || return 1
	[[ $n =~ ^[0-9]+$ ]] && ((n >= $2))
}

# Line N (1-based) of TEXT.
line_of() {
	printf '%s\n' "$2" | sed -n "${1}p"
}

# The last command's details, for failure messages.
run_details() {
	printf 'command: %s\nexit status: %s\nstdout: %s\nstderr: %s' \
	    "$RUN_CMD" "$RC" "$OUT" "$ERR"
}

# One check: STATUS is the exit status of its condition (0: it held); on
# failure the DETAIL lines are printed under DESC.  Every assert_* below
# is a condition and a call of this.
verdict() {
	local status=$1 desc=$2
	shift 2
	CHECKS=$((CHECKS + 1))
	if ((status == 0)); then
		pass "$desc"
	else
		fail "$desc" "$@"
	fi
}

# The last run's exit status (RC) is EXPECTED.
assert_rc() {
	[[ $RC == "$1" ]]
	verdict $? "$2" "expected exit status: $1" "$(run_details)"
}

# ACTUAL equals EXPECTED:  assert_eq EXPECTED ACTUAL DESC
assert_eq() {
	[[ $2 == "$1" ]]
	verdict $? "$3" "expected: $1" "actual:   $2"
}

# TEXT matches the extended regular expression RE:  assert_match RE TEXT DESC
assert_match() {
	[[ $2 =~ $1 ]]
	verdict $? "$3" "expected to match: $1" "actual: $2"
}

# Some line of TEXT matches the extended regular expression RE as a whole.
assert_line() {
	# A here-string, not a pipe: grep -q stops at the first match, and
	# with pipefail a writer that then got SIGPIPE would fail the check.
	grep -qE -- "^($1)\$" <<<"$2"
	verdict $? "$3" "expected a line matching: ^($1)\$" "actual: $2"
}

# TEXT contains the fixed string NEEDLE:  assert_contains NEEDLE TEXT DESC
assert_contains() {
	[[ $2 == *"$1"* ]]
	verdict $? "$3" "expected to contain: $1" "actual: $2"
}

# TEXT does not contain the fixed string NEEDLE.
assert_not_contains() {
	[[ $2 != *"$1"* ]]
	verdict $? "$3" "expected not to contain: $1" "actual: $2"
}

# Field PATH of the JSON in $4 (default: OUT) equals EXPECTED (jget form:
# strings bare, the rest as compact JSON).
assert_json() {
	local path=$1 expected=$2 json=${4-$OUT} actual
	actual=$(jfield "$path" "$json")
	[[ $actual == "$expected" ]]
	verdict $? "$3" "field $path: expected: $expected" \
	    "field $path: actual:   $actual" "in: ${json:0:2000}"
}

# Check fields of the JSON document JSON with one parse: each PATH EXPECTED
# pair that follows is one check, described as "DESC: PATH = EXPECTED".
#   assert_fields "status" "$OUT" services.hsp.state running draining false
assert_fields() {
	local desc=$1 json=$2 i
	local -a paths=() wanted=() got=()
	shift 2
	while (($# >= 2)); do
		paths+=("$1")
		wanted+=("$2")
		shift 2
	done
	mapfile -t got < <(jfields "$json" "${paths[@]}")
	for i in "${!paths[@]}"; do
		[[ ${got[i]-} == "${wanted[i]}" ]]
		verdict $? "$desc: ${paths[i]} = ${wanted[i]}" \
		    "actual: ${got[i]-<no output>}" "in: ${json:0:2000}"
	done
}

# CMD... succeeds (run once, now):  assert_true DESC CMD...
assert_true() {
	local desc=$1
	shift
	"$@"
	verdict $? "$desc" "false: $*"
}

# CMD... fails (run once, now):  assert_false DESC CMD...
assert_false() {
	local desc=$1
	shift
	! "$@"
	verdict $? "$desc" "true: $*"
}

# ACTUAL is an integer and ACTUAL OP BOUND holds (OP: >=, <=, <, >); the
# pass line shows ACTUAL, followed by UNIT if given (ms, kB).  Used
# through assert_ge, assert_le, assert_lt and assert_gt.
assert_compare() {
	local op=$1 bound=$2 value=$3 desc=$4 unit=${5:+ $5} holds=1
	if [[ $value =~ ^-?[0-9]+$ ]]; then
		case $op in
		'>=') ((value >= bound)) ;;
		'<=') ((value <= bound)) ;;
		'<') ((value < bound)) ;;
		'>') ((value > bound)) ;;
		esac
		holds=$?
	fi
	verdict $holds "$desc ($value$unit)" "expected: $op $bound$unit" \
	    "actual:   $value$unit"
}

# ACTUAL is an integer at least MIN:  assert_ge MIN ACTUAL DESC [UNIT]
assert_ge() {
	assert_compare '>=' "$@"
}

# ACTUAL is an integer at most MAX:  assert_le MAX ACTUAL DESC [UNIT]
assert_le() {
	assert_compare '<=' "$@"
}

# ACTUAL is an integer less than LIMIT:  assert_lt LIMIT ACTUAL DESC [UNIT]
assert_lt() {
	assert_compare '<' "$@"
}

# ACTUAL is an integer greater than LIMIT:  assert_gt LIMIT ACTUAL DESC [UNIT]
assert_gt() {
	assert_compare '>' "$@"
}

# Nothing exists at PATH (a socket that must be gone or never made).
assert_absent() {
	[[ ! -e $1 && ! -L $1 ]]
	verdict $? "$2" "$(ls -ld "$1" 2>&1)"
}

# CMD... succeeds within TIMEOUT seconds (polled):
#   assert_eventually DESC TIMEOUT CMD...
assert_eventually() {
	local desc=$1 timeout=$2
	shift 2
	wait_until "$timeout" "$@"
	verdict $? "$desc" "still false after $timeout s: $*"
}

# The log FILE (default: LOG) gets a line containing NEEDLE within 5 s.
assert_log() {
	local file=${3-$LOG}
	wait_until 5 grep -qF -- "$1" "$file"
	verdict $? "$2" "no line containing: $1" "in log ${file##*/}"
}

# Write a configuration to FILE (default CONFIG) whose control section has
# the socket SOCK (default SOCKET) and the members CONTROL (JSON text);
# TOP_LEVEL members, if given, follow the control section.
#   write_config '"queue_depth": 4' '"drain": {"timeout_s": 5}'
write_config() {
	local control=${1-} top=${2-} file=${3-$CONFIG} sock=${4-$SOCKET}
	{
		printf '{\n  "control": {\n    "socket": "%s"' "$sock"
		[[ -n $control ]] && printf ',\n    %s' "$control"
		printf '\n  }'
		[[ -n $top ]] && printf ',\n  %s' "$top"
		printf '\n}\n'
	} >"$file"
}

# Wait until the daemon PID answers status on SOCK; fatal if it dies first.
wait_ready() {
	local pid=$1 sock=$2 log=$3 deadline
	deadline=$(($(now_ms) + READY_TIMEOUT * 1000))
	while :; do
		if "$HOTRELOADCTL" -s "$sock" -t 1 status >/dev/null 2>&1; then
			return 0
		fi
		if ! process_running "$pid"; then
			wait "$pid"
			fatal "hotreloadd (pid $pid) exited with status $? before" \
			    "answering on $sock; log:" "$(tail -n 30 "$log")"
		fi
		(($(now_ms) >= deadline)) &&
			fatal "hotreloadd (pid $pid) did not answer on $sock" \
			    "within $READY_TIMEOUT s"
		sleep 0.03
	done
}

# Start hotreloadd -v -c CONFIG in the background (under HOTRELOADD_WRAPPER
# if set), logging to LOG, and wait until it answers on SOCKET.  Sets
# DAEMON_PID.
start_daemon() {
	[[ " ${LOGS[*]} " == *" $LOG "* ]] || LOGS+=("$LOG")
	"${DAEMON_WRAPPER[@]}" "$HOTRELOADD" -v -c "$CONFIG" 2>>"$LOG" &
	DAEMON_PID=$!
	DAEMON_PIDS+=("$DAEMON_PID")
	wait_ready "$DAEMON_PID" "$SOCKET" "$LOG"
}

# Wait up to TIMEOUT seconds for PID to exit; EXIT_STATUS gets its status.
# Returns 1 if it is still running.
wait_exit() {
	local pid=$1 timeout=$2
	EXIT_STATUS=
	wait_until "$timeout" eval "! process_running $pid" || return 1
	wait "$pid"
	# shellcheck disable=SC2034  # read by the tests
	EXIT_STATUS=$?
	forget_pid "$pid"
	return 0
}

# Stop tracking PID (it has been reaped; its number may be reused).
forget_pid() {
	local pid kept=()
	for pid in "${DAEMON_PIDS[@]}"; do
		[[ $pid == "$1" ]] || kept+=("$pid")
	done
	DAEMON_PIDS=("${kept[@]}")
	kept=()
	for pid in "${HELPER_PIDS[@]}"; do
		[[ $pid == "$1" ]] || kept+=("$pid")
	done
	HELPER_PIDS=("${kept[@]}")
}

# Start CMD... in the background, stopped by the EXIT trap if still running.
# Sets HELPER_PID.
start_helper() {
	"$@" &
	HELPER_PID=$!
	HELPER_PIDS+=("$HELPER_PID")
}

# Is the daemon run under a wrapper (valgrind) or built with a sanitizer
# (make check-asan)?  Then its resident memory says little about its own
# allocations (freed memory sits in quarantine), and memory figures are
# printed but not asserted.
memory_checked() {
	((${#DAEMON_WRAPPER[@]} == 0)) &&
		! grep -qE 'lib(a|ub|l)san' "/proc/$DAEMON_PID/maps"
}

# The daemon DAEMON_PID is still running; if not, it is reaped and its exit
# status shown.
assert_daemon_alive() {
	CHECKS=$((CHECKS + 1))
	if process_running "$DAEMON_PID"; then
		pass "$1"
		return 0
	fi
	wait "$DAEMON_PID"
	fail "$1" "hotreloadd (pid $DAEMON_PID) exited with status $?"
	forget_pid "$DAEMON_PID"
	return 1
}

# The daemon DAEMON_PID (already told to stop) exits within TIMEOUT
# seconds, with STATUS (default 0): two checks, "LABEL: the daemon exits
# within TIMEOUT s" and "LABEL: exit status STATUS".  Returns 1 if it is
# still running.
assert_daemon_exits() {
	local label=$1 timeout=$2 status=${3-0} t0
	t0=$(now_ms)
	CHECKS=$((CHECKS + 1))
	if ! wait_exit "$DAEMON_PID" "$timeout"; then
		fail "$label: the daemon exits within $timeout s"
		return 1
	fi
	pass "$label: the daemon exits within $timeout s ($(($(now_ms) - t0)) ms)"
	assert_eq "$status" "$EXIT_STATUS" "$label: exit status $status"
}

# Stop the daemon DAEMON_PID with SIGTERM: one check, DESC, that it exits 0
# within TIMEOUT seconds (default 15).
stop_daemon() {
	local desc=$1 timeout=${2-15}
	kill -TERM "$DAEMON_PID"
	CHECKS=$((CHECKS + 1))
	if ! wait_exit "$DAEMON_PID" "$timeout"; then
		fail "$desc" "hotreloadd did not exit within $timeout s of SIGTERM"
		return 1
	fi
	if [[ $EXIT_STATUS == 0 ]]; then
		pass "$desc"
	else
		fail "$desc" "exit status $EXIT_STATUS"
	fi
}

# The JSON status of the test's daemon (into OUT), checked to be ok.
status_json() {
	run ctl -j status
	if [[ $RC != 0 ]]; then
		fail "status answers" "$(run_details)"
		return 1
	fi
}
