#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_credentials.sh -- user name and password_file against a real
# mosquitto (TLS, a password file, an ACL file).  A wrong password or an
# unknown user fails reload-hsp with "credentials refused" in the reply and
# in status, with MQTT 5 and 3.1.1; the running connector stays.  (An ACL
# cannot make mosquitto 2.0 refuse a subscription: its acl_file only
# filters what it delivers.)  Rotation as the
# README describes it: the broker gets the new user, "reload" switches to
# it while a peer sends load (nothing lost, nothing twice), then the old
# user is revoked and nothing happens to the connector.  A credential
# revoked under the running connector shows as refused in status (not
# "disconnected"), and a reload to a valid one brings it back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

PKI=$T/pki
make_pki "$PKI"
PASSWD=$T/passwd
ACL=$T/acl

# user_add NAME: give NAME a password in the broker's file and in
# $T/NAME.pw (0600), for password_file.
user_add() {
	local password
	password=$(openssl rand -hex 12)
	mosquitto_passwd -b "$PASSWD" "$1" "$password" ||
		fatal "mosquitto_passwd cannot add $1"
	(umask 077 && printf '%s\n' "$password" >"$T/$1.pw")
}

touch "$PASSWD"
user_add alice
printf '%s\n' "user alice" "topic readwrite #" "user bob" "topic readwrite #" \
    "user dave" "topic readwrite #" >"$ACL"
listener_file auth "cafile $PKI/ca.crt" "certfile $PKI/server.crt" \
    "keyfile $PKI/server.key" "password_file $PASSWD" "acl_file $ACL" \
    "allow_anonymous false"
broker_start_listeners

# user_config USER [PASSWORD-FILE [EXTRA]]: the TLS listener with
# credentials.
user_config() {
	secure_config "$(printf '"host": "127.0.0.1", "port": %s, "username": "%s", "password_file": "%s", "tls": {"ca_file": "%s"}' \
	    "$(listener_port auth)" "$1" "${2-$T/$1.pw}" "$PKI/ca.crt")" "${3-}"
}

user_config alice
start_daemon
wait_hsp_connected
loadpeer -n 20 --requires-ack
assert_all_answered 20 "alice: echo answered"

# --- refusals -------------------------------------------------------------
# refused LABEL TEXT: reload-hsp fails with TEXT in the reply and in
# status; the running connector stays.
refused() {
	local label=$1 text=$2 generation
	generation=$(status_field services.hsp.generation)
	run ctl reload-hsp
	assert_rc 1 "$label: reload-hsp exits 1"
	assert_contains "$text" "$ERR" "$label: the reply says \"$text\""
	status_json
	assert_contains "$text" "$(jfield services.hsp.last_reload.error)" \
	    "$label: status last_reload.error says \"$text\""
	assert_fields "$label: the running connector stays" "$OUT" \
	    services.hsp.generation "$generation" services.hsp.connected true \
	    services.hsp.last_error null
}

printf 'not-the-password\n' >"$T/wrong.pw"
chmod 0600 "$T/wrong.pw"
user_config alice "$T/wrong.pw"
refused "wrong password" "credentials refused: the broker refused the connection: Not authorized"
user_config mallory "$T/wrong.pw"
refused "unknown user" "credentials refused: the broker refused the connection: Not authorized"
user_config alice "$T/wrong.pw" '"protocol": "mqttv311"'
refused "wrong password, MQTT 3.1.1" "credentials refused: the broker refused the connection: Connection Refused: not authorised"

# --- rotation under load ----------------------------------------------------
# 1. The broker accepts the new user too.
user_add bob
broker_ctl reload
# 2. "reload" switches to it while a peer sends requests.
user_config bob
count=$((1500 * SLOWDOWN))
rm -f "$T/ready"
start_helper timeout -k 2 120 "$LOADPEER" -p "$BROKER_PORT" --target "$AI_ID" \
    --id did:hsp:peer-rotation -n "$count" --rate 500 --requires-ack \
    --wait 20 --ready-file "$T/ready" >"$T/peer.out" 2>"$T/peer.err"
peer=$HELPER_PID
wait_until 10 test -e "$T/ready" || fatal "loadpeer did not subscribe"
sleep 1
run ctl reload
assert_rc 0 "rotation: reload to bob succeeds while the peer sends"
wait_exit "$peer" 100 || fatal "loadpeer did not finish"
LP_RC=$EXIT_STATUS
LP=$(cat "$T/peer.out")
LP_ERR=$(cat "$T/peer.err")
assert_all_answered "$count" "rotation: $count requests across the switch"
assert_fields "rotation" "$LP" acked "$count" no_subscribers 0 puback_errors 0
status_json
assert_fields "rotation: status" "$OUT" services.hsp.generation 2 \
    services.hsp.connected true services.hsp.last_error null
# 3. The old user is revoked: nothing happens to the connector.
mosquitto_passwd -D "$PASSWD" alice
broker_ctl reload
sleep 1
status_json
assert_fields "alice revoked: the connector as bob is untouched" "$OUT" \
    services.hsp.generation 2 services.hsp.connected true \
    services.hsp.reconnects 0 services.hsp.last_error null \
    services.hsp.publisher.connected true
loadpeer -n 50 --requires-ack
assert_all_answered 50 "alice revoked: echo answered as bob"

# --- the credential in use is revoked -------------------------------------
mosquitto_passwd -D "$PASSWD" bob
broker_ctl reload
refused_in_status() {
	local json
	json=$(ctl -j status) || return 1
	[[ $(jfield services.hsp.last_error "$json") == *"credentials refused"* &&
	   $(jfield services.hsp.publisher.last_error "$json") == *"credentials refused"* ]]
}
assert_eventually "bob revoked: status says the credentials are refused" 15 refused_in_status
status_json
assert_fields "bob revoked: status" "$OUT" services.hsp.connected false \
    services.hsp.state degraded
assert_contains "127.0.0.1:$(listener_port auth): credentials refused: the broker refused the connection: Not authorized" \
    "$(jfield services.hsp.last_error)" "bob revoked: last_error names broker and refusal"
assert_not_contains "disconnected" "$(jfield services.hsp.last_error)" \
    "bob revoked: last_error does not just say disconnected"

# The revoked-first order: a reload to a credential the broker accepts
# brings the agent back.
user_add dave
broker_ctl reload
user_config dave
run ctl reload
assert_rc 0 "dave: reload succeeds from a refused connector"
wait_hsp_connected
loadpeer -n 50 --requires-ack
assert_all_answered 50 "dave: echo answered"

test_done
