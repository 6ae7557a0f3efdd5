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

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <mosquitto.h>

#include "hsp.h"
#include "responder.h"

/* Publish an envelope of TYPE around PAYLOAD (taken) on TOPIC, QoS 1. */
static int
publish(struct responder_shell *r, const char *topic, enum hsp_type type,
    const struct envelope_head *head, json_t *payload)
{
	char	*text;
	size_t	 length;
	int	 rc;

	text = envelope_json(type, head, payload, &length);
	json_decref(payload);
	if (text == NULL)
		return -1;
	rc = responder_publish(r, topic, text, (int)length);
	free(text);
	return rc;
}

/* A non-empty string member, or NULL. */
static const char *
member(const json_t *object, const char *key)
{
	const char	*s = json_string_value(json_object_get(object, key));

	return s != NULL && *s != '\0' ? s : NULL;
}

static void
on_message(struct responder_shell *r, const struct mosquitto_message *message,
    __attribute__((unused)) void *arg)
{
	json_t			*root, *payload, *parameters, *result;
	const char		*message_id, *sender, *correlation_id,
				*request_id, *requester, *callback;
	char			 result_id[37], when[40], *topic = NULL;
	struct timespec		 started, ended;
	struct envelope_head	 head;

	clock_gettime(CLOCK_MONOTONIC, &started);
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
		if (publish(r, topic, HSP_ACKNOWLEDGEMENT, &head,
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
	if (publish(r, topic, HSP_TASK_RESULT, &head, result) == 0)
		r->results++;
out:
	free(topic);
	json_decref(root);
}

int
main(int argc, char **argv)
{
	struct responder_shell	r;
	int			rc;

	if ((rc = responder_args(&r, "echo-responder", argc, argv)) != 0)
		return rc;
	return responder_run(&r, on_message, NULL);
}
