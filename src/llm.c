/*
 * llm.c -- the MultiLLMService: LLM back ends with fallback, on one curl
 * multi handle driven by the daemon's libevent loop.
 *
 * curl runs without threads and without blocking, on the daemon's loop
 * (llm-curl.c); each finished transfer comes back to llm_transfer_done().
 *
 * An instance is one generation: the back ends of one configuration, their
 * keys, counters and health.  A request holds a reference to the generation
 * it started on and finishes there, whatever reloads happen meanwhile.  A
 * request tries the back ends in "fallback" order and moves to the next only
 * when the failure came before any response byte (connect error, timeout
 * before headers) or was an HTTP 5xx or 429; a back end failing three times
 * in a row is cooled down for LLM_COOL_DOWN_S.  Another 4xx is the caller's
 * error and is returned as it is.  Each back end runs at most max_in_flight
 * requests; as many again wait, more fail with "overloaded".
 *
 * A back end with a rate_limit counts its requests and tokens over the
 * last minute (llm-usage.c).  A request that finds it full waits on a
 * timer of its own when room comes within the back end's max_wait_s,
 * else moves on to the next back end at once, or fails with
 * "rate_limited": the back end never sees it.
 *
 * A reload builds a generation, probes each back end's model list (never a
 * billed generation; the first back end in "fallback" must answer), and is
 * swapped in; the old generation finishes its requests and is freed with
 * the last one.  At llm.retire_timeout_s what is still running there is
 * failed with error code "retired".
 */
#include <sys/queue.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "hotreloadd.h"
#include "config.h"
#include "hsp.h"
#include "llm.h"
#include "llm-curl.h"
#include "llm-int.h"
#include "log.h"

static void	llm_request_try(struct llm_request *);
static void	llm_retire_timeout_cb(evutil_socket_t, short, void *);

/* Now on the monotonic clock, in seconds. */
double
llm_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Free the response body of REQ. */
static void
llm_request_free_response(struct llm_request *req)
{
	free(req->response);
	req->response = NULL;
	req->response_length = 0;
	req->response_size = 0;
}

/* Free what a transfer holds. */
static void
llm_request_clear_transfer(struct llm_request *req)
{
	if (req->easy != NULL) {
		llm_curl_remove(req->easy);
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	curl_slist_free_all(req->headers);
	req->headers = NULL;
	free(req->body);
	req->body = NULL;
	llm_request_free_response(req);
	req->response_too_large = false;
	req->got_bytes = false;
}

/* Set the error of REQ's latest attempt. */
static void
llm_request_error(struct llm_request *req, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
static void
llm_request_error(struct llm_request *req, const char *code, const char *fmt,
    ...)
{
	va_list	ap;

	req->error_code = code;
	free(req->error);
	va_start(ap, fmt);
	req->error = str_vprintf(fmt, ap);
	va_end(ap);
}

/* A generation being retired has nothing left: it is done. */
static void
llm_gen_retire_check(struct llm_gen *gen)
{
	if (gen->retiring && TAILQ_EMPTY(&gen->requests)) {
		gen->retiring = false;
		if (gen->retire_timer != NULL)
			evtimer_del(gen->retire_timer);
		service_instance_retired(gen->inst);
	}
}

/* Start waiting requests of B while it has room. */
static void
llm_backend_dequeue(struct llm_backend *b)
{
	struct llm_request	*req;

	while (b->in_flight < (unsigned int)b->cfg->max_in_flight &&
	    (req = TAILQ_FIRST(&b->waiting)) != NULL) {
		TAILQ_REMOVE(&b->waiting, req, wait_entry);
		b->waiting_count--;
		req->waiting = false;
		llm_request_try(req);
	}
}

/*
 * A chat request has ended: tell the caller, release the generation.
 * ANSWER may be NULL (failure).
 */
static void
llm_request_finish(struct llm_request *req, struct llm_answer *answer)
{
	struct llm_gen		*gen = req->gen;
	struct service_instance	*inst = gen->inst;
	struct llm_result	 result;

	memset(&result, 0, sizeof result);
	result.ok = answer != NULL;
	result.answer = answer;
	result.backend = req->backend != NULL ? req->backend->cfg->name : NULL;
	result.model = req->backend != NULL ? req->backend->cfg->model : NULL;
	result.generation = inst->generation;
	result.error_code = req->error_code != NULL ? req->error_code :
	    LLM_ERR_UNAVAILABLE;
	result.error_message = req->error != NULL ? req->error :
	    "no back end answered";

	TAILQ_REMOVE(&gen->requests, req, entry);
	req->cb(&result, req->arg);
	if (req->rate_timer != NULL)
		event_free(req->rate_timer);
	llm_request_clear_transfer(req);
	json_decref(req->messages);
	free(req->system);
	free(req->error);
	free(req);
	llm_gen_retire_check(gen);
	service_instance_work_end(inst);
}

/*
 * Response body from curl.  A chat answer (2xx) is kept up to
 * LLM_MAX_RESPONSE and a longer one stops the transfer at once; of an error
 * or a model list only the first LLM_MAX_ERROR_BODY bytes are kept and the
 * rest is read and dropped.  The buffer grows by doubling: growing it by
 * each of curl's 16 KiB chunks left most of a big answer's copies behind as
 * heap the daemon never gave back.
 */
static size_t
llm_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct llm_request	*req = arg;
	size_t			 length = size * n, limit, want;
	long			 status = 0;
	bool			 answer;
	char			*grown;

	req->got_bytes = true;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	answer = !req->probe && status >= 200 && status < 300;
	limit = answer ? LLM_MAX_RESPONSE : LLM_MAX_ERROR_BODY;
	if (req->response_length + length > limit) {
		if (answer) {
			req->response_too_large = true;
			return (0);	/* curl fails the transfer */
		}
		length = limit - req->response_length;
		if (length == 0)
			return (size * n);
	}
	if (req->response_length + length + 1 > req->response_size) {
		want = req->response_size != 0 ? req->response_size : 16384;
		while (want < req->response_length + length + 1)
			want *= 2;
		if (want > limit + 1)
			want = limit + 1;
		if ((grown = realloc(req->response, want)) == NULL)
			return (0);
		req->response = grown;
		req->response_size = want;
	}
	memcpy(req->response + req->response_length, data, length);
	req->response_length += length;
	req->response[req->response_length] = '\0';
	return (size * n);
}

/* Response headers: the first one means the back end has answered. */
static size_t
llm_header_cb(__attribute__((unused)) char *data, size_t size, size_t n,
    void *arg)
{
	struct llm_request	*req = arg;

	req->got_bytes = true;
	return (size * n);
}

/*
 * The parameters REQ sends to back end B: B's, with the request's own
 * temperature (within 0 to LLM_MAX_TEMPERATURE; the provider cuts it
 * further) and max_tokens (from 1 to B's params.max_tokens, when that is
 * set: the operator's bound on an answer's cost).
 */
static void
llm_request_params(const struct llm_request *req, const struct llm_backend *b,
    struct config_params *params)
{
	int	ceiling = b->cfg->params.max_tokens;

	*params = b->cfg->params;
	if (!isnan(req->temperature))
		params->temperature = req->temperature < 0 ? 0 :
		    req->temperature > LLM_MAX_TEMPERATURE ?
		    LLM_MAX_TEMPERATURE : req->temperature;
	if (req->max_tokens != CONFIG_UNSET) {
		params->max_tokens = req->max_tokens < 1 ? 1 : req->max_tokens;
		if (ceiling != CONFIG_UNSET && params->max_tokens > ceiling)
			params->max_tokens = ceiling;
	}
}

/* Build and add the transfer of REQ to back end B. */
static int
llm_request_transfer(struct llm_request *req, struct llm_backend *b)
{
	long			timeout_s = req->probe ? (b->cfg->timeout_s <
				    LLM_PROBE_TIMEOUT_S ? b->cfg->timeout_s :
				    LLM_PROBE_TIMEOUT_S) : b->cfg->timeout_s;
	struct config_params	params;
	struct llm_chat		chat;

	req->backend = b;
	if ((req->easy = llm_curl_easy()) == NULL)
		return (-1);
	req->headers = llm_provider_headers(b->provider, b->key, !req->probe,
	    b->headers, b->headers_count);
	curl_easy_setopt(req->easy, CURLOPT_URL, req->probe ? b->models_url :
	    b->chat_url);
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
	if (!req->probe) {
		llm_request_params(req, b, &params);
		chat.model = b->cfg->model;
		chat.system = req->system;
		chat.messages = req->messages;
		chat.params = &params;
		if ((req->body = llm_provider_chat_body(b->provider, &chat)) ==
		    NULL)
			return (-1);
		curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body);
	}
	curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, llm_write_cb);
	curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_HEADERFUNCTION, llm_header_cb);
	curl_easy_setopt(req->easy, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, timeout_s * 1000);
	curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (timeout_s < 10 ? timeout_s : 10) * 1000);
	curl_easy_setopt(req->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	llm_curl_tls(req->easy, b->cfg->tls);
	curl_easy_setopt(req->easy, CURLOPT_USERAGENT,
	    "hotreloadd/" HOTRELOAD_VERSION);
	req->errbuf[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &req->attempt_started);
	if (llm_curl_add(req->easy) == -1)
		return (-1);
	b->in_flight++;
	if (!req->probe) {
		b->requests++;
		llm_usage_note(&b->usage, llm_now(), 1, 0);
	}
	return (0);
}

/* Room may have come at the back end REQ waits for: try it again. */
static void
llm_rate_timer_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct llm_request	*req = arg;

	req->rate_waiting = false;
	req->backend->rate_waiting--;
	llm_request_try(req);
}

/*
 * May REQ go to back end B at NOW under B's rate limit?  0: it may.  1:
 * room comes within max_wait_s of when REQ first found B full, and REQ
 * waits for it on its timer.  -1: it does not; REQ has its error, and
 * goes on to the next back end.
 */
static int
llm_request_rate_check(struct llm_request *req, struct llm_backend *b,
    double now)
{
	int		 rpm = b->cfg->rate_limit.requests_per_minute;
	int		 tpm = b->cfg->rate_limit.tokens_per_minute;
	double		 wait;
	uint64_t	 requests, tokens;
	struct timeval	 tv;

	if ((wait = llm_usage_wait(&b->usage, now, rpm, tpm)) <= 0) {
		req->rate_deadline = 0;
		return (0);
	}
	if (req->rate_deadline == 0)
		req->rate_deadline = now + b->cfg->rate_limit.max_wait_s;
	if (now + wait <= req->rate_deadline && (req->rate_timer != NULL ||
	    (req->rate_timer = evtimer_new(req->gen->registry->base,
	    llm_rate_timer_cb, req)) != NULL)) {
		/* A little after room comes, not before. */
		wait += 0.001;
		tv.tv_sec = (time_t)wait;
		tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
		evtimer_add(req->rate_timer, &tv);
		req->rate_waiting = true;
		req->backend = b;
		b->rate_waiting++;
		return (1);
	}
	req->rate_deadline = 0;
	b->rate_limited++;
	llm_usage_minute(&b->usage, now, &requests, &tokens);
	if (rpm != CONFIG_UNSET && requests >= (uint64_t)rpm)
		llm_request_error(req, LLM_ERR_RATE_LIMITED, "%s: over its "
		    "rate limit of %d requests a minute", b->cfg->name, rpm);
	else
		llm_request_error(req, LLM_ERR_RATE_LIMITED, "%s: over its "
		    "rate limit of %d tokens a minute", b->cfg->name, tpm);
	return (-1);
}

/*
 * Try the next back end in fallback order (from req->step).  Cooled-down
 * back ends are skipped while another one is left to try; one over its
 * rate limit is waited for or passed over (llm_request_rate_check).
 */
static void
llm_request_try(struct llm_request *req)
{
	struct llm_gen		*gen = req->gen;
	struct llm_backend	*b;
	double			 now = llm_now();

	while (req->step < req->order_count) {
		b = &gen->backends[req->order[req->step]];
		if (b->cooled_until > now && req->step + 1 < req->order_count) {
			if (req->error == NULL)
				llm_request_error(req, LLM_ERR_UNAVAILABLE,
				    "%s: cooling down after %u failures",
				    b->cfg->name, b->failures_in_a_row);
			req->step++;
			continue;
		}
		switch (llm_request_rate_check(req, b, now)) {
		case 1:
			return;
		case -1:
			req->step++;
			continue;
		}
		if (b->in_flight >= (unsigned int)b->cfg->max_in_flight) {
			if (b->waiting_count >=
			    (unsigned int)b->cfg->max_in_flight) {
				llm_request_error(req, LLM_ERR_OVERLOADED,
				    "%s: %d requests running and %u waiting "
				    "(max_in_flight)", b->cfg->name,
				    b->cfg->max_in_flight, b->waiting_count);
				llm_request_finish(req, NULL);
				return;
			}
			req->waiting = true;
			req->backend = b;
			TAILQ_INSERT_TAIL(&b->waiting, req, wait_entry);
			b->waiting_count++;
			return;
		}
		if (llm_request_transfer(req, b) == 0)
			return;
		llm_request_clear_transfer(req);
		llm_request_error(req, LLM_ERR_UNAVAILABLE, "%s: cannot start "
		    "the request", b->cfg->name);
		req->step++;
	}
	llm_request_finish(req, NULL);
}

/*
 * Tell watchers of back end B's health: EVENT ("cooled_down",
 * "recovered") with REASON.  Only the current generation's back ends
 * speak: a retiring generation's are about to go.
 */
static void
llm_backend_event(struct llm_backend *b, const char *event,
    const char *reason)
{
	struct llm_gen	*gen = b->gen;

	if (gen->registry->event == NULL || gen->retiring)
		return;
	registry_event(gen->registry, "llm", json_pack("{s:s, s:s, s:s, s:I, "
	    "s:s?}", "service", "llm", "backend", b->cfg->name, "event", event,
	    "generation", (json_int_t)(gen->inst != NULL ?
	    gen->inst->generation : 0), "reason", reason));
}

/* B answered: a back end that had failed has recovered. */
static void
llm_backend_ok(struct llm_backend *b)
{
	if (b->failures_in_a_row >= LLM_FAILURES_TO_COOL)
		llm_backend_event(b, "recovered", NULL);
	b->failures_in_a_row = 0;
}

/* B failed before answering: count it, and cool it down if it keeps on. */
static void
llm_backend_failed(struct llm_backend *b, const char *why)
{
	b->errors++;
	free(b->last_error);
	b->last_error = strdup(why);
	/* Cool down again if it still fails after a cool-down. */
	if (++b->failures_in_a_row >= LLM_FAILURES_TO_COOL &&
	    b->cooled_until <= llm_now()) {
		b->cooled_until = llm_now() + LLM_COOL_DOWN_S;
		log_warnx("llm: back end %s failed %u times in a row (%s); "
		    "cooling it down for %d s", b->cfg->name,
		    b->failures_in_a_row, why, LLM_COOL_DOWN_S);
		llm_backend_event(b, "cooled_down", why);
	}
}

/* A probe has ended; when all have, report the start. */
static void
llm_probe_done(struct llm_request *req, bool ok, const char *why)
{
	struct llm_gen		*gen = req->gen;
	struct llm_backend	*b = req->backend;

	if (ok) {
		llm_backend_ok(b);
		log_debug("llm: probe of %s (%s) answered", b->cfg->name,
		    b->shown_url);
	} else {
		llm_backend_failed(b, why);
		if (b == &gen->backends[gen->order[0]])
			gen->probe_error = str_printf("probe of back end %s "
			    "(%s) failed: %s", b->cfg->name, b->shown_url, why);
		else
			log_warnx("llm: probe of back end %s (%s) failed: %s; "
			    "it stays in the fallback list", b->cfg->name,
			    b->shown_url, why);
	}
	TAILQ_REMOVE(&gen->probes, req, entry);
	llm_request_clear_transfer(req);
	free(req->error);
	free(req);
	if (--gen->probes_pending == 0)
		gen->started_cb(gen->inst, gen->probe_error == NULL,
		    gen->probe_error);
}

/* A transfer has ended with curl's RESULT. */
static void
llm_transfer_done(struct llm_request *req, CURLcode result)
{
	struct llm_backend	*b = req->backend;
	struct llm_answer	 answer;
	long			 status = 0;
	double			 ms;
	char			*why = NULL, *detail = NULL;
	bool			 fall_back = false;
	int			 parsed;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	ms = timespec_elapsed_s(&req->attempt_started) * 1e3;
	b->in_flight--;

	if (result != CURLE_OK && req->response_too_large) {
		/* Not asked of another back end: this one did the work. */
		b->errors++;
		llm_request_error(req, LLM_ERR_BAD_RESPONSE, "%s: the answer "
		    "is larger than %d bytes; not accepted", b->cfg->name,
		    LLM_MAX_RESPONSE);
	} else if (result != CURLE_OK) {
		why = str_printf("%s", req->errbuf[0] != '\0' ? req->errbuf :
		    curl_easy_strerror(result));
		if (req->probe) {
			llm_probe_done(req, false, why);
			goto out;
		}
		/* Before any byte the next back end may do better. */
		fall_back = !req->got_bytes;
		llm_request_error(req, result == CURLE_OPERATION_TIMEDOUT ?
		    LLM_ERR_TIMEOUT : LLM_ERR_UNAVAILABLE, "%s: %s",
		    b->cfg->name, why);
		if (fall_back)
			llm_backend_failed(b, why);
		else
			b->errors++;
	} else if (status >= 200 && status < 300) {
		if (req->probe) {
			llm_probe_done(req, true, NULL);
			goto out;
		}
		llm_backend_ok(b);
		parsed = llm_provider_parse_answer(b->provider, req->response,
		    req->response_length, &answer, &why);
		/* The raw body is not needed to build the result. */
		llm_request_free_response(req);
		if (parsed == 0) {
			llm_usage_answer(&b->usage, answer.usage, ms / 1e3,
			    llm_now());
			llm_request_finish(req, &answer);
			llm_answer_clear(&answer);
			goto out;
		}
		b->errors++;
		llm_request_error(req, parsed == -2 ? LLM_ERR_BAD_RESPONSE :
		    LLM_ERR_UNAVAILABLE, "%s: %s", b->cfg->name, why);
	} else {
		detail = req->response != NULL ? llm_provider_error_text(
		    req->response, req->response_length) : NULL;
		why = str_printf("HTTP %ld%s%s", status, detail != NULL ?
		    ": " : "", detail != NULL ? detail : "");
		if (req->probe) {
			llm_probe_done(req, false, why);
			goto out;
		}
		if (status == 429 || status >= 500) {
			/* The back end's trouble: try the next one. */
			fall_back = true;
			llm_backend_failed(b, why);
			llm_request_error(req, LLM_ERR_UNAVAILABLE, "%s: %s",
			    b->cfg->name, why);
		} else {
			/* The request's trouble: another back end would
			 * refuse it too. */
			b->errors++;
			llm_request_error(req, LLM_ERR_BAD_REQUEST, "%s: %s",
			    b->cfg->name, why);
		}
	}

	llm_request_clear_transfer(req);
	if (fall_back) {
		req->step++;
		llm_request_try(req);
	} else
		llm_request_finish(req, NULL);
out:
	free(why);
	free(detail);
	llm_backend_dequeue(b);
}

/* llm-curl.c's report of a finished transfer: REQ is its private data. */
static void
llm_transfer_done_cb(void *req, CURLcode result)
{
	llm_transfer_done(req, result);
}

/* Free a generation's data. */
static void
llm_gen_free(struct llm_gen *gen)
{
	struct llm_request	*req;
	size_t			 i, j;

	while ((req = TAILQ_FIRST(&gen->probes)) != NULL) {
		TAILQ_REMOVE(&gen->probes, req, entry);
		if (req->backend != NULL && req->easy != NULL)
			req->backend->in_flight--;
		llm_request_clear_transfer(req);
		free(req->error);
		free(req);
	}
	for (i = 0; i < gen->backends_count; i++) {
		struct llm_backend *b = &gen->backends[i];

		llm_secret_free(b->key);
		for (j = 0; j < b->headers_count; j++)
			llm_secret_free(b->headers[j].value);
		free(b->headers);
		free(b->chat_url);
		free(b->models_url);
		free(b->shown_url);
		free(b->last_error);
	}
	free(gen->backends);
	free(gen->order);
	free(gen->probe_error);
	if (gen->retire_timer != NULL)
		event_free(gen->retire_timer);
	config_free(gen->config);
	free(gen);
}

/* Build a generation from CONFIG: back ends, keys, URLs; no I/O yet. */
static struct service_instance *
llm_create(struct registry *reg, const struct config *config, char **cause)
{
	const struct config_llm	*cfg = config->llm;
	struct llm_gen		*gen;
	struct llm_backend	*b;
	char			 path[64], tls_path[72];
	size_t			 i, j;

	*cause = NULL;
	if (cfg == NULL)
		return (NULL);
	if (llm_curl_init(reg->base, llm_transfer_done_cb) == -1) {
		*cause = strdup("cannot set up libcurl");
		return (NULL);
	}
	if ((gen = calloc(1, sizeof *gen)) == NULL)
		goto nomem;
	TAILQ_INIT(&gen->requests);
	TAILQ_INIT(&gen->probes);
	gen->registry = reg;
	gen->config = config_ref((struct config *)config);
	gen->cfg = cfg;
	gen->backends_count = cfg->backends_count;
	gen->backends = calloc(cfg->backends_count, sizeof *gen->backends);
	gen->order = calloc(cfg->fallback_count, sizeof *gen->order);
	gen->retire_timer = evtimer_new(reg->base, llm_retire_timeout_cb, gen);
	if (gen->backends == NULL || gen->order == NULL ||
	    gen->retire_timer == NULL)
		goto nomem;
	for (i = 0; i < cfg->backends_count; i++) {
		b = &gen->backends[i];
		b->gen = gen;
		b->cfg = &cfg->backends[i];
		TAILQ_INIT(&b->waiting);
		snprintf(path, sizeof path, "llm.backends[%zu]", i);
		if (llm_provider_parse(b->cfg->provider, &b->provider) == -1) {
			*cause = str_printf("%s.provider: unknown provider "
			    "\"%s\"", path, b->cfg->provider);
			goto fail;
		}
		snprintf(tls_path, sizeof tls_path, "%s.tls", path);
		if (llm_backend_key(b, path, cause) == -1 ||
		    llm_backend_headers(b, path, cause) == -1 ||
		    file_check_tls(b->cfg->tls, tls_path, cause) == -1)
			goto fail;
		b->chat_url = llm_provider_chat_url(b->provider, b->cfg);
		b->models_url = llm_provider_models_url(b->provider, b->cfg);
		b->shown_url = llm_url_without_credentials(b->cfg->base_url);
		if (b->chat_url == NULL || b->models_url == NULL ||
		    b->shown_url == NULL)
			goto nomem;
	}
	for (i = 0; i < cfg->fallback_count; i++) {
		for (j = 0; j < cfg->backends_count; j++) {
			if (strcmp(cfg->fallback[i], cfg->backends[j].name) ==
			    0)
				gen->order[gen->order_count++] = j;
		}
	}
	if ((gen->inst = service_instance_create(&llm_service_ops, gen)) ==
	    NULL)
		goto nomem;
	return (gen->inst);

nomem:
	*cause = strdup("out of memory");
fail:
	if (gen != NULL)
		llm_gen_free(gen);
	return (NULL);
}

/*
 * Bring a generation up.  The first one is ready at once (the daemon starts
 * without its back ends); a reload probes each back end's model list when
 * llm.probe_on_reload is set, and fails if the first in fallback order
 * does not answer.
 */
static void
llm_start(struct service_instance *inst, service_started_cb cb)
{
	struct llm_gen		*gen = inst->data;
	struct llm_request	*req;
	size_t			 i;

	gen->started_cb = cb;
	if (inst->slot->current == NULL || !gen->cfg->probe_on_reload) {
		cb(inst, true, NULL);
		return;
	}
	gen->probes_pending = (unsigned int)gen->backends_count;
	for (i = 0; i < gen->backends_count; i++) {
		if ((req = calloc(1, sizeof *req)) == NULL) {
			gen->probes_pending--;
			continue;
		}
		req->gen = gen;
		req->probe = true;
		TAILQ_INSERT_TAIL(&gen->probes, req, entry);
		if (llm_request_transfer(req, &gen->backends[i]) == -1)
			llm_probe_done(req, false, "cannot start the probe");
	}
	if (gen->probes_pending == 0 && TAILQ_EMPTY(&gen->probes) &&
	    gen->backends_count == 0)
		cb(inst, true, NULL);
}

/*
 * Fail what still runs on a retiring generation with "retired", so every
 * caller gets an answer: at llm.retire_timeout_s, or at once at shutdown
 * (the drain has had its drain.timeout_s already).
 */
static void
llm_retire_fail_all(struct llm_gen *gen)
{
	struct llm_request	*req;
	unsigned int		 n = 0;

	service_instance_ref(gen->inst);
	while (gen->retiring && (req = TAILQ_FIRST(&gen->requests)) != NULL) {
		if (req->waiting) {
			TAILQ_REMOVE(&req->backend->waiting, req, wait_entry);
			req->backend->waiting_count--;
			req->waiting = false;
		} else if (req->rate_waiting) {
			evtimer_del(req->rate_timer);
			req->backend->rate_waiting--;
			req->rate_waiting = false;
		} else if (req->easy != NULL)
			req->backend->in_flight--;
		if (gen->registry->shutting_down)
			llm_request_error(req, LLM_ERR_RETIRED, "hotreloadd "
			    "shut down while this request was still running");
		else
			llm_request_error(req, LLM_ERR_RETIRED, "LLM "
			    "generation %llu was retired by a reload while "
			    "this request was still running "
			    "(llm.retire_timeout_s is %d)",
			    (unsigned long long)gen->inst->generation,
			    gen->cfg->retire_timeout_s);
		llm_request_finish(req, NULL);
		n++;
	}
	log_info("llm: generation %llu: %u request(s) ended as retired",
	    (unsigned long long)gen->inst->generation, n);
	service_instance_unref(gen->inst);
}

/* The retire deadline has passed. */
static void
llm_retire_timeout_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct llm_gen	*gen = arg;

	log_warnx("llm: generation %llu still has requests after %d s "
	    "(llm.retire_timeout_s); failing them with \"retired\"",
	    (unsigned long long)gen->inst->generation,
	    gen->cfg->retire_timeout_s);
	llm_retire_fail_all(gen);
}

/* Stop taking work; finish what runs, up to llm.retire_timeout_s. */
static void
llm_retire(struct service_instance *inst)
{
	struct llm_gen	*gen = inst->data;
	struct timeval	 tv = { gen->cfg->retire_timeout_s, 0 };

	gen->retiring = true;
	if (TAILQ_EMPTY(&gen->requests)) {
		llm_gen_retire_check(gen);
		return;
	}
	/*
	 * At shutdown the drain has waited already; answer now, while the
	 * HSP connector (retired after this slot) can still carry results.
	 */
	if (gen->registry->shutting_down) {
		llm_retire_fail_all(gen);
		return;
	}
	evtimer_add(gen->retire_timer, &tv);
}

/* Free the generation (last reference gone). */
static void
llm_destroy(struct service_instance *inst)
{
	if (inst->data != NULL)
		llm_gen_free(inst->data);
}

/* Does the new configuration change the service? */
static bool
llm_changed(const struct config *old, const struct config *new)
{
	return (config_section_changed(old, new, "llm"));
}

/* Does CONFIG have an llm section? */
static bool
llm_configured(const struct config *config)
{
	return (config->llm != NULL);
}

const struct service_ops llm_service_ops = {
	.name = "llm",
	.create = llm_create,
	.start = llm_start,
	.retire = llm_retire,
	.destroy = llm_destroy,
	.status = llm_status,
	.configured = llm_configured,
	.changed = llm_changed,
	.metrics = llm_metrics,
	.exit = llm_shutdown,
};

/* Is there an LLM service to send requests to? */
bool
llm_available(struct registry *reg)
{
	return (registry_slot(reg, SERVICE_LLM)->current != NULL);
}

/* The index of the back end called NAME in GEN, or -1. */
static ssize_t
llm_backend_find(const struct llm_gen *gen, const char *name)
{
	size_t	i;

	for (i = 0; i < gen->backends_count; i++) {
		if (strcmp(gen->backends[i].cfg->name, name) == 0)
			return ((ssize_t)i);
	}
	return (-1);
}

/* Refuse REQ, which names NAME, a back end GEN does not have. */
static void
llm_request_no_such_backend(struct llm_request *req, const char *name)
{
	struct llm_gen	*gen = req->gen;
	char		*known = NULL, *more;
	size_t		 i;

	for (i = 0; i < gen->backends_count; i++) {
		more = str_printf("%s%s%s", known != NULL ? known : "",
		    i > 0 ? ", " : "", gen->backends[i].cfg->name);
		free(known);
		if ((known = more) == NULL)
			break;
	}
	/* The name came from the network: cut, and kept valid UTF-8. */
	llm_request_error(req, LLM_ERR_NO_SUCH_BACKEND, "no back end is "
	    "named \"%.64s\" (the back ends: %s)", name,
	    known != NULL ? known : "");
	str_utf8_repair(req->error);
	free(known);
	llm_request_finish(req, NULL);
}

/*
 * Send a chat (MESSAGES: [{role, content}], SYSTEM may be NULL) to the
 * current generation, with OPTIONS (NULL: none): a back end to use
 * instead of the fallback order, and the request's own temperature and
 * max_tokens.  CB is called once with the outcome, possibly before
 * llm_submit() returns (overload, no such back end, nothing configured).
 * Returns -1 only when there is no LLM service at all (CB is not called
 * then).
 */
int
llm_submit(struct registry *reg, json_t *messages, const char *system,
    const struct llm_options *options, llm_done_cb cb, void *arg)
{
	struct service_instance	*inst;
	struct llm_request	*req;
	struct llm_gen		*gen;
	ssize_t			 named = -1;

	inst = registry_slot(reg, SERVICE_LLM)->current;
	if (inst == NULL || (req = calloc(1, sizeof *req)) == NULL)
		return (-1);
	gen = inst->data;
	req->gen = gen;
	req->messages = json_incref(messages);
	req->system = system != NULL ? strdup(system) : NULL;
	req->temperature = options != NULL ? options->temperature : NAN;
	req->max_tokens = options != NULL ? options->max_tokens : CONFIG_UNSET;
	req->order = gen->order;
	req->order_count = gen->order_count;
	req->cb = cb;
	req->arg = arg;
	service_instance_work_begin(inst);
	TAILQ_INSERT_TAIL(&gen->requests, req, entry);
	if (options != NULL && options->backend != NULL) {
		if ((named = llm_backend_find(gen, options->backend)) == -1) {
			llm_request_no_such_backend(req, options->backend);
			return (0);
		}
		/* That back end alone: no fallback, no skipping. */
		req->only = (size_t)named;
		req->order = &req->only;
		req->order_count = 1;
	}
	if (req->order_count == 0) {
		llm_request_error(req, LLM_ERR_UNAVAILABLE, "no back end in "
		    "llm.fallback");
		llm_request_finish(req, NULL);
		return (0);
	}
	llm_request_try(req);
	return (0);
}

/* Release curl (exit). */
void
llm_shutdown(void)
{
	llm_curl_shutdown();
}
