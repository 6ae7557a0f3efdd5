/*
 * stubs-hsp.c -- a stand-in HSP connector for the tests that drive the
 * router (src/router.c) without a broker: an instance that owns nothing, a
 * publisher that is always connected.  See stubs-hsp.h.
 */
#include "hotreloadd.h"
#include "hsp.h"
#include "stubs-hsp.h"

/* The stand-in connector is always connected. */
static bool
stubs_hsp_ready(__attribute__((unused)) void *arg)
{
	return (true);
}

/*
 * Let the router publish through PUBLISH (the test's own: one records what
 * is published, the other checks it), as main_swapped() does with the
 * current connector.  Call it after each router_init().
 */
void
stubs_hsp_use_publisher(int (*publish)(void *, const char *, char *, size_t,
    const struct hsp_publish_options *))
{
	struct router_publisher	publisher = {
		.publish = publish,
		.ready = stubs_hsp_ready,
	};

	router_set_publisher(&publisher);
}

/* The stand-in connector owns nothing. */
static void
stubs_hsp_connector_destroy(__attribute__((unused))
    struct service_instance *inst)
{
}

static const struct service_ops stubs_hsp_connector_ops = {
	.name = "stub", .destroy = stubs_hsp_connector_destroy,
};

/* A connector instance to put in the registry's HSP slot; NULL if out of
 * memory. */
struct service_instance *
stubs_hsp_connector_create(void)
{
	return (service_instance_create(&stubs_hsp_connector_ops, NULL));
}
