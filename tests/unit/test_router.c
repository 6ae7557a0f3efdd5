/*
 * test_router.c -- unit tests of the HSP side without a broker: envelope
 * parsing (src/hsp-envelope.c) and the router (src/router.c) with the real
 * dispatcher and discovery.  The connector is the stand-in of
 * tests/support/stubs-hsp.c, and the router publishes through a publisher
 * that records what would have been published.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "../support/stubs-hsp.h"

static struct event_base	*base;
static struct registry	*reg;
static json_t		*published;	/* [{topic, message, retain}] */
static struct config	*config;

/*
 * The connector's publish, recorded: the text (taken) must be one JSON
 * object of exactly LENGTH bytes, NUL-terminated, as jansson reads it.
 */
static int
test_publish(__attribute__((unused)) void *arg, const char *topic,
    char *text, size_t length, const struct hsp_publish_options *options)
{
	json_error_t	 error;
	json_t		*envelope;

	ck_assert_uint_eq(strlen(text), length);
	envelope = json_loadb(text, length, 0, &error);
	ck_assert_msg(json_is_object(envelope), "published %s: %s", text,
	    error.text);
	json_array_append_new(published, json_pack("{s:s, s:o, s:b, s:i}",
	    "topic", topic, "message", envelope, "retain",
	    options != NULL && options->retain, "expiry_s",
	    options != NULL ? (int)options->expiry_s : 0));
	free(text);
	return (0);
}

/* No LLM service here: the default tool is echo. */
bool
llm_available(__attribute__((unused)) struct registry *r)
{
	return (false);
}

/* Never reached while llm_available() is false. */
int
llm_submit(__attribute__((unused)) struct registry *r,
    __attribute__((unused)) json_t *messages,
    __attribute__((unused)) const char *system,
    __attribute__((unused)) const struct llm_options *options,
    __attribute__((unused)) llm_done_cb cb, __attribute__((unused)) void *arg)
{
	return (-1);
}

static struct service_instance	*connector;

static void
setup(void)
{
	static const char	text[] = "{\"ai_id\":\"did:hsp:me\","
	    "\"control\":{\"socket\":\"/tmp/x.sock\"},"
	    "\"hsp\":{\"broker\":{\"port\":1883},\"dedup_window\":4}}";
	struct config_problems	problems = { 0 };

	base = event_base_new();
	reg = registry_create(base);
	config = config_load_buffer("t.conf", text, strlen(text), &problems);
	config_problems_clear(&problems);
	ck_assert_ptr_nonnull(config);
	connector = stubs_hsp_connector_create();
	reg->slots[SERVICE_HSP].current = connector;
	published = json_array();
	ck_assert_int_eq(router_init(reg, config), 0);
	ck_assert_int_eq(dispatcher_register(&dialogue_tool), 0);
	stubs_hsp_use_publisher(test_publish);
	ck_assert_int_eq(discovery_init(), 0);
}

static void
teardown(void)
{
	router_free();
	discovery_free();
	dispatcher_free();
	reg->slots[SERVICE_HSP].current = NULL;
	service_instance_unref(connector);
	event_base_loop(base, EVLOOP_NONBLOCK);
	registry_free(reg);
	event_base_free(base);
	config_free(config);
	json_decref(published);
}

/* A TaskRequest envelope as a peer sends it. */
static char *
request(const char *message_id, const char *correlation_id, bool ack,
    const char *filter_key, const char *filter)
{
	json_t	*payload, *msg;
	char	*text;

	payload = json_pack("{s:s, s:s, s:{s:i}}", "request_id", "r-1",
	    "requester_ai_id", "did:hsp:peer", "parameters", "n", 7);
	if (filter_key != NULL)
		json_object_set_new(payload, filter_key, json_string(filter));
	msg = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, s:n, "
	    "s:{s:s, s:b, s:n}, s:n, s:n, s:o}",
	    "hsp_envelope_version", "0.1", "message_id", message_id,
	    "correlation_id", correlation_id, "sender_ai_id", "did:hsp:peer",
	    "recipient_ai_id", "did:hsp:me",
	    "timestamp_sent", "2026-01-01T00:00:00Z",
	    "message_type", "HSP::TaskRequest_v0.1", "protocol_version", "0.1",
	    "communication_pattern", "request", "security_parameters",
	    "qos_parameters", "priority", "high", "requires_ack", ack,
	    "time_to_live_sec", "routing_info", "payload_schema_uri",
	    "payload", payload);
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	return (text);
}

/* Feed TEXT to the router as if received on the request topic. */
static void
feed(char *text)
{
	router_handle(connector, "hsp/requests/did:hsp:me", text, strlen(text),
	    false);
	free(text);
}

/* Published message N. */
static json_t *
sent(size_t n)
{
	return (json_object_get(json_array_get(published, n), "message"));
}

/* The topic of published message N. */
static const char *
sent_topic(size_t n)
{
	return (json_string_value(json_object_get(json_array_get(published,
	    n), "topic")));
}

START_TEST(envelope_variants_accepted)
{
	static const char *const texts[] = {
		"{\"message_id\":\"a\",\"sender_ai_id\":\"s\",\"message_type\":"
		"\"HSP::Fact\",\"payload\":{\"id\":\"f\",\"statement_type\":"
		"\"natural_language\",\"source_ai_id\":\"s\","
		"\"timestamp_created\":\"t\",\"confidence_score\":1}}",
		"{\"message_id\":\"b\",\"sender_ai_id\":\"s\",\"message_type\":"
		"\"HSP.Acknowledgement_v0.1\",\"payload\":{\"status\":"
		"\"received\",\"ack_timestamp\":\"t\",\"target_message_id\":"
		"\"x\"}}",
	};
	struct hsp_message	msg;
	enum hsp_malformed	kind;
	char			*why;

	ck_assert_int_eq(envelope_parse(texts[0], strlen(texts[0]), &msg,
	    &kind, &why), 0);
	ck_assert_int_eq(msg.type, HSP_FACT);
	envelope_clear(&msg);
	ck_assert_int_eq(envelope_parse(texts[1], strlen(texts[1]), &msg,
	    &kind, &why), 0);
	ck_assert_int_eq(msg.type, HSP_ACKNOWLEDGEMENT);
	envelope_clear(&msg);
}
END_TEST

START_TEST(envelope_rejections_by_kind)
{
	static const struct {
		const char		*text;
		enum hsp_malformed	 kind;
	} cases[] = {
		{ "nope", HSP_MALFORMED_NOT_JSON },
		{ "[1]", HSP_MALFORMED_NOT_OBJECT },
		{ "{\"sender_ai_id\":\"s\"}", HSP_MALFORMED_ENVELOPE },
		{ "{\"message_id\":\"a\",\"sender_ai_id\":\"s\","
		  "\"message_type\":\"HSP::Gossip_v0.1\",\"payload\":{}}",
		  HSP_MALFORMED_TYPE },
		{ "{\"message_id\":\"a\",\"sender_ai_id\":\"s\","
		  "\"message_type\":\"HSP::TaskRequest_v0.1\",\"payload\":"
		  "{\"requester_ai_id\":\"p\",\"parameters\":{}}}",
		  HSP_MALFORMED_PAYLOAD },
		{ "{\"message_id\":\"a\",\"sender_ai_id\":\"s\","
		  "\"message_type\":\"HSP::TaskRequest_v0.1\",\"payload\":"
		  "{\"request_id\":\"r\",\"requester_ai_id\":\"p\"}}",
		  HSP_MALFORMED_PAYLOAD },
	};
	struct hsp_message	msg;
	enum hsp_malformed	kind;
	char			*why;
	size_t			i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(envelope_parse(cases[i].text,
		    strlen(cases[i].text), &msg, &kind, &why), -1);
		ck_assert_int_eq(kind, cases[i].kind);
		ck_assert_ptr_nonnull(why);
		free(why);
	}
}
END_TEST

START_TEST(envelope_built_canonical)
{
	struct envelope_head head = { "me", "you", "c", "response", "medium",
			    false };
	json_t		*payload = json_object();
	size_t		 length;
	char		*text = envelope_json(HSP_TASK_RESULT, &head, payload,
			    &length);
	json_t		*e = json_loadb(text, length, 0, NULL);
	const char	*keys[] = { "hsp_envelope_version", "message_id",
			    "correlation_id", "sender_ai_id", "recipient_ai_id",
			    "timestamp_sent", "message_type", "protocol_version",
			    "communication_pattern", "security_parameters",
			    "qos_parameters", "routing_info",
			    "payload_schema_uri", "payload" };
	size_t		 i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		ck_assert_ptr_nonnull(json_object_get(e, keys[i]));
	ck_assert_str_eq(json_string_value(json_object_get(e,
	    "message_type")), "HSP::TaskResult_v0.1");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(e,
	    "message_id"))), 36);
	json_decref(e);
	json_decref(payload);
	free(text);
}
END_TEST

START_TEST(echo_request_acked_and_answered)
{
	json_t	*ack, *result, *payload;

	feed(request("m-1", "c-1", true, "capability_name_filter", "echo"));
	ck_assert_uint_eq(json_array_size(published), 2);
	/* The ACK: to the sender's ack topic, with the request's
	 * correlation id (what existing senders wait on, HSP.md 8) and the
	 * message id as target_message_id. */
	ack = sent(0);
	ck_assert_str_eq(sent_topic(0), "hsp/acks/did:hsp:peer");
	ck_assert_str_eq(json_string_value(json_object_get(ack,
	    "correlation_id")), "c-1");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ack,
	    "payload"), "target_message_id")), "m-1");
	/* The result: correlation id of the request, fresh result id. */
	result = sent(1);
	ck_assert_str_eq(sent_topic(1), "hsp/results/did:hsp:peer/r-1");
	ck_assert_str_eq(json_string_value(json_object_get(result,
	    "correlation_id")), "c-1");
	payload = json_object_get(result, "payload");
	ck_assert_str_eq(json_string_value(json_object_get(payload,
	    "status")), "success");
	ck_assert_str_eq(json_string_value(json_object_get(payload,
	    "request_id")), "r-1");
	ck_assert_str_ne(json_string_value(json_object_get(payload,
	    "result_id")), "r-1");
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_object_get(payload, "payload"), "n")), 7);
	/* The work was held on the connector and released. */
	ck_assert_uint_eq(connector->in_flight, 0);
}
END_TEST

START_TEST(duplicate_processed_once_but_acked_again)
{
	json_t	*status;

	feed(request("m-1", "c-1", true, NULL, NULL));
	feed(request("m-1", "c-1", true, NULL, NULL));
	/* ack, result, ack again -- no second result. */
	ck_assert_uint_eq(json_array_size(published), 3);
	ck_assert_str_eq(sent_topic(2), "hsp/acks/did:hsp:peer");
	status = router_status();
	ck_assert_int_eq(json_integer_value(json_object_get(status,
	    "duplicates_dropped")), 1);
	json_decref(status);
}
END_TEST

START_TEST(dedup_window_is_bounded)
{
	static const char *const ids[] = { "a", "b", "c", "d", "e" };
	size_t	i;

	/* Window of 4: after five new ids the first is forgotten. */
	for (i = 0; i < 5; i++)
		feed(request(ids[i], NULL, false, NULL, NULL));
	ck_assert_uint_eq(json_array_size(published), 5);
	feed(request("e", NULL, false, NULL, NULL));	/* still known */
	ck_assert_uint_eq(json_array_size(published), 5);
	feed(request("a", NULL, false, NULL, NULL));	/* forgotten */
	ck_assert_uint_eq(json_array_size(published), 6);
}
END_TEST

START_TEST(correlation_falls_back_to_message_id)
{
	feed(request("m-9", NULL, false, NULL, NULL));
	ck_assert_str_eq(json_string_value(json_object_get(sent(0),
	    "correlation_id")), "m-9");
}
END_TEST

START_TEST(draining_rejects)
{
	json_t	*payload;

	reg->draining = true;
	feed(request("m-1", "c", false, NULL, NULL));
	payload = json_object_get(sent(0), "payload");
	ck_assert_str_eq(json_string_value(json_object_get(payload,
	    "status")), "rejected");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    payload, "error_details"), "error_code")), "draining");
}
END_TEST

START_TEST(unknown_capability_fails)
{
	json_t	*payload;

	feed(request("m-1", "c", false, "capability_id_filter",
	    "did:hsp:me:nope_v1"));
	payload = json_object_get(sent(0), "payload");
	ck_assert_str_eq(json_string_value(json_object_get(payload,
	    "status")), "failure");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    payload, "error_details"), "error_code")), "no_capability");
	json_array_clear(published);
	feed(request("m-2", "c", false, "capability_id_filter",
	    "did:hsp:me:echo_v1"));
	payload = json_object_get(sent(0), "payload");
	ck_assert_str_eq(json_string_value(json_object_get(payload,
	    "status")), "success");
}
END_TEST

/*
 * The failure quotes the filter cut at 80 bytes, here inside a two-byte
 * character: the requester still gets its TaskResult.
 */
START_TEST(unknown_capability_long_utf8_name_answered)
{
	char		 name[128];
	const char	*message;
	json_t		*payload;

	memset(name, 'x', 79);
	strcpy(name + 79, "\xc3\xa9");
	feed(request("m-1", "c", false, "capability_name_filter", name));
	ck_assert_uint_eq(json_array_size(published), 1);
	payload = json_object_get(sent(0), "payload");
	ck_assert_str_eq(json_string_value(json_object_get(payload,
	    "status")), "failure");
	message = json_string_value(json_object_get(json_object_get(payload,
	    "error_details"), "error_message"));
	ck_assert_ptr_nonnull(message);
	ck_assert_ptr_nonnull(strstr(message, "xxx?"));
}
END_TEST

/*
 * A request written with escapes and odd spacing, as any JSON writer may:
 * escaped keys and ids, an escaped slash in the callback_address, and
 * parameters holding quotes, brackets and non-ASCII text.  The fields are
 * read decoded (the ACK and result go where they should, with the ids
 * decoded), and echo answers with the parameters as they were sent.
 */
START_TEST(escaped_request_read_decoded)
{
	static const char	 text[] =
	    "{ \"message\\u005fid\" : \"m-\\u00e9\", "
	    "\"sender_ai_id\":\"did:hsp:peer\", \"correlation_id\": null, "
	    "\"recipient_ai_id\":\"did:hsp:me\",\"message_type\":"
	    "\"HSP::TaskRequest_v0.1\",\"qos_parameters\":{\"requires_ack\":"
	    "true},\"payload\":{\"request_id\":\"r\\\"1\",\"requester_ai_id\":"
	    "\"did:hsp:peer\",\"callback_address\":\"hsp\\/results\\/x\","
	    "\"parameters\": {\"s\":\"}]\\\"\\u00e9\", "
	    "\"a\":[1, {\"b\":null}]}}}";
	json_t			*ack, *result, *expected;

	router_handle(connector, "hsp/requests/did:hsp:me", text,
	    strlen(text), false);
	ck_assert_uint_eq(json_array_size(published), 2);
	ck_assert_str_eq(sent_topic(0), "hsp/acks/did:hsp:peer");
	ack = json_object_get(sent(0), "payload");
	ck_assert_str_eq(json_string_value(json_object_get(ack,
	    "target_message_id")), "m-\xc3\xa9");
	ck_assert_str_eq(json_string_value(json_object_get(sent(0),
	    "correlation_id")), "m-\xc3\xa9");
	ck_assert_str_eq(sent_topic(1), "hsp/results/x");
	result = json_object_get(sent(1), "payload");
	ck_assert_str_eq(json_string_value(json_object_get(result,
	    "request_id")), "r\"1");
	ck_assert_str_eq(json_string_value(json_object_get(result,
	    "status")), "success");
	expected = json_pack("{s:s, s:[i, {s:n}]}", "s", "}]\"\xc3\xa9", "a",
	    1, "b");
	ck_assert(json_equal(json_object_get(result, "payload"), expected));
	json_decref(expected);
}
END_TEST

/*
 * A failure whose message holds control characters and quotes: the result
 * is still one valid JSON text (test_publish reads every one) with the
 * message as it was.
 */
START_TEST(error_message_escaped)
{
	char	name[] = "a\"b\\c\n\x01\x7f";
	json_t	*details;

	feed(request("m-1", "c", false, "capability_name_filter", name));
	ck_assert_uint_eq(json_array_size(published), 1);
	details = json_object_get(json_object_get(sent(0), "payload"),
	    "error_details");
	ck_assert_str_eq(json_string_value(json_object_get(details,
	    "error_message")), "no capability named \"a\"b\\c\n\x01\x7f\"");
	ck_assert(json_is_null(json_object_get(details, "error_context")));
}
END_TEST

START_TEST(malformed_counted_never_answered)
{
	json_t	*status;

	router_handle(connector, "t", "junk", 4, false);
	router_handle(connector, "t", "junk", 4, false);
	router_handle(connector, "t", "[]", 2, false);
	ck_assert_uint_eq(json_array_size(published), 0);
	status = router_status();
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    status, "malformed"), "not_json")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    status, "malformed"), "not_object")), 1);
	json_decref(status);
}
END_TEST

/* Without a correlation id the ACK correlates with the message id. */
START_TEST(ack_without_correlation_id)
{
	json_t	*ack;

	feed(request("m-2", NULL, true, NULL, NULL));
	ack = sent(0);
	ck_assert_str_eq(json_string_value(json_object_get(ack,
	    "correlation_id")), "m-2");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ack,
	    "payload"), "target_message_id")), "m-2");
}
END_TEST

/*
 * An advert as the existing agents send it: no availability_status, extra
 * keys.  It is kept, as "online", and listed by agent.
 */
START_TEST(advert_without_availability_is_online)
{
	const char	*advert = "{\"message_id\":\"x2\",\"sender_ai_id\":"
			    "\"did:hsp:old\",\"message_type\":"
			    "\"HSP::CapabilityAdvertisement_v0.1\",\"payload\":"
			    "{\"capability_id\":\"did:hsp:old:sum\","
			    "\"ai_id\":\"did:hsp:old\",\"name\":\"sum\","
			    "\"description\":\"d\",\"version\":\"2.1\","
			    "\"parameters\":{\"a\":1},\"returns\":\"n\"}}";
	json_t		*agents, *capability;

	router_handle(connector, "hsp/capabilities/advertisements/did:hsp:old",
	    advert, strlen(advert), false);
	agents = discovery_agents(NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(agents, "agents")),
	    1);
	capability = json_array_get(json_object_get(json_array_get(
	    json_object_get(agents, "agents"), 0), "capabilities"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(capability,
	    "availability_status")), "online");
	ck_assert_str_eq(json_string_value(json_object_get(capability,
	    "version")), "2.1");
	json_decref(agents);
	/* A filter by name: this agent has "sum", not "echo". */
	agents = discovery_agents("sum");
	ck_assert_uint_eq(json_array_size(json_object_get(agents, "agents")),
	    1);
	json_decref(agents);
	agents = discovery_agents("echo");
	ck_assert_uint_eq(json_array_size(json_object_get(agents, "agents")),
	    0);
	json_decref(agents);
}
END_TEST

/* A request whose recipient is our request topic is for us. */
START_TEST(topic_recipient_is_for_us)
{
	json_t	*msg, *payload;
	char	*text;

	text = request("m-3", "c-3", false, NULL, NULL);
	msg = json_loads(text, 0, NULL);
	free(text);
	json_object_set_new(msg, "recipient_ai_id",
	    json_string("hsp/requests/did:hsp:me"));
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	feed(text);
	ck_assert_uint_eq(json_array_size(published), 1);
	payload = json_object_get(sent(0), "payload");
	ck_assert_str_eq(json_string_value(json_object_get(payload,
	    "status")), "success");
}
END_TEST

/*
 * Adverts are retained, one topic per capability under the agent's, with
 * an expiry of two intervals; at shutdown every tool says "offline".
 */
START_TEST(adverts_retained_per_capability)
{
	json_t	*entry;
	size_t	 i;

	router_readvertise();
	ck_assert_uint_eq(json_array_size(published), 1);	/* echo */
	entry = json_array_get(published, 0);
	ck_assert_str_eq(sent_topic(0),
	    "hsp/capabilities/advertisements/did:hsp:me/echo_v1");
	ck_assert(json_is_true(json_object_get(entry, "retain")));
	ck_assert_int_eq(json_integer_value(json_object_get(entry,
	    "expiry_s")), 600);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    sent(0), "payload"), "availability_status")), "online");
	json_array_clear(published);
	router_advertise_offline();
	/* Every tool, available or not: dialogue and echo. */
	ck_assert_uint_eq(json_array_size(published), 2);
	for (i = 0; i < 2; i++) {
		entry = json_array_get(published, i);
		ck_assert(json_is_true(json_object_get(entry, "retain")));
		ck_assert_int_eq(json_integer_value(json_object_get(entry,
		    "expiry_s")), 0);
		ck_assert_str_eq(json_string_value(json_object_get(
		    json_object_get(sent(i), "payload"),
		    "availability_status")), "offline");
	}
}
END_TEST

/* The wills: the offline advert of tool 0 and tool 1, none beyond. */
START_TEST(wills_are_offline_adverts)
{
	char	*topic, *text;
	json_t	*advert;

	ck_assert_int_eq(router_will("did:hsp:me", 0, &topic, &text), 0);
	ck_assert_str_eq(topic,
	    "hsp/capabilities/advertisements/did:hsp:me/dialogue_v1");
	advert = json_loads(text, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    advert, "payload"), "availability_status")), "offline");
	json_decref(advert);
	free(topic);
	free(text);
	ck_assert_int_eq(router_will("did:hsp:me", 1, &topic, &text), 0);
	ck_assert_str_eq(topic,
	    "hsp/capabilities/advertisements/did:hsp:me/echo_v1");
	free(topic);
	free(text);
	ck_assert_int_eq(router_will("did:hsp:me", 2, &topic, &text), -1);
}
END_TEST

START_TEST(adverts_feed_discovery)
{
	const char	*advert = "{\"message_id\":\"x1\",\"sender_ai_id\":"
			    "\"did:hsp:other\",\"message_type\":"
			    "\"HSP::CapabilityAdvertisement_v0.1\",\"payload\":"
			    "{\"capability_id\":\"did:hsp:other:t_v1\","
			    "\"ai_id\":\"did:hsp:other\",\"name\":\"t\","
			    "\"description\":\"d\",\"version\":\"1\","
			    "\"availability_status\":\"online\"}}";
	json_t		*status;

	router_handle(connector, "hsp/capabilities/advertisements/x", advert,
	    strlen(advert), false);
	status = discovery_status();
	ck_assert_int_eq(json_integer_value(json_object_get(status,
	    "capabilities")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(status,
	    "agents")), 1);
	json_decref(status);
}
END_TEST

/* An advert payload for capability NUMBER with a name of NAME_BYTES. */
static json_t *
big_advert(int number, size_t name_bytes)
{
	char	id[64], *name;
	json_t	*payload;

	snprintf(id, sizeof id, "did:hsp:other:cap-%d", number);
	name = malloc(name_bytes + 1);
	ck_assert_ptr_nonnull(name);
	memset(name, 'n', name_bytes);
	name[name_bytes] = '\0';
	payload = json_pack("{s:s, s:s, s:s, s:s}", "capability_id", id,
	    "ai_id", "did:hsp:other", "name", name, "availability_status",
	    "online");
	free(name);
	return (payload);
}

/* Integer member KEY of discovery's status. */
static json_int_t
discovery_figure(const char *key)
{
	json_t		*status = discovery_status();
	json_int_t	 value = json_integer_value(json_object_get(status, key));

	json_decref(status);
	return (value);
}

/*
 * Discovery is bounded in bytes: the entries seen least recently go first,
 * an advert larger than the whole bound is not kept, and a smaller bound
 * applies at once.
 */
START_TEST(discovery_bounded_in_bytes)
{
	struct config_hsp	 cfg = { .discovery_max_bytes = 65536 };
	json_t			*payload;
	int			 i;

	discovery_configure(&cfg);
	for (i = 0; i < 40; i++) {
		payload = big_advert(i, 10000);
		discovery_advert("did:hsp:other", payload);
		json_decref(payload);
		ck_assert_int_le(discovery_figure("bytes"), 65536);
	}
	ck_assert_int_eq(discovery_figure("max_bytes"), 65536);
	ck_assert_int_eq(discovery_figure("capabilities"), 6);
	ck_assert_int_eq(discovery_figure("evicted"), 34);

	/* The same id again replaces its entry: no eviction. */
	payload = big_advert(39, 10000);
	discovery_advert("did:hsp:other", payload);
	json_decref(payload);
	ck_assert_int_eq(discovery_figure("capabilities"), 6);
	ck_assert_int_eq(discovery_figure("evicted"), 34);

	payload = big_advert(100, 70000);
	discovery_advert("did:hsp:other", payload);
	json_decref(payload);
	ck_assert_int_eq(discovery_figure("too_large"), 1);
	ck_assert_int_eq(discovery_figure("capabilities"), 6);

	cfg.discovery_max_bytes = 20000;
	discovery_configure(&cfg);
	ck_assert_int_eq(discovery_figure("capabilities"), 1);
	ck_assert_int_le(discovery_figure("bytes"), 20000);
	discovery_configure(NULL);
	ck_assert_int_eq(discovery_figure("max_bytes"),
	    DISCOVERY_DEFAULT_MAX_BYTES);
}
END_TEST

/* At most DISCOVERY_MAX_ENTRIES entries, however small. */
START_TEST(discovery_bounded_in_entries)
{
	json_t	*payload;
	int	 i;

	discovery_configure(NULL);
	for (i = 0; i < DISCOVERY_MAX_ENTRIES + 100; i++) {
		payload = big_advert(i, 1);
		discovery_advert("did:hsp:other", payload);
		json_decref(payload);
	}
	ck_assert_int_eq(discovery_figure("capabilities"),
	    DISCOVERY_MAX_ENTRIES);
	ck_assert_int_eq(discovery_figure("evicted"), 100);
}
END_TEST

START_TEST(not_for_us_ignored)
{
	char	*text = request("m-1", "c", false, NULL, NULL);
	json_t	*msg = json_loads(text, 0, NULL);

	free(text);
	json_object_set_new(msg, "recipient_ai_id",
	    json_string("did:hsp:someone-else"));
	feed(json_dumps(msg, JSON_COMPACT));
	json_decref(msg);
	ck_assert_uint_eq(json_array_size(published), 0);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite	*s = suite_create("hsp");
	TCase	*env = tcase_create("envelope");
	TCase	*rt = tcase_create("router");

	tcase_add_test(env, envelope_variants_accepted);
	tcase_add_test(env, envelope_rejections_by_kind);
	tcase_add_test(env, envelope_built_canonical);
	tcase_add_checked_fixture(rt, setup, teardown);
	tcase_add_test(rt, echo_request_acked_and_answered);
	tcase_add_test(rt, duplicate_processed_once_but_acked_again);
	tcase_add_test(rt, dedup_window_is_bounded);
	tcase_add_test(rt, correlation_falls_back_to_message_id);
	tcase_add_test(rt, draining_rejects);
	tcase_add_test(rt, unknown_capability_fails);
	tcase_add_test(rt, unknown_capability_long_utf8_name_answered);
	tcase_add_test(rt, escaped_request_read_decoded);
	tcase_add_test(rt, error_message_escaped);
	tcase_add_test(rt, malformed_counted_never_answered);
	tcase_add_test(rt, ack_without_correlation_id);
	tcase_add_test(rt, advert_without_availability_is_online);
	tcase_add_test(rt, topic_recipient_is_for_us);
	tcase_add_test(rt, adverts_retained_per_capability);
	tcase_add_test(rt, wills_are_offline_adverts);
	tcase_add_test(rt, adverts_feed_discovery);
	tcase_add_test(rt, discovery_bounded_in_bytes);
	tcase_add_test(rt, discovery_bounded_in_entries);
	tcase_add_test(rt, not_for_us_ignored);
	suite_add_tcase(s, env);
	suite_add_tcase(s, rt);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(router_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
