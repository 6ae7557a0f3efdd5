/*
 * config-schema.c -- the sections of the configuration, their keys, and the
 * checks between keys (DESIGN.md section 4).
 *
 * The validators walk the parsed document, fill a struct config and report
 * every problem they find, located through the position index by key path.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreload/protocol.h"
#include "config-internal.h"

/* How a member is looked up: may it be absent, may it be null. */
#define MEMBER_OPTIONAL		0x0
#define MEMBER_REQUIRED		0x1
#define MEMBER_NULLABLE		0x2

/*
 * Check that VALUE (at PATH) is a string RULE accepts, or null when
 * MEMBER_NULLABLE is in FLAGS.  Returns the string, or NULL for null and on
 * error.
 */
static const char *
check_string(struct config_load *ld, const char *path, json_t *value, int flags,
    const struct config_string_rule *rule)
{
	char	*expected;

	if (json_is_null(value) && (flags & MEMBER_NULLABLE))
		return (NULL);
	if (json_is_string(value) && rule->valid(json_string_value(value)))
		return (json_string_value(value));
	if (flags & MEMBER_NULLABLE)
		expected = config_xasprintf("%s, or null", rule->expected);
	else
		expected = config_xstrdup(rule->expected);
	config_error_expected(ld, path, value, expected, NULL);
	free(expected);
	return (NULL);
}

/* Check that VALUE (at PATH) is an integer from MIN to MAX. */
static int
check_integer(struct config_load *ld, const char *path, json_t *value, json_int_t min,
    json_int_t max, json_int_t *out)
{
	char	*expected;

	if (json_is_integer(value) && json_integer_value(value) >= min &&
	    json_integer_value(value) <= max) {
		*out = json_integer_value(value);
		return (0);
	}
	expected = config_xasprintf("an integer from %" JSON_INTEGER_FORMAT " to %"
	    JSON_INTEGER_FORMAT, min, max);
	config_error_expected(ld, path, value, expected, NULL);
	free(expected);
	return (-1);
}

/*
 * Member KEY of OBJECT (whose path is PARENT), or NULL when absent; a missing
 * MEMBER_REQUIRED key is reported.  OBJECT may be NULL (an absent section),
 * so that its defaults are filled in the same way.
 */
static json_t *
member_value(struct config_load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;

	value = object == NULL ? NULL : json_object_get(object, key);
	if (value == NULL && object != NULL && (flags & MEMBER_REQUIRED))
		config_error_missing(ld, parent, key);
	return (value);
}

/* True when member KEY is present and not null. */
static bool
member_is_set(json_t *object, const char *key)
{
	json_t	*value;

	value = object == NULL ? NULL : json_object_get(object, key);
	return (value != NULL && !json_is_null(value));
}

/* A string member; a copy of FALLBACK when absent, NULL for null or error. */
static char *
member_string(struct config_load *ld, json_t *object, const char *parent,
    const char *key, int flags, const struct config_string_rule *rule,
    const char *fallback)
{
	json_t		*value;
	const char	*s;
	char		*path;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return (config_xstrdup(fallback));
	path = config_path_key(parent, key);
	s = check_string(ld, path, value, flags, rule);
	free(path);
	return (config_xstrdup(s));
}

/* An integer member from MIN to MAX; FALLBACK when absent or wrong. */
static json_int_t
member_integer(struct config_load *ld, json_t *object, const char *parent,
    const char *key, json_int_t min, json_int_t max, json_int_t fallback)
{
	json_t		*value;
	json_int_t	 n = fallback;
	char		*path;

	if ((value = member_value(ld, object, parent, key, 0)) == NULL)
		return (fallback);
	path = config_path_key(parent, key);
	if (check_integer(ld, path, value, min, max, &n) != 0)
		n = fallback;
	free(path);
	return (n);
}

/* A boolean member; FALLBACK when absent or wrong. */
static bool
member_bool(struct config_load *ld, json_t *object, const char *parent,
    const char *key, bool fallback)
{
	json_t	*value;
	char	*path;

	if ((value = member_value(ld, object, parent, key, 0)) == NULL)
		return (fallback);
	if (json_is_boolean(value))
		return (json_is_true(value));
	path = config_path_key(parent, key);
	config_error_expected(ld, path, value, "true or false", NULL);
	free(path);
	return (fallback);
}

/*
 * A member that must be one of NAMES (NULL-terminated).  Returns its index,
 * FALLBACK when absent, or -1 on error.
 */
static int
member_choice(struct config_load *ld, json_t *object, const char *parent,
    const char *key, int flags, const char *const *names, int fallback)
{
	json_t		*value;
	struct config_buf	 expected;
	char		*path, *hint = NULL;
	size_t		 count = config_names_count(names), i;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return ((flags & MEMBER_REQUIRED) && object != NULL ? -1 :
		    fallback);
	if (json_is_string(value)) {
		for (i = 0; i < count; i++) {
			if (strcmp(json_string_value(value), names[i]) == 0)
				return ((int)i);
		}
		hint = config_suggestion_text(json_string_value(value), names, count);
	}

	config_buf_init(&expected);
	if (count > 2)
		config_buf_add_string(&expected, "one of ");
	for (i = 0; i < count; i++) {
		if (i > 0)
			config_buf_add_string(&expected, i + 1 == count ? " or " : ", ");
		config_buf_add_quoted(&expected, names[i], SIZE_MAX);
	}
	path = config_path_key(parent, key);
	config_error_expected(ld, path, value, expected.data, hint);
	free(path);
	free(expected.data);
	free(hint);
	return (-1);
}

/* An object member, or NULL when absent or wrong. */
static json_t *
member_object(struct config_load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;
	char	*path;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return (NULL);
	if (json_is_object(value))
		return (value);
	path = config_path_key(parent, key);
	config_error_expected(ld, path, value, "an object", NULL);
	free(path);
	return (NULL);
}

/* An array member, or NULL when absent or wrong. */
static json_t *
member_array(struct config_load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;
	char	*path;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return (NULL);
	if (json_is_array(value))
		return (value);
	path = config_path_key(parent, key);
	config_error_expected(ld, path, value, "an array", NULL);
	free(path);
	return (NULL);
}

/*
 * An array member of strings that RULE accepts.  Returns copies of the
 * valid ones; errors are reported for the others.
 */
static char **
member_string_list(struct config_load *ld, json_t *object, const char *parent,
    const char *key, const struct config_string_rule *rule, size_t *count)
{
	json_t		*array, *value;
	const char	*s;
	char		**list, *path, *element;
	size_t		 i;

	*count = 0;
	if ((array = member_array(ld, object, parent, key, 0)) == NULL)
		return (NULL);
	list = config_xcalloc(json_array_size(array), sizeof *list);
	path = config_path_key(parent, key);
	json_array_foreach(array, i, value) {
		element = config_path_element(path, i);
		if ((s = check_string(ld, element, value, 0, rule)) != NULL)
			list[(*count)++] = config_xstrdup(s);
		free(element);
	}
	free(path);
	return (list);
}

/* control.admin_uids: user ids, excluding (uid_t)-1. */
static void
check_admin_uids(struct config_load *ld, json_t *control)
{
	struct config	*c = ld->config;
	json_t		*array, *value;
	json_int_t	 uid;
	char		*element;
	size_t		 i;

	array = member_array(ld, control, "control", "admin_uids", 0);
	if (array == NULL)
		return;
	c->control.admin_uids = config_xcalloc(json_array_size(array),
	    sizeof *c->control.admin_uids);
	json_array_foreach(array, i, value) {
		element = config_path_element("control.admin_uids", i);
		if (check_integer(ld, element, value, 0, 4294967294LL,
		    &uid) == 0)
			c->control.admin_uids[c->control.admin_uids_count++] =
			    (uid_t)uid;
		free(element);
	}
}

/* S as a JSON string literal, for a message. */
/*
 * control.admin_groups: group names, looked up now.  A group that does not
 * exist is only a warning: the same file may serve several machines, and
 * root is an admin in any case.
 */
static void
check_admin_groups(struct config_load *ld, json_t *control)
{
	struct config	*c = ld->config;
	struct group	*gr;
	json_t		*array, *value;
	const char	*name;
	char		*element, *shown;
	size_t		 i;
	int		 saved_errno;

	array = member_array(ld, control, "control", "admin_groups", 0);
	if (array == NULL)
		return;
	c->control.admin_groups = config_xcalloc(json_array_size(array),
	    sizeof *c->control.admin_groups);
	c->control.admin_gids = config_xcalloc(json_array_size(array),
	    sizeof *c->control.admin_gids);
	json_array_foreach(array, i, value) {
		element = config_path_element("control.admin_groups", i);
		name = check_string(ld, element, value, 0, &config_rule_non_empty);
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
			config_warning_at(ld, element, "no group named %s on this "
			    "system; ignored", shown);
		else
			config_warning_at(ld, element, "cannot look up group %s: %s; "
			    "ignored", shown, strerror(saved_errno));
		free(shown);
		free(element);
	}
}

/* The control section: the socket, who is an admin, and the limits. */
static void
check_control(struct config_load *ld, json_t *control)
{
	static const char *const keys[] = {
		"socket", "mode", "admin_uids", "admin_groups", "max_clients",
		"max_request_bytes", "queue_depth", "command_timeout_s",
		"idle_timeout_s", "max_reply_bytes_queued",
		"reserved_admin_clients", "max_clients_per_uid", NULL
	};
	struct config		*c = ld->config;
	struct sockaddr_un	 sun;
	char			*mode;

	config_check_keys(ld, control, "control", keys);

	c->control.socket = member_string(ld, control, "control", "socket", 0,
	    &config_rule_absolute_path, HR_DEFAULT_SOCKET);
	if (c->control.socket != NULL &&
	    strlen(c->control.socket) >= sizeof sun.sun_path) {
		config_error_at(ld, "control.socket", "expected an absolute path "
		    "shorter than %zu bytes, got a path of %zu bytes",
		    sizeof sun.sun_path, strlen(c->control.socket));
	}

	c->control.mode = CONFIG_DEFAULT_MODE;
	mode = member_string(ld, control, "control", "mode", 0, &config_rule_mode,
	    NULL);
	if (mode != NULL)
		c->control.mode = config_mode_from_string(mode);
	free(mode);

	check_admin_uids(ld, control);
	check_admin_groups(ld, control);

	c->control.max_clients = member_integer(ld, control, "control",
	    "max_clients", 1, 4096, CONFIG_DEFAULT_MAX_CLIENTS);
	c->control.max_request_bytes = member_integer(ld, control, "control",
	    "max_request_bytes", 256, 16777216,
	    CONFIG_DEFAULT_MAX_REQUEST_BYTES);
	c->control.queue_depth = member_integer(ld, control, "control",
	    "queue_depth", 1, 1024, CONFIG_DEFAULT_QUEUE_DEPTH);
	c->control.command_timeout_s = member_integer(ld, control, "control",
	    "command_timeout_s", 1, 86400, CONFIG_DEFAULT_COMMAND_TIMEOUT_S);
	c->control.idle_timeout_s = member_integer(ld, control, "control",
	    "idle_timeout_s", 1, 86400, CONFIG_DEFAULT_IDLE_TIMEOUT_S);
	c->control.max_reply_bytes_queued = member_integer(ld, control,
	    "control", "max_reply_bytes_queued", 65536, 1073741824,
	    CONFIG_DEFAULT_MAX_REPLY_BYTES_QUEUED);
	c->control.max_clients_per_uid = member_integer(ld, control,
	    "control", "max_clients_per_uid", 1, 4096,
	    CONFIG_DEFAULT_MAX_CLIENTS_PER_UID);
	/*
	 * The reserve must leave a slot for everyone else.  Unset, it is
	 * the default cut to max_clients - 1 (a tiny max_clients in a test
	 * or a one-operator machine stays valid); set, it must fit.
	 */
	if (member_is_set(control, "reserved_admin_clients")) {
		c->control.reserved_admin_clients = member_integer(ld, control,
		    "control", "reserved_admin_clients", 0, 4095, 0);
		if (c->control.reserved_admin_clients >=
		    c->control.max_clients && c->control.max_clients > 0)
			config_error_at(ld, "control.reserved_admin_clients",
			    "must be less than control.max_clients (%d), so "
			    "that non-admin clients get a slot",
			    c->control.max_clients);
	} else {
		c->control.reserved_admin_clients =
		    CONFIG_DEFAULT_RESERVED_ADMIN_CLIENTS;
		if (c->control.reserved_admin_clients >=
		    c->control.max_clients)
			c->control.reserved_admin_clients =
			    c->control.max_clients - 1;
	}
}

/* The drain section (NULL when absent: defaults only). */
static void
check_drain(struct config_load *ld, json_t *drain)
{
	static const char *const keys[] = { "timeout_s", NULL };

	if (drain != NULL)
		config_check_keys(ld, drain, "drain", keys);
	ld->config->drain.timeout_s = member_integer(ld, drain, "drain",
	    "timeout_s", 0, 86400, CONFIG_DEFAULT_DRAIN_TIMEOUT_S);
}

/* One element of llm.backends, at PATH. */
static void
check_backend(struct config_load *ld, json_t *object, const char *path,
    struct config_backend *b)
{
	static const char *const keys[] = {
		"name", "provider", "base_url", "model", "api_key_env",
		"api_key_file", "timeout_s", "max_in_flight", NULL
	};
	static const char *const providers[] = {
		"openai", "ollama", "anthropic", NULL
	};
	char	*child;
	int	 provider;

	if (!json_is_object(object)) {
		config_error_expected(ld, path, object, "an object", NULL);
		return;
	}
	config_check_keys(ld, object, path, keys);

	b->name = member_string(ld, object, path, "name", MEMBER_REQUIRED,
	    &config_rule_backend_name, NULL);
	provider = member_choice(ld, object, path, "provider", MEMBER_REQUIRED,
	    providers, -1);
	if (provider >= 0)
		b->provider = config_xstrdup(providers[provider]);
	b->base_url = member_string(ld, object, path, "base_url",
	    MEMBER_REQUIRED, &config_rule_url, NULL);
	b->model = member_string(ld, object, path, "model", MEMBER_REQUIRED,
	    &config_rule_non_empty, NULL);
	b->api_key_env = member_string(ld, object, path, "api_key_env",
	    MEMBER_NULLABLE, &config_rule_environment_name, NULL);
	b->api_key_file = member_string(ld, object, path, "api_key_file",
	    MEMBER_NULLABLE, &config_rule_absolute_path, NULL);
	if (member_is_set(object, "api_key_env") &&
	    member_is_set(object, "api_key_file")) {
		child = config_path_key(path, "api_key_file");
		config_error_at(ld, child, "cannot be set together with api_key_env; "
		    "set one of them (or neither)");
		free(child);
	}
	b->timeout_s = member_integer(ld, object, path, "timeout_s", 1, 3600,
	    60);
	b->max_in_flight = member_integer(ld, object, path, "max_in_flight", 1,
	    10000, 64);
}

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
		name = json_is_object(value) ? json_object_get(value, "name") :
		    NULL;
		if (json_is_string(name))
			names[i] = json_string_value(name);
	}
	return (names);
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

/*
 * llm.fallback: back-end names, each known and listed once.  When absent,
 * every back end in file order.
 */
static void
check_fallback(struct config_load *ld, json_t *object, json_t *backends)
{
	struct config_llm	 *llm = ld->config->llm;
	const char		**names, **known;
	json_t			 *array, *value;
	const char		 *name;
	char			 *element, *hint, *shown;
	size_t			  count, known_count, i;
	ssize_t			  found;

	names = backend_names(backends, &count);

	array = member_array(ld, object, "llm", "fallback", 0);
	if (array == NULL) {
		if (json_object_get(object, "fallback") == NULL) {
			llm->fallback = config_xcalloc(count, sizeof *llm->fallback);
			for (i = 0; i < count; i++) {
				if (names[i] != NULL)
					llm->fallback[llm->fallback_count++] =
					    config_xstrdup(names[i]);
			}
		}
		free(names);
		return;
	}
	if (json_array_size(array) == 0)
		config_error_at(ld, "llm.fallback", "expected a non-empty array of "
		    "back-end names (leave it out to try every back end in "
		    "order)");

	/* Candidates for suggestions: the named back ends only. */
	known = config_xcalloc(count, sizeof *known);
	known_count = 0;
	for (i = 0; i < count; i++) {
		if (names[i] != NULL)
			known[known_count++] = names[i];
	}

	llm->fallback = config_xcalloc(json_array_size(array), sizeof *llm->fallback);
	json_array_foreach(array, i, value) {
		element = config_path_element("llm.fallback", i);
		name = check_string(ld, element, value, 0, &config_rule_non_empty);
		if (name == NULL) {
			free(element);
			continue;
		}
		shown = config_quoted(name);
		found = name_find((const char **)llm->fallback,
		    llm->fallback_count, name);
		if (name_find(names, count, name) == -1) {
			hint = config_suggestion_text(name, known, known_count);
			config_error_at(ld, element, "no back end is named %s%s",
			    shown, hint);
			free(hint);
		} else if (found != -1)
			config_error_at(ld, element, "back end %s is listed twice",
			    shown);
		else
			llm->fallback[llm->fallback_count++] = config_xstrdup(name);
		free(shown);
		free(element);
	}
	free(known);
	free(names);
}

/* The llm section: back ends and the order they are tried in. */
static void
check_llm(struct config_load *ld, json_t *object)
{
	static const char *const keys[] = {
		"backends", "fallback", "probe_on_reload", "retire_timeout_s",
		"dialogue_history_bytes", NULL
	};
	struct config_llm	*llm;
	json_t			*backends, *value;
	char			*element, *shown, *other;
	size_t			 i, j;

	llm = ld->config->llm = config_xcalloc(1, sizeof *ld->config->llm);
	config_check_keys(ld, object, "llm", keys);

	backends = member_array(ld, object, "llm", "backends",
	    MEMBER_REQUIRED);
	if (backends != NULL) {
		if (json_array_size(backends) == 0)
			config_error_at(ld, "llm.backends", "expected a non-empty "
			    "array of back ends");
		else if (json_array_size(backends) > CONFIG_MAX_BACKENDS)
			config_error_at(ld, "llm.backends", "expected at most %d back "
			    "ends, got %zu", CONFIG_MAX_BACKENDS,
			    json_array_size(backends));
		llm->backends = config_xcalloc(json_array_size(backends),
		    sizeof *llm->backends);
		llm->backends_count = json_array_size(backends);
		json_array_foreach(backends, i, value) {
			element = config_path_element("llm.backends", i);
			check_backend(ld, value, element, &llm->backends[i]);
			free(element);
		}

		/* A name is used once; report each repeat at its name. */
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
			element = config_xasprintf("llm.backends[%zu].name", i);
			other = config_path_element("llm.backends", j);
			shown = config_quoted(llm->backends[i].name);
			config_error_at(ld, element, "duplicate back-end name %s "
			    "(already used by %s)", shown, other);
			free(shown);
			free(other);
			free(element);
		}
		check_fallback(ld, object, backends);
	}

	llm->probe_on_reload = member_bool(ld, object, "llm",
	    "probe_on_reload", true);
	llm->retire_timeout_s = member_integer(ld, object, "llm",
	    "retire_timeout_s", 1, 86400, 120);
	llm->dialogue_history_bytes = member_integer(ld, object, "llm",
	    "dialogue_history_bytes", 65536, 4294967296LL,
	    CONFIG_DEFAULT_DIALOGUE_HISTORY_BYTES);
}

/* hsp.broker.tls: certificate authority, and an optional client cert. */
static void
check_tls(struct config_load *ld, json_t *object)
{
	static const char *const keys[] = {
		"ca_file", "ca_path", "cert_file", "key_file", NULL
	};
	static const char	*path = "hsp.broker.tls";
	struct config_tls	*tls;

	tls = ld->config->hsp->tls = config_xcalloc(1, sizeof *tls);
	config_check_keys(ld, object, path, keys);
	tls->ca_file = member_string(ld, object, path, "ca_file",
	    MEMBER_NULLABLE, &config_rule_absolute_path, NULL);
	tls->ca_path = member_string(ld, object, path, "ca_path",
	    MEMBER_NULLABLE, &config_rule_absolute_path, NULL);
	tls->cert_file = member_string(ld, object, path, "cert_file",
	    MEMBER_NULLABLE, &config_rule_absolute_path, NULL);
	tls->key_file = member_string(ld, object, path, "key_file",
	    MEMBER_NULLABLE, &config_rule_absolute_path, NULL);

	if (!member_is_set(object, "ca_file") &&
	    !member_is_set(object, "ca_path"))
		config_error_at(ld, path, "set ca_file or ca_path (or both) to "
		    "verify the broker");
	if (member_is_set(object, "cert_file") !=
	    member_is_set(object, "key_file"))
		config_error_at(ld, path, "cert_file and key_file go together: set "
		    "both or neither");
}

/* hsp.broker: where the broker is and how to log in. */
static void
check_broker(struct config_load *ld, json_t *object)
{
	static const char *const keys[] = {
		"host", "port", "username", "password_file", "tls",
		"keepalive_s", NULL
	};
	static const char	*path = "hsp.broker";
	struct config_hsp	*hsp = ld->config->hsp;
	json_t			*tls;

	config_check_keys(ld, object, path, keys);
	hsp->host = member_string(ld, object, path, "host", 0, &config_rule_non_empty,
	    "127.0.0.1");
	hsp->port = member_integer(ld, object, path, "port", 1, 65535, 1883);
	hsp->username = member_string(ld, object, path, "username",
	    MEMBER_NULLABLE, &config_rule_non_empty, NULL);
	hsp->password_file = member_string(ld, object, path, "password_file",
	    MEMBER_NULLABLE, &config_rule_absolute_path, NULL);
	tls = json_object_get(object, "tls");
	if (json_is_object(tls))
		check_tls(ld, tls);
	else if (tls != NULL && !json_is_null(tls))
		config_error_expected(ld, "hsp.broker.tls", tls, "an object, or null",
		    NULL);
	hsp->keepalive_s = member_integer(ld, object, path, "keepalive_s", 5,
	    65535, 60);
}

/* The hsp section: the broker connection and the MQTT session. */
static void
check_hsp(struct config_load *ld, json_t *object)
{
	static const char *const keys[] = {
		"broker", "protocol", "session", "share_group",
		"extra_subscriptions", "connect_timeout_s", "retire_timeout_s",
		"dedup_window", "session_expiry_s", "max_message_bytes",
		"max_tasks_in_flight", "dedup_window_bytes",
		"discovery_max_bytes", NULL
	};
	static const char *const protocols[] = { "mqttv5", "mqttv311", NULL };
	static const char *const sessions[] = { "clean", "persistent", NULL };
	struct config_hsp	*hsp;
	json_t			*broker;

	hsp = ld->config->hsp = config_xcalloc(1, sizeof *ld->config->hsp);
	config_check_keys(ld, object, "hsp", keys);

	broker = member_object(ld, object, "hsp", "broker", MEMBER_REQUIRED);
	if (broker != NULL)
		check_broker(ld, broker);

	hsp->protocol = member_choice(ld, object, "hsp", "protocol", 0,
	    protocols, 0) == 1 ? 4 : 5;
	hsp->persistent = member_choice(ld, object, "hsp", "session", 0,
	    sessions, 0) == 1;
	/*
	 * A persistent session needs a session expiry and a way to end the
	 * session of a connector a reload replaced: both are MQTT 5.
	 */
	if (hsp->persistent && hsp->protocol == 4)
		config_error_at(ld, "hsp.session", "a \"persistent\" session needs "
		    "\"protocol\": \"mqttv5\" (MQTT 3.1.1 has no session "
		    "expiry and cannot end the session of a replaced "
		    "connector)");
	hsp->share_group = member_string(ld, object, "hsp", "share_group",
	    MEMBER_NULLABLE, &config_rule_topic_level, NULL);
	hsp->extra_subscriptions = member_string_list(ld, object, "hsp",
	    "extra_subscriptions", &config_rule_topic_filter,
	    &hsp->extra_subscriptions_count);
	hsp->connect_timeout_s = member_integer(ld, object, "hsp",
	    "connect_timeout_s", 1, 600, 10);
	hsp->retire_timeout_s = member_integer(ld, object, "hsp",
	    "retire_timeout_s", 1, 3600, 30);
	hsp->dedup_window = member_integer(ld, object, "hsp", "dedup_window", 1,
	    16777216, 65536);
	hsp->session_expiry_s = member_integer(ld, object, "hsp",
	    "session_expiry_s", 1, 2147483647, 86400);
	/* 268435455: the largest packet MQTT can carry. */
	hsp->max_message_bytes = member_integer(ld, object, "hsp",
	    "max_message_bytes", 1024, 268435455,
	    CONFIG_DEFAULT_MAX_MESSAGE_BYTES);
	hsp->max_tasks_in_flight = member_integer(ld, object, "hsp",
	    "max_tasks_in_flight", 1, 65535,
	    CONFIG_DEFAULT_MAX_TASKS_IN_FLIGHT);
	hsp->dedup_window_bytes = member_integer(ld, object, "hsp",
	    "dedup_window_bytes", 65536, 4294967296LL,
	    CONFIG_DEFAULT_DEDUP_WINDOW_BYTES);
	hsp->discovery_max_bytes = member_integer(ld, object, "hsp",
	    "discovery_max_bytes", 65536, 4294967296LL,
	    CONFIG_DEFAULT_DISCOVERY_MAX_BYTES);
}

/* The metrics section (NULL when absent: defaults only). */
static void
check_metrics(struct config_load *ld, json_t *metrics)
{
	static const char *const keys[] = {
		"listen", "max_connections", "timeout_s", NULL
	};

	if (metrics != NULL)
		config_check_keys(ld, metrics, "metrics", keys);
	ld->config->metrics.listen = member_string(ld, metrics, "metrics",
	    "listen", MEMBER_NULLABLE, &config_rule_listen, NULL);
	ld->config->metrics.max_connections = member_integer(ld, metrics,
	    "metrics", "max_connections", 1, 1024,
	    CONFIG_DEFAULT_METRICS_MAX_CONNECTIONS);
	ld->config->metrics.timeout_s = member_integer(ld, metrics, "metrics",
	    "timeout_s", 1, 3600, CONFIG_DEFAULT_METRICS_TIMEOUT_S);
}

/* The whole document. */
void
config_check_document(struct config_load *ld, json_t *root)
{
	static const char *const keys[] = {
		"ai_id", "control", "drain", "llm", "hsp", "metrics", NULL
	};
	struct config	*c = ld->config;
	json_t		*section;
	char		*got;

	if (!json_is_object(root)) {
		got = config_describe_value(ld, "", root);
		config_error_at(ld, "", "expected an object at the top level, got %s",
		    got);
		free(got);
		return;
	}
	config_check_keys(ld, root, "", keys);

	c->ai_id = member_string(ld, root, "", "ai_id", 0, &config_rule_topic_level,
	    NULL);

	section = member_object(ld, root, "", "control", MEMBER_REQUIRED);
	if (section != NULL)
		check_control(ld, section);

	check_drain(ld, member_object(ld, root, "", "drain", 0));

	if ((section = member_object(ld, root, "", "llm", 0)) != NULL)
		check_llm(ld, section);

	if ((section = member_object(ld, root, "", "hsp", 0)) != NULL) {
		check_hsp(ld, section);
		/* The agent's topics are built from its id. */
		if (json_object_get(root, "ai_id") == NULL)
			config_error_at(ld, "hsp", "requires the top-level key "
			    "\"ai_id\" (the agent's id)");
	}

	check_metrics(ld, member_object(ld, root, "", "metrics", 0));
}

