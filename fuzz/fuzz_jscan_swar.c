
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target, differential: the JSON scanner built for machines
 * without SSE2 (its plain runs in strings passed 8 bytes a turn in 64-bit
 * words, NGX_HTTP_FOUNDRY_JSCAN_SWAR) against the module's own build of
 * it (16 bytes a turn with SSE2 on x86-64), which fuzz_jscan checks
 * against yajl.  Both parse the input twice: walking every container, and
 * skipping every container below the top one.  Any difference in the
 * result, in the callbacks (their order, values and offsets) aborts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


/* the scanner's source again, its two public functions renamed */

#define NGX_HTTP_FOUNDRY_JSCAN_SWAR  1
#define ngx_http_foundry_jscan_parse   ngx_fuzz_swar_jscan_parse
#define ngx_http_foundry_jscan_decode  ngx_fuzz_swar_jscan_decode

#include "../src/core/ngx_http_foundry_jscan.c"

#undef ngx_http_foundry_jscan_parse
#undef ngx_http_foundry_jscan_decode

ngx_int_t ngx_http_foundry_jscan_parse(ngx_pool_t *pool, u_char *start,
    u_char *last, yajl_callbacks *cb, void *ctx,
    ngx_http_foundry_jscan_descend_pt descend, ngx_uint_t max,
    off_t *offset);


typedef struct {
    u_char      *pos;
    u_char      *end;
    off_t       *offset;
    ngx_uint_t   walk;
} ngx_fuzz_trace_t;


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_trace(ngx_fuzz_trace_t *t, u_char what,
    const u_char *s, size_t len);
static int ngx_fuzz_null(void *ctx);
static int ngx_fuzz_boolean(void *ctx, int b);
static int ngx_fuzz_number(void *ctx, const char *s, size_t len);
static int ngx_fuzz_string(void *ctx, const unsigned char *s, size_t len);
static int ngx_fuzz_start_map(void *ctx);
static int ngx_fuzz_map_key(void *ctx, const unsigned char *s, size_t len);
static int ngx_fuzz_end_map(void *ctx);
static int ngx_fuzz_start_array(void *ctx);
static int ngx_fuzz_end_array(void *ctx);
static ngx_uint_t ngx_fuzz_descend(void *ctx);


static yajl_callbacks  ngx_fuzz_callbacks = {
    ngx_fuzz_null,
    ngx_fuzz_boolean,
    NULL,
    NULL,
    ngx_fuzz_number,
    ngx_fuzz_string,
    ngx_fuzz_start_map,
    ngx_fuzz_map_key,
    ngx_fuzz_end_map,
    ngx_fuzz_start_array,
    ngx_fuzz_end_array
};


static ngx_log_t  *ngx_fuzz_log;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_log = ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char            *text, *ta, *tb;
    off_t              oa, ob;
    size_t             cap;
    ngx_int_t          ra, rb;
    ngx_uint_t         walk;
    ngx_pool_t        *pool;
    ngx_fuzz_trace_t   a, b;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    /* a copy of its own: ASan sees any read past it */

    text = ngx_pnalloc(pool, size ? size : 1);
    if (text == NULL) {
        abort();
    }

    ngx_memcpy(text, data, size);

    cap = 4 * size + 4096;

    ta = ngx_pnalloc(pool, cap);
    tb = ngx_pnalloc(pool, cap);
    if (ta == NULL || tb == NULL) {
        abort();
    }

    for (walk = 0; walk < 2; walk++) {
        a.pos = ta;
        a.end = ta + cap;
        a.offset = &oa;
        a.walk = walk;
        oa = -1;

        b = a;
        b.pos = tb;
        b.end = tb + cap;
        b.offset = &ob;
        ob = -1;

        ra = ngx_http_foundry_jscan_parse(pool, text, text + size,
                                          &ngx_fuzz_callbacks, &a,
                                          ngx_fuzz_descend,
                                          NGX_HTTP_FOUNDRY_JSCAN_DEPTH, &oa);

        rb = ngx_fuzz_swar_jscan_parse(pool, text, text + size,
                                       &ngx_fuzz_callbacks, &b,
                                       ngx_fuzz_descend,
                                       NGX_HTTP_FOUNDRY_JSCAN_DEPTH, &ob);

        if (ra != rb
            || a.pos - ta != b.pos - tb
            || ngx_memcmp(ta, tb, a.pos - ta) != 0)
        {
            fprintf(stderr, "fuzz_jscan_swar: the SSE2 and the 64-bit word"
                    " scans differ (walk %d): %d / %d, traces of %d / %d"
                    " bytes, input of %d bytes\n",
                    (int) walk, (int) ra, (int) rb, (int) (a.pos - ta),
                    (int) (b.pos - tb), (int) size);
            abort();
        }
    }

    ngx_destroy_pool(pool);

    return 0;
}


/* one callback: its kind, the offset, its value */

static void
ngx_fuzz_trace(ngx_fuzz_trace_t *t, u_char what, const u_char *s,
    size_t len)
{
    if ((size_t) (t->end - t->pos) < len + 1 + 2 * sizeof(off_t)) {
        /* the trace is full: the end of it is not compared */
        return;
    }

    *t->pos++ = what;
    t->pos = ngx_cpymem(t->pos, t->offset, sizeof(off_t));
    t->pos = ngx_cpymem(t->pos, &len, sizeof(size_t));

    if (len) {
        t->pos = ngx_cpymem(t->pos, s, len);
    }
}


static int
ngx_fuzz_null(void *ctx)
{
    ngx_fuzz_trace(ctx, 'n', NULL, 0);
    return 1;
}


static int
ngx_fuzz_boolean(void *ctx, int b)
{
    ngx_fuzz_trace(ctx, b ? 't' : 'f', NULL, 0);
    return 1;
}


static int
ngx_fuzz_number(void *ctx, const char *s, size_t len)
{
    ngx_fuzz_trace(ctx, '0', (const u_char *) s, len);
    return 1;
}


static int
ngx_fuzz_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_fuzz_trace(ctx, 's', s, len);
    return 1;
}


static int
ngx_fuzz_start_map(void *ctx)
{
    ngx_fuzz_trace(ctx, '{', NULL, 0);
    return 1;
}


static int
ngx_fuzz_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_fuzz_trace(ctx, 'k', s, len);
    return 1;
}


static int
ngx_fuzz_end_map(void *ctx)
{
    ngx_fuzz_trace(ctx, '}', NULL, 0);
    return 1;
}


static int
ngx_fuzz_start_array(void *ctx)
{
    ngx_fuzz_trace(ctx, '[', NULL, 0);
    return 1;
}


static int
ngx_fuzz_end_array(void *ctx)
{
    ngx_fuzz_trace(ctx, ']', NULL, 0);
    return 1;
}


static ngx_uint_t
ngx_fuzz_descend(void *ctx)
{
    ngx_fuzz_trace_t  *t = ctx;

    return t->walk;
}
