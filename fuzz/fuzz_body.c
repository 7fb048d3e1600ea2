
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: a request body, cut into buffers where the input's
 * prefix says (see ngx_fuzz_split()), parsed by
 * ngx_http_foundry_body_parse() as the module does; then parsed again in
 * one buffer, which must find the same.  An accepted body has its "model"
 * replaced (or inserted) by ngx_http_foundry_body_set_model(), and the
 * body made must parse, with the new "model" and everything else alike;
 * the body in one buffer sits in a header buffer with room after it (as
 * much as the input's last byte says), where the rewrite may copy it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ngx_int_t ngx_fuzz_parse(ngx_pool_t *pool, ngx_chain_t *in,
    ngx_http_request_t **rp, ngx_http_foundry_body_t *b);
static void ngx_fuzz_same(ngx_http_foundry_body_t *a,
    ngx_http_foundry_body_t *b, ngx_uint_t offsets);
static u_char *ngx_fuzz_flatten(ngx_pool_t *pool, ngx_chain_t *in,
    size_t *len);
static ngx_buf_t *ngx_fuzz_header_in(ngx_pool_t *pool, ngx_chain_t *in,
    size_t room);
static void ngx_fuzz_rewrite(ngx_pool_t *pool, ngx_http_request_t *r,
    ngx_http_foundry_body_t *b, ngx_str_t *value, ngx_str_t *model);


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
    ngx_int_t                 rc, rc1;
    ngx_str_t                 value, model;
    ngx_buf_t                *hb;
    ngx_pool_t               *pool;
    ngx_chain_t              *in;
    ngx_fuzz_split_t          split;
    ngx_http_request_t       *r, *r1;
    ngx_http_foundry_body_t   b, b1;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_fuzz_split(data, size, &split);

    /* as cut by the input */

    in = ngx_fuzz_chain(pool, &split, split.data, split.len, 0);
    if (in == NULL) {
        abort();
    }

    rc = ngx_fuzz_parse(pool, in, &r, &b);

    /* in one buffer: the same verdict, the same offsets */

    in = ngx_fuzz_chain(pool, NULL, split.data, split.len,
                        split.len ? split.len : 1);
    if (in == NULL) {
        abort();
    }

    /*
     * that buffer as read with the headers: nginx's header buffer, with
     * room after the body as the input's last byte says (the rewrite may
     * copy the body there when it fits; ASan sees a write past it)
     */

    hb = ngx_fuzz_header_in(pool, in, size ? data[size - 1] % 64 : 0);
    if (hb == NULL) {
        abort();
    }

    rc1 = ngx_fuzz_parse(pool, in, &r1, &b1);

    if (rc != rc1) {
        abort();
    }

    r1->header_in = hb;

    ngx_fuzz_same(&b, &b1, rc == NGX_OK);

    if (rc != NGX_OK) {
        if (b.error == 0 || b.error == NGX_HTTP_FOUNDRY_BODY_NOMEM
            || b.error == NGX_HTTP_FOUNDRY_BODY_READ
            || ngx_http_foundry_body_error(&b) == NULL)
        {
            abort();
        }

        ngx_destroy_pool(pool);
        return 0;
    }

    if (b.size != (off_t) split.len
        || (b.has_model
            && (b.key_end <= b.obj_start || b.value_end <= b.key_end
                || b.value_end > b.size))
        || b.obj_start < 1 || b.obj_start > b.size
        || (b.has_model && !b.keys))
    {
        abort();
    }

    /* a new "model", with escapes; then one of the module's own kind */

    ngx_str_set(&value, "\"gpt-4o \\\"mini\\\"\\u00e9\"");
    ngx_str_set(&model, "gpt-4o \"mini\"\xc3\xa9");

    ngx_fuzz_rewrite(pool, r, &b, &value, &model);

    ngx_str_set(&value, "\"\"");
    ngx_str_set(&model, "");

    ngx_fuzz_rewrite(pool, r1, &b1, &value, &model);

    ngx_destroy_pool(pool);

    return 0;
}


static ngx_int_t
ngx_fuzz_parse(ngx_pool_t *pool, ngx_chain_t *in, ngx_http_request_t **rp,
    ngx_http_foundry_body_t *b)
{
    ngx_http_request_t  *r;

    r = ngx_fuzz_request(pool);
    if (r == NULL) {
        abort();
    }

    r->request_body = ngx_pcalloc(pool, sizeof(ngx_http_request_body_t));
    if (r->request_body == NULL) {
        abort();
    }

    r->request_body->bufs = in;

    ngx_memzero(b, sizeof(ngx_http_foundry_body_t));

    *rp = r;

    return ngx_http_foundry_body_parse(r, b);
}


static void
ngx_fuzz_same(ngx_http_foundry_body_t *a, ngx_http_foundry_body_t *b,
    ngx_uint_t offsets)
{
    if (a->error != b->error) {
        abort();
    }

    if (!offsets) {
        return;
    }

    if (a->size != b->size
        || a->obj_start != b->obj_start
        || a->has_model != b->has_model
        || a->keys != b->keys
        || a->stream != b->stream
        || a->max_tokens != b->max_tokens)
    {
        abort();
    }

    if (a->has_model
        && (a->key_end != b->key_end || a->value_end != b->value_end
            || a->model.len != b->model.len
            || ngx_memcmp(a->model.data, b->model.data, a->model.len) != 0))
    {
        abort();
    }
}


static u_char *
ngx_fuzz_flatten(ngx_pool_t *pool, ngx_chain_t *in, size_t *len)
{
    u_char       *p, *text;
    size_t        n;
    ngx_chain_t  *cl;

    n = 0;

    for (cl = in; cl; cl = cl->next) {
        if (!ngx_buf_in_memory(cl->buf) || cl->buf->last < cl->buf->pos) {
            abort();
        }

        n += cl->buf->last - cl->buf->pos;

        if ((cl->next == NULL) != (cl->buf->last_buf == 1)) {
            abort();
        }
    }

    text = ngx_pnalloc(pool, n + 1);
    if (text == NULL) {
        abort();
    }

    p = text;

    for (cl = in; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';
    *len = n;

    return text;
}


/*
 * The header buffer a one-buffer body "in" was read into: its bytes moved
 * to memory of their own with "room" bytes after them
 */

static ngx_buf_t *
ngx_fuzz_header_in(ngx_pool_t *pool, ngx_chain_t *in, size_t room)
{
    size_t      len;
    ngx_buf_t  *b, *hb;

    b = in->buf;
    len = b->last - b->pos;

    hb = ngx_create_temp_buf(pool, (len + room) ? len + room : 1);
    if (hb == NULL) {
        return NULL;
    }

    hb->last = ngx_cpymem(hb->pos, b->pos, len);
    hb->end = hb->pos + len + room;

    b->start = hb->pos;
    b->pos = hb->pos;
    b->last = hb->last;
    b->end = hb->last;

    return hb;
}


/*
 * The body with the new "model" (and, for a stream, "include_usage" where
 * it can be said): its length is Content-Length, it parses, and it says
 * what the old one said but for those.
 */

static void
ngx_fuzz_rewrite(ngx_pool_t *pool, ngx_http_request_t *r,
    ngx_http_foundry_body_t *b, ngx_str_t *value, ngx_str_t *model)
{
    u_char                   *text;
    size_t                    len;
    ngx_int_t                 usage;
    ngx_chain_t              *in;
    ngx_http_request_t       *r2;
    ngx_http_foundry_body_t   b2;

    if (ngx_http_foundry_body_set_model(r, b, value) != NGX_OK) {
        abort();
    }

    /* a stream gets "include_usage" (foundry_stream_usage) when it can */

    usage = b->stream ? ngx_http_foundry_body_include_usage(r, b)
                      : NGX_DECLINED;

    if (usage == NGX_ERROR) {
        abort();
    }

    if (ngx_http_foundry_body_apply(r, b) != NGX_OK) {
        abort();
    }

    text = ngx_fuzz_flatten(pool, r->request_body->bufs, &len);

    if (r->headers_in.content_length_n != (off_t) len) {
        abort();
    }

    in = ngx_fuzz_chain(pool, NULL, text, len, 7);
    if (in == NULL) {
        abort();
    }

    if (ngx_fuzz_parse(pool, in, &r2, &b2) != NGX_OK) {
        fprintf(stderr, "fuzz_body: the new body does not parse (%d): "
                "%.*s\n", (int) b2.error, (int) ngx_min(len, 4096), text);
        abort();
    }

    if (!b2.has_model
        || b2.model.len != model->len
        || ngx_memcmp(b2.model.data, model->data, model->len) != 0
        || b2.stream != b->stream
        || b2.max_tokens != b->max_tokens
        || (usage == NGX_OK
            && b2.include_usage != NGX_HTTP_FOUNDRY_IU_TRUE)
        || (usage != NGX_OK && b->stream
            && b->include_usage == NGX_HTTP_FOUNDRY_IU_ABSENT
            && !b->has_so))
    {
        abort();
    }
}
