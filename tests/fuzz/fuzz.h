/*
 * fuzz.h -- the libFuzzer entry points every harness in tests/fuzz/ defines.
 *
 * Built with clang and -fsanitize=fuzzer, libFuzzer's main() calls them; built
 * with the normal compiler, driver.c's main() does, replaying files so that
 * the corpora run in "make check-unit" without clang.
 */
#ifndef HOTRELOAD_FUZZ_H
#define HOTRELOAD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A property of the code under test does not hold: print it and abort, so
 * libFuzzer keeps the input (assert() would vanish under -DNDEBUG).
 */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond))							\
		fuzz_fail(__FILE__, __LINE__, #cond);			\
} while (0)

/* Report a broken property and abort. */
static inline __attribute__((noreturn)) void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: property does not hold: %s\n", file, line,
	    what);
	abort();
}

#endif /* HOTRELOAD_FUZZ_H */
