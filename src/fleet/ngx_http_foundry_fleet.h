
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_FLEET_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_FLEET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_limit.h"


/* the commands of a sync, in the order of their replies */
#define NGX_HTTP_FOUNDRY_REDIS_AUTH     0
#define NGX_HTTP_FOUNDRY_REDIS_PING     1
#define NGX_HTTP_FOUNDRY_REDIS_INCRBY   2
#define NGX_HTTP_FOUNDRY_REDIS_EXPIRE   3
#define NGX_HTTP_FOUNDRY_REDIS_MGET     4
#define NGX_HTTP_FOUNDRY_REDIS_ZADD     5
#define NGX_HTTP_FOUNDRY_REDIS_ZREM     6
#define NGX_HTTP_FOUNDRY_REDIS_PULL     7


/* a key's counters in a sync */

typedef struct {
    u_char                         *key;
    size_t                          len;
    uint32_t                        hash;
    ngx_uint_t                      mask;       /* the counters read */
    ngx_uint_t                      acked;      /* the amounts Redis took */
    time_t                          window[NGX_HTTP_FOUNDRY_FLEET_COUNTERS];
    int64_t                         amount[NGX_HTTP_FOUNDRY_FLEET_COUNTERS];
    int64_t                         total[NGX_HTTP_FOUNDRY_FLEET_COUNTERS];
} ngx_http_foundry_fleet_entry_t;


/* a command whose reply is awaited */

typedef struct {
    ngx_uint_t                      type;
    ngx_uint_t                      entry;
    ngx_uint_t                      counter;
} ngx_http_foundry_fleet_op_t;


/* a connection to Redis: one exchange (commands, their replies) at once */

typedef struct ngx_http_foundry_redis_s  ngx_http_foundry_redis_t;

typedef ngx_int_t (*ngx_http_foundry_redis_reply_pt)(
    ngx_http_foundry_redis_t *rd, void *reply);
typedef void (*ngx_http_foundry_redis_done_pt)(ngx_http_foundry_redis_t *rd,
    const char *error);

struct ngx_http_foundry_redis_s {
    ngx_addr_t                     *addr;
    ngx_str_t                       auth;       /* sent on a new connection */
    size_t                          auth_sent;
    ngx_msec_t                      timeout;
    ngx_log_t                      *log;

    ngx_peer_connection_t           peer;
    void                           *reader;     /* hiredis's redisReader */
    size_t                          elements;   /* the reply's arrays' */
    ngx_buf_t                      *out;
    ngx_uint_t                      replies;    /* still awaited */

    ngx_http_foundry_redis_reply_pt reply;      /* NGX_OK, or NGX_ERROR */
    ngx_http_foundry_redis_done_pt  done;       /* once, error or NULL */
    void                           *data;

#if (NGX_SSL)
    ngx_ssl_t                      *ssl;        /* tls */
#endif
    ngx_str_t                       tls_name;   /* the certificate's name */

    unsigned                        busy:1;
    unsigned                        authing:1;
    unsigned                        too_large:1;
    unsigned                        sni:1;      /* tls_name is not an IP */
};


/* a foundry_limit_sync: the configuration, then the worker's state */

typedef struct ngx_http_foundry_fleet_s  ngx_http_foundry_fleet_t;

struct ngx_http_foundry_fleet_s {
    ngx_http_foundry_limit_sync_conf_t  conf;   /* lz->fleet points here */
    ngx_http_foundry_fleet_t       *next;       /* the configuration's list */

    ngx_str_t                       name;
    ngx_http_foundry_limit_zone_t  *lz;

    ngx_http_foundry_redis_t        redis;      /* redis.addr: redis= */
    ngx_str_t                       server;     /* redis=, for the log */
    ngx_str_t                       state;      /* state=, a file */
    ngx_msec_t                      interval;

    ngx_event_t                     timer;
    ngx_pool_t                     *pool;       /* the sync in flight */
    ngx_array_t                     entries;
    ngx_array_t                     ops;
    ngx_uint_t                      op;         /* the op of the next reply */
    ngx_array_t                    *pulled;     /* keys used by the fleet */
    time_t                          pull;       /* the last pull, from */
    time_t                          started;
    time_t                          minute;
    unsigned                        read:1;     /* the totals came */
};


/* ngx_http_foundry_fleet_conf.c */

char *ngx_http_foundry_limit_sync(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* ngx_http_foundry_fleet.c */

extern char  *ngx_http_foundry_fleet_fails[];

ngx_int_t ngx_http_foundry_fleet_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_foundry_fleet_init_process(ngx_cycle_t *cycle);
void ngx_http_foundry_fleet_exit_process(ngx_cycle_t *cycle);
ngx_buf_t *ngx_http_foundry_fleet_batch(ngx_http_foundry_fleet_t *f,
    time_t now);
ngx_int_t ngx_http_foundry_fleet_reply(ngx_http_foundry_redis_t *rd,
    void *reply);
void ngx_http_foundry_fleet_done(ngx_http_foundry_redis_t *rd,
    const char *error);


/* ngx_http_foundry_redis.c */

void ngx_http_foundry_redis_exchange(ngx_http_foundry_redis_t *rd,
    ngx_buf_t *out, ngx_uint_t replies);
void ngx_http_foundry_redis_close(ngx_http_foundry_redis_t *rd);
void *ngx_http_foundry_redis_reader(ngx_http_foundry_redis_t *rd);
ngx_int_t ngx_http_foundry_redis_feed(ngx_http_foundry_redis_t *rd,
    u_char *buf, size_t n, const char **error);
ngx_int_t ngx_http_foundry_redis_check(ngx_uint_t type, void *reply,
    int64_t *values, ngx_uint_t n);
ngx_int_t ngx_http_foundry_redis_strings(void *reply, ngx_pool_t *pool,
    ngx_array_t **out);
u_char *ngx_http_foundry_redis_arg(u_char *p, u_char *data, size_t len);
size_t ngx_http_foundry_redis_arg_size(size_t len);


/* ngx_http_foundry_state.c */

ngx_int_t ngx_http_foundry_state_save(ngx_http_foundry_fleet_t *f,
    ngx_log_t *log);
ngx_int_t ngx_http_foundry_state_load(ngx_http_foundry_fleet_t *f,
    ngx_log_t *log);


#endif /* _NGX_HTTP_FOUNDRY_FLEET_H_INCLUDED_ */
