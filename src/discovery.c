/*
 * discovery.c -- ServiceDiscovery: the capabilities other agents advertise.
 *
 * Fed by the router with every CapabilityAdvertisement: capability id ->
 * the agent, the name and the last time it was seen.  Any peer can publish
 * adverts, so the store is bounded twice: at most DISCOVERY_MAX_ENTRIES
 * entries and at most hsp.discovery_max_bytes bytes, each entry counted as
 * the size of its JSON (discovery_entry_bytes).  Entries older than
 * DISCOVERY_MAX_AGE_S are ignored and dropped.
 *
 * Entries are found by id in a balanced tree (tsearch: O(log n) whatever
 * ids a peer picks) and kept on a list in last-seen order, oldest first,
 * so that expiry and eviction take from the head: O(1) per entry dropped,
 * never a scan of the table per advert.
 */
#include <sys/queue.h>

#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "config.h"
#include "hsp.h"

/*
 * The bytes of an entry besides its strings: the keys and punctuation of
 * {"capability_id":"","ai_id":"","name":"","version":"",
 * "availability_status":"","advertised_by":"","seen":0000000.000000}.
 */
#define DISCOVERY_ENTRY_OVERHEAD	124

/* One capability: the latest advert of its id. */
struct discovery_entry {
	char				*id;	/* capability_id; the key */
	char				*ai_id;	/* who sent it */
	char				*name;
	char				*version;
	char				*status;	/* "online" if not said */
	char				*advertised_by;
	double				 seen;	/* monotonic s */
	size_t				 bytes;
	TAILQ_ENTRY(discovery_entry)	 entry;	/* last-seen order */
};
TAILQ_HEAD(discovery_entries, discovery_entry);

static struct {
	bool			 initialized;
	void			*tree;		/* of entries, by id */
	struct discovery_entries entries;	/* oldest seen first */
	size_t			 count;
	size_t			 bytes;
	size_t			 max_bytes;
	uint64_t		 adverts_seen;
	uint64_t		 evicted;	/* to make room */
	uint64_t		 too_large;	/* larger than max_bytes */
} discovery = { .max_bytes = DISCOVERY_DEFAULT_MAX_BYTES };

/* Now on the monotonic clock, in seconds. */
static double
discovery_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Order of the tree: by capability id. */
static int
discovery_compare(const void *a, const void *b)
{
	const struct discovery_entry	*x = a, *y = b;

	return (strcmp(x->id, y->id));
}

/* The size an entry is counted as: that of its JSON, without escapes. */
static size_t
discovery_entry_bytes(const struct discovery_entry *e)
{
	return (DISCOVERY_ENTRY_OVERHEAD + strlen(e->id) + strlen(e->ai_id) +
	    (e->name != NULL ? strlen(e->name) : 0) +
	    (e->version != NULL ? strlen(e->version) : 0) +
	    (e->status != NULL ? strlen(e->status) : 0) +
	    (e->advertised_by != NULL ? strlen(e->advertised_by) : 0));
}

/* Free an entry that is in neither the tree nor the list. */
static void
discovery_entry_free(struct discovery_entry *e)
{
	if (e == NULL)
		return;
	free(e->id);
	free(e->ai_id);
	free(e->name);
	free(e->version);
	free(e->status);
	free(e->advertised_by);
	free(e);
}

/* Take entry E out of the tree and the list, and free it. */
static void
discovery_remove(struct discovery_entry *e)
{
	tdelete(e, &discovery.tree, discovery_compare);
	TAILQ_REMOVE(&discovery.entries, e, entry);
	discovery.count--;
	discovery.bytes -= e->bytes;
	discovery_entry_free(e);
}

/* Drop the entries not seen for DISCOVERY_MAX_AGE_S, from the oldest. */
static void
discovery_expire(double now)
{
	struct discovery_entry	*e;

	while ((e = TAILQ_FIRST(&discovery.entries)) != NULL &&
	    now - e->seen > DISCOVERY_MAX_AGE_S)
		discovery_remove(e);
}

/*
 * Evict the entries seen least recently until COUNT more entries of BYTES
 * more bytes fit.
 */
static void
discovery_make_room(size_t count, size_t bytes)
{
	struct discovery_entry	*e;

	while ((e = TAILQ_FIRST(&discovery.entries)) != NULL &&
	    (discovery.count + count > DISCOVERY_MAX_ENTRIES ||
	    discovery.bytes + bytes > discovery.max_bytes)) {
		discovery_remove(e);
		discovery.evicted++;
	}
}

/* Start with an empty store. */
int
discovery_init(void)
{
	if (!discovery.initialized) {
		TAILQ_INIT(&discovery.entries);
		discovery.initialized = true;
	}
	return (0);
}

/*
 * Apply the limits of the hsp section CFG (NULL: the defaults); a smaller
 * max_bytes evicts at once.
 */
void
discovery_configure(const struct config_hsp *cfg)
{
	discovery.max_bytes = cfg != NULL ? cfg->discovery_max_bytes :
	    DISCOVERY_DEFAULT_MAX_BYTES;
	if (discovery.initialized)
		discovery_make_room(0, 0);
}

/* Free the store (exit). */
void
discovery_free(void)
{
	struct discovery_entry	*e;

	if (!discovery.initialized)
		return;
	while ((e = TAILQ_FIRST(&discovery.entries)) != NULL)
		discovery_remove(e);
	discovery.initialized = false;
	discovery.adverts_seen = discovery.evicted = discovery.too_large = 0;
}

/* A copy of string member KEY of OBJECT, NULL when absent; false: no memory. */
static bool
discovery_copy(json_t *object, const char *key, char **out)
{
	const char	*value = json_string_value(json_object_get(object, key));

	*out = NULL;
	return (value == NULL || (*out = strdup(value)) != NULL);
}

/* Record an advertisement PAYLOAD sent by SENDER. */
void
discovery_advert(const char *sender, json_t *payload)
{
	struct discovery_entry	*e, *old, **found;
	const char		*id = json_string_value(json_object_get(payload,
				    "capability_id"));
	double			 now = discovery_now();

	if (id == NULL || !discovery.initialized)
		return;
	discovery.adverts_seen++;
	discovery_expire(now);

	if ((e = calloc(1, sizeof *e)) == NULL ||
	    (e->id = strdup(id)) == NULL || (e->ai_id = strdup(sender)) ==
	    NULL || !discovery_copy(payload, "name", &e->name) ||
	    !discovery_copy(payload, "version", &e->version) ||
	    !discovery_copy(payload, "availability_status", &e->status) ||
	    !discovery_copy(payload, "ai_id", &e->advertised_by) ||
	    (e->status == NULL && (e->status = strdup("online")) == NULL)) {
		discovery_entry_free(e);
		return;
	}
	e->seen = now;
	e->bytes = discovery_entry_bytes(e);

	/* The new advert replaces the old one of the same id, whatever it is. */
	if ((found = tfind(e, &discovery.tree, discovery_compare)) != NULL) {
		old = *found;
		discovery_remove(old);
	}
	if (e->bytes > discovery.max_bytes) {
		discovery.too_large++;
		discovery_entry_free(e);
		return;
	}
	discovery_make_room(1, e->bytes);
	if (tsearch(e, &discovery.tree, discovery_compare) == NULL) {
		discovery_entry_free(e);
		return;
	}
	TAILQ_INSERT_TAIL(&discovery.entries, e, entry);
	discovery.count++;
	discovery.bytes += e->bytes;
}

/* qsort: two C strings by strcmp. */
static int
discovery_compare_strings(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* The agents that have a capability named (or with the id) NAME. */
static json_t *
discovery_agents_with(const char *name)
{
	struct discovery_entry	*e;
	json_t			*with = json_object();

	TAILQ_FOREACH(e, &discovery.entries, entry) {
		if (strcmp(e->id, name) == 0 ||
		    (e->name != NULL && strcmp(e->name, name) == 0))
			json_object_set_new(with, e->ai_id, json_true());
	}
	return (with);
}

/*
 * What discovery knows, by agent: {"agents": [{"ai_id", "last_advert_s"
 * (seconds since its latest advert), "capabilities": [{"capability_id",
 * "name", "version", "availability_status", "age_s"}]}]}, agents by id.
 * With CAPABILITY, only the agents that have one of that name or id.
 */
json_t *
discovery_agents(const char *capability)
{
	struct discovery_entry	*e;
	json_t			*by_agent = json_object(), *agent;
	json_t			*agents = json_array(), *with;
	const char		*ai_id, **ids;
	double			 now = discovery_now(), age;
	size_t			 n = 0, i;

	if (discovery.initialized) {
		discovery_expire(now);
		with = capability != NULL ? discovery_agents_with(capability) :
		    NULL;
		TAILQ_FOREACH(e, &discovery.entries, entry) {
			if (with != NULL &&
			    json_object_get(with, e->ai_id) == NULL)
				continue;
			age = now - e->seen;
			if ((agent = json_object_get(by_agent, e->ai_id)) ==
			    NULL) {
				agent = json_pack("{s:s, s:f, s:[]}", "ai_id",
				    e->ai_id, "last_advert_s", age,
				    "capabilities");
				json_object_set_new(by_agent, e->ai_id, agent);
			}
			/* Oldest first: the last one is the latest. */
			json_object_set_new(agent, "last_advert_s",
			    json_real(age));
			json_array_append_new(json_object_get(agent,
			    "capabilities"), json_pack("{s:s, s:s?, s:s?, s:s, "
			    "s:f}", "capability_id", e->id, "name", e->name,
			    "version", e->version, "availability_status",
			    e->status, "age_s", age));
		}
		json_decref(with);
	}
	/* json_object keeps no order: sort the agents by id. */
	if ((ids = calloc(json_object_size(by_agent) + 1, sizeof *ids)) !=
	    NULL) {
		json_object_foreach(by_agent, ai_id, agent)
			ids[n++] = ai_id;
		qsort(ids, n, sizeof *ids, discovery_compare_strings);
		for (i = 0; i < n; i++)
			json_array_append(agents, json_object_get(by_agent,
			    ids[i]));
		free(ids);
	}
	json_decref(by_agent);
	return (json_pack("{s:o}", "agents", agents));
}

/* Status details of the service_discovery slot. */
json_t *
discovery_status(void)
{
	struct discovery_entry	*e;
	json_t			*agents = json_object(), *status;

	if (discovery.initialized) {
		discovery_expire(discovery_now());
		TAILQ_FOREACH(e, &discovery.entries, entry)
			json_object_set(agents, e->ai_id, json_true());
	}
	status = json_pack("{s:I, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I}",
	    "capabilities", (json_int_t)discovery.count,
	    "agents", (json_int_t)json_object_size(agents),
	    "adverts_received", (json_int_t)discovery.adverts_seen,
	    "max_age_s", DISCOVERY_MAX_AGE_S,
	    "max_capabilities", (json_int_t)DISCOVERY_MAX_ENTRIES,
	    "bytes", (json_int_t)discovery.bytes,
	    "max_bytes", (json_int_t)discovery.max_bytes,
	    "evicted", (json_int_t)discovery.evicted,
	    "too_large", (json_int_t)discovery.too_large);
	json_decref(agents);
	return (status);
}

/* The ServiceDiscovery slot ---------------------------------------------- */

/*
 * Fed by every connector generation through the router; it exists when
 * hsp is configured and is never rebuilt (its limits come with each swap
 * of the connector, discovery_configure).
 */
static struct service_instance *
discovery_create(__attribute__((unused)) struct registry *reg,
    const struct config *config, char **cause)
{
	if (discovery_init() == -1) {
		*cause = strdup("out of memory");
		return (NULL);
	}
	return (service_passive_create(&discovery_service_ops,
	    config->hsp != NULL, cause));
}

/* Its status: the capabilities known. */
static json_t *
discovery_slot_status(__attribute__((unused)) struct service_instance *i)
{
	return (discovery_status());
}

/* Started once with hsp; never rebuilt by a reload. */
static bool
discovery_changed(const struct config *old, const struct config *new)
{
	return (old == NULL && new->hsp != NULL);
}

/* It exists with the HSP connector. */
static bool
discovery_configured(const struct config *config)
{
	return (config->hsp != NULL);
}

const struct service_ops discovery_service_ops = {
	.name = "service_discovery",
	.create = discovery_create,
	.start = service_passive_start,
	.retire = service_passive_retire,
	.destroy = service_passive_destroy,
	.status = discovery_slot_status,
	.configured = discovery_configured,
	.changed = discovery_changed,
};
