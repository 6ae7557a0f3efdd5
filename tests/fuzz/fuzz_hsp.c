/*
 * fuzz_hsp.c -- libFuzzer harness of the HSP side (src/hsp-envelope.c and
 * src/router.c, with the real dispatcher and discovery), without a broker.
 *
 * Logging is formatted and thrown away (log.c is not linked): the router
 * logs the first malformed message of each kind, and with a fresh router per
 * input that would be every input.
 *
 * The input is a sequence of MQTT payloads separated by NUL bytes (JSON has
 * no raw NUL, so a single envelope is a valid input as it is).  Each payload
 * goes through envelope_parse() and then router_handle() on the request
 * topic, as the connector would hand it over.  A payload "\x01" followed by
 * a digit 1-8 is not a message: it reconfigures the router with that
 * dedup_window, as a reload does between two messages; a payload "\x02"
 * switches the stand-in LLM service on or off (see llm_submit() below); a
 * payload "\x03" followed by a digit 0-4 sets how the next messages arrive,
 * as the connector's intake sees them: on the request topic (0), the same
 * but retained (1), on the facts topic (2), on a results topic (3), on an
 * extra subscription (4).  The connector is the stand-in of
 * tests/support/stubs-hsp.c, and the router publishes through a publisher
 * that checks and counts what would be published: only acknowledgements
 * and results, only under hsp/acks/ and hsp/results/ (a callback_address
 * can never point anywhere else), and nothing at all for a message that
 * did not come, unretained, on the request topic.
 *
 * With FUZZ_HSP_TRACE in the environment, what would be published is
 * printed, to see what an input does.
 *
 * Every input starts from the same state (a fresh router, discovery table
 * and dialogue history, window 4, no LLM), so a crash replays from its file alone and the process
 * does not grow across millions of runs.
 */
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"
#include "fuzz.h"
#include "../support/stubs-hsp.h"

#define FUZZ_HSP_AI_ID		"did:hsp:me"
#define FUZZ_HSP_TOPIC		"hsp/requests/" FUZZ_HSP_AI_ID
#define FUZZ_HSP_WINDOWS	8
/* The topics of "\x03" + digit, and whether the message is retained. */
static const struct {
	const char	*topic;
	bool		 retained;
} fuzz_intake[] = {
	{ FUZZ_HSP_TOPIC, false },
	{ FUZZ_HSP_TOPIC, true },
	{ "hsp/knowledge/facts/x", false },
	{ "hsp/results/" FUZZ_HSP_AI_ID "/r", false },
	{ "extra/topic", false },
};
#define FUZZ_HSP_INTAKES	(sizeof fuzz_intake / sizeof fuzz_intake[0])
static size_t			 fuzz_intake_index;
#define FUZZ_HSP_FIRST_WINDOW	4

static struct event_base	*fuzz_base;
static struct registry		*fuzz_registry;
static struct config		*fuzz_configs[FUZZ_HSP_WINDOWS + 1];
static struct service_instance	*fuzz_connector;
static size_t			 fuzz_published;
static bool			 fuzz_trace;	/* $FUZZ_HSP_TRACE set */

/* The connector's publish: check what the router hands over, count it. */
static int
fuzz_publish(__attribute__((unused)) void *arg, const char *topic,
    char *text, size_t length,
    __attribute__((unused)) const struct hsp_publish_options *options)
{
	json_t	*envelope;

	FUZZ_CHECK(topic != NULL && *topic != '\0');
	/* Never the broker's topics, another agent's requests, a filter. */
	FUZZ_CHECK(strncmp(topic, "hsp/acks/", 9) == 0 ||
	    strncmp(topic, "hsp/results/", 12) == 0);
	/* The text is one JSON object, whatever the input held. */
	FUZZ_CHECK(text != NULL && strlen(text) == length);
	if (fuzz_trace)
		fprintf(stderr, "publish %s %s\n", topic, text);
	envelope = json_loadb(text, length, 0, NULL);
	FUZZ_CHECK(json_is_object(envelope));
	FUZZ_CHECK(json_is_string(json_object_get(envelope, "message_id")));
	FUZZ_CHECK(json_is_string(json_object_get(envelope, "message_type")));
	FUZZ_CHECK(json_is_object(json_object_get(envelope, "payload")));
	json_decref(envelope);
	free(text);
	fuzz_published++;
	return (0);
}

/* Format a log line, as log.c would, and drop it. */
static void __attribute__((format(printf, 1, 0)))
fuzz_hsp_vlog(const char *fmt, va_list ap)
{
	char	message[4096];

	vsnprintf(message, sizeof message, fmt, ap);
}

/* log.c's warning, quiet. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fuzz_hsp_vlog(fmt, ap);
	va_end(ap);
}

/* log.c's information, quiet. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fuzz_hsp_vlog(fmt, ap);
	va_end(ap);
}

/* log.c's debug line, quiet. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fuzz_hsp_vlog(fmt, ap);
	va_end(ap);
}

/*
 * The LLM service: off at the start of each input (echo is the default
 * tool), switched on and off by a "\x02" payload.  When on, the dialogue
 * tool answers through llm_submit(), which answers on a later loop turn as
 * the real one does: with the question reversed, or, for a question that
 * starts with "fail", with a failure quoting the question cut at 200 bytes
 * as llm-provider.c quotes a back end's error.
 */
static bool	fuzz_llm_on;

/* One question waiting for its answer. */
struct fuzz_llm_turn {
	char		*question;
	char		*system;
	llm_done_cb	 cb;
	void		*arg;
};

/* Is the LLM service there? */
bool
llm_available(__attribute__((unused)) struct registry *reg)
{
	return (fuzz_llm_on);
}

/* Answer a question, a loop turn after it was asked. */
static void
fuzz_llm_answer_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct fuzz_llm_turn	*turn = arg;
	struct llm_answer	 answer = { 0 };
	struct llm_result	 result = { 0 };
	char			*message = NULL;
	size_t			 i, n = strlen(turn->question);

	result.backend = "fuzz";
	result.model = "reverse";
	result.generation = 1;
	if (strncmp(turn->question, "fail", 4) == 0) {
		message = str_printf("back end said: %.200s", turn->question);
		result.error_code = LLM_ERR_UNAVAILABLE;
		result.error_message = message;
	} else {
		/* Reversed byte by byte: not always UTF-8, which an LLM's
		 * answer (parsed JSON) always is; so reverse ASCII only. */
		answer.text = strdup(turn->question);
		FUZZ_CHECK(answer.text != NULL);
		for (i = 0; i < n / 2; i++) {
			if ((unsigned char)answer.text[i] < 0x80 &&
			    (unsigned char)answer.text[n - 1 - i] < 0x80) {
				answer.text[i] = turn->question[n - 1 - i];
				answer.text[n - 1 - i] = turn->question[i];
			}
		}
		answer.usage = json_pack("{s:i}", "total_tokens", (int)n);
		result.ok = true;
		result.answer = &answer;
	}
	turn->cb(&result, turn->arg);
	free(message);
	free(answer.text);
	json_decref(answer.usage);
	free(turn->question);
	free(turn->system);
	free(turn);
}

/* Ask the stand-in LLM; checks the history the dialogue tool sends. */
int
llm_submit(__attribute__((unused)) struct registry *reg, json_t *messages,
    const char *system, __attribute__((unused)) const struct llm_options *o,
    llm_done_cb cb, void *arg)
{
	struct fuzz_llm_turn	*turn;
	json_t			*message;
	size_t			 i;

	if (!fuzz_llm_on)
		return (-1);
	FUZZ_CHECK(json_is_array(messages) && json_array_size(messages) > 0);
	FUZZ_CHECK(json_array_size(messages) % 2 == 1);
	json_array_foreach(messages, i, message) {
		FUZZ_CHECK(json_is_string(json_object_get(message, "content")));
		FUZZ_CHECK(strcmp(json_string_value(json_object_get(message,
		    "role")), i % 2 == 0 ? "user" : "assistant") == 0);
	}
	if ((turn = calloc(1, sizeof *turn)) == NULL)
		return (-1);
	turn->question = strdup(json_string_value(json_object_get(
	    json_array_get(messages, json_array_size(messages) - 1),
	    "content")));
	turn->system = system != NULL ? strdup(system) : NULL;
	turn->cb = cb;
	turn->arg = arg;
	FUZZ_CHECK(turn->question != NULL);
	FUZZ_CHECK(event_base_once(fuzz_base, -1, EV_TIMEOUT,
	    fuzz_llm_answer_cb, turn, NULL) == 0);
	return (0);
}

/* A configuration with an hsp section and dedup window WINDOW. */
static struct config *
fuzz_hsp_config(int window)
{
	struct config_problems	 problems = { 0 };
	struct config		*config;
	char			*text;

	text = str_printf("{\"ai_id\":\"%s\",\"control\":{\"socket\":"
	    "\"/tmp/fuzz.sock\"},\"hsp\":{\"broker\":{\"port\":1883},"
	    "\"dedup_window\":%d}}", FUZZ_HSP_AI_ID, window);
	if (text == NULL)
		abort();
	config = config_load_buffer("fuzz.conf", text, strlen(text),
	    &problems);
	config_problems_clear(&problems);
	free(text);
	if (config == NULL)
		abort();
	return (config);
}

/* The daemon around the router: an event base, a registry, a connector. */
int
LLVMFuzzerInitialize(__attribute__((unused)) int *argc,
    __attribute__((unused)) char ***argv)
{
	int	i;

	fuzz_trace = getenv("FUZZ_HSP_TRACE") != NULL;
	if ((fuzz_base = event_base_new()) == NULL ||
	    (fuzz_registry = registry_create(fuzz_base)) == NULL)
		abort();
	for (i = 1; i <= FUZZ_HSP_WINDOWS; i++)
		fuzz_configs[i] = fuzz_hsp_config(i);
	fuzz_connector = stubs_hsp_connector_create();
	if (fuzz_connector == NULL)
		abort();
	fuzz_registry->slots[SERVICE_HSP].current = fuzz_connector;
	return (0);
}

/* Parse PAYLOAD on its own, then hand it to the router. */
static void
fuzz_hsp_message(const uint8_t *payload, size_t length)
{
	struct hsp_message	msg;
	enum hsp_malformed	kind;
	char			*why = NULL;
	size_t			 published = fuzz_published;

	if (length == 2 && payload[0] == 0x03 && payload[1] >= '0' &&
	    payload[1] < '0' + (int)FUZZ_HSP_INTAKES) {
		fuzz_intake_index = (size_t)(payload[1] - '0');
		return;
	}
	if (length == 1 && payload[0] == 0x02) {
		fuzz_llm_on = !fuzz_llm_on;
		return;
	}
	if (length == 2 && payload[0] == 0x01 && payload[1] >= '1' &&
	    payload[1] <= '0' + FUZZ_HSP_WINDOWS) {
		FUZZ_CHECK(router_configure(fuzz_configs[payload[1] -
		    '0']) == 0);
		return;
	}
	if (envelope_parse(payload, length, &msg, &kind, &why) == 0) {
		FUZZ_CHECK(why == NULL);
		FUZZ_CHECK(msg.strings != NULL && (int)msg.type >= 0 &&
		    msg.type < HSP_TYPE_COUNT);
		FUZZ_CHECK(msg.message_id != NULL && *msg.message_id != '\0');
		FUZZ_CHECK(msg.sender != NULL && *msg.sender != '\0');
		/* A request: its ids, and parameters that are an object;
		 * any other kind: its payload as a tree. */
		if (msg.type == HSP_TASK_REQUEST) {
			FUZZ_CHECK(msg.request_id != NULL &&
			    *msg.request_id != '\0');
			FUZZ_CHECK(msg.requester != NULL &&
			    *msg.requester != '\0');
			FUZZ_CHECK(msg.parameters != NULL &&
			    msg.parameters[0] == '{' &&
			    msg.parameters[msg.parameters_length - 1] == '}');
		} else
			FUZZ_CHECK(json_is_object(msg.payload));
		envelope_clear(&msg);
	} else {
		FUZZ_CHECK(why != NULL && (int)kind >= 0 &&
		    kind < HSP_MALFORMED_COUNT);
		FUZZ_CHECK(msg.strings == NULL && msg.payload == NULL);
		free(why);
	}
	router_handle(fuzz_connector, fuzz_intake[fuzz_intake_index].topic,
	    payload, length, fuzz_intake[fuzz_intake_index].retained);
	/* Dialogue answers on a later loop turn; echo at once. */
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	FUZZ_CHECK(fuzz_connector->in_flight == 0);
	/* Only a request on our request topic, not retained, runs. */
	if (fuzz_intake_index != 0)
		FUZZ_CHECK(fuzz_published == published);
}

/* Run the NUL-separated payloads of one input from a fresh router. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nul;
	size_t		 start = 0, length;
	json_t		*status;

	if (router_init(fuzz_registry, fuzz_configs[FUZZ_HSP_FIRST_WINDOW]) == -1 ||
	    dispatcher_register(&dialogue_tool) == -1 ||
	    discovery_init() == -1)
		abort();
	stubs_hsp_use_publisher(fuzz_publish);
	fuzz_published = 0;
	fuzz_intake_index = 0;
	for (;;) {
		nul = memchr(data + start, '\0', size - start);
		length = nul == NULL ? size - start : (size_t)(nul - data) -
		    start;
		fuzz_hsp_message(data + start, length);
		if (nul == NULL)
			break;
		start += length + 1;
	}
	/* Status as "hotreloadctl status" would show it. */
	status = router_status();
	FUZZ_CHECK(status != NULL);
	json_decref(status);
	status = discovery_status();
	FUZZ_CHECK(status != NULL);
	json_decref(status);
	status = dialogue_status();
	FUZZ_CHECK(status != NULL);
	json_decref(status);
	router_free();
	discovery_free();
	dispatcher_free();
	dialogue_free();
	fuzz_llm_on = false;
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	return (0);
}
