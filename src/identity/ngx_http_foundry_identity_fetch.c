
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_parse.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_identity.h"


typedef struct {
    ngx_http_foundry_ctx_t           *ctx;
    ngx_http_foundry_id_credential_t *cred;
    ngx_http_foundry_collect_t       *collect;
    ngx_uint_t                        done;
} ngx_http_foundry_id_fetch_t;


typedef struct {
    ngx_pool_t                     *pool;
    ngx_http_foundry_id_answer_t   *answer;
    ngx_uint_t                      depth;
    ngx_uint_t                      field;
    const char                     *err;
} ngx_http_foundry_id_parse_t;


#define NGX_HTTP_FOUNDRY_ID_F_NONE        0
#define NGX_HTTP_FOUNDRY_ID_F_TOKEN       1
#define NGX_HTTP_FOUNDRY_ID_F_EXPIRES_IN  2
#define NGX_HTTP_FOUNDRY_ID_F_EXPIRES_ON  3


static ngx_int_t ngx_http_foundry_identity_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_foundry_id_request(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_foundry_id_credential_t *cred,
    ngx_str_t *body);
static const char *ngx_http_foundry_id_keep_locked(
    ngx_http_foundry_id_zone_t *iz, ngx_http_foundry_id_node_t *n,
    ngx_http_foundry_id_answer_t *a, int64_t life, uint64_t now);
static ngx_int_t ngx_http_foundry_id_header(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_str_t *name, ngx_str_t *value);
static int ngx_http_foundry_id_null(void *ctx);
static int ngx_http_foundry_id_boolean(void *ctx, int b);
static int ngx_http_foundry_id_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_id_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_id_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_id_start(void *ctx);
static int ngx_http_foundry_id_end(void *ctx);
static ngx_int_t ngx_http_foundry_id_seconds(u_char *p, size_t len,
    int64_t *out);


static yajl_callbacks  ngx_http_foundry_id_callbacks = {
    ngx_http_foundry_id_null,
    ngx_http_foundry_id_boolean,
    NULL,
    NULL,
    ngx_http_foundry_id_number,
    ngx_http_foundry_id_string,
    ngx_http_foundry_id_start,
    ngx_http_foundry_id_map_key,
    ngx_http_foundry_id_end,
    ngx_http_foundry_id_start,
    ngx_http_foundry_id_end
};


/*
 * A subrequest to the credential's token location: a GET with the query
 * arguments (managed identity), or a POST with the form body (client
 * credentials).  Its headers are only the module's own: none of the
 * client's reach the token endpoint.  NGX_DECLINED when no client
 * assertion can be made now: counted as a failed fetch.
 */

ngx_int_t
ngx_http_foundry_identity_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_id_credential_t *cred)
{
    ngx_int_t                     rc;
    ngx_str_t                     body;
    const char                   *err;
    ngx_http_request_t           *sr;
    ngx_http_post_subrequest_t   *ps;
    ngx_http_foundry_id_fetch_t  *f;

    body = cred->body;

    if (cred->pkey || cred->file) {
        err = NULL;
        rc = ngx_http_foundry_identity_assertion(r, cred, &body, &err);

        if (rc == NGX_DECLINED) {
            ngx_http_foundry_identity_store(r, cred, NULL, err);
            return NGX_DECLINED;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_id_fetch_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->ctx = ctx;
    f->cred = cred;

    f->collect = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_collect_t));
    if (f->collect == NULL) {
        return NGX_ERROR;
    }

    f->collect->max = NGX_HTTP_FOUNDRY_ID_ANSWER_MAX;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_foundry_identity_done;
    ps->data = f;

    if (ngx_http_subrequest(r, &cred->location,
                            cred->args.len ? &cred->args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(sr, f->collect, ngx_http_foundry_module);

    if (ngx_http_foundry_id_request(r, sr, cred, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    sr->filter_need_in_memory = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: credential \"%V\" fetched from \"%V\"",
                   &cred->name, &cred->location);

    return NGX_OK;
}


/* the fetch's request: the module's headers only, GET or a POSTed form */

static ngx_int_t
ngx_http_foundry_id_request(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_foundry_id_credential_t *cred, ngx_str_t *body)
{
    ngx_buf_t    *b;
    ngx_str_t     name, value;
    ngx_chain_t  *cl;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    if (cred->header_name.len
        && ngx_http_foundry_id_header(r, sr, &cred->header_name,
                                      &cred->header_value)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    if (cred->post) {
        sr->method = NGX_HTTP_POST;
        ngx_str_set(&sr->method_name, "POST");

        ngx_str_set(&name, "Content-Type");
        ngx_str_set(&value, "application/x-www-form-urlencoded");

        if (ngx_http_foundry_id_header(r, sr, &name, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->pos = body->data;
        b->last = body->data + body->len;
        b->memory = 1;
        b->last_buf = 1;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;

        sr->request_body->bufs = cl;
        sr->headers_in.content_length_n = body->len;

    } else {
        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_id_header(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_str_t *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *name;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(r->pool, name->len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, name->data, name->len);

    if (name->len == sizeof("Content-Type") - 1
        && ngx_strncasecmp(name->data, (u_char *) "Content-Type",
                           name->len) == 0)
    {
        sr->headers_in.content_type = h;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_identity_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_foundry_id_fetch_t *f = data;

    const char                    *err;
    ngx_pool_t                    *pool;
    ngx_http_foundry_id_answer_t   a;

    if (f->done) {
        return rc;
    }

    f->done = 1;
    f->ctx->identity->pending = 0;
    f->ctx->identity->fetched = 1;

    ngx_memzero(&a, sizeof(ngx_http_foundry_id_answer_t));
    err = NULL;
    pool = NULL;

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK) {
        err = "the token endpoint did not answer 200";

    } else if (f->collect->too_large) {
        err = "the answer is too large";

    } else if (f->collect->buf == NULL
               || f->collect->buf->last == f->collect->buf->pos)
    {
        err = "the answer is empty";

    } else {
        pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, r->connection->log);
        if (pool == NULL) {
            err = "no memory";

        } else {
            (void) ngx_http_foundry_identity_parse(pool,
                                                   f->collect->buf->pos,
                                                   f->collect->buf->last
                                                   - f->collect->buf->pos,
                                                   &a, &err);
        }
    }

    f->ctx->identity->state = err ? "failed" : "fetched";

    ngx_http_foundry_identity_store(r, f->cred, err ? NULL : &a, err);

    if (pool) {
        ngx_destroy_pool(pool);
    }

    return rc;
}


/*
 * The end of a fetch: a good token is kept in the zone with its refresh
 * time; a failure keeps the current token (until it expires) and the
 * next fetch waits, longer after each failure in a row.
 */

void
ngx_http_foundry_identity_store(ngx_http_request_t *r,
    ngx_http_foundry_id_credential_t *cred, ngx_http_foundry_id_answer_t *a,
    const char *err)
{
    int64_t                            life;
    uint64_t                           now, until;
    ngx_uint_t                         kept, shift;
    ngx_http_foundry_id_node_t        *n;
    ngx_http_foundry_id_zone_t        *iz;
    ngx_http_foundry_main_conf_t      *fmcf;
    ngx_http_foundry_identity_conf_t  *ic;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    ic = fmcf->identity;
    iz = ic->zone;

    now = ngx_http_foundry_now();
    life = 0;

    if (err == NULL) {
        life = a->expires_in;

        if (life <= 0 && a->expires_on > 0) {
            life = a->expires_on - (int64_t) (now / 1000);
        }

        if (life <= 0) {
            err = "the token has expired already";
        }
    }

    kept = 0;
    until = 0;

    ngx_shmtx_lock(&iz->shpool->mutex);

    /* the node exists: the request that started the fetch found it */

    n = ngx_http_foundry_id_find_locked(iz, cred);

    if (n) {
        n->fetching = 0;
        n->fetches++;

        if (err == NULL) {
            err = ngx_http_foundry_id_keep_locked(iz, n, a, life, now);

            if (err == NULL) {
                until = n->expires;
            }
        }

        if (err) {
            kept = (n->token != NULL && now < n->expires);

            shift = ngx_min(n->failures, 6);
            n->failures++;
            n->retry = now + ngx_min((uint64_t) 1000 << shift, 60000);
        }
    }

    ngx_shmtx_unlock(&iz->shpool->mutex);

    ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_CREDENTIAL,
                                   "credential", &cred->name,
                                   err ? "failed" : "ok");

    if (until) {
        ngx_http_foundry_metrics_expiry(fmcf, NGX_HTTP_FOUNDRY_M_EXPIRY,
                                        "credential", &cred->name,
                                        (time_t) (until / 1000));
    }

    if (err) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: credential \"%V\" (%s) from \"%V\" failed: "
                      "%s, %s", &cred->name, cred->source_name,
                      &cred->location, err,
                      kept ? "the current token is kept until it expires"
                           : "its upstreams get 503 until a fetch succeeds");

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: credential \"%V\" (%s): a token for %L s",
                      &cred->name, cred->source_name, life);
    }
}


/* the node of a credential, under the zone's lock, or NULL */

ngx_http_foundry_id_node_t *
ngx_http_foundry_id_find_locked(ngx_http_foundry_id_zone_t *iz,
    ngx_http_foundry_id_credential_t *cred)
{
    ngx_queue_t                 *q;
    ngx_http_foundry_id_node_t  *n;

    for (q = ngx_queue_head(&iz->sh->nodes);
         q != ngx_queue_sentinel(&iz->sh->nodes);
         q = ngx_queue_next(q))
    {
        n = ngx_queue_data(q, ngx_http_foundry_id_node_t, queue);

        if (ngx_memcmp(n->key, cred->key, NGX_HTTP_FOUNDRY_DIGEST_LEN) == 0) {
            return n;
        }
    }

    return NULL;
}


/* a new token in the node, under the zone's lock: NULL, or the error */

static const char *
ngx_http_foundry_id_keep_locked(ngx_http_foundry_id_zone_t *iz,
    ngx_http_foundry_id_node_t *n, ngx_http_foundry_id_answer_t *a,
    int64_t life, uint64_t now)
{
    u_char    *copy;
    uint64_t   ahead;

    copy = ngx_slab_alloc_locked(iz->shpool, a->token.len);

    if (copy == NULL) {
        return "the credential zone is full";
    }

    ngx_memcpy(copy, a->token.data, a->token.len);

    if (n->token) {
        ngx_slab_free_locked(iz->shpool, n->token);
    }

    n->token = copy;
    n->len = a->token.len;
    n->generation++;

    /*
     * usable until a tenth of its life (at most 30 s) before it expires;
     * refreshed at 2/3 of its life or 5 minutes before it expires,
     * whichever comes first, not before half of it
     */

    n->expires = now + (uint64_t) life * 1000
                 - ngx_min((uint64_t) life * 100, 30000);

    ahead = ngx_min((uint64_t) life * 2000 / 3,
                    (life > 300) ? (uint64_t) (life - 300) * 1000 : 0);
    ahead = ngx_max(ahead, (uint64_t) life * 500);

    n->refresh = now + ahead;
    n->retry = 0;
    n->failures = 0;

    return NULL;
}


/*
 * A token endpoint's answer: {"access_token": "...", "expires_in": n or
 * "n", "expires_on": n or "n", ...}.  Returns NGX_OK with the token (in
 * "pool") or NGX_ERROR with *err.
 */

ngx_int_t
ngx_http_foundry_identity_parse(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_http_foundry_id_answer_t *a, const char **err)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_http_foundry_id_parse_t   ps;

    ngx_memzero(&ps, sizeof(ngx_http_foundry_id_parse_t));
    ngx_memzero(a, sizeof(ngx_http_foundry_id_answer_t));

    ps.pool = pool;
    ps.answer = a;
    a->expires_in = -1;
    a->expires_on = -1;

    rc = ngx_http_foundry_json_parse(pool, &ngx_http_foundry_id_callbacks,
                                     &ps, data, len);
    if (rc == NGX_ERROR) {
        *err = "no memory";
        return NGX_ERROR;
    }

    if (ps.err) {
        *err = ps.err;
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        *err = "the answer is not JSON";
        return NGX_ERROR;
    }

    if (a->token.data == NULL) {
        *err = "the answer has no \"access_token\"";
        return NGX_ERROR;
    }

    if (a->token.len == 0 || a->token.len > NGX_HTTP_FOUNDRY_ID_TOKEN_MAX) {
        *err = "the \"access_token\" is empty or too long";
        return NGX_ERROR;
    }

    /* it goes into a header: visible ASCII only */

    for (p = a->token.data; p < a->token.data + a->token.len; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            *err = "the \"access_token\" has a character a header cannot "
                   "carry";
            return NGX_ERROR;
        }
    }

    if (a->expires_in < 0 && a->expires_on < 0) {
        *err = "the answer has no \"expires_in\" nor \"expires_on\"";
        return NGX_ERROR;
    }

    return NGX_OK;
}


static int
ngx_http_foundry_id_null(void *ctx)
{
    ngx_http_foundry_id_parse_t *ps = ctx;

    ps->field = NGX_HTTP_FOUNDRY_ID_F_NONE;

    return 1;
}


static int
ngx_http_foundry_id_boolean(void *ctx, int b)
{
    return ngx_http_foundry_id_null(ctx);
}


static int
ngx_http_foundry_id_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_id_string(ctx, (const unsigned char *) s, len);
}


static int
ngx_http_foundry_id_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_id_parse_t *ps = ctx;

    ngx_uint_t  field;

    field = ps->field;
    ps->field = NGX_HTTP_FOUNDRY_ID_F_NONE;

    if (ps->depth != 1) {
        return 1;
    }

    switch (field) {

    case NGX_HTTP_FOUNDRY_ID_F_TOKEN:
        if (len > NGX_HTTP_FOUNDRY_ID_TOKEN_MAX) {
            ps->err = "the \"access_token\" is empty or too long";
            return 0;
        }

        ps->answer->token.data = ngx_pnalloc(ps->pool, len + 1);
        if (ps->answer->token.data == NULL) {
            ps->err = "no memory";
            return 0;
        }

        ngx_memcpy(ps->answer->token.data, s, len);
        ps->answer->token.len = len;
        break;

    case NGX_HTTP_FOUNDRY_ID_F_EXPIRES_IN:
        if (ngx_http_foundry_id_seconds((u_char *) s, len,
                                        &ps->answer->expires_in)
            != NGX_OK)
        {
            ps->err = "the \"expires_in\" is not a number of seconds";
            return 0;
        }

        break;

    case NGX_HTTP_FOUNDRY_ID_F_EXPIRES_ON:
        if (ngx_http_foundry_id_seconds((u_char *) s, len,
                                        &ps->answer->expires_on)
            != NGX_OK)
        {
            ps->err = "the \"expires_on\" is not a time in seconds";
            return 0;
        }

        break;
    }

    return 1;
}


/* a whole number of seconds, at most ten digits */

static ngx_int_t
ngx_http_foundry_id_seconds(u_char *p, size_t len, int64_t *out)
{
    int64_t  v;
    size_t   i;

    if (len == 0 || len > 10) {
        return NGX_ERROR;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }

        v = v * 10 + (p[i] - '0');
    }

    *out = v;

    return NGX_OK;
}


static int
ngx_http_foundry_id_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_id_parse_t *ps = ctx;

    ps->field = NGX_HTTP_FOUNDRY_ID_F_NONE;

    if (ps->depth != 1) {
        return 1;
    }

    if (len == sizeof("access_token") - 1
        && ngx_strncmp(s, "access_token", len) == 0)
    {
        ps->field = NGX_HTTP_FOUNDRY_ID_F_TOKEN;

    } else if (len == sizeof("expires_in") - 1
               && ngx_strncmp(s, "expires_in", len) == 0)
    {
        ps->field = NGX_HTTP_FOUNDRY_ID_F_EXPIRES_IN;

    } else if (len == sizeof("expires_on") - 1
               && ngx_strncmp(s, "expires_on", len) == 0)
    {
        ps->field = NGX_HTTP_FOUNDRY_ID_F_EXPIRES_ON;
    }

    return 1;
}


static int
ngx_http_foundry_id_start(void *ctx)
{
    ngx_http_foundry_id_parse_t *ps = ctx;

    ps->field = NGX_HTTP_FOUNDRY_ID_F_NONE;

    if (++ps->depth > 32) {
        ps->err = "the answer is nested too deep";
        return 0;
    }

    return 1;
}


static int
ngx_http_foundry_id_end(void *ctx)
{
    ngx_http_foundry_id_parse_t *ps = ctx;

    ps->depth--;

    return 1;
}
