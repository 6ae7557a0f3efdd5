/*
 * hsp-pub.c -- the HSPConnector's publishing connection: a second MQTT
 * client with a client id of its own that only publishes (results,
 * acknowledgements, adverts) and reconnects on its own with back-off;
 * every QoS 1 publish kept until the broker acknowledges it, and handed to
 * the current connector when a retired one closes without that; and the
 * router's publisher (router_set_publisher), which hands over the text
 * of each envelope.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "hsp-conn.h"
#include "log.h"

/* Forget the unacknowledged publish P (acknowledged or handed over). */
void
hsp_pending_free(struct hsp_conn *c, struct hsp_pending *p)
{
	TAILQ_REMOVE(&c->pending[p->mid % HSP_PENDING_BUCKETS], p, bucket);
	TAILQ_REMOVE(&c->pending_order, p, order);
	c->pending_pubacks--;
	free(p->topic);
	free(p->payload);
	free(p);
}

/*
 * Keep publish MID (TOPIC, TEXT of LENGTH bytes; TEXT is taken) until the
 * broker acknowledges it.
 */
static void
hsp_pending_add(struct hsp_conn *c, int mid, const char *topic, char *text,
    size_t length, bool retain)
{
	struct hsp_pending	*p;

	if ((p = calloc(1, sizeof *p)) == NULL ||
	    (p->topic = strdup(topic)) == NULL) {
		free(p);
		free(text);
		return;
	}
	p->mid = mid;
	p->payload = text;
	p->length = length;
	p->retain = retain;
	TAILQ_INSERT_TAIL(&c->pending[mid % HSP_PENDING_BUCKETS], p, bucket);
	TAILQ_INSERT_TAIL(&c->pending_order, p, order);
	c->pending_pubacks++;
}

/* The unacknowledged publish MID, or NULL. */
static struct hsp_pending *
hsp_pending_find(struct hsp_conn *c, int mid)
{
	struct hsp_pending	*p;

	TAILQ_FOREACH(p, &c->pending[mid % HSP_PENDING_BUCKETS], bucket) {
		if (p->mid == mid)
			return (p);
	}
	return (NULL);
}

/*
 * A retiring connector closes with publishes the broker never acknowledged
 * (queued while the broker was away, or still in flight at the retire
 * deadline): publish them again through the current connector, in order,
 * instead of losing them.
 */
void
hsp_pending_hand_over(struct hsp_conn *c)
{
	struct service_instance	*current;
	struct hsp_pending	*p;
	unsigned int		 count = c->pending_pubacks, failed = 0;

	if (count == 0)
		return;
	current = registry_slot(c->registry, SERVICE_HSP)->current;
	if (current == NULL || current == c->inst || current->dead) {
		log_warnx("hsp: generation %llu closed with %u unacknowledged "
		    "publish(es) and no connector to hand them to",
		    (unsigned long long)c->inst->generation, count);
		while ((p = TAILQ_FIRST(&c->pending_order)) != NULL)
			hsp_pending_free(c, p);
		return;
	}
	while ((p = TAILQ_FIRST(&c->pending_order)) != NULL) {
		/*
		 * A retained advert is not re-sent: the new connector has
		 * published its own, and this older one would replace it
		 * on the broker.
		 */
		if (p->retain) {
			count--;
			hsp_pending_free(c, p);
			continue;
		}
		if (hsp_publish_text(current->data, p->topic, p->payload,
		    p->length, NULL) == -1)
			failed++;
		p->payload = NULL;	/* taken */
		hsp_pending_free(c, p);
	}
	((struct hsp_conn *)current->data)->handed_over += count;
	log_info("hsp: generation %llu handed %u unacknowledged publish(es) "
	    "to generation %llu%s", (unsigned long long)c->inst->generation,
	    count, (unsigned long long)current->generation,
	    failed > 0 ? " (some could not be queued)" : "");
}

/* PUBACK of one of our QoS 1 publishes (REASON >= 0x80: refused). */
void
hsp_on_publish(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    int mid, int reason, __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn		*c = obj;
	struct hsp_pending	*pending;

	c->pubacks++;
	pending = hsp_pending_find(c, mid);
	if (reason >= 0x80) {
		/*
		 * Refused (an ACL, a quota): the broker is done with it, and
		 * so are we; it is never sent again.
		 */
		c->refused++;
		if (time(NULL) - c->refused_logged >= HSP_REFUSED_LOG_S) {
			log_warnx("hsp: the broker refused a publish to %s: %s "
			    "(%llu refused so far)", pending != NULL ?
			    pending->topic : "?", mosquitto_reason_string(reason),
			    (unsigned long long)c->refused);
			c->refused_logged = time(NULL);
		}
	}
	if (pending != NULL)
		hsp_pending_free(c, pending);
	if (!c->inst->dead)
		hsp_conn_flush_check(c);
}

/* Stop watching the publishing socket. */
void
hsp_pub_unwatch(struct hsp_conn *c)
{
	hsp_events_free(&c->pub.read_event, &c->pub.write_event, &c->pub.fd);
}

/* The publishing connection broke or was refused: try again later. */
static void
hsp_pub_lost(struct hsp_conn *c, const char *why)
{
	struct timeval	tv;
	unsigned int	delay;
	bool		was_connected = c->pub.connected;

	hsp_pub_unwatch(c);
	if (was_connected)
		c->pub.reconnects++;
	c->pub.connected = false;
	c->pub.connecting = false;
	free(c->pub.last_error);
	c->pub.last_error = str_printf("%s:%d: publishing connection: %s",
	    c->cfg->host, c->cfg->port, why);
	/* A reload's connector that cannot publish is not ready. */
	if (c->strict && !c->start_reported && c->last_error == NULL)
		hsp_conn_error(c, "%s", c->pub.last_error);
	if (c->retiring || c->state == HSP_STATE_CLOSED ||
	    c->state == HSP_STATE_DISCONNECTING)
		return;
	/* A loss, or the first failure, is worth a warning; not each retry. */
	if (was_connected || c->pub.backoff_ms == 0)
		log_warnx("hsp: %s", c->pub.last_error);
	else
		log_debug("hsp: %s", c->pub.last_error);
	delay = hsp_backoff_next(&c->pub.backoff_ms);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(c->pub.timer, &tv);
}

/* Let libmosquitto read or write on the publishing connection. */
static void
hsp_pub_io(struct hsp_conn *c, int (*loop)(struct mosquitto *, int))
{
	int	rc;

	if (c->inst->dead || c->pub.mosq == NULL)
		return;
	service_instance_ref(c->inst);
	rc = loop(c->pub.mosq, 1);
	if (rc != MOSQ_ERR_SUCCESS && c->pub.fd != -1 && !c->inst->dead)
		hsp_pub_lost(c, hsp_tls_explain(&c->pub.tls,
		    hsp_strerror(rc)));
	else if (!c->inst->dead) {
		hsp_pub_update(c);
		/* PUBACKs may bring the daemon under its limits. */
		if (loop == mosquitto_loop_read && c->paused)
			hsp_conn_intake(c);
	}
	service_instance_unref(c->inst);
}

/* The publishing socket is readable. */
static void
hsp_pub_read_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	hsp_pub_io(arg, mosquitto_loop_read);
}

/* The publishing socket is writable (as hsp_conn_write_cb). */
static void
hsp_pub_write_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;

	hsp_pub_io(c, c->pub.mosq != NULL &&
	    hsp_tls_handshaking(c->pub.mosq) ? mosquitto_loop_read :
	    mosquitto_loop_write);
}

/* Follow the publishing connection's socket (as hsp_conn_update). */
void
hsp_pub_update(struct hsp_conn *c)
{
	if (c->pub.mosq != NULL)
		hsp_events_follow(c->registry->base, c->pub.mosq,
		    &c->pub.read_event, &c->pub.write_event, &c->pub.fd,
		    hsp_pub_read_cb, hsp_pub_write_cb, c);
}

/* CONNACK on the publishing connection. */
static void
hsp_pub_on_connect(__attribute__((unused)) struct mosquitto *mosq,
    void *obj, int rc, __attribute__((unused)) int flags,
    __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;

	if (c->inst->dead)
		return;
	hsp_tls_accepted(&c->pub.tls);
	if (rc != 0) {
		char	*why = hsp_connack_cause(c, rc);

		hsp_pub_drop(c);
		hsp_pub_lost(c, why != NULL ? why : "refused");
		free(why);
		return;
	}
	c->pub.connected = true;
	c->pub.connecting = false;
	c->pub.backoff_ms = 0;
	free(c->pub.last_error);
	c->pub.last_error = NULL;
	log_debug("hsp: publishing as %s", c->pub.client_id);
	/* A reload's connector is ready once both connections are. */
	if (c->state == HSP_STATE_UP && !c->start_reported) {
		hsp_conn_timer_stop(c);
		hsp_conn_report(c, true, NULL);
	}
	hsp_conn_flush_check(c);
}

/* The publishing connection closed. */
static void
hsp_pub_on_disconnect(__attribute__((unused)) struct mosquitto *mosq,
    void *obj, int rc, __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;

	/* Not connected nor connecting: a refusal already handled. */
	if (c->inst->dead || c->pub.dropping ||
	    (!c->pub.connected && !c->pub.connecting))
		return;
	hsp_pub_lost(c, hsp_tls_explain(&c->pub.tls, rc == 0 ?
	    "disconnected" : hsp_strerror(rc)));
}

/* Close the publishing connection ourselves. */
void
hsp_pub_drop(struct hsp_conn *c)
{
	evtimer_del(c->pub.timer);
	if (c->pub.mosq != NULL && c->pub.fd != -1) {
		c->pub.dropping = true;
		mosquitto_disconnect(c->pub.mosq);
		c->pub.dropping = false;
	}
	hsp_pub_unwatch(c);
	c->pub.connected = false;
	c->pub.connecting = false;
}

/* Create the publishing handle (publishes queue in it until it connects). */
int
hsp_pub_new_mosq(struct hsp_conn *c, char **cause)
{
	struct mosquitto	*m;
	int			 rc;

	if ((c->pub.client_id = hsp_client_id(c->config, '\0')) == NULL ||
	    (m = mosquitto_new(c->pub.client_id, true, c)) == NULL) {
		*cause = str_printf("cannot create an MQTT client: %s",
		    strerror(errno));
		return (-1);
	}
	c->pub.mosq = m;
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION,
	    c->cfg->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(m, hsp_pub_on_connect);
	mosquitto_disconnect_v5_callback_set(m, hsp_pub_on_disconnect);
	mosquitto_publish_v5_callback_set(m, hsp_on_publish);
	hsp_log_callback(m);
	hsp_set_will(c, m, 1);
	if (c->cfg->username != NULL &&
	    (rc = mosquitto_username_pw_set(m, c->cfg->username,
	    c->password)) != MOSQ_ERR_SUCCESS) {
		*cause = str_printf("MQTT credentials: %s", hsp_strerror(rc));
		return (-1);
	}
	return (hsp_tls_attach(&c->pub.tls, m, cause));
}

/*
 * Connect the publishing connection to the address the receiving one
 * reached (called on its CONNACK, and after a back-off).
 */
void
hsp_pub_connect(struct hsp_conn *c)
{
	int	rc;

	if (c->pub.mosq == NULL || c->address == NULL || c->pub.connected ||
	    c->pub.connecting || c->retiring || c->state == HSP_STATE_CLOSED)
		return;
	evtimer_del(c->pub.timer);
	c->pub.connecting = true;
	hsp_tls_reset(&c->pub.tls);
	rc = mosquitto_connect_bind_async(c->pub.mosq, c->address,
	    c->cfg->port, c->cfg->keepalive_s, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		hsp_pub_lost(c, hsp_tls_explain(&c->pub.tls,
		    hsp_strerror(rc)));
		return;
	}
	hsp_pub_update(c);
	if (c->pub.fd == -1)
		hsp_pub_lost(c, "no socket");
}

/* The publishing connection's back-off is over. */
void
hsp_pub_timer_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;

	if (c->inst->dead)
		return;
	service_instance_ref(c->inst);
	hsp_pub_connect(c);
	service_instance_unref(c->inst);
}

/*
 * Publish TEXT (taken) of LENGTH bytes on TOPIC at QoS 1 through C, as
 * OPTIONS say (NULL: not retained), and keep it until the broker
 * acknowledges it.
 */
int
hsp_publish_text(struct hsp_conn *c, const char *topic, char *text,
    size_t length, const struct hsp_publish_options *options)
{
	mosquitto_property	*props = NULL;
	bool			 retain = options != NULL && options->retain;
	int			 rc, mid = 0;

	if (c->pub.mosq == NULL || c->state == HSP_STATE_CLOSED) {
		free(text);
		return (-1);
	}
	if (options != NULL && options->expiry_s > 0 &&
	    c->cfg->protocol == 5)
		mosquitto_property_add_int32(&props,
		    MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, options->expiry_s);
	rc = mosquitto_publish_v5(c->pub.mosq, &mid, topic, (int)length, text,
	    1, retain, props);
	mosquitto_property_free_all(&props);
	/* Without a connection libmosquitto queues it and sends it after
	 * reconnecting: only a refusal counts as a failure. */
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
		free(text);
		return (-1);
	}
	c->published++;
	hsp_pending_add(c, mid, topic, text, length, retain);
	if (rc == MOSQ_ERR_SUCCESS)
		hsp_pub_update(c);
	return (0);
}

/*
 * The router's publisher: TEXT (taken) through connector INST.  While
 * disconnected libmosquitto keeps QoS 1 messages and sends them after
 * reconnecting, so only a refusal counts as a failure.
 */
static int
hsp_publisher_publish(void *arg, const char *topic, char *text,
    size_t length, const struct hsp_publish_options *options)
{
	struct service_instance	*inst = arg;

	return (hsp_publish_text(inst->data, topic, text, length, options));
}

/* The router's publisher: hsp_is_connected, for a router_publisher. */
static bool
hsp_publisher_ready(void *arg)
{
	return (hsp_is_connected(arg));
}

/* Fill PUBLISHER so that the router publishes through connector INST. */
void
hsp_publisher(struct service_instance *inst, struct router_publisher *out)
{
	out->publish = hsp_publisher_publish;
	out->ready = hsp_publisher_ready;
	out->arg = inst;
}
