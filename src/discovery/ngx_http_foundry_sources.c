
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_identity.h"
#include "ngx_http_foundry_discovery.h"


/*
 * Deployments discovered from upstream data.  A source is an internal
 * location whose answer is a list of deployments: Azure OpenAI's
 * {"data":[{"id","model"}]}, an ARM or Azure-format gateway list
 * {"value":[{"name","properties":{"model":{...}}}]}, or OpenAI's
 * {"data":[{"id"}]}.  It is fetched with an in-memory subrequest (so TLS,
 * keepalive, resolver and timeouts are nginx's), normalised, rendered in
 * both discovery formats, and kept in a shared zone with a TTL.
 *
 * The first request that finds a source's list expired (or absent)
 * refreshes it and waits for the answer; requests meanwhile, in any
 * worker, use the list in place.  A failed refresh keeps the last good
 * list and is logged once until a refresh succeeds again.
 */


#define NGX_HTTP_FOUNDRY_SOURCE_MAX     (4 * 1024 * 1024)


/* a source's entry in the zone */

typedef struct {
    ngx_rbtree_node_t               node;
    ngx_http_foundry_list_t        *list;
    uint64_t                        expires;
    uint64_t                        refreshing;
    ngx_uint_t                      failed;
    u_short                         len;
    u_char                          key[1];
} ngx_http_foundry_source_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
} ngx_http_foundry_sources_shctx_t;


static ngx_int_t ngx_http_foundry_sources_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_foundry_source_node_t *ngx_http_foundry_source_node(
    ngx_http_foundry_sources_zone_t *sz, ngx_str_t *key, ngx_uint_t create);
static ngx_int_t ngx_http_foundry_sources_tokens(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_source_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_discovery_source_t *src,
    ngx_str_t *bearer);
static ngx_int_t ngx_http_foundry_source_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_uint_t ngx_http_foundry_source_store(
    ngx_http_foundry_discovery_source_t *src,
    ngx_http_foundry_list_t **list, const char **err);
static ngx_uint_t ngx_http_foundry_source_allowed(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *name);
static ngx_uint_t ngx_http_foundry_source_visible(
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *name,
    ngx_http_request_t *r);


/* foundry_discovery_zone name:size; */

char *
ngx_http_foundry_discovery_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                        *value;
    ngx_http_foundry_sources_zone_t  *sz;

    value = cf->args->elts;

    sz = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_sources_zone_t));
    if (sz == NULL) {
        return NGX_CONF_ERROR;
    }

    sz->shm_zone = ngx_http_foundry_zone_add(cf, &value[1],
        ngx_http_foundry_sources_init_zone, sz);
    if (sz->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * foundry_discovery_source uri zone=name [upstream=name] [ttl=time];
 */

char *
ngx_http_foundry_discovery_source(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    u_char                  *p;
    ngx_str_t               *value, s;
    ngx_uint_t               i;
    ngx_http_foundry_discovery_source_t *src;

    value = cf->args->elts;

    if (flcf->sources == NGX_CONF_UNSET_PTR) {
        flcf->sources = ngx_array_create(cf->pool, 2,
                            sizeof(ngx_http_foundry_discovery_source_t));
        if (flcf->sources == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    src = ngx_array_push(flcf->sources);
    if (src == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(src, sizeof(ngx_http_foundry_discovery_source_t));

    src->uri = value[1];
    src->ttl = 60000;

    if (src->uri.len == 0 || src->uri.data[0] != '/'
        || ngx_strlchr(src->uri.data, src->uri.data + src->uri.len, '?'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid uri \"%V\" in \"%V\" directive, it must "
                           "be the path of an internal location",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            src->zone = ngx_shared_memory_add(cf, &s, 0,
                                              &ngx_http_foundry_module);
            if (src->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "upstream=", 9) == 0) {
            src->upstream_name.data = value[i].data + 9;
            src->upstream_name.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            if (ngx_http_foundry_conf_msec(cf, &value[i], 4, &src->ttl)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &value[0]);
        return NGX_CONF_ERROR;
    }

    if (src->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"zone=\"", &value[0]);
        return NGX_CONF_ERROR;
    }

    /* the key of the source's list in the zone: uri and upstream */

    src->key.len = src->uri.len + 1 + src->upstream_name.len;
    src->key.data = ngx_pnalloc(cf->pool, src->key.len);
    if (src->key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(src->key.data, src->uri.data, src->uri.len);
    *p = ' ';

    if (src->upstream_name.len) {
        ngx_memcpy(p + 1, src->upstream_name.data, src->upstream_name.len);
    }

    return NGX_CONF_OK;
}


/* foundry_discovery_filter include=regex | exclude=regex ...; */

char *
ngx_http_foundry_discovery_filter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    u_char                     errstr[NGX_MAX_CONF_ERRSTR];
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_regex_compile_t        rc;
    ngx_http_foundry_discovery_filter_t *f;

    if (flcf->filters != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    flcf->filters = ngx_array_create(cf->pool, cf->args->nelts - 1,
                            sizeof(ngx_http_foundry_discovery_filter_t));
    if (flcf->filters == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        f = ngx_array_push(flcf->filters);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

        if (ngx_strncmp(value[i].data, "include=", 8) == 0) {
            f->include = 1;
            rc.pattern.data = value[i].data + 8;
            rc.pattern.len = value[i].len - 8;

        } else if (ngx_strncmp(value[i].data, "exclude=", 8) == 0) {
            f->include = 0;
            rc.pattern.data = value[i].data + 8;
            rc.pattern.len = value[i].len - 8;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" directive, "
                               "expected \"include=\" or \"exclude=\"",
                               &value[i], &value[0]);
            return NGX_CONF_ERROR;
        }

        rc.pool = cf->pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (ngx_regex_compile(&rc) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
            return NGX_CONF_ERROR;
        }

        f->regex = rc.regex;
        f->pattern = rc.pattern;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_foundry_sources_check(ngx_conf_t *cf, ngx_array_t *sources)
{
    ngx_uint_t                     i;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    src = sources->elts;

    for (i = 0; i < sources->nelts; i++) {

        if (src[i].zone->data == NULL
            || src[i].zone->init != ngx_http_foundry_sources_init_zone)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown foundry_discovery_zone \"%V\"",
                               &src[i].zone->shm.name);
            return NGX_ERROR;
        }

        if (src[i].upstream_name.len == 0 || src[i].upstream) {
            continue;
        }

        src[i].upstream = ngx_http_foundry_find_upstream(fmcf,
                                                   &src[i].upstream_name);
        if (src[i].upstream == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown foundry_upstream \"%V\" of discovery "
                               "source \"%V\"", &src[i].upstream_name,
                               &src[i].uri);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_sources_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_foundry_sources_zone_t  *osz = data;

    size_t                             len;
    ngx_http_foundry_sources_zone_t   *sz;
    ngx_http_foundry_sources_shctx_t  *sh;

    sz = shm_zone->data;

    if (osz) {
        sz->sh = osz->sh;
        sz->shpool = osz->shpool;
        return NGX_OK;
    }

    sz->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        sz->sh = sz->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(sz->shpool, sizeof(ngx_http_foundry_sources_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sz->sh = sh;
    sz->shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    len = sizeof(" in foundry_discovery_zone \"\"") + shm_zone->shm.name.len;

    sz->shpool->log_ctx = ngx_slab_alloc(sz->shpool, len);
    if (sz->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(sz->shpool->log_ctx, " in foundry_discovery_zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


/*
 * The node of a source in the zone (mutex held), found through a small
 * ngx_str_node_t whose string is the node's key.
 */

static ngx_http_foundry_source_node_t *
ngx_http_foundry_source_node(ngx_http_foundry_sources_zone_t *sz,
    ngx_str_t *key, ngx_uint_t create)
{
    uint32_t                           hash;
    ngx_str_node_t                    *sn;
    ngx_http_foundry_source_node_t    *n;
    ngx_http_foundry_sources_shctx_t  *sh;

    sh = sz->sh;
    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_str_rbtree_lookup(&sh->rbtree, key, hash);

    if (sn) {
        return (ngx_http_foundry_source_node_t *)
                   (sn->str.data - offsetof(ngx_http_foundry_source_node_t,
                                            key));
    }

    if (!create) {
        return NULL;
    }

    n = ngx_slab_calloc_locked(sz->shpool,
                               offsetof(ngx_http_foundry_source_node_t, key)
                               + key->len);
    if (n == NULL) {
        return NULL;
    }

    sn = ngx_slab_alloc_locked(sz->shpool, sizeof(ngx_str_node_t));
    if (sn == NULL) {
        ngx_slab_free_locked(sz->shpool, n);
        return NULL;
    }

    n->len = (u_short) key->len;
    ngx_memcpy(n->key, key->data, key->len);

    /* the tree holds small str nodes pointing at the source nodes */

    sn->node.key = hash;
    sn->str.len = key->len;
    sn->str.data = n->key;

    ngx_rbtree_insert(&sh->rbtree, &sn->node);

    return n;
}


/*
 * Makes the lists of the location's sources usable: NGX_OK when each has
 * one (possibly stale, while another request refreshes it), NGX_AGAIN
 * when this request started refreshes and waits for them, NGX_ERROR.
 */

ngx_int_t
ngx_http_foundry_sources_wait(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    uint64_t                          now;
    ngx_int_t                         rc;
    ngx_uint_t                        i, fetch;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_source_node_t   *n;
    ngx_http_foundry_sources_zone_t  *sz;

    if (flcf->sources == NULL) {
        return NGX_OK;
    }

    if (ctx->sources == NULL) {
        ctx->sources = ngx_pcalloc(r->pool,
                                   sizeof(ngx_http_foundry_sources_ctx_t));
        if (ctx->sources == NULL) {
            return NGX_ERROR;
        }
    }

    if (ctx->sources->fetched) {
        return NGX_OK;
    }

    rc = ngx_http_foundry_sources_tokens(r, flcf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->sources->fetched = 1;

    now = ngx_http_foundry_now();
    src = flcf->sources->elts;

    for (i = 0; i < flcf->sources->nelts; i++) {
        sz = src[i].zone->data;

        ngx_shmtx_lock(&sz->shpool->mutex);

        n = ngx_http_foundry_source_node(sz, &src[i].key, 1);

        fetch = 0;

        if (n == NULL) {
            /* no room for the node: fetch, and answer from what comes */
            fetch = 1;

        } else if (n->list == NULL || now >= n->expires) {

            /*
             * one refresh at a time; a refresh that takes too long is
             * taken over; with no list at all, every request fetches
             */

            if (n->list == NULL || n->refreshing == 0
                || now - n->refreshing > 60000)
            {
                n->refreshing = now;
                fetch = 1;
            }
        }

        /*
         * no token of its credential (or the list fell due since the
         * tokens were got): the list in hand is kept
         */

        if (fetch && src[i].upstream && src[i].upstream->credential
            && (ctx->sources->bearers == NULL
                || ctx->sources->bearers[i].len == 0))
        {
            if (n) {
                n->refreshing = 0;
            }

            fetch = 0;
        }

        ngx_shmtx_unlock(&sz->shpool->mutex);

        if (fetch) {
            if (ngx_http_foundry_source_fetch(r, ctx, &src[i],
                                              ctx->sources->bearers
                                              ? &ctx->sources->bearers[i]
                                              : NULL)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return ctx->sources->pending ? NGX_AGAIN : NGX_OK;
}


/*
 * The tokens of the sources whose upstream has a credential (src/identity/)
 * and whose list is due, one credential after the other: NGX_OK when each
 * has its "Bearer <token>" in ctx->sources->bearers, or an empty one (no
 * token: that source is not fetched, its list in hand is kept); NGX_AGAIN
 * while a token is fetched or waited for.
 */

static ngx_int_t
ngx_http_foundry_sources_tokens(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    uint64_t                             now;
    ngx_int_t                            rc;
    ngx_uint_t                           i, due;
    const char                          *why;
    ngx_http_foundry_id_credential_t    *cred;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_source_node_t      *n;
    ngx_http_foundry_sources_zone_t     *sz;

    src = flcf->sources->elts;

    for (i = ctx->sources->next; i < flcf->sources->nelts; i++) {

        if (src[i].upstream == NULL || src[i].upstream->credential == NULL) {
            continue;
        }

        cred = src[i].upstream->credential;

        if (ctx->sources->bearers == NULL) {
            ctx->sources->bearers = ngx_pcalloc(r->pool, sizeof(ngx_str_t)
                                              * flcf->sources->nelts);
            if (ctx->sources->bearers == NULL) {
                return NGX_ERROR;
            }
        }

        ctx->sources->next = i;

        /* a list in hand and fresh: no token needed */

        if (ctx->identity == NULL
            || (!ctx->identity->pending && !ctx->identity->waiting
                && !ctx->identity->fetched))
        {
            now = ngx_http_foundry_now();
            sz = src[i].zone->data;

            ngx_shmtx_lock(&sz->shpool->mutex);
            n = ngx_http_foundry_source_node(sz, &src[i].key, 0);
            due = (n == NULL || n->list == NULL || now >= n->expires);
            ngx_shmtx_unlock(&sz->shpool->mutex);

            if (!due) {
                continue;
            }
        }

        why = NULL;
        rc = ngx_http_foundry_identity_token(r, ctx, cred, &why);

        if (rc == NGX_AGAIN || rc == NGX_ERROR) {
            return rc;
        }

        if (rc == NGX_OK) {
            ctx->sources->bearers[i] = ctx->identity->bearer;

        } else {
            ngx_str_set(&ctx->sources->bearers[i], "");

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "foundry: discovery source \"%V\": credential "
                          "\"%V\" has no valid token: %s, the last good "
                          "list is kept", &src[i].uri, &cred->name, why);
        }

        ngx_http_foundry_identity_reset(ctx);
    }

    ctx->sources->next = flcf->sources->nelts;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_source_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_discovery_source_t *src,
    ngx_str_t *bearer)
{
    ngx_http_post_subrequest_t  *ps;
    ngx_http_foundry_fetch_t    *f;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_fetch_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->ctx = ctx;
    f->src = src;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_foundry_source_done;
    ps->data = f;

    if (ngx_http_foundry_subrequest(r, &src->uri, ps,
                                    NGX_HTTP_FOUNDRY_SOURCE_MAX, &f->collect)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* $foundry_upstream_authorization in the source's location */

    if (bearer && bearer->len) {
        f->collect->authorization = *bearer;
    }

    ctx->sources->pending++;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: discovery fetch \"%V\"", &src->uri);

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_source_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_foundry_fetch_t *f = data;

    ngx_uint_t                            log;
    const char                           *err;
    ngx_http_foundry_list_t              *list;
    ngx_http_foundry_source_node_t       *n;
    ngx_http_foundry_main_conf_t         *fmcf;
    ngx_http_foundry_sources_zone_t      *sz;
    ngx_http_foundry_discovery_source_t  *src;

    if (f->done) {
        return rc;
    }

    f->done = 1;
    f->ctx->sources->pending--;

    src = f->src;
    sz = src->zone->data;
    list = NULL;
    err = NULL;

    if (r->connection->error) {

        /* the client left: no verdict on the source, a later one tries */

        ngx_shmtx_lock(&sz->shpool->mutex);

        n = ngx_http_foundry_source_node(sz, &src->key, 0);

        if (n) {
            n->refreshing = 0;
        }

        ngx_shmtx_unlock(&sz->shpool->mutex);

        return rc;
    }

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK) {
        err = "the source did not answer 200";

    } else if (f->collect->too_large) {
        err = "the source's answer is too large";

    } else if (f->collect->buf == NULL
               || f->collect->buf->last == f->collect->buf->pos)
    {
        err = "the source's answer is empty";

    } else {
        list = ngx_http_foundry_source_parse(r, src, f->collect->buf->pos,
                                             f->collect->buf->last
                                             - f->collect->buf->pos,
                                             &err);
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    log = ngx_http_foundry_source_store(src, &list, &err);

    if (list) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "foundry: discovery \"%V\": %uD deployments",
                       &src->uri, list->n);

        ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_DISCOVERY,
                                       "source", &src->uri, "ok");

        /* this request answers from the list it fetched */

        f->ctx->sources->fresh = list;
        f->ctx->sources->fresh_src = src;

        return rc;
    }

    ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_DISCOVERY,
                                   "source", &src->uri, "failed");

    if (log) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: discovery source \"%V\" failed: %s, the "
                      "last good list is kept", &src->uri, err);
    }

    return rc;
}


/*
 * A fetch's list (NULL when it failed) copied into the zone; "*list"
 * becomes NULL when the zone is full.  1 when a failure is to be logged:
 * the source's first, or one the zone has no node for.
 */

static ngx_uint_t
ngx_http_foundry_source_store(ngx_http_foundry_discovery_source_t *src,
    ngx_http_foundry_list_t **list, const char **err)
{
    ngx_uint_t                        failed;
    ngx_http_foundry_list_t          *copy;
    ngx_http_foundry_source_node_t   *n;
    ngx_http_foundry_sources_zone_t  *sz;

    sz = src->zone->data;

    ngx_shmtx_lock(&sz->shpool->mutex);

    n = ngx_http_foundry_source_node(sz, &src->key, 1);

    failed = 0;

    if (n && *list) {
        copy = ngx_slab_alloc_locked(sz->shpool, (*list)->size);

        if (copy == NULL) {
            *err = "the discovery zone is full";
            *list = NULL;

        } else {
            ngx_memcpy(copy, *list, (*list)->size);

            if (n->list) {
                ngx_slab_free_locked(sz->shpool, n->list);
            }

            n->list = copy;
            n->expires = ngx_http_foundry_now() + src->ttl;
            n->failed = 0;
        }
    }

    if (n) {
        n->refreshing = 0;

        if (*list == NULL) {
            failed = !n->failed;
            n->failed = 1;

            /* the last good list stays; try again in a while */

            if (n->list) {
                n->expires = ngx_http_foundry_now()
                             + ngx_min(src->ttl, 10000);
            }
        }
    }

    ngx_shmtx_unlock(&sz->shpool->mutex);

    return failed || n == NULL;
}


/* a discovered deployment the caller may see: exposed, and allowed */

static ngx_uint_t
ngx_http_foundry_source_allowed(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *name)
{
    return ngx_http_foundry_source_visible(flcf, name, r)
           && ngx_http_foundry_allows(r, flcf, ctx, name);
}


/* a discovered deployment the location exposes: filters, static wins */

static ngx_uint_t
ngx_http_foundry_source_visible(ngx_http_foundry_loc_conf_t *flcf,
    ngx_str_t *name, ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i, included;
    ngx_http_foundry_discovery_filter_t *f;

    /* a static deployment of the same name wins */

    if (ngx_http_foundry_find_deployment(flcf->models, name)) {
        return 0;
    }

    if (flcf->filters) {
        f = flcf->filters->elts;
        included = 1;

        for (i = 0; i < flcf->filters->nelts; i++) {
            if (f[i].include) {
                included = 0;
                break;
            }
        }

        for (i = 0; i < flcf->filters->nelts; i++) {
            rc = ngx_regex_exec(f[i].regex, name, NULL, 0);

            if (rc < NGX_REGEX_NO_MATCHED) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              ngx_regex_exec_n " failed: %i on \"%V\" using "
                              "\"%V\"", rc, name, &f[i].pattern);
                return 0;
            }

            if (rc >= 0) {
                if (!f[i].include) {
                    return 0;
                }

                included = 1;
            }
        }

        if (!included) {
            return 0;
        }
    }

    return 1;
}


/*
 * The lists of the location's sources, copied out of their zones, in the
 * sources' order (a list this request fetched itself is used even if the
 * zone could not keep it).
 */

static ngx_int_t
ngx_http_foundry_sources_lists(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_http_foundry_list_t **lists)
{
    ngx_uint_t                        i;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_list_t          *list;
    ngx_http_foundry_source_node_t   *n;
    ngx_http_foundry_sources_zone_t  *sz;

    src = flcf->sources->elts;

    for (i = 0; i < flcf->sources->nelts; i++) {
        sz = src[i].zone->data;
        lists[i] = NULL;

        ngx_shmtx_lock(&sz->shpool->mutex);

        n = ngx_http_foundry_source_node(sz, &src[i].key, 0);

        if (n && n->list) {
            list = ngx_palloc(r->pool, n->list->size);

            if (list == NULL) {
                ngx_shmtx_unlock(&sz->shpool->mutex);
                return NGX_ERROR;
            }

            ngx_memcpy(list, n->list, n->list->size);
            lists[i] = list;
        }

        ngx_shmtx_unlock(&sz->shpool->mutex);

        if (lists[i] == NULL && ctx->sources
            && ctx->sources->fresh_src == &src[i])
        {
            lists[i] = ctx->sources->fresh;
        }
    }

    return NGX_OK;
}


static void
ngx_http_foundry_found_field(ngx_http_foundry_list_t *list, ngx_uint_t j,
    ngx_uint_t k, ngx_str_t *s)
{
    s->data = (u_char *) list + list->found[j].off[k];
    s->len = list->found[j].len[k];
}


/*
 * The discovered deployments this request may see, appended to the
 * discovery list being built: each as its pre-rendered JSON object of the
 * format, a name seen before (static, or an earlier source) skipped.
 */

ngx_int_t
ngx_http_foundry_sources_list(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_uint_t format, ngx_array_t *objects)
{
    uint32_t                   hash;
    ngx_str_t                  name, lc, *obj;
    ngx_uint_t                 i, j, n;
    ngx_rbtree_t               seen;
    ngx_str_node_t            *sn;
    ngx_rbtree_node_t          sentinel;
    ngx_http_foundry_list_t  **lists;

    if (flcf->sources == NULL) {
        return NGX_OK;
    }

    n = flcf->sources->nelts;

    lists = ngx_palloc(r->pool, n * sizeof(ngx_http_foundry_list_t *));
    if (lists == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_sources_lists(r, flcf, ctx, lists) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&seen, &sentinel, ngx_str_rbtree_insert_value);

    for (i = 0; i < n; i++) {
        if (lists[i] == NULL) {
            continue;
        }

        for (j = 0; j < lists[i]->n; j++) {
            ngx_http_foundry_found_field(lists[i], j,
                                         NGX_HTTP_FOUNDRY_F_NAME, &name);

            if (!ngx_http_foundry_source_allowed(r, flcf, ctx, &name)) {
                continue;
            }

            /* a name once, whatever its case, the first source's */

            lc.len = name.len;
            lc.data = ngx_pnalloc(r->pool, name.len ? name.len : 1);
            if (lc.data == NULL) {
                return NGX_ERROR;
            }

            hash = ngx_hash_strlow(lc.data, name.data, name.len);

            if (ngx_str_rbtree_lookup(&seen, &lc, hash)) {
                continue;
            }

            sn = ngx_palloc(r->pool, sizeof(ngx_str_node_t));
            if (sn == NULL) {
                return NGX_ERROR;
            }

            sn->node.key = hash;
            sn->str = lc;
            ngx_rbtree_insert(&seen, &sn->node);

            obj = ngx_array_push(objects);
            if (obj == NULL) {
                return NGX_ERROR;
            }

            ngx_http_foundry_found_field(lists[i], j,
                                         format == NGX_HTTP_FOUNDRY_FORMAT_AZURE
                                         ? NGX_HTTP_FOUNDRY_F_AZURE
                                         : NGX_HTTP_FOUNDRY_F_OPENAI, obj);
        }
    }

    return NGX_OK;
}


/*
 * A discovered deployment by name (case-insensitive), made into a
 * deployment of the request's pool that routes to its source's upstream;
 * NULL when there is none this request may see.
 */

ngx_http_foundry_deployment_t *
ngx_http_foundry_sources_find(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *name)
{
    u_char                            *base;
    ngx_str_t                          f[6];
    ngx_uint_t                         i, j, k;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_list_t           *list;
    ngx_http_foundry_deployment_t     *d;
    ngx_http_foundry_source_node_t    *n;
    ngx_http_foundry_sources_zone_t   *sz;

    if (flcf->sources == NULL) {
        return NULL;
    }

    src = flcf->sources->elts;

    for (i = 0; i < flcf->sources->nelts; i++) {
        sz = src[i].zone->data;

        ngx_shmtx_lock(&sz->shpool->mutex);

        n = ngx_http_foundry_source_node(sz, &src[i].key, 0);
        list = (n && n->list) ? n->list : NULL;

        if (list == NULL && ctx->sources
            && ctx->sources->fresh_src == &src[i])
        {
            list = ctx->sources->fresh;
        }

        for (j = 0; list && j < list->n; j++) {
            base = (u_char *) list;

            if (list->found[j].len[0] != name->len
                || ngx_strncasecmp(base + list->found[j].off[0], name->data,
                                   name->len)
                   != 0)
            {
                continue;
            }

            d = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_deployment_t));
            if (d == NULL) {
                ngx_shmtx_unlock(&sz->shpool->mutex);
                return NULL;
            }

            for (k = 0; k < 6; k++) {
                f[k].len = list->found[j].len[k];
                f[k].data = ngx_pnalloc(r->pool, f[k].len + 1);

                if (f[k].data == NULL) {
                    ngx_shmtx_unlock(&sz->shpool->mutex);
                    return NULL;
                }

                ngx_memcpy(f[k].data, base + list->found[j].off[k],
                           f[k].len);
            }

            ngx_shmtx_unlock(&sz->shpool->mutex);

            d->name = f[NGX_HTTP_FOUNDRY_F_NAME];
            d->model = f[NGX_HTTP_FOUNDRY_F_MODEL];
            d->version = f[NGX_HTTP_FOUNDRY_F_VERSION];
            d->format = f[NGX_HTTP_FOUNDRY_F_FORMAT];
            d->azure_json = f[NGX_HTTP_FOUNDRY_F_AZURE];
            d->openai_json = f[NGX_HTTP_FOUNDRY_F_OPENAI];
            d->upstream = src[i].upstream;

            /* the upstream knows it by the name it listed it under */

            d->upstream_model = d->name;

            if (!ngx_http_foundry_source_visible(flcf, &d->name, r)) {
                return NULL;
            }

            return d;
        }

        ngx_shmtx_unlock(&sz->shpool->mutex);
    }

    return NULL;
}
