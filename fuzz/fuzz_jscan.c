
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target, differential: a request body read by yajl as a
 * stream, cut into buffers where the input's prefix says (see
 * ngx_fuzz_split()), by ngx_http_foundry_body_stream(), and scanned in one
 * piece by ngx_http_foundry_body_scan() (core/ngx_http_foundry_jscan.c),
 * as the module does a body in memory.  Any difference in the verdict (the
 * same error, or none) or in what was found (the top-level "model", its
 * decoded value and where it is, "stream", the token cap,
 * "stream_options" and its "include_usage") aborts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_differ(const char *what, ngx_fuzz_split_t *split,
    ngx_http_foundry_body_t *a, ngx_http_foundry_body_t *b);


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
    u_char                   *text;
    ngx_int_t                 rc, rc1;
    ngx_pool_t               *pool;
    ngx_chain_t              *in;
    ngx_fuzz_split_t          split;
    ngx_http_request_t       *r;
    ngx_http_foundry_body_t   a, b;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_fuzz_split(data, size, &split);

    r = ngx_fuzz_request(pool);
    if (r == NULL) {
        abort();
    }

    r->request_body = ngx_pcalloc(pool, sizeof(ngx_http_request_body_t));
    if (r->request_body == NULL) {
        abort();
    }

    /* yajl, as cut by the input */

    in = ngx_fuzz_chain(pool, &split, split.data, split.len, 0);
    if (in == NULL) {
        abort();
    }

    r->request_body->bufs = in;

    ngx_memzero(&a, sizeof(ngx_http_foundry_body_t));
    rc = ngx_http_foundry_body_stream(r, &a);

    /* the scanner, on a copy of its own (ASan sees any read past it) */

    text = ngx_pnalloc(pool, split.len ? split.len : 1);
    if (text == NULL) {
        abort();
    }

    ngx_memcpy(text, split.data, split.len);

    ngx_memzero(&b, sizeof(ngx_http_foundry_body_t));
    rc1 = ngx_http_foundry_body_scan(r, &b, text, split.len);

    if (split.len == 0) {
        /* yajl is not asked about nothing: the module says "empty" */

        if (rc1 != NGX_ERROR || b.error != NGX_HTTP_FOUNDRY_BODY_EMPTY) {
            ngx_fuzz_differ("empty", &split, &a, &b);
        }

        ngx_destroy_pool(pool);
        return 0;
    }

    if (rc != rc1 || a.error != b.error) {
        ngx_fuzz_differ("verdict", &split, &a, &b);
    }

    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        return 0;
    }

    if (a.size != b.size
        || a.obj_start != b.obj_start
        || a.keys != b.keys
        || a.has_model != b.has_model
        || a.stream != b.stream
        || a.max_tokens != b.max_tokens
        || a.has_so != b.has_so
        || a.so_start != b.so_start
        || a.so_keys != b.so_keys
        || a.include_usage != b.include_usage
        || a.depth != b.depth)
    {
        ngx_fuzz_differ("members", &split, &a, &b);
    }

    if (a.has_model
        && (a.key_end != b.key_end || a.value_end != b.value_end
            || a.model.len != b.model.len
            || ngx_memcmp(a.model.data, b.model.data, a.model.len) != 0))
    {
        ngx_fuzz_differ("model", &split, &a, &b);
    }

    if ((a.include_usage == NGX_HTTP_FOUNDRY_IU_TRUE
         || a.include_usage == NGX_HTTP_FOUNDRY_IU_FALSE)
        && a.iu_end != b.iu_end)
    {
        ngx_fuzz_differ("include_usage", &split, &a, &b);
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_differ(const char *what, ngx_fuzz_split_t *split,
    ngx_http_foundry_body_t *a, ngx_http_foundry_body_t *b)
{
    fprintf(stderr, "fuzz_jscan: yajl and the scanner differ (%s):\n"
            "  error %d / %d, model %d \"%.*s\" / %d \"%.*s\","
            " offsets %d %d %d / %d %d %d,\n"
            "  stream %d / %d, max_tokens %lld / %lld,"
            " so %d %d %d %d %d / %d %d %d %d %d\n"
            "  body (%d bytes): %.*s\n",
            what, (int) a->error, (int) b->error,
            (int) a->has_model, (int) ngx_min(a->model.len, 64),
            a->model.data ? (char *) a->model.data : "",
            (int) b->has_model, (int) ngx_min(b->model.len, 64),
            b->model.data ? (char *) b->model.data : "",
            (int) a->obj_start, (int) a->key_end, (int) a->value_end,
            (int) b->obj_start, (int) b->key_end, (int) b->value_end,
            (int) a->stream, (int) b->stream,
            (long long) a->max_tokens, (long long) b->max_tokens,
            (int) a->has_so, (int) a->so_start, (int) a->so_keys,
            (int) a->include_usage, (int) a->iu_end,
            (int) b->has_so, (int) b->so_start, (int) b->so_keys,
            (int) b->include_usage, (int) b->iu_end,
            (int) split->len, (int) ngx_min(split->len, 4096),
            (char *) split->data);
    abort();
}
