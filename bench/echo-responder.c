/*
 * echo-responder.c -- the smallest HSP echo agent libmosquitto allows: the
 * peer of hotreloadd in the HSP throughput benchmark.
 *
 * It does the per-request protocol work of the daemon's echo tool and
 * nothing else: subscribe to hsp/requests/<ai_id> (QoS 1, MQTT 5, TCP
 * no-delay, like the daemon's connector), parse each TaskRequest with
 * jansson, publish an Acknowledgement to hsp/acks/<sender> when the
 * request asks for one, and publish a TaskResult (fresh result_id, the
 * request's request_id, correlation id = the request's correlation_id or
 * else its message_id, the parameters as payload) to the callback_address
 * or hsp/results/<requester>/<request_id>, every envelope key present as
 * HSP.md requires.  No de-duplication window, no registry, no generations,
 * no control socket: what the broker and the protocol cost, the ceiling
 * the daemon is measured against.  Envelopes are built by the daemon's own
 * src/hsp-envelope.c, so both sides send the same bytes.
 *
 * usage: echo-responder -p PORT [-h HOST] --id AI_ID [--ready-file FILE]
 * Runs until SIGTERM or SIGINT; prints {"received":N,"results":N,"acks":N}.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "hsp.h"

struct responder {
	const char	*ai_id;
	char		*request_topic;
	const char	*ready_file;
	unsigned long	 received;
	unsigned long	 results;
	unsigned long	 acks;
	unsigned long	 dropped;
};

static volatile sig_atomic_t	stop_requested;

static void
stop_cb(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Publish an envelope of TYPE around PAYLOAD (taken) on TOPIC, QoS 1. */
static int
publish(struct mosquitto *mosq, const char *topic, enum hsp_type type,
    const struct envelope_head *head, json_t *payload)
{
	char	*text;
	size_t	 length;
	int	 rc;

	text = envelope_json(type, head, payload, &length);
	json_decref(payload);
	if (text == NULL)
		return -1;
	rc = mosquitto_publish(mosq, NULL, topic, (int)length, text, 1,
	    false);
	free(text);
	return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* A non-empty string member, or NULL. */
static const char *
member(const json_t *object, const char *key)
{
	const char	*s = json_string_value(json_object_get(object, key));

	return s != NULL && *s != '\0' ? s : NULL;
}

static void
on_message_cb(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *message, const mosquitto_property *props)
{
	struct responder	*r = arg;
	json_t			*root, *payload, *parameters, *result;
	const char		*message_id, *sender, *correlation_id,
				*request_id, *requester, *callback;
	char			 result_id[37], when[40], *topic = NULL;
	struct timespec		 started, ended;
	struct envelope_head	 head;

	(void)props;
	clock_gettime(CLOCK_MONOTONIC, &started);
	r->received++;
	root = json_loadb(message->payload, (size_t)message->payloadlen, 0,
	    NULL);
	payload = json_object_get(root, "payload");
	parameters = json_object_get(payload, "parameters");
	message_id = member(root, "message_id");
	sender = member(root, "sender_ai_id");
	request_id = member(payload, "request_id");
	requester = member(payload, "requester_ai_id");
	if (!json_is_object(root) || message_id == NULL || sender == NULL ||
	    request_id == NULL || requester == NULL ||
	    !json_is_object(parameters)) {
		r->dropped++;
		goto out;
	}
	correlation_id = member(root, "correlation_id");
	if (correlation_id == NULL)
		correlation_id = message_id;

	if (json_is_true(json_object_get(json_object_get(root,
	    "qos_parameters"), "requires_ack"))) {
		envelope_timestamp(when);
		if (asprintf(&topic, "hsp/acks/%s", sender) == -1)
			goto out;
		head = (struct envelope_head){ r->ai_id, sender,
		    correlation_id, "acknowledgement", "low", false };
		if (publish(mosq, topic, HSP_ACKNOWLEDGEMENT, &head,
		    json_pack("{s:s, s:s, s:s}", "status", "received",
		    "ack_timestamp", when, "target_message_id",
		    message_id)) == 0)
			r->acks++;
		free(topic);
		topic = NULL;
	}

	callback = member(payload, "callback_address");
	if (callback != NULL)
		topic = strdup(callback);
	else if (asprintf(&topic, "hsp/results/%s/%s", requester,
	    request_id) == -1)
		topic = NULL;
	if (topic == NULL)
		goto out;
	envelope_uuid4(result_id);
	envelope_timestamp(when);
	clock_gettime(CLOCK_MONOTONIC, &ended);
	result = json_pack("{s:s, s:s, s:s, s:s, s:O, s:n, s:s, s:{s:I}}",
	    "result_id", result_id, "request_id", request_id,
	    "executing_ai_id", r->ai_id, "status", "success",
	    "payload", parameters, "error_details",
	    "timestamp_completed", when, "execution_metadata",
	    "time_taken_ms", (json_int_t)((ended.tv_sec - started.tv_sec) *
	    1000 + (ended.tv_nsec - started.tv_nsec) / 1000000));
	head = (struct envelope_head){ r->ai_id, requester, correlation_id,
	    "response", "medium", false };
	if (publish(mosq, topic, HSP_TASK_RESULT, &head, result) == 0)
		r->results++;
out:
	free(topic);
	json_decref(root);
}

static void
on_connect_cb(struct mosquitto *mosq, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct responder	*r = arg;

	(void)flags;
	(void)props;
	if (rc != 0) {
		fprintf(stderr, "echo-responder: connection refused: %s\n",
		    mosquitto_reason_string(rc));
		stop_requested = 1;
		return;
	}
	mosquitto_subscribe(mosq, NULL, r->request_topic, 1);
}

static void
on_subscribe_cb(struct mosquitto *mosq, void *arg, int mid, int count,
    const int *granted, const mosquitto_property *props)
{
	struct responder	*r = arg;
	FILE			*f;

	(void)mosq;
	(void)mid;
	(void)props;
	if (count < 1 || granted[0] > 1) {
		fprintf(stderr, "echo-responder: subscription refused\n");
		stop_requested = 1;
		return;
	}
	if (r->ready_file != NULL && (f = fopen(r->ready_file, "w")) != NULL)
		fclose(f);
}

int
main(int argc, char **argv)
{
	struct responder	 r;
	struct mosquitto	*mosq;
	struct sigaction	 sa;
	const char		*host = "127.0.0.1";
	char			 client_id[64];
	int			 port = 0, i, rc;

	memset(&r, 0, sizeof r);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "-h") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
			r.ai_id = argv[++i];
		else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc)
			r.ready_file = argv[++i];
		else {
			fprintf(stderr, "usage: echo-responder -p PORT "
			    "[-h HOST] --id AI_ID [--ready-file FILE]\n");
			return 2;
		}
	}
	if (port <= 0 || r.ai_id == NULL) {
		fprintf(stderr, "echo-responder: -p and --id are required\n");
		return 2;
	}
	if (asprintf(&r.request_topic, "hsp/requests/%s", r.ai_id) == -1)
		return 1;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = stop_cb;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	mosquitto_lib_init();
	snprintf(client_id, sizeof client_id, "echo-responder-%ld",
	    (long)getpid());
	if ((mosq = mosquitto_new(client_id, true, &r)) == NULL)
		return 1;
	mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(mosq, on_connect_cb);
	mosquitto_subscribe_v5_callback_set(mosq, on_subscribe_cb);
	mosquitto_message_v5_callback_set(mosq, on_message_cb);
	if ((rc = mosquitto_connect(mosq, host, port, 60)) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "echo-responder: connect %s:%d: %s\n", host,
		    port, mosquitto_strerror(rc));
		return 69;
	}
	while (!stop_requested) {
		rc = mosquitto_loop(mosq, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS && !stop_requested) {
			fprintf(stderr, "echo-responder: %s\n",
			    mosquitto_strerror(rc));
			break;
		}
	}
	printf("{\"received\":%lu,\"results\":%lu,\"acks\":%lu,"
	    "\"dropped\":%lu}\n", r.received, r.results, r.acks, r.dropped);
	mosquitto_disconnect(mosq);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	free(r.request_topic);
	return 0;
}
