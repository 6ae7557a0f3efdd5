/*
 * llm-usage.c -- what an LLM back end has used: its tokens, their cost,
 * the latency of its answers (a Prometheus histogram and the median of
 * the recent ones), and the requests and tokens of the last minute that
 * its rate limit counts.
 *
 * Each back end of each generation has one struct llm_usage (llm.c);
 * nothing here does I/O but the metrics lines, and nothing keeps a clock:
 * the caller says what time it is (monotonic seconds), so the unit test
 * can.
 *
 * The minute of the rate limit is LLM_RATE_WINDOW_S slots of one second,
 * a slot holding the second it counts: what happened in second S counts
 * until the clock reaches S + 60.  Memory stays the same whatever the
 * limits or the traffic.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "config.h"
#include "llm.h"

/* The upper bounds of the latency buckets, in seconds (+Inf follows). */
static const double llm_latency_bounds[LLM_LATENCY_BUCKETS] = {
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120
};

/*
 * An answer took SECONDS and its usage (NULL: none reported) said how many
 * tokens went in and out; NOW is the monotonic clock, for the rate limit.
 */
void
llm_usage_answer(struct llm_usage *u, json_t *usage, double seconds,
    double now)
{
	json_int_t	 in, out;
	size_t		 i;

	in = json_integer_value(json_object_get(usage, "prompt_tokens"));
	out = json_integer_value(json_object_get(usage, "completion_tokens"));
	in = in > 0 ? in : 0;
	out = out > 0 ? out : 0;
	u->tokens_in += (uint64_t)in;
	u->tokens_out += (uint64_t)out;
	llm_usage_note(u, now, 0, (uint64_t)(in + out));

	for (i = 0; i < LLM_LATENCY_BUCKETS; i++) {
		if (seconds <= llm_latency_bounds[i])
			break;
	}
	u->buckets[i]++;
	u->answers++;
	u->seconds += seconds;
	u->recent_ms[u->recent_next++ % LLM_RECENT_LATENCIES] = seconds * 1e3;
}

/*
 * What the tokens cost at back end B's prices.  Taken from the totals
 * each time, so that it does not drift with the sums of fractions.
 */
double
llm_usage_cost(const struct llm_usage *u, const struct config_backend *b)
{
	return ((double)u->tokens_in / 1000.0 * b->cost.input_per_1k +
	    (double)u->tokens_out / 1000.0 * b->cost.output_per_1k);
}

/* Order of doubles, for qsort. */
static int
llm_double_compare(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/*
 * The median latency of the last LLM_RECENT_LATENCIES answers, in
 * milliseconds (the lower middle of an even count); NAN before the first.
 */
double
llm_usage_p50_ms(const struct llm_usage *u)
{
	double	sorted[LLM_RECENT_LATENCIES];
	size_t	n = u->recent_next < LLM_RECENT_LATENCIES ? u->recent_next :
		    LLM_RECENT_LATENCIES;

	if (n == 0)
		return (NAN);
	memcpy(sorted, u->recent_ms, n * sizeof sorted[0]);
	qsort(sorted, n, sizeof sorted[0], llm_double_compare);
	return (sorted[(n - 1) / 2]);
}

/*
 * The histogram of back end NAME as Prometheus lines of METRIC: the
 * buckets (cumulative, as the format wants), the sum and the count.
 */
void
llm_usage_histogram(FILE *f, const char *metric, const char *name,
    const struct llm_usage *u)
{
	uint64_t	 cumulative = 0;
	size_t		 i;

	for (i = 0; i < LLM_LATENCY_BUCKETS; i++) {
		cumulative += u->buckets[i];
		fprintf(f, "%s_bucket{backend=\"%s\",le=\"%g\"} %llu\n", metric,
		    name, llm_latency_bounds[i],
		    (unsigned long long)cumulative);
	}
	fprintf(f, "%s_bucket{backend=\"%s\",le=\"+Inf\"} %llu\n", metric, name,
	    (unsigned long long)u->answers);
	fprintf(f, "%s_sum{backend=\"%s\"} %.6f\n", metric, name, u->seconds);
	fprintf(f, "%s_count{backend=\"%s\"} %llu\n", metric, name,
	    (unsigned long long)u->answers);
}

/* The slot of second S. */
static size_t
llm_rate_slot(long long s)
{
	return ((size_t)(s % LLM_RATE_WINDOW_S));
}

/* Count REQUESTS and TOKENS at time NOW. */
void
llm_usage_note(struct llm_usage *u, double now, uint64_t requests,
    uint64_t tokens)
{
	long long	s = (long long)floor(now);
	size_t		slot = llm_rate_slot(s);

	if (u->second[slot] != s) {
		u->second[slot] = s;
		u->requests[slot] = 0;
		u->tokens[slot] = 0;
	}
	u->requests[slot] += requests;
	u->tokens[slot] += tokens;
}

/* The requests and tokens counted in the minute up to NOW. */
void
llm_usage_minute(const struct llm_usage *u, double now, uint64_t *requests,
    uint64_t *tokens)
{
	long long	s = (long long)floor(now), k;
	size_t		slot;

	*requests = *tokens = 0;
	for (k = s - LLM_RATE_WINDOW_S + 1; k <= s; k++) {
		slot = llm_rate_slot(k);
		if (k >= 0 && u->second[slot] == k) {
			*requests += u->requests[slot];
			*tokens += u->tokens[slot];
		}
	}
}

/* Are REQUESTS and TOKENS under the limits RPM and TPM (CONFIG_UNSET)? */
static bool
llm_rate_under(uint64_t requests, uint64_t tokens, int rpm, int tpm)
{
	return ((rpm == CONFIG_UNSET || requests < (uint64_t)rpm) &&
	    (tpm == CONFIG_UNSET || tokens < (uint64_t)tpm));
}

/*
 * How long from NOW until one more request may go under the limits RPM
 * and TPM (CONFIG_UNSET: none): 0 when it may go now.  Room comes when
 * enough of the minute's oldest seconds have left the window.
 */
double
llm_usage_wait(const struct llm_usage *u, double now, int rpm, int tpm)
{
	uint64_t	 requests, tokens;
	long long	 s = (long long)floor(now), k;
	size_t		 slot;

	llm_usage_minute(u, now, &requests, &tokens);
	if (llm_rate_under(requests, tokens, rpm, tpm))
		return (0);
	for (k = s - LLM_RATE_WINDOW_S + 1; k <= s; k++) {
		slot = llm_rate_slot(k);
		if (k < 0 || u->second[slot] != k)
			continue;
		requests -= u->requests[slot];
		tokens -= u->tokens[slot];
		if (llm_rate_under(requests, tokens, rpm, tpm))
			return ((double)(k + LLM_RATE_WINDOW_S) - now);
	}
	return (LLM_RATE_WINDOW_S);	/* not reached: the window empties */
}
