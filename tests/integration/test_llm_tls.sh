#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_llm_tls.sh -- an LLM back end behind a private CA that asks for a
# client certificate, as a company gateway would: the stand-in back end
# serves https (tests/support/llmserver with LLMSERVER_TLS_*), with
# certificates made by scripts/make-pki.  With llm.backends[].tls (ca_file,
# cert_file, key_file) a dialogue is answered; without the CA the probe
# fails naming the certificate problem, without the client certificate it
# fails too, and the running service stays; a FIFO in place of a TLS file
# fails the reload at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

PKI=$T/pki
"$TOP/scripts/make-pki" "$PKI" >/dev/null || fatal "scripts/make-pki failed"

llm_setup
llm_server_start A

# Start the https back end G (a gateway) requiring a client certificate of
# the PKI's CA.
port_file=$T/llm-G.port
LLMSERVER_TLS_CERT=$PKI/server.crt LLMSERVER_TLS_KEY=$PKI/server.key \
    LLMSERVER_TLS_CLIENT_CA=$PKI/ca.crt \
    start_helper "$LLMSERVER" --port-file "$port_file" --name G \
    --log "$T/llm-G.log" >/dev/null
wait_until 10 test -s "$port_file" || fatal "the https llmserver does not start"
G_URL=https://127.0.0.1:$(<"$port_file")
wait_until 10 curl -sS -f --max-time 5 --cacert "$PKI/ca.crt" \
    --cert "$PKI/client.crt" --key "$PKI/client.key" "$G_URL/control" ||
	fatal "the https llmserver does not answer"

# gateway TLS-MEMBERS: the configuration with back end G (https) first.
gateway() {
	llm_config "\"backends\": [{\"name\": \"G\", \"provider\": \"openai\", \"base_url\": \"$G_URL/v1\", \"model\": \"model-G\", \"tls\": {$1}}, $(llm_backend A openai A)], \"fallback\": [\"G\"]"
}
ca="\"ca_file\": \"$PKI/ca.crt\""
client="\"cert_file\": \"$PKI/client.crt\", \"key_file\": \"$PKI/client.key\""

gateway "$ca, $client"
llm_start_daemon
llm_ask one '{"text":"hello over TLS"}'
assert_eq "G says: hello over TLS G" \
    "$(jpy '" ".join(str(d["payload"][k]) for k in ("text", "backend"))' "$RESULT")" \
    "private CA and client certificate: G answers the dialogue"

# failed_probe LABEL RE: reload-llm fails, the reply matches RE, and G of
# generation 1 still answers.
failed_probe() {
	local label=$1 re=$2
	run ctl reload-llm
	assert_rc 1 "$label: reload-llm exits 1"
	assert_match "$re" "$ERR" "$label: the reply says why"
	assert_match "$re" "$(status_field services.llm.last_reload.error)" \
	    "$label: status last_reload.error says why"
	assert_eq 1 "$(status_field services.llm.generation)" \
	    "$label: generation still 1"
}

gateway "$client"
failed_probe "without the CA" "back end G .*SSL certificate problem: (unable to get local issuer certificate|self.signed certificate in certificate chain)"

# With TLS 1.3 the gateway refuses a missing client certificate after the
# client's side of the handshake, so libcurl may meet the closed connection
# before the alert (then its reason is about the socket): only the failure
# is certain.
gateway "$ca"
failed_probe "without the client certificate" "probe of back end G \\($G_URL/v1\\) failed: "

mkfifo "$T/fifo.pem"
gateway "\"ca_file\": \"$T/fifo.pem\", $client"
t0=$(now_ms)
failed_probe "a FIFO as ca_file" "llm.backends\\[0\\].tls.ca_file $T/fifo.pem: not a regular file"
assert_le 5000 $(($(now_ms) - t0)) "a FIFO as ca_file: refused at once, not a hang" ms

llm_ask two '{"text":"still here"}'
assert_eq "G says: still here G" \
    "$(jpy '" ".join(str(d["payload"][k]) for k in ("text", "backend"))' "$RESULT")" \
    "after the failed reloads: G still answers"

test_done
