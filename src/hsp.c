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
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/util.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"

#define HSP_BACKOFF_FIRST_MS	500
#define HSP_BACKOFF_MAX_MS	30000
#define HSP_PASSWORD_MAX	1024
/* Buckets of the table of unacknowledged publishes (by mid). */
#define HSP_PENDING_BUCKETS	256
/* Paused: how often to look again. */
#define HSP_PAUSED_CHECK_MS	100
/* Packets read at most per turn of the loop while not paused. */
#define HSP_READ_BATCH		64
/* Paused: packets read at most per look (for the keep-alive). */
#define HSP_READ_BURST		100000
/* Room in the announced maximum packet size for the topic and header. */
#define HSP_PACKET_OVERHEAD	(65536 + 64)
/* At most one log line per this many seconds about refused publishes. */
#define HSP_REFUSED_LOG_S	10

/* One QoS 1 publish the broker has not acknowledged yet. */
struct hsp_pending {
	int			 mid;
	char			*topic;
	char			*payload;
	size_t			 length;
	TAILQ_ENTRY(hsp_pending) bucket;	/* by mid */
	TAILQ_ENTRY(hsp_pending) order;		/* oldest first */
};
TAILQ_HEAD(hsp_pending_list, hsp_pending);

/* One message received while the connector is paused. */
struct hsp_held {
	char			*topic;
	void			*payload;
	size_t			 length;
	bool			 retained;
	TAILQ_ENTRY(hsp_held)	 entry;
};
TAILQ_HEAD(hsp_held_list, hsp_held);

enum hsp_state {
	HSP_STATE_IDLE,
	HSP_STATE_RESOLVING,
	HSP_STATE_CONNECTING,		/* TCP and CONNACK */
	HSP_STATE_SUBSCRIBING,
	HSP_STATE_UP,
	HSP_STATE_BACKOFF,		/* waiting to reconnect */
	HSP_STATE_UNSUBSCRIBING,	/* retiring */
	HSP_STATE_FLUSHING,		/* retiring: waiting for PUBACKs */
	HSP_STATE_DISCONNECTING,
	HSP_STATE_CLOSED,
};

static const char *const hsp_state_names[] = {
	"idle", "resolving", "connecting", "subscribing", "up", "backoff",
	"unsubscribing", "flushing", "disconnecting", "closed"
};

/* The publishing connection of a connector (see the top of the file). */
struct hsp_pub {
	struct mosquitto	*mosq;
	char			*client_id;
	int			 fd;
	struct event		*read_event;
	struct event		*write_event;
	struct event		*timer;		/* back-off */
	bool			 connected;
	bool			 connecting;
	bool			 dropping;	/* our own disconnect */
	unsigned int		 backoff_ms;
	uint64_t		 reconnects;
	char			*last_error;
};

struct hsp_conn {
	struct service_instance	*inst;
	struct config		*config;	/* a reference */
	const struct config_hsp	*cfg;
	enum hsp_state		 state;

	struct mosquitto	*mosq;
	char			*client_id;
	char			 letter;	/* persistent: 'a' or 'b' */
	bool			 probing;	/* looking for our session */
	bool			 switch_id;	/* probe over: use the other id */
	bool			 dropping;	/* our own disconnect, not a loss */
	char			*address;	/* resolved broker address */
	char			*password;

	/* Reload: fail the start rather than retry. */
	bool			 strict;
	service_started_cb	 started_cb;
	bool			 start_reported;

	int			 fd;
	struct event		*read_event;
	struct event		*write_event;
	struct event		*misc_event;
	struct event		*timer;		/* connect, back-off, retire */
	struct evdns_getaddrinfo_request *dns;

	char			**topics;
	int			 topics_count;
	int			 subscribe_mid;
	int			 subscribe_offset;	/* 1: without topics[0] */
	int			 unsubscribe_mid;

	/* Share group (hsp.share_group): topics[0] is the shared one. */
	bool			 in_group;
	int			 group_mid;
	bool			 group_joining;
	service_drained_cb	 group_cb;
	void			*group_arg;

	unsigned int		 backoff_ms;
	unsigned int		 attempts;
	char			*last_error;
	bool			 connected;
	time_t			 connected_at;
	bool			 retiring;

	uint64_t		 received;
	uint64_t		 published;
	uint64_t		 pubacks;
	unsigned int		 pending_pubacks;	/* entries of pending */
	unsigned int		 pending_at_deadline; /* when retiring */
	uint64_t		 reconnects;
	uint64_t		 refused;	/* PUBACK with a failure reason */
	time_t			 refused_logged;
	uint64_t		 handed_over;	/* to the next generation */

	/* Unacknowledged publishes, by mid and in order. */
	struct hsp_pending_list	 pending[HSP_PENDING_BUCKETS];
	struct hsp_pending_list	 pending_order;

	struct hsp_pub		 pub;

	/* Back-pressure. */
	bool			 paused;
	bool			 reading;	/* read event added */
	struct event		*intake_timer;
	struct timespec		 last_read;
	struct hsp_held_list	 held;
	size_t			 held_count;
	size_t			 held_bytes;
	uint64_t		 pauses;
};

static struct evdns_base	*hsp_dns;
static unsigned int		 hsp_serial;

static void	hsp_conn_connect(struct hsp_conn *);
static void	hsp_conn_lost(struct hsp_conn *, const char *);
static void	hsp_conn_failed(struct hsp_conn *);
static void	hsp_conn_update(struct hsp_conn *);
static void	hsp_conn_free(struct hsp_conn *);
static void	hsp_group_done(struct hsp_conn *, bool, bool);
static void	hsp_conn_intake(struct hsp_conn *);
static bool	hsp_conn_over(struct hsp_conn *);
static void	hsp_conn_report(struct hsp_conn *, bool, const char *);
static void	hsp_conn_flush_check(struct hsp_conn *);
static void	hsp_pub_connect(struct hsp_conn *);
static void	hsp_pub_drop(struct hsp_conn *);
static void	hsp_pub_update(struct hsp_conn *);
static int	hsp_publish_text(struct hsp_conn *, const char *, char *,
		    size_t);

/* Record the last error of C (for status and the start reply). */
static void
hsp_conn_error(struct hsp_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
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

/* The text of a libmosquitto error code. */
static const char *
hsp_strerror(int rc)
{
	if (rc == MOSQ_ERR_ERRNO)
		return (errno != 0 ? strerror(errno) : "connection lost");
	return (mosquitto_strerror(rc));
}

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
static char *
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
static int
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
static int
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
 * The TLS files must be regular files: libmosquitto opens them itself, and
 * a FIFO in their place would block the loop in open().
 */
static int
hsp_check_tls_files(struct hsp_conn *c, char **cause)
{
	const struct config_tls	*tls = c->cfg->tls;
	const char		*names[] = { "ca_file", "cert_file", "key_file" };
	const char		*paths[3];
	char			*why;
	size_t			 i;

	if (tls == NULL)
		return (0);
	paths[0] = tls->ca_file;
	paths[1] = tls->cert_file;
	paths[2] = tls->key_file;
	for (i = 0; i < 3; i++) {
		if (paths[i] == NULL || file_check_regular(paths[i], &why) == 0)
			continue;
		*cause = str_printf("hsp.broker.tls.%s %s: %s", names[i],
		    paths[i], why != NULL ? why : "out of memory");
		free(why);
		return (-1);
	}
	return (0);
}

/* A new libmosquitto handle for C with its options and callbacks. */
static int
hsp_conn_new_mosq(struct hsp_conn *c, char **cause);

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

/* Free the events of a socket we watched (either connection). */
static void
hsp_events_free(struct event **read_event, struct event **write_event,
    int *fd)
{
	if (*read_event != NULL) {
		event_free(*read_event);
		*read_event = NULL;
	}
	if (*write_event != NULL) {
		event_free(*write_event);
		*write_event = NULL;
	}
	*fd = -1;
}

/*
 * Follow the socket of MOSQ (either connection): when it changed, make a
 * persistent read event and a one-shot write event for it; ask for a write
 * when libmosquitto has something to send.  Returns true when a new socket
 * is watched (reading on).
 */
static bool
hsp_events_follow(struct mosquitto *mosq, struct event **read_event,
    struct event **write_event, int *fd, event_callback_fn read_cb,
    event_callback_fn write_cb, void *arg)
{
	int	now = mosquitto_socket(mosq);
	bool	fresh = false;

	if (now != *fd) {
		hsp_events_free(read_event, write_event, fd);
		if (now == -1)
			return (false);
		*read_event = event_new(hr->base, now, EV_READ | EV_PERSIST,
		    read_cb, arg);
		*write_event = event_new(hr->base, now, EV_WRITE, write_cb,
		    arg);
		if (*read_event == NULL || *write_event == NULL) {
			hsp_events_free(read_event, write_event, fd);
			return (false);
		}
		*fd = now;
		event_add(*read_event, NULL);
		fresh = true;
	}
	/* No socket (closed from inside a callback): nothing to watch. */
	if (*write_event != NULL && mosquitto_want_write(mosq))
		event_add(*write_event, NULL);
	return (fresh);
}

/* Stop watching the socket. */
static void
hsp_conn_unwatch(struct hsp_conn *c)
{
	hsp_events_free(&c->read_event, &c->write_event, &c->fd);
	c->reading = false;
	c->paused = false;
	if (c->intake_timer != NULL)
		evtimer_del(c->intake_timer);
}

/* Forget the unacknowledged publish P (acknowledged or handed over). */
static void
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
    size_t length)
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
static void
hsp_pending_hand_over(struct hsp_conn *c)
{
	struct service_instance	*current;
	struct hsp_pending	*p;
	unsigned int		 count = c->pending_pubacks, failed = 0;

	if (count == 0)
		return;
	current = registry_slot(hr->registry, SERVICE_HSP)->current;
	if (current == NULL || current == c->inst || current->dead) {
		log_warnx("hsp: generation %llu closed with %u unacknowledged "
		    "publish(es) and no connector to hand them to",
		    (unsigned long long)c->inst->generation, count);
		while ((p = TAILQ_FIRST(&c->pending_order)) != NULL)
			hsp_pending_free(c, p);
		return;
	}
	while ((p = TAILQ_FIRST(&c->pending_order)) != NULL) {
		if (hsp_publish_text(current->data, p->topic, p->payload,
		    p->length) == -1)
			failed++;
		p->payload = NULL;	/* taken */
		hsp_pending_free(c, p);
	}
	c->handed_over += count;
	log_info("hsp: generation %llu handed %u unacknowledged publish(es) "
	    "to generation %llu%s", (unsigned long long)c->inst->generation,
	    count, (unsigned long long)current->generation,
	    failed > 0 ? " (some could not be queued)" : "");
}

/* Free what was held for the router (nothing is routed). */
static void
hsp_held_free(struct hsp_held *h)
{
	free(h->topic);
	free(h->payload);
	free(h);
}

/*
 * Hand held messages to the router, oldest first, while the daemon is
 * below its limits (ALL: every one, as when the connector closes: the
 * broker considers them delivered, so they must not be dropped).
 */
static void
hsp_held_flush(struct hsp_conn *c, bool all)
{
	struct hsp_held	*h;

	while ((h = TAILQ_FIRST(&c->held)) != NULL) {
		if (!all && hsp_conn_over(c))
			break;
		TAILQ_REMOVE(&c->held, h, entry);
		c->held_count--;
		c->held_bytes -= h->length;
		router_handle(c->inst, h->topic, h->payload, h->length,
		    h->retained);
		hsp_held_free(h);
	}
}

/* Stop the step timer. */
static void
hsp_conn_timer_stop(struct hsp_conn *c)
{
	if (c->timer != NULL)
		evtimer_del(c->timer);
}

/* Start the step timer for SECONDS. */
static void
hsp_conn_timer_start(struct hsp_conn *c, double seconds)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(c->timer, &tv);
}

/* Report the outcome of the start, once. */
static void
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
	c->state = HSP_STATE_CLOSED;
	hsp_pub_drop(c);
	hsp_held_flush(c, true);
	if (c->retiring) {
		hsp_pending_hand_over(c);
		c->retiring = false;
		log_info("hsp: generation %llu disconnected (%s)",
		    (unsigned long long)c->inst->generation, c->client_id);
		service_instance_retired(c->inst);
	}
}

/* Disconnect now (retiring): the DISCONNECT goes out on the next write. */
static void
hsp_conn_disconnect(struct hsp_conn *c)
{
	mosquitto_property	*props = NULL;
	int			 rc;

	c->state = HSP_STATE_DISCONNECTING;
	/*
	 * A persistent session replaced by a reload is not needed any more:
	 * drop it (session expiry 0) so the broker stops queueing for it.  At
	 * shutdown it is kept, so work sent meanwhile waits for us.
	 */
	if (c->cfg->persistent && c->cfg->protocol == 5 &&
	    !hr->shutting_down)
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

/* Let libmosquitto read or write (LOOP), then follow its socket. */
static void
hsp_conn_io(struct hsp_conn *c, int (*loop)(struct mosquitto *, int))
{
	int	rc;

	if (c->inst->dead || c->mosq == NULL)
		return;
	/* Callbacks inside may drop the last other reference. */
	service_instance_ref(c->inst);
	if (loop == mosquitto_loop_read)
		clock_gettime(CLOCK_MONOTONIC, &c->last_read);
	rc = loop(c->mosq, 1);
	if (rc != MOSQ_ERR_SUCCESS && c->fd != -1 && !c->inst->dead)
		hsp_conn_lost(c, hsp_strerror(rc));
	else if (!c->inst->dead) {
		hsp_conn_update(c);
		hsp_conn_intake(c);
	}
	service_instance_unref(c->inst);
}

/* Socket readable. */
static void
hsp_conn_read_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;
	int		 i, waiting;

	/*
	 * mosquitto_loop_read() reads one packet here (this connection
	 * publishes nothing, which is what sizes its batch): take a few
	 * more while the socket has them, stopping at once when the intake
	 * pauses, so a busy stream costs one turn of the loop per batch,
	 * not per message, and the loop still turns between batches.
	 */
	service_instance_ref(c->inst);
	for (i = 0; i < HSP_READ_BATCH; i++) {
		hsp_conn_io(c, mosquitto_loop_read);
		if (c->inst->dead || c->paused || !c->reading ||
		    c->fd == -1 || ioctl(c->fd, FIONREAD, &waiting) == -1 ||
		    waiting <= 0)
			break;
	}
	service_instance_unref(c->inst);
}

/* Socket writable and libmosquitto has something to send. */
static void
hsp_conn_write_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	hsp_conn_io(arg, mosquitto_loop_write);
}

/* Once a second: keepalive pings and libmosquitto's own timeouts. */
static void
hsp_conn_misc_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;

	if (c->inst->dead)
		return;
	service_instance_ref(c->inst);
	if (c->mosq != NULL && c->fd != -1 &&
	    mosquitto_loop_misc(c->mosq) == MOSQ_ERR_SUCCESS)
		hsp_conn_update(c);
	if (!c->inst->dead && c->pub.mosq != NULL && c->pub.fd != -1 &&
	    mosquitto_loop_misc(c->pub.mosq) == MOSQ_ERR_SUCCESS)
		hsp_pub_update(c);
	service_instance_unref(c->inst);
}

/*
 * Follow libmosquitto's socket: (re)create the events when the socket
 * changed, and ask for a write event when it has data to send.
 */
static void
hsp_conn_update(struct hsp_conn *c)
{
	if (c->mosq == NULL)
		return;
	if (hsp_events_follow(c->mosq, &c->read_event, &c->write_event, &c->fd,
	    hsp_conn_read_cb, hsp_conn_write_cb, c))
		c->reading = true;
	else if (c->fd == -1)
		c->reading = false;
}

/* Start the intake timer for MS milliseconds. */
static void
hsp_conn_intake_timer(struct hsp_conn *c, unsigned int ms)
{
	struct timeval	tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->intake_timer, &tv);
}

/* Watch the socket for reading (ON) or not. */
static void
hsp_conn_reading(struct hsp_conn *c, bool on)
{
	if (on && !c->reading)
		event_add(c->read_event, NULL);
	else if (!on && c->reading)
		event_del(c->read_event);
	c->reading = on;
}

/* Is the daemon at its limits (tasks running, publishes unacknowledged)? */
static bool
hsp_conn_over(struct hsp_conn *c)
{
	unsigned int	max = (unsigned int)c->cfg->max_tasks_in_flight;

	return (router_tasks_in_flight() >= max ||
	    c->pending_pubacks >= 2 * max);
}

/*
 * After a read on either connection (and from the intake timer): hand held
 * messages on, then stop reading the receiving connection while the daemon
 * is at its limits, or read again (see the top of the file).
 */
static void
hsp_conn_intake(struct hsp_conn *c)
{
	bool	over;

	if (c->read_event == NULL)
		return;
	hsp_held_flush(c, false);
	over = c->held_count > 0 || hsp_conn_over(c);
	if (!over) {
		if (c->paused) {
			c->paused = false;
			evtimer_del(c->intake_timer);
			log_debug("hsp: generation %llu reads again",
			    (unsigned long long)c->inst->generation);
		}
		hsp_conn_reading(c, true);
		return;
	}
	if (!c->paused) {
		c->paused = true;
		c->pauses++;
		log_debug("hsp: generation %llu at its limits (%u tasks, %u "
		    "publishes unacknowledged): not reading",
		    (unsigned long long)c->inst->generation,
		    router_tasks_in_flight(), c->pending_pubacks);
	}
	hsp_conn_reading(c, false);
	/* To resume once tasks end, and to read for the keep-alive. */
	if (!evtimer_pending(c->intake_timer, NULL))
		hsp_conn_intake_timer(c, HSP_PAUSED_CHECK_MS);
}

/*
 * Paused: look again; every half keep-alive, read what the socket holds
 * (the PINGRESP may be behind messages, which are held).  One
 * mosquitto_loop_read() reads one packet here (the receiving connection
 * publishes nothing), hence the loop, bounded by what the kernel holds.
 */
static void
hsp_conn_intake_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;
	int		 waiting, i;

	if (c->inst->dead || c->mosq == NULL || c->read_event == NULL)
		return;
	service_instance_ref(c->inst);
	if (!c->reading &&
	    timespec_elapsed_s(&c->last_read) >= c->cfg->keepalive_s / 2.0) {
		for (i = 0; i < HSP_READ_BURST && c->fd != -1 &&
		    !c->inst->dead; i++) {
			if (ioctl(c->fd, FIONREAD, &waiting) == -1 ||
			    waiting <= 0)
				break;
			c->paused = true;	/* what comes is held */
			if (mosquitto_loop_read(c->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
		}
		clock_gettime(CLOCK_MONOTONIC, &c->last_read);
		if (!c->inst->dead)
			hsp_conn_update(c);
	}
	if (!c->inst->dead)
		hsp_conn_intake(c);
	service_instance_unref(c->inst);
}

/* Wait before the next connection attempt (capped, with jitter). */
static void
hsp_conn_backoff(struct hsp_conn *c)
{
	unsigned int	delay;

	if (c->backoff_ms == 0)
		c->backoff_ms = HSP_BACKOFF_FIRST_MS;
	else if (c->backoff_ms < HSP_BACKOFF_MAX_MS)
		c->backoff_ms *= 2;
	if (c->backoff_ms > HSP_BACKOFF_MAX_MS)
		c->backoff_ms = HSP_BACKOFF_MAX_MS;
	/* Half to all of the step, so a fleet does not reconnect in step. */
	delay = c->backoff_ms / 2 + (unsigned int)(random() %
	    (c->backoff_ms / 2 + 1));
	c->state = HSP_STATE_BACKOFF;
	log_info("hsp: reconnecting to %s:%d in %.1f s", c->cfg->host,
	    c->cfg->port, delay / 1e3);
	hsp_conn_timer_start(c, delay / 1e3);
}

/*
 * The connection failed or broke.  A start for a reload fails; otherwise
 * try again later; a retiring connector is simply done.
 */
static void
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
		c->state = HSP_STATE_CLOSED;
		hsp_conn_report(c, false, c->last_error);
		return;
	}
	if (was_up)
		c->reconnects++;
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

/* Retiring: everything published is acknowledged, so disconnect. */
static void
hsp_conn_flush_check(struct hsp_conn *c)
{
	if (c->state == HSP_STATE_FLUSHING && c->pending_pubacks == 0)
		hsp_conn_disconnect(c);
}

/* CONNACK. */
static void
hsp_on_connect(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    int rc, int flags, __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;
	int		 src;

	if (c->inst->dead)
		return;
	if (rc != 0) {
		hsp_conn_error(c, "%s:%d: broker refused the connection: %s",
		    c->cfg->host, c->cfg->port, c->cfg->protocol == 5 ?
		    mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
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
	c->state = HSP_STATE_SUBSCRIBING;
	hsp_pub_connect(c);
	/*
	 * A pool member that drains stays out of its share group, also when
	 * it reconnects or a reload replaces its connector.
	 */
	c->subscribe_offset = c->cfg->share_group != NULL &&
	    hr->registry->draining ? 1 : 0;
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
static void
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
	c->state = HSP_STATE_UP;
	c->connected = true;
	c->in_group = c->cfg->share_group != NULL && c->subscribe_offset == 0;
	c->connected_at = time(NULL);
	c->backoff_ms = 0;
	c->attempts = 0;
	free(c->last_error);
	c->last_error = NULL;
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
static void
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
	c->state = HSP_STATE_FLUSHING;
	hsp_conn_flush_check(c);
}

/* PUBACK of one of our QoS 1 publishes (REASON >= 0x80: refused). */
static void
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

/* A message: to the shared router, or held while paused. */
static void
hsp_on_message(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    const struct mosquitto_message *m,
    __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;

	struct hsp_held	*h;

	if (c->inst->dead)
		return;
	c->received++;
	if (!c->paused && c->held_count == 0) {
		router_handle(c->inst, m->topic, m->payload,
		    (size_t)m->payloadlen, m->retain);
		return;
	}
	/*
	 * Paused: libmosquitto acknowledges the message when we return, so
	 * keep it (raw: jansson would multiply its size) until the router
	 * can take it.  One read brings at most the broker's window.
	 */
	if ((h = calloc(1, sizeof *h)) == NULL ||
	    (h->topic = strdup(m->topic)) == NULL ||
	    (h->payload = malloc((size_t)m->payloadlen + 1)) == NULL) {
		if (h != NULL)
			hsp_held_free(h);
		router_handle(c->inst, m->topic, m->payload,
		    (size_t)m->payloadlen, m->retain);
		return;
	}
	memcpy(h->payload, m->payload, (size_t)m->payloadlen);
	h->length = (size_t)m->payloadlen;
	h->retained = m->retain;
	TAILQ_INSERT_TAIL(&c->held, h, entry);
	c->held_count++;
	c->held_bytes += h->length;
}

/* The connection closed (asked for or not). */
static void
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
		c->state = HSP_STATE_BACKOFF;
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
	hsp_conn_lost(c, rc == 0 ? "disconnected" : hsp_strerror(rc));
}

/* Log libmosquitto's own messages at debug level. */
static void
hsp_on_log(__attribute__((unused)) struct mosquitto *mosq,
    __attribute__((unused)) void *obj, int level, const char *text)
{
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		log_debug("hsp: libmosquitto: %s", text);
}

static int
hsp_conn_new_mosq(struct hsp_conn *c, char **cause)
{
	const struct config_tls	*tls = c->cfg->tls;
	int			 rc;

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
	mosquitto_publish_v5_callback_set(c->mosq, hsp_on_publish);
	mosquitto_message_v5_callback_set(c->mosq, hsp_on_message);
	mosquitto_log_callback_set(c->mosq, hsp_on_log);
	if (c->cfg->username != NULL &&
	    (rc = mosquitto_username_pw_set(c->mosq, c->cfg->username,
	    c->password)) != MOSQ_ERR_SUCCESS) {
		*cause = str_printf("MQTT credentials: %s", hsp_strerror(rc));
		return (-1);
	}
	if (tls != NULL && (rc = mosquitto_tls_set(c->mosq, tls->ca_file,
	    tls->ca_path, tls->cert_file, tls->key_file, NULL)) !=
	    MOSQ_ERR_SUCCESS) {
		*cause = str_printf("hsp.broker.tls: %s", hsp_strerror(rc));
		return (-1);
	}
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

/* The publishing connection ----------------------------------------- */

/* Stop watching the publishing socket. */
static void
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
	if (c->pub.backoff_ms == 0)
		c->pub.backoff_ms = HSP_BACKOFF_FIRST_MS;
	else if (c->pub.backoff_ms < HSP_BACKOFF_MAX_MS)
		c->pub.backoff_ms *= 2;
	if (c->pub.backoff_ms > HSP_BACKOFF_MAX_MS)
		c->pub.backoff_ms = HSP_BACKOFF_MAX_MS;
	delay = c->pub.backoff_ms / 2 + (unsigned int)(random() %
	    (c->pub.backoff_ms / 2 + 1));
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
		hsp_pub_lost(c, hsp_strerror(rc));
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

/* The publishing socket is writable and libmosquitto has data. */
static void
hsp_pub_write_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	hsp_pub_io(arg, mosquitto_loop_write);
}

/* Follow the publishing connection's socket (as hsp_conn_update). */
static void
hsp_pub_update(struct hsp_conn *c)
{
	if (c->pub.mosq != NULL)
		hsp_events_follow(c->pub.mosq, &c->pub.read_event,
		    &c->pub.write_event, &c->pub.fd, hsp_pub_read_cb,
		    hsp_pub_write_cb, c);
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
	if (rc != 0) {
		char	*why = str_printf("broker refused the connection: %s",
		    c->cfg->protocol == 5 ? mosquitto_reason_string(rc) :
		    mosquitto_connack_string(rc));

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
	hsp_pub_lost(c, rc == 0 ? "disconnected" : hsp_strerror(rc));
}

/* Close the publishing connection ourselves. */
static void
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
static int
hsp_pub_new_mosq(struct hsp_conn *c, char **cause)
{
	const struct config_tls	*tls = c->cfg->tls;
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
	mosquitto_log_callback_set(m, hsp_on_log);
	if (c->cfg->username != NULL &&
	    (rc = mosquitto_username_pw_set(m, c->cfg->username,
	    c->password)) != MOSQ_ERR_SUCCESS) {
		*cause = str_printf("MQTT credentials: %s", hsp_strerror(rc));
		return (-1);
	}
	if (tls != NULL && (rc = mosquitto_tls_set(m, tls->ca_file,
	    tls->ca_path, tls->cert_file, tls->key_file, NULL)) !=
	    MOSQ_ERR_SUCCESS) {
		*cause = str_printf("hsp.broker.tls: %s", hsp_strerror(rc));
		return (-1);
	}
	return (0);
}

/*
 * Connect the publishing connection to the address the receiving one
 * reached (called on its CONNACK, and after a back-off).
 */
static void
hsp_pub_connect(struct hsp_conn *c)
{
	int	rc;

	if (c->pub.mosq == NULL || c->address == NULL || c->pub.connected ||
	    c->pub.connecting || c->retiring || c->state == HSP_STATE_CLOSED)
		return;
	evtimer_del(c->pub.timer);
	c->pub.connecting = true;
	rc = mosquitto_connect_bind_async(c->pub.mosq, c->address,
	    c->cfg->port, c->cfg->keepalive_s, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		hsp_pub_lost(c, hsp_strerror(rc));
		return;
	}
	hsp_pub_update(c);
	if (c->pub.fd == -1)
		hsp_pub_lost(c, "no socket");
}

/* The publishing connection's back-off is over. */
static void
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
	c->state = HSP_STATE_CONNECTING;
	rc = mosquitto_connect_bind_async(c->mosq, c->address,
	    c->cfg->port, c->cfg->keepalive_s, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		hsp_conn_lost(c, hsp_strerror(rc));
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
 * (numeric addresses and TLS skip it: with TLS libmosquitto needs the name
 * to check the certificate), then connect.  Bounded by connect_timeout_s.
 */
static void
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
	c->state = HSP_STATE_CONNECTING;
	numeric = inet_pton(AF_INET, c->cfg->host, scratch) == 1 ||
	    inet_pton(AF_INET6, c->cfg->host, scratch) == 1;
	if (numeric || c->cfg->tls != NULL || hsp_dns == NULL) {
		free(c->address);
		c->address = strdup(c->cfg->host);
		hsp_conn_connect_address(c);
		return;
	}
	c->state = HSP_STATE_RESOLVING;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	c->dns = evdns_getaddrinfo(hsp_dns, c->cfg->host, NULL, &hints,
	    hsp_conn_resolved_cb, c);
}

/* Build a connector from CONFIG; nothing touches the network yet. */
static struct service_instance *
hsp_create(const struct config *config, char **cause)
{
	struct hsp_conn		*c;
	struct service_instance	*inst;
	int			 i;

	*cause = NULL;
	if (config->hsp == NULL)
		return (NULL);
	if ((c = calloc(1, sizeof *c)) == NULL) {
		*cause = strdup("out of memory");
		return (NULL);
	}
	c->config = config_ref((struct config *)config);
	c->cfg = config->hsp;
	c->fd = -1;
	c->pub.fd = -1;
	for (i = 0; i < HSP_PENDING_BUCKETS; i++)
		TAILQ_INIT(&c->pending[i]);
	TAILQ_INIT(&c->pending_order);
	TAILQ_INIT(&c->held);
	if (hsp_conn_topics(c) == -1 || hsp_read_password(c, cause) == -1 ||
	    hsp_check_tls_files(c, cause) == -1 ||
	    (c->timer = evtimer_new(hr->base, hsp_conn_timer_cb, c)) == NULL ||
	    (c->intake_timer = evtimer_new(hr->base, hsp_conn_intake_cb,
	    c)) == NULL ||
	    (c->pub.timer = evtimer_new(hr->base, hsp_pub_timer_cb,
	    c)) == NULL || hsp_pub_new_mosq(c, cause) == -1 ||
	    (c->misc_event = event_new(hr->base, -1, EV_PERSIST,
	    hsp_conn_misc_cb, c)) == NULL ||
	    (inst = service_instance_create(&hsp_service_ops, c)) == NULL) {
		if (*cause == NULL)
			*cause = strdup("out of memory");
		hsp_conn_free(c);
		return (NULL);
	}
	c->inst = inst;
	if (hsp_dns == NULL)
		hsp_dns = evdns_base_new(hr->base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (router_ensure(config) == -1) {
		*cause = strdup("cannot set up the HSP router");
		service_instance_unref(inst);
		return (NULL);
	}
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
	if (c->cfg->persistent && hr->shutting_down) {
		c->state = HSP_STATE_FLUSHING;
		hsp_conn_flush_check(c);
		return;
	}
	c->state = HSP_STATE_UNSUBSCRIBING;
	rc = mosquitto_unsubscribe_multiple(c->mosq, &c->unsubscribe_mid,
	    c->topics_count, c->topics, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		c->state = HSP_STATE_FLUSHING;
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

/*
 * Publish ENVELOPE (borrowed) on TOPIC at QoS 1 through connector INST.
 * While disconnected libmosquitto keeps QoS 1 messages and sends them after
 * reconnecting, so only a refusal counts as a failure.
 */
int
hsp_publish(struct service_instance *inst, const char *topic, json_t *envelope)
{
	struct hsp_conn	*c = inst->data;
	char		*text;

	if (c->pub.mosq == NULL || c->state == HSP_STATE_CLOSED)
		return (-1);
	if ((text = json_dumps(envelope, JSON_COMPACT)) == NULL)
		return (-1);
	return (hsp_publish_text(c, topic, text, strlen(text)));
}

/*
 * Publish TEXT (taken) of LENGTH bytes on TOPIC at QoS 1 through C, and
 * keep it until the broker acknowledges it.
 */
static int
hsp_publish_text(struct hsp_conn *c, const char *topic, char *text,
    size_t length)
{
	int	rc, mid = 0;

	if (c->pub.mosq == NULL || c->state == HSP_STATE_CLOSED) {
		free(text);
		return (-1);
	}
	rc = mosquitto_publish(c->pub.mosq, &mid, topic, (int)length, text, 1,
	    false);
	/* Without a connection libmosquitto queues it and sends it after
	 * reconnecting: only a refusal counts as a failure. */
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
		free(text);
		return (-1);
	}
	c->published++;
	hsp_pending_add(c, mid, topic, text, length);
	if (rc == MOSQ_ERR_SUCCESS)
		hsp_pub_update(c);
	return (0);
}

/* The router's publisher: hsp_publish, for a router_publisher. */
static int
hsp_publisher_publish(void *arg, const char *topic, json_t *envelope)
{
	return (hsp_publish(arg, topic, envelope));
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

/* Is connector INST connected and subscribed? */
bool
hsp_is_connected(struct service_instance *inst)
{
	return (((struct hsp_conn *)inst->data)->connected);
}

/* Connection metrics for the hsp slot. */
void
hsp_metrics(FILE *f)
{
	struct service_instance	*inst;

	inst = registry_slot(hr->registry, SERVICE_HSP)->current;
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

const struct service_ops hsp_service_ops = {
	.name = "hsp",
	.create = hsp_create,
	.start = hsp_start,
	.retire = hsp_retire,
	.destroy = hsp_destroy,
	.status = hsp_status,
	.changed = hsp_changed,
	.drain = hsp_drain,
	.drain_cancel = hsp_group_cancel,
};

/* Dependants -------------------------------------------------------- */

/*
 * The ToolDispatcher and ServiceDiscovery have no connection of their own:
 * they exist when hsp is configured and are rewired, not rebuilt, on a swap.
 */
static struct service_instance *
dependant_create(const struct service_ops *ops, const struct config *config,
    char **cause)
{
	struct service_instance	*inst;

	*cause = NULL;
	if (config->hsp == NULL)
		return (NULL);
	if ((inst = service_instance_create(ops, NULL)) == NULL)
		*cause = strdup("out of memory");
	return (inst);
}

/* Ready at once. */
static void
dependant_start(struct service_instance *inst, service_started_cb cb)
{
	cb(inst, true, NULL);
}

/* Nothing to finish. */
static void
dependant_retire(struct service_instance *inst)
{
	service_instance_retired(inst);
}

/* Nothing to free. */
static void
dependant_destroy(__attribute__((unused)) struct service_instance *inst)
{
}

/* Started once with hsp; never rebuilt by a reload. */
static bool
dependant_changed(const struct config *old, const struct config *new)
{
	return (old == NULL && new->hsp != NULL);
}

static struct service_instance *
tool_dispatcher_create(const struct config *config, char **cause)
{
	return (dependant_create(&tool_dispatcher_service_ops, config, cause));
}

static json_t *
tool_dispatcher_status(__attribute__((unused)) struct service_instance *i)
{
	return (dispatcher_status());
}

static struct service_instance *
discovery_create(const struct config *config, char **cause)
{
	if (discovery_init() == -1) {
		*cause = strdup("out of memory");
		return (NULL);
	}
	return (dependant_create(&discovery_service_ops, config, cause));
}

static json_t *
discovery_slot_status(__attribute__((unused)) struct service_instance *i)
{
	return (discovery_status());
}

const struct service_ops tool_dispatcher_service_ops = {
	.name = "tool_dispatcher",
	.create = tool_dispatcher_create,
	.start = dependant_start,
	.retire = dependant_retire,
	.destroy = dependant_destroy,
	.status = tool_dispatcher_status,
	.changed = dependant_changed,
};

const struct service_ops discovery_service_ops = {
	.name = "service_discovery",
	.create = discovery_create,
	.start = dependant_start,
	.retire = dependant_retire,
	.destroy = dependant_destroy,
	.status = discovery_slot_status,
	.changed = dependant_changed,
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
