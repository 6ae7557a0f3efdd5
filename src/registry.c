/*
 * registry.c -- the service singletons, their generations, and drain.
 *
 * The registry has one slot per service (llm, hsp, tool_dispatcher,
 * dialogue_manager, service_discovery).  A slot holds the current instance,
 * its generation (1 after the first start, +1 per successful swap), the
 * instances being retired and the outcome of the last reload.
 *
 * A reload is build, check, swap, retire: create a new instance from the new
 * configuration, start it asynchronously, and only when it reports ready swap
 * it in and retire the old one.  Any failure before the swap destroys the new
 * instance; the old one never notices.  This is the only place that swaps.
 *
 * Instances are reference counted.  Work takes a reference to the instance it
 * started on (service_instance_work_begin) so a swap only changes where new
 * work goes.  The last reference frees the instance on a later loop turn,
 * never inside the callback that dropped it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "log.h"

/* A reload between create and swap. */
struct service_reload {
	struct service_slot		*slot;
	struct service_instance		*instance;
	registry_reload_cb		 cb;
	void				*arg;
	struct config			*config;	/* a reference */
	struct timespec			 started;
	struct event			*done_event;
	bool				 ok;
	char				*cause;
	bool				 hold;	/* ready: wait for commit */
	bool				 ready;	/* held, ready to swap */
	bool				 check;	/* discarded anyway: no record */
};

static const char *const registry_slot_names[SERVICE_COUNT] = {
	"llm", "hsp", "tool_dispatcher", "dialogue_manager",
	"service_discovery"
};

/* The loop instances are freed on; there is one registry per process. */
static struct event_base	*registry_base;

/* Create a registry with every slot empty. */
struct registry *
registry_create(struct event_base *base)
{
	struct registry		*reg;
	struct service_slot	*slot;
	int			 i;

	if ((reg = calloc(1, sizeof *reg)) == NULL)
		return (NULL);
	reg->base = base;
	registry_base = base;
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = &reg->slots[i];
		slot->id = (enum service_id)i;
		slot->name = registry_slot_names[i];
		slot->registry = reg;
		TAILQ_INIT(&slot->retiring);
	}
	return (reg);
}

/* Free the reload state of a slot without calling anyone back. */
static void
registry_reload_free(struct service_reload *r)
{
	if (r->done_event != NULL)
		event_free(r->done_event);
	config_free(r->config);
	free(r->cause);
	free(r);
}

/*
 * Free the registry.  Instances still held are destroyed at once: this runs
 * only as the process exits, after shutdown retired what it could.
 */
void
registry_free(struct registry *reg)
{
	struct service_slot	*slot;
	struct service_instance	*inst;
	int			 i;

	if (reg == NULL)
		return;
	registry_drain_cancel(reg);
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = &reg->slots[i];
		if (slot->reload != NULL)
			registry_reload_cancel(slot->reload);
		while ((inst = TAILQ_FIRST(&slot->retiring)) != NULL) {
			TAILQ_REMOVE(&slot->retiring, inst, entry);
			inst->ops->destroy(inst);
			if (inst->free_event != NULL)
				event_free(inst->free_event);
			free(inst);
		}
		if ((inst = slot->current) != NULL) {
			inst->ops->destroy(inst);
			if (inst->free_event != NULL)
				event_free(inst->free_event);
			free(inst);
		}
		free(slot->last_reload.error);
		config_free(slot->config);
		config_free(slot->previous_config);
	}
	/* Every instance is gone: the modules free what they share. */
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = &reg->slots[i];
		if (slot->ops != NULL && slot->ops->exit != NULL)
			slot->ops->exit();
	}
	free(reg);
}

/* Make OPS the implementation of slot ID. */
void
registry_set_ops(struct registry *reg, enum service_id id,
    const struct service_ops *ops)
{
	reg->slots[id].ops = ops;
}

/* The slot of service ID. */
struct service_slot *
registry_slot(struct registry *reg, enum service_id id)
{
	return (&reg->slots[id]);
}

/* The slot called NAME, or NULL. */
struct service_slot *
registry_find_slot(struct registry *reg, const char *name)
{
	int	i;

	for (i = 0; i < SERVICE_COUNT; i++) {
		if (strcmp(reg->slots[i].name, name) == 0)
			return (&reg->slots[i]);
	}
	return (NULL);
}

/* Work in flight on every generation of one slot. */
unsigned int
registry_slot_in_flight(struct service_slot *slot)
{
	struct service_instance	*inst;
	unsigned int		 n = 0;

	if (slot->current != NULL)
		n += slot->current->in_flight;
	TAILQ_FOREACH(inst, &slot->retiring, entry)
		n += inst->in_flight;
	return (n);
}

/* Work in flight in the whole daemon. */
unsigned int
registry_in_flight(struct registry *reg)
{
	unsigned int	n = reg->in_flight_other;
	int		i;

	for (i = 0; i < SERVICE_COUNT; i++)
		n += registry_slot_in_flight(&reg->slots[i]);
	return (n);
}

/* Nothing is retiring and no reload is under way. */
bool
registry_quiet(struct registry *reg)
{
	int	i;

	for (i = 0; i < SERVICE_COUNT; i++) {
		if (!TAILQ_EMPTY(&reg->slots[i].retiring) ||
		    reg->slots[i].reload != NULL)
			return (false);
	}
	return (true);
}

/* Remember the outcome of a reload of SLOT for status and metrics. */
static void
registry_record(struct service_slot *slot, bool ok, long duration_ms,
    const char *error)
{
	free(slot->last_reload.error);
	slot->last_reload.set = true;
	slot->last_reload.at = time(NULL);
	slot->last_reload.ok = ok;
	slot->last_reload.duration_ms = duration_ms;
	slot->last_reload.error = error != NULL ? strdup(error) : NULL;
	if (ok)
		slot->reloads_ok++;
	else
		slot->reloads_failed++;
}

/*
 * Tell whoever watches (the event hook, watch) of TYPE with FIELDS (taken):
 * the hook is main.c's; without it the fields are dropped.
 */
void
registry_event(struct registry *reg, const char *type, json_t *fields)
{
	if (reg->event != NULL)
		reg->event(reg, type, fields);
	else
		json_decref(fields);
}

/* A reload phase of SLOT (generation GENERATION) for watchers. */
static void
registry_phase(struct service_slot *slot, uint64_t generation,
    const char *phase, const char *reason)
{
	if (slot->registry->event == NULL)
		return;
	registry_event(slot->registry, "reload", json_pack("{s:s, s:I, s:s, "
	    "s:s?}", "service", slot->name, "generation",
	    (json_int_t)generation, "phase", phase, "reason", reason));
}

/* Put INST out of service: it finishes its work and calls back. */
static void
registry_retire(struct service_slot *slot, struct service_instance *inst)
{
	inst->retiring = true;
	TAILQ_INSERT_TAIL(&slot->retiring, inst, entry);
	if (inst->generation == 0)
		log_info("%s: retiring the new instance, never swapped in "
		    "(%u in flight)", slot->name, inst->in_flight);
	else
		log_info("%s: retiring generation %llu (%u in flight)",
		    slot->name, (unsigned long long)inst->generation,
		    inst->in_flight);
	registry_phase(slot, inst->generation, "retiring", inst->generation ==
	    0 ? "never swapped in" : NULL);
	inst->ops->retire(inst);
}

/*
 * Swap R's instance in and retire the old one; from here on new work goes
 * to the new instance.  Returns the reload's result object.
 */
static json_t *
registry_swap(struct service_reload *r)
{
	struct service_slot	*slot = r->slot;
	struct service_instance	*inst = r->instance, *old;
	long			 duration_ms;
	json_int_t		 duration_us;
	unsigned int		 previous_in_flight;
	uint64_t		 previous_generation;

	/* The same span in microseconds for the reply: a reload of the
	 * HSP connector on loopback takes a few ms, too few for whole ms. */
	duration_us = (json_int_t)(timespec_elapsed_s(&r->started) * 1e6);
	duration_ms = (long)(duration_us / 1000);
	slot->reload = NULL;
	inst->reload = NULL;
	old = slot->current;
	previous_generation = slot->generation;
	previous_in_flight = old != NULL ? old->in_flight : 0;
	inst->generation = ++slot->generation;
	slot->current = inst;
	/* Rollback goes back to before the last change, not the last swap. */
	if (slot->config != NULL && slot->ops->changed != NULL &&
	    !slot->ops->changed(slot->config, r->config))
		config_free(slot->config);
	else {
		config_free(slot->previous_config);
		slot->previous_config = slot->config;
	}
	slot->config = r->config;
	r->config = NULL;
	if (slot->registry->swapped != NULL)
		slot->registry->swapped(slot->registry, slot, old, inst);
	registry_phase(slot, inst->generation, "swap", NULL);
	if (old != NULL)
		registry_retire(slot, old);
	registry_record(slot, true, duration_ms, NULL);
	log_info("%s: generation %llu is live (%ld ms)", slot->name,
	    (unsigned long long)inst->generation, duration_ms);
	return (json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I}",
	    "service", slot->name,
	    "reloaded", 1,
	    "generation", (json_int_t)inst->generation,
	    "previous_generation", (json_int_t)previous_generation,
	    "previous_in_flight", (json_int_t)previous_in_flight,
	    "duration_ms", (json_int_t)duration_ms,
	    "duration_us", duration_us));
}

/* A started instance is ready or failed; finish the reload (later turn). */
static void
registry_reload_done_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct service_reload	*r = arg;
	struct service_slot	*slot = r->slot;
	struct service_instance	*inst = r->instance;
	json_t			*result;

	if (!r->ok) {
		slot->reload = NULL;
		inst->reload = NULL;
		if (!r->check)
			registry_record(slot, false,
			    (long)(timespec_elapsed_s(&r->started) * 1e3),
			    r->cause);
		registry_phase(slot, slot->generation + 1, "failed", r->cause);
		inst->dead = true;
		service_instance_unref(inst);
		r->cb(r->arg, false, HR_ERR_RELOAD_FAILED, r->cause, NULL);
		registry_reload_free(r);
		return;
	}
	registry_phase(slot, slot->generation + 1, "ready", r->check ?
	    "a check: it is discarded" : NULL);
	if (r->hold) {
		/* A part of a transaction: its owner commits or abandons. */
		r->ready = true;
		if (r->check)
			log_info("%s: the new instance is ready (a check: it "
			    "is discarded)", slot->name);
		else
			log_info("%s: generation %llu is ready", slot->name,
			    (unsigned long long)slot->generation + 1);
		r->cb(r->arg, true, NULL, NULL, NULL);
		return;
	}
	result = registry_swap(r);
	r->cb(r->arg, true, NULL, NULL, result);
	json_decref(result);
	registry_reload_free(r);
}

/*
 * Swap in a held reload that is ready (registry_prepare); its callback is
 * not called again.  Returns the result object, as registry_reload's
 * callback gets it (to release).
 */
json_t *
registry_commit(struct service_reload *r)
{
	json_t	*result = registry_swap(r);

	registry_reload_free(r);
	return (result);
}

/* The service's start callback: note the outcome, finish on a later turn. */
static void
registry_started_cb(struct service_instance *inst, bool ok, const char *cause)
{
	struct service_reload	*r = inst->reload;

	if (r == NULL || inst->dead)
		return;
	r->ok = ok;
	if (!ok)
		r->cause = strdup(cause != NULL ? cause : "start failed");
	event_active(r->done_event, 0, 0);
}

/*
 * Build a new instance of SLOT from CONFIG and start it; when it is ready,
 * swap it in and retire the old one.  CB is called exactly once, on a later
 * loop turn, unless the reload is cancelled first.  Returns NULL with CODE and
 * CAUSE (to free) when the reload cannot even begin; nothing changed then.
 */
struct service_reload *
registry_reload(struct service_slot *slot, struct config *config,
    registry_reload_cb cb, void *arg, const char **code, char **cause)
{
	struct service_reload	*r;
	struct service_instance	*inst;
	char			*why = NULL;

	*cause = NULL;
	if (slot->ops == NULL) {
		*code = HR_ERR_NOT_CONFIGURED;
		*cause = strdup("not configured");
		return (NULL);
	}
	if (slot->reload != NULL) {
		*code = HR_ERR_INTERNAL;
		*cause = strdup("a reload is already running");
		return (NULL);
	}
	inst = slot->ops->create(slot->registry, config, &why);
	if (inst == NULL) {
		if (why != NULL) {
			*code = HR_ERR_RELOAD_FAILED;
			registry_record(slot, false, 0, why);
		} else {
			*code = HR_ERR_NOT_CONFIGURED;
			why = str_printf("not configured in %s", config->path);
		}
		*cause = why;
		return (NULL);
	}
	inst->slot = slot;

	if ((r = calloc(1, sizeof *r)) == NULL ||
	    (r->done_event = event_new(slot->registry->base, -1, 0,
	    registry_reload_done_cb, r)) == NULL) {
		free(r);
		inst->dead = true;
		service_instance_unref(inst);
		*code = HR_ERR_INTERNAL;
		*cause = strdup("out of memory");
		return (NULL);
	}
	r->slot = slot;
	r->instance = inst;
	r->config = config_ref(config);
	r->cb = cb;
	r->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	slot->reload = r;
	inst->reload = r;
	log_info("%s: starting generation %llu", slot->name,
	    (unsigned long long)slot->generation + 1);
	registry_phase(slot, slot->generation + 1, "build", NULL);
	inst->ops->start(inst, registry_started_cb);
	return (r);
}

/*
 * As registry_reload, but a new instance that is ready is held, not
 * swapped: CB is called with OK true and no result, and the owner then
 * calls registry_commit() or registry_reload_abandon().  A reload of
 * several services (a transaction) holds each until all are ready.  A
 * CHECK is never committed: its failure is not the slot's last reload.
 */
struct service_reload *
registry_prepare(struct service_slot *slot, struct config *config,
    bool check, registry_reload_cb cb, void *arg, const char **code,
    char **cause)
{
	struct service_reload	*r;

	r = registry_reload(slot, config, cb, arg, code, cause);
	if (r != NULL) {
		r->hold = true;
		r->check = check;
	}
	return (r);
}

/* Is a held reload ready to commit? */
bool
registry_reload_ready(struct service_reload *r)
{
	return (r->ready);
}

/*
 * Abandon a reload before its swap: the running instance stays and the
 * callback is not called.  A new instance still starting is destroyed; one
 * that is ready (held) has connected and may hold work, so it is retired as
 * an old generation would be.  WHY, if not NULL, becomes the slot's last
 * reload error (a check discards its instances without one).
 */
void
registry_reload_abandon(struct service_reload *r, const char *why)
{
	struct service_slot	*slot = r->slot;
	struct service_instance	*inst = r->instance;

	slot->reload = NULL;
	inst->reload = NULL;
	if (why != NULL) {
		registry_record(slot, false,
		    (long)(timespec_elapsed_s(&r->started) * 1e3), why);
		log_warnx("%s: reload abandoned (%s); generation %llu stays",
		    slot->name, why, (unsigned long long)slot->generation);
	}
	registry_phase(slot, slot->generation + 1, "cancelled", why != NULL ?
	    why : "discarded");
	if (r->ready)
		registry_retire(slot, inst);
	else {
		inst->dead = true;
		service_instance_unref(inst);
	}
	registry_reload_free(r);
}

/*
 * Abandon a reload before its swap (the command timed out): the new instance
 * is destroyed, the running one stays, and the callback is not called.
 */
void
registry_reload_cancel(struct service_reload *r)
{
	registry_reload_abandon(r, "cancelled");
}

/* How many old generations of SLOT are still retiring. */
unsigned int
registry_slot_retiring(struct service_slot *slot)
{
	struct service_instance	*inst;
	unsigned int		 n = 0;

	TAILQ_FOREACH(inst, &slot->retiring, entry)
		n++;
	return (n);
}

/* Retire every current instance (shutdown). */
void
registry_retire_all(struct registry *reg)
{
	struct service_slot	*slot;
	struct service_instance	*inst;
	int			 i;

	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = &reg->slots[i];
		if (slot->reload != NULL)
			registry_reload_cancel(slot->reload);
		if ((inst = slot->current) != NULL) {
			slot->current = NULL;
			/* The dependants let go of it (new: NULL). */
			if (reg->swapped != NULL)
				reg->swapped(reg, slot, inst, NULL);
			registry_retire(slot, inst);
		}
	}
}

/*
 * Services with no connection of their own (the tool dispatcher, service
 * discovery): an instance is only a slot holder, ready at once, with
 * nothing to finish or free.  Their files use these as their ops.
 */
struct service_instance *
service_passive_create(const struct service_ops *ops, bool configured,
    char **cause)
{
	struct service_instance	*inst;

	*cause = NULL;
	if (!configured)
		return (NULL);
	if ((inst = service_instance_create(ops, NULL)) == NULL)
		*cause = strdup("out of memory");
	return (inst);
}

/* Ready at once. */
void
service_passive_start(struct service_instance *inst, service_started_cb cb)
{
	cb(inst, true, NULL);
}

/* Nothing to finish. */
void
service_passive_retire(struct service_instance *inst)
{
	service_instance_retired(inst);
}

/* Nothing to free. */
void
service_passive_destroy(__attribute__((unused)) struct service_instance *inst)
{
}

/* A drain or resume waiting for the services that take part in it. */
struct registry_drain {
	struct registry		*reg;
	service_drained_cb	 done;
	void			*arg;
	unsigned int		 pending;
	bool			 ok;
	char			*why;		/* the first failure */
};

/* One service's part of a drain is done: the last one calls DONE. */
static void
registry_drain_done_cb(void *arg, bool ok, const char *why)
{
	struct registry_drain	*d = arg;

	if (!ok && d->ok) {
		d->ok = false;
		d->why = why != NULL ? strdup(why) : NULL;
	}
	if (--d->pending > 0)
		return;
	d->reg->drain = NULL;
	d->done(d->arg, d->ok, d->why);
	free(d->why);
	free(d);
}

/*
 * Tell every current service that takes part (an ops drain) that the
 * daemon drains (DRAINING true) or resumes.  Returns 1 when nothing is to
 * be waited for, 0 when DONE will be called once all are done, -1 when a
 * service could not even begin (the others went on).
 */
int
registry_drain(struct registry *reg, bool draining, service_drained_cb done,
    void *arg)
{
	struct registry_drain	*d;
	struct service_instance	*inst;
	bool			 failed = false;
	int			 i;

	if ((d = calloc(1, sizeof *d)) == NULL)
		return (-1);
	d->reg = reg;
	d->done = done;
	d->arg = arg;
	d->ok = true;
	d->pending = 1;		/* until every service was asked */
	reg->drain = d;
	for (i = 0; i < SERVICE_COUNT; i++) {
		inst = reg->slots[i].current;
		if (inst == NULL || inst->ops->drain == NULL)
			continue;
		/* Counted first: DONE may come before the op returns. */
		d->pending++;
		switch (inst->ops->drain(inst, draining,
		    registry_drain_done_cb, d)) {
		case 0:
			break;
		case -1:
			failed = true;
			/* FALLTHROUGH */
		default:
			d->pending--;
			break;
		}
	}
	if (--d->pending > 0)
		return (0);
	/* Nothing to wait for (or all of it already done). */
	if (!d->ok)
		failed = true;
	reg->drain = NULL;
	free(d->why);
	free(d);
	return (failed ? -1 : 1);
}

/* Forget a drain still waiting (its command was cancelled or ended). */
void
registry_drain_cancel(struct registry *reg)
{
	struct service_instance	*inst;
	int			 i;

	if (reg->drain == NULL)
		return;
	for (i = 0; i < SERVICE_COUNT; i++) {
		inst = reg->slots[i].current;
		if (inst != NULL && inst->ops->drain_cancel != NULL)
			inst->ops->drain_cancel(inst);
	}
	free(reg->drain->why);
	free(reg->drain);
	reg->drain = NULL;
}

/* Format a wall-clock time as ISO-8601 UTC. */
static json_t *
registry_time_json(time_t t)
{
	struct tm	tm;
	char		buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (json_string(buf));
}

/* The status object of one slot (DESIGN.md section 5). */
json_t *
registry_slot_status(struct service_slot *slot)
{
	struct service_instance	*inst;
	json_t			*status, *retiring, *details, *last;
	const char		*state;

	retiring = json_array();
	TAILQ_FOREACH(inst, &slot->retiring, entry) {
		json_array_append_new(retiring, json_pack("{s:I, s:I}",
		    "generation", (json_int_t)inst->generation,
		    "in_flight", (json_int_t)inst->in_flight));
	}
	if (slot->reload != NULL)
		state = "reloading";
	else if (slot->current == NULL)
		state = "not_configured";
	else
		state = "running";

	if (slot->last_reload.set) {
		last = json_pack("{s:o, s:b, s:I, s:s?}",
		    "at", registry_time_json(slot->last_reload.at),
		    "ok", slot->last_reload.ok,
		    "duration_ms", (json_int_t)slot->last_reload.duration_ms,
		    "error", slot->last_reload.error);
		if (slot->last_reload.error == NULL)
			json_object_set_new(last, "error", json_null());
	} else
		last = json_null();

	status = json_pack("{s:b, s:I, s:s, s:I, s:o, s:o}",
	    "initialized", slot->current != NULL,
	    "generation", (json_int_t)slot->generation,
	    "state", state,
	    "in_flight", (json_int_t)registry_slot_in_flight(slot),
	    "retiring", retiring,
	    "last_reload", last);

	/* The service adds its own details; it may say it is degraded. */
	if (slot->current != NULL && slot->current->ops->status != NULL) {
		details = slot->current->ops->status(slot->current);
		if (details != NULL) {
			if (slot->reload != NULL)
				json_object_del(details, "state");
			json_object_update(status, details);
			json_decref(details);
		}
	}
	return (status);
}

/* Make an instance of OPS around DATA, with one reference for the caller. */
struct service_instance *
service_instance_create(const struct service_ops *ops, void *data)
{
	struct service_instance	*inst;

	if ((inst = calloc(1, sizeof *inst)) == NULL)
		return (NULL);
	inst->ops = ops;
	inst->data = data;
	inst->references = 1;
	return (inst);
}

/* Take a reference. */
void
service_instance_ref(struct service_instance *inst)
{
	inst->references++;
}

/* Free an unreferenced instance: the service's destroy, then the shell. */
static void
service_instance_free_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct service_instance	*inst = arg;

	log_debug("%s: generation %llu freed",
	    inst->slot != NULL ? inst->slot->name : inst->ops->name,
	    (unsigned long long)inst->generation);
	inst->ops->destroy(inst);
	event_free(inst->free_event);
	free(inst);
}

/* Drop a reference; the last one frees the instance on a later loop turn. */
void
service_instance_unref(struct service_instance *inst)
{
	if (inst->references == 0)
		return;
	if (--inst->references > 0)
		return;
	inst->dead = true;
	inst->free_event = event_new(registry_base, -1, 0,
	    service_instance_free_cb, inst);
	if (inst->free_event != NULL)
		event_active(inst->free_event, 0, 0);
	else
		service_instance_free_cb(-1, 0, inst);
}

/* Tell the registry's work_changed hook (the STATUS= line) of INST's work. */
static void
registry_work_changed(struct service_instance *inst)
{
	if (inst->slot != NULL && inst->slot->registry->work_changed != NULL)
		inst->slot->registry->work_changed();
}

/* A unit of work starts on INST and holds it until it ends. */
void
service_instance_work_begin(struct service_instance *inst)
{
	inst->in_flight++;
	service_instance_ref(inst);
	registry_work_changed(inst);
}

/* A unit of work on INST has ended. */
void
service_instance_work_end(struct service_instance *inst)
{
	if (inst->in_flight > 0)
		inst->in_flight--;
	registry_work_changed(inst);
	service_instance_unref(inst);
}

/* A retiring instance has finished: drop it from its slot. */
void
service_instance_retired(struct service_instance *inst)
{
	struct service_slot	*slot = inst->slot;

	if (!inst->retiring)
		return;
	inst->retiring = false;
	TAILQ_REMOVE(&slot->retiring, inst, entry);
	if (inst->generation == 0)
		log_info("%s: the unused new instance retired", slot->name);
	else
		log_info("%s: generation %llu retired", slot->name,
		    (unsigned long long)inst->generation);
	registry_phase(slot, inst->generation, "retired", NULL);
	service_instance_unref(inst);
}
