/*
 * test_hsp.c -- unit tests of the HSP connector's state machine
 * (src/hsp*.c) with the real registry, router, libmosquitto and libevent,
 * and no broker: the peers are a closed port (refused) and a listener that
 * never answers (silent), both on 127.0.0.1.  What is checked is what an
 * operator sees: the reload's outcome and cause, the generation that stays,
 * the connector's status, and that a connector which cannot connect backs
 * off within its bounds and retires cleanly.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <mosquitto.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "../../src/hsp-conn.h"

static struct event_base	*base;
static struct registry		*reg;
static int			 callbacks;
static bool			 last_ok;
static char			*last_cause;

/* A loopback TCP socket: listening (BACKLOG > 0) or only bound. */
static int
loopback_socket(int backlog, int *port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof sin;
	int			fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	if (backlog > 0)
		ck_assert_int_eq(listen(fd, backlog), 0);
	*port = ntohs(sin.sin_port);
	return (fd);
}

/* A port nothing listens on: bound and closed again. */
static int
refused_port(void)
{
	int	port, fd = loopback_socket(0, &port);

	close(fd);
	return (port);
}

/* A configuration whose broker is 127.0.0.1:PORT. */
static struct config *
hsp_config(int port, int connect_timeout_s)
{
	struct config_problems	 problems = { 0 };
	struct config		*config;
	char			*text;

	text = str_printf("{\"ai_id\":\"did:hsp:unit\",\"control\":"
	    "{\"socket\":\"/tmp/x.sock\"},\"hsp\":{\"broker\":{\"host\":"
	    "\"127.0.0.1\",\"port\":%d},\"connect_timeout_s\":%d}}", port,
	    connect_timeout_s);
	ck_assert_ptr_nonnull(text);
	config = config_load_buffer("t.conf", text, strlen(text), &problems);
	config_problems_clear(&problems);
	free(text);
	ck_assert_ptr_nonnull(config);
	return (config);
}

static void
record_cb(__attribute__((unused)) void *arg, bool ok,
    __attribute__((unused)) const char *code, const char *cause,
    __attribute__((unused)) json_t *result)
{
	callbacks++;
	last_ok = ok;
	free(last_cause);
	last_cause = cause != NULL ? strdup(cause) : NULL;
}

/* Run the loop until DONE says so, or SECONDS have passed. */
static bool
run_until(bool (*done)(void *), void *arg, double seconds)
{
	struct timespec	start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!done(arg)) {
		if (timespec_elapsed_s(&start) > seconds)
			return (false);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	return (true);
}

static bool
called_back(void *arg)
{
	return (callbacks >= *(int *)arg);
}

static bool
in_state(void *arg)
{
	struct service_instance	*inst = registry_slot(reg,
				    SERVICE_HSP)->current;

	return (inst != NULL &&
	    ((struct hsp_conn *)inst->data)->state == *(enum hsp_state *)arg);
}

/* Start a generation (the first, or a reload) with CONFIG. */
static void
reload(struct config *config)
{
	const char	*code;
	char		*cause = NULL;

	ck_assert_ptr_nonnull(registry_reload(registry_slot(reg, SERVICE_HSP),
	    config, record_cb, NULL, &code, &cause));
	ck_assert_ptr_null(cause);
}

/*
 * Start a first generation whose broker refuses (CONFIG, which the test
 * frees) and wait until it backs off; returns its instance.
 */
static struct service_instance *
start_backing_off(struct config *config)
{
	enum hsp_state	backoff = HSP_STATE_BACKOFF;
	int		one = 1;

	reload(config);
	ck_assert(run_until(called_back, &one, 5));
	ck_assert(last_ok);
	ck_assert(run_until(in_state, &backoff, 5));
	return (registry_slot(reg, SERVICE_HSP)->current);
}

static void
setup(void)
{
	callbacks = 0;
	last_ok = false;
	base = event_base_new();
	reg = registry_create(base);
	registry_set_ops(reg, SERVICE_HSP, &hsp_service_ops);
}

static bool
slot_empty(void *arg)
{
	struct service_slot	*slot = arg;

	return (slot->current == NULL && TAILQ_EMPTY(&slot->retiring));
}

static void
teardown(void)
{
	struct service_slot	*slot = registry_slot(reg, SERVICE_HSP);

	registry_retire_all(reg);
	ck_assert(run_until(slot_empty, slot, 5));
	event_base_loop(base, EVLOOP_NONBLOCK);
	hsp_service_ops.exit();
	registry_free(reg);
	event_base_free(base);
	free(last_cause);
	last_cause = NULL;
}

/* The back-off doubles from the first step to the cap, with jitter. */
START_TEST(backoff_doubles_to_the_cap)
{
	unsigned int	step = 0, delay, expect = HSP_BACKOFF_FIRST_MS;
	int		i;

	for (i = 0; i < 20; i++) {
		delay = hsp_backoff_next(&step);
		ck_assert_uint_eq(step, expect);
		ck_assert_uint_ge(delay, step / 2);
		ck_assert_uint_le(delay, step);
		expect = expect * 2 > HSP_BACKOFF_MAX_MS ? HSP_BACKOFF_MAX_MS :
		    expect * 2;
	}
	ck_assert_uint_eq(step, HSP_BACKOFF_MAX_MS);
	step = 0;	/* a success starts over */
	hsp_backoff_next(&step);
	ck_assert_uint_eq(step, HSP_BACKOFF_FIRST_MS);
}
END_TEST

/*
 * The first generation reports ready at once (the daemon starts without
 * its broker) and keeps trying: refused, then backing off, degraded in
 * status with the cause.
 */
START_TEST(first_generation_starts_and_backs_off)
{
	struct config		*config = hsp_config(refused_port(), 5);
	struct service_slot	*slot = registry_slot(reg, SERVICE_HSP);
	struct hsp_conn		*c;
	json_t			*status;

	c = start_backing_off(config)->data;
	ck_assert_uint_eq(slot->generation, 1);
	ck_assert_uint_ge(c->backoff_ms, HSP_BACKOFF_FIRST_MS);
	status = slot->ops->status(slot->current);
	ck_assert_str_eq(json_string_value(json_object_get(status, "state")),
	    "degraded");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(status,
	    "last_error")), "127.0.0.1:"));
	json_decref(status);
	config_free(config);
}
END_TEST

/*
 * A reload to a broker that refuses fails with the cause, destroys the new
 * connector and keeps the old one as it was (generation 1).
 */
START_TEST(reload_to_a_refused_port_keeps_the_old)
{
	struct config		*first = hsp_config(refused_port(), 5);
	struct config		*second = hsp_config(refused_port(), 5);
	struct service_slot	*slot = registry_slot(reg, SERVICE_HSP);
	struct service_instance	*old;
	int			 one = 1, two = 2;

	reload(first);
	ck_assert(run_until(called_back, &one, 5));
	old = slot->current;
	reload(second);
	ck_assert(run_until(called_back, &two, 5));
	ck_assert(!last_ok);
	ck_assert_ptr_nonnull(last_cause);
	ck_assert_msg(strstr(last_cause, "refused") != NULL, "cause: %s",
	    last_cause);
	ck_assert_ptr_eq(slot->current, old);
	ck_assert_uint_eq(slot->current->generation, 1);
	ck_assert_uint_eq(slot->reloads_failed, 1);
	config_free(first);
	config_free(second);
}
END_TEST

/*
 * A broker that takes the TCP connection and never answers CONNACK: the
 * reload fails after hsp.connect_timeout_s, saying so.
 */
START_TEST(silent_broker_times_out)
{
	int			 port, fd = loopback_socket(8, &port);
	struct config		*first = hsp_config(refused_port(), 5);
	struct config		*second = hsp_config(port, 1);
	struct service_slot	*slot = registry_slot(reg, SERVICE_HSP);
	int			 one = 1, two = 2;

	reload(first);
	ck_assert(run_until(called_back, &one, 5));
	reload(second);
	ck_assert(run_until(called_back, &two, 10));
	ck_assert(!last_ok);
	ck_assert_str_eq(strchr(last_cause, ' ') + 1,
	    "not connected within hsp.connect_timeout_s");
	ck_assert_uint_eq(slot->current->generation, 1);
	close(fd);
	config_free(first);
	config_free(second);
}
END_TEST

/* Retiring a connector that is backing off closes it at once. */
START_TEST(retire_while_backing_off_closes)
{
	struct config		*config = hsp_config(refused_port(), 5);
	struct service_slot	*slot = registry_slot(reg, SERVICE_HSP);
	struct service_instance	*inst;

	inst = start_backing_off(config);
	service_instance_ref(inst);
	registry_retire_all(reg);
	ck_assert_int_eq(((struct hsp_conn *)inst->data)->state,
	    HSP_STATE_CLOSED);
	/* Nothing to wait for: retired in the same turn. */
	ck_assert(slot_empty(slot));
	service_instance_unref(inst);
	config_free(config);
}
END_TEST

static Suite *
hsp_suite(void)
{
	Suite	*s = suite_create("hsp");
	TCase	*tc = tcase_create("state machine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, backoff_doubles_to_the_cap);
	tcase_add_test(tc, first_generation_starts_and_backs_off);
	tcase_add_test(tc, reload_to_a_refused_port_keeps_the_old);
	tcase_add_test(tc, silent_broker_times_out);
	tcase_add_test(tc, retire_while_backing_off_closes);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(hsp_suite());
	int	 failed;

	mosquitto_lib_init();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mosquitto_lib_cleanup();
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
