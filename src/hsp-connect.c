/*
 * hsp-connect.c -- one connection attempt of the HSPConnector: its client
 * id, its topics, the broker password and TLS files, the libmosquitto
 * handle with its options and callbacks, resolving the broker's name
 * without blocking, and the asynchronous TCP connect.  What follows the
 * CONNACK is in hsp.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/util.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "hsp-conn.h"
#include "log.h"

static unsigned int	hsp_serial;

/* Keep only characters every broker takes in a client id. */
static void
hsp_sanitize(char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.'))
			*s = '_';
	}
}

/* Make the client id: stable per letter when persistent, else unique. */
char *
hsp_client_id(const struct config *config, char letter)
{
	char	 host[64], *id;

	if (gethostname(host, sizeof host) == -1)
		snprintf(host, sizeof host, "host");
	host[sizeof host - 1] = '\0';
	if (letter != '\0')
		id = str_printf("hr-%s-%s-%c", config->ai_id, host, letter);
	else
		id = str_printf("hr-%s-%s-%ld-%u", config->ai_id, host,
		    (long)getpid(), ++hsp_serial);
	if (id != NULL)
		hsp_sanitize(id);
	return (id);
}

/* The topics this agent subscribes to (HSP.md "Topics"). */
int
hsp_conn_topics(struct hsp_conn *c)
{
	const char	*ai = c->config->ai_id;
	size_t		 i, n = 5 + c->cfg->extra_subscriptions_count;

	if ((c->topics = calloc(n, sizeof *c->topics)) == NULL)
		return (-1);
	if (c->cfg->share_group != NULL)
		c->topics[0] = str_printf("$share/%s/hsp/requests/%s",
		    c->cfg->share_group, ai);
	else
		c->topics[0] = str_printf("hsp/requests/%s", ai);
	c->topics[1] = str_printf("hsp/results/%s/#", ai);
	c->topics[2] = str_printf("hsp/acks/%s", ai);
	c->topics[3] = strdup("hsp/capabilities/advertisements/#");
	c->topics[4] = strdup("hsp/knowledge/facts/#");
	for (i = 0; i < c->cfg->extra_subscriptions_count; i++)
		c->topics[5 + i] = strdup(c->cfg->extra_subscriptions[i]);
	c->topics_count = (int)n;
	for (i = 0; i < n; i++) {
		if (c->topics[i] == NULL)
			return (-1);
	}
	return (0);
}

/*
 * Read the broker password from hsp.broker.password_file: a regular file
 * (file_read_secret), so that a FIFO in its place is an error, not a hang;
 * one readable by every user is used, with a warning.
 */
int
hsp_read_password(struct hsp_conn *c, char **cause)
{
	const char	*file = c->cfg->password_file;
	char		*why, *warning;

	if (file == NULL)
		return (0);
	if (file_read_secret(file, HSP_PASSWORD_MAX, &c->password, &warning,
	    &why) == -1) {
		*cause = str_printf("hsp.broker.password_file %s: %s", file,
		    why != NULL ? why : "out of memory");
		free(why);
		return (-1);
	}
	if (warning != NULL) {
		log_warnx("hsp.broker.password_file %s: %s", file, warning);
		free(warning);
	}
	return (0);
}

/*
 * The cause of a refused CONNACK, RC being an MQTT 5 reason code or an MQTT
 * 3.1.1 return code.  A refusal of the credentials (a wrong password, a
 * user the broker does not know or no longer accepts) says so first, so
 * that an operator can tell it from any other refusal.
 */
char *
hsp_connack_cause(const struct hsp_conn *c, int rc)
{
	bool	v5 = c->cfg->protocol == 5, credentials;

	credentials = v5 ? rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD ||
	    rc == MQTT_RC_NOT_AUTHORIZED ||
	    rc == MQTT_RC_BAD_AUTHENTICATION_METHOD :
	    rc == CONNACK_REFUSED_BAD_USERNAME_PASSWORD ||
	    rc == CONNACK_REFUSED_NOT_AUTHORIZED;
	return (str_printf("%sthe broker refused the connection: %s",
	    credentials ? "credentials refused: " : "",
	    v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc)));
}

/*
 * The MQTT will of MOSQ, connection INDEX of C (0: receiving, 1:
 * publishing): the offline advert of one tool, retained, so that peers
 * learn the agent is gone when the broker loses it (kill -9, a crash, a
 * network split).  Two connections carry the two tools (dialogue, echo).
 * Not in a pool: the other members still serve the agent id.  A clean
 * disconnect (a reload's retire, a shutdown) sends no will.
 */
void
hsp_set_will(struct hsp_conn *c, struct mosquitto *mosq, size_t index)
{
	char	*topic, *text;
	int	 rc;

	if (c->cfg->share_group != NULL ||
	    router_will(c->config->ai_id, index, &topic, &text) == -1)
		return;
	rc = mosquitto_will_set_v5(mosq, topic, (int)strlen(text), text, 1,
	    true, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		log_warnx("hsp: cannot set the offline advert on %s as the "
		    "will: %s", topic, hsp_strerror(rc));
	free(topic);
	free(text);
}

int
hsp_conn_new_mosq(struct hsp_conn *c, char **cause)
{
	int	rc;

	if (c->mosq != NULL)
		mosquitto_destroy(c->mosq);
	c->mosq = mosquitto_new(c->client_id, !c->cfg->persistent, c);
	if (c->mosq == NULL) {
		*cause = str_printf("cannot create an MQTT client: %s",
		    strerror(errno));
		return (-1);
	}
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
	    c->cfg->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(c->mosq, hsp_on_connect);
	mosquitto_disconnect_v5_callback_set(c->mosq, hsp_on_disconnect);
	mosquitto_subscribe_v5_callback_set(c->mosq, hsp_on_subscribe);
	mosquitto_unsubscribe_v5_callback_set(c->mosq, hsp_on_unsubscribe);
	mosquitto_message_v5_callback_set(c->mosq, hsp_on_message);
	hsp_log_callback(c->mosq);
	hsp_set_will(c, c->mosq, 0);
	if (c->cfg->username != NULL &&
	    (rc = mosquitto_username_pw_set(c->mosq, c->cfg->username,
	    c->password)) != MOSQ_ERR_SUCCESS) {
		*cause = str_printf("MQTT credentials: %s", hsp_strerror(rc));
		return (-1);
	}
	if (hsp_tls_attach(&c->tls, c->mosq, cause) == -1)
		return (-1);
	if (c->cfg->protocol == 5) {
		mosquitto_property	*props = NULL;
		size_t			 packet;

		/*
		 * libmosquitto has no asynchronous connect that takes v5
		 * CONNECT properties, but mosquitto_connect_bind_v5() stores
		 * them before it validates the host: called without a host
		 * it stores them and returns MOSQ_ERR_INVAL without
		 * connecting; the asynchronous connect then sends them.  The
		 * persistent-session and hostile tests check this holds.
		 *
		 * The maximum packet size tells the broker not to send us a
		 * message over hsp.max_message_bytes (with room for its
		 * topic): it drops it instead.
		 */
		packet = c->cfg->max_message_bytes + HSP_PACKET_OVERHEAD;
		if (packet > 268435455)
			packet = 268435455;
		mosquitto_property_add_int32(&props,
		    MQTT_PROP_MAXIMUM_PACKET_SIZE, (uint32_t)packet);
		if (c->cfg->persistent)
			mosquitto_property_add_int32(&props,
			    MQTT_PROP_SESSION_EXPIRY_INTERVAL,
			    (uint32_t)c->cfg->session_expiry_s);
		mosquitto_connect_bind_v5(c->mosq, NULL, 0, c->cfg->keepalive_s,
		    NULL, props);
		mosquitto_property_free_all(&props);
	}
	return (0);
}

/* The broker address is known: start the TCP connect and CONNECT. */
static void
hsp_conn_connect_address(struct hsp_conn *c)
{
	char	*cause = NULL;
	int	 rc;

	if (c->mosq == NULL) {
		if (hsp_conn_new_mosq(c, &cause) == -1) {
			hsp_conn_lost(c, cause);
			free(cause);
			return;
		}
	}
	hsp_conn_state(c, HSP_STATE_CONNECTING, "TCP connect and CONNECT");
	hsp_tls_reset(&c->tls);
	rc = mosquitto_connect_bind_async(c->mosq, c->address,
	    c->cfg->port, c->cfg->keepalive_s, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		hsp_conn_lost(c, hsp_tls_explain(&c->tls, hsp_strerror(rc)));
		return;
	}
	hsp_conn_update(c);
	if (c->fd == -1)
		hsp_conn_lost(c, "no socket");
}

/* evdns answered. */
static void
hsp_conn_resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct hsp_conn	*c = arg;
	char		 buf[INET6_ADDRSTRLEN];
	const void	*addr;

	c->dns = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return;
	if (c->inst->dead) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	if (result != 0 || res == NULL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		hsp_conn_lost(c, evutil_gai_strerror(result));
		return;
	}
	if (res->ai_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	else
		addr = &((struct sockaddr_in *)res->ai_addr)->sin_addr;
	evutil_inet_ntop(res->ai_family, addr, buf, sizeof buf);
	evutil_freeaddrinfo(res);
	free(c->address);
	c->address = strdup(buf);
	hsp_conn_connect_address(c);
}

/*
 * One connection attempt: resolve the broker's name without blocking
 * (numeric addresses skip it; with TLS the certificate is still checked
 * against the name, see hsp-tls.c), then connect.  Bounded by
 * connect_timeout_s.
 */
void
hsp_conn_connect(struct hsp_conn *c)
{
	struct evutil_addrinfo	 hints;
	unsigned char		 scratch[sizeof(struct in6_addr)];
	bool			 numeric;

	c->attempts++;
	if (c->switch_id) {
		/* The probe found no session under "-a": become "-b". */
		c->switch_id = false;
		mosquitto_destroy(c->mosq);
		c->mosq = NULL;
		free(c->client_id);
		c->client_id = hsp_client_id(c->config, c->letter);
	}
	/*
	 * The same handle across reconnects: it keeps the QoS 1 messages
	 * published while the broker was away and sends them afterwards.
	 */
	hsp_conn_timer_start(c, c->cfg->connect_timeout_s);
	hsp_conn_state(c, HSP_STATE_CONNECTING, "connection attempt");
	numeric = inet_pton(AF_INET, c->cfg->host, scratch) == 1 ||
	    inet_pton(AF_INET6, c->cfg->host, scratch) == 1;
	if (numeric || hsp_dns == NULL) {
		free(c->address);
		c->address = strdup(c->cfg->host);
		hsp_conn_connect_address(c);
		return;
	}
	hsp_conn_state(c, HSP_STATE_RESOLVING, "resolving the broker's name");
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	c->dns = evdns_getaddrinfo(hsp_dns, c->cfg->host, NULL, &hints,
	    hsp_conn_resolved_cb, c);
}
