/*
 * router.c -- where every HSP message goes, whichever connector received it.
 *
 * One router serves every connector generation, so a message delivered to
 * both the old and the new connector during a blue/green swap is processed
 * once: the de-duplication window (the last hsp.dedup_window message ids)
 * lives here.  The router acknowledges requests that ask for it, hands
 * TaskRequests to the ToolDispatcher (or rejects them while draining), feeds
 * adverts to ServiceDiscovery, counts facts, acks and results, and publishes
 * TaskResults through the current connector with the correlation rules of
 * HSP.md.  Malformed input is counted by kind and logged once per kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"

#define ROUTER_RECENT_FACTS	5

static struct {
	char		*ai_id;

	/* De-duplication: a set of ids and a ring giving their age. */
	json_t		*seen;
	char		**ring;
	size_t		 window;
	size_t		 next;
	size_t		 count;

	uint64_t	 received;
	uint64_t	 by_type[HSP_TYPE_COUNT];
	uint64_t	 duplicates;
	uint64_t	 malformed[HSP_MALFORMED_COUNT];
	unsigned int	 malformed_logged;	/* bit per kind */
	uint64_t	 not_for_us;
	uint64_t	 acks_sent;
	uint64_t	 results_sent;
	uint64_t	 adverts_sent;
	uint64_t	 publish_failed;
	time_t		 publish_failed_logged;
	unsigned int	 tasks_in_flight;
	json_t		*recent_facts;
	bool		 pooled;	/* hsp.share_group is set */
} router;

/* Set up the router for CONFIG (which has an hsp section). */
int
router_init(const struct config *config)
{
	if ((router.seen = json_object()) == NULL ||
	    (router.recent_facts = json_array()) == NULL)
		return (-1);
	return (router_configure(config));
}

/* Free the dedup ring. */
static void
router_ring_free(void)
{
	size_t	i;

	if (router.ring == NULL)
		return;
	for (i = 0; i < router.window; i++)
		free(router.ring[i]);
	free(router.ring);
	router.ring = NULL;
}

/* Is this daemon a member of a pool (a share group)? */
bool
router_pooled(void)
{
	return (router.pooled);
}

/* Set up the router the first time a connector is built. */
int
router_ensure(const struct config *config)
{
	if (router.seen != NULL)
		return (0);
	return (router_init(config));
}

/* Forget everything (exit). */
void
router_free(void)
{
	router_ring_free();
	json_decref(router.seen);
	json_decref(router.recent_facts);
	free(router.ai_id);
	memset(&router, 0, sizeof router);
}

/*
 * Apply a (new) configuration: the agent id and the dedup window.  A new
 * window keeps the most recent ids that fit, so a reload does not reopen
 * the door to duplicates.
 */
int
router_configure(const struct config *config)
{
	char	**ring, *ai_id;
	size_t	  window = config->hsp->dedup_window, keep, i, from;

	if ((ai_id = strdup(config->ai_id)) == NULL)
		return (-1);
	free(router.ai_id);
	router.ai_id = ai_id;
	router.pooled = config->hsp->share_group != NULL;
	if (dispatcher_init(ai_id) == -1)
		return (-1);
	if (window == router.window)
		return (0);

	if ((ring = calloc(window, sizeof *ring)) == NULL)
		return (-1);
	keep = router.count < window ? router.count : window;
	for (i = 0; i < router.count; i++) {
		/* Oldest first: ids beyond KEEP from the end are dropped. */
		from = (router.next + router.window - router.count + i) %
		    router.window;
		if (i < router.count - keep) {
			json_object_del(router.seen, router.ring[from]);
			continue;
		}
		ring[i - (router.count - keep)] = router.ring[from];
		router.ring[from] = NULL;
	}
	router_ring_free();
	router.ring = ring;
	router.window = window;
	router.count = keep;
	router.next = keep % window;
	return (0);
}

/* Has ID been seen?  If not, remember it (evicting the oldest). */
static bool
router_seen(const char *id)
{
	char	*copy;

	if (json_object_get(router.seen, id) != NULL)
		return (true);
	if ((copy = strdup(id)) == NULL)
		return (false);
	if (router.count == router.window) {
		json_object_del(router.seen, router.ring[router.next]);
		free(router.ring[router.next]);
	} else
		router.count++;
	router.ring[router.next] = copy;
	router.next = (router.next + 1) % router.window;
	json_object_set_new(router.seen, id, json_true());
	return (false);
}

/* Publish ENVELOPE (taken) on TOPIC through the current connector. */
int
router_publish(const char *topic, json_t *envelope)
{
	struct service_instance	*current;

	current = registry_slot(hr->registry, SERVICE_HSP)->current;
	if (current == NULL || hsp_publish(current, topic, envelope) == -1) {
		router.publish_failed++;
		if (time(NULL) - router.publish_failed_logged >= 10) {
			log_warnx("hsp: cannot publish to %s (%llu failed so "
			    "far)", topic,
			    (unsigned long long)router.publish_failed);
			router.publish_failed_logged = time(NULL);
		}
		json_decref(envelope);
		return (-1);
	}
	json_decref(envelope);
	return (0);
}

/* Acknowledge MSG to its sender (HSP.md "Acknowledgement"). */
static void
router_acknowledge(struct hsp_message *msg)
{
	char	 when[40], *topic;
	json_t	*ack;

	envelope_timestamp(when);
	ack = envelope_new(HSP_ACKNOWLEDGEMENT, router.ai_id, msg->sender,
	    msg->message_id, "acknowledgement", "low", false,
	    json_pack("{s:s, s:s, s:s}", "status", "received",
	    "ack_timestamp", when, "target_message_id", msg->message_id));
	if ((topic = str_printf("hsp/acks/%s", msg->sender)) == NULL) {
		json_decref(ack);
		return;
	}
	if (router_publish(topic, ack) == 0)
		router.acks_sent++;
	free(topic);
}

/* Start work on a TaskRequest that came in on FROM. */
static void
router_task_request(struct service_instance *from, struct hsp_message *msg)
{
	struct hsp_task		*task;
	const char		*callback, *code;
	char			*why = NULL;
	json_t			*payload = msg->payload;

	if ((task = calloc(1, sizeof *task)) == NULL)
		return;
	task->connector = from;
	service_instance_work_begin(from);
	router.tasks_in_flight++;
	clock_gettime(CLOCK_MONOTONIC, &task->started);
	task->request = json_incref(msg->root);
	task->parameters = json_object_get(payload, "parameters");
	task->request_id = strdup(json_string_value(json_object_get(payload,
	    "request_id")));
	task->requester = strdup(json_string_value(json_object_get(payload,
	    "requester_ai_id")));
	/* The result correlates with the request's correlation id, else
	 * with its message id (HSP.md "Request/result"). */
	task->correlation_id = strdup(msg->correlation_id != NULL ?
	    msg->correlation_id : msg->message_id);
	callback = json_string_value(json_object_get(payload,
	    "callback_address"));
	if (callback != NULL && *callback != '\0')
		task->reply_topic = strdup(callback);
	else
		task->reply_topic = str_printf("hsp/results/%s/%s",
		    task->requester, task->request_id);

	/*
	 * A pool member leaves its share group to drain: what the broker
	 * delivered before the UNSUBACK is served, not rejected.
	 */
	if (hr->registry->draining && !router.pooled) {
		task_finish(task, "rejected", NULL, "draining", "the agent is "
		    "draining; send the request elsewhere or retry later");
		return;
	}
	if ((task->tool = dispatcher_find(payload, &code, &why)) == NULL) {
		task_finish(task, "failure", NULL, code, why);
		free(why);
		return;
	}
	dispatcher_run(task);
}

/* Free a finished task and release its connector generation. */
static void
router_task_free(struct hsp_task *task)
{
	if (router.tasks_in_flight > 0)
		router.tasks_in_flight--;
	service_instance_work_end(task->connector);
	json_decref(task->request);
	free(task->request_id);
	free(task->requester);
	free(task->correlation_id);
	free(task->reply_topic);
	free(task);
}

/*
 * A task has ended: publish its TaskResult (a fresh result_id, the
 * request's request_id, the correlation id of the request) and free it.
 * Takes PAYLOAD.
 */
void
router_task_done(struct hsp_task *task, const char *status, json_t *payload,
    const char *error_code, const char *error_message)
{
	char	 result_id[37], when[40], *message = NULL;
	json_t	*result, *errors = json_null();

	envelope_uuid4(result_id);
	envelope_timestamp(when);
	if (error_code != NULL) {
		/*
		 * The message may quote the request or a back end, cut at a
		 * byte count; jansson refuses a string that is not UTF-8,
		 * and then no result at all would reach the requester.
		 */
		if (error_message != NULL &&
		    (message = strdup(error_message)) != NULL)
			str_utf8_repair(message);
		errors = json_pack("{s:s, s:s, s:n}", "error_code", error_code,
		    "error_message", message != NULL ? message : "",
		    "error_context");
		free(message);
	}
	result = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:{s:I}}",
	    "result_id", result_id,
	    "request_id", task->request_id,
	    "executing_ai_id", router.ai_id,
	    "status", status,
	    "payload", payload != NULL ? payload : json_null(),
	    "error_details", errors,
	    "timestamp_completed", when,
	    "execution_metadata",
		"time_taken_ms",
		(json_int_t)(timespec_elapsed_s(&task->started) * 1e3));
	if (router_publish(task->reply_topic, envelope_new(HSP_TASK_RESULT,
	    router.ai_id, task->requester, task->correlation_id, "response",
	    "medium", false, result)) == 0)
		router.results_sent++;
	router_task_free(task);
}

/* Count a malformed message; log the first of each kind. */
static void
router_malformed(const char *topic, enum hsp_malformed kind, const char *why)
{
	router.malformed[kind]++;
	if (router.malformed_logged & (1U << kind))
		return;
	router.malformed_logged |= 1U << kind;
	log_warnx("hsp: ignoring a malformed message on %s: %s (further "
	    "\"%s\" messages are counted in status, not logged)", topic,
	    why != NULL ? why : "?", hsp_malformed_names[kind]);
}

/* Keep the last few facts for status. */
static void
router_fact(struct hsp_message *msg)
{
	if (json_array_size(router.recent_facts) == ROUTER_RECENT_FACTS)
		json_array_remove(router.recent_facts, 0);
	json_array_append_new(router.recent_facts, json_pack("{s:O?, s:s, "
	    "s:O?}",
	    "id", json_object_get(msg->payload, "id"),
	    "source_ai_id", msg->sender,
	    "statement_nl", json_object_get(msg->payload, "statement_nl")));
}

/*
 * Handle one message that connector FROM received on TOPIC.  Never fails:
 * whatever the input, it is handled, counted or ignored.
 */
void
router_handle(struct service_instance *from, const char *topic,
    const void *data, size_t length)
{
	struct hsp_message	 msg;
	enum hsp_malformed	 kind;
	const char		*recipient;
	char			*why = NULL;
	bool			 for_us;

	router.received++;
	if (envelope_parse(data, length, &msg, &kind, &why) == -1) {
		router_malformed(topic, kind, why);
		free(why);
		return;
	}
	router.by_type[msg.type]++;

	recipient = json_string_value(json_object_get(msg.root,
	    "recipient_ai_id"));
	for_us = recipient == NULL || strcmp(recipient, router.ai_id) == 0 ||
	    strcmp(recipient, "all") == 0;
	if (router_seen(msg.message_id)) {
		router.duplicates++;
		/* Our ACK may have been lost: the sender retries with the
		 * same id.  Acknowledge again, do not process again. */
		if (msg.type == HSP_TASK_REQUEST && msg.requires_ack && for_us)
			router_acknowledge(&msg);
		envelope_clear(&msg);
		return;
	}

	switch (msg.type) {
	case HSP_TASK_REQUEST:
		if (!for_us) {
			router.not_for_us++;
			break;
		}
		if (msg.requires_ack)
			router_acknowledge(&msg);
		router_task_request(from, &msg);
		break;
	case HSP_CAPABILITY_ADVERTISEMENT:
		discovery_advert(msg.sender, msg.payload);
		break;
	case HSP_FACT:
		router_fact(&msg);
		break;
	case HSP_ACKNOWLEDGEMENT:
	case HSP_TASK_RESULT:
		/* Counted by type; this agent sends no requests of its own
		 * yet, so there is nothing to match them to. */
		break;
	case HSP_TYPE_COUNT:
		break;
	}
	envelope_clear(&msg);
}

/* Advertise every available tool of agent AI_ID through connector VIA. */
void
router_advertise(struct service_instance *via, const char *ai_id)
{
	json_t	*adverts = dispatcher_adverts(ai_id), *payload, *advert;
	char	*topic;
	size_t	 i;

	topic = str_printf("hsp/capabilities/advertisements/%s", ai_id);
	json_array_foreach(adverts, i, payload) {
		advert = envelope_new(HSP_CAPABILITY_ADVERTISEMENT,
		    ai_id, "all", NULL, "publish", "low", false,
		    json_incref(payload));
		if (topic != NULL && hsp_publish(via, topic, advert) == 0)
			router.adverts_sent++;
		json_decref(advert);
	}
	free(topic);
	json_decref(adverts);
}

/*
 * Advertise again through the current connector, when availability changed
 * (drain: "maintenance"; resume: "online").
 */
void
router_readvertise(void)
{
	struct service_instance	*current;

	current = registry_slot(hr->registry, SERVICE_HSP)->current;
	if (current != NULL && router.ai_id != NULL &&
	    hsp_is_connected(current))
		router_advertise(current, router.ai_id);
}

/* The router's counters, merged into the hsp status. */
json_t *
router_status(void)
{
	json_t	*by_type = json_object(), *malformed = json_object();
	size_t	 i;

	for (i = 0; i < HSP_TYPE_COUNT; i++)
		json_object_set_new(by_type, hsp_type_names[i],
		    json_integer((json_int_t)router.by_type[i]));
	for (i = 0; i < HSP_MALFORMED_COUNT; i++)
		json_object_set_new(malformed, hsp_malformed_names[i],
		    json_integer((json_int_t)router.malformed[i]));
	return (json_pack("{s:I, s:o, s:I, s:o, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:{s:I, s:I}, s:O}",
	    "received", (json_int_t)router.received,
	    "received_by_type", by_type,
	    "duplicates_dropped", (json_int_t)router.duplicates,
	    "malformed", malformed,
	    "not_for_us", (json_int_t)router.not_for_us,
	    "acks_sent", (json_int_t)router.acks_sent,
	    "results_sent", (json_int_t)router.results_sent,
	    "adverts_sent", (json_int_t)router.adverts_sent,
	    "publish_failed", (json_int_t)router.publish_failed,
	    "tasks_in_flight", (json_int_t)router.tasks_in_flight,
	    "dedup", "window", (json_int_t)router.window,
		"held", (json_int_t)router.count,
	    "recent_facts", router.recent_facts));
}

/* The router's counters in Prometheus text. */
void
router_metrics(FILE *f)
{
	size_t	i;

	fprintf(f, "# HELP hotreload_hsp_received_total HSP messages "
	    "received, by type.\n# TYPE hotreload_hsp_received_total "
	    "counter\n");
	for (i = 0; i < HSP_TYPE_COUNT; i++)
		fprintf(f, "hotreload_hsp_received_total{type=\"%s\"} %llu\n",
		    hsp_type_names[i],
		    (unsigned long long)router.by_type[i]);
	fprintf(f, "# HELP hotreload_hsp_malformed_total Messages ignored as "
	    "malformed, by kind.\n# TYPE hotreload_hsp_malformed_total "
	    "counter\n");
	for (i = 0; i < HSP_MALFORMED_COUNT; i++)
		fprintf(f, "hotreload_hsp_malformed_total{kind=\"%s\"} %llu\n",
		    hsp_malformed_names[i],
		    (unsigned long long)router.malformed[i]);
	fprintf(f, "# HELP hotreload_hsp_duplicates_total Messages dropped "
	    "as duplicates (same message_id).\n# TYPE "
	    "hotreload_hsp_duplicates_total counter\n"
	    "hotreload_hsp_duplicates_total %llu\n",
	    (unsigned long long)router.duplicates);
	fprintf(f, "# HELP hotreload_hsp_published_total Messages published, "
	    "by kind.\n# TYPE hotreload_hsp_published_total counter\n"
	    "hotreload_hsp_published_total{kind=\"ack\"} %llu\n"
	    "hotreload_hsp_published_total{kind=\"result\"} %llu\n"
	    "hotreload_hsp_published_total{kind=\"advert\"} %llu\n",
	    (unsigned long long)router.acks_sent,
	    (unsigned long long)router.results_sent,
	    (unsigned long long)router.adverts_sent);
	fprintf(f, "# HELP hotreload_hsp_publish_failed_total Messages that "
	    "could not be published.\n# TYPE "
	    "hotreload_hsp_publish_failed_total counter\n"
	    "hotreload_hsp_publish_failed_total %llu\n",
	    (unsigned long long)router.publish_failed);
}
