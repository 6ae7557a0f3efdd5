/*
 * hsp-loop.c -- libmosquitto on the daemon's libevent loop: the events
 * that follow a connection's socket (a persistent read event, a one-shot
 * write event armed whenever mosquitto_want_write() says so), the calls
 * into mosquitto_loop_read/write/misc, and libmosquitto's own log.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <mosquitto.h>

#include "hsp-conn.h"
#include "log.h"

/* The text of a libmosquitto error code. */
const char *
hsp_strerror(int rc)
{
	if (rc == MOSQ_ERR_ERRNO)
		return (errno != 0 ? strerror(errno) : "connection lost");
	return (mosquitto_strerror(rc));
}

/* libmosquitto's own messages, at debug level. */
static void
hsp_on_log(__attribute__((unused)) struct mosquitto *mosq,
    __attribute__((unused)) void *obj, int level, const char *text)
{
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		log_debug("hsp: libmosquitto: %s", text);
}

/*
 * Log libmosquitto's messages through M when the daemon logs debug (-v,
 * fixed at start).  Only then: with a log callback set, libmosquitto
 * formats a line with vsnprintf for every packet it sends or receives,
 * about six per echo request and a seventh of the daemon's work
 * (issue 19), to have all but its warnings thrown away here.
 */
void
hsp_log_callback(struct mosquitto *m)
{
	if (log_get_verbosity() >= 1)
		mosquitto_log_callback_set(m, hsp_on_log);
}

/* Free the events of a socket we watched (either connection). */
void
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
bool
hsp_events_follow(struct event_base *base, struct mosquitto *mosq,
    struct event **read_event, struct event **write_event, int *fd,
    event_callback_fn read_cb, event_callback_fn write_cb, void *arg)
{
	int	now = mosquitto_socket(mosq);
	bool	fresh = false;

	if (now != *fd) {
		hsp_events_free(read_event, write_event, fd);
		if (now == -1)
			return (false);
		*read_event = event_new(base, now, EV_READ | EV_PERSIST,
		    read_cb, arg);
		*write_event = event_new(base, now, EV_WRITE, write_cb,
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
void
hsp_conn_unwatch(struct hsp_conn *c)
{
	hsp_events_free(&c->read_event, &c->write_event, &c->fd);
	c->reading = false;
	c->paused = false;
	if (c->intake_timer != NULL)
		evtimer_del(c->intake_timer);
}

/* Let libmosquitto read or write (LOOP), then follow its socket. */
void
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
		hsp_conn_lost(c, hsp_tls_explain(&c->tls, hsp_strerror(rc)));
	else if (!c->inst->dead) {
		hsp_conn_update(c);
		hsp_conn_intake(c);
	}
	service_instance_unref(c->inst);
}

/*
 * Socket writable and libmosquitto has something to send.  While a TLS
 * handshake is under way mosquitto_loop_write() sends nothing: only
 * mosquitto_loop_read() moves the handshake on (its own select loop calls
 * SSL_connect() on either event), so a writable socket goes there.
 */
static void
hsp_conn_write_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct hsp_conn	*c = arg;

	hsp_conn_io(c, c->mosq != NULL && hsp_tls_handshaking(c->mosq) ?
	    mosquitto_loop_read : mosquitto_loop_write);
}

/* Once a second: keepalive pings and libmosquitto's own timeouts. */
void
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
void
hsp_conn_update(struct hsp_conn *c)
{
	if (c->mosq == NULL)
		return;
	if (hsp_events_follow(c->registry->base, c->mosq, &c->read_event,
	    &c->write_event, &c->fd, hsp_conn_read_cb, hsp_conn_write_cb, c))
		c->reading = true;
	else if (c->fd == -1)
		c->reading = false;
}
