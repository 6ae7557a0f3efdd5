/*
 * llmserver-tls.h -- https for the stand-in LLM back end (llmserver-tls.c).
 */
#ifndef HOTRELOAD_LLMSERVER_TLS_H
#define HOTRELOAD_LLMSERVER_TLS_H

struct evhttp;

void	llmserver_tls_setup(struct evhttp *);
void	llmserver_tls_free(void);

#endif /* HOTRELOAD_LLMSERVER_TLS_H */
