
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


/* what a parse of a source's answer collects */

typedef struct {
    ngx_pool_t                     *pool;
    ngx_array_t                     items;      /* of ngx_str_t[4] */
    ngx_str_t                      *cur;
    ngx_uint_t                      depth;
    ngx_uint_t                      in_list;
    ngx_uint_t                      key[8];
    ngx_uint_t                      skipped;
    unsigned                        has_list:1;
} ngx_http_foundry_parse_t;


enum {
    NGX_HTTP_FOUNDRY_SK_OTHER = 0,
    NGX_HTTP_FOUNDRY_SK_LIST,
    NGX_HTTP_FOUNDRY_SK_ID,
    NGX_HTTP_FOUNDRY_SK_NAME,
    NGX_HTTP_FOUNDRY_SK_MODEL,
    NGX_HTTP_FOUNDRY_SK_VERSION,
    NGX_HTTP_FOUNDRY_SK_FORMAT,
    NGX_HTTP_FOUNDRY_SK_PROPERTIES
};


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
static ngx_int_t ngx_http_foundry_source_render(ngx_pool_t *pool,
    ngx_str_t *item, ngx_str_t *azure, ngx_str_t *openai);
static ngx_uint_t ngx_http_foundry_source_allowed(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *name);
static ngx_uint_t ngx_http_foundry_source_visible(
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *name,
    ngx_http_request_t *r);

static int ngx_http_foundry_src_null(void *ctx);
static int ngx_http_foundry_src_boolean(void *ctx, int b);
static int ngx_http_foundry_src_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_src_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_src_start_map(void *ctx);
static int ngx_http_foundry_src_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_src_end_map(void *ctx);
static int ngx_http_foundry_src_start_array(void *ctx);
static int ngx_http_foundry_src_end_array(void *ctx);


static yajl_callbacks  ngx_http_foundry_src_callbacks = {
    ngx_http_foundry_src_null,
    ngx_http_foundry_src_boolean,
    NULL,
    NULL,
    ngx_http_foundry_src_number,
    ngx_http_foundry_src_string,
    ngx_http_foundry_src_start_map,
    ngx_http_foundry_src_key,
    ngx_http_foundry_src_end_map,
    ngx_http_foundry_src_start_array,
    ngx_http_foundry_src_end_array
};


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
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            src->ttl = ngx_parse_time(&s, 0);

            if (src->ttl == (ngx_msec_t) NGX_ERROR || src->ttl == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\" in \"%V\" directive",
                                   &value[i], &value[0]);
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

    if (flcf->sources == NULL || ctx->sources_fetched) {
        return NGX_OK;
    }

    rc = ngx_http_foundry_sources_tokens(r, flcf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->sources_fetched = 1;

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
            && (ctx->source_bearers == NULL
                || ctx->source_bearers[i].len == 0))
        {
            if (n) {
                n->refreshing = 0;
            }

            fetch = 0;
        }

        ngx_shmtx_unlock(&sz->shpool->mutex);

        if (fetch) {
            if (ngx_http_foundry_source_fetch(r, ctx, &src[i],
                                              ctx->source_bearers
                                              ? &ctx->source_bearers[i]
                                              : NULL)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return ctx->sources_pending ? NGX_AGAIN : NGX_OK;
}


/*
 * The tokens of the sources whose upstream has a credential (src/identity/)
 * and whose list is due, one credential after the other: NGX_OK when each
 * has its "Bearer <token>" in ctx->source_bearers, or an empty one (no
 * token: that source is not fetched, its list in hand is kept); NGX_AGAIN
 * while a token is fetched or waited for.
 */

static ngx_int_t
ngx_http_foundry_sources_tokens(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx)
{
    uint64_t                          now;
    ngx_int_t                         rc;
    ngx_uint_t                        i, due;
    const char                       *why;
    ngx_http_foundry_credential_t    *cred;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_source_node_t   *n;
    ngx_http_foundry_sources_zone_t  *sz;

    src = flcf->sources->elts;

    for (i = ctx->source_next; i < flcf->sources->nelts; i++) {

        if (src[i].upstream == NULL || src[i].upstream->credential == NULL) {
            continue;
        }

        cred = src[i].upstream->credential;

        if (ctx->source_bearers == NULL) {
            ctx->source_bearers = ngx_pcalloc(r->pool, sizeof(ngx_str_t)
                                              * flcf->sources->nelts);
            if (ctx->source_bearers == NULL) {
                return NGX_ERROR;
            }
        }

        ctx->source_next = i;

        /* a list in hand and fresh: no token needed */

        if (!ctx->identity_pending && !ctx->identity_waiting
            && !ctx->identity_fetched)
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
            ctx->source_bearers[i] = ctx->identity_bearer;

        } else {
            ngx_str_set(&ctx->source_bearers[i], "");

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "foundry: discovery source \"%V\": credential "
                          "\"%V\" has no valid token: %s, the last good "
                          "list is kept", &src[i].uri, &cred->name, why);
        }

        ngx_http_foundry_identity_reset(ctx);
    }

    ctx->source_next = flcf->sources->nelts;

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

    ctx->sources_pending++;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: discovery fetch \"%V\"", &src->uri);

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_source_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_foundry_fetch_t *f = data;

    ngx_str_t                         body;
    ngx_uint_t                        failed;
    const char                       *err;
    ngx_http_foundry_list_t          *list, *copy;
    ngx_http_foundry_discovery_source_t *src;
    ngx_http_foundry_source_node_t   *n;
    ngx_http_foundry_sources_zone_t  *sz;
    ngx_http_foundry_main_conf_t     *fmcf;

    if (f->done) {
        return rc;
    }

    f->done = 1;
    f->ctx->sources_pending--;

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
        body.data = f->collect->buf->pos;
        body.len = f->collect->buf->last - f->collect->buf->pos;

        list = ngx_http_foundry_source_parse(r, src, body.data, body.len,
                                             &err);
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_foundry_module);

    ngx_shmtx_lock(&sz->shpool->mutex);

    n = ngx_http_foundry_source_node(sz, &src->key, 1);

    failed = 0;

    if (n && list) {
        copy = ngx_slab_alloc_locked(sz->shpool, list->size);

        if (copy == NULL) {
            err = "the discovery zone is full";
            list = NULL;

        } else {
            ngx_memcpy(copy, list, list->size);

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

        if (list == NULL) {
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

    if (list) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "foundry: discovery \"%V\": %uD deployments",
                       &src->uri, list->n);

        ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_DISCOVERY,
                                       "source", &src->uri, "ok");

        /* this request answers from the list it fetched */

        f->ctx->fresh = list;
        f->ctx->fresh_src = src;

        return rc;
    }

    ngx_http_foundry_metrics_event(fmcf, NGX_HTTP_FOUNDRY_M_DISCOVERY,
                                   "source", &src->uri, "failed");

    if (failed || n == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: discovery source \"%V\" failed: %s, the "
                      "last good list is kept", &src->uri, err);
    }

    return rc;
}


/*
 * A source's answer as a list: {"data": [...]} or {"value": [...]}, each
 * item with "id" or "name", and "model" as a string or as
 * "properties.model.{name,version,format}".  Items without a valid name
 * are skipped.
 */

ngx_http_foundry_list_t *
ngx_http_foundry_source_parse(ngx_http_request_t *r,
    ngx_http_foundry_discovery_source_t *src, u_char *p, size_t len,
    const char **err)
{
    u_char                    *q;
    size_t                     size;
    ngx_str_t                 *item, azure, openai;
    ngx_uint_t                 i, j;
    yajl_handle                h;
    yajl_alloc_funcs           funcs;
    ngx_http_foundry_list_t   *list;
    ngx_http_foundry_parse_t   ps;
    ngx_str_t                 *fields[6];

    ngx_memzero(&ps, sizeof(ngx_http_foundry_parse_t));

    ps.pool = r->pool;

    if (ngx_array_init(&ps.items, r->pool, 16, 4 * sizeof(ngx_str_t))
        != NGX_OK)
    {
        *err = "out of memory";
        return NULL;
    }

    ngx_http_foundry_json_alloc_funcs(r->pool, &funcs);

    h = yajl_alloc(&ngx_http_foundry_src_callbacks, &funcs, &ps);
    if (h == NULL) {
        *err = "out of memory";
        return NULL;
    }

    if (yajl_parse(h, p, len) != yajl_status_ok
        || yajl_complete_parse(h) != yajl_status_ok)
    {
        *err = "the source's answer is not valid JSON";
        return NULL;
    }

    if (!ps.has_list) {
        *err = "the source's answer has no \"data\" or \"value\" list";
        return NULL;
    }

    /* sizes, then one block */

    item = ps.items.elts;
    size = offsetof(ngx_http_foundry_list_t, found)
           + (ps.items.nelts ? ps.items.nelts : 1)
             * sizeof(ngx_http_foundry_found_t);

    for (i = 0; i < ps.items.nelts; i++) {
        if (item[4 * i].len == 0) {
            continue;
        }

        if (ngx_http_foundry_source_render(r->pool, &item[4 * i], &azure,
                                           &openai)
            != NGX_OK)
        {
            *err = "a deployment of the source cannot be rendered as JSON";
            return NULL;
        }

        /* keep the renderings after the four fields */

        item[4 * i + 2].len += 0;

        size += item[4 * i].len + item[4 * i + 1].len + item[4 * i + 2].len
                + item[4 * i + 3].len + azure.len + openai.len;

        ngx_str_null(&azure);
    }

    /* rendering twice is cheaper than keeping a second array */

    list = ngx_pcalloc(r->pool, size);
    if (list == NULL) {
        *err = "out of memory";
        return NULL;
    }

    list->size = size;
    q = (u_char *) &list->found[ps.items.nelts ? ps.items.nelts : 1];

    for (i = 0; i < ps.items.nelts; i++) {
        if (item[4 * i].len == 0) {
            continue;
        }

        if (ngx_http_foundry_source_render(r->pool, &item[4 * i], &azure,
                                           &openai)
            != NGX_OK)
        {
            *err = "out of memory";
            return NULL;
        }

        fields[0] = &item[4 * i];
        fields[1] = &item[4 * i + 1];
        fields[2] = &item[4 * i + 2];
        fields[3] = &item[4 * i + 3];
        fields[4] = &azure;
        fields[5] = &openai;

        for (j = 0; j < 6; j++) {
            list->found[list->n].off[j] = q - (u_char *) list;
            list->found[list->n].len[j] = fields[j]->len;
            q = ngx_cpymem(q, fields[j]->data, fields[j]->len);
        }

        list->n++;
    }

    if (ps.skipped) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: discovery source \"%V\": %ui deployments "
                      "with names this gateway cannot serve were skipped",
                      &src->uri, ps.skipped);
    }

    return list;
}


/* one deployment in both discovery formats */

static ngx_int_t
ngx_http_foundry_source_render(ngx_pool_t *pool, ngx_str_t *item,
    ngx_str_t *azure, ngx_str_t *openai)
{
    yajl_gen          g;
    yajl_alloc_funcs  funcs;

    g = ngx_http_foundry_json_gen(pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "name") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[0]) != NGX_OK
        || ngx_http_foundry_json_key(g, "properties") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "model") != NGX_OK
        || yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "format") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[3]) != NGX_OK
        || ngx_http_foundry_json_key(g, "name") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[1]) != NGX_OK
        || ngx_http_foundry_json_key(g, "version") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[2]) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_result(g, pool, azure) != NGX_OK)
    {
        return NGX_ERROR;
    }

    g = ngx_http_foundry_json_gen(pool, &funcs);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "id") != NGX_OK
        || ngx_http_foundry_json_string(g, &item[0]) != NGX_OK
        || ngx_http_foundry_json_key(g, "object") != NGX_OK
        || ngx_http_foundry_json_key(g, "model") != NGX_OK
        || ngx_http_foundry_json_key(g, "created") != NGX_OK
        || yajl_gen_integer(g, 0) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "owned_by") != NGX_OK
        || ngx_http_foundry_json_key(g, "system") != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_result(g, pool, openai) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the parser of a source's answer */

static ngx_int_t
ngx_http_foundry_src_value(ngx_http_foundry_parse_t *ps, ngx_str_t *v)
{
    ngx_uint_t   k, field;
    ngx_str_t   *item;

    /* a field of an item: depth 3 (item), 5 (properties.model) */

    if (ps->cur == NULL || ps->depth >= 8) {
        return 1;
    }

    k = ps->key[ps->depth];
    field = 4;

    if (ps->depth == 3) {
        if (k == NGX_HTTP_FOUNDRY_SK_ID || k == NGX_HTTP_FOUNDRY_SK_NAME) {
            field = 0;

        } else if (k == NGX_HTTP_FOUNDRY_SK_MODEL) {
            field = 1;
        }

    } else if (ps->depth == 5
               && ps->key[3] == NGX_HTTP_FOUNDRY_SK_PROPERTIES
               && ps->key[4] == NGX_HTTP_FOUNDRY_SK_MODEL)
    {
        if (k == NGX_HTTP_FOUNDRY_SK_NAME) {
            field = 1;

        } else if (k == NGX_HTTP_FOUNDRY_SK_VERSION) {
            field = 2;

        } else if (k == NGX_HTTP_FOUNDRY_SK_FORMAT) {
            field = 3;
        }
    }

    if (field == 4 || v == NULL) {
        return 1;
    }

    item = ps->cur;

    /* "name" wins over "id"; properties.model.name over "model" */

    if (item[field].len && field == 0
        && k == NGX_HTTP_FOUNDRY_SK_ID)
    {
        return 1;
    }

    if (v->len > NGX_HTTP_FOUNDRY_MAX_NAME_LEN) {
        return 1;
    }

    item[field].data = ngx_pnalloc(ps->pool, v->len ? v->len : 1);
    if (item[field].data == NULL) {
        return 0;
    }

    ngx_memcpy(item[field].data, v->data, v->len);
    item[field].len = v->len;

    return 1;
}


static int
ngx_http_foundry_src_null(void *ctx)
{
    return ngx_http_foundry_src_value(ctx, NULL);
}


static int
ngx_http_foundry_src_boolean(void *ctx, int b)
{
    return ngx_http_foundry_src_value(ctx, NULL);
}


static int
ngx_http_foundry_src_number(void *ctx, const char *s, size_t len)
{
    return ngx_http_foundry_src_value(ctx, NULL);
}


static int
ngx_http_foundry_src_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_str_t  v;

    v.data = (u_char *) s;
    v.len = len;

    return ngx_http_foundry_src_value(ctx, &v);
}


static int
ngx_http_foundry_src_start_map(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ngx_str_t  *item;

    /* an item: a map in the list at depth 2 */

    if (ps->depth == 2 && ps->in_list) {
        item = ngx_array_push(&ps->items);
        if (item == NULL) {
            return 0;
        }

        ngx_memzero(item, 4 * sizeof(ngx_str_t));
        ps->cur = item;
    }

    ps->depth++;

    if (ps->depth < 8) {
        ps->key[ps->depth] = NGX_HTTP_FOUNDRY_SK_OTHER;
    }

    return ps->depth < 64;
}


static int
ngx_http_foundry_src_end_map(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ngx_str_t  *item;

    ps->depth--;

    if (ps->depth == 2 && ps->cur) {
        item = ps->cur;
        ps->cur = NULL;

        /* defaults, and names the gateway cannot serve left out */

        if (item[1].len == 0) {
            item[1] = item[0];
        }

        if (item[3].len == 0) {
            ngx_str_set(&item[3], "OpenAI");
        }

        if (item[2].data == NULL) {
            ngx_str_set(&item[2], "");
        }

        if (ngx_http_foundry_valid_name(&item[0]) != NGX_OK) {
            item[0].len = 0;
            ps->skipped++;
        }
    }

    return 1;
}


static int
ngx_http_foundry_src_start_array(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    /* the list: the top object's "data" or "value" */

    if (ps->depth == 1 && ps->key[1] == NGX_HTTP_FOUNDRY_SK_LIST) {
        ps->in_list = 1;
        ps->has_list = 1;
    }

    ps->depth++;

    if (ps->depth < 8) {
        ps->key[ps->depth] = NGX_HTTP_FOUNDRY_SK_OTHER;
    }

    return ps->depth < 64;
}


static int
ngx_http_foundry_src_end_array(void *ctx)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ps->depth--;

    if (ps->depth == 1) {
        ps->in_list = 0;
    }

    return 1;
}


static int
ngx_http_foundry_src_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_parse_t  *ps = ctx;

    ngx_uint_t  k;

    if (ps->depth >= 8) {
        return 1;
    }

    k = NGX_HTTP_FOUNDRY_SK_OTHER;

    if (ps->depth == 1) {
        if ((len == 4 && ngx_strncmp(s, "data", 4) == 0)
            || (len == 5 && ngx_strncmp(s, "value", 5) == 0))
        {
            k = NGX_HTTP_FOUNDRY_SK_LIST;
        }

    } else if (len == 2 && ngx_strncmp(s, "id", 2) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_ID;

    } else if (len == 4 && ngx_strncmp(s, "name", 4) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_NAME;

    } else if (len == 5 && ngx_strncmp(s, "model", 5) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_MODEL;

    } else if (len == 7 && ngx_strncmp(s, "version", 7) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_VERSION;

    } else if (len == 6 && ngx_strncmp(s, "format", 6) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_FORMAT;

    } else if (len == 10 && ngx_strncmp(s, "properties", 10) == 0) {
        k = NGX_HTTP_FOUNDRY_SK_PROPERTIES;
    }

    ps->key[ps->depth] = k;

    return 1;
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

        if (lists[i] == NULL && ctx->fresh_src == &src[i]) {
            lists[i] = ctx->fresh;
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

        if (list == NULL && ctx->fresh_src == &src[i]) {
            list = ctx->fresh;
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
