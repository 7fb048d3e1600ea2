
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_jwt.h"
#include "ngx_http_foundry_token.h"


ngx_int_t
ngx_http_foundry_jwt_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_int_t                      rc;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_jwt_shctx_t  *sh;

    jz = shm_zone->data;

    rc = ngx_http_foundry_shm_init(shm_zone, data,
                                   sizeof(ngx_http_foundry_jwt_shctx_t),
                                   "foundry_jwt_zone", &jz->sh, &jz->shpool);
    if (rc != NGX_DONE) {
        return rc;
    }

    sh = jz->sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->queue);

    return NGX_OK;
}


/* a node of the zone by key (mutex held); remembered tokens may be evicted */

ngx_http_foundry_jwt_node_t *
ngx_http_foundry_jwt_node(ngx_http_foundry_jwt_zone_t *jz, u_char *key,
    size_t len, ngx_uint_t create)
{
    uint32_t                       hash;
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_shctx_t  *sh;

    sh = jz->sh;
    hash = ngx_crc32_short(key, len);

    name.len = len;
    name.data = key;

    n = (ngx_http_foundry_jwt_node_t *)
            ngx_str_rbtree_lookup(&sh->rbtree, &name, hash);

    if (n) {
        if (n->type != NGX_HTTP_FOUNDRY_JN_JWKS) {
            ngx_queue_remove(&n->queue);
            ngx_queue_insert_head(&sh->queue, &n->queue);
        }

        return n;
    }

    if (!create) {
        return NULL;
    }

    n = ngx_slab_calloc_locked(jz->shpool,
                               offsetof(ngx_http_foundry_jwt_node_t, key)
                               + len);

    /*
     * full: the least recently used tokens and introspection answers go
     * (key sets are not queued)
     */

    for (i = 0; n == NULL && i < 16 && !ngx_queue_empty(&sh->queue); i++) {
        q = ngx_queue_last(&sh->queue);
        ngx_queue_remove(q);

        n = ngx_queue_data(q, ngx_http_foundry_jwt_node_t, queue);
        ngx_rbtree_delete(&sh->rbtree, &n->sn.node);

        if (n->json) {
            ngx_slab_free_locked(jz->shpool, n->json);
        }

        ngx_slab_free_locked(jz->shpool, n);

        n = ngx_slab_calloc_locked(jz->shpool,
                                   offsetof(ngx_http_foundry_jwt_node_t, key)
                                   + len);
    }

    if (n == NULL) {
        return NULL;
    }

    n->sn.node.key = hash;
    n->sn.str.len = len;
    n->sn.str.data = n->key;
    ngx_memcpy(n->key, key, len);

    ngx_rbtree_insert(&sh->rbtree, &n->sn.node);
    ngx_queue_init(&n->queue);

    return n;
}


/*
 * A fetch for an issuer's keys (its key set, or its discovery document):
 * a subrequest to "uri" whose answer, up to "max" bytes, goes to
 * "handler"; NGX_AGAIN
 */

ngx_int_t
ngx_http_foundry_token_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss,
    ngx_str_t *uri, ngx_http_post_subrequest_pt handler, size_t max)
{
    ngx_http_post_subrequest_t     *ps;
    ngx_http_foundry_jwks_fetch_t  *f;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_jwks_fetch_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->ctx = ctx;
    f->iss = iss;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = handler;
    ps->data = f;

    if (ngx_http_foundry_subrequest(r, uri, ps, max, &f->collect) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->bearer->jwks_pending = 1;

    return NGX_AGAIN;
}


ngx_int_t
ngx_http_foundry_token_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_foundry_jwks_fetch_t *f = data;

    ngx_str_t                 body;
    ngx_uint_t                skipped;
    ngx_pool_t               *pool;
    const char               *err;
    ngx_http_foundry_jwks_t   jwks;

    if (f->done) {
        return rc;
    }

    f->done = 1;
    f->ctx->bearer->jwks_pending = 0;
    f->ctx->bearer->jwks_fetched_here = 1;

    err = NULL;
    ngx_str_null(&body);

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK) {
        err = "the key set location did not answer 200";

    } else if (f->collect->too_large) {
        err = "the key set is too large";

    } else if (f->collect->buf == NULL
               || f->collect->buf->last == f->collect->buf->pos)
    {
        err = "the key set is empty";

    } else {
        body.data = f->collect->buf->pos;
        body.len = f->collect->buf->last - f->collect->buf->pos;

        /* only a set that parses replaces the last good one */

        pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, r->connection->log);
        if (pool == NULL) {
            return rc;
        }

        ngx_memzero(&jwks, sizeof(ngx_http_foundry_jwks_t));

        if (ngx_http_foundry_jwks_parse(pool, body.data, body.len, &jwks,
                                        &skipped, &err)
            == NGX_OK
            && jwks.keys.nelts == 0)
        {
            err = "the key set has no usable key";
        }

        ngx_destroy_pool(pool);
    }

    ngx_http_foundry_token_store(r, f->iss, &f->iss->jwks_uri,
                                 err ? NULL : &body, err);

    return rc;
}


/*
 * The end of a fetch of an issuer's key set: a good set ("body") is kept
 * in the zone, a failure ("err") is logged once and the set is fetched
 * again after the cooldown, the last good set kept; "from" is the
 * location, for the log.
 */

void
ngx_http_foundry_token_store(ngx_http_request_t *r,
    ngx_http_foundry_issuer_t *iss, ngx_str_t *from, ngx_str_t *body,
    const char *err)
{
    u_char                        *copy;
    ngx_uint_t                     logged, kept;
    ngx_http_foundry_jwt_node_t   *n;
    ngx_http_foundry_jwt_zone_t   *jz;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);
    jz = fmcf->jwt;

    ngx_shmtx_lock(&jz->shpool->mutex);

    n = ngx_http_foundry_jwt_node(jz, iss->keys_id,
                                  sizeof(iss->keys_id), 1);
    logged = 1;
    kept = 0;

    if (n) {
        n->type = NGX_HTTP_FOUNDRY_JN_JWKS;
        n->fetching = 0;

        if (err == NULL) {
            copy = ngx_slab_alloc_locked(jz->shpool, body->len);

            if (copy == NULL) {
                err = "the JWT zone is full";

            } else {
                ngx_memcpy(copy, body->data, body->len);

                if (n->json) {
                    ngx_slab_free_locked(jz->shpool, n->json);
                }

                n->json = copy;
                n->json_len = body->len;
                n->generation++;
                n->fetched = ngx_http_foundry_now();
                n->failed = 0;
            }
        }

        if (err) {
            logged = n->failed;
            kept = (n->json != NULL);
            n->failed = 1;

            /* retried after the cooldown, the last good set kept */

            n->fetched = ngx_http_foundry_now()
                         + NGX_HTTP_FOUNDRY_KID_COOLDOWN
                         - iss->ttl;
        }
    }

    ngx_shmtx_unlock(&jz->shpool->mutex);

    ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_JWKS, "issuer",
                                   &iss->iss, err ? "failed" : "ok");

    if (err && !logged) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the key set of \"%V\" from \"%V\" failed: "
                      "%s, %s", &iss->iss, from, err,
                      kept ? "the last good set is kept"
                           : "no token of the issuer can be verified");
    }
}
