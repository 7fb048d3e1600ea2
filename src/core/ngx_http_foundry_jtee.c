
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/*
 * Two readers of one JSON parse (yajl's or ngx_http_foundry_jscan_parse()'s):
 * each callback goes to the first reader, then to the second.  The first
 * one's 0 stops the parse; the second one's only stops the calls to it (it
 * keeps its own reason), the parse goes on for the first.  For the
 * scanner, a container is descended into when either reader asks for it.
 * The second gets the callbacks of containers it would have skipped, as
 * yajl would give them; the first, in a container only the second asked
 * for, gets its start and end only, as when the scanner skips it (the
 * tee is "asleep" for it until that end).
 */


#define ngx_http_foundry_jtee_call(tee, name, ...)                            \
    (((tee)->asleep                                                           \
      || (tee)->first.cb->name((tee)->first.ctx, ##__VA_ARGS__))              \
     && ngx_http_foundry_jtee_second(tee, !(tee)->stopped                     \
            && (tee)->second.cb->name((tee)->second.ctx, ##__VA_ARGS__)))


static int ngx_http_foundry_jtee_second(ngx_http_foundry_jtee_t *tee, int ok);
static void ngx_http_foundry_jtee_end(ngx_http_foundry_jtee_t *tee);
static int ngx_http_foundry_jtee_null(void *ctx);
static int ngx_http_foundry_jtee_boolean(void *ctx, int value);
static int ngx_http_foundry_jtee_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_jtee_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_jtee_start_map(void *ctx);
static int ngx_http_foundry_jtee_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_jtee_end_map(void *ctx);
static int ngx_http_foundry_jtee_start_array(void *ctx);
static int ngx_http_foundry_jtee_end_array(void *ctx);


yajl_callbacks  ngx_http_foundry_jtee_callbacks = {
    ngx_http_foundry_jtee_null,
    ngx_http_foundry_jtee_boolean,
    NULL,
    NULL,
    ngx_http_foundry_jtee_number,
    ngx_http_foundry_jtee_string,
    ngx_http_foundry_jtee_start_map,
    ngx_http_foundry_jtee_map_key,
    ngx_http_foundry_jtee_end_map,
    ngx_http_foundry_jtee_start_array,
    ngx_http_foundry_jtee_end_array
};


/* the second reader's answer: a 0 stops the calls to it, not the parse */

static int
ngx_http_foundry_jtee_second(ngx_http_foundry_jtee_t *tee, int ok)
{
    if (!ok) {
        tee->stopped = 1;
    }

    return 1;
}


/*
 * For ngx_http_foundry_jscan_parse(), right after a container's start:
 * either reader's wish; the second's alone puts the first asleep
 */

ngx_uint_t
ngx_http_foundry_jtee_descend(void *ctx)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    if (!tee->asleep && tee->first.descend(tee->first.ctx)) {
        return 1;
    }

    if (tee->stopped || !tee->second.descend(tee->second.ctx)) {
        return 0;
    }

    if (!tee->asleep) {
        tee->asleep = 1;
        tee->depth = 0;
    }

    return 1;
}


/*
 * A container ends: the one the first reader is asleep in gives it its
 * end and wakes it up
 */

static void
ngx_http_foundry_jtee_end(ngx_http_foundry_jtee_t *tee)
{
    if (tee->asleep) {
        if (tee->depth == 0) {
            tee->asleep = 0;

        } else {
            tee->depth--;
        }
    }
}


static int
ngx_http_foundry_jtee_null(void *ctx)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    return ngx_http_foundry_jtee_call(tee, yajl_null);
}


static int
ngx_http_foundry_jtee_boolean(void *ctx, int value)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    return ngx_http_foundry_jtee_call(tee, yajl_boolean, value);
}


static int
ngx_http_foundry_jtee_number(void *ctx, const char *s, size_t len)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    return ngx_http_foundry_jtee_call(tee, yajl_number, s, len);
}


static int
ngx_http_foundry_jtee_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    return ngx_http_foundry_jtee_call(tee, yajl_string, s, len);
}


static int
ngx_http_foundry_jtee_start_map(void *ctx)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    tee->depth += tee->asleep;

    return ngx_http_foundry_jtee_call(tee, yajl_start_map);
}


static int
ngx_http_foundry_jtee_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    return ngx_http_foundry_jtee_call(tee, yajl_map_key, s, len);
}


static int
ngx_http_foundry_jtee_end_map(void *ctx)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    ngx_http_foundry_jtee_end(tee);

    return ngx_http_foundry_jtee_call(tee, yajl_end_map);
}


static int
ngx_http_foundry_jtee_start_array(void *ctx)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    tee->depth += tee->asleep;

    return ngx_http_foundry_jtee_call(tee, yajl_start_array);
}


static int
ngx_http_foundry_jtee_end_array(void *ctx)
{
    ngx_http_foundry_jtee_t  *tee = ctx;

    ngx_http_foundry_jtee_end(tee);

    return ngx_http_foundry_jtee_call(tee, yajl_end_array);
}
