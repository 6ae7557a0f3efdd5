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
 *
 * Peers are not trusted (DESIGN.md 7.7): a message over
 * hsp.max_message_bytes is dropped before it is parsed; a TaskRequest runs
 * only when it came on this agent's request topic and was not retained;
 * only requests enter the dedup window, which is bounded in bytes as well
 * as in ids; a callback_address must be a plain topic under hsp/results/,
 * or the result goes to the default topic with error bad_callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "hotreloadd.h"
#include "hsp.h"
#include "log.h"

#define ROUTER_RECENT_FACTS	5
/* What status keeps of a recent fact's id and statement, in bytes. */
#define ROUTER_FACT_ID_MAX	128
#define ROUTER_FACT_TEXT_MAX	256
/* The longest callback_address accepted (DESIGN.md 7.7). */
#define ROUTER_CALLBACK_MAX	1024
#define ROUTER_RESULTS_PREFIX	"hsp/results/"

static struct {
	char		*ai_id;

	struct dedup	*dedup;		/* the last request ids */
	size_t		 max_bytes;	/* hsp.dedup_window_bytes */
	size_t		 max_message_bytes;
	char		*request_topic;	/* hsp/requests/<ai_id> */

	uint64_t	 received;
	uint64_t	 by_type[HSP_TYPE_COUNT];
	uint64_t	 duplicates;
	uint64_t	 malformed[HSP_MALFORMED_COUNT];
	unsigned int	 malformed_logged;	/* bit per kind */
	unsigned int	 drops_logged;		/* bit per router_drop */
	uint64_t	 not_for_us;
	uint64_t	 wrong_topic;	/* a request not on our request topic */
	uint64_t	 retained_requests;
	uint64_t	 bad_callbacks;
	uint64_t	 acks_sent;
	uint64_t	 results_sent;
	uint64_t	 adverts_sent;
	uint64_t	 publish_failed;
	time_t		 publish_failed_logged;
	unsigned int	 tasks_in_flight;
	json_t		*recent_facts;
	bool		 pooled;	/* hsp.share_group is set */
	int		 advert_interval_s;	/* hsp.advert_interval_s */
	struct event	*advert_timer;
	struct registry	*registry;	/* draining; the tools' services */
	struct router_publisher publisher;	/* the current connector */
} router;

static void	router_advert_timer_cb(evutil_socket_t, short, void *);
static void	router_task_done(struct hsp_task *, const char *, json_t *,
		    const char *, const char *);

/*
 * The ids the dedup window of CONFIG holds: hsp.dedup_window, or fewer when
 * they would take more than hsp.dedup_window_bytes.
 */
static size_t
router_dedup_window(const struct config *config)
{
	return (dedup_window_fit(config->hsp->dedup_window,
	    config->hsp->dedup_window_bytes));
}

/* Set up the router for CONFIG (which has an hsp section). */
int
router_init(struct registry *reg, const struct config *config)
{
	router.registry = reg;
	if ((router.dedup = dedup_create(router_dedup_window(config))) ==
	    NULL || (router.recent_facts = json_array()) == NULL ||
	    (router.advert_timer = event_new(reg->base, -1, EV_PERSIST,
	    router_advert_timer_cb, NULL)) == NULL)
		return (-1);
	return (router_configure(config));
}

/* Is this daemon a member of a pool (a share group)? */
bool
router_pooled(void)
{
	return (router.pooled);
}

/* Set up the router the first time a connector is built. */
int
router_ensure(struct registry *reg, const struct config *config)
{
	if (router.dedup != NULL)
		return (0);
	return (router_init(reg, config));
}

/* Forget everything (exit). */
void
router_free(void)
{
	dedup_free(router.dedup);
	if (router.advert_timer != NULL)
		event_free(router.advert_timer);
	json_decref(router.recent_facts);
	free(router.ai_id);
	free(router.request_topic);
	memset(&router, 0, sizeof router);
}

/*
 * Apply a (new) configuration: the agent id and the dedup window.  A new
 * window keeps the most recent ids that fit, so a reload does not reopen
 * the door to duplicates.  Its entries have a fixed size, so
 * hsp.dedup_window_bytes caps how many there may be.
 */
int
router_configure(const struct config *config)
{
	struct timeval	 tv = { 0, 0 };
	char		*ai_id, *request_topic;

	if ((ai_id = strdup(config->ai_id)) == NULL)
		return (-1);
	if ((request_topic = str_printf("hsp/requests/%s", ai_id)) == NULL) {
		free(ai_id);
		return (-1);
	}
	free(router.ai_id);
	router.ai_id = ai_id;
	free(router.request_topic);
	router.request_topic = request_topic;
	router.pooled = config->hsp->share_group != NULL;
	router.max_message_bytes = config->hsp->max_message_bytes;
	router.max_bytes = config->hsp->dedup_window_bytes;
	if (router.advert_interval_s != config->hsp->advert_interval_s) {
		router.advert_interval_s = config->hsp->advert_interval_s;
		tv.tv_sec = router.advert_interval_s;
		evtimer_add(router.advert_timer, &tv);
	}
	if (dispatcher_init(ai_id) == -1)
		return (-1);
	return (dedup_resize(router.dedup, router_dedup_window(config)));
}

/* Tasks started and not yet answered (the back-pressure of hsp.c). */
unsigned int
router_tasks_in_flight(void)
{
	return (router.tasks_in_flight);
}

/*
 * May a requester have its result published on TOPIC?  Only a plain topic
 * under hsp/results/ (DESIGN.md 7.7): no wildcard, not $-prefixed (the
 * broker's own), no NUL, valid UTF-8, at most ROUTER_CALLBACK_MAX bytes.
 * Anything else could make the broker drop our connection (and, with a
 * persistent session, refuse it again at every reconnect), or let one
 * requester publish into another agent's request topic.
 */
bool
router_callback_valid(const char *topic, const char **why)
{
	size_t	length = strlen(topic);

	*why = NULL;
	if (length > ROUTER_CALLBACK_MAX)
		*why = "longer than 1024 bytes";
	else if (strncmp(topic, ROUTER_RESULTS_PREFIX,
	    strlen(ROUTER_RESULTS_PREFIX)) != 0 ||
	    length == strlen(ROUTER_RESULTS_PREFIX))
		*why = "not a topic under hsp/results/";
	else if (strpbrk(topic, "+#") != NULL)
		*why = "holds a wildcard (+ or #)";
	else if (!str_utf8_valid(topic))
		*why = "not valid UTF-8";
	else {
		for (; *topic != '\0'; topic++) {
			if ((unsigned char)*topic < 0x20 || *topic == 0x7f) {
				*why = "holds a control character";
				break;
			}
		}
	}
	return (*why == NULL);
}

/*
 * Publish through PUBLISHER from now on (the connector just swapped in);
 * NULL: nowhere (at shutdown, when no connector is current any more).
 */
void
router_set_publisher(const struct router_publisher *publisher)
{
	if (publisher != NULL)
		router.publisher = *publisher;
	else
		memset(&router.publisher, 0, sizeof router.publisher);
}

/*
 * Publish TEXT (taken; NULL: building it ran out of memory) of LENGTH
 * bytes on TOPIC through the current connector.
 */
int
router_publish(const char *topic, char *text, size_t length)
{
	struct router_publisher	*via = &router.publisher;

	if (text == NULL || via->publish == NULL ||
	    via->publish(via->arg, topic, text, length, NULL) == -1) {
		if (via->publish == NULL || text == NULL)
			free(text);
		router.publish_failed++;
		if (time(NULL) - router.publish_failed_logged >= 10) {
			log_warnx("hsp: cannot publish to %s (%llu failed so "
			    "far)", topic,
			    (unsigned long long)router.publish_failed);
			router.publish_failed_logged = time(NULL);
		}
		return (-1);
	}
	return (0);
}

/*
 * PREFIX and A, and "/" and B when B is not NULL: in BUFFER of SIZE bytes
 * when it fits, else allocated (free it when it is not BUFFER); NULL when
 * memory ran out.  Topics are made per message: no printf on that path.
 */
static char *
router_topic(char *buffer, size_t size, const char *prefix, const char *a,
    const char *b)
{
	size_t	np = strlen(prefix), na = strlen(a), nb;
	char	*topic = buffer;

	nb = b != NULL ? strlen(b) + 1 : 0;
	if (np + na + nb + 1 > size && (topic = malloc(np + na + nb + 1)) ==
	    NULL)
		return (NULL);
	memcpy(topic, prefix, np);
	memcpy(topic + np, a, na);
	if (b != NULL) {
		topic[np + na] = '/';
		memcpy(topic + np + na + 1, b, nb - 1);
	}
	topic[np + na + nb] = '\0';
	return (topic);
}

/*
 * Acknowledge MSG to its sender.  The ACK's correlation_id is the request's
 * correlation_id (its message_id when it has none): the existing agents'
 * senders wait on that; target_message_id is always the message_id, which
 * is what a peer should match on (HSP.md 8).
 */
static void
router_acknowledge(struct hsp_message *msg)
{
	struct envelope_head	 head = { router.ai_id, msg->sender,
				    msg->correlation_id != NULL ?
				    msg->correlation_id : msg->message_id,
				    "acknowledgement", "low", false };
	struct envelope_text	 t;
	char			 when[40], buffer[256], *topic, *text;
	size_t			 length = 0;

	envelope_timestamp(when);
	envelope_begin(&t, HSP_ACKNOWLEDGEMENT, &head);
	ENVELOPE_TEXT_LITERAL(&t, "{\"status\":\"received\","
	    "\"ack_timestamp\":\"");
	envelope_text_raw(&t, when, strlen(when));
	ENVELOPE_TEXT_LITERAL(&t, "\",\"target_message_id\":");
	envelope_text_string(&t, msg->message_id);
	ENVELOPE_TEXT_LITERAL(&t, "}");
	text = envelope_end(&t, &length);
	if ((topic = router_topic(buffer, sizeof buffer, "hsp/acks/",
	    msg->sender, NULL)) == NULL) {
		free(text);
		return;
	}
	if (router_publish(topic, text, length) == 0)
		router.acks_sent++;
	if (topic != buffer)
		free(topic);
}

/*
 * A task for request MSG, in one block with its strings: the parameters'
 * text, the ids, and the topic its result goes to (the callback_address
 * when it is valid, else hsp/results/<requester>/<request_id>; BAD says
 * why a callback_address was refused).
 */
static struct hsp_task *
router_task_new(struct hsp_message *msg, const char **bad)
{
	struct hsp_task	*task;
	const char	*correlation_id, *callback = msg->callback;
	size_t		 size, n_request, n_requester, n_correlation, n_topic;
	char		*p;

	*bad = NULL;
	if (callback != NULL && (*callback == '\0' ||
	    !router_callback_valid(callback, bad)))
		callback = NULL;
	/* The result correlates with the request's correlation id, else
	 * with its message id (HSP.md "Request/result"). */
	correlation_id = msg->correlation_id != NULL ? msg->correlation_id :
	    msg->message_id;
	n_request = strlen(msg->request_id) + 1;
	n_requester = strlen(msg->requester) + 1;
	n_correlation = strlen(correlation_id) + 1;
	n_topic = callback != NULL ? strlen(callback) + 1 :
	    strlen(ROUTER_RESULTS_PREFIX) + n_requester + n_request;
	size = msg->parameters_length + 1 + n_request + n_requester +
	    n_correlation + n_topic;
	if ((task = calloc(1, sizeof *task + size)) == NULL)
		return (NULL);
	p = (char *)(task + 1);
	task->parameters_text = memcpy(p, msg->parameters,
	    msg->parameters_length);
	task->parameters_length = msg->parameters_length;
	p += msg->parameters_length + 1;
	task->request_id = memcpy(p, msg->request_id, n_request);
	p += n_request;
	task->requester = memcpy(p, msg->requester, n_requester);
	p += n_requester;
	task->correlation_id = memcpy(p, correlation_id, n_correlation);
	p += n_correlation;
	if (callback != NULL)
		task->reply_topic = memcpy(p, callback, n_topic);
	else
		task->reply_topic = router_topic(p, n_topic,
		    ROUTER_RESULTS_PREFIX, msg->requester, msg->request_id);
	return (task);
}

/* Start work on a TaskRequest that came in on FROM. */
static void
router_task_request(struct service_instance *from, struct hsp_message *msg)
{
	struct hsp_task		*task;
	const char		*code, *bad;
	char			*why = NULL;

	if ((task = router_task_new(msg, &bad)) == NULL)
		return;
	task->done = router_task_done;
	task->connector = from;
	task->registry = router.registry;
	service_instance_work_begin(from);
	router.tasks_in_flight++;
	clock_gettime(CLOCK_MONOTONIC, &task->started);
	if (bad != NULL) {
		router.bad_callbacks++;
		why = str_printf("callback_address refused: %s; the result "
		    "goes to the default topic", bad);
		task_finish(task, "failure", NULL, "bad_callback", why);
		free(why);
		return;
	}

	/*
	 * A pool member leaves its share group to drain: what the broker
	 * delivered before the UNSUBACK is served, not rejected.
	 */
	if (router.registry->draining && !router.pooled) {
		task_finish(task, "rejected", NULL, "draining", "the agent is "
		    "draining; send the request elsewhere or retry later");
		return;
	}
	if ((task->tool = dispatcher_find(router.registry, msg->capability_id,
	    msg->capability_name, &code, &why)) == NULL) {
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
	json_decref(task->parameters);
	free(task);
}

/*
 * A task has ended: publish its TaskResult (a fresh result_id, the
 * request's request_id, the correlation id of the request) and free it.
 * Takes PAYLOAD.
 */
static void
router_task_done(struct hsp_task *task, const char *status, json_t *payload,
    const char *error_code, const char *error_message)
{
	struct envelope_head	 head = { router.ai_id, task->requester,
				    task->correlation_id, "response",
				    "medium", false };
	struct envelope_text	 t;
	char			 result_id[37], when[40], *text;
	size_t			 length = 0;

	envelope_uuid4(result_id);
	envelope_timestamp(when);
	envelope_begin(&t, HSP_TASK_RESULT, &head);
	ENVELOPE_TEXT_LITERAL(&t, "{\"result_id\":\"");
	envelope_text_raw(&t, result_id, 36);
	ENVELOPE_TEXT_LITERAL(&t, "\"");
	envelope_text_key(&t, "request_id");
	envelope_text_string(&t, task->request_id);
	envelope_text_key(&t, "executing_ai_id");
	envelope_text_string(&t, router.ai_id);
	envelope_text_key(&t, "status");
	envelope_text_string(&t, status);
	envelope_text_key(&t, "payload");
	if (payload == NULL && task->result_text != NULL)
		envelope_text_raw(&t, task->result_text, task->result_length);
	else
		envelope_text_json(&t, payload);
	envelope_text_key(&t, "error_details");
	if (error_code != NULL) {
		/*
		 * The message may quote the request or a back end, cut at a
		 * byte count: envelope_text_string writes valid UTF-8
		 * whatever it is given.
		 */
		ENVELOPE_TEXT_LITERAL(&t, "{");
		envelope_text_key(&t, "error_code");
		envelope_text_string(&t, error_code);
		envelope_text_key(&t, "error_message");
		envelope_text_string(&t, error_message != NULL ?
		    error_message : "");
		ENVELOPE_TEXT_LITERAL(&t, ",\"error_context\":null}");
	} else
		ENVELOPE_TEXT_LITERAL(&t, "null");
	envelope_text_key(&t, "timestamp_completed");
	envelope_text_string(&t, when);
	ENVELOPE_TEXT_LITERAL(&t, ",\"execution_metadata\":"
	    "{\"time_taken_ms\":");
	envelope_text_number(&t, (unsigned long long)
	    (timespec_elapsed_s(&task->started) * 1e3));
	ENVELOPE_TEXT_LITERAL(&t, "}}");
	json_decref(payload);
	text = envelope_end(&t, &length);
	if (router_publish(task->reply_topic, text, length) == 0)
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

/* A copy of VALUE (NULL: null) cut to MAX bytes. */
static json_t *
router_cut(const char *value, size_t max)
{
	char	*copy;
	json_t	*cut;

	if (value == NULL)
		return (json_null());
	if ((copy = strndup(value, max)) == NULL)
		return (json_null());
	str_utf8_repair(copy);
	cut = json_string(copy);
	free(copy);
	return (cut != NULL ? cut : json_null());
}

/* A copy of string member KEY of OBJECT cut to MAX bytes, or null. */
static json_t *
router_cut_string(json_t *object, const char *key, size_t max)
{
	return (router_cut(json_string_value(json_object_get(object, key)),
	    max));
}

/*
 * Keep the last few facts for status, each cut to a few hundred bytes: a
 * peer's 30 MB statement must not be copied into every status reply.
 */
static void
router_fact(struct hsp_message *msg)
{
	if (json_array_size(router.recent_facts) == ROUTER_RECENT_FACTS)
		json_array_remove(router.recent_facts, 0);
	json_array_append_new(router.recent_facts, json_pack("{s:o, s:o, "
	    "s:o}",
	    "id", router_cut_string(msg->payload, "id", ROUTER_FACT_ID_MAX),
	    "source_ai_id", router_cut(msg->sender, ROUTER_FACT_ID_MAX),
	    "statement_nl", router_cut_string(msg->payload, "statement_nl",
		ROUTER_FACT_TEXT_MAX)));
}

/* Every kind of message but a TaskRequest. */
static void
router_other(struct hsp_message *msg)
{
	switch (msg->type) {
	case HSP_CAPABILITY_ADVERTISEMENT:
		discovery_advert(msg->sender, msg->payload);
		break;
	case HSP_FACT:
		router_fact(msg);
		break;
	case HSP_ACKNOWLEDGEMENT:
	case HSP_TASK_RESULT:
		/* Counted by type; this agent sends no requests of its own
		 * yet, so there is nothing to match them to. */
		break;
	case HSP_TASK_REQUEST:
	case HSP_TYPE_COUNT:
		break;
	}
}

/* Why a well-formed TaskRequest is dropped; each kind is logged once. */
enum router_drop {
	ROUTER_DROP_WRONG_TOPIC,
	ROUTER_DROP_RETAINED,
	ROUTER_DROP_NOT_FOR_US,
	ROUTER_DROP_COUNT
};

/*
 * Log the first request dropped for WHY (the rest are counted in status):
 * an operator who wonders why a peer gets no answer finds the reason.
 */
static void
router_dropped(enum router_drop why, struct hsp_message *msg,
    const char *topic)
{
	static const char *const reasons[ROUTER_DROP_COUNT] = {
		"not on this agent's request topic",
		"a retained message (it would run at every start)",
		"its recipient_ai_id is another agent",
	};

	if (router.drops_logged & (1U << why))
		return;
	router.drops_logged |= 1U << why;
	/* log.c escapes what is quoted; the lengths are a peer's choice. */
	log_warnx("hsp: dropped a TaskRequest from %.80s on %.80s: %s "
	    "(further ones are counted in status, not logged)",
	    msg->sender != NULL ? msg->sender : "?", topic, reasons[why]);
}

/*
 * Handle one message that connector FROM received on TOPIC.  Never fails:
 * whatever the input, it is handled, counted or ignored.
 */
void
router_handle(struct service_instance *from, const char *topic,
    const void *data, size_t length, bool retained)
{
	struct hsp_message	 msg;
	enum hsp_malformed	 kind;
	const char		*recipient;
	char			*why = NULL;
	bool			 for_us;

	router.received++;
	/* Before parsing: jansson turns a few bytes into a large tree. */
	if (router.max_message_bytes > 0 && length > router.max_message_bytes) {
		why = str_printf("%zu bytes, over hsp.max_message_bytes (%zu)",
		    length, router.max_message_bytes);
		router_malformed(topic, HSP_MALFORMED_TOO_LARGE, why);
		free(why);
		return;
	}
	if (envelope_parse(data, length, &msg, &kind, &why) == -1) {
		router_malformed(topic, kind, why);
		free(why);
		return;
	}
	router.by_type[msg.type]++;

	if (msg.type != HSP_TASK_REQUEST) {
		router_other(&msg);
		envelope_clear(&msg);
		return;
	}

	/*
	 * A request runs only when it came on this agent's own request
	 * topic (a peer can publish one on the facts topic, which every
	 * member of a pool receives), and never from a retained message
	 * (it would run again at every start).
	 */
	if (router.request_topic == NULL ||
	    strcmp(topic, router.request_topic) != 0) {
		router.wrong_topic++;
		router_dropped(ROUTER_DROP_WRONG_TOPIC, &msg, topic);
		envelope_clear(&msg);
		return;
	}
	if (retained) {
		router.retained_requests++;
		router_dropped(ROUTER_DROP_RETAINED, &msg, topic);
		envelope_clear(&msg);
		return;
	}
	recipient = msg.recipient;
	/* Also the request topic itself, as existing agents send it. */
	for_us = recipient == NULL || strcmp(recipient, router.ai_id) == 0 ||
	    strcmp(recipient, "all") == 0 ||
	    strcmp(recipient, router.request_topic) == 0;
	if (!for_us) {
		router.not_for_us++;
		router_dropped(ROUTER_DROP_NOT_FOR_US, &msg, topic);
		envelope_clear(&msg);
		return;
	}
	/* Only requests enter the window: nothing else can push one out. */
	if (dedup_seen_or_insert(router.dedup, msg.message_id)) {
		router.duplicates++;
		/* Our ACK may have been lost: the sender retries with the
		 * same id.  Acknowledge again, do not process again. */
		if (msg.requires_ack)
			router_acknowledge(&msg);
		envelope_clear(&msg);
		return;
	}
	if (msg.requires_ack)
		router_acknowledge(&msg);
	router_task_request(from, &msg);
	envelope_clear(&msg);
}

/*
 * The topic of a capability's advert: hsp/capabilities/advertisements/
 * <ai_id>/<tool suffix>.  One per capability, below the agent's topic that
 * HSP.md names, because a retained message is one per topic and an agent
 * offers several; agents subscribe to .../advertisements/#.
 */
static char *
router_advert_topic(const char *ai_id, json_t *payload)
{
	const char	*id, *suffix;

	id = json_string_value(json_object_get(payload, "capability_id"));
	if (id == NULL || (suffix = strrchr(id, ':')) == NULL)
		return (NULL);
	return (str_printf("hsp/capabilities/advertisements/%s/%s", ai_id,
	    suffix + 1));
}

/*
 * Publish the adverts of agent AI_ID with availability STATUS through VIA
 * (a connector not yet swapped in advertises through itself), retained:
 * an agent that starts later learns of this one at once.  Online adverts
 * expire after two intervals under MQTT 5 (nobody is left to renew them),
 * an offline one stays.  ALL: every tool, not only the available ones.
 */
static void
router_publish_adverts(const struct router_publisher *via, const char *ai_id,
    const char *status, bool all)
{
	struct hsp_publish_options	 options = { .retain = true };
	struct envelope_head		 head = { ai_id, "all", NULL,
					    "publish", "low", false };
	json_t				*adverts, *payload;
	char				*topic, *text;
	size_t				 i, length;

	if (strcmp(status, "offline") != 0)
		options.expiry_s = 2 * (unsigned int)router.advert_interval_s;
	adverts = dispatcher_adverts(router.registry, ai_id, status, all);
	json_array_foreach(adverts, i, payload) {
		if ((topic = router_advert_topic(ai_id, payload)) == NULL)
			continue;
		text = envelope_json(HSP_CAPABILITY_ADVERTISEMENT, &head,
		    payload, &length);
		if (text != NULL && via->publish(via->arg, topic, text, length,
		    &options) == 0)
			router.adverts_sent++;
		free(topic);
	}
	json_decref(adverts);
}

/*
 * Advertise every available tool of agent AI_ID through VIA: "online", or
 * "maintenance" while draining alone (a pool's capabilities stay online
 * while one member drains: the others serve them).
 */
void
router_advertise(const struct router_publisher *via, const char *ai_id)
{
	router_publish_adverts(via, ai_id, router.registry->draining &&
	    !router.pooled ? "maintenance" : "online", false);
}

/*
 * Advertise again through the current connector: when availability
 * changed (drain, resume, an LLM service came), and every
 * hsp.advert_interval_s, before receivers forget (DISCOVERY_MAX_AGE_S).
 */
void
router_readvertise(void)
{
	struct router_publisher	*via = &router.publisher;

	if (via->publish != NULL && router.ai_id != NULL && via->ready(via->arg))
		router_advertise(via, router.ai_id);
}

/* The advert interval is over. */
static void
router_advert_timer_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	router_readvertise();
}

/*
 * A clean shutdown: say every capability is offline, retained, through the
 * current connector, which then retires and delivers it.  Not in a pool:
 * the other members still serve the agent id.
 */
void
router_advertise_offline(void)
{
	struct router_publisher	*via = &router.publisher;

	if (router.pooled || via->publish == NULL || router.ai_id == NULL)
		return;
	router_publish_adverts(via, router.ai_id, "offline", true);
}

/*
 * The MQTT will of connection INDEX of a connector for agent AI_ID: the
 * offline advert of tool INDEX (each of the two connections carries one;
 * the dialogue and echo tools).  Returns the topic and the text (to free),
 * or -1 when there is no such tool.
 */
int
router_will(const char *ai_id, size_t index, char **topic, char **text)
{
	struct envelope_head	 head = { ai_id, "all", NULL, "publish", "low",
				    false };
	json_t			*adverts, *payload;
	size_t			 length;
	int			 rc = -1;

	*topic = *text = NULL;
	adverts = dispatcher_adverts(router.registry, ai_id, "offline", true);
	if ((payload = json_array_get(adverts, index)) != NULL &&
	    (*topic = router_advert_topic(ai_id, payload)) != NULL) {
		*text = envelope_json(HSP_CAPABILITY_ADVERTISEMENT, &head,
		    payload, &length);
		rc = *text != NULL ? 0 : -1;
	}
	if (rc == -1) {
		free(*topic);
		*topic = NULL;
	}
	json_decref(adverts);
	return (rc);
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
	return (json_pack("{s:I, s:o, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:O}",
	    "received", (json_int_t)router.received,
	    "received_by_type", by_type,
	    "duplicates_dropped", (json_int_t)router.duplicates,
	    "malformed", malformed,
	    "not_for_us", (json_int_t)router.not_for_us,
	    "requests_wrong_topic", (json_int_t)router.wrong_topic,
	    "requests_retained", (json_int_t)router.retained_requests,
	    "bad_callbacks", (json_int_t)router.bad_callbacks,
	    "acks_sent", (json_int_t)router.acks_sent,
	    "results_sent", (json_int_t)router.results_sent,
	    "adverts_sent", (json_int_t)router.adverts_sent,
	    "publish_failed", (json_int_t)router.publish_failed,
	    "tasks_in_flight", (json_int_t)router.tasks_in_flight,
	    "dedup", "window", (json_int_t)dedup_window(router.dedup),
		"held", (json_int_t)dedup_count(router.dedup),
		"bytes", (json_int_t)dedup_bytes(router.dedup),
		"max_bytes", (json_int_t)router.max_bytes,
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
