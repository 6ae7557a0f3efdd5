/*
 * test_config.c -- unit tests of config.c: the schema of DESIGN.md section 4,
 * its defaults, and the exact text of the problems an operator reads
 * ("FILE:LINE:COLUMN: key.path: message").
 */

#include <sys/stat.h>

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotreload/protocol.h"
#include "config.h"
#include "config-internal.h"

/* Every key of the schema, each set to something other than its default. */
static const char full_config[] =
    "{\n"
    "  \"ai_id\": \"did:hsp:agent-1\",\n"
    "  \"control\": {\n"
    "    \"socket\": \"/run/hr/control.sock\",\n"
    "    \"mode\": \"0640\",\n"
    "    \"admin_uids\": [0, 1000],\n"
    "    \"admin_groups\": [\"root\"],\n"
    "    \"max_clients\": 8,\n"
    "    \"max_request_bytes\": 4096,\n"
    "    \"queue_depth\": 4,\n"
    "    \"command_timeout_s\": 60,\n"
    "    \"idle_timeout_s\": 30\n"
    "  },\n"
    "  \"drain\": { \"timeout_s\": 0 },\n"
    "  \"llm\": {\n"
    "    \"backends\": [\n"
    "      { \"name\": \"local\", \"provider\": \"openai\",\n"
    "        \"base_url\": \"http://127.0.0.1:8080/v1\",\n"
    "        \"model\": \"qwen2.5-0.5b\", \"api_key_env\": null,\n"
    "        \"api_key_file\": null, \"timeout_s\": 30,\n"
    "        \"max_in_flight\": 8 },\n"
    "      { \"name\": \"cloud.1\", \"provider\": \"anthropic\",\n"
    "        \"base_url\": \"https://api.example.com\",\n"
    "        \"model\": \"m\", \"api_key_env\": \"CLOUD_KEY\" },\n"
    "      { \"name\": \"ol\", \"provider\": \"ollama\",\n"
    "        \"base_url\": \"http://ollama:11434\", \"model\": \"llama3\",\n"
    "        \"api_key_file\": \"/etc/hr/key\" }\n"
    "    ],\n"
    "    \"fallback\": [\"cloud.1\", \"local\"],\n"
    "    \"probe_on_reload\": false,\n"
    "    \"retire_timeout_s\": 10\n"
    "  },\n"
    "  \"hsp\": {\n"
    "    \"broker\": { \"host\": \"broker.example\", \"port\": 8883,\n"
    "                \"username\": \"agent\",\n"
    "                \"password_file\": \"/etc/hr/mqtt.pw\",\n"
    "                \"tls\": { \"ca_file\": \"/etc/ssl/ca.pem\",\n"
    "                         \"ca_path\": null,\n"
    "                         \"cert_file\": \"/etc/hr/c.pem\",\n"
    "                         \"key_file\": \"/etc/hr/k.pem\" },\n"
    "                \"keepalive_s\": 5 },\n"
    "    \"protocol\": \"mqttv5\",\n"
    "    \"session\": \"persistent\",\n"
    "    \"share_group\": \"workers\",\n"
    "    \"extra_subscriptions\": [\"hsp/knowledge/facts/#\", \"a/+/b\"],\n"
    "    \"connect_timeout_s\": 600,\n"
    "    \"retire_timeout_s\": 3600,\n"
    "    \"dedup_window\": 16777216\n"
    "  },\n"
    "  \"metrics\": { \"listen\": \"[::1]:9464\" }\n"
    "}\n";

static char	*format(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

static struct config_problems	 problems;

/* Start each test with an empty problem list. */
static void
setup(void)
{
	memset(&problems, 0, sizeof problems);
}

/* Release what a test left behind. */
static void
teardown(void)
{
	config_problems_clear(&problems);
}

/* Load TEXT as if it were the file "t.conf". */
static struct config *
load(const char *text)
{
	return (config_load_buffer("t.conf", text, strlen(text), &problems));
}

/* Load TEXT, expect it to be rejected with exactly one error, EXPECTED. */
static void
expect_one_error(const char *text, const char *expected)
{
	struct config	*c;

	c = load(text);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert_uint_eq(problems.errors, 1);
	ck_assert(!problems.list[0].warning);
	ck_assert_str_eq(problems.list[0].text, expected);
}

/*
 * Load TEXT (to free), expect it to be rejected with exactly the errors
 * EXPECTED (ending with NULL), in that order.
 */
static void
expect_errors(char *text, const char *const *expected)
{
	struct config	*c;
	size_t		 i;

	c = load(text);
	free(text);
	ck_assert_ptr_null(c);
	for (i = 0; expected[i] != NULL; i++) {
		ck_assert_uint_gt(problems.count, i);
		ck_assert_str_eq(problems.list[i].text, expected[i]);
	}
	ck_assert_uint_eq(problems.count, i);
}

/* snprintf() into a new string. */
static char *
format(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return (s);
}

/* The minimal configuration with one more control member, MEMBER. */
static char *
control_with(const char *member)
{
	char	*text;

	text = format("{\"control\": {\"socket\": \"/tmp/x.sock\", %s}}",
	    member);
	return (text);
}

START_TEST(test_full_config)
{
	struct config		*c;
	struct config_backend	*b;

	c = load(full_config);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(problems.count, 0);

	ck_assert_str_eq(c->path, "t.conf");
	ck_assert_ptr_nonnull(c->root);
	ck_assert_str_eq(c->ai_id, "did:hsp:agent-1");

	ck_assert_str_eq(c->control.socket, "/run/hr/control.sock");
	ck_assert_uint_eq(c->control.mode, 0640);
	ck_assert_uint_eq(c->control.admin_uids_count, 2);
	ck_assert_uint_eq(c->control.admin_uids[0], 0);
	ck_assert_uint_eq(c->control.admin_uids[1], 1000);
	ck_assert_uint_eq(c->control.admin_groups_count, 1);
	ck_assert_str_eq(c->control.admin_groups[0], "root");
	ck_assert_uint_eq(c->control.admin_gids_count, 1);
	ck_assert_uint_eq(c->control.admin_gids[0], 0);
	ck_assert_int_eq(c->control.max_clients, 8);
	ck_assert_uint_eq(c->control.max_request_bytes, 4096);
	ck_assert_int_eq(c->control.queue_depth, 4);
	ck_assert_int_eq(c->control.command_timeout_s, 60);
	ck_assert_int_eq(c->control.idle_timeout_s, 30);
	ck_assert_int_eq(c->drain.timeout_s, 0);

	ck_assert_ptr_nonnull(c->llm);
	ck_assert_uint_eq(c->llm->backends_count, 3);
	b = &c->llm->backends[0];
	ck_assert_str_eq(b->name, "local");
	ck_assert_str_eq(b->provider, "openai");
	ck_assert_str_eq(b->base_url, "http://127.0.0.1:8080/v1");
	ck_assert_str_eq(b->model, "qwen2.5-0.5b");
	ck_assert_ptr_null(b->api_key_env);
	ck_assert_ptr_null(b->api_key_file);
	ck_assert_int_eq(b->timeout_s, 30);
	ck_assert_int_eq(b->max_in_flight, 8);
	b = &c->llm->backends[1];
	ck_assert_str_eq(b->name, "cloud.1");
	ck_assert_str_eq(b->provider, "anthropic");
	ck_assert_str_eq(b->base_url, "https://api.example.com");
	ck_assert_str_eq(b->api_key_env, "CLOUD_KEY");
	ck_assert_ptr_null(b->api_key_file);
	ck_assert_int_eq(b->timeout_s, 60);
	ck_assert_int_eq(b->max_in_flight, 64);
	b = &c->llm->backends[2];
	ck_assert_str_eq(b->provider, "ollama");
	ck_assert_ptr_null(b->api_key_env);
	ck_assert_str_eq(b->api_key_file, "/etc/hr/key");
	ck_assert_uint_eq(c->llm->fallback_count, 2);
	ck_assert_str_eq(c->llm->fallback[0], "cloud.1");
	ck_assert_str_eq(c->llm->fallback[1], "local");
	ck_assert(!c->llm->probe_on_reload);
	ck_assert_int_eq(c->llm->retire_timeout_s, 10);

	ck_assert_ptr_nonnull(c->hsp);
	ck_assert_str_eq(c->hsp->host, "broker.example");
	ck_assert_int_eq(c->hsp->port, 8883);
	ck_assert_str_eq(c->hsp->username, "agent");
	ck_assert_str_eq(c->hsp->password_file, "/etc/hr/mqtt.pw");
	ck_assert_ptr_nonnull(c->hsp->tls);
	ck_assert_str_eq(c->hsp->tls->ca_file, "/etc/ssl/ca.pem");
	ck_assert_ptr_null(c->hsp->tls->ca_path);
	ck_assert_str_eq(c->hsp->tls->cert_file, "/etc/hr/c.pem");
	ck_assert_str_eq(c->hsp->tls->key_file, "/etc/hr/k.pem");
	ck_assert_int_eq(c->hsp->tls->min_version, 12);
	ck_assert(!c->hsp->tls->insecure);
	ck_assert_int_eq(c->hsp->keepalive_s, 5);
	ck_assert_int_eq(c->hsp->protocol, 5);
	ck_assert(c->hsp->persistent);
	ck_assert_str_eq(c->hsp->share_group, "workers");
	ck_assert_uint_eq(c->hsp->extra_subscriptions_count, 2);
	ck_assert_str_eq(c->hsp->extra_subscriptions[0],
	    "hsp/knowledge/facts/#");
	ck_assert_str_eq(c->hsp->extra_subscriptions[1], "a/+/b");
	ck_assert_int_eq(c->hsp->connect_timeout_s, 600);
	ck_assert_int_eq(c->hsp->retire_timeout_s, 3600);
	ck_assert_uint_eq(c->hsp->dedup_window, 16777216);

	ck_assert_str_eq(c->metrics.listen, "[::1]:9464");
	config_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct config	*c;

	c = load("{\"control\":{\"socket\":\"/tmp/x.sock\"}}");
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(problems.count, 0);
	ck_assert_ptr_null(c->ai_id);
	ck_assert_str_eq(c->control.socket, "/tmp/x.sock");
	ck_assert_uint_eq(c->control.mode, 0660);
	ck_assert_uint_eq(c->control.mode, 0660);
	ck_assert_uint_eq(c->control.admin_uids_count, 0);
	ck_assert_uint_eq(c->control.admin_groups_count, 0);
	ck_assert_uint_eq(c->control.admin_gids_count, 0);
	ck_assert_int_eq(c->control.max_clients, 64);
	ck_assert_uint_eq(c->control.max_request_bytes, 65536);
	ck_assert_int_eq(c->control.queue_depth, 16);
	ck_assert_int_eq(c->control.command_timeout_s, 120);
	ck_assert_int_eq(c->control.idle_timeout_s, 300);
	ck_assert_int_eq(c->drain.timeout_s, 30);
	ck_assert_ptr_null(c->llm);
	ck_assert_ptr_null(c->hsp);
	ck_assert_ptr_null(c->metrics.listen);
	config_free(c);

	/* Even the socket has a default: the one hotreloadctl uses. */
	c = load("{\"control\":{}}");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->control.socket, HR_DEFAULT_SOCKET);
	config_free(c);
}
END_TEST

START_TEST(test_section_defaults)
{
	struct config	*c;

	c = load("{\"ai_id\": \"a\", \"control\": {},\n"
	    " \"llm\": {\"backends\": [{\"name\": \"x\", \"provider\": "
	    "\"openai\", \"base_url\": \"http://h\", \"model\": \"m\"},\n"
	    "   {\"name\": \"y\", \"provider\": \"ollama\", \"base_url\": "
	    "\"http://h\", \"model\": \"m\"}]},\n"
	    " \"hsp\": {\"broker\": {}}, \"drain\": {}, \"metrics\": {}}");
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(problems.count, 0);
	ck_assert_int_eq(c->llm->backends[0].timeout_s, 60);
	ck_assert_int_eq(c->llm->backends[0].max_in_flight, 64);
	ck_assert_uint_eq(c->llm->fallback_count, 2);
	ck_assert_str_eq(c->llm->fallback[0], "x");
	ck_assert_str_eq(c->llm->fallback[1], "y");
	ck_assert(c->llm->probe_on_reload);
	ck_assert_int_eq(c->llm->retire_timeout_s, 120);
	ck_assert_str_eq(c->hsp->host, "127.0.0.1");
	ck_assert_int_eq(c->hsp->port, 1883);
	ck_assert_ptr_null(c->hsp->username);
	ck_assert_ptr_null(c->hsp->password_file);
	ck_assert_ptr_null(c->hsp->tls);
	ck_assert_int_eq(c->hsp->keepalive_s, 60);
	ck_assert_int_eq(c->hsp->protocol, 5);
	ck_assert(!c->hsp->persistent);
	ck_assert_ptr_null(c->hsp->share_group);
	ck_assert_uint_eq(c->hsp->extra_subscriptions_count, 0);
	ck_assert_int_eq(c->hsp->connect_timeout_s, 10);
	ck_assert_int_eq(c->hsp->retire_timeout_s, 30);
	ck_assert_uint_eq(c->hsp->dedup_window, 65536);
	ck_assert_int_eq(c->drain.timeout_s, 30);
	ck_assert_ptr_null(c->metrics.listen);
	config_free(c);
}
END_TEST

START_TEST(test_invalid_json)
{
	expect_one_error("{\n  \"control\": {\n    \"socket\": \"/tmp/x.sock\",\n"
	    "  }\n}\n",
	    "t.conf:4:3: invalid JSON: string or '}' expected near '}'");
	teardown();
	expect_one_error("",
	    "t.conf:1:1: invalid JSON: unexpected token near end of file");
	teardown();
	expect_one_error("{\"control\": {}, \"control\": {}}",
	    "t.conf:1:25: invalid JSON: duplicate object key near "
	    "'\"control\"'");
}
END_TEST

START_TEST(test_comment_lines)
{
	struct config	*c;

	/*
	 * Lines whose first non-blank character is '#' are comments; lines
	 * and columns stay as written, and '#' inside a string is kept.
	 */
	c = load("# hotreloadd.conf\n"
	    "{\n"
	    "  # the agent\n"
	    "\t# \xc3\xa9t\xc3\xa9 \"quoted\" { [\n"
	    "  \"ai_id\": \"did:hsp:#1\",\n"
	    "  \"control\": {\"queue_depth\": 0}\n"
	    "}\n"
	    "# the end\n");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 2);
	ck_assert_str_eq(problems.list[0].text, "t.conf:5:3: ai_id: expected a "
	    "non-empty string without '/', '+' or '#', got the string "
	    "\"did:hsp:#1\"");
	ck_assert_str_eq(problems.list[1].text, "t.conf:6:15: "
	    "control.queue_depth: expected an integer from 1 to 1024, got 0");
	config_problems_clear(&problems);

	c = load("{\"control\": {},\n  # \"drain\": {\"timeout_s\": 5},\n"
	    "  \"metrics\": {\"listen\": \"127.0.0.1:9464\"}}");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->drain.timeout_s, 30);
	ck_assert_str_eq(c->metrics.listen, "127.0.0.1:9464");
	config_free(c);

	/* Only whole lines: a '#' after a value is still a JSON error. */
	expect_one_error("{\"control\": {}} # note\n",
	    "t.conf:1:17: invalid JSON: end of file expected near '#'");
}
END_TEST

START_TEST(test_top_level_not_object)
{
	expect_one_error("\n  [1, 2]\n",
	    "t.conf:2:3: expected an object at the top level, got an array");
}
END_TEST

START_TEST(test_unknown_key)
{
	expect_one_error("{\"control\": {\n\t\"sockte\": \"/tmp/x.sock\"}}",
	    "t.conf:2:2: control.sockte: unknown key "
	    "(did you mean \"socket\"?)");
	teardown();
	expect_one_error("{\"control\": {},\n \"colour\": 1}",
	    "t.conf:2:2: colour: unknown key");
	teardown();
	/* A key that would garble the path is quoted. */
	expect_one_error("{\"control\": {\"a.b\\n\": 1}}",
	    "t.conf:1:14: control[\"a.b\\n\"]: unknown key");
}
END_TEST

START_TEST(test_wrong_type)
{
	char	*text;

	text = control_with("\n\"max_clients\": \"64\"");
	expect_one_error(text, "t.conf:2:1: control.max_clients: expected an "
	    "integer from 1 to 4096, got the string \"64\"");
	free(text);
	teardown();

	text = control_with("\"max_clients\": 1.5");
	expect_one_error(text, "t.conf:1:39: control.max_clients: expected an "
	    "integer from 1 to 4096, got 1.5");
	free(text);
	teardown();

	text = control_with("\"max_clients\": 64.0");
	expect_one_error(text, "t.conf:1:39: control.max_clients: expected an "
	    "integer from 1 to 4096, got 64.0");
	free(text);
	teardown();

	expect_one_error("{\"control\": [],\n \"drain\": {}}",
	    "t.conf:1:2: control: expected an object, got an array");
	teardown();

	expect_one_error("{\"control\": {}, \"llm\": {\"backends\": []}}",
	    "t.conf:1:25: llm.backends: expected a non-empty array of back ends");
	teardown();

	expect_one_error("{\"control\": {}, \"llm\": {\"backends\": [{\"name\": "
	    "\"a\", \"provider\": \"openai\", \"base_url\": \"http://h\", "
	    "\"model\": \"m\"}],\n \"probe_on_reload\": \"yes\"}}",
	    "t.conf:2:2: llm.probe_on_reload: expected true or false, got the "
	    "string \"yes\"");
}
END_TEST

START_TEST(test_wrong_type_several)
{
	struct config	*c;

	c = load("{\"control\": {},\n \"drain\": 3,\n"
	    " \"metrics\": {\"listen\": 9464}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 2);
	ck_assert_str_eq(problems.list[0].text,
	    "t.conf:2:2: drain: expected an object, got 3");
	ck_assert_str_eq(problems.list[1].text,
	    "t.conf:3:14: metrics.listen: expected \"HOST:PORT\" with a port "
	    "from 1 to 65535 (such as \"127.0.0.1:9464\" or \"[::1]:9464\"), "
	    "or null, got 9464");
}
END_TEST

START_TEST(test_out_of_range)
{
	char	*text;

	text = control_with("\"max_clients\": 0");
	expect_one_error(text, "t.conf:1:39: control.max_clients: expected an "
	    "integer from 1 to 4096, got 0");
	free(text);
	teardown();

	text = control_with("\"max_request_bytes\": 16777217");
	expect_one_error(text, "t.conf:1:39: control.max_request_bytes: "
	    "expected an integer from 256 to 16777216, got 16777217");
	free(text);
	teardown();

	expect_one_error("{\"control\": {}, \"drain\": {\"timeout_s\": -1}}",
	    "t.conf:1:27: drain.timeout_s: expected an integer from 0 to "
	    "86400, got -1");
	teardown();

	expect_one_error("{\"control\": {}, \"ai_id\": \"a\", \"hsp\": "
	    "{\"broker\": {\"port\": 65536}}}",
	    "t.conf:1:50: hsp.broker.port: expected an integer from 1 to "
	    "65535, got 65536");
	teardown();

	text = control_with("\"idle_timeout_s\": 86401");
	expect_one_error(text, "t.conf:1:39: control.idle_timeout_s: expected "
	    "an integer from 1 to 86400, got 86401");
	free(text);
}
END_TEST

START_TEST(test_missing_control)
{
	expect_one_error("\n  {\"drain\": {\"timeout_s\": 5}}",
	    "t.conf:2:3: control: required key is missing");
}
END_TEST

START_TEST(test_missing_backend_model)
{
	expect_one_error(
	    "{\"control\": {},\n"
	    " \"llm\": {\n"
	    "  \"backends\": [\n"
	    "    {\"name\": \"a\", \"provider\": \"openai\",\n"
	    "     \"base_url\": \"http://h\"}\n"
	    "  ]}}",
	    "t.conf:4:5: llm.backends[0].model: required key is missing");
}
END_TEST

START_TEST(test_ai_id_missing_with_hsp)
{
	expect_one_error("{\"control\": {},\n  \"hsp\": {\"broker\": {}}}",
	    "t.conf:2:3: hsp: requires the top-level key \"ai_id\" "
	    "(the agent's id)");
	teardown();
	expect_one_error("{\"control\": {}, \"ai_id\": \"a/b\"}",
	    "t.conf:1:17: ai_id: expected a non-empty string without '/', "
	    "'+' or '#', got the string \"a/b\"");
}
END_TEST

/* Two back ends, local and cloud, then FALLBACK as the fallback member. */
static char *
llm_with_fallback(const char *fallback)
{
	char	*text;

	text = format("{\"control\": {}, \"llm\": {\"backends\": [\n"
	    "{\"name\": \"local\", \"provider\": \"openai\", "
	    "\"base_url\": \"http://h\", \"model\": \"m\"},\n"
	    "{\"name\": \"cloud\", \"provider\": \"openai\", "
	    "\"base_url\": \"http://h\", \"model\": \"m\"}],\n"
	    "\"fallback\": %s}}", fallback);
	return (text);
}

START_TEST(test_unknown_fallback)
{
	char	*text;

	text = llm_with_fallback("[\"local\", \"lokal\"]");
	expect_one_error(text, "t.conf:4:23: llm.fallback[1]: no back end is "
	    "named \"lokal\" (did you mean \"local\"?)");
	free(text);
	teardown();

	text = llm_with_fallback("[\"remote\"]");
	expect_one_error(text, "t.conf:4:14: llm.fallback[0]: no back end is "
	    "named \"remote\"");
	free(text);
	teardown();

	text = llm_with_fallback("[\"cloud\", \"cloud\"]");
	expect_one_error(text, "t.conf:4:23: llm.fallback[1]: back end "
	    "\"cloud\" is listed twice");
	free(text);
	teardown();

	text = llm_with_fallback("[]");
	expect_one_error(text, "t.conf:4:1: llm.fallback: expected a non-empty "
	    "array of back-end names (leave it out to try every back end in "
	    "order)");
	free(text);
}
END_TEST

START_TEST(test_duplicate_backend_names)
{
	expect_one_error("{\"control\": {}, \"llm\": {\"backends\": [\n"
	    "{\"name\": \"a\", \"provider\": \"openai\", "
	    "\"base_url\": \"http://h\", \"model\": \"m\"},\n"
	    "{\"name\": \"a\", \"provider\": \"ollama\", "
	    "\"base_url\": \"http://h\", \"model\": \"m\"}]}}",
	    "t.conf:3:2: llm.backends[1].name: duplicate back-end name \"a\" "
	    "(already used by llm.backends[0])");
}
END_TEST

START_TEST(test_both_api_key_sources)
{
	expect_one_error("{\"control\": {}, \"llm\": {\"backends\": [\n"
	    "{\"name\": \"a\", \"provider\": \"openai\", "
	    "\"base_url\": \"http://h\", \"model\": \"m\",\n"
	    " \"api_key_env\": \"KEY\", \"api_key_file\": \"/k\"}]}}",
	    "t.conf:3:24: llm.backends[0].api_key_file: cannot be set together "
	    "with api_key_env; set one of them (or neither)");
}
END_TEST

/* One back end of provider PROVIDER with more members MORE, as a file. */
static char *
backend_with(const char *provider, const char *more)
{
	return (format("{\"control\": {}, \"llm\": {\"backends\": [\n"
	    "{\"name\": \"a\", \"provider\": \"%s\", "
	    "\"base_url\": \"http://h\", \"model\": \"m\",\n%s}]}}", provider,
	    more));
}

/* params, cost and rate_limit: values kept, defaults "not set". */
START_TEST(test_backend_params)
{
	struct config		*c;
	struct config_backend	*b;
	char			*text;

	text = backend_with("openai", " \"params\": {\"temperature\": 0.5, "
	    "\"top_p\": 1, \"max_tokens\": 300, \"stop\": [\"END\", \"##\"], "
	    "\"seed\": 0, \"presence_penalty\": -2, \"frequency_penalty\": "
	    "null},\n \"cost\": {\"input_per_1k\": 0.25, \"output_per_1k\": 2},"
	    "\n \"rate_limit\": {\"requests_per_minute\": 2, "
	    "\"max_wait_s\": 5}");
	c = load(text);
	free(text);
	ck_assert_ptr_nonnull(c);
	b = &c->llm->backends[0];
	ck_assert(b->params.temperature == 0.5);
	ck_assert(b->params.top_p == 1);
	ck_assert_int_eq(b->params.max_tokens, 300);
	ck_assert_uint_eq(b->params.stop_count, 2);
	ck_assert_str_eq(b->params.stop[1], "##");
	ck_assert_int_eq(b->params.seed, 0);
	ck_assert(b->params.presence_penalty == -2);
	ck_assert(isnan(b->params.frequency_penalty));
	ck_assert(b->cost.input_per_1k == 0.25);
	ck_assert(b->cost.output_per_1k == 2);
	ck_assert_int_eq(b->rate_limit.requests_per_minute, 2);
	ck_assert_int_eq(b->rate_limit.tokens_per_minute, CONFIG_UNSET);
	ck_assert_int_eq(b->rate_limit.max_wait_s, 5);
	ck_assert_ptr_null(b->deployment);
	ck_assert_uint_eq(b->headers_count, 0);
	config_free(c);

	/* Nothing set: nothing sent, no cost, no limit. */
	text = backend_with("openai", " \"timeout_s\": 60");
	c = load(text);
	free(text);
	ck_assert_ptr_nonnull(c);
	b = &c->llm->backends[0];
	ck_assert(isnan(b->params.temperature) && isnan(b->params.top_p));
	ck_assert_int_eq(b->params.max_tokens, CONFIG_UNSET);
	ck_assert_int_eq(b->params.seed, CONFIG_UNSET);
	ck_assert_uint_eq(b->params.stop_count, 0);
	ck_assert(b->cost.input_per_1k == 0 && b->cost.output_per_1k == 0);
	ck_assert_int_eq(b->rate_limit.requests_per_minute, CONFIG_UNSET);
	ck_assert_int_eq(b->rate_limit.max_wait_s, 0);
	ck_assert_str_eq(b->api_version, "2024-10-21");
	config_free(c);
}
END_TEST

/* The bounds of params, cost and rate_limit, with their exact messages. */
START_TEST(test_backend_params_bounds)
{
	static const char *const expected[] = {
		"t.conf:3:13: llm.backends[0].params.temperature: expected a "
		"number from 0 to 2, or null, got 2.5",
		"t.conf:3:33: llm.backends[0].params.top_p: expected a number "
		"from 0 to 1, or null, got the string \"1\"",
		"t.conf:3:47: llm.backends[0].params.max_tokens: expected an "
		"integer from 1 to 1000000, or null, got 0",
		"t.conf:3:64: llm.backends[0].params.seed: expected an integer "
		"from 0 to 2147483647, or null, got 1.5",
		"t.conf:3:86: llm.backends[0].params.stop[0]: expected a "
		"non-empty string, got the string \"\"",
		"t.conf:4:11: llm.backends[0].cost.input_per_1k: expected a "
		"number from 0 to 1000000, got -1",
		"t.conf:5:17: llm.backends[0].rate_limit.requests_per_minute: "
		"expected an integer from 1 to 1000000, or null, got 0",
		"t.conf:5:43: llm.backends[0].rate_limit.max_wait_s: expected "
		"an integer from 0 to 3600, got null",
		NULL
	};
	char	*text;

	expect_errors(backend_with("openai", " \"params\": {\"temperature\": "
	    "2.5, \"top_p\": \"1\", \"max_tokens\": 0, \"seed\": 1.5, "
	    "\"stop\": [\"\"]},\n \"cost\": {\"input_per_1k\": -1},\n "
	    "\"rate_limit\": {\"requests_per_minute\": 0, \"max_wait_s\": "
	    "null}"), expected);

	config_problems_clear(&problems);
	text = backend_with("openai", " \"params\": {\"stop\": [\"1\", \"2\", "
	    "\"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\", \"10\", \"11\", "
	    "\"12\", \"13\", \"14\", \"15\", \"16\", \"17\"]}");
	expect_one_error(text, "t.conf:3:13: llm.backends[0].params.stop: "
	    "expected at most 16 stop sequences, got 17");
	free(text);
}
END_TEST

/*
 * azure_openai needs a deployment; the others take neither a deployment
 * nor an api_version.
 */
START_TEST(test_backend_azure_keys)
{
	struct config	*c;
	char		*text;

	text = backend_with("azure_openai", " \"timeout_s\": 60");
	expect_one_error(text, "t.conf:2:1: llm.backends[0].deployment: "
	    "required key is missing");
	free(text);
	config_problems_clear(&problems);

	text = backend_with("openai", " \"deployment\": \"d\"");
	expect_one_error(text, "t.conf:3:2: llm.backends[0].deployment: "
	    "only \"provider\": \"azure_openai\" takes a deployment");
	free(text);
	config_problems_clear(&problems);

	text = backend_with("google", " \"api_version\": \"2024-10-21\"");
	expect_one_error(text, "t.conf:3:2: llm.backends[0].api_version: "
	    "only \"provider\": \"azure_openai\" takes an api_version");
	free(text);
	config_problems_clear(&problems);

	text = backend_with("azure_openai", " \"deployment\": \"gpt4o\", "
	    "\"api_version\": \"2025-01-01-preview\"");
	c = load(text);
	free(text);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->llm->backends[0].provider, "azure_openai");
	ck_assert_str_eq(c->llm->backends[0].deployment, "gpt4o");
	ck_assert_str_eq(c->llm->backends[0].api_version,
	    "2025-01-01-preview");
	config_free(c);
}
END_TEST

/*
 * headers: literal, env and file values in file order; a file value is
 * digested as api_key_file is.
 */
START_TEST(test_backend_headers)
{
	struct config		*c;
	struct config_backend	*b;
	char			*text;

	text = backend_with("openai", " \"headers\": {\"X-Title\": "
	    "\"demo app\", \"X-Env\": {\"env\": \"GW_TOKEN\"}, "
	    "\"X-File\": {\"file\": \"/etc/gw.token\"}}");
	c = load(text);
	free(text);
	ck_assert_ptr_nonnull(c);
	b = &c->llm->backends[0];
	ck_assert_uint_eq(b->headers_count, 3);
	ck_assert_str_eq(b->headers[0].name, "X-Title");
	ck_assert_int_eq(b->headers[0].source, CONFIG_HEADER_LITERAL);
	ck_assert_str_eq(b->headers[0].value, "demo app");
	ck_assert_str_eq(b->headers[1].name, "X-Env");
	ck_assert_int_eq(b->headers[1].source, CONFIG_HEADER_ENV);
	ck_assert_str_eq(b->headers[1].value, "GW_TOKEN");
	ck_assert_int_eq(b->headers[2].source, CONFIG_HEADER_FILE);
	ck_assert_str_eq(b->headers[2].value, "/etc/gw.token");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    c->files, "llm.backends[0].headers.X-File.file"), "path")),
	    "/etc/gw.token");
	config_free(c);
}
END_TEST

/* What headers refuses, without quoting a value back. */
START_TEST(test_backend_headers_refused)
{
	static const char *const expected[] = {
		"t.conf:3:14: llm.backends[0].headers[\"Bad Name\"]: expected "
		"a header name of 1 to 64 letters, digits or !#$%&'*+-.^_`|~",
		"t.conf:3:31: llm.backends[0].headers.content-type: hotreloadd "
		"sets this header itself",
		/* The value is not quoted back: it may be a credential. */
		"t.conf:3:61: llm.backends[0].headers.X-A: expected a header "
		"value of 1 to 8192 bytes, without control characters or "
		"spaces at either end",
		"t.conf:3:88: llm.backends[0].headers.X-C: expected a string, "
		"{\"env\": VARIABLE} or {\"file\": PATH}, got an object",
		"t.conf:3:131: llm.backends[0].headers.X-D.path: unknown key",
		"t.conf:3:154: llm.backends[0].headers.X-E.file: expected an "
		"absolute path, got the string \"f\"",
		"t.conf:3:181: llm.backends[0].headers.x-f: the header X-F is "
		"already set (header names are not case-sensitive)",
		"t.conf:3:197: llm.backends[0].headers.X-G: expected a string, "
		"{\"env\": VARIABLE} or {\"file\": PATH}, got 3",
		NULL
	};
	char	*text, *members, *more;
	int	 i;

	expect_errors(backend_with("openai", " \"headers\": {\"Bad Name\": "
	    "\"v\", \"content-type\": \"text/plain\", "
	    "\"X-A\": \"secret\\r\\nX-B: 1\", "
	    "\"X-C\": {\"env\": \"A\", \"file\": \"/f\"}, "
	    "\"X-D\": {\"path\": \"/f\"}, \"X-E\": {\"file\": \"f\"}, "
	    "\"X-F\": \"ok\", \"x-f\": \"again\", \"X-G\": 3}"), expected);

	/* At most 32 headers. */
	config_problems_clear(&problems);
	members = format("\"H0\": \"v\"");
	for (i = 1; i < 33; i++) {
		more = format("%s, \"H%d\": \"v\"", members, i);
		free(members);
		members = more;
	}
	more = format(" \"headers\": {%s}", members);
	text = backend_with("openai", more);
	expect_one_error(text, "t.conf:3:2: llm.backends[0].headers: "
	    "expected at most 32 headers, got 33");
	free(text);
	free(more);
	free(members);
}
END_TEST

START_TEST(test_backend_values)
{
	struct config	*c;

	c = load("{\"control\": {}, \"llm\": {\"backends\": [\n"
	    "{\"name\": \"a b\", \"provider\": \"opnai\", "
	    "\"base_url\": \"ftp://h\", \"model\": \"\",\n"
	    " \"api_key_env\": \"1KEY\", \"api_key_file\": null, "
	    "\"timeout_s\": 3601}]}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 6);
	ck_assert_str_eq(problems.list[0].text, "t.conf:2:2: "
	    "llm.backends[0].name: expected a name of 1 to 64 letters, digits, "
	    "'_', '.' or '-', got the string \"a b\"");
	ck_assert_str_eq(problems.list[1].text, "t.conf:2:17: "
	    "llm.backends[0].provider: expected one of \"openai\", \"ollama\", "
	    "\"anthropic\", \"azure_openai\", \"google\" or \"cohere\", got "
	    "the string \"opnai\" "
	    "(did you mean \"openai\"?)");
	ck_assert_str_eq(problems.list[2].text, "t.conf:2:38: "
	    "llm.backends[0].base_url: expected a URL starting with http:// or "
	    "https://, got the string \"ftp://h\"");
	ck_assert_str_eq(problems.list[3].text, "t.conf:2:61: "
	    "llm.backends[0].model: expected a non-empty string, got the "
	    "string \"\"");
	ck_assert_str_eq(problems.list[4].text, "t.conf:3:2: "
	    "llm.backends[0].api_key_env: expected an environment variable "
	    "name (letters, digits and '_', not starting with a digit), or "
	    "null, got the string \"1KEY\"");
	ck_assert_str_eq(problems.list[5].text, "t.conf:3:47: "
	    "llm.backends[0].timeout_s: expected an integer from 1 to 3600, "
	    "got 3601");
}
END_TEST

START_TEST(test_bad_mode)
{
	char	*text;

	text = control_with("\"mode\": \"0999\"");
	expect_one_error(text, "t.conf:1:39: control.mode: expected a string "
	    "of octal digits from \"0000\" to \"0777\" (such as \"0660\"), got "
	    "the string \"0999\"");
	free(text);
	teardown();

	text = control_with("\"mode\": \"1777\"");
	expect_one_error(text, "t.conf:1:39: control.mode: expected a string "
	    "of octal digits from \"0000\" to \"0777\" (such as \"0660\"), got "
	    "the string \"1777\"");
	free(text);
	teardown();

	/* JSON has no octal numbers: 660 would not mean what it looks like. */
	text = control_with("\"mode\": 660");
	expect_one_error(text, "t.conf:1:39: control.mode: expected a string "
	    "of octal digits from \"0000\" to \"0777\" (such as \"0660\"), got "
	    "660");
	free(text);
	teardown();

	{
		struct config	*c;

		text = control_with("\"mode\": \"600\"");
		c = load(text);
		ck_assert_ptr_nonnull(c);
		ck_assert_uint_eq(c->control.mode, 0600);
		config_free(c);
		free(text);
	}
}
END_TEST

START_TEST(test_socket)
{
	struct config	*c;
	char		 path[200], *text;

	expect_one_error("{\"control\": {\"socket\": \"run/x.sock\"}}",
	    "t.conf:1:14: control.socket: expected an absolute path, got the "
	    "string \"run/x.sock\"");
	teardown();

	/* sun_path holds 108 bytes with the NUL: 107 fit, 108 do not. */
	memset(path, 'a', sizeof path);
	path[0] = '/';
	path[107] = '\0';
	text = format("{\"control\": {\"socket\": \"%s\"}}", path);
	c = load(text);
	ck_assert_ptr_nonnull(c);
	config_free(c);
	free(text);

	path[107] = 'a';
	path[108] = '\0';
	text = format("{\"control\": {\"socket\": \"%s\"}}", path);
	expect_one_error(text, "t.conf:1:14: control.socket: expected an "
	    "absolute path shorter than 108 bytes, got a path of 108 bytes");
	free(text);
}
END_TEST

START_TEST(test_hsp_tls_values)
{
	struct config	*c;

	c = load("{\"control\": {}, \"ai_id\": \"a\", \"hsp\": {\n"
	    "\"broker\": {\"tls\": {\"ca_file\": \"/ca\",\n"
	    "  \"min_version\": \"tlsv1.1\", \"insecure\": \"yes\"}}}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 2);
	ck_assert_str_eq(problems.list[0].text, "t.conf:3:3: "
	    "hsp.broker.tls.min_version: expected \"tlsv1.2\" or \"tlsv1.3\", "
	    "got the string \"tlsv1.1\" (did you mean \"tlsv1.2\"?)");
	ck_assert_str_eq(problems.list[1].text, "t.conf:3:29: "
	    "hsp.broker.tls.insecure: expected true or false, got the string "
	    "\"yes\"");
	c = load("{\"control\": {}, \"ai_id\": \"a\", \"hsp\": {\n"
	    "\"broker\": {\"tls\": {\"ca_path\": \"/ca\",\n"
	    "  \"min_version\": \"tlsv1.3\", \"insecure\": true}}}}");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->hsp->tls->min_version, 13);
	ck_assert(c->hsp->tls->insecure);
	config_free(c);
}
END_TEST

START_TEST(test_llm_tls_values)
{
	struct config	*c;

	c = load("{\"control\": {}, \"llm\": {\"backends\": [\n"
	    "{\"name\": \"a\", \"provider\": \"openai\", "
	    "\"base_url\": \"https://h\", \"model\": \"m\",\n"
	    " \"tls\": {\"ca_file\": \"ca.pem\", \"cert_file\": \"/c\"}}]}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 2);
	ck_assert_str_eq(problems.list[0].text, "t.conf:3:2: "
	    "llm.backends[0].tls: cert_file and key_file go together: set "
	    "both or neither");
	ck_assert_str_eq(problems.list[1].text, "t.conf:3:10: "
	    "llm.backends[0].tls.ca_file: expected an absolute path, or null, "
	    "got the string \"ca.pem\"");
	c = load("{\"control\": {}, \"llm\": {\"backends\": [\n"
	    "{\"name\": \"a\", \"provider\": \"openai\", "
	    "\"base_url\": \"https://h\", \"model\": \"m\",\n"
	    " \"tls\": {\"ca_file\": \"/ca.pem\", \"cert_file\": \"/c\", "
	    "\"key_file\": \"/k\"}}]}}");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->llm->backends[0].tls->ca_file, "/ca.pem");
	ck_assert_str_eq(c->llm->backends[0].tls->key_file, "/k");
	ck_assert_ptr_null(c->llm->backends[0].tls->ca_path);
	config_free(c);
}
END_TEST

START_TEST(test_hsp_values)
{
	struct config	*c;

	c = load("{\"control\": {}, \"ai_id\": \"a\", \"hsp\": {\n"
	    "\"broker\": {\"host\": \"\", \"password_file\": \"pw\",\n"
	    "  \"tls\": {\"cert_file\": \"/c\"}},\n"
	    "\"protocol\": \"mqtt5\", \"session\": \"dirty\",\n"
	    "\"share_group\": \"a+b\",\n"
	    "\"extra_subscriptions\": [\"a/#\", \"a/#/b\", \"a+\", \"\"]}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 10);
	ck_assert_str_eq(problems.list[0].text, "t.conf:2:12: "
	    "hsp.broker.host: expected a non-empty string, got the string \"\"");
	ck_assert_str_eq(problems.list[1].text, "t.conf:2:24: "
	    "hsp.broker.password_file: expected an absolute path, or null, got "
	    "the string \"pw\"");
	ck_assert_str_eq(problems.list[2].text, "t.conf:3:3: "
	    "hsp.broker.tls: set ca_file or ca_path (or both) to verify the "
	    "broker");
	ck_assert_str_eq(problems.list[3].text, "t.conf:3:3: "
	    "hsp.broker.tls: cert_file and key_file go together: set both or "
	    "neither");
	ck_assert_str_eq(problems.list[4].text, "t.conf:4:1: "
	    "hsp.protocol: expected \"mqttv5\" or \"mqttv311\", got the string "
	    "\"mqtt5\" (did you mean \"mqttv5\"?)");
	ck_assert_str_eq(problems.list[5].text, "t.conf:4:22: "
	    "hsp.session: expected \"clean\" or \"persistent\", got the string "
	    "\"dirty\"");
	ck_assert_str_eq(problems.list[6].text, "t.conf:5:1: "
	    "hsp.share_group: expected a non-empty string without '/', '+' or "
	    "'#', or null, got the string \"a+b\"");
	ck_assert_str_eq(problems.list[7].text, "t.conf:6:32: "
	    "hsp.extra_subscriptions[1]: expected an MQTT topic filter, got the "
	    "string \"a/#/b\"");
	ck_assert_str_eq(problems.list[8].text, "t.conf:6:41: "
	    "hsp.extra_subscriptions[2]: expected an MQTT topic filter, got the "
	    "string \"a+\"");
	ck_assert_str_eq(problems.list[9].text, "t.conf:6:47: "
	    "hsp.extra_subscriptions[3]: expected an MQTT topic filter, got the "
	    "string \"\"");
}
END_TEST

START_TEST(test_metrics_listen)
{
	static const char *const good[] = {
		"127.0.0.1:9464", "[::1]:9464", "localhost:1", "h:65535"
	};
	static const char *const bad[] = {
		"::1:9464", ":9464", "h:", "h:0", "h:65536", "[]:1", "[::1]9464",
		"h:12a", "h", "a b:1"
	};
	struct config	*c;
	char		*text;
	size_t		 i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		text = format("{\"control\": {}, \"metrics\": "
		    "{\"listen\": \"%s\"}}", good[i]);
		c = load(text);
		ck_assert_msg(c != NULL, "%s rejected", good[i]);
		ck_assert_str_eq(c->metrics.listen, good[i]);
		config_free(c);
		free(text);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		text = format("{\"control\": {}, \"metrics\": "
		    "{\"listen\": \"%s\"}}", bad[i]);
		c = load(text);
		ck_assert_msg(c == NULL, "%s accepted", bad[i]);
		ck_assert_uint_eq(problems.count, 1);
		ck_assert_ptr_nonnull(strstr(problems.list[0].text,
		    "t.conf:1:29: metrics.listen: expected \"HOST:PORT\""));
		config_problems_clear(&problems);
		free(text);
	}
}
END_TEST

START_TEST(test_errors_in_file_order)
{
	struct config	*c;

	/*
	 * The validators meet these in another order (hsp is checked before
	 * its missing ai_id is noticed, control before the top-level typo);
	 * the operator reads them top to bottom.
	 */
	c = load("{\n"
	    "  \"hsp\": {\"broker\": {\"port\": 0}},\n"
	    "  \"control\": {\"max_clients\": 0,\n"
	    "              \"queue_depth\": \"x\"},\n"
	    "  \"metrcs\": {},\n"
	    "  \"drain\": {\"timeout_s\": 1e9}\n"
	    "}\n");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 6);
	ck_assert_uint_eq(problems.errors, 6);
	ck_assert_str_eq(problems.list[0].text,
	    "t.conf:2:3: hsp: requires the top-level key \"ai_id\" "
	    "(the agent's id)");
	ck_assert_str_eq(problems.list[1].text,
	    "t.conf:2:22: hsp.broker.port: expected an integer from 1 to "
	    "65535, got 0");
	ck_assert_str_eq(problems.list[2].text,
	    "t.conf:3:15: control.max_clients: expected an integer from 1 to "
	    "4096, got 0");
	ck_assert_str_eq(problems.list[3].text,
	    "t.conf:4:15: control.queue_depth: expected an integer from 1 to "
	    "1024, got the string \"x\"");
	ck_assert_str_eq(problems.list[4].text,
	    "t.conf:5:3: metrcs: unknown key (did you mean \"metrics\"?)");
	ck_assert_str_eq(problems.list[5].text,
	    "t.conf:6:13: drain.timeout_s: expected an integer from 0 to "
	    "86400, got 1e9");
}
END_TEST

START_TEST(test_positions_after_escapes)
{
	struct config	*c;

	/*
	 * Columns count characters, as jansson's do: "é" and "€" are one
	 * column each, an escaped quote two, "\u00e9" six.
	 */
	c = load("{\"ai_id\": \"\\u00e9\\\"€é\", \"control\": {\"x\": [1, {}]},\n"
	    "\t\"metrics\": {\"li\\u0073ten\": \"nope\"}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 2);
	ck_assert_str_eq(problems.list[0].text,
	    "t.conf:1:37: control.x: unknown key");
	ck_assert_str_eq(problems.list[1].text,
	    "t.conf:2:14: metrics.listen: expected \"HOST:PORT\" with a port "
	    "from 1 to 65535 (such as \"127.0.0.1:9464\" or \"[::1]:9464\"), "
	    "or null, got the string \"nope\"");
}
END_TEST

START_TEST(test_array_element_positions)
{
	struct config	*c;

	c = load("{\"control\": {\"admin_uids\": [\n"
	    "   0,\n"
	    "   [1, 2],\n"
	    "   -5,\n"
	    "   \"root\"]}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 3);
	ck_assert_str_eq(problems.list[0].text,
	    "t.conf:3:4: control.admin_uids[1]: expected an integer from 0 to "
	    "4294967294, got an array");
	ck_assert_str_eq(problems.list[1].text,
	    "t.conf:4:4: control.admin_uids[2]: expected an integer from 0 to "
	    "4294967294, got -5");
	ck_assert_str_eq(problems.list[2].text,
	    "t.conf:5:4: control.admin_uids[3]: expected an integer from 0 to "
	    "4294967294, got the string \"root\"");
}
END_TEST

START_TEST(test_long_string_is_cut)
{
	char	*text;

	text = control_with("\"mode\": \"0123456701234567012345670123456701234567"
	    "0123\"");
	expect_one_error(text, "t.conf:1:39: control.mode: expected a string "
	    "of octal digits from \"0000\" to \"0777\" (such as \"0660\"), got "
	    "the string \"0123456701234567012345670123456701234567...\"");
	free(text);
}
END_TEST

START_TEST(test_missing_group_is_warning)
{
	struct config	*c;
	char		*text;

	text = control_with("\n  \"admin_groups\": [\"root\", "
	    "\"no-such-group-hr\"]");
	c = load(text);
	free(text);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert_uint_eq(problems.errors, 0);
	ck_assert_uint_eq(problems.warnings, 1);
	ck_assert(problems.list[0].warning);
	ck_assert_str_eq(problems.list[0].text,
	    "t.conf:2:28: control.admin_groups[1]: no group named "
	    "\"no-such-group-hr\" on this system; ignored");
	ck_assert_uint_eq(c->control.admin_groups_count, 2);
	ck_assert_str_eq(c->control.admin_groups[1], "no-such-group-hr");
	ck_assert_uint_eq(c->control.admin_gids_count, 1);
	ck_assert_uint_eq(c->control.admin_gids[0], 0);
	config_free(c);
}
END_TEST

START_TEST(test_warning_with_errors)
{
	struct config	*c;

	/* Warnings are kept, in file order, when errors reject the file. */
	c = load("{\"control\": {\"admin_groups\": [\"no-such-group-hr\"],\n"
	    "  \"queue_depth\": 0}}");
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 2);
	ck_assert_uint_eq(problems.errors, 1);
	ck_assert_uint_eq(problems.warnings, 1);
	ck_assert(problems.list[0].warning);
	ck_assert(!problems.list[1].warning);
	ck_assert_str_eq(problems.list[1].text, "t.conf:2:3: "
	    "control.queue_depth: expected an integer from 1 to 1024, got 0");
}
END_TEST

START_TEST(test_unreadable_file)
{
	char		 dir[] = "/tmp/test_config.XXXXXX", *path;
	struct config	*c;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = format("%s/missing.conf", dir);
	c = config_load(path, &problems);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert_uint_eq(problems.errors, 1);
	ck_assert_str_eq(strchr(problems.list[0].text, ':'),
	    ": cannot open: No such file or directory");
	ck_assert(strncmp(problems.list[0].text, path, strlen(path)) == 0);
	config_problems_clear(&problems);

	/* A directory opens, but is not read. */
	c = config_load(dir, &problems);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert_str_eq(problems.list[0].text + strlen(dir),
	    ": not a regular file (a directory)");
	config_problems_clear(&problems);

	/* A FIFO with no writer: refused at once, not waited on. */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	c = config_load(path, &problems);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert_str_eq(problems.list[0].text + strlen(path),
	    ": not a regular file (a FIFO)");
	config_problems_clear(&problems);
	unlink(path);

	/* A character device. */
	c = config_load("/dev/null", &problems);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert_str_eq(problems.list[0].text,
	    "/dev/null: not a regular file (a character device)");

	rmdir(dir);
	free(path);
}
END_TEST

START_TEST(test_file_too_large)
{
	char		 path[] = "/tmp/test_config.XXXXXX";
	struct config	*c;
	FILE		*f;
	size_t		 i;
	int		 fd;

	/* Valid JSON one byte over the limit: refused for its size. */
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"control\": {\"socket\": \"/run/hr.sock\"}}", f);
	for (i = (size_t)ftell(f); i < CONFIG_MAX_FILE_BYTES + 1; i++)
		fputc(' ', f);
	fclose(f);
	c = config_load(path, &problems);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert_str_eq(problems.list[0].text + strlen(path),
	    ": too large (more than 1048576 bytes)");
	config_problems_clear(&problems);

	/* At the limit it is read. */
	ck_assert_int_eq(truncate(path, CONFIG_MAX_FILE_BYTES), 0);
	c = config_load(path, &problems);
	ck_assert_ptr_nonnull(c);
	config_free(c);
	unlink(path);
}
END_TEST

START_TEST(test_load_file)
{
	char		 path[] = "/tmp/test_config.XXXXXX";
	struct config	*c;
	FILE		*f;
	int		 fd;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(full_config, f);
	fclose(f);

	c = config_load(path, &problems);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(problems.count, 0);
	ck_assert_str_eq(c->path, path);
	ck_assert_str_eq(c->hsp->host, "broker.example");
	config_free(c);

	/* Errors in a file name the file. */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\n \"control\": {\"mode\": \"8\"}}\n", f);
	fclose(f);
	c = config_load(path, &problems);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(problems.count, 1);
	ck_assert(strncmp(problems.list[0].text, path, strlen(path)) == 0);
	ck_assert_str_eq(problems.list[0].text + strlen(path),
	    ":2:14: control.mode: expected a string of octal digits from "
	    "\"0000\" to \"0777\" (such as \"0660\"), got the string \"8\"");
	unlink(path);
}
END_TEST

START_TEST(test_problems_accumulate)
{
	struct config	*c;

	/* A load appends to the list; clear resets it; NULL is allowed. */
	ck_assert_ptr_null(load("{}"));
	ck_assert_ptr_null(load("[]"));
	ck_assert_uint_eq(problems.count, 2);
	ck_assert_uint_eq(problems.errors, 2);
	config_problems_clear(&problems);
	ck_assert_uint_eq(problems.count, 0);
	ck_assert_ptr_null(problems.list);
	config_problems_clear(NULL);

	c = config_load_buffer("x", "{", 1, NULL);
	ck_assert_ptr_null(c);
	c = config_load_buffer("x", "{\"control\": {}}", 15, NULL);
	ck_assert_ptr_nonnull(c);
	config_free(c);
	config_free(NULL);
}
END_TEST

START_TEST(test_persistent_needs_mqttv5)
{
	expect_one_error("{\"ai_id\":\"a\",\"control\":{},\"hsp\":{"
	    "\"broker\":{},\"protocol\":\"mqttv311\",\"session\":"
	    "\"persistent\"}}",
	    "t.conf:1:68: hsp.session: a \"persistent\" session needs "
	    "\"protocol\": \"mqttv5\" (MQTT 3.1.1 has no session expiry and "
	    "cannot end the session of a replaced connector)");
}
END_TEST

START_TEST(test_section_changed)
{
	struct config	*a, *b, *c, *d;

	a = load(full_config);
	b = load(full_config);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(!config_section_changed(a, b, "llm"));
	ck_assert(!config_section_changed(a, b, "hsp"));
	ck_assert(!config_section_changed(a, b, "control"));
	ck_assert(!config_section_changed(a, b, "nothing"));

	/* Only the LLM back end's model differs. */
	{
		char	*text, *at;

		text = strdup(full_config);
		at = strstr(text, "qwen2.5-0.5b");
		at[0] = 'Q';
		c = load(text);
		free(text);
	}
	ck_assert_ptr_nonnull(c);
	ck_assert(config_section_changed(a, c, "llm"));
	ck_assert(!config_section_changed(a, c, "hsp"));
	ck_assert(!config_section_changed(a, c, "control"));

	/* The same sections, written differently: no change. */
	d = load("{\"ai_id\": \"x\", \"control\": {}, \"llm\": {\"backends\": "
	    "[{\"name\": \"a\", \"provider\": \"openai\", \"base_url\": "
	    "\"http://h\", \"model\": \"m\"}]}, \"hsp\": {\"broker\": {}}}");
	config_free(c);
	c = load("{\"hsp\": {\"broker\": {}},\n\n \"llm\": {\"backends\": "
	    "[{\"model\": \"m\", \"base_url\": \"http://h\", \"provider\": "
	    "\"openai\", \"name\": \"a\"}]}, \"control\": {}, \"ai_id\": \"y\"}");
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(d);
	ck_assert(!config_section_changed(c, d, "llm"));
	ck_assert(!config_section_changed(c, d, "control"));
	/* A new ai_id is a new HSP section. */
	ck_assert(config_section_changed(c, d, "hsp"));

	/* Absent differs from present, and from an explicit default. */
	ck_assert(config_section_changed(a, d, "metrics"));
	ck_assert(config_section_changed(d, a, "metrics"));
	ck_assert(!config_section_changed(c, d, "metrics"));
	config_free(c);
	c = load("{\"control\": {}, \"metrics\": {\"listen\": null}}");
	ck_assert_ptr_nonnull(c);
	ck_assert(config_section_changed(d, c, "metrics"));
	ck_assert(config_section_changed(d, c, "hsp"));
	ck_assert(config_section_changed(c, d, "hsp"));
	ck_assert(config_section_changed(NULL, c, "control"));
	ck_assert(!config_section_changed(NULL, c, "llm"));

	/* Neither has hsp: no change, whatever ai_id does. */
	config_free(a);
	a = load("{\"ai_id\": \"p\", \"control\": {}}");
	ck_assert_ptr_nonnull(a);
	ck_assert(!config_section_changed(a, c, "hsp"));

	config_free(a);
	config_free(b);
	config_free(c);
	config_free(d);
}
END_TEST

/*
 * The documentation and the code must not drift: hotreloadd.conf(5) says
 * "default N" after each key, and conf/hotreloadd.conf shows values that it
 * says are the defaults.  These tests read both (from the top of the
 * source tree, where "make check-unit" runs) and compare them with the
 * defaults and bounds of the schema tables.
 */
#define MAN_PAGE	"man/hotreloadd.conf.5"
#define SHIPPED_CONF	"conf/hotreloadd.conf"

/* One key as hotreloadd.conf(5) describes it, its troff turned to text. */
struct doc_key {
	char	*section;	/* the .SS heading: "control", "hsp.broker" */
	char	*key;
	char	*text;		/* the paragraph, "An integer from 1 to ..." */
	bool	 seen;		/* matched by a row of the schema */
};

struct doc {
	struct doc_key	*keys;
	size_t		 count;
	char		*mismatches;	/* one line each; NULL when none */
};

/* Read a whole file, NUL-terminated. */
static char *
read_whole_file(const char *path)
{
	FILE	*f;
	char	*text;
	long	 size;

	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s (run from the top of the "
	    "source tree)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	text = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)size, f), (size_t)size);
	text[size] = '\0';
	fclose(f);
	return (text);
}

/* Append S to *TEXT (a malloc'd string, or NULL). */
static void
text_append(char **text, const char *s)
{
	size_t	 old = *text == NULL ? 0 : strlen(*text);

	*text = realloc(*text, old + strlen(s) + 1);
	ck_assert_ptr_nonnull(*text);
	memcpy(*text + old, s, strlen(s) + 1);
}

/* Record one mismatch between the documentation and the schema. */
static void
doc_mismatch(struct doc *doc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
doc_mismatch(struct doc *doc, const char *fmt, ...)
{
	char	 line[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	text_append(&doc->mismatches, line);
	text_append(&doc->mismatches, "\n");
}

/*
 * The text of one troff line: escapes \(dq and \- become " and -; the
 * arguments of a font macro are joined, without spaces for the alternating
 * ones (.BR, .IR, .RB, ...) and with spaces for .B and .I.
 */
static void
troff_line_text(const char *line, char **out)
{
	char		 word[256];
	const char	*p = line;
	size_t		 n;
	bool		 macro = false, alternating = false, first = true;

	if (*p == '.') {
		macro = true;
		alternating = strlen(p) >= 3 && p[1] != ' ' && p[2] != ' ' &&
		    strchr("BIR", p[1]) != NULL && strchr("BIR", p[2]) != NULL;
		while (*p != '\0' && *p != ' ')
			p++;
	}
	for (;;) {
		while (macro && *p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = 0;
		if (macro && *p == '"') {
			for (p++; *p != '\0' && *p != '"' && n < sizeof word - 1;)
				word[n++] = *p++;
			if (*p == '"')
				p++;
		} else {
			while (*p != '\0' && (!macro || *p != ' ') &&
			    n < sizeof word - 1)
				word[n++] = *p++;
		}
		word[n] = '\0';
		if (!first && !alternating)
			text_append(out, " ");
		first = false;
		text_append(out, word);
		if (!macro)
			break;
	}
}

/* Replace the troff escapes of TEXT that the defaults use. */
static void
troff_unescape(char *text)
{
	char	*r = text, *w = text;

	while (*r != '\0') {
		if (strncmp(r, "\\(dq", 4) == 0) {
			*w++ = '"';
			r += 4;
		} else if (strncmp(r, "\\-", 2) == 0 ||
		    strncmp(r, "\\&", 2) == 0) {
			if (r[1] == '-')
				*w++ = '-';
			r += 2;
		} else if (strncmp(r, "\\f", 2) == 0 && r[2] != '\0')
			r += 3;
		else
			*w++ = *r++;
	}
	*w = '\0';
}

/* Read the KEYS section of the man page: each ".TP" ".B key" and its text. */
static void
doc_read_man_page(struct doc *doc)
{
	char		*page, *line, *next, *section = NULL;
	struct doc_key	*k = NULL;
	bool		 in_keys = false, after_tp = false;

	page = read_whole_file(MAN_PAGE);
	for (line = page; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, ".SH ", 4) == 0) {
			in_keys = strcmp(line + 4, "KEYS") == 0;
			k = NULL;
			continue;
		}
		if (!in_keys)
			continue;
		if (strncmp(line, ".SS ", 4) == 0) {
			free(section);
			section = strdup(line + 4);
			k = NULL;
			continue;
		}
		if (strcmp(line, ".TP") == 0) {
			after_tp = true;
			k = NULL;
			continue;
		}
		if (after_tp && strncmp(line, ".B ", 3) == 0 &&
		    section != NULL) {
			doc->keys = realloc(doc->keys, (doc->count + 1) *
			    sizeof *doc->keys);
			ck_assert_ptr_nonnull(doc->keys);
			k = &doc->keys[doc->count++];
			k->section = strdup(section);
			k->key = strdup(line + 3);
			k->text = strdup("");
			k->seen = false;
			after_tp = false;
			continue;
		}
		after_tp = false;
		if (k == NULL || strncmp(line, ".\\\"", 3) == 0 ||
		    strcmp(line, ".PP") == 0)
			continue;
		if (*k->text != '\0')
			text_append(&k->text, " ");
		troff_line_text(line, &k->text);
	}
	for (size_t i = 0; i < doc->count; i++)
		troff_unescape(doc->keys[i].text);
	free(section);
	free(page);
}

/* The documentation of KEY in SECTION, or NULL. */
static struct doc_key *
doc_find(struct doc *doc, const char *section, const char *key)
{
	for (size_t i = 0; i < doc->count; i++) {
		if (strcmp(doc->keys[i].section, section) == 0 &&
		    strcmp(doc->keys[i].key, key) == 0)
			return (&doc->keys[i]);
	}
	return (NULL);
}

/*
 * The default a paragraph gives: the word after "default " up to a space,
 * ';' or ',' (a final '.' and the quotes of "0660" dropped), or NULL.
 */
static char *
doc_default(const char *text)
{
	const char	*p = text, *start;
	char		*word;
	size_t		 n;

	while ((p = strstr(p, "default ")) != NULL) {
		/* "no default" is not a default. */
		if (p - text >= 3 && strncmp(p - 3, "no ", 3) == 0) {
			p += 8;
			continue;
		}
		start = p + 8;
		n = strcspn(start, " ;,");
		word = strndup(start, n);
		ck_assert_ptr_nonnull(word);
		if (n > 0 && word[n - 1] == '.')
			word[--n] = '\0';
		if (n >= 2 && word[0] == '"' && word[n - 1] == '"') {
			memmove(word, word + 1, n - 2);
			word[n - 2] = '\0';
		}
		return (word);
	}
	return (NULL);
}

/* The default of ROW as the man page writes it, or NULL for none. */
static char *
row_default_text(const struct config_row *row)
{
	char	 number[32];

	switch (row->type) {
	case CONFIG_INTEGER:
		if (row->flags & CONFIG_NULLABLE)
			return (strdup("null"));
		snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT,
		    row->default_integer);
		return (strdup(number));
	case CONFIG_NUMBER:
		if (row->flags & CONFIG_NULLABLE)
			return (strdup("null"));
		snprintf(number, sizeof number, "%.15g", row->default_number);
		return (strdup(number));
	case CONFIG_BOOL:
		return (strdup(row->default_integer ? "true" : "false"));
	case CONFIG_STRING:
	case CONFIG_CHOICE:
	case CONFIG_CUSTOM:
		if (row->default_string != NULL)
			return (strdup(row->default_string));
		if (row->flags & CONFIG_NULLABLE)
			return (strdup("null"));
		return (NULL);
	case CONFIG_STRING_LIST:
		return (strdup("empty"));
	case CONFIG_SECTION_POINTER:
		return (row->flags & CONFIG_NULLABLE ? strdup("null") : NULL);
	case CONFIG_SECTION:
	case CONFIG_SECTION_ARRAY:
		return (NULL);
	}
	return (NULL);
}

/* Compare the rows of SECTION, and the sections below, with the man page. */
static void
doc_compare_section(struct doc *doc, const struct config_section *section)
{
	const struct config_row	*row;
	struct doc_key		*k;
	char			*want, *got, bounds[96];

	for (size_t i = 0; i < section->rows_count; i++) {
		row = &section->rows[i];
		if (row->section != NULL)
			doc_compare_section(doc, row->section);
		if ((k = doc_find(doc, section->name, row->key)) == NULL) {
			doc_mismatch(doc, "%s: %s: in the schema, not in %s",
			    section->name, row->key, MAN_PAGE);
			continue;
		}
		k->seen = true;
		want = row_default_text(row);
		got = doc_default(k->text);
		if (want != NULL && (got == NULL || strcmp(want, got) != 0))
			doc_mismatch(doc, "%s: %s: default %s in the schema, "
			    "%s in %s", section->name, row->key, want,
			    got == NULL ? "none" : got, MAN_PAGE);
		free(want);
		free(got);
		if (row->type == CONFIG_INTEGER)
			snprintf(bounds, sizeof bounds, "An integer from %"
			    JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT,
			    row->min, row->max);
		else if (row->type == CONFIG_NUMBER)
			snprintf(bounds, sizeof bounds, "A number from %.15g "
			    "to %.15g", row->min_number, row->max_number);
		else
			continue;
		if (strncmp(k->text, bounds, strlen(bounds)) != 0)
			doc_mismatch(doc, "%s: %s: \"%s\" in the schema, \"%.*s\" "
			    "in %s", section->name, row->key, bounds,
			    (int)strlen(bounds), k->text, MAN_PAGE);
	}
}

/* Free what doc_read_man_page() read. */
static void
doc_free(struct doc *doc)
{
	for (size_t i = 0; i < doc->count; i++) {
		free(doc->keys[i].section);
		free(doc->keys[i].key);
		free(doc->keys[i].text);
	}
	free(doc->keys);
	free(doc->mismatches);
}

/*
 * Every key of the schema is in hotreloadd.conf(5) with the same default
 * (and, for integers, the same bounds), and every key the man page lists
 * in a section of the schema is in the schema.
 */
START_TEST(test_man_page_defaults)
{
	struct doc	 doc = { 0 };
	bool		 known_section;
	size_t		 rows = 0;

	doc_read_man_page(&doc);
	ck_assert_uint_gt(doc.count, 50);
	doc_compare_section(&doc, &config_schema);
	for (size_t i = 0; i < doc.count; i++) {
		if (doc.keys[i].seen)
			continue;
		/* Only the schema's sections: "Providers" is prose. */
		known_section = false;
		for (size_t j = 0; j < doc.count; j++) {
			if (doc.keys[j].seen && strcmp(doc.keys[j].section,
			    doc.keys[i].section) == 0)
				known_section = true;
		}
		if (known_section)
			doc_mismatch(&doc, "%s: %s: in %s, not in the schema",
			    doc.keys[i].section, doc.keys[i].key, MAN_PAGE);
	}
	for (size_t i = 0; i < doc.count; i++)
		rows += doc.keys[i].seen;
	ck_assert_uint_gt(rows, 50);
	ck_assert_msg(doc.mismatches == NULL, "hotreloadd.conf(5) and the "
	    "schema disagree:\n%s", doc.mismatches);
	doc_free(&doc);
}
END_TEST

/*
 * Compare the values OBJECT (at PATH) shows with the defaults of SECTION:
 * each key present whose row has a default must show that default.
 */
static void
shipped_compare_section(struct doc *doc, const struct config_section *section,
    json_t *object, const char *path)
{
	const struct config_row	*row;
	json_t			*value, *element;
	char			 child[256];
	bool			 same;
	size_t			 j;

	for (size_t i = 0; i < section->rows_count; i++) {
		row = &section->rows[i];
		if ((value = json_object_get(object, row->key)) == NULL)
			continue;
		snprintf(child, sizeof child, "%s%s%s", path,
		    *path == '\0' ? "" : ".", row->key);
		switch (row->type) {
		case CONFIG_INTEGER:
			if (row->flags & CONFIG_NULLABLE)
				same = json_is_null(value);
			else
				same = json_is_integer(value) &&
				    json_integer_value(value) ==
				    row->default_integer;
			break;
		case CONFIG_NUMBER:
			if (row->flags & CONFIG_NULLABLE)
				same = json_is_null(value);
			else
				same = json_is_number(value) &&
				    json_number_value(value) ==
				    row->default_number;
			break;
		case CONFIG_BOOL:
			same = json_is_boolean(value) &&
			    json_is_true(value) == (row->default_integer != 0);
			break;
		case CONFIG_STRING:
		case CONFIG_CHOICE:
		case CONFIG_CUSTOM:
			if (row->default_string != NULL)
				same = json_is_string(value) &&
				    strcmp(json_string_value(value),
				    row->default_string) == 0;
			else if (row->flags & CONFIG_NULLABLE)
				same = json_is_null(value);
			else
				same = true;	/* no default: any value */
			break;
		case CONFIG_STRING_LIST:
			same = json_is_array(value) &&
			    json_array_size(value) == 0;
			break;
		case CONFIG_SECTION:
			shipped_compare_section(doc, row->section, value,
			    child);
			same = true;
			break;
		case CONFIG_SECTION_POINTER:
			if (json_is_object(value))
				shipped_compare_section(doc, row->section,
				    value, child);
			same = json_is_object(value) ||
			    (json_is_null(value) &&
			    (row->flags & CONFIG_NULLABLE));
			break;
		case CONFIG_SECTION_ARRAY:
			json_array_foreach(value, j, element) {
				snprintf(child, sizeof child, "%s%s%s[%zu]",
				    path, *path == '\0' ? "" : ".", row->key,
				    j);
				shipped_compare_section(doc, row->section,
				    element, child);
			}
			same = true;
			break;
		default:
			same = true;
			break;
		}
		if (!same)
			doc_mismatch(doc, "%s: %s shows a value other than the "
			    "schema's default", child, SHIPPED_CONF);
	}
}

/*
 * The shipped example, with its commented-out "hsp" and "llm" blocks
 * uncommented as it tells the operator to do (the first '#' of each line
 * from the key to its closing brace), loads without errors, and every
 * value it shows is the schema's default -- except for the keys it says
 * are not: ai_id (no default), admin_uids and admin_groups (custom rows
 * without one), the back end's name, provider, base_url and model, and
 * fallback.
 */
START_TEST(test_shipped_config_defaults)
{
	struct config_problems	 found = { 0 };
	struct config		*c;
	struct doc		 doc = { 0 };
	json_error_t		 error;
	json_t			*root;
	char			*text, *line, *p, *json;
	bool			 in_block = false;
	size_t			 i;

	text = read_whole_file(SHIPPED_CONF);
	for (line = text; line != NULL && *line != '\0';) {
		p = line + strspn(line, " \t");
		if (!in_block && (strncmp(p, "#\"hsp\": {", 9) == 0 ||
		    strncmp(p, "#\"llm\": {", 9) == 0))
			in_block = true;
		if (in_block && *p == '#') {
			*p = ' ';
			if (strncmp(p + 1, "},", 2) == 0 ||
			    strncmp(p + 1, "}\n", 2) == 0)
				in_block = false;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	ck_assert(!in_block);

	c = config_load_buffer(SHIPPED_CONF, text, strlen(text), &found);
	for (i = 0; i < found.count; i++)
		ck_assert_msg(found.list[i].warning, "%s",
		    found.list[i].text);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(c->llm);
	ck_assert_ptr_nonnull(c->hsp);
	config_free(c);
	config_problems_clear(&found);

	/* Blank the comment lines as the loader does, and read the values. */
	json = strdup(text);
	ck_assert_ptr_nonnull(json);
	for (line = json; line != NULL && *line != '\0';) {
		p = line + strspn(line, " \t");
		if (*p == '#')
			memset(p, ' ', strcspn(p, "\n"));
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	root = json_loads(json, 0, &error);
	ck_assert_msg(root != NULL, "%s", error.text);
	shipped_compare_section(&doc, &config_schema, root, "");
	ck_assert_msg(doc.mismatches == NULL, "%s", doc.mismatches);
	json_decref(root);
	doc_free(&doc);
	free(json);
	free(text);
}
END_TEST

/* Every test of the module. */
static Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");
	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_config);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_section_defaults);
	tcase_add_test(tc, test_invalid_json);
	tcase_add_test(tc, test_comment_lines);
	tcase_add_test(tc, test_top_level_not_object);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_wrong_type);
	tcase_add_test(tc, test_wrong_type_several);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_missing_control);
	tcase_add_test(tc, test_missing_backend_model);
	tcase_add_test(tc, test_ai_id_missing_with_hsp);
	tcase_add_test(tc, test_unknown_fallback);
	tcase_add_test(tc, test_duplicate_backend_names);
	tcase_add_test(tc, test_both_api_key_sources);
	tcase_add_test(tc, test_backend_values);
	tcase_add_test(tc, test_backend_params);
	tcase_add_test(tc, test_backend_params_bounds);
	tcase_add_test(tc, test_backend_azure_keys);
	tcase_add_test(tc, test_backend_headers);
	tcase_add_test(tc, test_backend_headers_refused);
	tcase_add_test(tc, test_bad_mode);
	tcase_add_test(tc, test_socket);
	tcase_add_test(tc, test_hsp_values);
	tcase_add_test(tc, test_hsp_tls_values);
	tcase_add_test(tc, test_llm_tls_values);
	tcase_add_test(tc, test_metrics_listen);
	tcase_add_test(tc, test_errors_in_file_order);
	tcase_add_test(tc, test_positions_after_escapes);
	tcase_add_test(tc, test_array_element_positions);
	tcase_add_test(tc, test_long_string_is_cut);
	tcase_add_test(tc, test_missing_group_is_warning);
	tcase_add_test(tc, test_warning_with_errors);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_file_too_large);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_problems_accumulate);
	tcase_add_test(tc, test_section_changed);
	tcase_add_test(tc, test_persistent_needs_mqttv5);
	tcase_add_test(tc, test_man_page_defaults);
	tcase_add_test(tc, test_shipped_config_defaults);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
