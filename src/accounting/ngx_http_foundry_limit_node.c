
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_limit.h"


/*
 * A limit zone's keys: their nodes (found, added, the least recently used
 * dropped), their buckets refilled, the quotas' windows, and in a zone
 * synced with the fleet each key's fleet part.  Called with the zone's
 * mutex held.
 */


#define NGX_HTTP_FOUNDRY_LIMIT_MINUTE   60000

/*
 * ms * limit beyond this refills more than a bucket's whole range (2^61
 * millionths, from the greatest debt to full), and times 50 would overflow
 */
#define NGX_HTTP_FOUNDRY_FILL_MAX       ((int64_t) 1 << 57)


static int64_t ngx_http_foundry_limit_fill(int64_t have, int64_t limit,
    ngx_msec_int_t ms);


/*
 * A key's node for a request: found and moved to the head of the queue,
 * or new (or learnt from the fleet and not used here yet) with full
 * buckets; NULL when the zone has no room
 */

ngx_http_foundry_limit_node_t *
ngx_http_foundry_limit_lookup(ngx_http_foundry_limit_zone_t *lz,
    ngx_str_t *key, uint32_t hash, ngx_msec_t now,
    ngx_http_foundry_limit_t *limit, ngx_http_foundry_limit_values_t *v)
{
    ngx_http_foundry_limit_node_t   *n;
    ngx_http_foundry_limit_shctx_t  *sh;

    sh = lz->sh;

    n = ngx_http_foundry_limit_find(lz, key->data, key->len, hash);

    if (n && (n->fleet == NULL || !n->fleet->fresh)) {
        ngx_queue_remove(&n->queue);
        ngx_queue_insert_head(&sh->queue, &n->queue);
        return n;
    }

    if (n) {
        /* a key learnt from the fleet, here for the first time */
        n->fleet->fresh = 0;
        ngx_queue_remove(&n->queue);
        ngx_queue_insert_head(&sh->queue, &n->queue);
        goto buckets;
    }

    n = ngx_http_foundry_limit_add(lz, key->data, key->len);

    if (n == NULL) {
        return NULL;
    }

buckets:

    /* a new key starts with full buckets */

    n->tokens = v->tpm >= 0 ? v->tpm * NGX_HTTP_FOUNDRY_UNIT : 0;
    n->requests = v->rpm >= 0 ? v->rpm * NGX_HTTP_FOUNDRY_UNIT : 0;
    n->last = now;

    return n;
}


/* a key's node, or NULL; called with the zone's mutex held */

ngx_http_foundry_limit_node_t *
ngx_http_foundry_limit_find(ngx_http_foundry_limit_zone_t *lz, u_char *key,
    size_t len, uint32_t hash)
{
    ngx_str_t  name;

    name.data = key;
    name.len = len;

    return (ngx_http_foundry_limit_node_t *) ngx_str_rbtree_lookup(
               &((ngx_http_foundry_limit_shctx_t *) lz->sh)->rbtree, &name,
               hash);
}


/*
 * A new node for a key (at most 65535 bytes), zeroed, in the tree and at
 * the head of the queue; when the zone is full, the least recently used
 * keys go.  NULL when even that leaves no room.  Called with the zone's
 * mutex held.
 */

ngx_http_foundry_limit_node_t *
ngx_http_foundry_limit_add(ngx_http_foundry_limit_zone_t *lz, u_char *key,
    size_t len)
{
    size_t                           size, fleet;
    ngx_uint_t                       q;
    ngx_queue_t                     *lru;
    ngx_http_foundry_limit_node_t   *n, *old;
    ngx_http_foundry_limit_shctx_t  *sh;

    sh = lz->sh;

    size = offsetof(ngx_http_foundry_limit_node_t, data) + len;
    fleet = 0;

    if (lz->fleet && lz->fleet->redis) {
        /* the fleet's part after the key, aligned */
        fleet = ngx_align(size, sizeof(int64_t));
        size = fleet + sizeof(ngx_http_foundry_limit_fleet_t);
    }

    n = ngx_slab_alloc_locked(lz->shpool, size);

    for (q = 0; n == NULL && q < 16 && !ngx_queue_empty(&sh->queue); q++) {
        lru = ngx_queue_last(&sh->queue);
        ngx_queue_remove(lru);

        old = ngx_queue_data(lru, ngx_http_foundry_limit_node_t, queue);

        ngx_rbtree_delete(&sh->rbtree, &old->sn.node);
        ngx_slab_free_locked(lz->shpool, old);

        n = ngx_slab_alloc_locked(lz->shpool, size);
    }

    if (n == NULL) {
        return NULL;
    }

    ngx_memzero(n, size);

    n->sn.node.key = ngx_crc32_short(key, len);
    n->fleet = fleet ? (ngx_http_foundry_limit_fleet_t *) ((u_char *) n + fleet)
                     : NULL;
    n->sn.str.len = len;
    n->sn.str.data = n->data;
    ngx_memcpy(n->data, key, len);

    ngx_rbtree_insert(&sh->rbtree, &n->sn.node);
    ngx_queue_insert_head(&sh->queue, &n->queue);

    return n;
}


/*
 * While the fleet's sync is down with fail=share: the per-minute limits
 * are this node's share, the limit divided by nodes= (at least 1 when the
 * limit is not 0); the quotas count what the fleet used when last known.
 */

void
ngx_http_foundry_limit_share(ngx_http_foundry_limit_zone_t *lz,
    ngx_http_foundry_limit_values_t *v)
{
    ngx_int_t  nodes;

    nodes = (ngx_int_t) lz->fleet->nodes;

    if (lz->fleet->fail != NGX_HTTP_FOUNDRY_FAIL_SHARE || nodes < 2) {
        return;
    }

    if (v->tpm > 0) {
        v->tpm = ngx_max(v->tpm / nodes, 1);
    }

    if (v->rpm > 0) {
        v->rpm = ngx_max(v->rpm / nodes, 1);
    }
}


/*
 * A key of a zone synced with Redis, with nodes=: between two syncs, a
 * node admits at most its share (1 / nodes) of what the key's buckets held
 * at the last sync, before it hears what the others used; so a burst on
 * every node at once takes about the limit in all, not the limit on each
 * node.  What this node used since the last sync is what it has not sent
 * yet (its deltas); its first request between two syncs goes whatever its
 * size.  While the sync is down, fail= says instead.  The kind of limit
 * that is spent, or NULL (locked).
 */

const char *
ngx_http_foundry_limit_fleet_spent(ngx_http_foundry_limit_zone_t *lz,
    ngx_http_foundry_limit_node_t *n, ngx_http_foundry_limit_values_t *v,
    int64_t estimate)
{
    int64_t                          nodes, used;
    ngx_http_foundry_limit_fleet_t  *fl;

    fl = n->fleet;
    nodes = (int64_t) lz->fleet->nodes;
    used = fl->delta[NGX_HTTP_FOUNDRY_FLEET_REQUESTS];

    if (nodes < 2
        || ((ngx_http_foundry_limit_shctx_t *) lz->sh)->sync.state
           == NGX_HTTP_FOUNDRY_SYNC_DOWN
        || used <= 0)
    {
        return NULL;
    }

    /*
     * the bucket as the sync left it: what it has, and what this node
     * took; in whole tokens and requests (each at most 2^41, times nodes)
     */

    if (v->rpm > 0
        && (used + 1) * nodes > n->requests / NGX_HTTP_FOUNDRY_UNIT + used)
    {
        return "requests";
    }

    used = fl->delta[NGX_HTTP_FOUNDRY_FLEET_TOKENS];

    if (v->tpm > 0
        && (used + estimate) * nodes
           > n->tokens / NGX_HTTP_FOUNDRY_UNIT + used)
    {
        return "tokens";
    }

    return NULL;
}


/*
 * A key's amounts for the fleet's next sync: a reservation (sign 1; the
 * limits that apply mark their counters), or a correction at the commit
 * (sign -1, tokens the difference, requests 1 when refused later)
 */

void
ngx_http_foundry_limit_fleet_count(ngx_http_foundry_limit_fleet_t *fl,
    ngx_http_foundry_limit_values_t *v, int64_t tokens, ngx_int_t requests)
{
    ngx_uint_t  c, q;

    if (requests > 0) {
        if (v->rpm >= 0) {
            fl->mask |= 1 << NGX_HTTP_FOUNDRY_FLEET_REQUESTS;
        }

        if (v->tpm >= 0) {
            fl->mask |= 1 << NGX_HTTP_FOUNDRY_FLEET_TOKENS;
        }

        for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
            if (v->quota[q] >= 0) {
                fl->mask |= 1 << (NGX_HTTP_FOUNDRY_FLEET_QUOTA + q);
            }
        }
    }

    fl->delta[NGX_HTTP_FOUNDRY_FLEET_REQUESTS] += requests;

    for (c = 0; c < NGX_HTTP_FOUNDRY_FLEET_COUNTERS; c++) {
        if (c != NGX_HTTP_FOUNDRY_FLEET_REQUESTS) {
            fl->delta[c] += tokens;
        }
    }
}


void
ngx_http_foundry_limit_refill(ngx_http_foundry_limit_node_t *n,
    ngx_http_foundry_limit_values_t *v, ngx_msec_t now)
{
    time_t                           now_s, window;
    ngx_uint_t                       q;
    ngx_msec_int_t                   ms;
    ngx_http_foundry_limit_fleet_t  *fl;

    static time_t  windows_at, windows[NGX_HTTP_FOUNDRY_QUOTAS];

    /*
     * Each worker has its own cached clock: the key may have been stamped
     * by another worker a few ms ahead of this one's "now".  As in
     * limit_req, no time has passed then, and the later stamp stays; a
     * minute or more backwards is a clock that went wrong.
     */

    ms = (ngx_msec_int_t) (now - n->last);

    if (ms < -NGX_HTTP_FOUNDRY_LIMIT_MINUTE) {
        ms = 1;

    } else if (ms < 0) {
        ms = 0;
    }

    if (ms) {
        n->last = now;
    }

    if (v->tpm >= 0) {
        n->tokens = ngx_http_foundry_limit_fill(n->tokens, v->tpm, ms);
    }

    if (v->rpm >= 0) {
        n->requests = ngx_http_foundry_limit_fill(n->requests, v->rpm, ms);
    }

    /* what the fleet's other nodes used since the last refill */

    fl = n->fleet;

    if (fl) {
        n->tokens = ngx_max(n->tokens - fl->debt[NGX_HTTP_FOUNDRY_FLEET_TOKENS]
                                        * NGX_HTTP_FOUNDRY_UNIT,
                            -NGX_HTTP_FOUNDRY_DEBT_MAX);
        n->requests = ngx_max(n->requests
                              - fl->debt[NGX_HTTP_FOUNDRY_FLEET_REQUESTS]
                                * NGX_HTTP_FOUNDRY_UNIT,
                              -NGX_HTTP_FOUNDRY_DEBT_MAX);

        fl->debt[NGX_HTTP_FOUNDRY_FLEET_TOKENS] = 0;
        fl->debt[NGX_HTTP_FOUNDRY_FLEET_REQUESTS] = 0;
    }

    /* the windows' ends, worked out once a second (per worker) */

    now_s = ngx_time();

    if (now_s != windows_at || windows[0] == 0) {
        for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
            windows[q] = ngx_http_foundry_limit_window(q + 1, now_s);
        }

        windows_at = now_s;
    }

    for (q = 0; q < NGX_HTTP_FOUNDRY_QUOTAS; q++) {
        window = windows[q];

        /* a worker a second behind does not go back to the last window */

        if (window > n->window[q]) {
            n->window[q] = window;
            n->used[q] = 0;

            if (fl) {
                fl->delta[NGX_HTTP_FOUNDRY_FLEET_QUOTA + q] = 0;
                fl->other[NGX_HTTP_FOUNDRY_FLEET_QUOTA + q] = 0;
            }
        }
    }
}


/*
 * A bucket after ms of refill at a limit per minute, in millionths: the
 * limit * 1000000 / 60000 per ms, that is, limit * 50 / 3; at most full.
 */

static int64_t
ngx_http_foundry_limit_fill(int64_t have, int64_t limit, ngx_msec_int_t ms)
{
    int64_t  full;

    full = limit * NGX_HTTP_FOUNDRY_UNIT;

    if (limit > 0 && ms > NGX_HTTP_FOUNDRY_FILL_MAX / limit) {
        return full;
    }

    return ngx_min(have + ms * limit * 50 / 3, full);
}


/*
 * The seconds to refill a deficit (millionths, at most 2^61) at a limit
 * per minute, rounded up: deficit * 60 / (limit * 1000000), that is,
 * deficit * 3 / (limit * 50000), which cannot overflow.
 */

time_t
ngx_http_foundry_limit_wait(int64_t deficit, int64_t limit)
{
    int64_t  d;

    d = limit * 50000;

    return (time_t) ((deficit * 3 + d - 1) / d);
}


/* the end of the current UTC hour, day or month */

time_t
ngx_http_foundry_limit_window(ngx_uint_t quota, time_t now)
{
    ngx_tm_t  tm;

    /* the month's end, worked out once a second at most (per worker) */

    static time_t  last, month;

    switch (quota) {

    case 1:
        return now - now % 3600 + 3600;

    case 2:
        return now - now % 86400 + 86400;

    default:
        if (month && now == last) {
            return month;
        }

        ngx_gmtime(now, &tm);

        if (tm.ngx_tm_mon == 12) {
            tm.ngx_tm_year++;
            tm.ngx_tm_mon = 1;

        } else {
            tm.ngx_tm_mon++;
        }

        tm.ngx_tm_mday = 1;
        tm.ngx_tm_hour = 0;
        tm.ngx_tm_min = 0;
        tm.ngx_tm_sec = 0;

        last = now;
        month = ngx_http_foundry_timegm(&tm);

        return month;
    }
}
