
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_LIMIT_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_LIMIT_H_INCLUDED_


#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_accounting.h"


/*
 * A limit zone's nodes and shared context, for limit.c and for the parts
 * that keep a zone's counters elsewhere (fleet/: Redis, the state file).
 */


/* buckets count in millionths of a token or a request */
#define NGX_HTTP_FOUNDRY_UNIT           1000000

/* the greatest debt of a bucket, in millionths */
#define NGX_HTTP_FOUNDRY_DEBT_MAX                                             \
    (NGX_HTTP_FOUNDRY_TOKENS_MAX * NGX_HTTP_FOUNDRY_UNIT)

/* the most a quota counts as used: spent, with the greatest debt */
#define NGX_HTTP_FOUNDRY_USED_MAX       (2 * NGX_HTTP_FOUNDRY_TOKENS_MAX)


/* the fleet's counters of a key: tokens, requests, then the quotas */
#define NGX_HTTP_FOUNDRY_FLEET_TOKENS   0
#define NGX_HTTP_FOUNDRY_FLEET_REQUESTS 1
#define NGX_HTTP_FOUNDRY_FLEET_QUOTA    2
#define NGX_HTTP_FOUNDRY_FLEET_COUNTERS (2 + NGX_HTTP_FOUNDRY_QUOTAS)


/* the fleet's sync state, NGX_HTTP_FOUNDRY_SYNC_* */
#define NGX_HTTP_FOUNDRY_SYNC_NONE      0
#define NGX_HTTP_FOUNDRY_SYNC_UP        1
#define NGX_HTTP_FOUNDRY_SYNC_DOWN      2

/* what admission does while the sync is down */
#define NGX_HTTP_FOUNDRY_FAIL_OPEN      0
#define NGX_HTTP_FOUNDRY_FAIL_SHARE     1
#define NGX_HTTP_FOUNDRY_FAIL_CLOSED    2


/* a zone's foundry_limit_sync, as admission sees it (fleet/ sets it) */

typedef struct ngx_http_foundry_limit_sync_conf_s {
    ngx_uint_t                      fail;       /* NGX_HTTP_FOUNDRY_FAIL_* */
    ngx_uint_t                      nodes;
    ngx_uint_t                      redis;      /* nodes have a fleet part */
    time_t                          retry;      /* the interval, seconds */
} ngx_http_foundry_limit_sync_conf_t;


/* a key's part in the fleet's counters: only in zones synced with Redis */

typedef struct {
    /* used on this node and not sent yet (may be negative: corrections) */
    int64_t                         delta[NGX_HTTP_FOUNDRY_FLEET_COUNTERS];

    /* sent by this node, and used by the others, in the window */
    int64_t                         sent[NGX_HTTP_FOUNDRY_FLEET_COUNTERS];
    int64_t                         other[NGX_HTTP_FOUNDRY_FLEET_COUNTERS];
    time_t                          window[NGX_HTTP_FOUNDRY_FLEET_COUNTERS];

    /* what the others used, not yet taken from the buckets */
    int64_t                         debt[NGX_HTTP_FOUNDRY_FLEET_QUOTA];

    /* the counters a limit applied to, bit per counter */
    ngx_uint_t                      mask;

    /* learnt from the fleet: the buckets are set at the first request */
    ngx_uint_t                      fresh;
} ngx_http_foundry_limit_fleet_t;


typedef struct {
    ngx_str_node_t                  sn;         /* sn.str: the key, data */
    ngx_queue_t                     queue;

    /* token buckets, in millionths of a token or request */
    int64_t                         tokens;
    int64_t                         requests;
    ngx_msec_t                      last;

    /* quota windows: end and tokens used */
    int64_t                         used[NGX_HTTP_FOUNDRY_QUOTAS];
    time_t                          window[NGX_HTTP_FOUNDRY_QUOTAS];

    /* after the key, in zones synced with Redis; else NULL */
    ngx_http_foundry_limit_fleet_t *fleet;

    u_char                          data[1];
} ngx_http_foundry_limit_node_t;


/* the sync of a zone with the fleet, shared by the workers */

typedef struct {
    ngx_uint_t                      state;
    ngx_pid_t                       owner;
    ngx_msec_t                      lease;      /* the owner's, until */
    ngx_msec_t                      last_ok;    /* the last sync done */
    ngx_msec_t                      started;
    uint64_t                        syncs;
    uint64_t                        failures;
    ngx_uint_t                      loaded;     /* the state file read */
} ngx_http_foundry_limit_sync_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
    ngx_http_foundry_limit_sync_t   sync;
} ngx_http_foundry_limit_shctx_t;


/* ngx_http_foundry_limit.c */

ngx_int_t ngx_http_foundry_limit_is_zone(ngx_shm_zone_t *shm_zone);

/* ngx_http_foundry_limit_node.c */

ngx_http_foundry_limit_node_t *ngx_http_foundry_limit_lookup(
    ngx_http_foundry_limit_zone_t *lz, ngx_str_t *key, uint32_t hash,
    ngx_msec_t now, ngx_http_foundry_limit_t *limit,
    ngx_http_foundry_limit_values_t *v);
ngx_http_foundry_limit_node_t *ngx_http_foundry_limit_find(
    ngx_http_foundry_limit_zone_t *lz, u_char *key, size_t len,
    uint32_t hash);
ngx_http_foundry_limit_node_t *ngx_http_foundry_limit_add(
    ngx_http_foundry_limit_zone_t *lz, u_char *key, size_t len);
void ngx_http_foundry_limit_refill(ngx_http_foundry_limit_node_t *n,
    ngx_http_foundry_limit_values_t *v, ngx_msec_t now);
time_t ngx_http_foundry_limit_wait(int64_t deficit, int64_t limit);
time_t ngx_http_foundry_limit_window(ngx_uint_t quota, time_t now);
void ngx_http_foundry_limit_share(ngx_http_foundry_limit_zone_t *lz,
    ngx_http_foundry_limit_values_t *v);
const char *ngx_http_foundry_limit_fleet_spent(
    ngx_http_foundry_limit_zone_t *lz, ngx_http_foundry_limit_node_t *n,
    ngx_http_foundry_limit_values_t *v, int64_t estimate);
void ngx_http_foundry_limit_fleet_count(ngx_http_foundry_limit_fleet_t *fl,
    ngx_http_foundry_limit_values_t *v, int64_t tokens, ngx_int_t requests);


#endif /* _NGX_HTTP_FOUNDRY_LIMIT_H_INCLUDED_ */
