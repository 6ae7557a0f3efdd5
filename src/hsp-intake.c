/*
 * hsp-intake.c -- what the receiving connection reads, and when it stops
 * reading: batches of packets per turn of the loop, the pause at the
 * daemon's limits (hsp.max_tasks_in_flight tasks, or twice that many
 * unacknowledged publishes), and the messages held meanwhile.  The top of
 * hsp.c says why this takes a second connection.
 */
#include <sys/ioctl.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <mosquitto.h>

#include "hsp-conn.h"
#include "log.h"

/* Free what was held for the router (nothing is routed). */
void
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
void
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

/* Socket readable. */
void
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
bool
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
void
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
void
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

/* A message: to the shared router, or held while paused. */
void
hsp_on_message(__attribute__((unused)) struct mosquitto *mosq, void *obj,
    const struct mosquitto_message *m,
    __attribute__((unused)) const mosquitto_property *p)
{
	struct hsp_conn	*c = obj;
	struct hsp_held	*h;

	if (c->inst->dead)
		return;
	c->received++;
	if (c->state == HSP_STATE_FLUSHING || c->state ==
	    HSP_STATE_UNSUBSCRIBING)
		clock_gettime(CLOCK_MONOTONIC, &c->last_message);
	if (!c->paused && c->held_count == 0) {
		router_handle(c->inst, m->topic, m->payload,
		    (size_t)m->payloadlen, m->retain);
		return;
	}
	/*
	 * Paused (a look for the keep-alive): libmosquitto acknowledges the
	 * message when we return, so keep it (raw: jansson would multiply
	 * its size) until the router can take it.  One look brings at most
	 * what the kernel's socket buffer held.
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
