#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_tls.sh -- TLS to a real mosquitto with certificates made by
# scripts/make-pki at test time: a CA file and a CA path, the broker's
# certificate checked against the configured address, the loudly logged
# insecure switch, client certificates, the TLS version floor.  Each kind
# of refusal fails reload-hsp with what was refused (certificate not
# trusted, host name mismatch, client certificate refused, TLS handshake
# failed) in the reply and in status, and the running connector stays.
# The name check against a DNS name is in test_hsp_dns.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

PKI=$T/pki
make_pki "$PKI"
make_pki "$PKI/other" -n other.example --ca "$PKI"	# the CA's, another name
make_pki "$PKI/rogue"				# the right names, another CA
if ! { mkdir "$PKI/capath" && cp "$PKI/ca.crt" "$PKI/capath/" &&
    openssl rehash "$PKI/capath" 2>/dev/null; }; then
	fatal "cannot make the CA path"
fi

# listener NAME SERVER-DIR LINE...: a TLS listener with the certificate of
# SERVER-DIR.
listener() {
	local name=$1 dir=$2
	shift 2
	listener_file "$name" "cafile $PKI/ca.crt" "certfile $dir/server.crt" \
	    "keyfile $dir/server.key" "allow_anonymous true" "$@"
}
listener tls "$PKI"
listener other "$PKI/other"
listener rogue "$PKI/rogue"
listener mtls "$PKI" "require_certificate true"
broker_start_listeners

# A TLS server that speaks TLS 1.2 at most (mosquitto's tls_version is only
# a floor): openssl s_server, for the daemon's own floor.
tls12_port=$(closed_port)
start_helper openssl s_server -quiet -accept "127.0.0.1:$tls12_port" \
    -cert "$PKI/server.crt" -key "$PKI/server.key" -tls1_2 \
    </dev/null >"$T/s_server.out" 2>&1
wait_until 10 eval "(exec 3<>/dev/tcp/127.0.0.1/$tls12_port) 2>/dev/null" ||
	fatal "openssl s_server did not listen on $tls12_port"


# tls_config LISTENER TLS-MEMBERS: the broker at 127.0.0.1 on LISTENER's
# port, with "tls": {TLS-MEMBERS}.
tls_config() {
	secure_config "$(printf '"host": "127.0.0.1", "port": %s, "tls": {%s}' \
	    "$(listener_port "$1")" "$2")"
}
ca_file="\"ca_file\": \"$PKI/ca.crt\""
client="\"cert_file\": \"$PKI/client.crt\", \"key_file\": \"$PKI/client.key\""

# --- what works -------------------------------------------------------------
tls_config tls "$ca_file"
start_daemon
wait_hsp_connected
status_json
assert_fields "CA file: status" "$OUT" services.hsp.connected true \
    services.hsp.broker "127.0.0.1:$(listener_port tls)" \
    services.hsp.publisher.connected true
loadpeer -n 20 --requires-ack
assert_all_answered 20 "CA file: echo over TLS"
assert_not_contains "insecure" "$(cat "$LOG")" "CA file: no insecure warning"

# The answer went through the TLS listener: the broker saw the daemon there.
assert_true "CA file: the daemon's connections came in on the TLS port" \
    grep -q "New connection from 127.0.0.1:[0-9]* on port $(listener_port tls)" \
    "$BROKER_DIR/mosquitto.log"

tls_config tls "\"ca_path\": \"$PKI/capath\""
run ctl reload-hsp
assert_rc 0 "CA path: reload-hsp succeeds"
assert_eq 2 "$(status_field services.hsp.generation)" "CA path: generation 2"

tls_config mtls "$ca_file, $client"
run ctl reload-hsp
assert_rc 0 "client certificate: reload-hsp succeeds"
loadpeer -n 20 --requires-ack
assert_all_answered 20 "client certificate: echo over mutual TLS"

# --- a TCP connect that is not instant ---------------------------------------
# Over a real network the TCP connect is still under way when OpenSSL first
# tries to send its ClientHello, and only a writable socket tells that it can
# go on.  A proxy to the TLS listener whose accept queue is full (backlog 0,
# taken by a connection of its own) drops the daemon's SYN; the kernel sends
# it again a second later, when the proxy has started accepting.
rm -f "$T/slow.port"
start_helper "$PYTHON" -E -S -c '
import os, socket, sys, threading, time
port_file, target = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
filler = socket.create_connection(s.getsockname())
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
time.sleep(2)
def pipe(a, b):
    try:
        data = a.recv(65536)
        while data:
            b.sendall(data)
            data = a.recv(65536)
    except OSError:
        pass
    for x in (a, b):
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = s.accept()
    u = socket.create_connection(("127.0.0.1", target))
    for a, b in ((c, u), (u, c)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
' "$T/slow.port" "$(listener_port tls)"
wait_until 10 test -s "$T/slow.port" || fatal "the slow proxy did not start"
secure_config "$(printf '"host": "127.0.0.1", "port": %s, "tls": {%s}' \
    "$(cat "$T/slow.port")" "$ca_file")" '"connect_timeout_s": 8'
run ctl reload-hsp
assert_rc 0 "slow TCP connect: reload-hsp succeeds (the handshake goes on when the socket is writable)"
status_json
assert_fields "slow TCP connect: status" "$OUT" services.hsp.connected true \
    services.hsp.broker "127.0.0.1:$(cat "$T/slow.port")"
loadpeer -n 20 --requires-ack
assert_all_answered 20 "slow TCP connect: echo over TLS"

# --- refusals: reload-hsp fails with what was refused ----------------------
generation=$(status_field services.hsp.generation)
# refused LABEL CLASS [RE]: reload-hsp fails, reply and status say CLASS
# (or match the extended regular expression RE instead, when given), and
# the running connector is untouched.
refused() {
	local label=$1 class=$2 re=${3-}
	run ctl reload-hsp
	assert_rc 1 "$label: reload-hsp exits 1"
	if [[ -n $re ]]; then
		assert_match "$re" "$ERR" "$label: the reply says $class"
		status_json
		assert_match "$re" "$(jfield services.hsp.last_reload.error)" \
		    "$label: status last_reload.error says $class"
	else
		assert_contains "$class" "$ERR" "$label: the reply says \"$class\""
		status_json
		assert_contains "$class" \
		    "$(jfield services.hsp.last_reload.error)" \
		    "$label: status last_reload.error says \"$class\""
	fi
	assert_fields "$label: the running connector stays" "$OUT" \
	    services.hsp.generation "$generation" \
	    services.hsp.connected true \
	    services.hsp.last_error null
}

tls_config rogue "$ca_file"
refused "another CA" "certificate not trusted: unable to get local issuer certificate"

tls_config other "$ca_file"
refused "another name" "host name mismatch: the broker's certificate (/CN=other.example) is not for 127.0.0.1"

# With TLS 1.3 the broker refuses a client certificate after the client's
# side of the handshake: the alert says so when it is read before the
# closed socket is met; otherwise the cause says the broker may require one.
tls_config mtls "$ca_file"
refused "no client certificate" "that the broker wants a client certificate" \
    "client certificate refused: the broker answered certificate required|TLS handshake failed: the broker closed the connection before its CONNACK \(.*\); it may require a client certificate \(hsp.broker.tls.cert_file\)"

make_pki "$PKI/stranger"	# a client certificate from a CA the broker does not know
tls_config mtls "$ca_file, \"cert_file\": \"$PKI/stranger/client.crt\", \"key_file\": \"$PKI/stranger/client.key\""
refused "unknown client certificate" "that the broker refused the client certificate" \
    "client certificate refused: the broker answered unknown CA|TLS handshake failed: the broker closed the connection before its CONNACK \(.*\); it may refuse the client certificate"

secure_config "$(printf '"host": "127.0.0.1", "port": %s, "tls": {%s, %s}' \
    "$tls12_port" "$ca_file" '"min_version": "tlsv1.3"')"
refused "version floor" "TLS handshake failed"
assert_contains "protocol version" "$(status_field services.hsp.last_reload.error)" \
    "version floor: the error names the protocol version"

secure_config "$(printf '"host": "127.0.0.1", "port": %s, "tls": {%s}' \
    "$BROKER_PORT" "$ca_file")"
refused "a broker without TLS" "TLS handshake failed"

printf 'not a certificate\n' >"$T/bad-ca.pem"
tls_config tls "\"ca_file\": \"$T/bad-ca.pem\""
refused "a CA file without a certificate" "hsp.broker.tls.ca_file $T/bad-ca.pem: "

# A TLS version floor the broker meets.
tls_config tls "$ca_file, \"min_version\": \"tlsv1.3\""
run ctl reload-hsp
assert_rc 0 "floor tlsv1.3 against a TLS 1.3 broker: reload-hsp succeeds"
generation=$(status_field services.hsp.generation)

# --- insecure: the name is not checked, loudly -----------------------------
tls_config other "$ca_file, \"insecure\": true"
run ctl reload-hsp
assert_rc 0 "insecure: a certificate for another name is accepted"
assert_log "hsp.broker.tls.insecure is set: the broker's certificate is NOT checked against 127.0.0.1" \
    "insecure: a warning says the name is not checked"
# ... but never the chain.
tls_config rogue "$ca_file, \"insecure\": true"
generation=$(status_field services.hsp.generation)
refused "insecure, another CA" "certificate not trusted"
loadpeer -n 20 --requires-ack
assert_all_answered 20 "after the refusals: echo still answered"

test_done
