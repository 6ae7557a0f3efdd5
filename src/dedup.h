/*
 * dedup.h -- a de-duplication window of message ids in fixed-size entries.
 *
 * The window remembers the last N ids it admitted, each as a keyed 128-bit
 * hash (SipHash-2-4-128, keyed from getrandom() when the window is made, so
 * that a peer cannot craft ids that collide), in a ring ordered by age plus
 * an open-addressing index into the ring.  Every entry costs the same,
 * whatever the length of the id: at most DEDUP_ENTRY_BYTES_MAX bytes.
 */
#ifndef HOTRELOAD_DEDUP_H
#define HOTRELOAD_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What one entry costs at most: 16 bytes in the ring and up to two 4-byte
 * index slots per entry at the worst rounding of the index to a power of
 * two (it is kept at most half full).
 */
#define DEDUP_ENTRY_BYTES_MAX	32

struct dedup;

struct dedup	*dedup_create(size_t window);
void		 dedup_free(struct dedup *);
bool		 dedup_seen_or_insert(struct dedup *, const char *id);
int		 dedup_resize(struct dedup *, size_t window);
size_t		 dedup_window(const struct dedup *);
size_t		 dedup_count(const struct dedup *);
size_t		 dedup_bytes(const struct dedup *);
size_t		 dedup_bytes_for(size_t window);
size_t		 dedup_window_fit(size_t window, size_t max_bytes);

/* The keyed hash, exposed for its test vectors. */
void		 dedup_siphash128(const uint8_t key[16], const void *data,
		    size_t length, uint8_t out[16]);

#endif
