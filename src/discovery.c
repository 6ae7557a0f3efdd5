/*
 * discovery.c -- ServiceDiscovery: the capabilities other agents advertise.
 *
 * Fed by the router with every CapabilityAdvertisement: capability id ->
 * the agent, the name and the last time it was seen.  Entries older than
 * DISCOVERY_MAX_AGE_S are ignored and pruned; the table is bounded (the
 * least recently seen entry makes room).
 */
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"

static json_t		*discovery_table;	/* id -> {ai_id, name, seen} */
static uint64_t		 discovery_adverts_seen;

/* Now on the monotonic clock, in seconds. */
static double
discovery_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Create the empty table. */
int
discovery_init(void)
{
	if (discovery_table == NULL &&
	    (discovery_table = json_object()) == NULL)
		return (-1);
	return (0);
}

/* Free the table (exit). */
void
discovery_free(void)
{
	json_decref(discovery_table);
	discovery_table = NULL;
}

/* Drop stale entries; with FULL, also the oldest one to make room. */
static void
discovery_prune(bool full)
{
	const char	*key, *oldest = NULL;
	json_t		*entry;
	void		*tmp;
	double		 now = discovery_now(), seen, oldest_seen = 0;

	json_object_foreach_safe(discovery_table, tmp, key, entry) {
		seen = json_real_value(json_object_get(entry, "seen"));
		if (now - seen > DISCOVERY_MAX_AGE_S) {
			json_object_del(discovery_table, key);
			continue;
		}
		if (oldest == NULL || seen < oldest_seen) {
			oldest = key;
			oldest_seen = seen;
		}
	}
	if (full && oldest != NULL &&
	    json_object_size(discovery_table) >= DISCOVERY_MAX_ENTRIES)
		json_object_del(discovery_table, oldest);
}

/* Record an advertisement PAYLOAD sent by SENDER. */
void
discovery_advert(const char *sender, json_t *payload)
{
	const char	*id = json_string_value(json_object_get(payload,
			    "capability_id"));
	const char	*status = json_string_value(json_object_get(payload,
			    "availability_status"));

	if (id == NULL || discovery_table == NULL)
		return;
	discovery_adverts_seen++;
	if (json_object_get(discovery_table, id) == NULL &&
	    json_object_size(discovery_table) >= DISCOVERY_MAX_ENTRIES)
		discovery_prune(true);
	json_object_set_new(discovery_table, id, json_pack("{s:s, s:s?, "
	    "s:s?, s:s?, s:f}",
	    "ai_id", sender,
	    "name", json_string_value(json_object_get(payload, "name")),
	    "availability_status", status,
	    "advertised_by", json_string_value(json_object_get(payload,
	    "ai_id")),
	    "seen", discovery_now()));
}

/* Status details of the service_discovery slot. */
json_t *
discovery_status(void)
{
	const char	*key;
	json_t		*entry, *agents = json_object();
	size_t		 capabilities;

	discovery_prune(false);
	capabilities = json_object_size(discovery_table);
	json_object_foreach(discovery_table, key, entry) {
		json_object_set(agents, json_string_value(json_object_get(entry,
		    "ai_id")), json_true());
	}
	entry = json_pack("{s:I, s:I, s:I, s:i}",
	    "capabilities", (json_int_t)capabilities,
	    "agents", (json_int_t)json_object_size(agents),
	    "adverts_received", (json_int_t)discovery_adverts_seen,
	    "max_age_s", DISCOVERY_MAX_AGE_S);
	json_decref(agents);
	return (entry);
}
