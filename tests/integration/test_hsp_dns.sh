#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_dns.sh -- with TLS the broker's name is resolved without
# blocking the loop, and the certificate is still checked against the
# configured name.  A DNS server that answers only after 3 s
# (tests/support/slowdns, handed to the daemon through the test-only
# HOTRELOADD_TEST_RESOLV_CONF): while the connector resolves, at start and
# during a reload-hsp, the control socket answers status at once; the
# connector then reaches the TLS broker at the address for its name; a
# name the broker's certificate is not for is refused ("host name
# mismatch"), the running connector kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

DELAY=3
NAME=broker.hotreload.test
WRONG=wrong.hotreload.test

PKI=$T/pki
make_pki "$PKI" -n "$NAME"
listener_file tls "cafile $PKI/ca.crt" "certfile $PKI/server.crt" \
    "keyfile $PKI/server.key" "allow_anonymous true"
broker_start_listeners

start_helper "$PYTHON" -ES "$TOP/tests/support/slowdns" "$T/dns.port" \
    "$DELAY" "$NAME=127.0.0.1" "$WRONG=127.0.0.1" >"$T/dns.log" 2>&1
wait_until 10 test -s "$T/dns.port" || fatal "slowdns did not start"
printf 'nameserver 127.0.0.1:%s\noptions timeout:20 attempts:1\n' \
    "$(cat "$T/dns.port")" >"$T/resolv.conf"
export HOTRELOADD_TEST_RESOLV_CONF=$T/resolv.conf

# name_config HOST: the TLS listener under the name HOST.
name_config() {
	secure_config "$(printf '"host": "%s", "port": %s, "tls": {"ca_file": "%s"}' \
	    "$1" "$(listener_port tls)" "$PKI/ca.crt")" '"connect_timeout_s": 20'
}

# Ask for status every 100 ms while the file $1 does not exist (at most 30
# s); print the slowest answer in ms, then how many answers said the
# connector was resolving.
poll_status() {
	local stop=$1 slowest=0 resolving=0 t0 ms json deadline
	deadline=$(($(now_ms) + 30000))
	while [[ ! -e $stop ]] && (($(now_ms) < deadline)); do
		t0=$(now_ms)
		json=$(ctl -t 5 -j status) || { echo "status-failed"; return; }
		ms=$(($(now_ms) - t0))
		((ms > slowest)) && slowest=$ms
		[[ $json == *'"connection": "resolving"'* ]] && resolving=$((resolving + 1))
		sleep 0.1
	done
	echo "$slowest $resolving"
}

# --- at start ----------------------------------------------------------------
name_config "$NAME"
t0=$(now_ms)
start_daemon
rm -f "$T/up"
( wait_until 30 hsp_connected; touch "$T/up" ) &
waiter=$!
read -r slowest resolving < <(poll_status "$T/up")
wait "$waiter"
elapsed=$(($(now_ms) - t0))
note "start: connected after $elapsed ms; slowest status $slowest ms; $resolving answers while resolving"
assert_true "start: the connector is connected" hsp_connected
assert_ge $((DELAY * 1000)) "$elapsed" "start: the connection waited for the slow resolver" ms
assert_le 1000 "$slowest" "start: status answered within 1 s while the name resolved" ms
assert_ge 1 "$resolving" "start: status showed the connector resolving"
assert_true "start: the resolver was asked for $NAME" grep -q "query $NAME 1" "$T/dns.log"
status_json
assert_fields "start: status" "$OUT" services.hsp.broker "$NAME:$(listener_port tls)" \
    services.hsp.publisher.connected true services.hsp.last_error null
loadpeer -n 20 --requires-ack
assert_all_answered 20 "start: echo over TLS to the broker by name"

# --- a reload to a name the certificate is not for -------------------------
name_config "$WRONG"
rm -f "$T/reloaded"
( ctl reload-hsp >"$T/reload.out" 2>"$T/reload.err"; echo $? >"$T/reload.rc"
  touch "$T/reloaded" ) &
reloader=$!
t0=$(now_ms)
read -r slowest resolving < <(poll_status "$T/reloaded")
wait "$reloader"
elapsed=$(($(now_ms) - t0))
note "reload: failed after $elapsed ms; slowest status $slowest ms"
assert_eq 1 "$(cat "$T/reload.rc")" "wrong name: reload-hsp exits 1"
assert_contains "host name mismatch: the broker's certificate (/CN=$NAME) is not for $WRONG" \
    "$(cat "$T/reload.err")" "wrong name: the reply says host name mismatch"
assert_ge $((DELAY * 1000)) "$elapsed" "wrong name: the reload waited for the slow resolver" ms
assert_le 1000 "$slowest" "wrong name: status answered within 1 s during the reload" ms
status_json
assert_contains "host name mismatch" "$(jfield services.hsp.last_reload.error)" \
    "wrong name: status last_reload.error says host name mismatch"
assert_fields "wrong name: the running connector stays" "$OUT" \
    services.hsp.generation 1 services.hsp.connected true \
    services.hsp.broker "$NAME:$(listener_port tls)"
loadpeer -n 20 --requires-ack
assert_all_answered 20 "wrong name: echo still answered"

test_done
