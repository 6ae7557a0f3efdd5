/*
 * llm-int.h -- what the files of the LLM service share: its generations,
 * back ends and requests (llm.c), their secrets (llm-secret.c), their
 * status and metrics (llm-status.c).  The rest of the daemon uses llm.h.
 */
#ifndef HOTRELOAD_LLM_INT_H
#define HOTRELOAD_LLM_INT_H

#include <sys/queue.h>

#include <curl/curl.h>

#include "hotreloadd.h"
#include "config.h"
#include "llm.h"

#define LLM_FAILURES_TO_COOL	3
#define LLM_COOL_DOWN_S		30
#define LLM_PROBE_TIMEOUT_S	10
#define LLM_KEY_MAX		4096

struct llm_gen;

/* One back end of one generation. */
struct llm_backend {
	struct llm_gen			*gen;
	const struct config_backend	*cfg;
	enum llm_provider		 provider;
	char				*key;
	struct llm_header		*headers;	/* values read */
	size_t				 headers_count;
	char				*chat_url;
	char				*models_url;
	char				*shown_url;	/* no credentials */

	unsigned int			 in_flight;
	TAILQ_HEAD(, llm_request)	 waiting;
	unsigned int			 waiting_count;

	uint64_t			 requests;
	uint64_t			 errors;
	struct llm_usage		 usage;	/* tokens, latency */
	unsigned int			 rate_waiting;	/* for room */
	uint64_t			 rate_limited;	/* moved on */
	unsigned int			 failures_in_a_row;
	double				 cooled_until;	/* monotonic s */
	char				*last_error;
};

/* A request to a back end: a chat on behalf of a caller, or a probe. */
struct llm_request {
	struct llm_gen			*gen;
	bool				 probe;
	struct llm_backend		*backend;	/* of this attempt */
	size_t				 step;		/* in fallback order */
	bool				 waiting;
	bool				 rate_waiting;	/* on rate_timer */
	struct event			*rate_timer;
	double				 rate_deadline;	/* 0: not waiting */

	json_t				*messages;
	char				*system;
	double				 temperature;	/* NAN: none */
	int				 max_tokens;	/* CONFIG_UNSET */
	size_t				 only;		/* a named back end */
	const size_t			*order;		/* of back ends */
	size_t				 order_count;
	llm_done_cb			 cb;
	void				*arg;

	CURL				*easy;
	struct curl_slist		*headers;
	char				*body;
	char				*response;
	size_t				 response_length;
	size_t				 response_size;	/* allocated */
	bool				 response_too_large;
	bool				 got_bytes;
	char				 errbuf[CURL_ERROR_SIZE];
	struct timespec			 attempt_started;

	const char			*error_code;
	char				*error;

	TAILQ_ENTRY(llm_request)	 entry;		/* gen's list */
	TAILQ_ENTRY(llm_request)	 wait_entry;	/* back end's queue */
};
TAILQ_HEAD(llm_requests, llm_request);

/* One generation of the service. */
struct llm_gen {
	struct service_instance		*inst;
	struct registry			*registry;
	struct config			*config;
	const struct config_llm		*cfg;
	struct llm_backend		*backends;
	size_t				 backends_count;
	size_t				*order;		/* fallback, by index */
	size_t				 order_count;
	struct llm_requests		 requests;	/* chats */
	struct llm_requests		 probes;
	bool				 retiring;
	struct event			*retire_timer;

	service_started_cb		 started_cb;
	unsigned int			 probes_pending;
	char				*probe_error;	/* of the first */
};

/* llm.c */
double		 llm_now(void);

/* llm-secret.c */
int		 llm_backend_key(struct llm_backend *, const char *path,
		    char **cause);
int		 llm_backend_headers(struct llm_backend *, const char *path,
		    char **cause);
void		 llm_secret_free(char *);

/* llm-status.c */
json_t		*llm_status(struct service_instance *);

#endif /* HOTRELOAD_LLM_INT_H */
