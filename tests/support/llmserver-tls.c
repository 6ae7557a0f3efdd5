/*
 * llmserver-tls.c -- https for the stand-in LLM back end (llmserver.c), so
 * that the tests can reach it through a private CA and a client
 * certificate, as a company gateway would be reached.
 *
 * Driven by the environment, so that llmserver.c only calls one function:
 *
 *   LLMSERVER_TLS_CERT       the server certificate (PEM); set: https only
 *   LLMSERVER_TLS_KEY        its private key (PEM)
 *   LLMSERVER_TLS_CLIENT_CA  when set, a client certificate issued by this
 *                            CA is required
 *
 * Each connection gets a bufferevent_openssl (libevent's evhttp calls our
 * bufferevent callback), so the server stays on its one loop.
 */
#include <stdlib.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "llmserver-tls.h"
#include "tool.h"

/* The server's context, freed at its end (llmserver_tls_free). */
static SSL_CTX	*llmserver_tls_ctx;

/* A new connection: a TLS bufferevent that accepts. */
static struct bufferevent *
llmserver_tls_bev_cb(struct event_base *base, void *arg)
{
	SSL	*ssl = SSL_new(arg);

	if (ssl == NULL)
		return (NULL);
	return (bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE));
}

/* Serve HTTP over TLS when LLMSERVER_TLS_CERT is set (see the top). */
void
llmserver_tls_setup(struct evhttp *http)
{
	const char	*cert = getenv("LLMSERVER_TLS_CERT");
	const char	*key = getenv("LLMSERVER_TLS_KEY");
	const char	*client_ca = getenv("LLMSERVER_TLS_CLIENT_CA");
	SSL_CTX		*ctx;

	if (cert == NULL || *cert == '\0')
		return;
	if (key == NULL || *key == '\0')
		tool_fatal(2, "LLMSERVER_TLS_CERT needs LLMSERVER_TLS_KEY");
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		tool_fatal(1, "cannot use %s and %s: %s", cert, key,
		    ERR_error_string(ERR_get_error(), NULL));
	if (client_ca != NULL && *client_ca != '\0') {
		if (SSL_CTX_load_verify_file(ctx, client_ca) != 1)
			tool_fatal(1, "cannot use %s: %s", client_ca,
			    ERR_error_string(ERR_get_error(), NULL));
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	/* The context lives as long as the server. */
	llmserver_tls_ctx = ctx;
	evhttp_set_bevcb(http, llmserver_tls_bev_cb, ctx);
}

/* The server has ended: free its context (the leak checkers look). */
void
llmserver_tls_free(void)
{
	SSL_CTX_free(llmserver_tls_ctx);
	llmserver_tls_ctx = NULL;
}
