/*
 * hsp-tls.c -- TLS to the broker.  Each MQTT connection of a connector gets
 * an OpenSSL context of the daemon's own making (MOSQ_OPT_SSL_CTX) rather
 * than libmosquitto's, for three reasons:
 *
 *  - The loop must not block on DNS.  libmosquitto checks the certificate
 *    against, and sends as SNI, the host it is given, so with its own
 *    context it had to be given the name, which it resolved with a
 *    blocking getaddrinfo().  Here the name is resolved with evdns like a
 *    plain connection, libmosquitto is given the address, and the context
 *    checks the certificate against the configured name
 *    (X509_VERIFY_PARAM_set1_host, or set1_ip_asc for an address) and
 *    sends it as SNI (the info callback, at the start of the handshake).
 *  - A refusal must say what was refused.  The verify callback keeps why
 *    the broker's certificate failed (its chain, or its name), and the info
 *    callback the fatal alert either side sent (a client certificate the
 *    broker refused, no common TLS version); hsp_tls_explain() turns that
 *    into the cause of the failed attempt.
 *  - The CA, certificate and key are read once, when the connector is
 *    built, so that a file that does not load fails the reload at once.
 *
 * hsp.broker.tls.insecure drops the name check (never the chain's), and
 * says so loudly.  hsp.broker.tls.min_version is the floor of the version.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hsp-conn.h"
#include "log.h"

/* Is S an IPv4 or IPv6 address (not a name)? */
static bool
hsp_tls_numeric(const char *s)
{
	unsigned char	scratch[sizeof(struct in6_addr)];

	return (inet_pton(AF_INET, s, scratch) == 1 ||
	    inet_pton(AF_INET6, s, scratch) == 1);
}

/* The record of the connection whose handshake SSL is. */
static struct hsp_tls *
hsp_tls_of(const SSL *ssl)
{
	return (SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

/* Keep the first failure of this handshake (FMT...). */
static void
hsp_tls_fail(struct hsp_tls *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
hsp_tls_fail(struct hsp_tls *t, const char *fmt, ...)
{
	va_list	ap;

	if (t->failure != NULL)
		return;
	va_start(ap, fmt);
	t->failure = str_vprintf(fmt, ap);
	va_end(ap);
}

/*
 * OpenSSL checked one certificate of the broker's chain (OK: it passed).
 * Keep why the first one failed; the name check fails at depth 0 with
 * X509_V_ERR_HOSTNAME_MISMATCH (or IP_ADDRESS_MISMATCH).
 */
static int
hsp_tls_verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL		*ssl;
	struct hsp_tls	*t;
	X509		*cert;
	char		 subject[256] = "?";
	int		 error;

	if (ok)
		return (ok);
	ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL || (t = hsp_tls_of(ssl)) == NULL)
		return (ok);
	error = X509_STORE_CTX_get_error(store);
	if ((cert = X509_STORE_CTX_get_current_cert(store)) != NULL)
		X509_NAME_oneline(X509_get_subject_name(cert), subject,
		    sizeof subject);
	if (error == X509_V_ERR_HOSTNAME_MISMATCH ||
	    error == X509_V_ERR_IP_ADDRESS_MISMATCH)
		hsp_tls_fail(t, "host name mismatch: the broker's certificate "
		    "(%s) is not for %s", subject, t->host);
	else
		hsp_tls_fail(t, "certificate not trusted: %s (the broker's "
		    "certificate chain at depth %d, %s)",
		    X509_verify_cert_error_string(error),
		    X509_STORE_CTX_get_error_depth(store), subject);
	return (ok);
}

/* Is the fatal alert DESCRIPTION about the client's certificate? */
static bool
hsp_tls_alert_is_certificate(int description)
{
	switch (description) {
	case 42:	/* bad_certificate */
	case 43:	/* unsupported_certificate */
	case 44:	/* certificate_revoked */
	case 45:	/* certificate_expired */
	case 46:	/* certificate_unknown */
	case 48:	/* unknown_ca */
	case 116:	/* certificate_required */
		return (true);
	}
	return (false);
}

/*
 * The state of a handshake changed: send the configured name as SNI at its
 * start (libmosquitto sent the address), note its end, and keep the first
 * fatal alert sent or received.
 */
static void
hsp_tls_info_cb(const SSL *ssl, int where, int value)
{
	struct hsp_tls	*t = hsp_tls_of(ssl);
	int		 description = value & 0xff;

	if (t == NULL)
		return;
	if ((where & SSL_CB_HANDSHAKE_START) && t->sni)
		SSL_set_tlsext_host_name((SSL *)ssl, t->host);
	if (where & SSL_CB_HANDSHAKE_DONE)
		t->handshake_done = true;
	if (!(where & SSL_CB_ALERT) || (value >> 8) != SSL3_AL_FATAL)
		return;
	if (where & SSL_CB_WRITE) {
		/* Ours; after a failed verify the cause is already kept. */
		hsp_tls_fail(t, "TLS handshake failed: %s",
		    SSL_alert_desc_string_long(value));
		return;
	}
	if (hsp_tls_alert_is_certificate(description))
		hsp_tls_fail(t, "client certificate refused: the broker "
		    "answered %s", description == 116 ? "certificate required" :
		    SSL_alert_desc_string_long(value));
	else if (description == 70)	/* protocol_version */
		hsp_tls_fail(t, "TLS handshake failed: the broker answered "
		    "protocol version (no TLS version both accept; the floor "
		    "is %s)", t->min_version == 13 ? "tlsv1.3" : "tlsv1.2");
	else
		hsp_tls_fail(t, "TLS handshake failed: the broker answered %s",
		    SSL_alert_desc_string_long(value));
}

/* The newest OpenSSL error, for a file that did not load. */
static const char *
hsp_tls_error(char *buf, size_t size)
{
	unsigned long	e = ERR_peek_last_error();

	if (e == 0)
		return ("unknown error");
	ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return (buf);
}

/*
 * Make T's context from hsp.broker.tls of CFG: CA, client certificate and
 * key (read now), version floor, verification of the broker's certificate
 * and of its name.  No TLS configured: nothing to do.
 */
int
hsp_tls_init(struct hsp_tls *t, const struct config_hsp *cfg, char **cause)
{
	const struct config_tls	*tls = cfg->tls;
	X509_VERIFY_PARAM	*param;
	char			 buf[256];

	memset(t, 0, sizeof *t);
	if (tls == NULL)
		return (0);
	t->host = cfg->host;
	t->min_version = tls->min_version;
	t->sni = !hsp_tls_numeric(cfg->host);
	t->client_certificate = tls->cert_file != NULL;
	ERR_clear_error();
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		*cause = str_printf("hsp.broker.tls: %s",
		    hsp_tls_error(buf, sizeof buf));
		return (-1);
	}
	SSL_CTX_set_app_data(t->ctx, t);
	SSL_CTX_set_min_proto_version(t->ctx, tls->min_version == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION);
	if (tls->ca_file != NULL &&
	    SSL_CTX_load_verify_file(t->ctx, tls->ca_file) != 1) {
		*cause = str_printf("hsp.broker.tls.ca_file %s: %s",
		    tls->ca_file, hsp_tls_error(buf, sizeof buf));
		return (-1);
	}
	if (tls->ca_path != NULL &&
	    SSL_CTX_load_verify_dir(t->ctx, tls->ca_path) != 1) {
		*cause = str_printf("hsp.broker.tls.ca_path %s: %s",
		    tls->ca_path, hsp_tls_error(buf, sizeof buf));
		return (-1);
	}
	if (tls->cert_file != NULL && SSL_CTX_use_certificate_chain_file(
	    t->ctx, tls->cert_file) != 1) {
		*cause = str_printf("hsp.broker.tls.cert_file %s: %s",
		    tls->cert_file, hsp_tls_error(buf, sizeof buf));
		return (-1);
	}
	if (tls->key_file != NULL && (SSL_CTX_use_PrivateKey_file(t->ctx,
	    tls->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1)) {
		*cause = str_printf("hsp.broker.tls.key_file %s: %s",
		    tls->key_file, hsp_tls_error(buf, sizeof buf));
		return (-1);
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, hsp_tls_verify_cb);
	SSL_CTX_set_info_callback(t->ctx, hsp_tls_info_cb);
	if (!tls->insecure) {
		param = SSL_CTX_get0_param(t->ctx);
		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if ((t->sni ? X509_VERIFY_PARAM_set1_host(param, cfg->host, 0) :
		    X509_VERIFY_PARAM_set1_ip_asc(param, cfg->host)) != 1) {
			*cause = str_printf("hsp.broker.host %s: cannot check "
			    "a certificate against it", cfg->host);
			return (-1);
		}
	}
	return (0);
}

/* Hand T's context to MOSQ (it takes a reference of its own). */
int
hsp_tls_attach(struct hsp_tls *t, struct mosquitto *mosq, char **cause)
{
	int	rc;

	if (t->ctx == NULL)
		return (0);
	if ((rc = mosquitto_int_option(mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS,
	    0)) != MOSQ_ERR_SUCCESS ||
	    (rc = mosquitto_void_option(mosq, MOSQ_OPT_SSL_CTX, t->ctx)) !=
	    MOSQ_ERR_SUCCESS) {
		*cause = str_printf("hsp.broker.tls: %s", hsp_strerror(rc));
		return (-1);
	}
	return (0);
}

/* A connection attempt starts: forget what the last one found. */
void
hsp_tls_reset(struct hsp_tls *t)
{
	free(t->failure);
	t->failure = NULL;
	t->handshake_done = false;
	t->accepted = false;
}

/* The broker accepted the connection (CONNACK): TLS is no longer a cause. */
void
hsp_tls_accepted(struct hsp_tls *t)
{
	t->accepted = true;
}

/*
 * Why a connection over T failed, WHY being what libmosquitto said: what
 * the handshake found, if anything; a failure before the CONNACK is a TLS
 * handshake failure; otherwise WHY.  With TLS 1.3 the client finishes its
 * handshake before the broker has checked the client's certificate: a
 * broker that refuses it sends an alert and closes, and the client may
 * meet the closed socket before it reads the alert.
 */
const char *
hsp_tls_explain(struct hsp_tls *t, const char *why)
{
	if (t->ctx == NULL || t->accepted)
		return (why);
	if (t->failure != NULL)
		return (t->failure);
	if (!t->handshake_done)
		snprintf(t->cause, sizeof t->cause, "TLS handshake failed: %s",
		    why);
	else
		snprintf(t->cause, sizeof t->cause, "TLS handshake failed: the "
		    "broker closed the connection before its CONNACK (%s); %s",
		    why, t->client_certificate ? "it may refuse the client "
		    "certificate" : "it may require a client certificate "
		    "(hsp.broker.tls.cert_file)");
	return (t->cause);
}

/* Free T's context and record. */
void
hsp_tls_free(struct hsp_tls *t)
{
	hsp_tls_reset(t);
	if (t->ctx != NULL)
		SSL_CTX_free(t->ctx);
	t->ctx = NULL;
}

/* Is the handshake of MOSQ's connection still under way? */
bool
hsp_tls_handshaking(struct mosquitto *mosq)
{
	SSL	*ssl = mosquitto_ssl_get(mosq);

	return (ssl != NULL && SSL_in_init(ssl));
}
