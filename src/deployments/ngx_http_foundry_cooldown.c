
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"


/*
 * Cool-downs of model upstream servers.  A server that answers 429 says
 * how long to stay away (Retry-After, retry-after-ms, x-ms-retry-after-ms);
 * "foundry_cooldown" in an upstream{} block records it in a shared zone,
 * and the block's balancer skips the server until then, for every request
 * of every worker.  With "proxy_next_upstream http_429" the request that
 * got the 429 goes on to the next server (a provisioned deployment first,
 * pay-as-you-go as "backup").  When every server is cooling down, the
 * client gets a 429 whose Retry-After is the shortest remaining wait.
 *
 * The balancer of the block (round robin, or another set before) is
 * wrapped, as the keepalive module wraps it: "foundry_cooldown" comes
 * after the balancing directive and before "keepalive".
 */


typedef struct {
    ngx_rbtree_node_t               node;
    uint64_t                        until;
    u_short                         len;
    u_char                          key[1];
} ngx_http_foundry_cool_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
} ngx_http_foundry_cool_shctx_t;


typedef struct {
    ngx_http_foundry_cooldown_conf_t  *conf;
    ngx_http_request_t                *request;
    ngx_http_upstream_srv_conf_t      *us;
    void                              *data;
    ngx_event_get_peer_pt              original_get_peer;
    ngx_event_free_peer_pt             original_free_peer;
} ngx_http_foundry_cool_peer_t;


static ngx_int_t ngx_http_foundry_cool_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_foundry_cool_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_foundry_cool_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_foundry_cool_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_foundry_cool_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static uint64_t ngx_http_foundry_cool_retry(ngx_http_upstream_t *u);
static size_t ngx_http_foundry_cool_key(ngx_http_foundry_cool_peer_t *cp,
    ngx_str_t *peer, u_char *buf, size_t size);
static ngx_http_foundry_cool_node_t *ngx_http_foundry_cool_lookup(
    ngx_http_foundry_cooldown_conf_t *cc, u_char *key, size_t len);


/* foundry_cooldown_zone name:size; */

char *
ngx_http_foundry_cooldown_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    void       *data;
    ngx_str_t  *value;

    value = cf->args->elts;

    /* the zone's data: its slab pool, known once the zone is made */

    data = ngx_pcalloc(cf->pool, sizeof(ngx_slab_pool_t *));
    if (data == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_zone_add(cf, &value[1],
                                  ngx_http_foundry_cool_init_zone, data)
        == NULL)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* foundry_cooldown zone; (in upstream{}) */

char *
ngx_http_foundry_cooldown(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_foundry_cooldown_conf_t *cc = conf;

    ngx_str_t                     *value;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (cc->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cc->zone = ngx_shared_memory_add(cf, &value[1], 0,
                                     &ngx_http_foundry_module);
    if (cc->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    cc->original_init_upstream = uscf->peer.init_upstream
                                 ? uscf->peer.init_upstream
                                 : ngx_http_upstream_init_round_robin;

    uscf->peer.init_upstream = ngx_http_foundry_cool_init;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_foundry_cool_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  **shpool = shm_zone->data;

    size_t                          len;
    ngx_http_foundry_cool_shctx_t  *sh;

    *shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        return NGX_OK;
    }

    sh = ngx_slab_alloc(*shpool, sizeof(ngx_http_foundry_cool_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    (*shpool)->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    len = sizeof(" in foundry_cooldown_zone \"\"") + shm_zone->shm.name.len;

    (*shpool)->log_ctx = ngx_slab_alloc(*shpool, len);
    if ((*shpool)->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf((*shpool)->log_ctx, " in foundry_cooldown_zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_cool_init(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_foundry_cooldown_conf_t  *cc;

    cc = ngx_http_conf_upstream_srv_conf(us, ngx_http_foundry_module);

    if (cc->zone->init != ngx_http_foundry_cool_init_zone) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown foundry_cooldown_zone \"%V\"",
                           &cc->zone->shm.name);
        return NGX_ERROR;
    }

    if (cc->original_init_upstream(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    cc->original_init_peer = us->peer.init;
    us->peer.init = ngx_http_foundry_cool_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_cool_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_foundry_cool_peer_t      *cp;
    ngx_http_foundry_cooldown_conf_t  *cc;

    cc = ngx_http_conf_upstream_srv_conf(us, ngx_http_foundry_module);

    cp = ngx_palloc(r->pool, sizeof(ngx_http_foundry_cool_peer_t));
    if (cp == NULL) {
        return NGX_ERROR;
    }

    if (cc->original_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    cp->conf = cc;
    cp->request = r;
    cp->us = us;
    cp->data = r->upstream->peer.data;
    cp->original_get_peer = r->upstream->peer.get;
    cp->original_free_peer = r->upstream->peer.free;

    r->upstream->peer.data = cp;
    r->upstream->peer.get = ngx_http_foundry_cool_get;
    r->upstream->peer.free = ngx_http_foundry_cool_free;

    return NGX_OK;
}


static size_t
ngx_http_foundry_cool_key(ngx_http_foundry_cool_peer_t *cp, ngx_str_t *peer,
    u_char *buf, size_t size)
{
    if (cp->us->host.len + 1 + peer->len > size) {
        return 0;
    }

    return ngx_sprintf(buf, "%V %V", &cp->us->host, peer) - buf;
}


static ngx_http_foundry_cool_node_t *
ngx_http_foundry_cool_lookup(ngx_http_foundry_cooldown_conf_t *cc,
    u_char *key, size_t len)
{
    ngx_str_t                       k;
    ngx_str_node_t                 *sn;
    ngx_slab_pool_t                *shpool;
    ngx_http_foundry_cool_shctx_t  *sh;

    shpool = *(ngx_slab_pool_t **) cc->zone->data;
    sh = shpool->data;

    k.data = key;
    k.len = len;

    sn = ngx_str_rbtree_lookup(&sh->rbtree, &k,
                               ngx_crc32_short(key, len));
    if (sn == NULL) {
        return NULL;
    }

    return (ngx_http_foundry_cool_node_t *)
               ((u_char *) sn->str.data
                - offsetof(ngx_http_foundry_cool_node_t, key));
}


/*
 * The block's balancer chooses; a server still cooling down is given
 * back unused and another is asked for, until none is left.
 */

static ngx_int_t
ngx_http_foundry_cool_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_foundry_cool_peer_t *cp = data;

    u_char                         key[NGX_SOCKADDR_STRLEN + 256];
    size_t                         len;
    uint64_t                       now, wait;
    ngx_int_t                      rc;
    ngx_uint_t                     tries;
    ngx_slab_pool_t               *shpool;
    ngx_http_foundry_ctx_t        *ctx;
    ngx_http_foundry_cool_node_t  *n;

    shpool = *(ngx_slab_pool_t **) cp->conf->zone->data;
    now = ngx_http_foundry_now();
    wait = 0;
    rc = NGX_BUSY;

    for (tries = 0; tries < 64; tries++) {

        rc = cp->original_get_peer(pc, cp->data);

        if (rc != NGX_OK) {
            break;
        }

        len = ngx_http_foundry_cool_key(cp, pc->name, key, sizeof(key));

        ngx_shmtx_lock(&shpool->mutex);

        n = len ? ngx_http_foundry_cool_lookup(cp->conf, key, len) : NULL;

        if (n == NULL || n->until <= now) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_OK;
        }

        if (wait == 0 || n->until - now < wait) {
            wait = n->until - now;
        }

        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "foundry cooldown: %V skipped for %uL ms",
                       pc->name, wait);

        /* given back as not used: no failure is counted */

        cp->original_free_peer(pc, cp->data, 0);
        pc->connection = NULL;
    }

    if (wait) {
        /* every server is cooling down: the client waits the least */

        ctx = ngx_http_get_module_ctx(cp->request->main,
                                      ngx_http_foundry_module);
        if (ctx) {
            ctx->cooling = (wait + 999) / 1000;
        }

        return NGX_BUSY;
    }

    return rc;
}


static void
ngx_http_foundry_cool_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_foundry_cool_peer_t *cp = data;

    u_char                          key[NGX_SOCKADDR_STRLEN + 256];
    size_t                          len;
    uint64_t                        retry, until;
    ngx_str_node_t                 *sn;
    ngx_slab_pool_t                *shpool;
    ngx_http_upstream_t            *u;
    ngx_http_foundry_cool_node_t   *n;
    ngx_http_foundry_cool_shctx_t  *sh;

    u = cp->request->upstream;

    /* a 429: the server is left alone as long as it asked */

    if (u && u->headers_in.status_n == 429 && pc->name) {
        retry = ngx_http_foundry_cool_retry(u);
        len = ngx_http_foundry_cool_key(cp, pc->name, key, sizeof(key));

        if (retry && len) {
            until = ngx_http_foundry_now() + retry;
            shpool = *(ngx_slab_pool_t **) cp->conf->zone->data;
            sh = shpool->data;

            ngx_shmtx_lock(&shpool->mutex);

            n = ngx_http_foundry_cool_lookup(cp->conf, key, len);

            if (n == NULL) {
                n = ngx_slab_calloc_locked(shpool,
                          offsetof(ngx_http_foundry_cool_node_t, key) + len);
                sn = ngx_slab_alloc_locked(shpool, sizeof(ngx_str_node_t));

                if (n && sn) {
                    n->len = (u_short) len;
                    ngx_memcpy(n->key, key, len);

                    sn->node.key = ngx_crc32_short(key, len);
                    sn->str.data = n->key;
                    sn->str.len = len;

                    ngx_rbtree_insert(&sh->rbtree, &sn->node);

                } else {
                    if (n) {
                        ngx_slab_free_locked(shpool, n);
                    }

                    if (sn) {
                        ngx_slab_free_locked(shpool, sn);
                    }

                    n = NULL;
                }
            }

            if (n && until > n->until) {
                n->until = until;
            }

            ngx_shmtx_unlock(&shpool->mutex);

            ngx_log_error(NGX_LOG_INFO, pc->log, 0,
                          "foundry: upstream %V answered 429, cooling down "
                          "for %uL ms", pc->name, retry);
        }
    }

    cp->original_free_peer(pc, cp->data, state);
}


/* how long a 429 asks to wait, in ms: the longest of its headers */

static uint64_t
ngx_http_foundry_cool_retry(ngx_http_upstream_t *u)
{
    uint64_t          ms, v;
    ngx_int_t         n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ms = 0;

    part = &u->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        v = 0;

        if (h[i].key.len == sizeof("Retry-After") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                               h[i].key.len)
               == 0)
        {
            n = ngx_atoi(h[i].value.data, h[i].value.len);

            if (n != NGX_ERROR) {
                v = (uint64_t) n * 1000;
            }

        } else if ((h[i].key.len == sizeof("retry-after-ms") - 1
                    && ngx_strncasecmp(h[i].key.data,
                                       (u_char *) "retry-after-ms",
                                       h[i].key.len)
                       == 0)
                   || (h[i].key.len == sizeof("x-ms-retry-after-ms") - 1
                       && ngx_strncasecmp(h[i].key.data,
                                          (u_char *) "x-ms-retry-after-ms",
                                          h[i].key.len)
                          == 0))
        {
            n = ngx_atoi(h[i].value.data, h[i].value.len);

            if (n != NGX_ERROR) {
                v = (uint64_t) n;
            }
        }

        if (v > ms) {
            ms = v;
        }
    }

    /* a day at most: a bogus header does not take a server away for good */

    return ngx_min(ms, 86400000);
}
