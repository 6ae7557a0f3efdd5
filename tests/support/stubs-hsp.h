/*
 * stubs-hsp.h -- the HSP connector as the router's tests see it, without a
 * broker: shared by the router's unit test (tests/unit/test_router.c) and
 * the HSP fuzz harness (tests/fuzz/fuzz_hsp.c).  Each of them brings its
 * own publish function, since one records what is published and the other
 * checks it.
 */
#ifndef HOTRELOAD_STUBS_HSP_H
#define HOTRELOAD_STUBS_HSP_H

#include <jansson.h>

struct service_instance;

struct service_instance	*stubs_hsp_connector_create(void);
void			 stubs_hsp_use_publisher(int (*)(void *, const char *,
			    char *, size_t, const struct hsp_publish_options *));

#endif /* HOTRELOAD_STUBS_HSP_H */
