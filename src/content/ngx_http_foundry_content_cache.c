
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_content.h"


/*
 * foundry_content_cache_zone: verdicts by the SHA-256 of the checked text
 * (and of the check's settings), in a tree of nginx's string nodes, the
 * least recently used first out when the zone is full.
 */

typedef struct {
    ngx_str_node_t                  sn;
    ngx_queue_t                     queue;
    u_char                          key[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    uint64_t                        expires;
    ngx_http_foundry_ct_result_t    result;
} ngx_http_foundry_cc_node_t;


typedef struct {
    ngx_rbtree_t                    tree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;
} ngx_http_foundry_cc_shctx_t;


typedef struct {
    ngx_http_foundry_cc_shctx_t    *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_foundry_cc_zone_t;


static ngx_http_foundry_cc_node_t *ngx_http_foundry_cc_find(
    ngx_http_foundry_cc_zone_t *cz, u_char *key);
static void ngx_http_foundry_cc_free(ngx_http_foundry_cc_zone_t *cz,
    ngx_http_foundry_cc_node_t *n);


ngx_int_t
ngx_http_foundry_content_cache_init(ngx_shm_zone_t *shm_zone, void *data)
{
    void                        *sh;
    ngx_int_t                    rc;
    ngx_http_foundry_cc_zone_t  *cz;

    cz = shm_zone->data;

    rc = ngx_http_foundry_shm_init(shm_zone, data,
                                   sizeof(ngx_http_foundry_cc_shctx_t), NULL,
                                   &sh, &cz->shpool);
    cz->sh = sh;

    if (rc != NGX_DONE) {
        return rc;
    }

    ngx_rbtree_init(&cz->sh->tree, &cz->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&cz->sh->lru);

    return NGX_OK;
}


static ngx_http_foundry_cc_node_t *
ngx_http_foundry_cc_find(ngx_http_foundry_cc_zone_t *cz, u_char *key)
{
    uint32_t    hash;
    ngx_str_t   name;

    ngx_memcpy(&hash, key, sizeof(uint32_t));

    name.len = NGX_HTTP_FOUNDRY_DIGEST_LEN;
    name.data = key;

    return (ngx_http_foundry_cc_node_t *)
               ngx_str_rbtree_lookup(&cz->sh->tree, &name, hash);
}


static void
ngx_http_foundry_cc_free(ngx_http_foundry_cc_zone_t *cz,
    ngx_http_foundry_cc_node_t *n)
{
    ngx_queue_remove(&n->queue);
    ngx_rbtree_delete(&cz->sh->tree, &n->sn.node);
    ngx_slab_free_locked(cz->shpool, n);
}


/* NGX_OK with the verdict, NGX_DECLINED when none is kept (or expired) */

ngx_int_t
ngx_http_foundry_content_cache_get(ngx_shm_zone_t *zone, u_char *key,
    ngx_http_foundry_ct_result_t *res)
{
    ngx_int_t                    rc;
    ngx_http_foundry_cc_node_t  *n;
    ngx_http_foundry_cc_zone_t  *cz;

    cz = zone->data;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cz->shpool->mutex);

    n = ngx_http_foundry_cc_find(cz, key);

    if (n) {
        if (ngx_http_foundry_now() < n->expires) {
            *res = n->result;
            ngx_queue_remove(&n->queue);
            ngx_queue_insert_head(&cz->sh->lru, &n->queue);
            rc = NGX_OK;

        } else {
            ngx_http_foundry_cc_free(cz, n);
        }
    }

    ngx_shmtx_unlock(&cz->shpool->mutex);

    return rc;
}


void
ngx_http_foundry_content_cache_put(ngx_shm_zone_t *zone, u_char *key,
    ngx_msec_t ttl, ngx_http_foundry_ct_result_t *res)
{
    uint32_t                     hash;
    uint64_t                     now;
    ngx_uint_t                   i;
    ngx_queue_t                 *q;
    ngx_http_foundry_cc_node_t  *n;
    ngx_http_foundry_cc_zone_t  *cz;

    cz = zone->data;
    now = ngx_http_foundry_now();

    ngx_shmtx_lock(&cz->shpool->mutex);

    n = ngx_http_foundry_cc_find(cz, key);

    if (n) {
        ngx_http_foundry_cc_free(cz, n);
    }

    /* two expired ones out, from the least recently used end */

    for (i = 0; i < 2 && !ngx_queue_empty(&cz->sh->lru); i++) {
        q = ngx_queue_last(&cz->sh->lru);
        n = ngx_queue_data(q, ngx_http_foundry_cc_node_t, queue);

        if (now < n->expires) {
            break;
        }

        ngx_http_foundry_cc_free(cz, n);
    }

    for ( ;; ) {
        n = ngx_slab_alloc_locked(cz->shpool,
                                  sizeof(ngx_http_foundry_cc_node_t));
        if (n || ngx_queue_empty(&cz->sh->lru)) {
            break;
        }

        /* full: the least recently used one goes */

        q = ngx_queue_last(&cz->sh->lru);
        ngx_http_foundry_cc_free(cz,
                       ngx_queue_data(q, ngx_http_foundry_cc_node_t, queue));
    }

    if (n) {
        ngx_memcpy(n->key, key, NGX_HTTP_FOUNDRY_DIGEST_LEN);
        ngx_memcpy(&hash, key, sizeof(uint32_t));

        n->sn.node.key = hash;
        n->sn.str.len = NGX_HTTP_FOUNDRY_DIGEST_LEN;
        n->sn.str.data = n->key;
        n->expires = now + ttl;
        n->result = *res;

        ngx_rbtree_insert(&cz->sh->tree, &n->sn.node);
        ngx_queue_insert_head(&cz->sh->lru, &n->queue);
    }

    ngx_shmtx_unlock(&cz->shpool->mutex);
}


/* foundry_content_cache_zone name:size */

char *
ngx_http_foundry_content_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                   *value;
    ngx_http_foundry_cc_zone_t  *cz;

    value = cf->args->elts;

    cz = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_cc_zone_t));
    if (cz == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_zone_add(cf, &value[1],
                                  ngx_http_foundry_content_cache_init, cz)
        == NULL)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
