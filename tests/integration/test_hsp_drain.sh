#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_drain.sh -- while draining, new HSP TaskRequests are answered at
# once with status "rejected" and error code "draining" (so the requester
# can go elsewhere), the agent advertises itself as in maintenance, and a
# reload-hsp is still allowed; resume takes work again and advertises
# "online".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

broker_start
hsp_config
start_daemon
wait_hsp_connected

# Drain: the agent re-advertises as "maintenance".
watch_topic hr-test-drain 'hsp/capabilities/advertisements/#' 1 "$T/advert.drain"
watcher=$HELPER_PID
run ctl -j drain
assert_rc 0 "drain exits 0"
assert_json draining true "drain: draining true"
assert_watched "drain: an advert goes out" "$watcher" "$T/advert.drain"
assert_fields "drain: the advert" "$(watched_payload "$T/advert.drain")" \
    payload.name echo \
    payload.availability_status maintenance
assert_eq true "$(status_field draining)" "drain: status says draining"

loadpeer -n 50 --requires-ack
assert_all_answered 50 "draining: 50 requests"
assert_fields "draining" "$LP" \
    acked 50 \
    by_status.rejected 50 \
    by_status.success 0 \
    by_error.draining 50
status_json
assert_fields "draining: status" "$OUT" \
    services.tool_dispatcher.rejected 50 \
    services.tool_dispatcher.completed 0 \
    services.tool_dispatcher.failed 0 \
    services.hsp.results_sent 50 \
    services.hsp.connected true

# Reloads are allowed while draining; the new connector's adverts still
# say "maintenance", and requests are still rejected.
watch_topic hr-test-reload 'hsp/capabilities/advertisements/#' 1 "$T/advert.reload"
watcher=$HELPER_PID
run ctl reload-hsp
assert_rc 0 "draining: reload-hsp exits 0"
assert_watched "draining: reload-hsp advertises" "$watcher" "$T/advert.reload"
assert_json payload.availability_status maintenance \
    "draining: the new connector advertises maintenance" \
    "$(watched_payload "$T/advert.reload")"
loadpeer -n 10
assert_all_answered 10 "draining, after reload-hsp: 10 requests"
assert_lp by_error.draining 10 "draining, after reload-hsp: all rejected with draining"

# Resume: "online" again, and requests are served.
watch_topic hr-test-resume 'hsp/capabilities/advertisements/#' 1 "$T/advert.resume"
watcher=$HELPER_PID
run ctl -j resume
assert_rc 0 "resume exits 0"
assert_json draining false "resume: draining false"
assert_watched "resume: an advert goes out" "$watcher" "$T/advert.resume"
assert_json payload.availability_status online "resume: the advert says online" \
    "$(watched_payload "$T/advert.resume")"

loadpeer -n 50 --requires-ack
assert_all_answered 50 "resumed: 50 requests"
assert_fields "resumed" "$LP" \
    acked 50 \
    by_status.success 50 \
    by_status.rejected 0
status_json
assert_fields "resumed: status" "$OUT" \
    draining false \
    services.tool_dispatcher.rejected 60 \
    services.tool_dispatcher.completed 50 \
    services.hsp.results_sent 110 \
    services.hsp.generation 2 \
    services.hsp.connected true

test_done
