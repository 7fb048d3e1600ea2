
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_oauth2.h"


/*
 * Failed attempts of a token service, in its zone: one counter per client
 * id ("c" + id) and per address ("a" + address).  A counter starts with
 * its first failure and ends "lockout" later; past "max_failures" within
 * it, the client id and the address are refused until it ends, before
 * any secret is checked.  The oldest counters go when the zone is full.
 */


typedef struct {
    ngx_str_node_t                  sn;
    ngx_queue_t                     queue;
    time_t                          start;
    ngx_uint_t                      count;
    u_char                          data[1];
} ngx_http_foundry_oauth2_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
} ngx_http_foundry_oauth2_shctx_t;


typedef struct {
    ngx_http_foundry_oauth2_shctx_t *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_foundry_oauth2_zone_t;


#define NGX_HTTP_FOUNDRY_OAUTH2_KEY_MAX  256


static ngx_http_foundry_oauth2_node_t *ngx_http_foundry_oauth2_node(
    ngx_http_foundry_oauth2_zone_t *z, ngx_str_t *key, ngx_uint_t create);


void *
ngx_http_foundry_oauth2_zone_create(ngx_pool_t *pool)
{
    return ngx_pcalloc(pool, sizeof(ngx_http_foundry_oauth2_zone_t));
}


ngx_int_t
ngx_http_foundry_oauth2_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_foundry_oauth2_zone_t  *oz = data;

    ngx_http_foundry_oauth2_zone_t  *z;

    z = shm_zone->data;

    if (oz) {
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    z->sh = ngx_slab_alloc(z->shpool, sizeof(ngx_http_foundry_oauth2_shctx_t));
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&z->sh->queue);

    return NGX_OK;
}


/* the counter of a key; with "create", made (the oldest go when full) */

static ngx_http_foundry_oauth2_node_t *
ngx_http_foundry_oauth2_node(ngx_http_foundry_oauth2_zone_t *z,
    ngx_str_t *key, ngx_uint_t create)
{
    size_t                           size;
    uint32_t                         hash;
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_str_node_t                  *sn;
    ngx_http_foundry_oauth2_node_t  *n;

    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_str_rbtree_lookup(&z->sh->rbtree, key, hash);

    if (sn) {
        return (ngx_http_foundry_oauth2_node_t *) sn;
    }

    if (!create) {
        return NULL;
    }

    size = offsetof(ngx_http_foundry_oauth2_node_t, data) + key->len;
    n = ngx_slab_alloc_locked(z->shpool, size);

    for (i = 0; n == NULL && i < 16 && !ngx_queue_empty(&z->sh->queue); i++) {
        q = ngx_queue_last(&z->sh->queue);
        ngx_queue_remove(q);

        n = ngx_queue_data(q, ngx_http_foundry_oauth2_node_t, queue);
        ngx_rbtree_delete(&z->sh->rbtree, &n->sn.node);
        ngx_slab_free_locked(z->shpool, n);

        n = ngx_slab_alloc_locked(z->shpool, size);
    }

    if (n == NULL) {
        return NULL;
    }

    ngx_memcpy(n->data, key->data, key->len);

    n->sn.node.key = hash;
    n->sn.str.data = n->data;
    n->sn.str.len = key->len;
    n->start = 0;
    n->count = 0;

    ngx_rbtree_insert(&z->sh->rbtree, &n->sn.node);
    ngx_queue_insert_head(&z->sh->queue, &n->queue);

    return n;
}


/*
 * Whether the client id or the request's address is locked out; with
 * "fail", a failure is counted for both first.
 */

ngx_uint_t
ngx_http_foundry_oauth2_locked(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_str_t *client,
    ngx_uint_t fail)
{
    u_char                           buf[NGX_HTTP_FOUNDRY_OAUTH2_KEY_MAX];
    time_t                           now;
    ngx_str_t                        key, *v;
    ngx_uint_t                       k, locked;
    ngx_http_foundry_oauth2_node_t  *n;
    ngx_http_foundry_oauth2_zone_t  *z;

    z = svc->zone->data;
    now = ngx_time();
    locked = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (k = 0; k < 2; k++) {
        v = (k == 0) ? client : &r->connection->addr_text;

        buf[0] = (k == 0) ? 'c' : 'a';
        key.len = ngx_min(v->len, sizeof(buf) - 1);
        ngx_memcpy(buf + 1, v->data, key.len);
        key.data = buf;
        key.len++;

        n = ngx_http_foundry_oauth2_node(z, &key, fail);

        if (n == NULL) {
            continue;
        }

        if (now >= n->start + svc->lockout) {
            n->start = now;
            n->count = 0;
        }

        if (fail) {
            n->count++;
            ngx_queue_remove(&n->queue);
            ngx_queue_insert_head(&z->sh->queue, &n->queue);
        }

        if (n->count >= svc->max_failures) {
            locked = 1;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_explicit_memzero(buf, sizeof(buf));

    return locked;
}
