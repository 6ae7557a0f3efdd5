#!/bin/bash
#
# test_contrib.sh -- what contrib/ gives the people who watch hotreloadd
# through Prometheus: the alerting rules pass "promtool check rules" and
# their unit tests ("promtool test rules": each alert fires on a series
# that should make it fire, and not on one that should not); the Grafana
# dashboard is valid JSON; and every metric the rules and the dashboard
# name is one the daemon really exports (asked of a daemon with an llm
# and an hsp section, with a request answered and a back end cooled down
# nowhere needed: the names come with their HELP lines).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

RULES=$TOP/contrib/prometheus/hotreload.rules.yml
RULES_TEST=$TOP/contrib/prometheus/hotreload.rules.test.yml
DASHBOARD=$TOP/contrib/grafana/hotreload.json

command -v promtool >/dev/null ||
	fatal "promtool is missing (package prometheus; scripts/install-deps installs it)"

run promtool check rules "$RULES"
assert_rc 0 "promtool check rules accepts the rules"
assert_contains "SUCCESS: 6 rules found" "$OUT" "promtool finds the 6 rules"
run bash -c "cd '$(dirname "$RULES_TEST")' && promtool test rules '$(basename "$RULES_TEST")'"
assert_rc 0 "promtool test rules: every alert test passes"
assert_contains "SUCCESS" "$OUT" "promtool says the rule tests succeed"

assert_true "the dashboard is valid JSON" \
    "$PYTHON" -E -S -c 'import json, sys; json.load(open(sys.argv[1]))' "$DASHBOARD"

# What the daemon exports, with everything configured.
llm_setup
llm_server_start A
llm_config "\"backends\": [$(llm_backend A openai A)], \"fallback\": [\"A\"]"
llm_start_daemon
llm_ask peer-contrib '{"text":"hello"}'
run ctl metrics
assert_rc 0 "metrics exits 0"
exported=$(sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' <<<"$OUT" | sort -u)
assert_ge 30 "$(wc -l <<<"$exported")" "the daemon exports its metric families" families

named=$(grep -ohE 'hotreload_[a-z_]+' "$RULES" "$RULES_TEST" "$DASHBOARD" |
    sed -E 's/_(bucket|sum|count)$//' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$named") <(printf '%s\n' "$exported"))
assert_eq "" "$missing" "every metric the rules and the dashboard name is exported"
assert_ge 15 "$(wc -l <<<"$named")" "the rules and the dashboard name the metrics" names

test_done
