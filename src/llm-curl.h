/*
 * llm-curl.h -- libcurl's multi interface on the daemon's loop
 * (llm-curl.c), for the LLM service (llm.c).
 */
#ifndef HOTRELOAD_LLM_CURL_H
#define HOTRELOAD_LLM_CURL_H

#include <curl/curl.h>

struct event_base;

/* A transfer has ended: PRIVATE is its CURLOPT_PRIVATE. */
typedef void	(*llm_curl_done_cb)(void *private, CURLcode result);

int		 llm_curl_init(struct event_base *, llm_curl_done_cb);
CURL		*llm_curl_easy(void);
int		 llm_curl_add(CURL *);
void		 llm_curl_remove(CURL *);
void		 llm_curl_shutdown(void);
struct config_tls;
void		 llm_curl_tls(CURL *, const struct config_tls *);

#endif /* HOTRELOAD_LLM_CURL_H */
