/*
 * config-schema.c -- the sections of the configuration as tables, and the
 * rules between keys (DESIGN.md section 4).
 *
 * Each section of the file is one table (as tmux's options-table.c): a row
 * per key with its type, bounds or string rule, default, and the offsetof
 * of its field in the struct it fills (as systemd's conf-parser).  Each key
 * is named here once; the walker (config-walk.c) reads the tables to check
 * unknown keys, types and bounds, fill defaults and free.  A key that
 * needs more than its row (control.mode, admin_uids, admin_groups,
 * llm.fallback) has a parse function of its own, and the rules that tie
 * keys together are small functions the tables point to: a row's check
 * runs once its value from the file passed, a section's finish after all
 * its rows.  They find other keys by the offset of their field, not by
 * name.  hotreloadd.conf(5) documents the same defaults; the unit test
 * compares the two.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hotreload/protocol.h"
#include "config-internal.h"

/* How a field is stored, from its type. */
#define STORE_OF(T, field) _Generic(((T *)0)->field,		\
	int: CONFIG_STORE_INT,						\
	size_t: CONFIG_STORE_SIZE,					\
	bool: CONFIG_STORE_BOOL,					\
	char *: CONFIG_STORE_STRING,					\
	default: CONFIG_STORE_OTHER)

/* The parts of a row, by type; a row may add .check and .flags. */
#define INTEGER(k, T, field, lo, hi, def)				\
	.key = (k), .type = CONFIG_INTEGER,				\
	.offset = offsetof(T, field), .store = STORE_OF(T, field), \
	.min = (lo), .max = (hi), .default_integer = (def)
#define BOOLEAN(k, T, field, def)					\
	.key = (k), .type = CONFIG_BOOL,				\
	.offset = offsetof(T, field), .store = STORE_OF(T, field), \
	.default_integer = (def)
#define NUMBER(k, T, field, lo, hi, def)				\
	.key = (k), .type = CONFIG_NUMBER,				\
	.offset = offsetof(T, field),					\
	.min_number = (lo), .max_number = (hi), .default_number = (def)
#define STRING(k, T, field, r, def)					\
	.key = (k), .type = CONFIG_STRING,				\
	.offset = offsetof(T, field), .rule = &(r),			\
	.default_string = (def)
#define CHOICE(k, T, field, list, def)				\
	.key = (k), .type = CONFIG_CHOICE,				\
	.offset = offsetof(T, field), .store = STORE_OF(T, field), \
	.choices = (list), .default_string = (def)
#define STRING_LIST(k, T, field, count, r)				\
	.key = (k), .type = CONFIG_STRING_LIST,				\
	.offset = offsetof(T, field), .count_offset = offsetof(T, count), \
	.rule = &(r)
#define SECTION(k, s)							\
	.key = (k), .type = CONFIG_SECTION, .section = &(s)
#define SECTION_POINTER(k, T, field, s)				\
	.key = (k), .type = CONFIG_SECTION_POINTER,			\
	.offset = offsetof(T, field), .section = &(s),		\
	.element_size = sizeof *((T *)0)->field
#define SECTION_ARRAY(k, T, field, count, s)				\
	.key = (k), .type = CONFIG_SECTION_ARRAY,			\
	.offset = offsetof(T, field), .count_offset = offsetof(T, count), \
	.section = &(s), .element_size = sizeof *((T *)0)->field
#define CUSTOM(k, T, field, p, f)					\
	.key = (k), .type = CONFIG_CUSTOM,				\
	.offset = offsetof(T, field), .parse = (p), .free = (f)

#define ROWS(rows)	(rows), sizeof (rows) / sizeof (rows)[0]


/* control.socket: it must fit in a sockaddr_un. */
static void
check_socket(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	struct config		*c = target;
	struct sockaddr_un	 sun;

	(void)object;
	if (strlen(c->control.socket) >= sizeof sun.sun_path)
		config_error_at(ld, path, "expected an absolute path shorter "
		    "than %zu bytes, got a path of %zu bytes",
		    sizeof sun.sun_path, strlen(c->control.socket));
}

/* control.mode: octal digits in a string, so it cannot be read as decimal. */
static void
parse_mode(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *path, void *target)
{
	mode_t		*mode = config_row_field(row, target);
	json_t		*value;
	const char	*s = row->default_string;
	char		*child;

	value = config_member_value(ld, object, path, row->key, 0);
	if (value != NULL) {
		child = config_path_key(path, row->key);
		s = config_check_string(ld, child, value, 0, row->rule);
		if (s == NULL)
			s = row->default_string;
		free(child);
	}
	*mode = config_mode_from_string(s);
}

/* control.admin_uids: user ids from min to max ((uid_t)-1 excluded). */
static void
parse_admin_uids(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *path, void *target)
{
	uid_t		**uids = config_row_field(row, target), *list;
	size_t		 *count = config_row_count(row, target), i;
	json_t		 *array, *value;
	json_int_t	  uid;
	char		 *child, *element;

	array = config_member_array(ld, object, path, row->key, 0);
	if (array == NULL)
		return;
	list = *uids = config_xcalloc(json_array_size(array), sizeof *list);
	child = config_path_key(path, row->key);
	json_array_foreach(array, i, value) {
		element = config_path_element(child, i);
		if (config_check_integer(ld, element, value, 0, row->min,
		    row->max, &uid) == 0)
			list[(*count)++] = (uid_t)uid;
		free(element);
	}
	free(child);
}

/* Release control.admin_uids. */
static void
free_admin_uids(const struct config_row *row, void *target)
{
	free(*(uid_t **)config_row_field(row, target));
}

/*
 * control.admin_groups: group names, looked up now.  A group that does not
 * exist is only a warning: the same file may serve several machines, and
 * root is an admin in any case.  The groups found go to admin_gids.
 */
static void
parse_admin_groups(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *path, void *target)
{
	struct config	*c = target;
	struct group	*gr;
	json_t		*array, *value;
	const char	*name;
	char		*child, *element, *shown;
	size_t		 i;
	int		 saved_errno;

	array = config_member_array(ld, object, path, row->key, 0);
	if (array == NULL)
		return;
	c->control.admin_groups = config_xcalloc(json_array_size(array),
	    sizeof *c->control.admin_groups);
	c->control.admin_gids = config_xcalloc(json_array_size(array),
	    sizeof *c->control.admin_gids);
	child = config_path_key(path, row->key);
	json_array_foreach(array, i, value) {
		element = config_path_element(child, i);
		name = config_check_string(ld, element, value, 0, row->rule);
		if (name == NULL) {
			free(element);
			continue;
		}
		c->control.admin_groups[c->control.admin_groups_count++] =
		    config_xstrdup(name);

		errno = 0;
		gr = getgrnam(name);
		saved_errno = errno;
		if (gr != NULL) {
			c->control.admin_gids[c->control.admin_gids_count++] =
			    gr->gr_gid;
			free(element);
			continue;
		}
		/* getgrnam(3): these mean "not found", not a failure. */
		shown = config_quoted(name);
		if (saved_errno == 0 || saved_errno == ENOENT ||
		    saved_errno == ESRCH || saved_errno == EBADF ||
		    saved_errno == EPERM)
			config_warning_at(ld, element, "no group named %s on "
			    "this system; ignored", shown);
		else
			config_warning_at(ld, element, "cannot look up group "
			    "%s: %s; ignored", shown, strerror(saved_errno));
		free(shown);
		free(element);
	}
	free(child);
}

/* Release control.admin_groups and the gids found for them. */
static void
free_admin_groups(const struct config_row *row, void *target)
{
	struct config	*c = target;

	(void)row;
	config_free_strings(c->control.admin_groups,
	    c->control.admin_groups_count);
	free(c->control.admin_gids);
}

/*
 * control.reserved_admin_clients, when set: the reserve must leave a slot
 * for everyone else.
 */
static void
check_reserved_admin_clients(struct config_load *ld, json_t *object,
    const char *path, void *target)
{
	struct config	*c = target;

	(void)object;
	if (c->control.reserved_admin_clients >= c->control.max_clients &&
	    c->control.max_clients > 0)
		config_error_at(ld, path, "must be less than "
		    "control.max_clients (%d), so that non-admin clients get "
		    "a slot", c->control.max_clients);
}

/*
 * After the control section: unset, the reserve is its default cut to
 * max_clients - 1 (a tiny max_clients in a test or a one-operator machine
 * stays valid).  A reserve that was set and does not fit is an error
 * already, so cutting it changes nothing that loads.
 */
static void
finish_control(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	struct config	*c = target;

	(void)ld;
	(void)object;
	(void)path;
	if (c->control.reserved_admin_clients >= c->control.max_clients)
		c->control.reserved_admin_clients = c->control.max_clients - 1;
}

static const struct config_row control_rows[] = {
	{ STRING("socket", struct config, control.socket,
	    config_rule_absolute_path, HR_DEFAULT_SOCKET),
	    .check = check_socket },
	{ CUSTOM("mode", struct config, control.mode, parse_mode, NULL),
	    .rule = &config_rule_mode, .default_string = "0660" },
	{ CUSTOM("admin_uids", struct config, control.admin_uids,
	    parse_admin_uids, free_admin_uids),
	    .count_offset = offsetof(struct config, control.admin_uids_count),
	    .min = 0, .max = 4294967294LL },
	{ CUSTOM("admin_groups", struct config, control.admin_groups,
	    parse_admin_groups, free_admin_groups),
	    .rule = &config_rule_non_empty },
	{ INTEGER("max_clients", struct config, control.max_clients,
	    1, 4096, 64) },
	{ INTEGER("max_request_bytes", struct config,
	    control.max_request_bytes, 256, 16777216,
	    CONFIG_DEFAULT_MAX_REQUEST_BYTES) },
	{ INTEGER("queue_depth", struct config, control.queue_depth,
	    1, 1024, 16) },
	{ INTEGER("command_timeout_s", struct config,
	    control.command_timeout_s, 1, 86400, 120) },
	{ INTEGER("idle_timeout_s", struct config, control.idle_timeout_s,
	    1, 86400, 300) },
	{ INTEGER("max_reply_bytes_queued", struct config,
	    control.max_reply_bytes_queued, 65536, 1073741824, 1048576) },
	/* null takes the default, as absent does (finish_control cuts it). */
	{ INTEGER("reserved_admin_clients", struct config,
	    control.reserved_admin_clients, 0, 4095, 4),
	    .flags = CONFIG_NULL_IS_DEFAULT,
	    .check = check_reserved_admin_clients },
	{ INTEGER("max_clients_per_uid", struct config,
	    control.max_clients_per_uid, 1, 4096, 16) },
	{ INTEGER("history_size", struct config, control.history_size,
	    1, 4096, 64) },
	{ INTEGER("watch_buffer_bytes", struct config,
	    control.watch_buffer_bytes, 4096, 67108864, 262144) },
};
static const struct config_section control_section = {
	"control", ROWS(control_rows), finish_control
};

static const struct config_row drain_rows[] = {
	{ INTEGER("timeout_s", struct config, drain.timeout_s, 0, 86400, 30) },
};
static const struct config_section drain_section = {
	"drain", ROWS(drain_rows), NULL
};

/* A client certificate and its key go together (any tls section S). */
static void
check_cert_and_key(struct config_load *ld, const struct config_section *s,
    json_t *object, const char *path)
{
	if (config_member_is_set(s, object,
	    offsetof(struct config_tls, cert_file)) !=
	    config_member_is_set(s, object,
	    offsetof(struct config_tls, key_file)))
		config_error_at(ld, path, "cert_file and key_file go together: "
		    "set both or neither");
}

/* llm.backends[].tls: a private CA and a client certificate for a gateway. */
static void
finish_backend_tls(struct config_load *ld, json_t *object, const char *path,
    void *target);

/* A file of a tls section: an absolute path whose content counts. */
#define TLS_FILE(k, field)						\
	{ STRING(k, struct config_tls, field, config_rule_absolute_path,	\
	    NULL), .flags = CONFIG_NULLABLE | CONFIG_CONTENT }

static const struct config_row backend_tls_rows[] = {
	TLS_FILE("ca_file", ca_file),
	TLS_FILE("cert_file", cert_file),
	TLS_FILE("key_file", key_file),
};
static const struct config_section backend_tls_section = {
	"llm.backends[].tls", ROWS(backend_tls_rows), finish_backend_tls
};

static void
finish_backend_tls(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	(void)target;
	check_cert_and_key(ld, &backend_tls_section, object, path);
}

/*
 * Report the member of SECTION that fills the field at OFFSET, in the
 * object at PATH, with the message FMT.
 */
static void
member_error(struct config_load *ld, const struct config_section *section,
    const char *path, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void
member_error(struct config_load *ld, const struct config_section *section,
    const char *path, size_t offset, const char *fmt, ...)
{
	struct config_buf	 message;
	va_list			 ap;
	char			*child;

	config_buf_init(&message);
	va_start(ap, fmt);
	config_buf_vprintf(&message, fmt, ap);
	va_end(ap);
	child = config_member_path(section, path, offset);
	config_error_at(ld, child, "%s", message.data);
	free(child);
	free(message.data);
}

/*
 * llm.backends[].params: generation parameters, each sent under the
 * provider's own name (llm-provider.c); what is null is not sent.
 */
static void	finish_params(struct config_load *, json_t *, const char *,
		    void *);

static const struct config_row params_rows[] = {
	{ NUMBER("temperature", struct config_backend, params.temperature,
	    0, 2, NAN), .flags = CONFIG_NULLABLE },
	{ NUMBER("top_p", struct config_backend, params.top_p, 0, 1, NAN),
	    .flags = CONFIG_NULLABLE },
	{ INTEGER("max_tokens", struct config_backend, params.max_tokens,
	    1, 1000000, CONFIG_UNSET), .flags = CONFIG_NULLABLE },
	{ STRING_LIST("stop", struct config_backend, params.stop,
	    params.stop_count, config_rule_non_empty) },
	{ INTEGER("seed", struct config_backend, params.seed, 0, 2147483647,
	    CONFIG_UNSET), .flags = CONFIG_NULLABLE },
	{ NUMBER("presence_penalty", struct config_backend,
	    params.presence_penalty, -2, 2, NAN), .flags = CONFIG_NULLABLE },
	{ NUMBER("frequency_penalty", struct config_backend,
	    params.frequency_penalty, -2, 2, NAN), .flags = CONFIG_NULLABLE },
};
static const struct config_section params_section = {
	"llm.backends[].params", ROWS(params_rows), finish_params
};

/* params.stop: at most CONFIG_MAX_STOP sequences (OpenAI takes 4). */
static void
finish_params(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	struct config_backend	*b = target;

	(void)object;
	if (b->params.stop_count > CONFIG_MAX_STOP)
		member_error(ld, &params_section, path,
		    offsetof(struct config_backend, params.stop),
		    "expected at most %d stop sequences, got %zu",
		    CONFIG_MAX_STOP, b->params.stop_count);
}

/* llm.backends[].cost: the price of 1000 tokens, for accounting only. */
static const struct config_row cost_rows[] = {
	{ NUMBER("input_per_1k", struct config_backend, cost.input_per_1k,
	    0, 1000000, 0) },
	{ NUMBER("output_per_1k", struct config_backend, cost.output_per_1k,
	    0, 1000000, 0) },
};
static const struct config_section cost_section = {
	"llm.backends[].cost", ROWS(cost_rows), NULL
};

/* llm.backends[].rate_limit: null is no limit. */
static const struct config_row rate_limit_rows[] = {
	{ INTEGER("requests_per_minute", struct config_backend,
	    rate_limit.requests_per_minute, 1, 1000000, CONFIG_UNSET),
	    .flags = CONFIG_NULLABLE },
	{ INTEGER("tokens_per_minute", struct config_backend,
	    rate_limit.tokens_per_minute, 1, 1000000000, CONFIG_UNSET),
	    .flags = CONFIG_NULLABLE },
	{ INTEGER("max_wait_s", struct config_backend, rate_limit.max_wait_s,
	    0, 3600, 0) },
};
static const struct config_section rate_limit_section = {
	"llm.backends[].rate_limit", ROWS(rate_limit_rows), NULL
};

/*
 * A back end's API key comes from one place at most; azure_openai needs a
 * deployment, which the others do not take.
 */
static void
finish_backend(struct config_load *ld, json_t *object, const char *path,
    void *target);

static const struct config_choice providers[] = {
	{ "openai", 0 }, { "ollama", 0 }, { "anthropic", 0 },
	{ "azure_openai", 0 }, { "google", 0 }, { "cohere", 0 }, { NULL, 0 }
};

/* The api-version azure_openai sends when none is set (GA, 2024-10-21). */
#define AZURE_API_VERSION	"2024-10-21"

static const struct config_row backend_rows[] = {
	{ STRING("name", struct config_backend, name,
	    config_rule_backend_name, NULL), .flags = CONFIG_REQUIRED },
	{ CHOICE("provider", struct config_backend, provider, providers,
	    NULL), .flags = CONFIG_REQUIRED },
	{ STRING("base_url", struct config_backend, base_url, config_rule_url,
	    NULL), .flags = CONFIG_REQUIRED },
	{ STRING("model", struct config_backend, model, config_rule_non_empty,
	    NULL), .flags = CONFIG_REQUIRED },
	{ STRING("deployment", struct config_backend, deployment,
	    config_rule_non_empty, NULL), .flags = CONFIG_NULLABLE },
	{ STRING("api_version", struct config_backend, api_version,
	    config_rule_non_empty, AZURE_API_VERSION) },
	{ STRING("api_key_env", struct config_backend, api_key_env,
	    config_rule_environment_name, NULL), .flags = CONFIG_NULLABLE },
	{ STRING("api_key_file", struct config_backend, api_key_file,
	    config_rule_absolute_path, NULL),
	    .flags = CONFIG_NULLABLE | CONFIG_CONTENT },
	{ INTEGER("timeout_s", struct config_backend, timeout_s, 1, 3600,
	    60) },
	{ INTEGER("max_in_flight", struct config_backend, max_in_flight,
	    1, 10000, 64) },
	{ SECTION("params", params_section) },
	{ CUSTOM("headers", struct config_backend, headers, parse_headers,
	    free_headers),
	    .count_offset = offsetof(struct config_backend, headers_count) },
	{ SECTION("cost", cost_section) },
	{ SECTION("rate_limit", rate_limit_section) },
	{ SECTION_POINTER("tls", struct config_backend, tls,
	    backend_tls_section), .flags = CONFIG_NULLABLE },
};
static const struct config_section backend_section = {
	"llm.backends[]", ROWS(backend_rows), finish_backend
};

static void
finish_backend(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	struct config_backend	*b = target;
	bool			 azure;

	if (config_member_is_set(&backend_section, object,
	    offsetof(struct config_backend, api_key_env)) &&
	    config_member_is_set(&backend_section, object,
	    offsetof(struct config_backend, api_key_file)))
		member_error(ld, &backend_section, path,
		    offsetof(struct config_backend, api_key_file), "cannot be "
		    "set together with api_key_env; set one of them (or "
		    "neither)");
	if (b->provider == NULL)
		return;
	azure = strcmp(b->provider, "azure_openai") == 0;
	if (azure && !config_member_is_set(&backend_section, object,
	    offsetof(struct config_backend, deployment)))
		config_error_missing(ld, path, config_row_at(&backend_section,
		    offsetof(struct config_backend, deployment))->key);
	if (!azure && config_member_is_set(&backend_section, object,
	    offsetof(struct config_backend, deployment)))
		member_error(ld, &backend_section, path,
		    offsetof(struct config_backend, deployment), "only "
		    "\"provider\": \"azure_openai\" takes a deployment");
	if (!azure && config_member_is_set(&backend_section, object,
	    offsetof(struct config_backend, api_version)))
		member_error(ld, &backend_section, path,
		    offsetof(struct config_backend, api_version), "only "
		    "\"provider\": \"azure_openai\" takes an api_version");
}

/*
 * llm.backends: one to CONFIG_MAX_BACKENDS back ends, each name used once
 * (a repeat is reported at its name).
 */
static void
check_backends(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	struct config_llm	*llm = target;
	const char		*key;
	char			*element, *shown, *other;
	size_t			 i, j;

	(void)object;
	if (llm->backends_count == 0)
		config_error_at(ld, path, "expected a non-empty array of back "
		    "ends");
	else if (llm->backends_count > CONFIG_MAX_BACKENDS)
		config_error_at(ld, path, "expected at most %d back ends, got "
		    "%zu", CONFIG_MAX_BACKENDS, llm->backends_count);

	key = config_row_at(&backend_section,
	    offsetof(struct config_backend, name))->key;
	for (i = 0; i < llm->backends_count; i++) {
		if (llm->backends[i].name == NULL)
			continue;
		for (j = 0; j < i; j++) {
			if (llm->backends[j].name != NULL &&
			    strcmp(llm->backends[i].name,
			    llm->backends[j].name) == 0)
				break;
		}
		if (j == i)
			continue;
		element = config_xasprintf("%s[%zu].%s", path, i, key);
		other = config_path_element(path, j);
		shown = config_quoted(llm->backends[i].name);
		config_error_at(ld, element, "duplicate back-end name %s "
		    "(already used by %s)", shown, other);
		free(shown);
		free(other);
		free(element);
	}
}

/* Index of NAME in NAMES (entries may be NULL), or -1. */
static ssize_t
name_find(const char **names, size_t count, const char *name)
{
	size_t	 i;

	for (i = 0; i < count; i++) {
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return ((ssize_t)i);
	}
	return (-1);
}

static void	parse_fallback(struct config_load *,
		    const struct config_row *, json_t *, const char *, void *);
static void	free_fallback(const struct config_row *, void *);

static const struct config_row llm_rows[] = {
	{ SECTION_ARRAY("backends", struct config_llm, backends,
	    backends_count, backend_section), .flags = CONFIG_REQUIRED,
	    .check = check_backends },
	{ CUSTOM("fallback", struct config_llm, fallback, parse_fallback,
	    free_fallback),
	    .count_offset = offsetof(struct config_llm, fallback_count),
	    .rule = &config_rule_non_empty },
	{ BOOLEAN("probe_on_reload", struct config_llm, probe_on_reload, 1) },
	{ INTEGER("retire_timeout_s", struct config_llm, retire_timeout_s,
	    1, 86400, 120) },
	{ INTEGER("dialogue_history_bytes", struct config_llm,
	    dialogue_history_bytes, 65536, 4294967296LL, 67108864) },
};
static const struct config_section llm_section = {
	"llm", ROWS(llm_rows), NULL
};

/*
 * The names the back ends of BACKENDS claim, as written (even when a name
 * is otherwise invalid), so that a bad name is reported once and not again
 * by every fallback entry that uses it.  Entries without a name are NULL.
 */
static const char **
backend_names(json_t *backends, size_t *count)
{
	const char	**names;
	json_t		 *value, *name;
	size_t		  i;

	*count = json_array_size(backends);
	names = config_xcalloc(*count, sizeof *names);
	json_array_foreach(backends, i, value) {
		name = NULL;
		if (json_is_object(value))
			name = config_member_at(&backend_section, value,
			    offsetof(struct config_backend, name));
		if (json_is_string(name))
			names[i] = json_string_value(name);
	}
	return (names);
}

/*
 * llm.fallback: back-end names, each known and listed once.  When absent,
 * every back end in file order.  Only looked at when backends is an array.
 */
static void
parse_fallback(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *path, void *target)
{
	struct config_llm	 *llm = target;
	const char		**names, **known;
	json_t			 *backends, *array, *value;
	const char		 *name;
	char			 *child, *element, *hint, *shown;
	size_t			  count, known_count, i;
	ssize_t			  found;

	backends = config_member_at(&llm_section, object,
	    offsetof(struct config_llm, backends));
	if (!json_is_array(backends))
		return;
	names = backend_names(backends, &count);

	array = config_member_array(ld, object, path, row->key, 0);
	if (array == NULL) {
		if (json_object_get(object, row->key) == NULL) {
			llm->fallback = config_xcalloc(count,
			    sizeof *llm->fallback);
			for (i = 0; i < count; i++) {
				if (names[i] != NULL)
					llm->fallback[llm->fallback_count++] =
					    config_xstrdup(names[i]);
			}
		}
		free(names);
		return;
	}
	child = config_path_key(path, row->key);
	if (json_array_size(array) == 0)
		config_error_at(ld, child, "expected a non-empty array of "
		    "back-end names (leave it out to try every back end in "
		    "order)");

	/* Candidates for suggestions: the named back ends only. */
	known = config_xcalloc(count, sizeof *known);
	known_count = 0;
	for (i = 0; i < count; i++) {
		if (names[i] != NULL)
			known[known_count++] = names[i];
	}

	llm->fallback = config_xcalloc(json_array_size(array),
	    sizeof *llm->fallback);
	json_array_foreach(array, i, value) {
		element = config_path_element(child, i);
		name = config_check_string(ld, element, value, 0, row->rule);
		if (name == NULL) {
			free(element);
			continue;
		}
		shown = config_quoted(name);
		found = name_find((const char **)llm->fallback,
		    llm->fallback_count, name);
		if (name_find(names, count, name) == -1) {
			hint = config_suggestion_text(name, known, known_count);
			config_error_at(ld, element, "no back end is named "
			    "%s%s", shown, hint);
			free(hint);
		} else if (found != -1)
			config_error_at(ld, element, "back end %s is listed "
			    "twice", shown);
		else
			llm->fallback[llm->fallback_count++] =
			    config_xstrdup(name);
		free(shown);
		free(element);
	}
	free(child);
	free(known);
	free(names);
}

/* Release llm.fallback. */
static void
free_fallback(const struct config_row *row, void *target)
{
	config_free_strings(*(char ***)config_row_field(row, target),
	    *config_row_count(row, target));
}

/* hsp.broker.tls needs a certificate authority; cert and key go together. */
static void
finish_tls(struct config_load *ld, json_t *object, const char *path,
    void *target);

static const struct config_choice tls_versions[] = {
	{ "tlsv1.2", 12 }, { "tlsv1.3", 13 }, { NULL, 0 }
};

static const struct config_row tls_rows[] = {
	TLS_FILE("ca_file", ca_file),
	TLS_FILE("ca_path", ca_path),
	TLS_FILE("cert_file", cert_file),
	TLS_FILE("key_file", key_file),
	{ CHOICE("min_version", struct config_tls, min_version, tls_versions,
	    "tlsv1.2") },
	{ BOOLEAN("insecure", struct config_tls, insecure, false) },
};
static const struct config_section tls_section = {
	"hsp.broker.tls", ROWS(tls_rows), finish_tls
};

static void
finish_tls(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	const struct config_section	*s = &tls_section;

	(void)target;
	if (!config_member_is_set(s, object,
	    offsetof(struct config_tls, ca_file)) &&
	    !config_member_is_set(s, object,
	    offsetof(struct config_tls, ca_path)))
		config_error_at(ld, path, "set ca_file or ca_path (or both) "
		    "to verify the broker");
	check_cert_and_key(ld, s, object, path);
}

static const struct config_row broker_rows[] = {
	{ STRING("host", struct config_hsp, host, config_rule_non_empty,
	    "127.0.0.1") },
	{ INTEGER("port", struct config_hsp, port, 1, 65535, 1883) },
	{ STRING("username", struct config_hsp, username,
	    config_rule_non_empty, NULL), .flags = CONFIG_NULLABLE },
	{ STRING("password_file", struct config_hsp, password_file,
	    config_rule_absolute_path, NULL),
	    .flags = CONFIG_NULLABLE | CONFIG_CONTENT },
	{ SECTION_POINTER("tls", struct config_hsp, tls, tls_section),
	    .flags = CONFIG_NULLABLE },
	{ INTEGER("keepalive_s", struct config_hsp, keepalive_s, 5, 65535,
	    60) },
};
static const struct config_section broker_section = {
	"hsp.broker", ROWS(broker_rows), NULL
};

/* A persistent session needs MQTT 5. */
static void
finish_hsp(struct config_load *ld, json_t *object, const char *path,
    void *target);

static const struct config_choice protocols[] = {
	{ "mqttv5", 5 }, { "mqttv311", 4 }, { NULL, 0 }
};
static const struct config_choice sessions[] = {
	{ "clean", false }, { "persistent", true }, { NULL, 0 }
};

/* 268435455 (max_message_bytes): the largest packet MQTT can carry. */
static const struct config_row hsp_rows[] = {
	{ SECTION("broker", broker_section), .flags = CONFIG_REQUIRED },
	{ CHOICE("protocol", struct config_hsp, protocol, protocols,
	    "mqttv5") },
	{ CHOICE("session", struct config_hsp, persistent, sessions,
	    "clean") },
	{ STRING("share_group", struct config_hsp, share_group,
	    config_rule_topic_level, NULL), .flags = CONFIG_NULLABLE },
	{ STRING_LIST("extra_subscriptions", struct config_hsp,
	    extra_subscriptions, extra_subscriptions_count,
	    config_rule_topic_filter) },
	{ INTEGER("connect_timeout_s", struct config_hsp, connect_timeout_s,
	    1, 600, 10) },
	{ INTEGER("retire_timeout_s", struct config_hsp, retire_timeout_s,
	    1, 3600, 30) },
	{ INTEGER("dedup_window", struct config_hsp, dedup_window,
	    1, 16777216, 65536) },
	{ INTEGER("session_expiry_s", struct config_hsp, session_expiry_s,
	    1, 2147483647, 86400) },
	{ INTEGER("max_message_bytes", struct config_hsp, max_message_bytes,
	    1024, 268435455, 1048576) },
	{ INTEGER("max_tasks_in_flight", struct config_hsp,
	    max_tasks_in_flight, 1, 65535, 1024) },
	{ INTEGER("dedup_window_bytes", struct config_hsp, dedup_window_bytes,
	    65536, 4294967296LL, 16777216) },
	{ INTEGER("discovery_max_bytes", struct config_hsp,
	    discovery_max_bytes, 65536, 4294967296LL, 16777216) },
	/* Below the 600 s receivers keep an advert (DISCOVERY_MAX_AGE_S). */
	{ INTEGER("advert_interval_s", struct config_hsp, advert_interval_s,
	    1, 599, 300) },
};
static const struct config_section hsp_section = {
	"hsp", ROWS(hsp_rows), finish_hsp
};

/*
 * A persistent session needs a session expiry and a way to end the session
 * of a connector a reload replaced: both are MQTT 5.
 */
static void
finish_hsp(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	struct config_hsp	*hsp = target;
	char			*child;

	(void)object;
	if (!hsp->persistent || hsp->protocol != 4)
		return;
	child = config_member_path(&hsp_section, path,
	    offsetof(struct config_hsp, persistent));
	config_error_at(ld, child, "a \"persistent\" session needs "
	    "\"protocol\": \"mqttv5\" (MQTT 3.1.1 has no session expiry and "
	    "cannot end the session of a replaced connector)");
	free(child);
}

static const struct config_row metrics_rows[] = {
	{ STRING("listen", struct config, metrics.listen, config_rule_listen,
	    NULL), .flags = CONFIG_NULLABLE },
	{ INTEGER("max_connections", struct config, metrics.max_connections,
	    1, 1024, 16) },
	{ INTEGER("timeout_s", struct config, metrics.timeout_s, 1, 3600,
	    10) },
};
static const struct config_section metrics_section = {
	"metrics", ROWS(metrics_rows), NULL
};

/* The agent's topics are built from its id: hsp needs ai_id. */
static void	check_hsp_ai_id(struct config_load *, json_t *, const char *,
		    void *);

static const struct config_row top_rows[] = {
	{ STRING("ai_id", struct config, ai_id, config_rule_topic_level,
	    NULL) },
	{ SECTION("control", control_section), .flags = CONFIG_REQUIRED },
	{ SECTION("drain", drain_section) },
	{ SECTION_POINTER("llm", struct config, llm, llm_section) },
	{ SECTION_POINTER("hsp", struct config, hsp, hsp_section),
	    .check = check_hsp_ai_id },
	{ SECTION("metrics", metrics_section) },
};
const struct config_section config_schema = {
	"Top level", ROWS(top_rows), NULL
};

static void
check_hsp_ai_id(struct config_load *ld, json_t *object, const char *path,
    void *target)
{
	(void)target;
	if (config_member_at(&config_schema, object,
	    offsetof(struct config, ai_id)) == NULL)
		config_error_at(ld, path, "requires the top-level key "
		    "\"ai_id\" (the agent's id)");
}

