/*
 * cmd-reload-plan.c -- what a reload would change (DESIGN.md 7.1).
 *
 * The plan compares the running configuration with the new one: the
 * daemon-wide settings that change (control, drain, metrics, ai_id), with
 * their old and new values as the file gives them (null: absent, the
 * default applies), and per service an action with the key paths that
 * changed.  A service's keys are named, never their values: a section may
 * hold secrets (an api_key in a base URL, a password file's path is
 * harmless but its content is not).  A file whose content changed is
 * named by the key that points to it.
 *
 *   {"settings": [{"key": "control.max_clients", "from": 64, "to": 128}],
 *    "services": {"llm": {"action": "replace",
 *                         "changed": ["llm.backends[0].base_url"]}, ...}}
 *
 * Actions: "replace" (running; a new instance is built), "keep" (running,
 * unchanged, or its section is gone, which needs a restart), "start" (not
 * running, now configured) and "not_configured".
 */
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "cmd-reload.h"

/* A plan lists at most this many changed keys per part. */
#define PLAN_MAX_CHANGES	64

/* The sections that are services; the rest of the file is settings. */
static bool
plan_is_service_section(const char *key)
{
	return (strcmp(key, "llm") == 0 || strcmp(key, "hsp") == 0);
}

/* Append a change at PATH to OUT: the path, or {key, from, to}. */
static void
plan_add(json_t *out, const char *path, json_t *from, json_t *to,
    bool values)
{
	if (json_array_size(out) >= PLAN_MAX_CHANGES)
		return;
	if (values)
		json_array_append_new(out, json_pack("{s:s, s:O?, s:O?}",
		    "key", path, "from", from, "to", to));
	else
		json_array_append_new(out, json_string(path));
}

/*
 * The leaves where A and B differ, under PATH, into OUT; either may be
 * NULL (absent).  Objects are compared key by key, arrays element by
 * element; anything else, or a change of type, is one change at PATH.
 * With VALUES each change carries its old and new value.
 */
static void
plan_diff(json_t *a, json_t *b, const char *path, json_t *out, bool values)
{
	const char	*key;
	json_t		*value;
	char		*child;
	size_t		 i, n;

	if (a != NULL && b != NULL && json_equal(a, b))
		return;
	if (json_is_object(a) && json_is_object(b)) {
		json_object_foreach(a, key, value) {
			child = str_printf("%s%s%s", path, *path ? "." : "",
			    key);
			if (child != NULL)
				plan_diff(value, json_object_get(b, key), child,
				    out, values);
			free(child);
		}
		json_object_foreach(b, key, value) {
			if (json_object_get(a, key) != NULL)
				continue;
			child = str_printf("%s%s%s", path, *path ? "." : "",
			    key);
			if (child != NULL)
				plan_diff(NULL, value, child, out, values);
			free(child);
		}
		return;
	}
	if (json_is_array(a) && json_is_array(b)) {
		n = json_array_size(a) > json_array_size(b) ?
		    json_array_size(a) : json_array_size(b);
		for (i = 0; i < n; i++) {
			child = str_printf("%s[%zu]", path, i);
			if (child != NULL)
				plan_diff(json_array_get(a, i),
				    json_array_get(b, i), child, out, values);
			free(child);
		}
		return;
	}
	plan_add(out, path, a, b, values);
}

/* Is PATH in the array of strings LIST? */
static bool
plan_listed(json_t *list, const char *path)
{
	json_t	*value;
	size_t	 i;

	json_array_foreach(list, i, value) {
		if (strcmp(json_string_value(value), path) == 0)
			return (true);
	}
	return (false);
}

/*
 * The keys of service section NAME that changed from OLD (NULL: none) to
 * NEW: its JSON, the content of the files it names, and for hsp the
 * ai_id its topics are built from.
 */
static json_t *
plan_service_changes(const struct config *old, const struct config *new,
    const char *name)
{
	json_t		*changed = json_array(), *entry;
	const char	*key;
	size_t		 length = strlen(name);

	plan_diff(old != NULL ? json_object_get(old->root, name) : NULL,
	    json_object_get(new->root, name), name, changed, false);
	json_object_foreach(new->files, key, entry) {
		if (strncmp(key, name, length) != 0 || (key[length] != '.' &&
		    key[length] != '['))
			continue;
		if (old != NULL && !json_equal(entry, json_object_get(
		    old->files, key)) && !plan_listed(changed, key))
			plan_add(changed, key, NULL, NULL, false);
	}
	if (strcmp(name, "hsp") == 0 && old != NULL &&
	    !json_equal(json_object_get(old->root, "ai_id"),
	    json_object_get(new->root, "ai_id")))
		plan_add(changed, "ai_id", NULL, NULL, false);
	return (changed);
}

/*
 * What a reload of the services in IDS (COUNT of them; WHOLE: "reload",
 * which also applies the settings and keeps what did not change) to
 * CONFIG would do.  The services to build go to PARTS (in order), their
 * number to *PARTS_COUNT.
 */
json_t *
reload_plan(struct config *config, const enum service_id *ids, size_t count,
    bool whole, enum service_id *parts, size_t *parts_count)
{
	struct service_slot	*slot;
	json_t			*settings, *services, *changed, *part;
	json_t			*a, *b, *value;
	const char		*key, *action;
	struct config		*old;
	size_t			 i;

	*parts_count = 0;
	settings = json_array();
	services = json_object();
	if (whole) {
		/* Everything but the service sections, with values. */
		a = json_object();
		b = json_object();
		json_object_foreach(hr->config->root, key, value) {
			if (!plan_is_service_section(key))
				json_object_set(a, key, value);
		}
		json_object_foreach(config->root, key, value) {
			if (!plan_is_service_section(key))
				json_object_set(b, key, value);
		}
		plan_diff(a, b, "", settings, true);
		json_decref(a);
		json_decref(b);
	}
	for (i = 0; i < count; i++) {
		slot = registry_slot(hr->registry, ids[i]);
		old = slot->current != NULL ? slot->config : NULL;
		if (slot->ops == NULL || !slot->ops->configured(config)) {
			action = slot->current != NULL ? "keep" :
			    "not_configured";
			changed = json_array();
		} else {
			changed = plan_is_service_section(slot->name) ?
			    plan_service_changes(old, config, slot->name) :
			    json_array();
			if (slot->current == NULL)
				action = "start";
			else if (!whole || reload_slot_changed(slot, config))
				action = "replace";
			else
				action = "keep";
		}
		if (strcmp(action, "start") == 0 ||
		    strcmp(action, "replace") == 0)
			parts[(*parts_count)++] = ids[i];
		part = json_pack("{s:s, s:o}", "action", action, "changed",
		    changed);
		if (slot->current != NULL && slot->ops != NULL &&
		    !slot->ops->configured(config))
			json_object_set_new(part, "note", json_string("its "
			    "section is gone from the file: it keeps running "
			    "until hotreloadd restarts"));
		json_object_set_new(services, slot->name, part);
	}
	return (json_pack("{s:o, s:o}", "settings", settings, "services",
	    services));
}
