/*
 * test_registry.c -- unit tests of the registry (src/registry.c): build,
 * start, swap and retire with generations, in-flight work that keeps its
 * generation, failures that leave the running instance alone, cancellation,
 * the status object, and the fan-out of a drain (registry_drain).
 *
 * The service is a small test service whose start succeeds or fails on a
 * timer, as a real connector's would after a network round trip.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hotreloadd.h"

static struct event_base	*base;
static bool			 start_ok;	/* how the next start ends */
static bool			 create_fails;
static int			 destroyed;
static int			 retire_calls;
static int			 callbacks;
static bool			 last_ok;
static char			*last_cause;
static json_t			*last_result;

static const struct service_ops fake_ops;

/* A test service instance: just a serial number. */
struct fake {
	int	serial;
};

/* Build an instance (or fail like a bad configuration would). */
static struct service_instance *
fake_create(__attribute__((unused)) struct registry *reg,
    __attribute__((unused)) const struct config *config,
    char **cause)
{
	static int	 serial;
	struct fake	*f;

	if (create_fails) {
		*cause = strdup("bad section");
		return (NULL);
	}
	f = calloc(1, sizeof *f);
	f->serial = ++serial;
	return (service_instance_create(&fake_ops, f));
}

static service_started_cb	pending_cb;
static struct service_instance	*pending_inst;

/* Finish the pending start. */
static void
fake_finish_start_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	if (pending_inst != NULL && !pending_inst->dead)
		pending_cb(pending_inst, start_ok,
		    start_ok ? NULL : "connect refused");
	pending_inst = NULL;
}

/* Start asynchronously. */
static void
fake_start(struct service_instance *inst, service_started_cb cb)
{
	struct timeval	tv = { 0, 10000 };

	pending_cb = cb;
	pending_inst = inst;
	event_base_once(base, -1, EV_TIMEOUT, fake_finish_start_cb, NULL, &tv);
}

/* Poll until the retiring instance has no work left. */
static void
fake_retire_poll_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct service_instance	*inst = arg;
	struct timeval		 tv = { 0, 5000 };

	if (inst->in_flight == 0)
		service_instance_retired(inst);
	else
		event_base_once(base, -1, EV_TIMEOUT, fake_retire_poll_cb,
		    inst, &tv);
}

/* Stop taking work; finish when the work in flight is done. */
static void
fake_retire(struct service_instance *inst)
{
	retire_calls++;
	fake_retire_poll_cb(-1, 0, inst);
}

/* Free the instance's data. */
static void
fake_destroy(struct service_instance *inst)
{
	/* Like a real service, stop its pending start when destroyed. */
	if (pending_inst == inst)
		pending_inst = NULL;
	destroyed++;
	free(inst->data);
}

/* Details for status. */
static json_t *
fake_status(struct service_instance *inst)
{
	return (json_pack("{s:i}", "serial",
	    ((struct fake *)inst->data)->serial));
}

static const struct service_ops fake_ops = {
	.name = "fake",
	.create = fake_create,
	.start = fake_start,
	.retire = fake_retire,
	.destroy = fake_destroy,
	.status = fake_status,
};

/* Record the outcome of a reload. */
static void
record_cb(__attribute__((unused)) void *arg, bool ok,
    __attribute__((unused)) const char *code, const char *cause,
    json_t *result)
{
	callbacks++;
	last_ok = ok;
	free(last_cause);
	last_cause = cause != NULL ? strdup(cause) : NULL;
	json_decref(last_result);
	last_result = result != NULL ? json_incref(result) : NULL;
}

/* The drain of a test service that takes part: how it answers. */
static int			 drain_answer;	/* 1, 0 (later), -1 */
static bool			 drain_later_ok;
static bool			 drain_cancelled;
static int			 drain_calls;
static service_drained_cb	 drain_done;
static void			*drain_arg;
static int			 drained_callbacks;
static bool			 drained_ok;
static char			*drained_why;

static const struct service_ops drainer_ops;

/* Build an instance of the service that takes part in drains. */
static struct service_instance *
drainer_create(__attribute__((unused)) struct registry *reg,
    __attribute__((unused)) const struct config *config,
    __attribute__((unused)) char **cause)
{
	return (service_instance_create(&drainer_ops, calloc(1,
	    sizeof(struct fake))));
}

/* Its part of a drain is done, on a later turn (unless cancelled). */
static void
drainer_done_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, __attribute__((unused)) void *arg)
{
	if (!drain_cancelled && drain_done != NULL)
		drain_done(drain_arg, drain_later_ok,
		    drain_later_ok ? NULL : "the broker refused");
}

/* Take part in a drain as DRAIN_ANSWER says. */
static int
drainer_drain(__attribute__((unused)) struct service_instance *inst,
    __attribute__((unused)) bool draining, service_drained_cb done,
    void *arg)
{
	struct timeval	tv = { 0, 5000 };

	drain_calls++;
	if (drain_answer == 0) {
		drain_done = done;
		drain_arg = arg;
		event_base_once(base, -1, EV_TIMEOUT, drainer_done_cb, NULL,
		    &tv);
	}
	return (drain_answer);
}

/* Forget the pending part of a drain. */
static void
drainer_drain_cancel(__attribute__((unused)) struct service_instance *inst)
{
	drain_cancelled = true;
}

static const struct service_ops drainer_ops = {
	.name = "drainer",
	.create = drainer_create,
	.start = fake_start,
	.retire = fake_retire,
	.destroy = fake_destroy,
	.status = fake_status,
	.drain = drainer_drain,
	.drain_cancel = drainer_drain_cancel,
};

/* Record the end of a drain. */
static void
drained_cb(__attribute__((unused)) void *arg, bool ok, const char *why)
{
	drained_callbacks++;
	drained_ok = ok;
	free(drained_why);
	drained_why = why != NULL ? strdup(why) : NULL;
}

static struct registry	*reg;
static struct config	*config;

static void
setup(void)
{
	struct config_problems	 problems = { 0 };
	static const char	 text[] =
	    "{\"control\":{\"socket\":\"/tmp/test-registry.sock\"}}";

	base = event_base_new();
	reg = registry_create(base);
	registry_set_ops(reg, SERVICE_LLM, &fake_ops);
	config = config_load_buffer("test.conf", text, strlen(text),
	    &problems);
	config_problems_clear(&problems);
	start_ok = true;
	create_fails = false;
	destroyed = retire_calls = callbacks = 0;
	last_ok = false;
	pending_inst = NULL;
	drain_answer = 1;
	drain_later_ok = true;
	drain_cancelled = false;
	drain_calls = drained_callbacks = 0;
	drain_done = NULL;
	drained_ok = false;
}

static void
teardown(void)
{
	registry_free(reg);
	config_free(config);
	event_base_free(base);
	free(last_cause);
	last_cause = NULL;
	json_decref(last_result);
	last_result = NULL;
	free(drained_why);
	drained_why = NULL;
}

/* Run the loop for SECONDS. */
static void
run_loop(double seconds)
{
	struct timeval	tv = { 0, (suseconds_t)(seconds * 1e6) };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Reload the llm slot and run the loop until it has ended. */
static void
reload_llm(void)
{
	const char	*code;
	char		*cause = NULL;

	ck_assert_ptr_nonnull(registry_reload(registry_slot(reg, SERVICE_LLM),
	    config, record_cb, NULL, &code, &cause));
	run_loop(0.05);
}

START_TEST(first_start_is_generation_one)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);

	ck_assert_ptr_null(slot->current);
	reload_llm();
	ck_assert_int_eq(callbacks, 1);
	ck_assert(last_ok);
	ck_assert_ptr_nonnull(slot->current);
	ck_assert_uint_eq(slot->generation, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(last_result,
	    "generation")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(last_result,
	    "previous_generation")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(last_result,
	    "service")), "llm");
	ck_assert(slot->last_reload.set && slot->last_reload.ok);
	ck_assert_ptr_eq(slot->config, config);
}
END_TEST

START_TEST(swap_keeps_old_work_on_old_generation)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	struct service_instance	*old, *fresh;
	int			 i;

	reload_llm();
	old = slot->current;
	for (i = 0; i < 3; i++)
		service_instance_work_begin(old);
	ck_assert_uint_eq(registry_in_flight(reg), 3);

	reload_llm();
	fresh = slot->current;
	ck_assert(last_ok);
	ck_assert_ptr_ne(fresh, old);
	ck_assert_uint_eq(slot->generation, 2);
	ck_assert_int_eq(json_integer_value(json_object_get(last_result,
	    "previous_in_flight")), 3);
	ck_assert_int_eq(retire_calls, 1);
	ck_assert(old->retiring);
	ck_assert_uint_eq(old->generation, 1);
	ck_assert_int_eq(destroyed, 0);		/* still working */
	ck_assert(!registry_quiet(reg));

	/* New work goes to the new generation; old work ends on the old. */
	service_instance_work_begin(fresh);
	for (i = 0; i < 3; i++)
		service_instance_work_end(old);
	run_loop(0.05);
	ck_assert_int_eq(destroyed, 1);		/* old freed with its work */
	ck_assert(registry_quiet(reg));
	ck_assert_uint_eq(registry_in_flight(reg), 1);
	service_instance_work_end(fresh);
	ck_assert_uint_eq(registry_in_flight(reg), 0);
}
END_TEST

START_TEST(failed_start_keeps_the_running_instance)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	struct service_instance	*old;

	reload_llm();
	old = slot->current;
	start_ok = false;
	reload_llm();
	ck_assert_int_eq(callbacks, 2);
	ck_assert(!last_ok);
	ck_assert_str_eq(last_cause, "connect refused");
	ck_assert_ptr_eq(slot->current, old);
	ck_assert_uint_eq(slot->generation, 1);
	ck_assert_int_eq(retire_calls, 0);
	ck_assert_int_eq(destroyed, 1);		/* the new one */
	ck_assert(!slot->last_reload.ok);
	ck_assert_str_eq(slot->last_reload.error, "connect refused");
	ck_assert_uint_eq(slot->reloads_failed, 1);
	ck_assert_uint_eq(slot->reloads_ok, 1);
}
END_TEST

START_TEST(failed_create_changes_nothing)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	const char		*code;
	char			*cause;

	reload_llm();
	create_fails = true;
	ck_assert_ptr_null(registry_reload(slot, config, record_cb, NULL,
	    &code, &cause));
	ck_assert_str_eq(code, HR_ERR_RELOAD_FAILED);
	ck_assert_str_eq(cause, "bad section");
	free(cause);
	ck_assert_uint_eq(slot->generation, 1);
	ck_assert_int_eq(callbacks, 1);
}
END_TEST

/* Prepare the llm slot (held) and run the loop until it is ready. */
static struct service_reload *
prepare_llm(void)
{
	struct service_reload	*r;
	const char		*code;
	char			*cause = NULL;

	r = registry_prepare(registry_slot(reg, SERVICE_LLM), config,
	    false, record_cb, NULL, &code, &cause);
	ck_assert_ptr_nonnull(r);
	run_loop(0.05);
	return (r);
}

/* A held reload is ready but not live until committed. */
START_TEST(prepare_holds_until_commit)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	struct service_instance	*old;
	struct service_reload	*r;
	json_t			*result;

	reload_llm();
	old = slot->current;
	r = prepare_llm();
	ck_assert_int_eq(callbacks, 2);
	ck_assert(last_ok);
	ck_assert_ptr_null(last_result);	/* ready, not swapped */
	ck_assert(registry_reload_ready(r));
	ck_assert_ptr_eq(slot->current, old);
	ck_assert_uint_eq(slot->generation, 1);
	result = registry_commit(r);
	ck_assert_int_eq(json_integer_value(json_object_get(result,
	    "generation")), 2);
	ck_assert_ptr_ne(slot->current, old);
	ck_assert_uint_eq(slot->generation, 2);
	ck_assert_int_eq(callbacks, 2);		/* not called again */
	ck_assert_ptr_eq(slot->previous_config, config);
	json_decref(result);
	run_loop(0.05);
	ck_assert_int_eq(retire_calls, 1);	/* the old one */
}
END_TEST

/*
 * A ready instance that is abandoned (another part of the transaction
 * failed, or a check) is retired, not swapped; without a reason the
 * slot's last reload stays as it was.
 */
START_TEST(abandon_retires_a_ready_instance)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	struct service_instance	*old;
	struct service_reload	*r;

	reload_llm();
	old = slot->current;
	r = prepare_llm();
	registry_reload_abandon(r, NULL);
	run_loop(0.05);
	ck_assert_int_eq(retire_calls, 1);
	ck_assert_int_eq(destroyed, 1);
	ck_assert_ptr_eq(slot->current, old);
	ck_assert_uint_eq(slot->generation, 1);
	ck_assert(slot->last_reload.ok);
	ck_assert_uint_eq(slot->reloads_failed, 0);
	ck_assert_ptr_null(slot->reload);
}
END_TEST

/* Abandoned while still starting: destroyed, the reason recorded. */
START_TEST(abandon_while_starting_destroys)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	struct service_reload	*r;
	const char		*code;
	char			*cause = NULL;

	reload_llm();
	r = registry_prepare(slot, config, false, record_cb, NULL, &code,
	    &cause);
	ck_assert_ptr_nonnull(r);
	registry_reload_abandon(r, "hsp: connection refused");
	run_loop(0.05);
	ck_assert_int_eq(callbacks, 1);
	ck_assert_int_eq(retire_calls, 0);
	ck_assert_int_eq(destroyed, 1);
	ck_assert_uint_eq(slot->generation, 1);
	ck_assert_str_eq(slot->last_reload.error, "hsp: connection refused");
}
END_TEST

/* A check that fails is its command's answer, not the slot's reload. */
START_TEST(failed_check_is_not_recorded)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	const char		*code;
	char			*cause = NULL;

	reload_llm();
	start_ok = false;
	ck_assert_ptr_nonnull(registry_prepare(slot, config, true, record_cb,
	    NULL, &code, &cause));
	run_loop(0.05);
	ck_assert_int_eq(callbacks, 2);
	ck_assert(!last_ok);
	ck_assert_str_eq(last_cause, "connect refused");
	ck_assert(slot->last_reload.ok);
	ck_assert_uint_eq(slot->reloads_failed, 0);
	ck_assert_uint_eq(slot->generation, 1);
}
END_TEST

START_TEST(cancel_destroys_the_new_instance)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	struct service_instance	*old;
	struct service_reload	*r;
	const char		*code;
	char			*cause;
	json_t			*status;

	reload_llm();
	old = slot->current;
	r = registry_reload(slot, config, record_cb, NULL, &code, &cause);
	ck_assert_ptr_nonnull(r);
	status = registry_slot_status(slot);
	ck_assert_str_eq(json_string_value(json_object_get(status, "state")),
	    "reloading");
	json_decref(status);
	registry_reload_cancel(r);
	run_loop(0.05);
	ck_assert_int_eq(callbacks, 1);		/* not called for the cancel */
	ck_assert_ptr_eq(slot->current, old);
	ck_assert_uint_eq(slot->generation, 1);
	ck_assert_int_eq(destroyed, 1);
	ck_assert_str_eq(slot->last_reload.error, "cancelled");
}
END_TEST

START_TEST(slot_without_service_is_not_configured)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_HSP);
	const char		*code;
	char			*cause;
	json_t			*status;

	ck_assert_ptr_null(registry_reload(slot, config, record_cb, NULL,
	    &code, &cause));
	ck_assert_str_eq(code, HR_ERR_NOT_CONFIGURED);
	free(cause);
	status = registry_slot_status(slot);
	ck_assert(json_is_false(json_object_get(status, "initialized")));
	ck_assert_str_eq(json_string_value(json_object_get(status, "state")),
	    "not_configured");
	ck_assert(json_is_null(json_object_get(status, "last_reload")));
	json_decref(status);
}
END_TEST

START_TEST(status_shows_generations_and_retiring)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_LLM);
	json_t			*status, *retiring;

	reload_llm();
	service_instance_work_begin(slot->current);
	reload_llm();
	status = registry_slot_status(slot);
	ck_assert(json_is_true(json_object_get(status, "initialized")));
	ck_assert_int_eq(json_integer_value(json_object_get(status,
	    "generation")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(status, "state")),
	    "running");
	ck_assert_int_eq(json_integer_value(json_object_get(status,
	    "in_flight")), 1);
	retiring = json_object_get(status, "retiring");
	ck_assert_uint_eq(json_array_size(retiring), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_array_get(retiring, 0), "generation")), 1);
	/* The service's own details are merged in. */
	ck_assert(json_is_integer(json_object_get(status, "serial")));
	ck_assert(json_is_true(json_object_get(json_object_get(status,
	    "last_reload"), "ok")));
	json_decref(status);
}
END_TEST

/* Reload the hsp slot (the drainer) and run the loop until it has ended. */
static void
reload_drainer(void)
{
	const char	*code;
	char		*cause = NULL;

	registry_set_ops(reg, SERVICE_HSP, &drainer_ops);
	ck_assert_ptr_nonnull(registry_reload(registry_slot(reg, SERVICE_HSP),
	    config, record_cb, NULL, &code, &cause));
	run_loop(0.05);
	ck_assert_ptr_nonnull(registry_slot(reg, SERVICE_HSP)->current);
}

START_TEST(drain_without_a_part_to_wait_for)
{
	reload_llm();		/* no drain op: not asked */
	reload_drainer();
	ck_assert_int_eq(registry_drain(reg, true, drained_cb, NULL), 1);
	ck_assert_int_eq(drain_calls, 1);
	run_loop(0.02);
	ck_assert_int_eq(drained_callbacks, 0);
	ck_assert_ptr_null(reg->drain);
}
END_TEST

START_TEST(drain_waits_for_its_parts)
{
	reload_drainer();
	drain_answer = 0;
	ck_assert_int_eq(registry_drain(reg, true, drained_cb, NULL), 0);
	ck_assert_int_eq(drained_callbacks, 0);
	run_loop(0.03);
	ck_assert_int_eq(drained_callbacks, 1);
	ck_assert(drained_ok);
	ck_assert_ptr_null(drained_why);
	ck_assert_ptr_null(reg->drain);
}
END_TEST

START_TEST(drain_reports_a_failed_part)
{
	reload_drainer();
	drain_answer = 0;
	drain_later_ok = false;
	ck_assert_int_eq(registry_drain(reg, false, drained_cb, NULL), 0);
	run_loop(0.03);
	ck_assert_int_eq(drained_callbacks, 1);
	ck_assert(!drained_ok);
	ck_assert_str_eq(drained_why, "the broker refused");

	drain_answer = -1;
	ck_assert_int_eq(registry_drain(reg, true, drained_cb, NULL), -1);
	run_loop(0.02);
	ck_assert_int_eq(drained_callbacks, 1);
	ck_assert_ptr_null(reg->drain);
}
END_TEST

START_TEST(drain_cancelled_never_calls_back)
{
	reload_drainer();
	drain_answer = 0;
	ck_assert_int_eq(registry_drain(reg, true, drained_cb, NULL), 0);
	registry_drain_cancel(reg);
	ck_assert(drain_cancelled);
	ck_assert_ptr_null(reg->drain);
	run_loop(0.03);
	ck_assert_int_eq(drained_callbacks, 0);
}
END_TEST

static Suite *
registry_suite(void)
{
	Suite	*s = suite_create("registry");
	TCase	*tc = tcase_create("reload");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, first_start_is_generation_one);
	tcase_add_test(tc, swap_keeps_old_work_on_old_generation);
	tcase_add_test(tc, failed_start_keeps_the_running_instance);
	tcase_add_test(tc, failed_create_changes_nothing);
	tcase_add_test(tc, cancel_destroys_the_new_instance);
	tcase_add_test(tc, prepare_holds_until_commit);
	tcase_add_test(tc, abandon_retires_a_ready_instance);
	tcase_add_test(tc, abandon_while_starting_destroys);
	tcase_add_test(tc, failed_check_is_not_recorded);
	tcase_add_test(tc, slot_without_service_is_not_configured);
	tcase_add_test(tc, status_shows_generations_and_retiring);
	tcase_add_test(tc, drain_without_a_part_to_wait_for);
	tcase_add_test(tc, drain_waits_for_its_parts);
	tcase_add_test(tc, drain_reports_a_failed_part);
	tcase_add_test(tc, drain_cancelled_never_calls_back);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(registry_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
