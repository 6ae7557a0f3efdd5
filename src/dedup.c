/*
 * dedup.c -- the de-duplication window: the last N message ids, in fixed
 * space.
 *
 * An id is remembered as its SipHash-2-4-128 under a key drawn from
 * getrandom() when the window is made: 16 bytes, whatever the id's length,
 * and a peer that does not know the key cannot pick two ids with the same
 * hash (a false "duplicate" needs a 128-bit collision).  The hashes sit in
 * a ring in the order they were admitted; when it is full the oldest is
 * overwritten.  An open-addressing index (linear probing, kept at most half
 * full) maps a hash to its place in the ring; an evicted entry leaves the
 * index by backward-shift deletion (Knuth's algorithm R), so there are no
 * tombstones and a probe never runs longer than the entries in its cluster.
 *
 * Nothing is allocated per id: the ring and the index are allocated whole
 * when the window is made or resized.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

/* One remembered id. */
struct dedup_hash {
	uint64_t	lo;	/* its low bits pick the index slot */
	uint64_t	hi;
};

struct dedup {
	uint8_t			 key[16];
	struct dedup_hash	*ring;		/* WINDOW entries, by age */
	uint32_t		*index;		/* ring position + 1; 0: empty */
	size_t			 mask;		/* index slots - 1 */
	size_t			 window;
	size_t			 next;		/* the ring slot to write next */
	size_t			 count;
};

/* Ring positions (plus one) are kept in the index in 32 bits. */
#define DEDUP_WINDOW_LIMIT	((size_t)1 << 30)

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* Little-endian 64 bits from P. */
static uint64_t
dedup_load64(const uint8_t *p)
{
	return ((uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56);
}

/* V little-endian into P. */
static void
dedup_store64(uint8_t *p, uint64_t v)
{
	size_t	i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * SipHash-2-4 with a 128-bit output (Aumasson and Bernstein), as the
 * reference implementation computes it: OUT is the bytes of its
 * vectors_sip128.
 */
void
dedup_siphash128(const uint8_t key[16], const void *data, size_t length,
    uint8_t out[16])
{
	const uint8_t	*in = data, *end = in + (length & ~(size_t)7);
	uint64_t	 k0 = dedup_load64(key), k1 = dedup_load64(key + 8);
	uint64_t	 v0 = UINT64_C(0x736f6d6570736575) ^ k0;
	uint64_t	 v1 = UINT64_C(0x646f72616e646f6d) ^ k1 ^ 0xee;
	uint64_t	 v2 = UINT64_C(0x6c7967656e657261) ^ k0;
	uint64_t	 v3 = UINT64_C(0x7465646279746573) ^ k1;
	uint64_t	 m, b = (uint64_t)length << 56;
	size_t		 i;

	for (; in != end; in += 8) {
		m = dedup_load64(in);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < (length & 7); i++)
		b |= (uint64_t)in[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xee;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	dedup_store64(out, v0 ^ v1 ^ v2 ^ v3);
	v1 ^= 0xdd;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	dedup_store64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

/* The index slots for WINDOW entries: a power of two, at least twice. */
static size_t
dedup_index_slots(size_t window)
{
	size_t	slots = 2;

	while (slots < 2 * window)
		slots *= 2;
	return (slots);
}

/*
 * The bytes a window of WINDOW entries takes, allocated whole: at most
 * DEDUP_ENTRY_BYTES_MAX per entry plus the fixed header.
 */
size_t
dedup_bytes_for(size_t window)
{
	if (window == 0 || window > DEDUP_WINDOW_LIMIT)
		return (SIZE_MAX);
	return (sizeof(struct dedup) + window * sizeof(struct dedup_hash) +
	    dedup_index_slots(window) * sizeof(uint32_t));
}

/*
 * The largest window of at most WINDOW entries that takes at most MAX_BYTES
 * (dedup_bytes_for); at least 1.
 */
size_t
dedup_window_fit(size_t window, size_t max_bytes)
{
	size_t	low = 1, high, middle;

	high = window < DEDUP_WINDOW_LIMIT ? window : DEDUP_WINDOW_LIMIT;
	if (high <= 1)
		return (1);
	/* dedup_bytes_for grows with the window: the last that fits. */
	while (low < high) {
		middle = low + (high - low + 1) / 2;
		if (dedup_bytes_for(middle) <= max_bytes)
			low = middle;
		else
			high = middle - 1;
	}
	return (low);
}

/* The hash of ID under D's key. */
static struct dedup_hash
dedup_hash(const struct dedup *d, const char *id)
{
	uint8_t			out[16];
	struct dedup_hash	h;

	dedup_siphash128(d->key, id, strlen(id), out);
	h.lo = dedup_load64(out);
	h.hi = dedup_load64(out + 8);
	return (h);
}

/*
 * The index slot that holds H, setting *FOUND; else the empty slot where H
 * would go.
 */
static size_t
dedup_find(const struct dedup *d, struct dedup_hash h, bool *found)
{
	size_t			 slot = (size_t)h.lo & d->mask;
	const struct dedup_hash	*held;

	for (; d->index[slot] != 0; slot = (slot + 1) & d->mask) {
		held = &d->ring[d->index[slot] - 1];
		if (held->lo == h.lo && held->hi == h.hi) {
			*found = true;
			return (slot);
		}
	}
	*found = false;
	return (slot);
}

/*
 * Empty index slot HOLE, moving back the entries after it in its cluster
 * that may move (those whose home slot is not between the hole and them),
 * so that every entry stays reachable from its home without tombstones.
 */
static void
dedup_index_delete(struct dedup *d, size_t hole)
{
	size_t	slot = hole, home;

	for (;;) {
		slot = (slot + 1) & d->mask;
		if (d->index[slot] == 0)
			break;
		home = (size_t)d->ring[d->index[slot] - 1].lo & d->mask;
		/* Its distance from home at least the hole's: it moves. */
		if (((slot - home) & d->mask) >= ((slot - hole) & d->mask)) {
			d->index[hole] = d->index[slot];
			hole = slot;
		}
	}
	d->index[hole] = 0;
}

/* Append H, known to be absent, to a window that is not full. */
static void
dedup_append(struct dedup *d, struct dedup_hash h)
{
	bool	found;
	size_t	slot = dedup_find(d, h, &found);

	d->ring[d->next] = h;
	d->index[slot] = (uint32_t)(d->next + 1);
	d->next = (d->next + 1) % d->window;
	d->count++;
}

/* A window for WINDOW ids, with a fresh random key; NULL and errno. */
struct dedup *
dedup_create(size_t window)
{
	struct dedup	*d;
	size_t		 got = 0;
	ssize_t		 n;

	if (window == 0 || window > DEDUP_WINDOW_LIMIT) {
		errno = EINVAL;
		return (NULL);
	}
	if ((d = calloc(1, sizeof *d)) == NULL)
		return (NULL);
	while (got < sizeof d->key) {
		n = getrandom(d->key + got, sizeof d->key - got, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(d);
			return (NULL);
		}
		got += (size_t)n;
	}
	if (dedup_resize(d, window) == -1) {
		dedup_free(d);
		return (NULL);
	}
	return (d);
}

/* Free D; NULL is fine. */
void
dedup_free(struct dedup *d)
{
	if (d == NULL)
		return;
	free(d->ring);
	free(d->index);
	free(d);
}

/*
 * Has ID been seen among the last ids admitted?  If not, admit it, forgetting
 * the oldest when the window is full.
 */
bool
dedup_seen_or_insert(struct dedup *d, const char *id)
{
	struct dedup_hash	h = dedup_hash(d, id);
	bool			found;
	size_t			slot;

	(void)dedup_find(d, h, &found);
	if (found)
		return (true);
	if (d->count == d->window) {
		/* Full: the oldest is the one about to be overwritten. */
		slot = dedup_find(d, d->ring[d->next], &found);
		dedup_index_delete(d, slot);
		d->count--;
	}
	dedup_append(d, h);
	return (false);
}

/*
 * Hold WINDOW ids from now on, keeping the newest that fit, so that a
 * smaller window does not reopen the door to the retries of recent ids.
 * On failure D is unchanged.
 */
int
dedup_resize(struct dedup *d, size_t window)
{
	struct dedup	 old = *d;
	size_t		 keep, i;

	if (window == 0 || window > DEDUP_WINDOW_LIMIT) {
		errno = EINVAL;
		return (-1);
	}
	if (window == d->window)
		return (0);
	d->ring = calloc(window, sizeof *d->ring);
	d->index = calloc(dedup_index_slots(window), sizeof *d->index);
	if (d->ring == NULL || d->index == NULL) {
		free(d->ring);
		free(d->index);
		*d = old;
		return (-1);
	}
	d->mask = dedup_index_slots(window) - 1;
	d->window = window;
	d->next = 0;
	d->count = 0;
	keep = old.count < window ? old.count : window;
	/* Oldest first, skipping those that no longer fit. */
	for (i = old.count - keep; i < old.count; i++)
		dedup_append(d, old.ring[(old.next + old.window - old.count +
		    i) % old.window]);
	free(old.ring);
	free(old.index);
	return (0);
}

/* How many ids the window holds at most; 0 for NULL. */
size_t
dedup_window(const struct dedup *d)
{
	return (d != NULL ? d->window : 0);
}

/* How many ids it holds now; 0 for NULL. */
size_t
dedup_count(const struct dedup *d)
{
	return (d != NULL ? d->count : 0);
}

/* The bytes it takes (dedup_bytes_for its window); 0 for NULL. */
size_t
dedup_bytes(const struct dedup *d)
{
	return (d != NULL ? dedup_bytes_for(d->window) : 0);
}
