/*
 * llm.h -- the LLM side of the daemon: the MultiLLMService (back ends with
 * fallback on one curl multi handle) and the DialogueManager on top of it.
 *
 *   llm-provider.c  request bodies, URLs, headers and response parsing of
 *                   the openai, ollama, anthropic, azure_openai, google
 *                   and cohere APIs
 *   llm-usage.c     what a back end used: tokens, cost, latency, and the
 *                   last minute its rate limit counts
 *   llm.c           the service: generations, curl multi on libevent,
 *                   fallback, cool-down, rate limits, probe, retirement
 *   dialogue.c      conversations with bounded history, the dialogue tool
 */
#ifndef HOTRELOAD_LLM_H
#define HOTRELOAD_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct config_backend;
struct config_params;
struct service_instance;

/* Error codes of a failed LLM request (also TaskResult error codes). */
#define LLM_ERR_UNAVAILABLE	"llm_unavailable"
#define LLM_ERR_TIMEOUT		"llm_timeout"
#define LLM_ERR_OVERLOADED	"overloaded"
#define LLM_ERR_RETIRED		"retired"
#define LLM_ERR_BAD_REQUEST	"bad_request"
/* The request named a back end the configuration does not have. */
#define LLM_ERR_NO_SUCH_BACKEND	"no_such_backend"
/* Over the rate limit of every back end it could go to. */
#define LLM_ERR_RATE_LIMITED	"rate_limited"
/* The answer is over LLM_MAX_RESPONSE or LLM_MAX_RESPONSE_VALUES. */
#define LLM_ERR_BAD_RESPONSE	"llm_bad_response"

/*
 * Anthropic needs max_tokens: this one when the back end's params set
 * none; the others take the server's default.
 */
#define LLM_MAX_TOKENS		1024
/* The largest temperature a request may ask for (params.temperature's). */
#define LLM_MAX_TEMPERATURE	2.0
/*
 * Largest chat answer accepted from a back end, in body bytes.  The longest
 * answers models give (128k output tokens, some 512 KiB of text; twice that
 * as \u escapes) fit; a bigger one could not go out as a TaskResult to an
 * agent with the default hsp.max_message_bytes (1 MiB) anyway.  Beyond it
 * the transfer stops at once: a hostile back end costs at most this much.
 */
#define LLM_MAX_RESPONSE	(2 * 1024 * 1024)
/*
 * Most JSON values (containers and members) parsed from one answer.  A real
 * one has a few dozen; jansson spends 100 to 250 bytes on each, so 2 MiB of
 * "[{},{},...]" would cost 170 MB parsed.  Counted before parsing.
 */
#define LLM_MAX_RESPONSE_VALUES	16384
/*
 * What is kept of an error answer or a model list: their text only serves
 * the error message, and a model list (a probe) is not read at all.
 */
#define LLM_MAX_ERROR_BODY	(64 * 1024)

/* llm-provider.c ------------------------------------------------------ */

enum llm_provider {
	LLM_PROVIDER_OPENAI,
	LLM_PROVIDER_OLLAMA,
	LLM_PROVIDER_ANTHROPIC,
	LLM_PROVIDER_AZURE_OPENAI,
	LLM_PROVIDER_GOOGLE,
	LLM_PROVIDER_COHERE,
};

/* What a back end answered, in one shape for every provider. */
struct llm_answer {
	char	*text;
	json_t	*usage;		/* {prompt_tokens, completion_tokens, ...} */
};

/* What a chat request says, whatever the provider. */
struct llm_chat {
	const char			*model;
	const char			*system;	/* NULL: none */
	json_t				*messages;	/* [{role, content}] */
	const struct config_params	*params;	/* as sent */
};

/* An extra header of a back end, its value read (secret or not). */
struct llm_header {
	const char	*name;
	char		*value;
};

int		 llm_provider_parse(const char *name, enum llm_provider *);
const char	*llm_provider_key_header(enum llm_provider);
char		*llm_provider_chat_url(enum llm_provider,
		    const struct config_backend *);
char		*llm_provider_models_url(enum llm_provider,
		    const struct config_backend *);
char		*llm_provider_chat_body(enum llm_provider,
		    const struct llm_chat *);
struct curl_slist *llm_provider_headers(enum llm_provider, const char *key,
		    bool json_body, const struct llm_header *, size_t);
int		 llm_provider_parse_answer(enum llm_provider, const char *body,
		    size_t length, struct llm_answer *, char **why);
bool		 llm_provider_json_within(const char *body, size_t length,
		    size_t max_values);
char		*llm_provider_error_text(const char *body, size_t length);
void		 llm_answer_clear(struct llm_answer *);
char		*llm_url_without_credentials(const char *url);

/* llm-usage.c --------------------------------------------------------- */

/* Latency buckets of the histogram (their bounds in llm-usage.c). */
#define LLM_LATENCY_BUCKETS	11
/* The median latency in status is that of this many recent answers. */
#define LLM_RECENT_LATENCIES	256
/* The window of a rate limit, in one-second slots. */
#define LLM_RATE_WINDOW_S	60

/* What one back end of one generation has used (llm-usage.c). */
struct llm_usage {
	uint64_t	 tokens_in;
	uint64_t	 tokens_out;
	/* Answers by latency: bucket i up to its bound, the last +Inf. */
	uint64_t	 buckets[LLM_LATENCY_BUCKETS + 1];
	uint64_t	 answers;
	double		 seconds;		/* their sum */
	double		 recent_ms[LLM_RECENT_LATENCIES];	/* a ring */
	size_t		 recent_next;		/* answers put in the ring */
	/* The last minute, a slot a second: which second, and its counts. */
	long long	 second[LLM_RATE_WINDOW_S];
	uint64_t	 requests[LLM_RATE_WINDOW_S];
	uint64_t	 tokens[LLM_RATE_WINDOW_S];
};

void		 llm_usage_answer(struct llm_usage *, json_t *usage,
		    double seconds, double now);
double		 llm_usage_cost(const struct llm_usage *,
		    const struct config_backend *);
double		 llm_usage_p50_ms(const struct llm_usage *);
void		 llm_usage_histogram(FILE *, const char *metric,
		    const char *name, const struct llm_usage *);
void		 llm_usage_note(struct llm_usage *, double now,
		    uint64_t requests, uint64_t tokens);
void		 llm_usage_minute(const struct llm_usage *, double now,
		    uint64_t *requests, uint64_t *tokens);
double		 llm_usage_wait(const struct llm_usage *, double now, int rpm,
		    int tpm);

/* llm.c --------------------------------------------------------------- */

/* The outcome of a request; ANSWER is valid only during the call. */
struct llm_result {
	bool			 ok;
	struct llm_answer	*answer;
	const char		*backend;
	const char		*model;
	unsigned long long	 generation;
	const char		*error_code;
	const char		*error_message;
};

typedef void	(*llm_done_cb)(const struct llm_result *, void *arg);

/* What a caller may ask of one request (llm_submit). */
struct llm_options {
	const char	*backend;	/* NULL: the fallback order */
	double		 temperature;	/* NAN: the back end's params */
	int		 max_tokens;	/* CONFIG_UNSET: the back end's */
};

extern const struct service_ops llm_service_ops;
extern const struct service_ops dialogue_service_ops;

int		 llm_submit(struct registry *, json_t *messages,
		    const char *system, const struct llm_options *,
		    llm_done_cb, void *arg);
bool		 llm_available(struct registry *);
void		 llm_metrics(struct service_slot *, FILE *);
void		 llm_shutdown(void);

/* dialogue.c ---------------------------------------------------------- */

#define DIALOGUE_MAX_CONVERSATIONS	1024
#define DIALOGUE_MAX_TURNS		32
/* llm.dialogue_history_bytes when nothing configured it. */
#define DIALOGUE_DEFAULT_HISTORY_BYTES	(64 * 1024 * 1024)

struct config_llm;

extern const struct tool dialogue_tool;

void		 dialogue_configure(const struct config_llm *);
json_t		*dialogue_status(void);
void		 dialogue_free(void);

#endif /* HOTRELOAD_LLM_H */
