#!/bin/bash
#
# test_drain.sh -- drain, drain --wait, drain --timeout, resume and its alias
# undrain, as seen in the replies, in status and in metrics; drain arguments
# of the wrong type are refused.
. "$(dirname "$0")/lib.sh"

write_config '"queue_depth": 16' '"drain": { "timeout_s": 5 }'
start_daemon

# drain
run ctl drain
assert_rc 0 "drain exits 0"
assert_match "^draining: 0 in flight\$" "$OUT" "drain, human form"
status_json
assert_json draining true "status: draining after drain"
run ctl metrics
assert_line "hotreload_draining 1" "$OUT" \
    "metrics: hotreload_draining 1"

run ctl -j drain
assert_rc 0 "drain -j exits 0 (already draining)"
assert_json draining true "drain -j: draining true"
assert_json in_flight 0 "drain -j: in_flight 0"

# drain --wait: nothing in flight, so drained at once.
run ctl drain --wait
assert_rc 0 "drain --wait exits 0"
assert_eq drained "$OUT" "drain --wait, human form"
run ctl -j drain --wait
assert_rc 0 "drain --wait -j exits 0"
assert_json drained true "drain --wait -j: drained true"
assert_json draining true "drain --wait -j: draining true"

# resume
run ctl resume
assert_rc 0 "resume exits 0"
assert_contains "resumed" "$OUT" "resume, human form"
status_json
assert_json draining false "status: not draining after resume"
run ctl metrics
assert_line "hotreload_draining 0" "$OUT" \
    "metrics: hotreload_draining 0 after resume"

run ctl -j resume
assert_rc 0 "resume -j exits 0"
assert_json draining false "resume -j: draining false"

# undrain is an alias of resume, in hotreloadctl and on the wire.
run ctl drain
assert_rc 0 "drain again exits 0"
run ctl -j undrain
assert_rc 0 "undrain exits 0"
assert_json draining false "undrain -j: draining false"
status_json
assert_json draining false "status: not draining after undrain"

run ctl drain
run raw send '{"v":1,"id":5,"cmd":"undrain"}' read 1
assert_rc 0 "raw undrain answered"
assert_json ok true "raw undrain: ok"
assert_json result.draining false "raw undrain: draining false"
status_json
assert_json draining false "status: not draining after a raw undrain"

# drain --timeout
run ctl -j drain --timeout 5
assert_rc 0 "drain --timeout 5 exits 0"
assert_json draining true "drain --timeout 5: draining"
run ctl -j drain --wait --timeout 5
assert_rc 0 "drain --wait --timeout 5 exits 0"
assert_json drained true "drain --wait --timeout 5: drained"
run ctl -j drain --wait --timeout 0.5
assert_rc 0 "drain --wait --timeout 0.5 (a fraction) exits 0"
run ctl resume
assert_rc 0 "resume exits 0"

# Arguments of the wrong type, sent raw, are refused and change nothing.
run raw send '{"v":1,"id":"w","cmd":"drain","args":{"wait":"yes"}}' read 1
assert_rc 0 "raw drain with wait:\"yes\" answered"
assert_json ok false "drain wait:\"yes\": refused"
assert_json id w "drain wait:\"yes\": the id is echoed"
assert_json error.code bad_request "drain wait:\"yes\": bad_request"
assert_contains wait "$(jfield error.message)" "drain wait:\"yes\": the message names wait"

run raw send '{"v":1,"id":2,"cmd":"drain","args":{"timeout_s":-1}}' read 1
assert_json error.code bad_request "drain timeout_s:-1: bad_request"
assert_contains timeout_s "$(jfield error.message)" \
    "drain timeout_s:-1: the message names timeout_s"

run raw send '{"v":1,"id":3,"cmd":"drain","args":{"timeout_s":"5"}}' read 1
assert_json error.code bad_request "drain timeout_s:\"5\": bad_request"

run raw send '{"v":1,"id":4,"cmd":"drain","args":{"wiat":true}}' read 1
assert_json error.code bad_request "drain with an unknown argument: bad_request"
assert_contains wiat "$(jfield error.message)" "drain: the message names the unknown argument"

run raw send '{"v":1,"id":5,"cmd":"resume","args":{"now":true}}' read 1
assert_json error.code bad_request "resume with an argument: bad_request"

status_json
assert_json draining false "status: bad drain requests did not drain"

test_done
