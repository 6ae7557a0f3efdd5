#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_llm_stall.sh -- an LLM back end that stops in the middle of its
# answer: it sends the status line, the headers and half the body, then
# nothing.  The request's llm timeout_s still ends it (failure llm_timeout,
# naming the back end), and since the answer had begun it is not tried on
# the next back end (README "How fallback works"): that one receives
# nothing.  Once the back end answers whole again it is used as before.
# (A back end that hangs before any header, and falls back, is in
# test_llm_fallback.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

# Answers come within a few seconds here (1 s timeouts).
LLM_WAIT=5

llm_setup
llm_server_start stall
llm_server_start good

# How many chats back end NAME received whose last message is TEXT.
sent_to() {
	jpy "sum(1 for r in d if r['method'] == 'POST' and r['body']['messages'][-1]['content'] == '$2')" \
	    "$(llm_requests "$1")"
}

# text backend generation of RESULT, or status and error code on failure.
outcome() {
	jpy '" ".join(str(x) for x in ((d["payload"]["text"], d["payload"]["backend"], d["payload"]["llm_generation"]) if d.get("status") == "success" else (d.get("status", "no-result"), (d.get("error_details") or {}).get("error_code"))))' "$RESULT"
}

STALL=$(llm_backend stall openai stall '"timeout_s": 1')
GOOD=$(llm_backend good openai good)
llm_config "\"backends\": [$STALL, $GOOD], \"fallback\": [\"stall\", \"good\"], \"probe_on_reload\": false"
llm_start_daemon

# The stand-in really stops half-way: headers and part of the body.
llm_control stall '{"stall": true}'
run "$PYTHON" -E -S -c '
import socket, sys
body = b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"probe\"}]}"
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
          % (len(body), body))
s.settimeout(1.5)
got = b""
try:
    while True:
        data = s.recv(65536)
        if not data:
            sys.exit("closed by the server")
        got += data
except socket.timeout:
    pass
sys.stdout.write(got.decode())' "${LLM_PORT[stall]}"
assert_rc 0 "the stalled stand-in: the connection stays open, silent"
assert_match '^HTTP/1\.1 200' "$OUT" "the stalled stand-in sent its status line"
assert_match 'Content-Length: [0-9]+' "$OUT" "the stalled stand-in sent its headers"
assert_contains '"choices"' "$OUT" "the stalled stand-in sent part of its body"
llm_forget stall

t0=$(now_ms)
llm_ask peer-stall '{"text":"half"}'
elapsed=$(($(now_ms) - t0))
assert_eq "failure llm_timeout" "$(outcome)" \
    "stalled after the headers: failure llm_timeout"
assert_match 'stall' "$(jpy 'd["error_details"]["error_message"]' "$RESULT")" \
    "the error message names the back end"
assert_ge 1000 "$elapsed" "the request ended at timeout_s, not before" ms
assert_eq 1 "$(sent_to stall half)" "the stalled back end received the request once"
assert_eq 0 "$(sent_to good half)" "no fallback after the answer began: good received nothing"
B=$(status_backend stall)
assert_eq "1 1" "$(jpy '"%s %s" % (d["requests"], d["errors"])' "$B")" \
    "status: the stalled back end has 1 request and 1 error"
# (last_error keeps only failures that count against health, and one
# after the answer began does not: hotreloadctl(1).)
assert_json requests 0 "status: good has no request" "$(status_backend good)"
assert_eventually "the stand-in saw the daemon give up on the stalled answer" 5 \
    llm_counter_at_least stall dropped 1

# Two at once: both end the same way, neither is tried elsewhere.
llm_load peer-stall2 2 '{"text":"twice"}'
assert_json by_status '{"success":0,"failure":2,"rejected":0,"other":0}' \
    "two requests on the stalled back end: both fail"
assert_json by_error '{"llm_timeout":2}' "two requests on the stalled back end: llm_timeout"
assert_eq 0 "$(sent_to good twice)" "two requests: good received nothing"

# Whole answers again: the same back end serves.
llm_control stall '{"reset": true}'
llm_ask peer-whole '{"text":"whole"}'
assert_eq "stall says: whole stall 1" "$(outcome)" \
    "once it answers whole again: the back end serves"
run ctl -j status
assert_rc 0 "the daemon still answers status"
assert_json services.llm.state running "llm is running"

test_done
