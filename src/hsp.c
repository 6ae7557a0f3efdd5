/*
 * hsp.c -- the HSPConnector service: an MQTT client (libmosquitto) on the
 * daemon's libevent loop, and the two dependants that live with it.
 *
 * libmosquitto runs without a thread of its own: its socket is watched by a
 * read event (mosquitto_loop_read), a write event armed whenever
 * mosquitto_want_write() says so (mosquitto_loop_write), and a one-second
 * timer for keepalives (mosquitto_loop_misc).  Connecting is asynchronous:
 * the broker's name is resolved with evdns, the TCP connect does not block,
 * and each step (CONNACK, SUBACK) arrives as a callback.  Every step has a
 * timeout.
 *
 * An instance is one broker connection with its own client id.  Started for
 * a reload it must reach SUBACK for every subscription within
 * hsp.connect_timeout_s or the reload fails and the running connector is
 * untouched.  Started when the daemon starts, it reports ready at once and
 * keeps trying in the background (the daemon runs without its broker).
 * Once up, a lost connection is retried with capped exponential back-off
 * and jitter; status says "degraded" meanwhile.
 *
 * Retiring (after a swap) is: unsubscribe, wait for the UNSUBACK and for the
 * PUBACK of everything this connection published, disconnect -- bounded by
 * hsp.retire_timeout_s.  Messages that reach it meanwhile still go to the
 * shared router, which drops what the new connector also received.
 *
 * Two connections.  The first subscribes and receives; a second, with a
 * client id of its own, only publishes (results, acknowledgements,
 * adverts).  This is what makes back-pressure possible (DESIGN.md 7.7):
 * libmosquitto acknowledges a received PUBLISH as soon as it reads it, and
 * mosquitto 2.0 does not keep to the receive maximum a client announces,
 * so the only way to make the broker keep a flood is to stop reading --
 * which on a single connection would also stop the PUBACKs of our own
 * results, and with them any progress.  So while hsp.max_tasks_in_flight
 * tasks run, or twice that many of our publishes wait for their PUBACK,
 * the receiving connection is "paused": its socket is not read, except for
 * a look every half keep-alive (for the PINGRESP), whose messages are held,
 * raw, and handed to the router in order once the daemon is below its
 * limits.  The broker keeps the rest, and the kernel's socket buffer bounds
 * what waits in between.  The publishing connection reconnects on its own
 * with back-off; what is published while it is away waits in libmosquitto.
 *
 * Every QoS 1 publish is also kept here, by message id, until the broker
 * acknowledges it.  A connector retired before its queue was acknowledged
 * (a reload-hsp while the broker is away, a retire deadline) hands what is
 * left to the current connector instead of losing it; a result sent twice
 * that way carries the same message_id, which receivers de-duplicate.
 *
 * Persistent sessions use two stable client ids per agent and host, "-a" and
 * "-b": blue/green alternates between them (never the same id twice at once,
 * which would make the broker drop the older connection), and at start-up
 * the connector finds the one whose session the broker kept.
 */
#include <sys/ioctl.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "hsp-conn.h"
#include "log.h"

static const char *const hsp_state_names[] = {
	"idle", "resolving", "connecting", "subscribing", "up", "backoff",
	"unsubscribing", "flushing", "disconnecting", "closed"
};

struct evdns_base	*hsp_dns;

static void	hsp_conn_failed(struct hsp_conn *);
static void	hsp_conn_free(struct hsp_conn *);
static void	hsp_group_done(struct hsp_conn *, bool, bool);

/*
 * Every change of the receiving connection's state goes through here, with
 * why: the state machine of the top of the file, one line each at debug
 * level (-v).
 */
void
hsp_conn_state(struct hsp_conn *c, enum hsp_state state, const char *why)
{
	/* By client id: a connector has no generation before its swap. */
	if (c->state != state)
		log_debug("hsp: %s: %s -> %s (%s)", c->client_id != NULL ?
		    c->client_id : "?", hsp_state_names[c->state],
		    hsp_state_names[state], why);
	c->state = state;
}

/*
 * Tell watchers what happened to C's connection: EVENT (connected,
 * disconnected, retrying, left_group, joined_group), with REASON and, for
 * a retry, its DELAY_MS.  A connector not swapped in yet (generation 0) is
 * a reload's: its events belong to the reload.
 */
static void
hsp_conn_event(struct hsp_conn *c, const char *event, const char *reason,
    unsigned int delay_ms)
{
	json_t	*fields;
	char	*broker;

	if (c->registry->event == NULL)
		return;
	broker = str_printf("%s:%d", c->cfg->host, c->cfg->port);
	fields = json_pack("{s:s, s:s, s:I, s:s?, s:s?}", "service", "hsp",
	    "event", event, "generation", (json_int_t)(c->inst != NULL ?
	    c->inst->generation : 0), "broker", broker, "reason", reason);
	free(broker);
	if (fields != NULL && delay_ms > 0)
		json_object_set_new(fields, "delay_s",
		    json_real(delay_ms / 1e3));
	registry_event(c->registry, "hsp", fields);
}

/* Record the last error of C (for status and the start reply). */
void
hsp_conn_error(struct hsp_conn *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*text;

	va_start(ap, fmt);
	text = str_vprintf(fmt, ap);
	va_end(ap);
	if (text == NULL)
		return;
	free(c->last_error);
	c->last_error = text;
}

/*
 * Close the MQTT connection ourselves (a timeout, a refusal): libmosquitto
 * calls the disconnect callback from inside, which must not count it as a
 * broker loss -- the caller says what happened.
 */
static void
hsp_conn_drop(struct hsp_conn *c)
{
	if (c->mosq == NULL)
		return;
	c->dropping = true;
	mosquitto_disconnect(c->mosq);
	c->dropping = false;
}

/* Stop the step timer. */
void
hsp_conn_timer_stop(struct hsp_conn *c)
{
	if (c->timer != NULL)
		evtimer_del(c->timer);
}

/* Start the step timer for SECONDS. */
void
hsp_conn_timer_start(struct hsp_conn *c, double seconds)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(c->timer, &tv);
}

/* Report the outcome of the start, once. */
void
hsp_conn_report(struct hsp_conn *c, bool ok, const char *cause)
{
	if (c->start_reported)
		return;
	c->start_reported = true;
	c->started_cb(c->inst, ok, cause);
}

/* The connection is closed for good (retired or failed). */
static void
hsp_conn_closed(struct hsp_conn *c)
{
	hsp_conn_timer_stop(c);
	hsp_conn_unwatch(c);
	c->connected = false;
	hsp_conn_state(c, HSP_STATE_CLOSED, "closed");
	hsp_pub_drop(c);
	hsp_held_flush(c, true);
	if (c->retiring) {
		hsp_pending_hand_over(c);
		c->retiring = false;
		if (c->inst->generation == 0)
			log_info("hsp: the unused new connector disconnected "
			    "(%s)", c->client_id);
		else
			log_info("hsp: generation %llu disconnected (%s)",
			    (unsigned long long)c->inst->generation,
			    c->client_id);
		service_instance_retired(c->inst);
	}
}

/* Disconnect now (retiring): the DISCONNECT goes out on the next write. */
static void
hsp_conn_disconnect(struct hsp_conn *c)
{
	mosquitto_property	*props = NULL;
	int			 rc;

	hsp_conn_state(c, HSP_STATE_DISCONNECTING, "disconnecting");
	/*
	 * A persistent session replaced by a reload is not needed any more:
	 * drop it (session expiry 0) so the broker stops queueing for it.  At
	 * shutdown it is kept, so work sent meanwhile waits for us.
	 */
	if (c->cfg->persistent && c->cfg->protocol == 5 &&
	    !c->registry->shutting_down)
		mosquitto_property_add_int32(&props,
		    MQTT_PROP_SESSION_EXPIRY_INTERVAL, 0);
	rc = mosquitto_disconnect_v5(c->mosq, 0, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS) {
		hsp_conn_closed(c);
		return;
	}
	hsp_conn_update(c);
}

/*
 * The next back-off of either connection: STEP_MS (0 after a success)
 * doubles from HSP_BACKOFF_FIRST_MS up to HSP_BACKOFF_MAX_MS, and the
 * delay returned, in milliseconds, is half to all of it, so that a fleet
 * does not reconnect in step.
 */
unsigned int
hsp_backoff_next(unsigned int *step_ms)
{
	if (*step_ms == 0)
		*step_ms = HSP_BACKOFF_FIRST_MS;
	else if (*step_ms < HSP_BACKOFF_MAX_MS)
		*step_ms *= 2;
	if (*step_ms > HSP_BACKOFF_MAX_MS)
		*step_ms = HSP_BACKOFF_MAX_MS;
	return (*step_ms / 2 + (unsigned int)(random() % (*step_ms / 2 + 1)));
}

/* Wait before the next connection attempt (capped, with jitter). */
static void
hsp_conn_backoff(struct hsp_conn *c)
{
	unsigned int	delay = hsp_backoff_next(&c->backoff_ms);

	hsp_conn_state(c, HSP_STATE_BACKOFF, "waiting to reconnect");
	log_info("hsp: reconnecting to %s:%d in %.1f s", c->cfg->host,
	    c->cfg->port, delay / 1e3);
	hsp_conn_event(c, "retrying", c->last_error, delay);
	hsp_conn_timer_start(c, delay / 1e3);
}

/*
 * The connection failed or broke.  A start for a reload fails; otherwise
 * try again later; a retiring connector is simply done.
 */
void
hsp_conn_lost(struct hsp_conn *c, const char *why)
{
	if (c->state != HSP_STATE_DISCONNECTING && !c->retiring)
		hsp_conn_error(c, "%s:%d: %s", c->cfg->host, c->cfg->port,
		    why);
	hsp_conn_failed(c);
}

/* The same, with the cause already in last_error. */
static void
hsp_conn_failed(struct hsp_conn *c)
{
	bool	was_up = c->connected;

	hsp_conn_timer_stop(c);
	hsp_conn_unwatch(c);
	c->connected = false;
	c->in_group = false;
	/* Without a connection a member is out of the group anyway. */
	if (c->group_cb != NULL)
		hsp_group_done(c, !c->group_joining, false);
	if (c->state == HSP_STATE_DISCONNECTING || c->retiring) {
		hsp_conn_closed(c);
		return;
	}
	if (c->strict && !c->start_reported) {
		hsp_conn_state(c, HSP_STATE_CLOSED, "the reload's attempt failed");
		hsp_conn_report(c, false, c->last_error);
		return;
	}
	if (was_up) {
		c->reconnects++;
		hsp_conn_event(c, "disconnected", c->last_error, 0);
	}
	if (was_up)
		log_warnx("hsp: lost the broker (%s); generation %llu is "
		    "degraded", c->last_error,
		    (unsigned long long)c->inst->generation);
	else if (c->attempts <= 1 || log_get_verbosity() > 0)
		log_warnx("hsp: cannot connect: %s", c->last_error);
	hsp_conn_backoff(c);
}

/* The step timer: connect timeout, back-off over, or retire deadline. */
static void
hsp_conn_timer_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;

	if (c->inst->dead)
		return;
	switch (c->state) {
	case HSP_STATE_BACKOFF:
		hsp_conn_connect(c);
		break;
	case HSP_STATE_RESOLVING:
	case HSP_STATE_CONNECTING:
	case HSP_STATE_SUBSCRIBING:
		if (c->dns != NULL) {
			evdns_getaddrinfo_cancel(c->dns);
			c->dns = NULL;
		}
		if (c->mosq != NULL)
			hsp_conn_drop(c);
		hsp_conn_lost(c, c->state == HSP_STATE_SUBSCRIBING ?
		    "no SUBACK within hsp.connect_timeout_s" :
		    "not connected within hsp.connect_timeout_s");
		break;
	case HSP_STATE_UP:
		/* Subscribed, but the publishing connection is not up. */
		if (c->start_reported)
			break;
		hsp_conn_drop(c);
		hsp_pub_drop(c);
		hsp_conn_lost(c, c->pub.last_error != NULL ?
		    c->pub.last_error : "publishing connection not up within "
		    "hsp.connect_timeout_s");
		break;
	case HSP_STATE_UNSUBSCRIBING:
	case HSP_STATE_FLUSHING:
	case HSP_STATE_DISCONNECTING:
		/*
		 * Closing would lose the results and acknowledgements still
		 * queued here (libmosquitto sends only the broker's receive
		 * maximum at a time, and a starved daemon can queue
		 * thousands).  While the broker acknowledges some in every
		 * period the queue shrinks -- nothing new is published
		 * through a retiring connector -- so wait another period;
		 * close only after a whole period without progress.
		 */
		if (c->state != HSP_STATE_DISCONNECTING &&
		    c->pending_pubacks > 0 &&
		    c->pending_pubacks < c->pending_at_deadline) {
			log_info("hsp: generation %llu still retiring: %u "
			    "publish(es) acknowledged in %d s, %u to go; "
			    "waiting on", (unsigned long long)c->inst->generation,
			    c->pending_at_deadline - c->pending_pubacks,
			    c->cfg->retire_timeout_s, c->pending_pubacks);
			c->pending_at_deadline = c->pending_pubacks;
			hsp_conn_timer_start(c, c->cfg->retire_timeout_s);
			break;
		}
		log_warnx("hsp: generation %llu did not retire within %d s "
		    "(%u publish(es) unacknowledged); closing",
		    (unsigned long long)c->inst->generation,
		    c->cfg->retire_timeout_s, c->pending_pubacks);
		hsp_conn_closed(c);
		break;
	default:
		break;
	}
}

/*
 * Retiring: disconnect once everything published is acknowledged and the
 * broker has stopped delivering.  After the UNSUBACK it may still send what
 * it had queued for this subscription (MQTT 3.1.1 3.10.4: a QoS 1 message
 * waits there while the client's in-flight window is full), and a clean
 * session's queue is dropped at DISCONNECT: the new connector never got
 * those messages, published before its SUBACK.  So wait until none came
 * for HSP_FLUSH_QUIET_MS and the socket holds nothing unread, within
 * hsp.retire_timeout_s.  Under load (the daemon starved of CPU, reloads
 * every few ms) this lost about 1 request in 250 (test_hsp_zero_loss).
 * Not with a persistent session: blue/green alternates its two client ids,
 * and the next reload needs this one free again (hsp_conn_disconnect drops
 * the replaced session's queue in any case).
 */
void
hsp_conn_flush_check(struct hsp_conn *c)
{
	struct timeval	tv = { 0, HSP_FLUSH_QUIET_MS * 1000 };
	int		waiting = 0;

	if (c->state != HSP_STATE_FLUSHING || c->pending_pubacks > 0)
		return;
	if (c->cfg->persistent) {
		hsp_conn_disconnect(c);
		return;
	}
	if (timespec_elapsed_s(&c->last_message) * 1000 < HSP_FLUSH_QUIET_MS ||
	    (c->fd != -1 && ioctl(c->fd, FIONREAD, &waiting) == 0 &&
	    waiting > 0)) {
		if (!evtimer_pending(c->flush_timer, NULL))
			evtimer_add(c->flush_timer, &tv);
		return;
	}
	hsp_conn_disconnect(c);
}

/* Retiring: look again whether the broker has stopped delivering. */
static void
hsp_conn_flush_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;

	if (c->inst->dead)
		return;
	service_instance_ref(c->inst);
	hsp_conn_flush_check(c);
	service_instance_unref(c->inst);
}

/* CONNACK. */
void
hsp_on_connect(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    int rc, int flags, __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;
	int		 src;

	if (c->inst->dead)
		return;
	hsp_tls_accepted(&c->tls);
	if (rc != 0) {
		char	*why = hsp_connack_cause(c, rc);

		hsp_conn_error(c, "%s:%d: %s", c->cfg->host, c->cfg->port,
		    why != NULL ? why : "the broker refused the connection");
		free(why);
		hsp_conn_drop(c);
		hsp_conn_failed(c);
		return;
	}
	if (c->probing) {
		c->probing = false;
		if (!(flags & 1)) {
			/* No session under "-a": ours, if any, is "-b". */
			log_debug("hsp: no session as %s; trying the other id",
			    c->client_id);
			c->letter = 'b';
			c->switch_id = true;
			/* Drops the empty session this connect created. */
			hsp_conn_disconnect(c);
			return;
		}
	}
	hsp_conn_state(c, HSP_STATE_SUBSCRIBING, "CONNACK");
	hsp_pub_connect(c);
	/*
	 * A pool member that drains stays out of its share group, also when
	 * it reconnects or a reload replaces its connector.
	 */
	c->subscribe_offset = c->cfg->share_group != NULL &&
	    c->registry->draining ? 1 : 0;
	src = mosquitto_subscribe_multiple(c->mosq, &c->subscribe_mid,
	    c->topics_count - c->subscribe_offset,
	    c->topics + c->subscribe_offset, 1, 0, NULL);
	if (src != MOSQ_ERR_SUCCESS) {
		hsp_conn_drop(c);
		hsp_conn_lost(c, hsp_strerror(src));
		return;
	}
	hsp_conn_update(c);
}

/* A share-group change has its SUBACK or UNSUBACK. */
static void
hsp_group_done(struct hsp_conn *c, bool ok, bool joined)
{
	service_drained_cb cb = c->group_cb;
	void		*arg = c->group_arg;

	c->group_cb = NULL;
	c->group_arg = NULL;
	if (ok) {
		c->in_group = joined;
		log_info("hsp: %s share group %s", joined ? "joined" : "left",
		    c->cfg->share_group);
		hsp_conn_event(c, joined ? "joined_group" : "left_group",
		    c->cfg->share_group, 0);
	}
	cb(arg, ok, ok ? NULL : "the broker refused the share-group "
	    "subscription");
}

/*
 * Leave (JOIN false) or join the share group: unsubscribe or subscribe the
 * shared request topic.  Returns 1 when nothing had to be done (no share
 * group, already so, or not connected: a reconnection subscribes as the
 * drain flag says), 0 when CB will be called on UNSUBACK/SUBACK, -1 when the
 * request could not be sent.
 */
static int
hsp_group(struct service_instance *inst, bool join, service_drained_cb cb,
    void *arg)
{
	struct hsp_conn	*c = inst->data;
	int		 rc;

	if (c->cfg->share_group == NULL || c->in_group == join ||
	    !c->connected || c->group_cb != NULL) {
		if (!c->connected)
			c->in_group = false;
		return (1);
	}
	if (join)
		rc = mosquitto_subscribe(c->mosq, &c->group_mid, c->topics[0],
		    1);
	else
		rc = mosquitto_unsubscribe(c->mosq, &c->group_mid,
		    c->topics[0]);
	if (rc != MOSQ_ERR_SUCCESS)
		return (-1);
	c->group_cb = cb;
	c->group_arg = arg;
	c->group_joining = join;
	hsp_conn_update(c);
	return (0);
}

/*
 * The connector's part of a drain (the ops drain): a pool member leaves
 * its share group when draining, joins it again on resume.
 */
static int
hsp_drain(struct service_instance *inst, bool draining,
    service_drained_cb done, void *arg)
{
	return (hsp_group(inst, !draining, done, arg));
}

/* Forget a pending share-group change (its command was cancelled). */
static void
hsp_group_cancel(struct service_instance *inst)
{
	struct hsp_conn	*c = inst->data;

	c->group_cb = NULL;
	c->group_arg = NULL;
}

/* SUBACK: every subscription must be granted. */
void
hsp_on_subscribe(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    int mid, int count, const int *granted,
    __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn		*c = obj;
	struct router_publisher	 self;
	int			 i;

	if (c->inst->dead)
		return;
	if (mid == c->group_mid && c->group_cb != NULL) {
		hsp_group_done(c, count > 0 && granted[0] < 0x80, true);
		return;
	}
	if (mid != c->subscribe_mid)
		return;
	for (i = 0; i < count && i + c->subscribe_offset < c->topics_count;
	    i++) {
		if (granted[i] >= 0x80) {
			hsp_conn_error(c, "%s:%d: broker refused the "
			    "subscription to %s (reason %d)", c->cfg->host,
			    c->cfg->port, c->topics[i + c->subscribe_offset],
			    granted[i]);
			hsp_conn_drop(c);
			hsp_conn_failed(c);
			return;
		}
	}
	/* A reload's connector also waits for its publishing connection. */
	if (c->pub.connected || c->start_reported)
		hsp_conn_timer_stop(c);
	hsp_conn_state(c, HSP_STATE_UP, "SUBACK");
	c->connected = true;
	c->in_group = c->cfg->share_group != NULL && c->subscribe_offset == 0;
	c->connected_at = time(NULL);
	c->backoff_ms = 0;
	c->attempts = 0;
	free(c->last_error);
	c->last_error = NULL;
	hsp_conn_event(c, "connected", NULL, 0);
	log_info("hsp: connected to %s:%d as %s, %d subscriptions%s",
	    c->cfg->host, c->cfg->port, c->client_id,
	    c->topics_count - c->subscribe_offset,
	    c->cfg->share_group == NULL ? "" : c->in_group ?
	    " (in the share group)" : " (out of the share group: draining)");
	/* Adverts after every (re)connect; a new generation advertises
	 * before it is swapped in. */
	hsp_publisher(c->inst, &self);
	router_advertise(&self, c->config->ai_id);
	if (c->pub.connected)
		hsp_conn_report(c, true, NULL);
}

/* UNSUBACK (retiring). */
void
hsp_on_unsubscribe(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    int mid, __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;

	if (c->inst->dead)
		return;
	if (mid == c->group_mid && c->group_cb != NULL) {
		hsp_group_done(c, true, false);
		return;
	}
	if (mid != c->unsubscribe_mid || c->state != HSP_STATE_UNSUBSCRIBING)
		return;
	hsp_conn_state(c, HSP_STATE_FLUSHING, "UNSUBACK");
	clock_gettime(CLOCK_MONOTONIC, &c->last_message);
	hsp_conn_flush_check(c);
}

/* The connection closed (asked for or not). */
void
hsp_on_disconnect(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    int rc, __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;

	if (c->inst->dead || c->dropping)
		return;
	if (c->switch_id) {
		/*
		 * End of the session probe: connect as "-b" on a later
		 * turn (the handle cannot be replaced inside its own
		 * callback).
		 */
		hsp_conn_unwatch(c);
		hsp_conn_state(c, HSP_STATE_BACKOFF, "session probe over: the other client id");
		hsp_conn_timer_start(c, 0);
		return;
	}
	if (c->state == HSP_STATE_DISCONNECTING || c->retiring) {
		hsp_conn_closed(c);
		return;
	}
	/*
	 * Already handled: a refused CONNACK was dealt with in
	 * hsp_on_connect (its cause kept, one back-off started), and
	 * libmosquitto then reports the same closed socket once more.
	 */
	if (c->state == HSP_STATE_BACKOFF || c->state == HSP_STATE_CLOSED)
		return;
	hsp_conn_lost(c, hsp_tls_explain(&c->tls, rc == 0 ? "disconnected" :
	    hsp_strerror(rc)));
}

/* The publishing connection ----------------------------------------- */

/*
 * The resolver every connector shares: the name servers of
 * /etc/resolv.conf, or, for the tests only, of the file named by
 * HOTRELOADD_TEST_RESOLV_CONF (a resolver that answers slowly shows that
 * the loop does not wait for it).
 */
static struct evdns_base *
hsp_dns_new(struct event_base *base)
{
	struct evdns_base	*dns;
	const char		*file = getenv("HOTRELOADD_TEST_RESOLV_CONF");

	if (file == NULL || *file == '\0')
		return (evdns_base_new(base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS));
	log_warnx("hsp: resolving with the name servers of %s "
	    "(HOTRELOADD_TEST_RESOLV_CONF, for tests only)", file);
	if ((dns = evdns_base_new(base, 0)) != NULL &&
	    evdns_base_resolv_conf_parse(dns, DNS_OPTIONS_ALL, file) != 0)
		log_warnx("hsp: %s: cannot read it all", file);
	return (dns);
}

/* Build a connector from CONFIG; nothing touches the network yet. */
static struct service_instance *
hsp_create(struct registry *reg, const struct config *config, char **cause)
{
	struct hsp_conn		*c;
	struct service_instance	*inst;
	int			 i;

	*cause = NULL;
	if (config->hsp == NULL)
		return (NULL);
	/* The router first: the connections' wills are its adverts. */
	if (router_ensure(reg, config) == -1) {
		*cause = strdup("cannot set up the HSP router");
		return (NULL);
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		*cause = strdup("out of memory");
		return (NULL);
	}
	c->registry = reg;
	c->config = config_ref((struct config *)config);
	c->cfg = config->hsp;
	c->fd = -1;
	c->pub.fd = -1;
	for (i = 0; i < HSP_PENDING_BUCKETS; i++)
		TAILQ_INIT(&c->pending[i]);
	TAILQ_INIT(&c->pending_order);
	TAILQ_INIT(&c->held);
	if (hsp_conn_topics(c) == -1 || hsp_read_password(c, cause) == -1 ||
	    file_check_tls(c->cfg->tls, "hsp.broker.tls", cause) == -1 ||
	    hsp_tls_init(&c->tls, c->cfg, cause) == -1 ||
	    hsp_tls_init(&c->pub.tls, c->cfg, cause) == -1 ||
	    (c->timer = evtimer_new(reg->base, hsp_conn_timer_cb, c)) ==
	    NULL || (c->intake_timer = evtimer_new(reg->base,
	    hsp_conn_intake_cb, c)) == NULL ||
	    (c->flush_timer = evtimer_new(reg->base, hsp_conn_flush_cb, c)) ==
	    NULL ||
	    (c->pub.timer = evtimer_new(reg->base, hsp_pub_timer_cb, c)) ==
	    NULL || hsp_pub_new_mosq(c, cause) == -1 ||
	    (c->misc_event = event_new(reg->base, -1, EV_PERSIST,
	    hsp_conn_misc_cb, c)) == NULL ||
	    (inst = service_instance_create(&hsp_service_ops, c)) == NULL) {
		if (*cause == NULL)
			*cause = strdup("out of memory");
		hsp_conn_free(c);
		return (NULL);
	}
	c->inst = inst;
	if (c->cfg->tls != NULL && c->cfg->tls->insecure)
		log_warnx("hsp: hsp.broker.tls.insecure is set: the broker's "
		    "certificate is NOT checked against %s; anyone with a "
		    "certificate from the same CA can pose as the broker",
		    c->cfg->host);
	if (hsp_dns == NULL)
		hsp_dns = hsp_dns_new(reg->base);
	return (inst);
}

/*
 * Bring the connector up.  For the first generation report ready at once
 * and keep connecting in the background; for a reload report when every
 * subscription is acknowledged, or fail.
 */
static void
hsp_start(struct service_instance *inst, service_started_cb cb)
{
	struct hsp_conn		*c = inst->data;
	struct service_slot	*slot = inst->slot;
	struct timeval		 second = { 1, 0 };
	struct hsp_conn		*current;

	c->started_cb = cb;
	c->strict = slot->current != NULL;
	if (c->cfg->persistent) {
		if (slot->current != NULL) {
			current = slot->current->data;
			c->letter = current->letter == 'a' ? 'b' : 'a';
		} else {
			c->letter = 'a';
			c->probing = true;
		}
	}
	c->client_id = hsp_client_id(c->config, c->letter);
	evtimer_add(c->misc_event, &second);
	hsp_conn_connect(c);
	if (!c->strict)
		hsp_conn_report(c, true, NULL);
}

/*
 * Retire: unsubscribe (so the broker stops sending here), wait for the
 * UNSUBACK and for our publishes to be acknowledged, disconnect.  At
 * shutdown a persistent session keeps its subscriptions so that work sent
 * while the daemon is away waits for it.
 */
static void
hsp_retire(struct service_instance *inst)
{
	struct hsp_conn	*c = inst->data;
	int		 rc;

	c->retiring = true;
	hsp_conn_timer_stop(c);
	if (c->dns != NULL) {
		evdns_getaddrinfo_cancel(c->dns);
		c->dns = NULL;
	}
	if (c->state != HSP_STATE_UP) {
		if (c->mosq != NULL && c->fd != -1)
			hsp_conn_drop(c);
		hsp_conn_closed(c);
		return;
	}
	c->pending_at_deadline = c->pending_pubacks;
	hsp_conn_timer_start(c, c->cfg->retire_timeout_s);
	if (c->cfg->persistent && c->registry->shutting_down) {
		hsp_conn_state(c, HSP_STATE_FLUSHING, "retired at shutdown: the session keeps its subscriptions");
		hsp_conn_flush_check(c);
		return;
	}
	hsp_conn_state(c, HSP_STATE_UNSUBSCRIBING, "retired");
	rc = mosquitto_unsubscribe_multiple(c->mosq, &c->unsubscribe_mid,
	    c->topics_count, c->topics, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		hsp_conn_state(c, HSP_STATE_FLUSHING, "UNSUBSCRIBE refused");
		hsp_conn_flush_check(c);
		return;
	}
	hsp_conn_update(c);
}

/* Free a connector and everything it holds. */
static void
hsp_conn_free(struct hsp_conn *c)
{
	struct hsp_pending	*pending;
	struct hsp_held		*held;
	int			 i;

	if (c->dns != NULL)
		evdns_getaddrinfo_cancel(c->dns);
	hsp_conn_unwatch(c);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->intake_timer != NULL)
		event_free(c->intake_timer);
	if (c->flush_timer != NULL)
		event_free(c->flush_timer);
	hsp_pub_unwatch(c);
	if (c->pub.timer != NULL)
		event_free(c->pub.timer);
	if (c->pub.mosq != NULL)
		mosquitto_destroy(c->pub.mosq);
	free(c->pub.client_id);
	free(c->pub.last_error);
	if (c->misc_event != NULL)
		event_free(c->misc_event);
	while ((pending = TAILQ_FIRST(&c->pending_order)) != NULL)
		hsp_pending_free(c, pending);
	while ((held = TAILQ_FIRST(&c->held)) != NULL) {
		TAILQ_REMOVE(&c->held, held, entry);
		hsp_held_free(held);
	}
	if (c->mosq != NULL)
		mosquitto_destroy(c->mosq);
	hsp_tls_free(&c->tls);
	hsp_tls_free(&c->pub.tls);
	for (i = 0; i < c->topics_count; i++)
		free(c->topics[i]);
	free(c->topics);
	if (c->password != NULL) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->client_id);
	free(c->address);
	free(c->last_error);
	config_free(c->config);
	free(c);
}

/* Free the connector (last reference gone). */
static void
hsp_destroy(struct service_instance *inst)
{
	if (inst->data != NULL)
		hsp_conn_free(inst->data);
}

/* Status details of the hsp slot. */
static json_t *
hsp_status(struct service_instance *inst)
{
	struct hsp_conn	*c = inst->data;
	json_t		*status, *router, *topics = json_array();
	char		 broker[300];
	int		 i;

	for (i = 0; i < c->topics_count; i++)
		json_array_append_new(topics, json_string(c->topics[i]));
	snprintf(broker, sizeof broker, "%s:%d", c->cfg->host, c->cfg->port);
	status = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s?, s:b, s:o, s:s?, "
	    "s:I, s:I, s:I, s:I, s:I}",
	    "state", c->connected && c->pub.connected ? "running" : "degraded",
	    "broker", broker,
	    "connected", c->connected && c->pub.connected,
	    "connection", hsp_state_names[c->state],
	    "client_id", c->client_id != NULL ? c->client_id : "",
	    "protocol", c->cfg->protocol == 5 ? "mqttv5" : "mqttv311",
	    "share_group", c->cfg->share_group,
	    "in_group", c->in_group,
	    "subscriptions", topics,
	    "last_error", c->last_error,
	    "connection_received", (json_int_t)c->received,
	    "published", (json_int_t)c->published,
	    "acked", (json_int_t)c->pubacks,
	    "pubacks_pending", (json_int_t)c->pending_pubacks,
	    "reconnects", (json_int_t)c->reconnects);
	json_object_set_new(status, "publisher", json_pack("{s:s, s:b, s:I, "
	    "s:s?}",
	    "client_id", c->pub.client_id != NULL ? c->pub.client_id : "",
	    "connected", c->pub.connected,
	    "reconnects", (json_int_t)c->pub.reconnects,
	    "last_error", c->pub.last_error));
	json_object_set_new(status, "intake", json_pack("{s:b, s:I, s:I, "
	    "s:I, s:I, s:I}",
	    "paused", c->paused,
	    "pauses", (json_int_t)c->pauses,
	    "held", (json_int_t)c->held_count,
	    "held_bytes", (json_int_t)c->held_bytes,
	    "publishes_refused", (json_int_t)c->refused,
	    "handed_over", (json_int_t)c->handed_over));
	json_object_set_new(status, "session", json_string(c->cfg->persistent ?
	    "persistent" : "clean"));
	router = router_status();
	json_object_update(status, router);
	json_decref(router);
	return (status);
}

/* Does the new configuration change the connector? */
static bool
hsp_changed(const struct config *old, const struct config *new)
{
	return (config_section_changed(old, new, "hsp"));
}

/* Is connector INST connected and subscribed? */
bool
hsp_is_connected(struct service_instance *inst)
{
	return (((struct hsp_conn *)inst->data)->connected);
}

/* Connection metrics for the hsp slot. */
void
hsp_metrics(struct service_slot *slot, FILE *f)
{
	struct service_instance	*inst = slot->current;

	if (inst == NULL)
		return;
	fprintf(f, "# HELP hotreload_hsp_connected 1 when the current "
	    "connector is connected and subscribed.\n# TYPE "
	    "hotreload_hsp_connected gauge\nhotreload_hsp_connected %d\n",
	    hsp_is_connected(inst) ? 1 : 0);
	fprintf(f, "# HELP hotreload_hsp_reconnects_total Reconnections of "
	    "the current connector.\n# TYPE hotreload_hsp_reconnects_total "
	    "counter\nhotreload_hsp_reconnects_total %llu\n",
	    (unsigned long long)((struct hsp_conn *)inst->data)->reconnects);
	router_metrics(f);
}

/* Does CONFIG have an hsp section? */
static bool
hsp_configured(const struct config *config)
{
	return (config->hsp != NULL);
}

const struct service_ops hsp_service_ops = {
	.name = "hsp",
	.create = hsp_create,
	.start = hsp_start,
	.retire = hsp_retire,
	.destroy = hsp_destroy,
	.status = hsp_status,
	.configured = hsp_configured,
	.changed = hsp_changed,
	.drain = hsp_drain,
	.drain_cancel = hsp_group_cancel,
	.metrics = hsp_metrics,
	.exit = hsp_shutdown,
};

/* Free what the HSP side holds for the whole process (exit). */
void
hsp_shutdown(void)
{
	if (hsp_dns != NULL) {
		evdns_base_free(hsp_dns, 0);
		hsp_dns = NULL;
	}
	router_free();
	discovery_free();
	dispatcher_free();
}
