
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"


/*
 * A worker's table of the credentials (bearer tokens, subscription keys)
 * it accepted last, with what was made of them: a slot per hash of the
 * credential, replaced by the next one of that hash.  A credential is
 * found again by its bytes, compared in constant time, and its value
 * (the parsed token, the key's entry) used without a SHA-256, a parse or
 * a zone's lock.  A slot that requests use ("refs", given back by a
 * cleanup of their pool) is not replaced.  The tables live in the
 * worker's memory and go with its cycle; the master never fills one.
 */


static void ngx_http_foundry_local_release(void *data);
static void ngx_http_foundry_local_cleanup(void *data);


/*
 * the slot: by the credential's last 32 bytes (a token's signature, a
 * whole Azure key) and length
 */

uint32_t
ngx_http_foundry_local_hash(ngx_str_t *secret)
{
    size_t  n;

    n = ngx_min(secret->len, 32);

    return ngx_murmur_hash2(secret->data + secret->len - n, n)
           ^ (uint32_t) secret->len;
}


/* the slot of the credential, or NULL */

ngx_http_foundry_recent_slot_t *
ngx_http_foundry_local_find(ngx_http_foundry_recent_t *t, ngx_str_t *secret,
    uint32_t hash)
{
    ngx_http_foundry_recent_slot_t *slot;

    slot = &t->slots[hash % NGX_HTTP_FOUNDRY_LOCAL_SLOTS];

    if (slot->value == NULL
        || slot->hash != hash
        || slot->secret.len != secret->len
        || !ngx_http_foundry_secret_eq(slot->secret.data, secret->data,
                                       secret->len))
    {
        return NULL;
    }

    return slot;
}


/* the request uses the slot's value: the slot stays until it is done */

ngx_int_t
ngx_http_foundry_local_hold(ngx_http_request_t *r,
    ngx_http_foundry_recent_slot_t *slot)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_foundry_local_release;
    cln->data = slot;

    slot->refs++;

    return NGX_OK;
}


static void
ngx_http_foundry_local_release(void *data)
{
    ngx_http_foundry_recent_slot_t *slot = data;

    slot->refs--;
}


/*
 * A new slot for the credential, with a pool of its own holding a copy of
 * it: the caller makes the value in the pool and sets it, or drops the
 * slot.  NULL when the slot is in use, the credential too long, or on
 * failure.
 */

ngx_http_foundry_recent_slot_t *
ngx_http_foundry_local_add(ngx_http_foundry_recent_t *t, ngx_str_t *secret,
    uint32_t hash, size_t size)
{
    ngx_pool_t                     *pool;
    ngx_pool_cleanup_t             *cln;
    ngx_http_foundry_recent_slot_t *slot;

    slot = &t->slots[hash % NGX_HTTP_FOUNDRY_LOCAL_SLOTS];

    if (slot->refs || secret->len > NGX_HTTP_FOUNDRY_LOCAL_MAX) {
        return NULL;
    }

    if (!t->cleanup) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_foundry_local_cleanup;
        cln->data = t;
        t->cleanup = 1;
    }

    ngx_http_foundry_local_drop(slot);

    /* (a pool's size must keep its end aligned) */

    pool = ngx_create_pool(ngx_align(size + secret->len, NGX_POOL_ALIGNMENT),
                           ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    slot->pool = pool;

    slot->secret.data = ngx_pnalloc(pool, secret->len);
    if (slot->secret.data == NULL) {
        ngx_http_foundry_local_drop(slot);
        return NULL;
    }

    ngx_memcpy(slot->secret.data, secret->data, secret->len);
    slot->secret.len = secret->len;
    slot->hash = hash;

    return slot;
}


void
ngx_http_foundry_local_drop(ngx_http_foundry_recent_slot_t *slot)
{
    if (slot->pool) {
        ngx_explicit_memzero(slot->secret.data, slot->secret.len);
        ngx_destroy_pool(slot->pool);
    }

    ngx_memzero(slot, sizeof(ngx_http_foundry_recent_slot_t));
}


/* the table goes with the worker's cycle (a slot in use stays) */

static void
ngx_http_foundry_local_cleanup(void *data)
{
    ngx_http_foundry_recent_t *t = data;

    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_FOUNDRY_LOCAL_SLOTS; i++) {
        if (t->slots[i].refs == 0) {
            ngx_http_foundry_local_drop(&t->slots[i]);
        }
    }

    t->cleanup = 0;
}
