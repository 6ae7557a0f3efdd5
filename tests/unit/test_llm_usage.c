/*
 * test_llm_usage.c -- unit tests of what an LLM back end has used
 * (src/llm-usage.c): tokens and their cost, the latency histogram and
 * median, and the minute a rate limit counts, with the clock given.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hotreloadd.h"
#include "config.h"
#include "llm.h"

/* A usage object as llm-provider.c normalises it. */
static json_t *
usage_of(int prompt, int completion)
{
	return (json_pack("{s:i, s:i, s:i}", "prompt_tokens", prompt,
	    "completion_tokens", completion, "total_tokens",
	    prompt + completion));
}

/* Tokens add up; the cost is the totals at the prices, not a drift. */
START_TEST(tokens_and_cost)
{
	struct llm_usage	*u = calloc(1, sizeof *u);
	struct config_backend	 b;
	json_t			*usage = usage_of(1000, 500);
	int			 i;

	memset(&b, 0, sizeof b);
	b.cost.input_per_1k = 0.1;
	b.cost.output_per_1k = 0.3;
	for (i = 0; i < 10; i++)
		llm_usage_answer(u, usage, 0.2, 1000.0);
	/* An answer without usage adds no tokens, but is an answer. */
	llm_usage_answer(u, NULL, 0.2, 1000.0);
	ck_assert_uint_eq(u->tokens_in, 10000);
	ck_assert_uint_eq(u->tokens_out, 5000);
	ck_assert_uint_eq(u->answers, 11);
	ck_assert(fabs(llm_usage_cost(u, &b) - 2.5) < 1e-12);
	json_decref(usage);
	free(u);
}
END_TEST

/* The median of the recent answers: NAN before, the lower middle after. */
START_TEST(p50_of_recent)
{
	struct llm_usage	*u = calloc(1, sizeof *u);
	int			 i;

	ck_assert(isnan(llm_usage_p50_ms(u)));
	llm_usage_answer(u, NULL, 0.3, 0);
	llm_usage_answer(u, NULL, 0.1, 0);
	ck_assert(llm_usage_p50_ms(u) == 100);
	llm_usage_answer(u, NULL, 0.2, 0);
	ck_assert(fabs(llm_usage_p50_ms(u) - 200) < 1e-9);
	/* Only the last LLM_RECENT_LATENCIES count: old slow ones go. */
	for (i = 0; i < LLM_RECENT_LATENCIES; i++)
		llm_usage_answer(u, NULL, 0.005, 0);
	ck_assert(fabs(llm_usage_p50_ms(u) - 5) < 1e-9);
	free(u);
}
END_TEST

/* Answers in their buckets, printed cumulative, with +Inf, sum, count. */
START_TEST(histogram_lines)
{
	struct llm_usage	*u = calloc(1, sizeof *u);
	char			*text = NULL;
	size_t			 size = 0;
	FILE			*f;

	llm_usage_answer(u, NULL, 0.05, 0);	/* on a bound: in it */
	llm_usage_answer(u, NULL, 0.3, 0);
	llm_usage_answer(u, NULL, 0.3, 0);
	llm_usage_answer(u, NULL, 500, 0);	/* beyond the last */
	f = open_memstream(&text, &size);
	ck_assert_ptr_nonnull(f);
	llm_usage_histogram(f, "m", "b", u);
	fclose(f);
	ck_assert_str_eq(text,
	    "m_bucket{backend=\"b\",le=\"0.05\"} 1\n"
	    "m_bucket{backend=\"b\",le=\"0.1\"} 1\n"
	    "m_bucket{backend=\"b\",le=\"0.25\"} 1\n"
	    "m_bucket{backend=\"b\",le=\"0.5\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"1\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"2.5\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"5\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"10\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"30\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"60\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"120\"} 3\n"
	    "m_bucket{backend=\"b\",le=\"+Inf\"} 4\n"
	    "m_sum{backend=\"b\"} 500.650000\n"
	    "m_count{backend=\"b\"} 4\n");
	free(text);
	free(u);
}
END_TEST

/*
 * requests_per_minute: the third request of a minute waits until the
 * second of the first has left the window (its second + 60).
 */
START_TEST(requests_per_minute)
{
	struct llm_usage	*u = calloc(1, sizeof *u);
	uint64_t		 requests, tokens;

	ck_assert(llm_usage_wait(u, 1000.2, 2, CONFIG_UNSET) == 0);
	llm_usage_note(u, 1000.2, 1, 0);
	ck_assert(llm_usage_wait(u, 1010.5, 2, CONFIG_UNSET) == 0);
	llm_usage_note(u, 1010.5, 1, 0);
	llm_usage_minute(u, 1010.9, &requests, &tokens);
	ck_assert_uint_eq(requests, 2);
	/* Full: room at 1060, when second 1000 leaves. */
	ck_assert(fabs(llm_usage_wait(u, 1030.25, 2, CONFIG_UNSET) -
	    29.75) < 1e-9);
	ck_assert(fabs(llm_usage_wait(u, 1059.5, 2, CONFIG_UNSET) - 0.5) <
	    1e-9);
	ck_assert(llm_usage_wait(u, 1060.0, 2, CONFIG_UNSET) == 0);
	/* No limit, no wait. */
	ck_assert(llm_usage_wait(u, 1030.25, CONFIG_UNSET, CONFIG_UNSET) == 0);
	/* A minute later, nothing is left. */
	llm_usage_minute(u, 1070.0, &requests, &tokens);
	ck_assert_uint_eq(requests, 0);
	free(u);
}
END_TEST

/*
 * tokens_per_minute: a request goes while the minute's tokens are under
 * the limit; over it, room comes when enough old tokens have left.
 */
START_TEST(tokens_per_minute)
{
	struct llm_usage	*u = calloc(1, sizeof *u);
	json_t			*usage = usage_of(300, 100);

	llm_usage_answer(u, usage, 0.1, 2000.0);	/* 400 tokens at 2000 */
	ck_assert(llm_usage_wait(u, 2001.0, CONFIG_UNSET, 1000) == 0);
	llm_usage_answer(u, usage, 0.1, 2005.0);	/* 800 */
	ck_assert(llm_usage_wait(u, 2006.0, CONFIG_UNSET, 1000) == 0);
	llm_usage_answer(u, usage, 0.1, 2007.0);	/* 1200: over */
	/* 2000's 400 leave at 2060: 800 left, under 1000. */
	ck_assert(fabs(llm_usage_wait(u, 2008.0, CONFIG_UNSET, 1000) -
	    52.0) < 1e-9);
	/* Under a limit of 500 the seconds 2000 and 2005 must both go. */
	ck_assert(fabs(llm_usage_wait(u, 2008.0, CONFIG_UNSET, 500) -
	    57.0) < 1e-9);
	/* Both limits: the longer wait. */
	llm_usage_note(u, 2009.0, 1, 0);
	ck_assert(fabs(llm_usage_wait(u, 2010.0, 1, 1000) - 59.0) < 1e-9);
	json_decref(usage);
	free(u);
}
END_TEST

/* A slot reused after a minute starts from nothing. */
START_TEST(slots_reused)
{
	struct llm_usage	*u = calloc(1, sizeof *u);
	uint64_t		 requests, tokens;

	llm_usage_note(u, 3000.5, 5, 50);
	llm_usage_note(u, 3060.5, 1, 10);	/* the same slot */
	llm_usage_minute(u, 3060.9, &requests, &tokens);
	ck_assert_uint_eq(requests, 1);
	ck_assert_uint_eq(tokens, 10);
	free(u);
}
END_TEST

static Suite *
llm_usage_suite(void)
{
	Suite	*s = suite_create("llm-usage");
	TCase	*tc = tcase_create("usage");

	tcase_add_test(tc, tokens_and_cost);
	tcase_add_test(tc, p50_of_recent);
	tcase_add_test(tc, histogram_lines);
	tcase_add_test(tc, requests_per_minute);
	tcase_add_test(tc, tokens_per_minute);
	tcase_add_test(tc, slots_reused);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(llm_usage_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
