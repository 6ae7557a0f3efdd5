/*
 * llmserver.c -- a stand-in LLM back end for the integration tests.
 *
 * One small HTTP server (libevent's evhttp, 127.0.0.1 only) that speaks
 * enough of the providers' APIs for hotreloadd to talk to it:
 *
 *   OpenAI-compatible  POST .../chat/completions, GET .../models (also
 *                      Azure OpenAI's .../openai/deployments/D/chat/
 *                      completions and .../openai/models)
 *   Ollama             POST .../api/chat, GET .../api/tags
 *   Anthropic          POST .../messages, GET .../models with an
 *                      anthropic-version header
 *   Gemini             POST .../models/MODEL:generateContent,
 *                      GET .../v1beta/models
 *   Cohere             POST .../v2/chat
 *
 * Every chat is answered "<name> says: <last user message>" (or a fixed
 * --reply), so a test can tell which back end answered and what it was sent;
 * --reply-bytes (or reply_bytes) makes the reply N bytes of "x" and
 * --pad-bytes (pad_bytes) adds N bytes of empty objects to the answer, for
 * tests of how a client copes with a huge answer.  The usage an answer
 * reports is about a token for 4 characters, or what prompt_tokens and
 * completion_tokens set, so that a test can count exactly.
 * An Ollama chat without "stream": false gets NDJSON, as from Ollama; the
 * others refuse "stream": true.
 * A test changes the behaviour at run time through POST /control (delay,
 * error status, hang, stall after the headers and half the body, fail the
 * next N chats, fail or spare the model list)
 * and reads what the server received through GET /requests.
 *
 * Nothing blocks the loop: a delayed or hanging request is a held_request
 * with its own timer (none when hanging), answered by that timer, so many
 * slow requests are answered together.  When the client goes away first,
 * libevent frees the connection and calls our close callback, which drops
 * the held requests of that connection.
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <jansson.h>

#include "llmserver-tls.h"
#include "tool.h"

const char	*tool_name = "llmserver";

/* A bad command line: exit LLMSERVER_EXIT_USAGE after pointing at --help. */
#define usage_error(...) \
	tool_usage_error(LLMSERVER_EXIT_USAGE, __VA_ARGS__)

#define LLMSERVER_EXIT_USAGE		2

/* Requests kept for GET /requests, at most; the oldest go first. */
#define LLMSERVER_MAX_RECORDS		1000
#define LLMSERVER_MAX_BODY		(16 * 1024 * 1024)
/* The longest reply_bytes: beyond any cap a client should have. */
#define LLMSERVER_MAX_REPLY_BYTES	(256L * 1024 * 1024)
/*
 * evhttp drops a connection that stays silent this long.  Its default (50 s)
 * would end a "hanging" request on its own; a test's client gives up long
 * before an hour.
 */
#define LLMSERVER_CONNECTION_TIMEOUT_S	3600
#define LLMSERVER_MAX_DELAY_MS		(24L * 3600 * 1000)
#define LLMSERVER_DEFAULT_FAIL_STATUS	500
#define LLMSERVER_DEFAULT_NAME		"llm"
#define LLMSERVER_DEFAULT_MODEL		"test-model"

/* Which API a request speaks: decides the shape of answers and errors. */
enum provider {
	PROVIDER_OPENAI,
	PROVIDER_OLLAMA,
	PROVIDER_ANTHROPIC,
	PROVIDER_GOOGLE,
	PROVIDER_COHERE,
};

enum endpoint_kind {
	ENDPOINT_CHAT,
	ENDPOINT_MODELS,
};

/* One back-end endpoint, found by the end of the request's path. */
struct endpoint {
	const char		*suffix;
	enum evhttp_cmd_type	 method;
	enum endpoint_kind	 kind;
	enum provider		 provider;
};

/* What a test can change through POST /control. */
struct settings {
	long		 delay_ms;
	int		 status;	/* 0: answer normally */
	bool		 hang;
	bool		 stall;		/* headers and half the body, no more */
	char		*reply;		/* NULL: "<name> says: .." */
	long		 reply_bytes;	/* > 0: a reply this long, of "x" */
	long		 pad_bytes;	/* > 0: "padding": [{},{},..] this long */
	long		 prompt_tokens;	/* > 0: the usage answers report */
	long		 completion_tokens;
	long		 fail_next;	/* chats still to fail */
	int		 fail_status;
	bool		 models_ok;	/* model lists ignore all that */
	int		 models_status;	/* 0: as the chats */
	json_t		*models;	/* array of model names */
};

/* Of back-end requests; dropped: held, then never answered. */
struct counters {
	unsigned long long	 requests;
	unsigned long long	 chats;
	unsigned long long	 model_lists;
	unsigned long long	 ok;		/* answered 2xx */
	unsigned long long	 errors;	/* answered otherwise */
	unsigned long long	 dropped;
};

/* An answer ready to be sent. */
struct response {
	int		 status;
	const char	*content_type;
	char		*body;
};

struct llmserver;

/* A request held back by a delay (timer set) or a hang (no timer). */
struct held_request {
	TAILQ_ENTRY(held_request)	 entry;
	struct llmserver		*server;
	struct evhttp_request		*req;
	/* Kept to match the close callback: req may lose it first. */
	struct evhttp_connection	*evcon;
	struct event			*timer;
	/* EV_CLOSED on the socket: evhttp reads nothing while we hold. */
	struct event			*close_watch;
	long				 delay_ms;
	bool				 stalled;	/* the answer has begun */
	struct response			 response;
	json_t				*record;	/* a reference */
};

TAILQ_HEAD(held_list, held_request);

struct llmserver {
	struct event_base	*base;
	struct evhttp		*http;
	struct event		*sigterm_event;
	struct event		*sigint_event;
	const char		*name;
	int			 port;
	FILE			*log;
	struct settings		 initial;	/* command line */
	struct settings		 current;
	struct counters		 counters;
	json_t			*records;
	unsigned long long	 next_record;
	struct held_list	 held;
};

static const struct endpoint endpoints[] = {
	{ "/chat/completions", EVHTTP_REQ_POST, ENDPOINT_CHAT,
	    PROVIDER_OPENAI },
	{ "/api/chat", EVHTTP_REQ_POST, ENDPOINT_CHAT, PROVIDER_OLLAMA },
	{ "/messages", EVHTTP_REQ_POST, ENDPOINT_CHAT, PROVIDER_ANTHROPIC },
	{ ":generateContent", EVHTTP_REQ_POST, ENDPOINT_CHAT, PROVIDER_GOOGLE },
	{ "/v2/chat", EVHTTP_REQ_POST, ENDPOINT_CHAT, PROVIDER_COHERE },
	{ "/api/tags", EVHTTP_REQ_GET, ENDPOINT_MODELS, PROVIDER_OLLAMA },
	{ "/v1beta/models", EVHTTP_REQ_GET, ENDPOINT_MODELS, PROVIDER_GOOGLE },
	/* PROVIDER_ANTHROPIC instead when an anthropic-version is sent. */
	{ "/models", EVHTTP_REQ_GET, ENDPOINT_MODELS, PROVIDER_OPENAI },
};

/* Error "type" strings, as OpenAI and Anthropic use them. */
static const struct {
	int		 status;
	const char	*type;
} error_types[] = {
	{ 400, "invalid_request_error" },
	{ 401, "authentication_error" },
	{ 403, "permission_error" },
	{ 404, "not_found_error" },
	{ 405, "invalid_request_error" },
	{ 413, "request_too_large" },
	{ 429, "rate_limit_error" },
	{ 503, "overloaded_error" },
	{ 529, "overloaded_error" },
};

/*
 * Small helpers.
 */

/* Take a json_t that must exist: jansson returns NULL only out of memory. */
static json_t *
json_checked(json_t *value)
{
	if (value == NULL)
		tool_fatal(1, "out of memory (json)");
	return value;
}

/* value as compact JSON text, newly allocated. */
static char *
json_text(const json_t *value)
{
	char	*text;

	if ((text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		tool_fatal(1, "out of memory (json_dumps)");
	return text;
}

/*
 * A JSON string of length bytes; bytes that are not valid UTF-8 turn the
 * whole text into ASCII, each byte above 0x7f a '?', so that a record never
 * goes missing for its encoding.
 */
static json_t *
json_string_lossy(const char *data, size_t length)
{
	json_t	*value;
	char	*copy;
	size_t	 i;

	if ((value = json_stringn(data, length)) != NULL)
		return value;
	copy = xmalloc(length);
	for (i = 0; i < length; i++)
		copy[i] = (unsigned char)data[i] > 0x7f ? '?' : data[i];
	value = json_checked(json_stringn(copy, length));
	free(copy);
	return value;
}

/* True if s is valid UTF-8, as jansson wants its strings. */
static bool
utf8_valid(const char *s)
{
	json_t	*value;

	if ((value = json_string(s)) == NULL)
		return false;
	json_decref(value);
	return true;
}

/* Characters (UTF-8 code points) in length bytes of text. */
static size_t
utf8_characters(const char *text, size_t length)
{
	size_t	i, count = 0;

	for (i = 0; i < length; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			count++;
	return count;
}

/* The current time as "2024-05-01T12:00:00.123456Z". */
static void
timestamp_format(char *out, size_t size)
{
	struct timespec	ts;
	struct tm	tm;
	char		seconds[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%06ldZ", seconds, ts.tv_nsec / 1000);
}

static const char *
method_name(enum evhttp_cmd_type method)
{
	switch (method) {
	case EVHTTP_REQ_GET:		return "GET";
	case EVHTTP_REQ_POST:		return "POST";
	case EVHTTP_REQ_HEAD:		return "HEAD";
	case EVHTTP_REQ_PUT:		return "PUT";
	case EVHTTP_REQ_DELETE:		return "DELETE";
	case EVHTTP_REQ_OPTIONS:	return "OPTIONS";
	case EVHTTP_REQ_TRACE:		return "TRACE";
	case EVHTTP_REQ_CONNECT:	return "CONNECT";
	case EVHTTP_REQ_PATCH:		return "PATCH";
	}
	return "UNKNOWN";
}

/* The path of the request, without its query; "/" when there is none. */
static const char *
request_path(struct evhttp_request *req)
{
	const struct evhttp_uri	*uri;
	const char		*path = NULL;

	if ((uri = evhttp_request_get_evhttp_uri(req)) != NULL)
		path = evhttp_uri_get_path(uri);
	return path != NULL && *path != '\0' ? path : "/";
}

static bool
string_ends_with(const char *s, const char *suffix)
{
	size_t	length = strlen(s), suffix_length = strlen(suffix);

	return length >= suffix_length &&
	    strcmp(s + length - suffix_length, suffix) == 0;
}

/* An HTTP status a test may ask for: 0 (none) or 200 to 599. */
static bool
status_valid(json_int_t status)
{
	return status == 0 || (status >= 200 && status <= 599);
}

/*
 * Logging: one line per request, to --log or standard error.
 */

static void __attribute__((format(printf, 4, 5)))
log_request(struct llmserver *server, const char *method, const char *path,
    const char *fmt, ...)
{
	va_list	ap;
	char	now[64];

	timestamp_format(now, sizeof now);
	fprintf(server->log, "%s %s %s %s ", now, server->name, method, path);
	va_start(ap, fmt);
	vfprintf(server->log, fmt, ap);
	va_end(ap);
	fputc('\n', server->log);
	fflush(server->log);
}

/*
 * Settings.
 */

static void
settings_clear(struct settings *settings)
{
	free(settings->reply);
	json_decref(settings->models);
	memset(settings, 0, sizeof *settings);
}

/* Make dst a deep copy of src (dst holds nothing). */
static void
settings_copy(struct settings *dst, const struct settings *src)
{
	*dst = *src;
	dst->reply = src->reply != NULL ? xstrdup(src->reply) : NULL;
	dst->models = json_checked(json_deep_copy(src->models));
}

/* The settings and counters, as GET /control shows them. */
static json_t *
settings_to_json(const struct llmserver *server)
{
	const struct settings		*s = &server->current;
	const struct counters		*c = &server->counters;
	const struct held_request	*held;
	unsigned long long		 delayed = 0, hanging = 0, stalled = 0;

	TAILQ_FOREACH(held, &server->held, entry) {
		if (held->timer != NULL)
			delayed++;
		else if (held->stalled)
			stalled++;
		else
			hanging++;
	}
	return json_checked(json_pack(
	    "{s:o, s:i, s:I, s:i, s:b, s:b, s:s?, s:I, s:I, s:I, s:I, s:I,"
	    " s:i, s:b, s:i, s:O,"
	    " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
	    "name", json_string_lossy(server->name, strlen(server->name)),
	    "port", server->port,
	    "delay_ms", (json_int_t)s->delay_ms,
	    "status", s->status,
	    "hang", s->hang,
	    "stall", s->stall,
	    "reply", s->reply,
	    "reply_bytes", (json_int_t)s->reply_bytes,
	    "pad_bytes", (json_int_t)s->pad_bytes,
	    "prompt_tokens", (json_int_t)s->prompt_tokens,
	    "completion_tokens", (json_int_t)s->completion_tokens,
	    "fail_next", (json_int_t)s->fail_next,
	    "fail_status", s->fail_status,
	    "models_ok", s->models_ok,
	    "models_status", s->models_status,
	    "models", s->models,
	    "counters",
	    "requests", (json_int_t)c->requests,
	    "chat", (json_int_t)c->chats,
	    "models", (json_int_t)c->model_lists,
	    "ok", (json_int_t)c->ok,
	    "errors", (json_int_t)c->errors,
	    "delayed", (json_int_t)delayed,
	    "hanging", (json_int_t)hanging,
	    "stalled", (json_int_t)stalled,
	    "dropped", (json_int_t)c->dropped,
	    "recorded", (json_int_t)json_array_size(server->records)));
}

/* Read key as an integer in [min, max]; 0 if absent, -1 with a cause. */
static int
settings_get_integer(const json_t *changes, const char *key, json_int_t min,
    json_int_t max, json_int_t *out, char *cause, size_t size)
{
	const json_t	*value;

	if ((value = json_object_get(changes, key)) == NULL)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < min ||
	    json_integer_value(value) > max) {
		snprintf(cause, size, "%s: must be an integer from %lld to "
		    "%lld", key, (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(value);
	return 0;
}

/* Read key as a status (0 or 200-599); 0 if absent, -1 with a cause. */
static int
settings_get_status(const json_t *changes, const char *key, int *out,
    char *cause, size_t size)
{
	const json_t	*value;

	if ((value = json_object_get(changes, key)) == NULL)
		return 0;
	if (!json_is_integer(value) ||
	    !status_valid(json_integer_value(value))) {
		snprintf(cause, size, "%s: must be 0 or an HTTP status "
		    "from 200 to 599", key);
		return -1;
	}
	*out = (int)json_integer_value(value);
	return 0;
}

/* Read key as a boolean; 0 if absent, -1 with a cause. */
static int
settings_get_boolean(const json_t *changes, const char *key, bool *out,
    char *cause, size_t size)
{
	const json_t	*value;

	if ((value = json_object_get(changes, key)) == NULL)
		return 0;
	if (!json_is_boolean(value)) {
		snprintf(cause, size, "%s: must be true or false", key);
		return -1;
	}
	*out = json_is_true(value);
	return 0;
}

/*
 * Apply the changes of a POST /control to next, a copy of the current
 * settings.  "reset" goes first whatever the order of the keys.  With a
 * "fail_next" above 0, "status" is the status of those failures (500 when
 * absent or 0) and the standing status is left as it is, so the model list
 * keeps passing; "fail_next": 0 cancels failures still due.  The caller
 * swaps next in only on success, so a bad request changes nothing.
 */
static int
settings_apply(struct settings *next, const struct settings *initial,
    const json_t *changes, char *cause, size_t size)
{
	static const char *const known[] = {
		"delay_ms", "status", "hang", "stall", "reply", "reply_bytes",
		"pad_bytes", "prompt_tokens", "completion_tokens", "fail_next",
		"models_ok", "models_status", "models", "reset",
	};
	const char	*key;
	const json_t	*value, *model;
	json_t		*mutable_changes = (json_t *)changes;
	json_int_t	 number;
	size_t		 i, index;
	bool		 flag = false;
	int		 status = 0;

	if (!json_is_object(changes)) {
		snprintf(cause, size, "the body must be a JSON object");
		return -1;
	}
	/* json_object_foreach wants a json_t *; it does not modify it. */
	json_object_foreach(mutable_changes, key, value) {
		for (i = 0; i < sizeof known / sizeof known[0]; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == sizeof known / sizeof known[0]) {
			snprintf(cause, size, "unknown setting: %s", key);
			return -1;
		}
	}

	if (settings_get_boolean(changes, "reset", &flag, cause, size) == -1)
		return -1;
	if (flag) {
		settings_clear(next);
		settings_copy(next, initial);
	}

	number = next->delay_ms;
	if (settings_get_integer(changes, "delay_ms", 0, LLMSERVER_MAX_DELAY_MS,
	    &number, cause, size) == -1)
		return -1;
	next->delay_ms = (long)number;

	if (settings_get_status(changes, "status", &status, cause, size) == -1)
		return -1;
	number = 0;
	if (settings_get_integer(changes, "fail_next", 0, INT_MAX, &number,
	    cause, size) == -1)
		return -1;
	if (number > 0) {
		next->fail_next = (long)number;
		next->fail_status = status != 0 ? status :
		    LLMSERVER_DEFAULT_FAIL_STATUS;
	} else {
		if (json_object_get(changes, "fail_next") != NULL) {
			next->fail_next = 0;
			next->fail_status = LLMSERVER_DEFAULT_FAIL_STATUS;
		}
		if (json_object_get(changes, "status") != NULL)
			next->status = status;
	}

	if (settings_get_boolean(changes, "stall", &next->stall, cause,
	    size) == -1)
		return -1;
	if (settings_get_boolean(changes, "hang", &next->hang, cause,
	    size) == -1 ||
	    settings_get_boolean(changes, "models_ok", &next->models_ok, cause,
	    size) == -1 ||
	    settings_get_status(changes, "models_status", &next->models_status,
	    cause, size) == -1)
		return -1;

	if ((value = json_object_get(changes, "reply")) != NULL) {
		if (!json_is_string(value) && !json_is_null(value)) {
			snprintf(cause, size,
			    "reply: must be a string or null");
			return -1;
		}
		free(next->reply);
		next->reply = json_is_string(value) ?
		    xstrdup(json_string_value(value)) : NULL;
	}

	number = next->reply_bytes;
	if (settings_get_integer(changes, "reply_bytes", 0,
	    LLMSERVER_MAX_REPLY_BYTES, &number, cause, size) == -1)
		return -1;
	next->reply_bytes = (long)number;
	number = next->pad_bytes;
	if (settings_get_integer(changes, "pad_bytes", 0,
	    LLMSERVER_MAX_REPLY_BYTES, &number, cause, size) == -1)
		return -1;
	next->pad_bytes = (long)number;
	number = next->prompt_tokens;
	if (settings_get_integer(changes, "prompt_tokens", 0, INT_MAX, &number,
	    cause, size) == -1)
		return -1;
	next->prompt_tokens = (long)number;
	number = next->completion_tokens;
	if (settings_get_integer(changes, "completion_tokens", 0, INT_MAX,
	    &number, cause, size) == -1)
		return -1;
	next->completion_tokens = (long)number;

	if ((value = json_object_get(changes, "models")) != NULL) {
		if (!json_is_array(value) || json_array_size(value) == 0) {
			snprintf(cause, size,
			    "models: must be a non-empty array of names");
			return -1;
		}
		json_array_foreach(value, index, model) {
			if (!json_is_string(model) ||
			    json_string_length(model) == 0) {
				snprintf(cause, size, "models: must be a "
				    "non-empty array of names");
				return -1;
			}
		}
		json_decref(next->models);
		next->models = json_checked(json_deep_copy(value));
	}
	return 0;
}

/*
 * Answers.
 */

static void
response_clear(struct response *response)
{
	free(response->body);
	response->body = NULL;
}

/* Make response a JSON answer; body is consumed. */
static void
response_set_json(struct response *response, int status, json_t *body)
{
	response->status = status;
	response->content_type = "application/json";
	response->body = json_text(body);
	json_decref(body);
}

static const char *
error_type(int status)
{
	size_t	i;

	for (i = 0; i < sizeof error_types / sizeof error_types[0]; i++)
		if (error_types[i].status == status)
			return error_types[i].type;
	return status >= 500 ? "api_error" : "invalid_request_error";
}

/* An error answer shaped as the provider shapes its own. */
static void
response_set_error(struct response *response, enum provider provider,
    int status, const char *message)
{
	json_t	*body = NULL, *text;

	/* The message may quote the client's bytes (a path, bad JSON). */
	text = json_string_lossy(message, strlen(message));
	switch (provider) {
	case PROVIDER_OPENAI:
		body = json_pack("{s:{s:O, s:s, s:n, s:n}}", "error",
		    "message", text, "type", error_type(status),
		    "param", "code");
		break;
	case PROVIDER_ANTHROPIC:
		body = json_pack("{s:s, s:{s:s, s:O}}", "type", "error",
		    "error", "type", error_type(status), "message", text);
		break;
	case PROVIDER_OLLAMA:
		body = json_pack("{s:O}", "error", text);
		break;
	case PROVIDER_GOOGLE:
		body = json_pack("{s:{s:i, s:O, s:s}}", "error", "code", status,
		    "message", text, "status", status == 429 ?
		    "RESOURCE_EXHAUSTED" : status >= 500 ? "INTERNAL" :
		    "INVALID_ARGUMENT");
		break;
	case PROVIDER_COHERE:
		body = json_pack("{s:s, s:O}", "id", "llmserver-error",
		    "message", text);
		break;
	}
	json_decref(text);
	response_set_json(response, status, json_checked(body));
}

/* The simulated failure of a chat or model list. */
static void
response_set_failure(struct llmserver *server, struct response *response,
    enum provider provider, int status)
{
	char	*message;

	message = xasprintf("llmserver %s: simulated failure (status %d)",
	    server->name, status);
	response_set_error(response, provider, status, message);
	free(message);
}

/*
 * Send response to req, noting the outcome in record (may be NULL), the
 * counters and the log first: method and path may belong to req, which may
 * be gone once the answer is handed over.
 */
static void
response_send(struct llmserver *server, struct evhttp_request *req,
    const struct response *response, json_t *record, const char *method,
    const char *path, long delayed_ms)
{
	struct evbuffer	*buffer;

	if (record != NULL) {
		json_object_set_new(record, "status",
		    json_checked(json_integer(response->status)));
		if (response->status >= 200 && response->status < 300)
			server->counters.ok++;
		else
			server->counters.errors++;
	}
	if (delayed_ms > 0)
		log_request(server, method, path, "%d (after %ld ms)",
		    response->status, delayed_ms);
	else
		log_request(server, method, path, "%d", response->status);

	if ((buffer = evbuffer_new()) == NULL)
		tool_fatal(1, "out of memory (evbuffer)");
	evbuffer_add(buffer, response->body, strlen(response->body));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", response->content_type);
	evhttp_send_reply(req, response->status, NULL, buffer);
	evbuffer_free(buffer);
}

/* Send a JSON answer at once; body is consumed. */
static void
reply_json(struct llmserver *server, struct evhttp_request *req, int status,
    json_t *body, const char *method, const char *path)
{
	struct response	response;

	response_set_json(&response, status, body);
	response_send(server, req, &response, NULL, method, path, 0);
	response_clear(&response);
}

/* Send an (OpenAI-shaped) error at once. */
static void
reply_error(struct llmserver *server, struct evhttp_request *req, int status,
    const char *message, const char *method, const char *path)
{
	struct response	response;

	response_set_error(&response, PROVIDER_OPENAI, status, message);
	response_send(server, req, &response, NULL, method, path, 0);
	response_clear(&response);
}

/*
 * Held requests: delayed or hanging.
 */

static void
held_free(struct held_request *held)
{
	if (held->timer != NULL)
		event_free(held->timer);
	if (held->close_watch != NULL)
		event_free(held->close_watch);
	response_clear(&held->response);
	json_decref(held->record);
	free(held);
}

static const char *
record_method(const json_t *record)
{
	return json_string_value(json_object_get(record, "method"));
}

static const char *
record_path(const json_t *record)
{
	return json_string_value(json_object_get(record, "path"));
}

/* A delay is over: send the answer prepared when the request came. */
static void
held_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct held_request	*held = arg;
	struct llmserver	*server = held->server;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&server->held, held, entry);
	/* Off the socket before evhttp may close it. */
	if (held->close_watch != NULL) {
		event_free(held->close_watch);
		held->close_watch = NULL;
	}
	response_send(server, held->req, &held->response, held->record,
	    record_method(held->record), record_path(held->record),
	    held->delay_ms);
	held_free(held);
}

/*
 * Forget a held request that will never be answered.  libevent detaches a
 * request from its connection when the client goes away first; such a
 * request is ours to free.  One still attached is freed by libevent with
 * its connection (at exit), so it must not be touched.
 */
static void
held_drop(struct llmserver *server, struct held_request *held,
    const char *why)
{
	TAILQ_REMOVE(&server->held, held, entry);
	if (evhttp_request_get_connection(held->req) == NULL)
		evhttp_request_free(held->req);
	server->counters.dropped++;
	log_request(server, record_method(held->record),
	    record_path(held->record), "- (%s %s)",
	    held->timer != NULL ? "delayed," : held->stalled ? "stalled," :
	    "hanging,", why);
	held_free(held);
}

/*
 * libevent is freeing a connection (the client closed it, or we exit): drop
 * the requests held on it.  Called before libevent frees the requests still
 * attached to the connection, after it detached the one the client left.
 */
static void
connection_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct llmserver	*server = arg;
	struct held_request	*held, *next;

	for (held = TAILQ_FIRST(&server->held); held != NULL; held = next) {
		next = TAILQ_NEXT(held, entry);
		if (held->evcon == evcon)
			held_drop(server, held, "client went away");
	}
}

/*
 * The client of a held request hung up.  evhttp does not notice by itself:
 * it stops reading a connection once a request has arrived.  Drop ours
 * first, then free the connection, which frees the request with it.
 */
static void
held_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct held_request		*held = arg;
	struct evhttp_connection	*evcon = held->evcon;

	(void)fd;
	(void)what;
	held_drop(held->server, held, "client went away");
	evhttp_connection_free(evcon);
}

/*
 * Hold req: answer response after delay_ms, or never when hang.  response
 * is taken over.  Returns the held request.
 */
static struct held_request *
held_start(struct llmserver *server, struct evhttp_request *req,
    json_t *record, struct response *response, long delay_ms, bool hang)
{
	struct held_request	*held;
	struct bufferevent	*bufev;
	struct timeval		 tv;
	evutil_socket_t		 fd;

	held = xcalloc(1, sizeof *held);
	held->server = server;
	held->req = req;
	held->evcon = evhttp_request_get_connection(req);
	held->record = json_incref(record);
	held->delay_ms = delay_ms;
	held->response = *response;
	response->body = NULL;
	if (!hang) {
		held->timer = evtimer_new(server->base, held_timer_cb, held);
		if (held->timer == NULL)
			tool_fatal(1, "out of memory (evtimer_new)");
		tv.tv_sec = delay_ms / 1000;
		tv.tv_usec = (delay_ms % 1000) * 1000;
		evtimer_add(held->timer, &tv);
	}
	TAILQ_INSERT_TAIL(&server->held, held, entry);
	evhttp_connection_set_closecb(held->evcon, connection_close_cb,
	    server);
	/* Without EV_CLOSED (not epoll) a gone client is seen at exit only. */
	bufev = evhttp_connection_get_bufferevent(held->evcon);
	if ((event_base_get_features(server->base) &
	    EV_FEATURE_EARLY_CLOSE) != 0 && bufev != NULL &&
	    (fd = bufferevent_getfd(bufev)) != -1) {
		held->close_watch = event_new(server->base, fd, EV_CLOSED,
		    held_close_cb, held);
		if (held->close_watch == NULL)
			tool_fatal(1, "out of memory (event_new)");
		event_add(held->close_watch, NULL);
	}
	return held;
}

/*
 * Stall req: send the status line, the headers (with the full
 * Content-Length) and the first half of the body of response, then nothing
 * more, as a back end that dies in the middle of its answer.  Held like a
 * hang, so a client that gives up is seen.  response is taken over.
 */
static void
held_start_stalled(struct llmserver *server, struct evhttp_request *req,
    json_t *record, struct response *response)
{
	struct held_request	*held;
	size_t			 length = strlen(response->body);
	char			 content_length[32];

	snprintf(content_length, sizeof content_length, "%zu", length);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", response->content_type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Length", content_length);
	evhttp_send_reply_start(req, response->status, NULL);
	if (length / 2 > 0) {
		struct evbuffer	*half = evbuffer_new();

		if (half == NULL)
			tool_fatal(1, "out of memory (evbuffer)");
		evbuffer_add(half, response->body, length / 2);
		evhttp_send_reply_chunk(req, half);
		evbuffer_free(half);
	}
	held = held_start(server, req, record, response, 0, true);
	held->stalled = true;
	log_request(server, record_method(record), record_path(record),
	    "%d, stalled after %zu of %zu body bytes", response->status,
	    length / 2, length);
}

/*
 * Recorded requests.
 */

/*
 * The body of req: null when empty, the parsed JSON when it is JSON, else
 * the text itself (and the parse error in cause).
 */
static json_t *
request_body(struct evhttp_request *req, char *cause, size_t size)
{
	struct evbuffer	*input = evhttp_request_get_input_buffer(req);
	json_error_t	 error;
	json_t		*body;
	const char	*data;
	size_t		 length;

	*cause = '\0';
	if ((length = evbuffer_get_length(input)) == 0)
		return json_null();
	data = (const char *)evbuffer_pullup(input, -1);
	if ((body = json_loadb(data, length, JSON_DECODE_ANY, &error)) != NULL)
		return body;
	snprintf(cause, size, "malformed JSON body: %s (line %d, column %d)",
	    error.text, error.line, error.column);
	return json_string_lossy(data, length);
}

/* The request headers as an object, names in lower case. */
static json_t *
request_headers(struct evhttp_request *req)
{
	struct evkeyvalq	*headers;
	struct evkeyval		*header;
	json_t			*object, *old, *key;
	const char		*name;
	char			*lower, *joined;
	size_t			 i;

	object = json_checked(json_object());
	headers = evhttp_request_get_input_headers(req);
	TAILQ_FOREACH(header, headers, next) {
		lower = xstrdup(header->key);
		for (i = 0; lower[i] != '\0'; i++)
			if (lower[i] >= 'A' && lower[i] <= 'Z')
				lower[i] = (char)(lower[i] - 'A' + 'a');
		/* Keys must be UTF-8 too, or jansson refuses them. */
		key = json_string_lossy(lower, strlen(lower));
		name = json_string_value(key);
		/* A repeated header: its values joined, as HTTP allows. */
		if ((old = json_object_get(object, name)) != NULL) {
			joined = xasprintf("%s, %s", json_string_value(old),
			    header->value);
			json_object_set_new(object, name,
			    json_string_lossy(joined, strlen(joined)));
			free(joined);
		} else
			json_object_set_new(object, name,
			    json_string_lossy(header->value,
			    strlen(header->value)));
		json_decref(key);
		free(lower);
	}
	return object;
}

/*
 * Record req for GET /requests and return the record (a borrowed
 * reference, kept alive by the list until this callback returns); cause
 * gets the JSON error when the body is not JSON.
 */
static json_t *
record_add(struct llmserver *server, struct evhttp_request *req,
    const char *method, const char *path, char *cause, size_t size)
{
	const struct evhttp_uri	*uri;
	const char		*query = NULL;
	json_t			*record;

	if ((uri = evhttp_request_get_evhttp_uri(req)) != NULL)
		query = evhttp_uri_get_query(uri);
	record = json_checked(json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:n}",
	    "n", (json_int_t)++server->next_record,
	    "method", method,
	    "path", json_string_lossy(path, strlen(path)),
	    "query", query != NULL ?
	    json_string_lossy(query, strlen(query)) : json_null(),
	    "headers", request_headers(req),
	    "body", request_body(req, cause, size),
	    "status"));
	if (json_array_size(server->records) >= LLMSERVER_MAX_RECORDS)
		json_array_remove(server->records, 0);
	json_array_append_new(server->records, record);
	server->counters.requests++;
	return record;
}

/*
 * Chats.
 */

/*
 * The text of a message's content: a string, or the "text" of each block
 * of an array of content blocks, joined.  Newly allocated and NUL
 * terminated; *length leaves the NUL out (the text may hold others).
 */
static char *
content_text(const json_t *content, size_t *length)
{
	const json_t	*block, *text;
	size_t		 index, total = 0, at = 0;
	char		*out;

	if (json_is_string(content)) {
		total = json_string_length(content);
		out = xmalloc(total + 1);
		memcpy(out, json_string_value(content), total);
	} else {
		json_array_foreach(content, index, block) {
			text = json_object_get(block, "text");
			if (json_is_string(text))
				total += json_string_length(text);
		}
		out = xmalloc(total + 1);
		json_array_foreach(content, index, block) {
			text = json_object_get(block, "text");
			if (!json_is_string(text))
				continue;
			memcpy(out + at, json_string_value(text),
			    json_string_length(text));
			at += json_string_length(text);
		}
	}
	out[total] = '\0';
	*length = total;
	return out;
}

/* What the answer to a chat needs from its request. */
struct chat {
	json_t		*model;		/* a reference */
	size_t		 prompt_characters;
	char		*last_user;	/* "" when no user message */
	size_t		 last_user_length;
	bool		 stream;
};

static void
chat_clear(struct chat *chat)
{
	json_decref(chat->model);
	free(chat->last_user);
}

/*
 * The model a Gemini request names in its PATH (".../models/M:
 * generateContent"), decoded, or NULL.
 */
static json_t *
google_model(const char *path)
{
	const char	*start, *end;
	char		*encoded, *decoded;
	json_t		*model;

	if ((start = strstr(path, "/models/")) == NULL ||
	    (end = strrchr(path, ':')) == NULL || end < start + 8)
		return NULL;
	start += 8;
	encoded = xasprintf("%.*s", (int)(end - start), start);
	decoded = evhttp_uridecode(encoded, 0, NULL);
	model = decoded != NULL ? json_string_lossy(decoded, strlen(decoded)) :
	    NULL;
	free(decoded);
	free(encoded);
	return model;
}

/*
 * Read a chat request body (to PATH).  Returns 0, or -1 with a cause for
 * the client.  Gemini's turns are "contents" of "parts", its system prompt
 * "systemInstruction" and its model in the path; the others' are
 * "messages" of "content".  Ollama streams unless told not to; the others
 * only when asked.
 */
static int
chat_parse(const struct llmserver *server, enum provider provider,
    const json_t *body, const char *path, struct chat *chat, char *cause,
    size_t size)
{
	const json_t	*messages, *message, *role, *model, *stream;
	const char	*list = "messages", *member = "content";
	char		*text;
	size_t		 index, length;

	memset(chat, 0, sizeof *chat);
	if (!json_is_object(body)) {
		snprintf(cause, size, "the request body must be a JSON object");
		return -1;
	}
	if (provider == PROVIDER_GOOGLE) {
		list = "contents";
		member = "parts";
		text = content_text(json_object_get(json_object_get(body,
		    "systemInstruction"), "parts"), &length);
		chat->prompt_characters += utf8_characters(text, length);
		free(text);
	}
	messages = json_object_get(body, list);
	if (messages == NULL) {
		snprintf(cause, size, "%s: field required", list);
		return -1;
	}
	if (!json_is_array(messages) || json_array_size(messages) == 0) {
		snprintf(cause, size, "%s: must be a non-empty array", list);
		return -1;
	}
	json_array_foreach(messages, index, message) {
		if (!json_is_object(message)) {
			snprintf(cause, size,
			    "%s[%zu]: must be an object", list, index);
			chat_clear(chat);
			return -1;
		}
		text = content_text(json_object_get(message, member),
		    &length);
		chat->prompt_characters += utf8_characters(text, length);
		role = json_object_get(message, "role");
		if (json_is_string(role) &&
		    strcmp(json_string_value(role), "user") == 0) {
			free(chat->last_user);
			chat->last_user = text;
			chat->last_user_length = length;
		} else
			free(text);
	}
	if (chat->last_user == NULL)
		chat->last_user = xstrdup("");

	stream = json_object_get(body, "stream");
	if (provider == PROVIDER_OLLAMA)
		chat->stream = stream == NULL || !json_is_false(stream);
	else
		chat->stream = json_is_true(stream);

	model = json_object_get(body, "model");
	if (provider == PROVIDER_GOOGLE)
		chat->model = google_model(path);
	else if (json_is_string(model))
		chat->model = json_incref((json_t *)model);
	if (chat->model == NULL)
		chat->model = json_incref(json_array_get(server->current.models,
		    0));
	return 0;
}

/* The reply text for chat; newly allocated, *length bytes (NULs allowed). */
static char *
chat_reply(const struct llmserver *server, const struct chat *chat,
    size_t *length)
{
	char	*reply, *prefix;
	size_t	 prefix_length;

	if (server->current.reply_bytes > 0) {
		/* A big answer: the size is what a test is after. */
		*length = (size_t)server->current.reply_bytes;
		reply = xmalloc(*length + 1);
		memset(reply, 'x', *length);
		reply[*length] = '\0';
		return reply;
	}
	if (server->current.reply != NULL) {
		*length = strlen(server->current.reply);
		return xstrdup(server->current.reply);
	}
	prefix = xasprintf("%s says: ", server->name);
	prefix_length = strlen(prefix);
	*length = prefix_length + chat->last_user_length;
	reply = xmalloc(*length + 1);
	memcpy(reply, prefix, prefix_length);
	memcpy(reply + prefix_length, chat->last_user, chat->last_user_length);
	reply[*length] = '\0';
	free(prefix);
	return reply;
}

/*
 * The answer to an Ollama chat that did not say "stream": false: NDJSON as
 * Ollama streams it, the text in one line and a last line with "done".
 */
static void
ollama_stream_answer(const struct chat *chat, const char *reply,
    size_t length, json_int_t prompt, json_int_t completion,
    struct response *response)
{
	json_t	*first, *last;
	char	*first_line, *last_line, now[64];

	timestamp_format(now, sizeof now);
	first = json_checked(json_pack("{s:O, s:s, s:{s:s, s:s%}, s:b}",
	    "model", chat->model, "created_at", now,
	    "message", "role", "assistant", "content", reply, length,
	    "done", 0));
	last = json_checked(json_pack("{s:O, s:s, s:{s:s, s:s}, s:s, s:b,"
	    " s:I, s:I}",
	    "model", chat->model, "created_at", now,
	    "message", "role", "assistant", "content", "",
	    "done_reason", "stop", "done", 1,
	    "prompt_eval_count", prompt, "eval_count", completion));
	first_line = json_text(first);
	last_line = json_text(last);
	response->status = 200;
	response->content_type = "application/x-ndjson";
	response->body = xasprintf("%s\n%s\n", first_line, last_line);
	free(first_line);
	free(last_line);
	json_decref(first);
	json_decref(last);
}

/*
 * Add a member "padding": [{},{},...] of about pad_bytes bytes to the JSON
 * object in response->body: an answer that is small on the wire and many
 * values once parsed.  Written as text: as a jansson tree it would cost the
 * stand-in what it is meant to cost the client.
 */
static void
response_pad(struct response *response, long pad_bytes)
{
	static const char	 member[] = ",\"padding\":[";
	size_t			 length = strlen(response->body), at, count, i;
	char			*body;

	if (pad_bytes <= 0 || length < 2 || response->body[length - 1] != '}')
		return;
	count = (size_t)pad_bytes / 3 + 1;	/* "{}," each */
	body = xmalloc(length + sizeof member + count * 3 + 2);
	memcpy(body, response->body, length - 1);
	at = length - 1;
	memcpy(body + at, member, sizeof member - 1);
	at += sizeof member - 1;
	for (i = 0; i < count; i++) {
		memcpy(body + at, i == 0 ? "{}" : ",{}", i == 0 ? 2 : 3);
		at += i == 0 ? 2 : 3;
	}
	memcpy(body + at, "]}", 3);
	free(response->body);
	response->body = body;
}

/* The successful answer to chat, in the provider's shape. */
static void
chat_answer(const struct llmserver *server, enum provider provider,
    const struct chat *chat, unsigned long long n, struct response *response)
{
	json_t		*body = NULL;
	char		*reply, id[64], now[64];
	size_t		 length;
	json_int_t	 prompt, completion;

	reply = chat_reply(server, chat, &length);
	prompt = (json_int_t)(chat->prompt_characters / 4 + 1);
	completion = (json_int_t)(utf8_characters(reply, length) / 4 + 1);
	if (server->current.prompt_tokens > 0)
		prompt = server->current.prompt_tokens;
	if (server->current.completion_tokens > 0)
		completion = server->current.completion_tokens;
	timestamp_format(now, sizeof now);

	switch (provider) {
	case PROVIDER_OPENAI:
		snprintf(id, sizeof id, "chatcmpl-%llu", n);
		body = json_pack("{s:s, s:s, s:I, s:O, s:[{s:i, s:{s:s, s:s%},"
		    " s:s}], s:{s:I, s:I, s:I}}",
		    "id", id,
		    "object", "chat.completion",
		    "created", (json_int_t)time(NULL),
		    "model", chat->model,
		    "choices", "index", 0, "message", "role", "assistant",
		    "content", reply, length, "finish_reason", "stop",
		    "usage", "prompt_tokens", prompt,
		    "completion_tokens", completion,
		    "total_tokens", prompt + completion);
		break;
	case PROVIDER_ANTHROPIC:
		snprintf(id, sizeof id, "msg_%llu", n);
		body = json_pack("{s:s, s:s, s:s, s:O, s:[{s:s, s:s%}], s:s,"
		    " s:n, s:{s:I, s:I}}",
		    "id", id,
		    "type", "message",
		    "role", "assistant",
		    "model", chat->model,
		    "content", "type", "text", "text", reply, length,
		    "stop_reason", "end_turn",
		    "stop_sequence",
		    "usage", "input_tokens", prompt,
		    "output_tokens", completion);
		break;
	case PROVIDER_OLLAMA:
		if (chat->stream) {
			ollama_stream_answer(chat, reply, length, prompt,
			    completion, response);
			free(reply);
			return;
		}
		body = json_pack("{s:O, s:s, s:{s:s, s:s%}, s:s, s:b, s:I,"
		    " s:I}",
		    "model", chat->model, "created_at", now,
		    "message", "role", "assistant", "content", reply, length,
		    "done_reason", "stop", "done", 1,
		    "prompt_eval_count", prompt,
		    "eval_count", completion);
		break;
	case PROVIDER_GOOGLE:
		body = json_pack("{s:[{s:{s:s, s:[{s:s%}]}, s:s, s:i}],"
		    " s:{s:I, s:I, s:I}, s:O}",
		    "candidates", "content", "role", "model", "parts", "text",
		    reply, length, "finishReason", "STOP", "index", 0,
		    "usageMetadata", "promptTokenCount", prompt,
		    "candidatesTokenCount", completion,
		    "totalTokenCount", prompt + completion,
		    "modelVersion", chat->model);
		break;
	case PROVIDER_COHERE:
		snprintf(id, sizeof id, "cohere-%llu", n);
		body = json_pack("{s:s, s:s, s:{s:s, s:[{s:s, s:s%}]},"
		    " s:{s:{s:I, s:I}, s:{s:I, s:I}}}",
		    "id", id, "finish_reason", "COMPLETE",
		    "message", "role", "assistant", "content", "type", "text",
		    "text", reply, length,
		    "usage", "billed_units", "input_tokens", prompt,
		    "output_tokens", completion,
		    "tokens", "input_tokens", prompt,
		    "output_tokens", completion);
		break;
	}
	free(reply);
	response_set_json(response, 200, json_checked(body));
	response_pad(response, server->current.pad_bytes);
}

/*
 * The answer to a chat request as things stand: 400 for a bad request,
 * a simulated failure if one is due, else the reply.
 */
static void
chat_respond(struct llmserver *server, enum provider provider,
    const json_t *record, const char *body_cause, struct response *response)
{
	struct settings	*s = &server->current;
	struct chat	 chat;
	char		 cause[256];
	int		 status;

	if (*body_cause != '\0') {
		response_set_error(response, provider, 400, body_cause);
		return;
	}
	if (chat_parse(server, provider, json_object_get(record, "body"),
	    record_path(record), &chat, cause, sizeof cause) == -1) {
		response_set_error(response, provider, 400, cause);
		return;
	}
	if (chat.stream && provider != PROVIDER_OLLAMA) {
		response_set_error(response, provider, 400,
		    "llmserver does not stream: send \"stream\": false");
		chat_clear(&chat);
		return;
	}
	status = 0;
	if (s->fail_next > 0) {
		status = s->fail_status;
		s->fail_next--;
	} else if (s->status != 0)
		status = s->status;
	if (status != 0)
		response_set_failure(server, response, provider, status);
	else
		chat_answer(server, provider, &chat,
		    (unsigned long long)json_integer_value(json_object_get(
		    record, "n")), response);
	chat_clear(&chat);
}

/*
 * Model lists.
 */

/* The model list in the provider's shape, or the failure asked for. */
static void
models_respond(struct llmserver *server, enum provider provider,
    struct response *response)
{
	const struct settings	*s = &server->current;
	const json_t		*model;
	json_t			*list, *entry;
	size_t			 index;
	int			 status;

	status = s->models_status;
	if (status == 0 && !s->models_ok)
		status = s->status;
	if (status != 0) {
		response_set_failure(server, response, provider, status);
		return;
	}

	list = json_checked(json_array());
	json_array_foreach(s->models, index, model) {
		switch (provider) {
		case PROVIDER_OPENAI:
			entry = json_pack("{s:O, s:s, s:I, s:s}", "id", model,
			    "object", "model", "created", (json_int_t)0,
			    "owned_by", "llmserver");
			break;
		case PROVIDER_ANTHROPIC:
			entry = json_pack("{s:O, s:s, s:O}", "id", model,
			    "type", "model", "display_name", model);
			break;
		case PROVIDER_GOOGLE:
			entry = json_pack("{s:s+, s:O}", "name", "models/",
			    json_string_value(model), "displayName", model);
			break;
		case PROVIDER_OLLAMA:
		default:
			entry = json_pack("{s:O, s:O}", "name", model,
			    "model", model);
			break;
		}
		json_array_append_new(list, json_checked(entry));
	}

	switch (provider) {
	case PROVIDER_OPENAI:
		response_set_json(response, 200, json_checked(json_pack(
		    "{s:s, s:o}", "object", "list", "data", list)));
		break;
	case PROVIDER_ANTHROPIC:
		response_set_json(response, 200, json_checked(json_pack(
		    "{s:o, s:b, s:O, s:O}", "data", list, "has_more", 0,
		    "first_id", json_array_get(s->models, 0),
		    "last_id", json_array_get(s->models,
		    json_array_size(s->models) - 1))));
		break;
	case PROVIDER_OLLAMA:
	case PROVIDER_GOOGLE:
	case PROVIDER_COHERE:
		response_set_json(response, 200, json_checked(json_pack(
		    "{s:o}", "models", list)));
		break;
	}
}

/*
 * Request handlers.
 */

/* The back-end endpoint whose suffix ends path, or NULL. */
static const struct endpoint *
endpoint_find(const char *path)
{
	size_t	i;

	for (i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
		if (string_ends_with(path, endpoints[i].suffix))
			return &endpoints[i];
	return NULL;
}

/*
 * A request to a provider endpoint: record it, then answer now, after the
 * delay, or never, as the settings say.  The answer is decided when the
 * request comes, so a delayed request is answered as things stood then.
 */
static void
backend_handle(struct llmserver *server, struct evhttp_request *req,
    const char *method, const char *path)
{
	const struct settings	*s = &server->current;
	const struct endpoint	*endpoint;
	struct response		 response;
	enum provider		 provider;
	json_t			*record;
	char			 body_cause[256], *message;
	bool			 spared;

	record = record_add(server, req, method, path, body_cause,
	    sizeof body_cause);
	memset(&response, 0, sizeof response);

	if ((endpoint = endpoint_find(path)) == NULL ||
	    evhttp_request_get_command(req) != endpoint->method) {
		if (endpoint == NULL)
			message = xasprintf(
			    "llmserver: no such endpoint: %s %s", method, path);
		else
			message = xasprintf("llmserver: %s %s: use %s", method,
			    path, method_name(endpoint->method));
		response_set_error(&response, PROVIDER_OPENAI,
		    endpoint == NULL ? 404 : 405, message);
		free(message);
		response_send(server, req, &response, record, method, path, 0);
		response_clear(&response);
		return;
	}

	provider = endpoint->provider;
	if (endpoint->kind == ENDPOINT_MODELS && provider == PROVIDER_OPENAI &&
	    evhttp_find_header(evhttp_request_get_input_headers(req),
	    "anthropic-version") != NULL)
		provider = PROVIDER_ANTHROPIC;
	if (endpoint->kind == ENDPOINT_CHAT)
		server->counters.chats++;
	else
		server->counters.model_lists++;
	/* models_ok: the model list passes whatever else is set. */
	spared = endpoint->kind == ENDPOINT_MODELS && s->models_ok;

	if (s->hang && !spared) {
		held_start(server, req, record, &response, 0, true);
		log_request(server, method, path, "hang");
		return;
	}
	if (endpoint->kind == ENDPOINT_CHAT)
		chat_respond(server, provider, record, body_cause, &response);
	else
		models_respond(server, provider, &response);

	if (s->stall && !spared)
		held_start_stalled(server, req, record, &response);
	else if (s->delay_ms > 0 && !spared)
		held_start(server, req, record, &response, s->delay_ms, false);
	else {
		response_send(server, req, &response, record, method, path, 0);
		response_clear(&response);
	}
}

/* GET /control: the settings; POST /control: change them, then the same. */
static void
control_handle(struct llmserver *server, struct evhttp_request *req,
    const char *method, const char *path)
{
	struct settings	 next;
	json_t		*changes;
	char		 cause[256];

	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		break;
	case EVHTTP_REQ_POST:
		changes = request_body(req, cause, sizeof cause);
		if (*cause != '\0') {
			json_decref(changes);
			reply_error(server, req, 400, cause, method, path);
			return;
		}
		settings_copy(&next, &server->current);
		if (settings_apply(&next, &server->initial, changes, cause,
		    sizeof cause) == -1) {
			settings_clear(&next);
			json_decref(changes);
			reply_error(server, req, 400, cause, method, path);
			return;
		}
		json_decref(changes);
		/* Swap last: a rejected request left the settings alone. */
		settings_clear(&server->current);
		server->current = next;
		break;
	default:
		reply_error(server, req, 405, "/control: use GET or POST",
		    method, path);
		return;
	}
	reply_json(server, req, 200, settings_to_json(server), method, path);
}

/* GET /requests: the recorded requests; DELETE /requests: forget them. */
static void
requests_handle(struct llmserver *server, struct evhttp_request *req,
    const char *method, const char *path)
{
	size_t	count;

	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		reply_json(server, req, 200, json_incref(server->records),
		    method, path);
		break;
	case EVHTTP_REQ_DELETE:
		count = json_array_size(server->records);
		json_array_clear(server->records);
		reply_json(server, req, 200, json_checked(json_pack("{s:I}",
		    "deleted", (json_int_t)count)), method, path);
		break;
	default:
		reply_error(server, req, 405, "/requests: use GET or DELETE",
		    method, path);
		break;
	}
}

/* Every request comes here; /control and /requests are not recorded. */
static void
server_request_cb(struct evhttp_request *req, void *arg)
{
	struct llmserver	*server = arg;
	const char		*method, *path;

	method = method_name(evhttp_request_get_command(req));
	path = request_path(req);
	if (strcmp(path, "/control") == 0)
		control_handle(server, req, method, path);
	else if (strcmp(path, "/requests") == 0)
		requests_handle(server, req, method, path);
	else
		backend_handle(server, req, method, path);
}

/* SIGTERM or SIGINT: leave the loop; main cleans up. */
static void
server_signal_cb(evutil_socket_t signo, short what, void *arg)
{
	struct llmserver	*server = arg;

	(void)signo;
	(void)what;
	event_base_loopbreak(server->base);
}

/*
 * Start-up.
 */

/* Write the port to path through a temporary file, so no reader sees half. */
static void
port_file_write(const char *path, int port)
{
	char	*temporary;
	FILE	*f;

	temporary = xasprintf("%s.tmp.%ld", path, (long)getpid());
	if ((f = fopen(temporary, "w")) == NULL)
		tool_fatal(1, "%s: %s", temporary, strerror(errno));
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(temporary, path) == -1)
		tool_fatal(1, "%s: %s", path, strerror(errno));
	free(temporary);
}

/* Listen on 127.0.0.1:port (0: any free port); returns the port. */
static int
server_listen(struct llmserver *server, int port)
{
	struct evhttp_bound_socket	*bound;
	struct sockaddr_in		 address;
	socklen_t			 length = sizeof address;

	bound = evhttp_bind_socket_with_handle(server->http, "127.0.0.1",
	    (ev_uint16_t)port);
	if (bound == NULL)
		tool_fatal(1, "cannot listen on 127.0.0.1:%d", port);
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&address, &length) == -1)
		tool_fatal(1, "getsockname: %s", strerror(errno));
	return ntohs(address.sin_port);
}

static void
usage(FILE *out)
{
	fputs(
"usage: llmserver [--port N] [--port-file FILE] [--log FILE] [--delay-ms N]\n"
"         [--status N] [--hang] [--name NAME] [--reply TEXT]\n"
"         [--reply-bytes N] [--pad-bytes N] [--model NAME]\n"
"\n"
"A stand-in LLM back end on 127.0.0.1 speaking the OpenAI-compatible (and\n"
"Azure OpenAI), Ollama, Anthropic, Gemini and Cohere APIs, for the\n"
"integration tests.  Prints the port on standard output once it listens;\n"
"runs until SIGTERM or SIGINT.\n"
"\n"
"  --port N          port to listen on (0, the default: any free port)\n"
"  --port-file FILE  also write the port to FILE (atomically)\n"
"  --log FILE        one line per request there (standard error)\n"
"  --delay-ms N      answer back-end requests after N ms (0)\n"
"  --status N        answer them with this HTTP status and an error (0: no)\n"
"  --hang            never answer them\n"
"  --name NAME       replies are \"NAME says: <last user message>\" (llm)\n"
"  --reply TEXT      reply TEXT instead\n"
"  --reply-bytes N   reply N bytes of \"x\" instead (0: no; up to 256 MiB)\n"
"  --pad-bytes N     add a member \"padding\": [{},{},...] of about N bytes\n"
"                    to each answer (0: no)\n"
"  --model NAME      a model the model lists show; repeat for more\n"
"                    (test-model)\n"
"  --help            this text\n"
"\n"
"Endpoints (a path matches by its end, after any base path):\n"
"  POST .../chat/completions  GET .../models         OpenAI-compatible\n"
"  POST .../api/chat          GET .../api/tags       Ollama (streams NDJSON\n"
"                                                    unless \"stream\":false)\n"
"  POST .../messages          GET .../models with anthropic-version:\n"
"                                                    Anthropic\n"
"  POST .../models/M:generateContent  GET .../v1beta/models  Gemini\n"
"  POST .../v2/chat                                  Cohere\n"
"  GET|POST /control   settings and counters; POST a JSON object with any of\n"
"      delay_ms, status, hang, stall (send the headers and half the body,\n"
"      then nothing), reply (string or null), reply_bytes, pad_bytes,\n"
"      prompt_tokens and completion_tokens (the usage answers report;\n"
"      0: about one for 4 characters),\n"
"      fail_next (the next N\n"
"      chats answer \"status\" of the same object, default 500), models_ok,\n"
"      models_status, models (array of names), reset (to the command line)\n"
"  GET|DELETE /requests  the requests received (the last 1000), or forget\n"
"      them\n",
	    out);
}

static long
parse_number(const char *option, const char *text, long min, long max)
{
	char	*end;
	long	 value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min ||
	    value > max)
		usage_error("%s: not a number from %ld to %ld: %s", option, min,
		    max, text);
	return value;
}

enum {
	OPT_PORT = 256, OPT_PORT_FILE, OPT_LOG, OPT_DELAY_MS, OPT_STATUS,
	OPT_HANG, OPT_NAME, OPT_REPLY, OPT_REPLY_BYTES, OPT_PAD_BYTES, OPT_MODEL, OPT_HELP,
};

/* Fill the start-up settings; returns the port asked for. */
static int
options_parse(struct llmserver *server, const char **port_file,
    const char **log_file, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "port-file", required_argument, NULL, OPT_PORT_FILE },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "delay-ms", required_argument, NULL, OPT_DELAY_MS },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "hang", no_argument, NULL, OPT_HANG },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "reply", required_argument, NULL, OPT_REPLY },
		{ "reply-bytes", required_argument, NULL, OPT_REPLY_BYTES },
		{ "pad-bytes", required_argument, NULL, OPT_PAD_BYTES },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	struct settings	*s = &server->initial;
	int		 c, port = 0;

	server->name = LLMSERVER_DEFAULT_NAME;
	s->models = json_checked(json_array());
	s->fail_status = LLMSERVER_DEFAULT_FAIL_STATUS;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PORT:
			port = (int)parse_number("--port", optarg, 0, 65535);
			break;
		case OPT_PORT_FILE:
			*port_file = optarg;
			break;
		case OPT_LOG:
			*log_file = optarg;
			break;
		case OPT_DELAY_MS:
			s->delay_ms = parse_number("--delay-ms", optarg, 0,
			    LLMSERVER_MAX_DELAY_MS);
			break;
		case OPT_STATUS:
			s->status = (int)parse_number("--status", optarg, 0,
			    599);
			if (!status_valid(s->status))
				usage_error("--status: 0 or 200 to 599");
			break;
		case OPT_HANG:
			s->hang = true;
			break;
		case OPT_NAME:
			if (!utf8_valid(optarg))
				usage_error("--name: not UTF-8");
			server->name = optarg;
			break;
		case OPT_REPLY:
			if (!utf8_valid(optarg))
				usage_error("--reply: not UTF-8");
			free(s->reply);
			s->reply = xstrdup(optarg);
			break;
		case OPT_REPLY_BYTES:
			s->reply_bytes = parse_number("--reply-bytes", optarg,
			    0, LLMSERVER_MAX_REPLY_BYTES);
			break;
		case OPT_PAD_BYTES:
			s->pad_bytes = parse_number("--pad-bytes", optarg,
			    0, LLMSERVER_MAX_REPLY_BYTES);
			break;
		case OPT_MODEL:
			if (*optarg == '\0')
				usage_error("--model: empty name");
			json_array_append_new(s->models,
			    json_string_lossy(optarg, strlen(optarg)));
			break;
		case OPT_HELP:
			usage(stdout);
			settings_clear(s);
			exit(0);
		default:
			usage(stderr);
			exit(LLMSERVER_EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument: %s", argv[optind]);
	if (json_array_size(s->models) == 0)
		json_array_append_new(s->models,
		    json_checked(json_string(LLMSERVER_DEFAULT_MODEL)));
	return port;
}

/* Release everything (valgrind must see no leak). */
static void
server_free(struct llmserver *server)
{
	struct held_request	*held;

	/* Ours first: evhttp_free frees the requests still attached. */
	while ((held = TAILQ_FIRST(&server->held)) != NULL)
		held_drop(server, held, "server exiting");
	if (server->http != NULL)
		evhttp_free(server->http);
	if (server->sigterm_event != NULL)
		event_free(server->sigterm_event);
	if (server->sigint_event != NULL)
		event_free(server->sigint_event);
	if (server->base != NULL)
		event_base_free(server->base);
	json_decref(server->records);
	settings_clear(&server->current);
	settings_clear(&server->initial);
	if (server->log != NULL && server->log != stderr)
		fclose(server->log);
}

int
main(int argc, char **argv)
{
	struct llmserver	 server;
	const char		*port_file = NULL, *log_file = NULL;
	int			 port;

	memset(&server, 0, sizeof server);
	TAILQ_INIT(&server.held);
	port = options_parse(&server, &port_file, &log_file, argc, argv);
	settings_copy(&server.current, &server.initial);
	server.records = json_checked(json_array());

	server.log = stderr;
	if (log_file != NULL && (server.log = fopen(log_file, "a")) == NULL)
		tool_fatal(1, "%s: %s", log_file, strerror(errno));

	/* A client gone before its answer must not kill us on write. */
	signal(SIGPIPE, SIG_IGN);

	if ((server.base = event_base_new()) == NULL)
		tool_fatal(1, "event_base_new failed");
	if ((server.http = evhttp_new(server.base)) == NULL)
		tool_fatal(1, "evhttp_new failed");
	evhttp_set_allowed_methods(server.http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(server.http, LLMSERVER_CONNECTION_TIMEOUT_S);
	evhttp_set_max_body_size(server.http, LLMSERVER_MAX_BODY);
	evhttp_set_gencb(server.http, server_request_cb, &server);
	llmserver_tls_setup(server.http);

	server.sigterm_event = evsignal_new(server.base, SIGTERM,
	    server_signal_cb, &server);
	server.sigint_event = evsignal_new(server.base, SIGINT,
	    server_signal_cb, &server);
	if (server.sigterm_event == NULL || server.sigint_event == NULL ||
	    evsignal_add(server.sigterm_event, NULL) == -1 ||
	    evsignal_add(server.sigint_event, NULL) == -1)
		tool_fatal(1, "cannot catch SIGTERM and SIGINT");

	server.port = server_listen(&server, port);
	if (port_file != NULL)
		port_file_write(port_file, server.port);
	printf("%d\n", server.port);
	fflush(stdout);

	if (event_base_dispatch(server.base) == -1)
		tool_fatal(1, "event_base_dispatch failed");

	server_free(&server);
	llmserver_tls_free();
	return 0;
}
