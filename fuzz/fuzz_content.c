
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the text of a request body for the content check,
 * extracted by ngx_http_foundry_content_text() from buffers cut where the
 * input's prefix says (see ngx_fuzz_split()), then again from one buffer,
 * which must find the same texts; the user's and the tool results' texts
 * are never longer than the whole; the cuts at 10,000 characters cover the
 * text.  The same input is also read as a checker's answer of each kind.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_same(ngx_http_foundry_ct_buf_t *a,
    ngx_http_foundry_ct_buf_t *b);
static void ngx_fuzz_cuts(ngx_http_foundry_ct_buf_t *b);


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
    ngx_int_t                     rc, rc1;
    ngx_uint_t                    i, kind;
    ngx_pool_t                   *pool;
    ngx_chain_t                  *in;
    ngx_fuzz_split_t              split;
    ngx_http_foundry_ct_text_t    t, t1;
    ngx_http_foundry_ct_result_t  res;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_fuzz_split(data, size, &split);

    in = ngx_fuzz_chain(pool, &split, split.data, split.len, 0);
    if (in == NULL) {
        abort();
    }

    rc = ngx_http_foundry_content_text(pool, in, 20000, &t);

    in = ngx_fuzz_chain(pool, NULL, split.data, split.len,
                        split.len ? split.len : 1);
    if (in == NULL) {
        abort();
    }

    rc1 = ngx_http_foundry_content_text(pool, in, 20000, &t1);

    if (rc != rc1 || t.error != t1.error) {
        abort();
    }

    if (rc == NGX_OK) {
        ngx_fuzz_same(&t.all, &t1.all);
        ngx_fuzz_same(&t.user, &t1.user);
        ngx_fuzz_same(&t.docs, &t1.docs);

        if (t.user.len > t.all.len || t.docs.len > t.all.len
            || t.chars > 20000)
        {
            abort();
        }

        ngx_fuzz_cuts(&t.all);
        ngx_fuzz_cuts(&t.user);
        ngx_fuzz_cuts(&t.docs);
    }

    /* as an answer of each kind */

    for (kind = NGX_HTTP_FOUNDRY_CT_ANALYZE; kind <= NGX_HTTP_FOUNDRY_CT_ASK;
         kind++)
    {
        ngx_memzero(&res, sizeof(ngx_http_foundry_ct_result_t));
        ngx_memset(res.severity, 0xff, sizeof(res.severity));

        (void) ngx_http_foundry_content_answer(pool, kind, split.data,
                                               split.len, &res);

        for (i = 0; i < NGX_HTTP_FOUNDRY_CT_CATEGORIES; i++) {
            if (res.severity[i] < -1 || res.severity[i] > 7) {
                abort();
            }
        }

        if (res.blocklist_len > NGX_HTTP_FOUNDRY_CT_NAME_MAX
            || res.reason_len > NGX_HTTP_FOUNDRY_CT_REASON_MAX)
        {
            abort();
        }
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_same(ngx_http_foundry_ct_buf_t *a, ngx_http_foundry_ct_buf_t *b)
{
    if (a->len != b->len
        || (a->len && ngx_memcmp(a->data, b->data, a->len) != 0))
    {
        abort();
    }
}


/* the calls' parts: each at most 10,000 characters, together the text */

static void
ngx_fuzz_cuts(ngx_http_foundry_ct_buf_t *b)
{
    u_char  *p;
    size_t   left, n, total;

    p = b->data;
    left = b->len;
    total = 0;

    while (left) {
        n = ngx_http_foundry_content_cut(p, left, 10000);

        if (n == 0 || n > left) {
            abort();
        }

        /* a part never ends inside a character */

        if (n < left && (p[n] & 0xc0) == 0x80) {
            abort();
        }

        total += n;
        p += n;
        left -= n;
    }

    if (total != b->len) {
        abort();
    }
}
