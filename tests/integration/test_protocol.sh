#!/bin/bash
#
# test_protocol.sh -- the control protocol on the wire (DESIGN.md section 5),
# through the raw client: bad requests get the right error code and leave
# the connection usable, replies come in order, framing copes with
# pipelining, split writes, CRLF and a half-closed client.
. "$(dirname "$0")/lib.sh"

write_config '"max_request_bytes": 1024'
start_daemon

status_req='{"v":1,"id":2,"cmd":"status"}'

# Garbage, then a valid request on the same connection.
run raw send 'this is not json' read 1 send "$status_req" read 1
assert_rc 0 "garbage then status: two replies on one connection"
first=$(line_of 1 "$OUT")
second=$(line_of 2 "$OUT")
assert_json ok false "garbage: ok false" "$first"
assert_json error.code bad_request "garbage: bad_request" "$first"
assert_json id null "garbage: id null" "$first"
assert_json v 1 "garbage: reply carries v 1" "$first"
assert_json ok true "status after garbage: ok true" "$second"
assert_json id 2 "status after garbage: its id" "$second"
assert_json result.pid "$DAEMON_PID" "status after garbage: a real status" "$second"

# JSON that is not an object, and an object with a wrongly typed field.
run raw send '[1,2,3]' read 1 send '{"v":1,"id":{"a":1},"cmd":"status"}' read 1 \
    send '{"v":"1","id":3,"cmd":"status"}' read 1 \
    send '{"v":1,"id":4,"cmd":"status","args":[]}' read 1 \
    send '{"v":1,"id":5,"cmd":"status","extra":1}' read 1
assert_rc 0 "five malformed requests: five replies"
for n in 1 2 3 4 5; do
	assert_json error.code bad_request "malformed request $n: bad_request" \
	    "$(line_of "$n" "$OUT")"
done
assert_json id 3 "a request with a bad field still gets its id back" \
    "$(line_of 3 "$OUT")"

# A line over max_request_bytes (1024): refused, the connection stays usable.
# (Valid but for its length: a long string id.)
long=$(printf '{"v":1,"id":"%s","cmd":"status"}' "$(printf 'x%.0s' {1..2000})")
run raw send "$long" read 1 send "$status_req" read 1
assert_rc 0 "over-long line then status: two replies"
first=$(line_of 1 "$OUT")
second=$(line_of 2 "$OUT")
assert_json error.code bad_request "over-long line: bad_request" "$first"
assert_contains max_request_bytes "$(jfield error.message "$first")" \
    "over-long line: the message names max_request_bytes"
assert_json ok true "status after an over-long line: ok" "$second"
assert_json id 2 "status after an over-long line: its id" "$second"

# The same when the long line arrives in pieces, without its newline first.
run raw sendraw "${long:0:1500}" sleep 0.2 sendraw "${long:1500}\\n" read 1 \
    send "$status_req" read 1
assert_rc 0 "over-long line in pieces then status: two replies"
assert_json error.code bad_request "over-long line in pieces: bad_request" \
    "$(line_of 1 "$OUT")"
# (A second error, one per piece, would come here instead of the status.)
assert_json ok true "status after an over-long line in pieces: ok" \
    "$(line_of 2 "$OUT")"

# A request just under the limit is served.
pad=$(printf 'y%.0s' {1..950})
run raw send "{\"v\":1,\"id\":\"$pad\",\"cmd\":\"version\"}" read 1
assert_json ok true "a 990-byte request (under max_request_bytes) is served"
assert_json id "$pad" "a 990-byte request: its long id is echoed whole"

# Unknown command.
run raw send '{"v":1,"id":"u","cmd":"frobnicate"}' read 1
assert_rc 0 "unknown command answered"
assert_json error.code unknown_command "unknown command: unknown_command"
assert_json id u "unknown command: its id (a string) is echoed"
assert_contains frobnicate "$(jfield error.message)" "unknown command: named"

# Unsupported version.
run raw send '{"v":2,"id":6,"cmd":"status"}' read 1
assert_json error.code unsupported_version "v 2: unsupported_version"
assert_json id 6 "v 2: its id is echoed"

# Missing id: bad_request with "id":null.
run raw send '{"v":1,"cmd":"status"}' read 1
assert_json error.code bad_request "missing id: bad_request"
assert_contains '"id":null' "$OUT" "missing id: the reply has \"id\":null"

# Three requests in one write: three final replies, in order.
run raw sendraw '{"v":1,"id":1,"cmd":"status"}\n{"v":1,"id":2,"cmd":"version"}\n{"v":1,"id":3,"cmd":"status"}\n' \
    read 3
assert_rc 0 "three pipelined requests: three replies"
for n in 1 2 3; do
	assert_json id "$n" "pipelined reply $n has id $n" "$(line_of "$n" "$OUT")"
	assert_json ok true "pipelined reply $n is ok" "$(line_of "$n" "$OUT")"
done
assert_json result.pid "$DAEMON_PID" "pipelined reply 1 is a status" "$(line_of 1 "$OUT")"
assert_json result.protocol 1 "pipelined reply 2 is a version" "$(line_of 2 "$OUT")"
assert_json result.pid "$DAEMON_PID" "pipelined reply 3 is a status" "$(line_of 3 "$OUT")"

# Pipelined state changes run in order too.
run raw sendraw '{"v":1,"id":"d","cmd":"drain"}\n{"v":1,"id":"s","cmd":"status"}\n{"v":1,"id":"r","cmd":"resume"}\n{"v":1,"id":"s2","cmd":"status"}\n' \
    read 4
assert_rc 0 "pipelined drain/status/resume/status: four replies"
assert_json result.draining true "pipelined: status after drain sees draining" \
    "$(line_of 2 "$OUT")"
assert_json result.draining false "pipelined: status after resume sees not draining" \
    "$(line_of 4 "$OUT")"
assert_json id s2 "pipelined: the last reply is the last request's" "$(line_of 4 "$OUT")"

# A request split over several writes with pauses.
run raw sendraw '{"v":1,"id":' sleep 0.2 sendraw '7,"cmd":"ver' sleep 0.2 \
    sendraw 'sion"}' sleep 0.2 sendraw '\n' read 1
assert_rc 0 "split request answered"
assert_json id 7 "split request: its id"
assert_json result.protocol 1 "split request: a version reply"

# CRLF line endings.
run raw sendraw '{"v":1,"id":8,"cmd":"version"}\r\n{"v":1,"id":9,"cmd":"status"}\r\n' read 2
assert_rc 0 "CRLF requests answered"
assert_json ok true "CRLF request 1 ok" "$(line_of 1 "$OUT")"
assert_json ok true "CRLF request 2 ok" "$(line_of 2 "$OUT")"
assert_json id 9 "CRLF request 2: its id" "$(line_of 2 "$OUT")"

# Blank lines are ignored, not answered.
run raw sendraw '\n  \n{"v":1,"id":12,"cmd":"version"}\n' read 1
assert_json id 12 "blank lines are skipped: the first reply is the request's"

# Half-close: the client shuts its write side and still gets its reply (a
# queued command, answered on a later turn), then the daemon closes.
run raw send '{"v":1,"id":"h","cmd":"drain"}' shutwr read 1 eof
assert_rc 0 "half-closed client: reply then end of file"
assert_json id h "half-closed client: its reply" "$(line_of 1 "$OUT")"
assert_json result.draining true "half-closed client: the drain's result" "$(line_of 1 "$OUT")"
assert_eq EOF "$(line_of 2 "$OUT")" "half-closed client: the daemon closes after the reply"

# Half-close after three pipelined requests: all answered, in order.
run raw sendraw '{"v":1,"id":1,"cmd":"resume"}\n{"v":1,"id":2,"cmd":"drain"}\n{"v":1,"id":3,"cmd":"resume"}\n' \
    shutwr read 3 eof
assert_rc 0 "half-closed after three requests: all answered"
assert_json id 3 "half-closed after three requests: the third reply" "$(line_of 3 "$OUT")"
assert_json result.draining false "half-closed after three requests: resumed" "$(line_of 3 "$OUT")"

# The same when the request and the half-close reach the daemon together
# (it is stopped meanwhile).
kill -STOP "$DAEMON_PID"
start_helper "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" -t 10 \
    sendraw '{"v":1,"id":1,"cmd":"drain"}\n{"v":1,"id":2,"cmd":"resume"}\n' \
    shutwr print sent read 2 eof >"$T/together.out" 2>&1
together=$HELPER_PID
wait_until 10 grep -q '^sent$' "$T/together.out" ||
	fail "the half-closing client sent its requests" "$(cat "$T/together.out")"
kill -CONT "$DAEMON_PID"
wait "$together"
RC=$?
forget_pid "$together"
OUT=$(sed 1d "$T/together.out")
RUN_CMD="ctlraw ... shutwr (daemon stopped meanwhile)"
ERR=
assert_rc 0 "request and half-close together: both requests answered"
assert_json id 1 "request and half-close together: the drain's reply" "$(line_of 1 "$OUT")"
assert_json result.draining false "request and half-close together: the resume's reply" \
    "$(line_of 2 "$OUT")"
assert_eq EOF "$(line_of 3 "$OUT")" "request and half-close together: then end of file"

# After all that, the daemon serves hotreloadctl as usual.
run ctl -j status
assert_rc 0 "status still works"
assert_json draining false "status: the protocol tests left it not draining"

test_done
