/*
 * test_cmdq.c -- unit tests of the command queue (src/cmdq.c): FIFO order,
 * one item at a time, the bound, the per-command timeout, items that outlive
 * their client, unlocking, and cancelling what is pending.
 *
 * The commands here are small test commands run on a real libevent loop.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hotreloadd.h"

static struct event_base	*base;
static json_t			*replies;	/* every reply line, in order */
static json_t			*started;	/* ids of items as they start */
static int			 running_now;	/* items between exec and done */
static int			 running_max;
static int			 cancelled;
static struct cmdq_item		*parked;	/* a waiting item */

/* Record a reply line. */
static void
record_reply_cb(__attribute__((unused)) struct cmdq_item *item, json_t *line,
    __attribute__((unused)) bool final, __attribute__((unused)) void *arg)
{
	json_array_append(replies, line);
}

/* A command that finishes at once. */
static enum cmd_retval
instant_exec(struct cmdq_item *item)
{
	json_array_append(started, item->id);
	cmdq_item_ok(item, json_pack("{s:O}", "echo", item->id));
	return (CMD_RETURN_NORMAL);
}

/* Finish a waiting item from a timer. */
static void
finish_later_cb(__attribute__((unused)) evutil_socket_t fd,
    __attribute__((unused)) short events, void *arg)
{
	struct cmdq_item	*item = arg;

	running_now--;
	cmdq_item_ok(item, json_pack("{s:O}", "echo", item->id));
	cmdq_item_done(item);
}

/* A command that takes 20 ms, like a reload waiting for a broker. */
static enum cmd_retval
slow_exec(struct cmdq_item *item)
{
	struct timeval	tv = { 0, 20000 };

	json_array_append(started, item->id);
	if (++running_now > running_max)
		running_max = running_now;
	event_base_once(base, -1, EV_TIMEOUT, finish_later_cb, item, &tv);
	return (CMD_RETURN_WAIT);
}

/* A command that never finishes by itself. */
static enum cmd_retval
hang_exec(struct cmdq_item *item)
{
	json_array_append(started, item->id);
	parked = item;
	return (CMD_RETURN_WAIT);
}

/* Cancel for hang: forget the parked item. */
static void
hang_cancel(__attribute__((unused)) struct cmdq_item *item)
{
	cancelled++;
	parked = NULL;
}

/* A command that releases the lock and finishes later (drain --wait). */
static enum cmd_retval
unlock_exec(struct cmdq_item *item)
{
	json_array_append(started, item->id);
	parked = item;
	cmdq_item_unlock(item);
	return (CMD_RETURN_WAIT);
}

static const struct cmd_entry instant_entry = {
	.name = "instant", .flags = CMD_STATE_CHANGING, .exec = instant_exec,
};
static const struct cmd_entry slow_entry = {
	.name = "slow", .flags = CMD_STATE_CHANGING, .exec = slow_exec,
};
static const struct cmd_entry hang_entry = {
	.name = "hang", .flags = CMD_STATE_CHANGING, .exec = hang_exec,
	.cancel = hang_cancel,
};
static const struct cmd_entry unlock_entry = {
	.name = "unlock", .flags = CMD_STATE_CHANGING, .exec = unlock_exec,
};

static void
setup(void)
{
	base = event_base_new();
	replies = json_array();
	started = json_array();
	running_now = running_max = cancelled = 0;
	parked = NULL;
}

static void
teardown(void)
{
	json_decref(replies);
	json_decref(started);
	event_base_free(base);
}

/* Make an item of CMD with integer id ID that reports to the recorder. */
static struct cmdq_item *
make_item(const struct cmd_entry *cmd, int id)
{
	json_t			*jid = json_integer(id);
	struct cmdq_item	*item;

	item = cmdq_item_create(cmd, jid, NULL, 0, 0, "test");
	json_decref(jid);
	cmdq_item_set_reply(item, record_reply_cb, NULL);
	return (item);
}

/* Stop the loop after SECONDS. */
static void
run_loop(double seconds)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* The id of reply line N. */
static json_int_t
reply_id(size_t n)
{
	return (json_integer_value(json_object_get(json_array_get(replies, n),
	    "id")));
}

START_TEST(fifo_one_at_a_time)
{
	struct cmdq	*q = cmdq_create(base, 16, 10);
	int		 i;

	for (i = 1; i <= 5; i++)
		ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, i),
		    false), 0);
	ck_assert_uint_eq(q->pending_count, 5);
	run_loop(0.5);
	ck_assert_uint_eq(json_array_size(started), 5);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(json_integer_value(json_array_get(started,
		    (size_t)i)), i + 1);
		ck_assert_int_eq(reply_id((size_t)i), i + 1);
	}
	ck_assert_int_eq(running_max, 1);	/* never two at once */
	ck_assert(cmdq_idle(q));
	ck_assert_uint_eq(q->completed, 5);
	cmdq_free(q);
}
END_TEST

START_TEST(bounded_queue_answers_queue_full)
{
	struct cmdq	*q = cmdq_create(base, 2, 10);
	json_t		*error;

	ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, 1), false), 0);
	ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, 2), false), 0);
	ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, 3), false), -1);
	ck_assert_uint_eq(json_array_size(replies), 1);
	ck_assert_int_eq(reply_id(0), 3);
	error = json_object_get(json_array_get(replies, 0), "error");
	ck_assert_str_eq(json_string_value(json_object_get(error, "code")),
	    HR_ERR_QUEUE_FULL);
	ck_assert_uint_eq(q->rejected_full, 1);
	/* The daemon's own shutdown is never refused. */
	ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, 4), true), 0);
	run_loop(0.3);
	ck_assert_uint_eq(json_array_size(started), 3);
	ck_assert_uint_eq(q->completed, 3);
	cmdq_free(q);
}
END_TEST

START_TEST(running_item_does_not_count_against_bound)
{
	struct cmdq	*q = cmdq_create(base, 1, 10);

	ck_assert_int_eq(cmdq_append(q, make_item(&hang_entry, 1), false), 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_ptr_nonnull(q->running);
	ck_assert_uint_eq(q->pending_count, 0);
	ck_assert_int_eq(cmdq_append(q, make_item(&instant_entry, 2), false),
	    0);
	ck_assert_int_eq(cmdq_append(q, make_item(&instant_entry, 3), false),
	    -1);
	cmdq_free(q);
}
END_TEST

START_TEST(timeout_cancels_and_moves_on)
{
	struct cmdq	*q = cmdq_create(base, 4, 1);
	json_t		*error;

	ck_assert_int_eq(cmdq_append(q, make_item(&hang_entry, 1), false), 0);
	ck_assert_int_eq(cmdq_append(q, make_item(&instant_entry, 2), false),
	    0);
	run_loop(1.5);
	ck_assert_int_eq(cancelled, 1);
	ck_assert_uint_eq(json_array_size(replies), 2);
	ck_assert_int_eq(reply_id(0), 1);
	error = json_object_get(json_array_get(replies, 0), "error");
	ck_assert_str_eq(json_string_value(json_object_get(error, "code")),
	    HR_ERR_TIMEOUT);
	ck_assert_int_eq(reply_id(1), 2);
	ck_assert(json_is_true(json_object_get(json_array_get(replies, 1),
	    "ok")));
	ck_assert(cmdq_idle(q));
	cmdq_free(q);
}
END_TEST

START_TEST(item_survives_client_leaving)
{
	struct cmdq		*q = cmdq_create(base, 4, 10);
	struct cmdq_item	*first = make_item(&slow_entry, 1);

	ck_assert_int_eq(cmdq_append(q, first, false), 0);
	ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, 2), false), 0);
	/* The first client goes away before its command runs. */
	cmdq_item_set_reply(first, NULL, NULL);
	run_loop(0.3);
	ck_assert_uint_eq(json_array_size(started), 2);	/* both ran */
	ck_assert_uint_eq(json_array_size(replies), 1);	/* one listener */
	ck_assert_int_eq(reply_id(0), 2);
	ck_assert_uint_eq(q->completed, 2);
	cmdq_free(q);
}
END_TEST

START_TEST(unlock_lets_the_next_run)
{
	struct cmdq		*q = cmdq_create(base, 4, 10);
	struct cmdq_item	*waiter;

	ck_assert_int_eq(cmdq_append(q, make_item(&unlock_entry, 1), false),
	    0);
	ck_assert_int_eq(cmdq_append(q, make_item(&instant_entry, 2), false),
	    0);
	run_loop(0.1);
	ck_assert_uint_eq(json_array_size(started), 2);
	ck_assert_uint_eq(json_array_size(replies), 1);	/* 2 answered */
	ck_assert_int_eq(reply_id(0), 2);
	ck_assert(cmdq_idle(q));
	waiter = parked;
	ck_assert_ptr_nonnull(waiter);
	cmdq_item_progress(waiter, json_pack("{s:i}", "in_flight", 1));
	cmdq_item_ok(waiter, json_object());
	cmdq_item_done(waiter);
	ck_assert_uint_eq(json_array_size(replies), 3);
	ck_assert_ptr_nonnull(json_object_get(json_array_get(replies, 1),
	    "progress"));
	ck_assert_int_eq(reply_id(2), 1);
	cmdq_free(q);
}
END_TEST

START_TEST(cancel_pending_answers_everyone)
{
	struct cmdq	*q = cmdq_create(base, 4, 10);
	json_t		*error;
	size_t		 i;

	ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, 1), false), 0);
	ck_assert_int_eq(cmdq_append(q, make_item(&slow_entry, 2), false), 0);
	cmdq_cancel_pending(q, HR_ERR_SHUTTING_DOWN, "going");
	ck_assert_uint_eq(q->pending_count, 0);
	ck_assert_uint_eq(json_array_size(replies), 2);
	for (i = 0; i < 2; i++) {
		error = json_object_get(json_array_get(replies, i), "error");
		ck_assert_str_eq(json_string_value(json_object_get(error,
		    "code")), HR_ERR_SHUTTING_DOWN);
	}
	run_loop(0.1);
	ck_assert_uint_eq(json_array_size(started), 0);
	cmdq_free(q);
}
END_TEST

START_TEST(run_now_skips_the_queue)
{
	struct cmdq	*q = cmdq_create(base, 4, 10);

	ck_assert_int_eq(cmdq_append(q, make_item(&hang_entry, 1), false), 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_ptr_nonnull(q->running);
	/* A read-only command is answered while the lock is held. */
	cmdq_run_now(q, make_item(&instant_entry, 2));
	ck_assert_uint_eq(json_array_size(replies), 1);
	ck_assert_int_eq(reply_id(0), 2);
	cmdq_free(q);
}
END_TEST

START_TEST(missing_reply_becomes_internal_error)
{
	static const struct cmd_entry	silent_entry = {
		.name = "silent", .exec = NULL,
	};
	struct cmdq			*q = cmdq_create(base, 4, 10);
	struct cmdq_item		*item = make_item(&silent_entry, 5);
	json_t				*error;

	/* Finishing an item that never replied still answers the client. */
	item->queue = q;
	item->state = CMDQ_ITEM_UNLOCKED;
	TAILQ_INSERT_TAIL(&q->unlocked, item, entry);
	cmdq_item_done(item);
	error = json_object_get(json_array_get(replies, 0), "error");
	ck_assert_str_eq(json_string_value(json_object_get(error, "code")),
	    HR_ERR_INTERNAL);
	cmdq_free(q);
}
END_TEST

static Suite *
cmdq_suite(void)
{
	Suite	*s = suite_create("cmdq");
	TCase	*tc = tcase_create("queue");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, fifo_one_at_a_time);
	tcase_add_test(tc, bounded_queue_answers_queue_full);
	tcase_add_test(tc, running_item_does_not_count_against_bound);
	tcase_add_test(tc, timeout_cancels_and_moves_on);
	tcase_add_test(tc, item_survives_client_leaving);
	tcase_add_test(tc, unlock_lets_the_next_run);
	tcase_add_test(tc, cancel_pending_answers_everyone);
	tcase_add_test(tc, run_now_skips_the_queue);
	tcase_add_test(tc, missing_reply_becomes_internal_error);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(cmdq_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
