/*
 * responder.c -- the MQTT shell of bench/raw-responder and
 * bench/echo-responder, so that the two differ only in how they read a
 * request and write the replies: the same command line
 *
 *	NAME -p PORT [-h HOST] --id AI_ID [--ready-file FILE]
 *
 * the same client (MQTT 5, TCP no-delay, a QoS 1 subscription to
 * hsp/requests/<ai_id>, QoS 1 publishes), the same loop (mosquitto_loop
 * until SIGTERM or SIGINT) and the same counters, printed at the end as
 * {"received":N,"results":N,"acks":N,"dropped":N}.  The ready file is
 * created once the broker granted the subscription.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mqtt_protocol.h>

#include "responder.h"

static volatile sig_atomic_t	stop_requested;

/* SIGTERM, SIGINT: leave the loop. */
static void
responder_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Connected: subscribe to the request topic. */
static void
responder_on_connect(struct mosquitto *mosq, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct responder_shell	*s = arg;

	(void)flags;
	(void)props;
	if (rc != 0) {
		fprintf(stderr, "%s: connection refused: %s\n", s->name,
		    mosquitto_reason_string(rc));
		stop_requested = 1;
		return;
	}
	mosquitto_subscribe(mosq, NULL, s->request_topic, 1);
}

/* Subscribed: say so through the ready file. */
static void
responder_on_subscribe(struct mosquitto *mosq, void *arg, int mid, int count,
    const int *granted, const mosquitto_property *props)
{
	struct responder_shell	*s = arg;
	FILE			*f;

	(void)mosq;
	(void)mid;
	(void)props;
	if (count < 1 || granted[0] > 1) {
		fprintf(stderr, "%s: subscription refused\n", s->name);
		stop_requested = 1;
		return;
	}
	if (s->ready_file != NULL && (f = fopen(s->ready_file, "w")) != NULL)
		fclose(f);
}

/*
 * Read the command line of responder NAME into S: 0, or the exit status
 * after a usage message.
 */
int
responder_args(struct responder_shell *s, const char *name, int argc,
    char **argv)
{
	int	i;

	memset(s, 0, sizeof *s);
	s->name = name;
	s->host = "127.0.0.1";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
			s->port = atoi(argv[++i]);
		else if (strcmp(argv[i], "-h") == 0 && i + 1 < argc)
			s->host = argv[++i];
		else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
			s->ai_id = argv[++i];
		else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc)
			s->ready_file = argv[++i];
		else {
			fprintf(stderr, "usage: %s -p PORT [-h HOST] --id "
			    "AI_ID [--ready-file FILE]\n", name);
			return 2;
		}
	}
	if (s->port <= 0 || s->ai_id == NULL) {
		fprintf(stderr, "%s: -p and --id are required\n", name);
		return 2;
	}
	if (asprintf(&s->request_topic, "hsp/requests/%s", s->ai_id) == -1)
		return 1;
	return 0;
}

/* Publish LENGTH bytes of TEXT on TOPIC at QoS 1: 0 or -1. */
int
responder_publish(struct responder_shell *s, const char *topic,
    const void *text, int length)
{
	return (mosquitto_publish(s->mosq, NULL, topic, length, text, 1,
	    false) == MOSQ_ERR_SUCCESS ? 0 : -1);
}

/* A request: count it, hand it to the responder. */
static void
responder_on_message(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *message, const mosquitto_property *props)
{
	struct responder_shell	*s = arg;

	(void)mosq;
	(void)props;
	s->received++;
	s->on_message(s, message, s->arg);
}

/*
 * Connect, subscribe and answer every request with ON_MESSAGE (and ARG)
 * until SIGTERM or SIGINT; print the counters.  Returns the exit status.
 */
int
responder_run(struct responder_shell *s, responder_message_fn *on_message,
    void *arg)
{
	struct sigaction	 sa;
	char			 client_id[64];
	int			 rc, status = 0;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = responder_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	s->on_message = on_message;
	s->arg = arg;
	mosquitto_lib_init();
	snprintf(client_id, sizeof client_id, "%s-%ld", s->name,
	    (long)getpid());
	if ((s->mosq = mosquitto_new(client_id, true, s)) == NULL)
		return (1);
	mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION,
	    MQTT_PROTOCOL_V5);
	mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(s->mosq, responder_on_connect);
	mosquitto_subscribe_v5_callback_set(s->mosq, responder_on_subscribe);
	mosquitto_message_v5_callback_set(s->mosq, responder_on_message);
	if ((rc = mosquitto_connect(s->mosq, s->host, s->port, 60)) !=
	    MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "%s: connect %s:%d: %s\n", s->name, s->host,
		    s->port, mosquitto_strerror(rc));
		return (69);
	}
	while (!stop_requested) {
		rc = mosquitto_loop(s->mosq, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS && !stop_requested) {
			fprintf(stderr, "%s: %s\n", s->name,
			    mosquitto_strerror(rc));
			status = 1;
			break;
		}
	}
	printf("{\"received\":%lu,\"results\":%lu,\"acks\":%lu,"
	    "\"dropped\":%lu}\n", s->received, s->results, s->acks,
	    s->dropped);
	mosquitto_disconnect(s->mosq);
	mosquitto_destroy(s->mosq);
	mosquitto_lib_cleanup();
	free(s->request_topic);
	return (status);
}
