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
 * dedup_window, as a reload does between two messages.  The connector is a
 * stub whose hsp_publish() checks and counts what would be published.
 *
 * Every input starts from the same state (a fresh router and discovery
 * table, window 4), so a crash replays from its file alone and the process
 * does not grow across millions of runs.
 */
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"
#include "fuzz.h"

#define FUZZ_HSP_AI_ID		"did:hsp:me"
#define FUZZ_HSP_TOPIC		"hsp/requests/" FUZZ_HSP_AI_ID
#define FUZZ_HSP_WINDOWS	8
#define FUZZ_HSP_FIRST_WINDOW	4

struct daemon			*hr;
static struct daemon		 fuzz_daemon;
static struct config		*fuzz_configs[FUZZ_HSP_WINDOWS + 1];
static struct service_instance	*fuzz_connector;
static size_t			 fuzz_published;

/* The connector's publish: check what the router hands over, count it. */
int
hsp_publish(__attribute__((unused)) struct service_instance *inst,
    const char *topic, json_t *envelope)
{
	char	*text;

	FUZZ_CHECK(topic != NULL && *topic != '\0');
	FUZZ_CHECK(json_is_object(envelope));
	FUZZ_CHECK(json_is_string(json_object_get(envelope, "message_id")));
	FUZZ_CHECK(json_is_string(json_object_get(envelope, "message_type")));
	FUZZ_CHECK(json_is_object(json_object_get(envelope, "payload")));
	/* What hsp.c does with it before mosquitto_publish(). */
	text = json_dumps(envelope, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
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

/* No LLM service here: the default tool is echo. */
bool
llm_available(void)
{
	return (false);
}

/* Never reached while llm_available() is false. */
int
llm_submit(__attribute__((unused)) json_t *messages,
    __attribute__((unused)) const char *system,
    __attribute__((unused)) llm_done_cb cb, __attribute__((unused)) void *arg)
{
	return (-1);
}

/* The stub connector is always connected. */
bool
hsp_is_connected(__attribute__((unused)) struct service_instance *inst)
{
	return (true);
}

/* The stub connector owns nothing. */
static void
fuzz_hsp_destroy(__attribute__((unused)) struct service_instance *inst)
{
}

static const struct service_ops fuzz_hsp_ops = {
	.name = "fuzz", .destroy = fuzz_hsp_destroy,
};

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

	hr = &fuzz_daemon;
	if ((hr->base = event_base_new()) == NULL ||
	    (hr->registry = registry_create(hr->base)) == NULL)
		abort();
	for (i = 1; i <= FUZZ_HSP_WINDOWS; i++)
		fuzz_configs[i] = fuzz_hsp_config(i);
	fuzz_connector = service_instance_create(&fuzz_hsp_ops, NULL);
	if (fuzz_connector == NULL)
		abort();
	hr->registry->slots[SERVICE_HSP].current = fuzz_connector;
	return (0);
}

/* Parse PAYLOAD on its own, then hand it to the router. */
static void
fuzz_hsp_message(const uint8_t *payload, size_t length)
{
	struct hsp_message	msg;
	enum hsp_malformed	kind;
	char			*why = NULL;

	if (length == 2 && payload[0] == 0x01 && payload[1] >= '1' &&
	    payload[1] <= '0' + FUZZ_HSP_WINDOWS) {
		FUZZ_CHECK(router_configure(fuzz_configs[payload[1] -
		    '0']) == 0);
		return;
	}
	if (envelope_parse(payload, length, &msg, &kind, &why) == 0) {
		FUZZ_CHECK(why == NULL);
		FUZZ_CHECK(msg.root != NULL && (int)msg.type >= 0 &&
		    msg.type < HSP_TYPE_COUNT);
		FUZZ_CHECK(msg.message_id != NULL && *msg.message_id != '\0');
		FUZZ_CHECK(msg.sender != NULL && *msg.sender != '\0');
		FUZZ_CHECK(json_is_object(msg.payload));
		envelope_clear(&msg);
	} else {
		FUZZ_CHECK(why != NULL && (int)kind >= 0 &&
		    kind < HSP_MALFORMED_COUNT);
		FUZZ_CHECK(msg.root == NULL);
		free(why);
	}
	router_handle(fuzz_connector, FUZZ_HSP_TOPIC, payload, length);
	/* Echo answers at once: no work is left on the connector. */
	FUZZ_CHECK(fuzz_connector->in_flight == 0);
}

/* Run the NUL-separated payloads of one input from a fresh router. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nul;
	size_t		 start = 0, length;
	json_t		*status;

	if (router_init(fuzz_configs[FUZZ_HSP_FIRST_WINDOW]) == -1 ||
	    discovery_init() == -1)
		abort();
	fuzz_published = 0;
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
	router_free();
	discovery_free();
	dispatcher_free();
	event_base_loop(hr->base, EVLOOP_NONBLOCK);
	return (0);
}
