/*
 * llm-status.c -- what the LLM service shows: the status of a generation
 * and its back ends (health, counters, usage, where each key comes from,
 * never the key), and the Prometheus metrics of the current one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm-int.h"

/* Format a monotonic deadline as wall-clock ISO-8601, for status. */
static json_t *
llm_deadline_json(double deadline)
{
	double	 left = deadline - llm_now();
	time_t	 when;
	struct tm tm;
	char	 buf[32];

	if (left <= 0)
		return (json_null());
	when = time(NULL) + (time_t)left;
	gmtime_r(&when, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (json_string(buf));
}

/* The extra headers of B by name, each with where its value comes from. */
static json_t *
llm_headers_json(const struct llm_backend *b)
{
	static const char	*const sources[] = {
		[CONFIG_HEADER_LITERAL] = "literal",
		[CONFIG_HEADER_ENV] = "env",
		[CONFIG_HEADER_FILE] = "file",
	};
	json_t			*headers = json_object();
	size_t			 i;

	for (i = 0; i < b->cfg->headers_count; i++)
		json_object_set_new(headers, b->cfg->headers[i].name,
		    json_string(sources[b->cfg->headers[i].source]));
	return (headers);
}

/* A number, or null when it is NAN. */
static json_t *
llm_number_json(double value)
{
	return (isnan(value) ? json_null() : json_real(value));
}

/* A limit, or null when it is not set. */
static json_t *
llm_limit_json(int limit)
{
	return (limit == CONFIG_UNSET ? json_null() : json_integer(limit));
}

/* The status of back end B: as configured, health, counters, usage. */
static json_t *
llm_backend_status(const struct llm_backend *b)
{
	const char	*auth;
	bool		 healthy;
	uint64_t	 requests, tokens;
	json_t		*rate;

	healthy = b->failures_in_a_row == 0 && b->cooled_until <= llm_now();
	llm_usage_minute(&b->usage, llm_now(), &requests, &tokens);
	rate = json_pack("{s:o, s:o, s:i, s:I, s:I, s:I, s:I}",
	    "requests_per_minute", llm_limit_json(
	    b->cfg->rate_limit.requests_per_minute),
	    "tokens_per_minute", llm_limit_json(
	    b->cfg->rate_limit.tokens_per_minute),
	    "max_wait_s", b->cfg->rate_limit.max_wait_s,
	    "requests_last_minute", (json_int_t)requests,
	    "tokens_last_minute", (json_int_t)tokens,
	    "waiting", (json_int_t)b->rate_waiting,
	    "limited", (json_int_t)b->rate_limited);
	auth = b->cfg->api_key_env != NULL ? "env" :
	    b->cfg->api_key_file != NULL ? "file" : "none";
	return (json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:o, s:I, s:I,"
	    " s:I, s:I, s:f, s:o, s:I, s:I, s:f, s:o, s:I, s:s?}",
	    "name", b->cfg->name,
	    "provider", b->cfg->provider,
	    "model", b->cfg->model,
	    "url", b->shown_url,
	    "auth", auth,
	    "headers", llm_headers_json(b),
	    "healthy", healthy,
	    "cooled_down_until", llm_deadline_json(b->cooled_until),
	    "requests", (json_int_t)b->requests,
	    "errors", (json_int_t)b->errors,
	    "in_flight", (json_int_t)b->in_flight,
	    "waiting", (json_int_t)b->waiting_count,
	    "mean_latency_ms", b->usage.answers > 0 ?
	    b->usage.seconds * 1e3 / (double)b->usage.answers : 0.0,
	    "p50_latency_ms", llm_number_json(llm_usage_p50_ms(&b->usage)),
	    "tokens_in", (json_int_t)b->usage.tokens_in,
	    "tokens_out", (json_int_t)b->usage.tokens_out,
	    "cost", llm_usage_cost(&b->usage, b->cfg),
	    "rate_limit", rate,
	    "max_in_flight", (json_int_t)b->cfg->max_in_flight,
	    "last_error", b->last_error));
}

/* Status details of the llm slot. */
json_t *
llm_status(struct service_instance *inst)
{
	struct llm_gen		*gen = inst->data;
	struct llm_backend	*b;
	json_t			*backends = json_array(), *fallback;
	size_t			 i;
	bool			 any_healthy = false;

	for (i = 0; i < gen->backends_count; i++) {
		b = &gen->backends[i];
		any_healthy |= b->failures_in_a_row == 0 &&
		    b->cooled_until <= llm_now();
		json_array_append_new(backends, llm_backend_status(b));
	}
	fallback = json_array();
	for (i = 0; i < gen->order_count; i++)
		json_array_append_new(fallback,
		    json_string(gen->backends[gen->order[i]].cfg->name));
	return (json_pack("{s:s, s:o, s:o, s:b, s:i}",
	    "state", any_healthy || gen->backends_count == 0 ? "running" :
	    "degraded",
	    "backends", backends,
	    "fallback", fallback,
	    "probe_on_reload", gen->cfg->probe_on_reload,
	    "retire_timeout_s", gen->cfg->retire_timeout_s));
}

/* The values of a back end that the metrics show. */
static double
llm_metric_requests(const struct llm_backend *b)
{
	return ((double)b->requests);
}

static double
llm_metric_errors(const struct llm_backend *b)
{
	return ((double)b->errors);
}

static double
llm_metric_healthy(const struct llm_backend *b)
{
	return (b->failures_in_a_row == 0 && b->cooled_until <= llm_now());
}

static double
llm_metric_rate_limited(const struct llm_backend *b)
{
	return ((double)b->rate_limited);
}

static double
llm_metric_tokens_in(const struct llm_backend *b)
{
	return ((double)b->usage.tokens_in);
}

static double
llm_metric_tokens_out(const struct llm_backend *b)
{
	return ((double)b->usage.tokens_out);
}

static double
llm_metric_cost(const struct llm_backend *b)
{
	return (llm_usage_cost(&b->usage, b->cfg));
}

/*
 * The series of each back end in the metrics, a row each; a row without
 * help is another series of the family of the row before it.
 */
static const struct llm_metric {
	const char	*name;
	const char	*kind;		/* the label "kind", or NULL */
	const char	*type;
	const char	*help;
	double		 (*value)(const struct llm_backend *);
} llm_metric_rows[] = {
	{ "hotreload_llm_requests_total", NULL, "counter", "LLM requests "
	    "sent, by back end (current generation).", llm_metric_requests },
	{ "hotreload_llm_errors_total", NULL, "counter", "LLM requests that "
	    "failed, by back end (current generation).", llm_metric_errors },
	{ "hotreload_llm_backend_healthy", NULL, "gauge", "1 when the back "
	    "end is neither failing nor cooled down.", llm_metric_healthy },
	{ "hotreload_llm_rate_limited_total", NULL, "counter", "Requests that "
	    "found the back end over its rate limit and went on without it "
	    "(current generation).", llm_metric_rate_limited },
	{ "hotreload_llm_tokens_total", "input", "counter", "Tokens of the "
	    "answers, as their usage reports them, by back end and kind "
	    "(input: the prompt, output: the answer; current generation).",
	    llm_metric_tokens_in },
	{ "hotreload_llm_tokens_total", "output", "counter", NULL,
	    llm_metric_tokens_out },
	{ "hotreload_llm_cost_total", NULL, "counter", "What the tokens cost "
	    "at the back end's llm.backends[].cost (current generation).",
	    llm_metric_cost },
};

/* Back-end metrics of the current generation. */
void
llm_metrics(struct service_slot *slot, FILE *f)
{
	struct service_instance		*inst = slot->current;
	const struct llm_metric		*m;
	struct llm_gen			*gen;
	struct llm_backend		*b;
	size_t				 i, j;

	if (inst == NULL)
		return;
	gen = inst->data;
	for (j = 0; j < sizeof llm_metric_rows / sizeof llm_metric_rows[0];
	    j++) {
		m = &llm_metric_rows[j];
		if (m->help != NULL)
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name,
			    m->help, m->name, m->type);
		for (i = 0; i < gen->backends_count; i++) {
			b = &gen->backends[i];
			fprintf(f, "%s{backend=\"%s\"%s%s%s} %.15g\n", m->name,
			    b->cfg->name, m->kind != NULL ? ",kind=\"" : "",
			    m->kind != NULL ? m->kind : "",
			    m->kind != NULL ? "\"" : "", m->value(b));
		}
	}
	fprintf(f, "# HELP hotreload_llm_request_duration_seconds How long "
	    "the answered requests took, by back end (current generation).\n"
	    "# TYPE hotreload_llm_request_duration_seconds histogram\n");
	for (i = 0; i < gen->backends_count; i++) {
		b = &gen->backends[i];
		llm_usage_histogram(f, "hotreload_llm_request_duration_seconds",
		    b->cfg->name, &b->usage);
	}
}
