/*
 * test_dedup.c -- unit tests of dedup.c, the de-duplication window: at its
 * bound the oldest id is forgotten and a retry inside it is a duplicate,
 * a resize keeps the newest ids, ids whose hashes share index slots are
 * told apart (many ids through a small index), an entry costs a fixed size,
 * and the keyed hash is SipHash-2-4-128 (the reference vectors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "dedup.h"

/* The id numbered I, as text (the buffer is reused). */
static const char *
id_of(size_t i)
{
	static char	buffer[32];

	snprintf(buffer, sizeof buffer, "msg-%zu", i);
	return (buffer);
}

/*
 * Are ids FIRST to LAST duplicates in D?  (Asks only about ids it should
 * hold.)  Checks in loops fail with ck_abort_msg: a passing ck_assert costs
 * Check a message to the parent process, and there are millions.
 */
static void
assert_held(struct dedup *d, size_t first, size_t last)
{
	size_t	i, count = dedup_count(d);

	for (i = first; i <= last; i++)
		if (!dedup_seen_or_insert(d, id_of(i)))
			ck_abort_msg("%s should be a duplicate", id_of(i));
	/* Asking about held ids admits nothing. */
	ck_assert_uint_eq(dedup_count(d), count);
}

START_TEST(siphash128_reference_vectors)
{
	/* vectors_sip128 of the reference implementation: key 00..0f,
	 * message 00..(n-1). */
	static const struct {
		size_t	length;
		uint8_t	out[16];
	} vectors[] = {
		{ 0, { 0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d,
		    0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93 } },
		{ 7, { 0xa1, 0xf1, 0xeb, 0xbe, 0xd8, 0xdb, 0xc1, 0x53, 0xc0,
		    0xb8, 0x4a, 0xa6, 0x1f, 0xf0, 0x82, 0x39 } },
		{ 8, { 0x3b, 0x62, 0xa9, 0xba, 0x62, 0x58, 0xf5, 0x61, 0x0f,
		    0x83, 0xe2, 0x64, 0xf3, 0x14, 0x97, 0xb4 } },
		{ 15, { 0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11, 0x7e,
		    0x08, 0xec, 0x0f, 0x97, 0xcf, 0xc3, 0xd9 } },
		{ 63, { 0x51, 0x50, 0xd1, 0x77, 0x2f, 0x50, 0x83, 0x4a, 0x50,
		    0x3e, 0x06, 0x9a, 0x97, 0x3f, 0xbd, 0x7c } },
	};
	uint8_t	key[16], message[64], out[16];
	size_t	i;

	for (i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < sizeof message; i++)
		message[i] = (uint8_t)i;
	for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		dedup_siphash128(key, message, vectors[i].length, out);
		ck_assert_msg(memcmp(out, vectors[i].out, 16) == 0,
		    "SipHash-2-4-128 of %zu bytes", vectors[i].length);
	}
}
END_TEST

START_TEST(oldest_is_forgotten_at_the_bound)
{
	static const size_t	windows[] = { 1, 2, 8, 1000 };
	struct dedup		*d;
	size_t			 w, n, i;

	for (w = 0; w < sizeof windows / sizeof windows[0]; w++) {
		n = windows[w];
		ck_assert_ptr_nonnull(d = dedup_create(n));
		ck_assert_uint_eq(dedup_window(d), n);
		/* N + 1 distinct ids: each is new. */
		for (i = 0; i <= n; i++)
			ck_assert(!dedup_seen_or_insert(d, id_of(i)));
		ck_assert_uint_eq(dedup_count(d), n);
		/* The last N are in the window: a retry is a duplicate. */
		assert_held(d, 1, n);
		/* The first was pushed out: it is new again (and pushes
		 * out the second). */
		ck_assert(!dedup_seen_or_insert(d, id_of(0)));
		ck_assert_uint_eq(dedup_count(d), n);
		if (n > 1)
			assert_held(d, 2, n);
		ck_assert(dedup_seen_or_insert(d, id_of(0)));
		ck_assert(!dedup_seen_or_insert(d, id_of(1)));
		dedup_free(d);
	}
}
END_TEST

START_TEST(resize_keeps_the_newest)
{
	struct dedup	*d;
	size_t		 i;

	ck_assert_ptr_nonnull(d = dedup_create(8));
	for (i = 0; i < 8; i++)
		ck_assert(!dedup_seen_or_insert(d, id_of(i)));

	/* Smaller: the three newest stay, the oldest of them goes next. */
	ck_assert_int_eq(dedup_resize(d, 3), 0);
	ck_assert_uint_eq(dedup_window(d), 3);
	ck_assert_uint_eq(dedup_count(d), 3);
	assert_held(d, 5, 7);
	ck_assert(!dedup_seen_or_insert(d, id_of(4)));	/* 6 7 4 */
	assert_held(d, 6, 7);
	assert_held(d, 4, 4);
	ck_assert(!dedup_seen_or_insert(d, id_of(5)));	/* 7 4 5 */

	/* The same size: nothing changes. */
	ck_assert_int_eq(dedup_resize(d, 3), 0);
	ck_assert_uint_eq(dedup_count(d), 3);
	assert_held(d, 4, 5);
	assert_held(d, 7, 7);

	/* Larger: all stay, in their order; new ids fill it up. */
	ck_assert_int_eq(dedup_resize(d, 16), 0);
	ck_assert_uint_eq(dedup_count(d), 3);
	for (i = 100; i < 113; i++)
		ck_assert(!dedup_seen_or_insert(d, id_of(i)));
	ck_assert_uint_eq(dedup_count(d), 16);
	assert_held(d, 4, 5);
	assert_held(d, 7, 7);
	assert_held(d, 100, 112);
	/* Full: the oldest kept through the resizes goes first. */
	ck_assert(!dedup_seen_or_insert(d, id_of(113)));
	assert_held(d, 4, 5);
	ck_assert(!dedup_seen_or_insert(d, id_of(7)));

	ck_assert_int_eq(dedup_resize(d, 0), -1);
	ck_assert_uint_eq(dedup_window(d), 16);
	dedup_free(d);
}
END_TEST

/*
 * Many ids through windows whose index is small, so that many of them
 * share a home slot and deletions shift clusters back: after every id the
 * window must hold exactly the last N.
 */
START_TEST(many_ids_sharing_slots)
{
	static const size_t	windows[] = { 1, 3, 5, 64, 1000 };
	struct dedup		*d;
	size_t			 w, n, i, total = 60000;

	for (w = 0; w < sizeof windows / sizeof windows[0]; w++) {
		n = windows[w];
		ck_assert_ptr_nonnull(d = dedup_create(n));
		for (i = 0; i < total; i++) {
			if (dedup_seen_or_insert(d, id_of(i)))
				ck_abort_msg("window %zu: %s should be new", n,
				    id_of(i));
			if (dedup_count(d) != (i + 1 < n ? i + 1 : n))
				ck_abort_msg("window %zu: holds %zu after %zu",
				    n, dedup_count(d), i + 1);
			/* Now and then, the whole window. */
			if (i % 97 == 0 || i + 1 == total)
				assert_held(d, i + 1 < n ? 0 : i + 1 - n, i);
		}
		/* The one before the window is new again. */
		ck_assert(!dedup_seen_or_insert(d, id_of(total - n - 1)));
		dedup_free(d);
	}
}
END_TEST

START_TEST(long_and_similar_ids)
{
	struct dedup	*d;
	char		*a, *b;

	ck_assert_ptr_nonnull(d = dedup_create(4));
	ck_assert_ptr_nonnull(a = malloc(8001));
	memset(a, 'L', 8000);
	a[8000] = '\0';
	ck_assert_ptr_nonnull(b = strdup(a));
	b[7999] = 'M';
	ck_assert(!dedup_seen_or_insert(d, a));
	ck_assert(!dedup_seen_or_insert(d, b));
	ck_assert(dedup_seen_or_insert(d, a));
	ck_assert(!dedup_seen_or_insert(d, ""));
	ck_assert(dedup_seen_or_insert(d, ""));
	ck_assert_uint_eq(dedup_count(d), 3);
	free(a);
	free(b);
	dedup_free(d);
}
END_TEST

START_TEST(entries_have_a_fixed_size)
{
	static const size_t	windows[] = { 1, 2, 3, 1000, 65535, 65536,
	    65537, 16777216 };
	struct dedup		*d;
	size_t			 w, n, header = dedup_bytes_for(1);

	for (w = 0; w < sizeof windows / sizeof windows[0]; w++) {
		n = windows[w];
		ck_assert_uint_le(dedup_bytes_for(n),
		    header + n * DEDUP_ENTRY_BYTES_MAX);
	}
	/* The default window: at most 64 bytes an id, whatever the ids. */
	ck_assert_uint_le(dedup_bytes_for(65536), 64 * 65536);
	ck_assert_ptr_nonnull(d = dedup_create(65536));
	ck_assert_uint_eq(dedup_bytes(d), dedup_bytes_for(65536));
	dedup_free(d);
	ck_assert_uint_eq(dedup_bytes(NULL), 0);
	ck_assert_uint_eq(dedup_count(NULL), 0);
	dedup_free(NULL);
}
END_TEST

START_TEST(window_fits_the_byte_bound)
{
	size_t	n;

	/* The defaults: the whole window fits. */
	ck_assert_uint_eq(dedup_window_fit(65536, 16777216), 65536);
	ck_assert_uint_eq(dedup_window_fit(4, 65536), 4);
	/* The largest window: cut to what 16 MiB holds, exactly. */
	n = dedup_window_fit(16777216, 16777216);
	ck_assert_uint_lt(n, 16777216);
	ck_assert_uint_le(dedup_bytes_for(n), 16777216);
	ck_assert_uint_gt(dedup_bytes_for(n + 1), 16777216);
	ck_assert_uint_ge(n, 16777216 / DEDUP_ENTRY_BYTES_MAX);
	/* Never empty. */
	ck_assert_uint_eq(dedup_window_fit(10, 0), 1);
	ck_assert_uint_eq(dedup_window_fit(1, 65536), 1);
}
END_TEST

static Suite *
dedup_suite(void)
{
	Suite	*s = suite_create("dedup");
	TCase	*hash = tcase_create("hash");
	TCase	*window = tcase_create("window");
	TCase	*size = tcase_create("size");

	tcase_add_test(hash, siphash128_reference_vectors);
	tcase_add_test(window, oldest_is_forgotten_at_the_bound);
	tcase_add_test(window, resize_keeps_the_newest);
	tcase_add_test(window, many_ids_sharing_slots);
	tcase_add_test(window, long_and_similar_ids);
	tcase_add_test(size, entries_have_a_fixed_size);
	tcase_add_test(size, window_fits_the_byte_bound);
	suite_add_tcase(s, hash);
	suite_add_tcase(s, window);
	suite_add_tcase(s, size);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(dedup_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
