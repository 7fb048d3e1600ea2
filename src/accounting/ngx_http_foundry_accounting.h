
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_ACCOUNTING_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_ACCOUNTING_H_INCLUDED_


#include "ngx_http_foundry_common.h"


#define NGX_HTTP_FOUNDRY_QUOTAS             3


/*
 * The largest token count the module takes from anywhere (an upstream's
 * usage, a request's max_tokens, a limit's value), 2^40: larger figures
 * count as this, so that sums of them cannot overflow.
 */

#define NGX_HTTP_FOUNDRY_TOKENS_MAX         ((int64_t) 1 << 40)


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;

    /* foundry_limit_sync's, when the zone has one (limit.h) */
    struct ngx_http_foundry_limit_sync_conf_s  *fleet;
} ngx_http_foundry_limit_zone_t;


/* a foundry_limit's values for one request; -1 for "no limit" */

typedef struct {
    int64_t                         tpm;
    int64_t                         rpm;
    int64_t                         quota[NGX_HTTP_FOUNDRY_QUOTAS];
} ngx_http_foundry_limit_values_t;


/* a foundry_limit directive */

typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_complex_value_t       *key;
    /* a key that is one variable: its index, read without the script */
    ngx_int_t                       key_index;
    ngx_http_complex_value_t       *tpm;
    ngx_http_complex_value_t       *rpm;
    ngx_http_complex_value_t       *quota[NGX_HTTP_FOUNDRY_QUOTAS];
    ngx_int_t                       reserve;

    /* the values, read at configuration when none has a variable */
    ngx_http_foundry_limit_values_t values;
    /* and then rpm's and tpm's text, for x-ratelimit-limit-* */
    ngx_str_t                       text[2];
    unsigned                        variable:1;
    /* the key is $foundry_deployment */
    unsigned                        key_deployment:1;
} ngx_http_foundry_limit_t;


/* what a request reserved under one limit */

struct ngx_http_foundry_limit_state_s {
    ngx_http_foundry_limit_t       *conf;
    ngx_http_foundry_limit_zone_t  *zone;
    ngx_str_t                       key;
    uint32_t                        hash;
    int64_t                         estimate;
    ngx_http_foundry_limit_values_t values;
    int64_t                         remaining_requests;
    int64_t                         remaining_tokens;
    time_t                          reset;
    const char                     *kind;
    ngx_uint_t                      quota;
    unsigned                        reserved:1;
    unsigned                        committed:1;
};


#define NGX_HTTP_FOUNDRY_M_REQUESTS         0
#define NGX_HTTP_FOUNDRY_M_TOKENS           1
#define NGX_HTTP_FOUNDRY_M_RESPONSE         2
#define NGX_HTTP_FOUNDRY_M_FIRST_BYTE       3
#define NGX_HTTP_FOUNDRY_M_AUTH             4
#define NGX_HTTP_FOUNDRY_M_LIMIT            5
#define NGX_HTTP_FOUNDRY_M_DISCOVERY        6
#define NGX_HTTP_FOUNDRY_M_JWKS             7
#define NGX_HTTP_FOUNDRY_M_KEYS             8
#define NGX_HTTP_FOUNDRY_M_CONTENT          9
#define NGX_HTTP_FOUNDRY_M_CREDENTIAL       10
#define NGX_HTTP_FOUNDRY_M_EXPIRY           11
#define NGX_HTTP_FOUNDRY_M_INTROSPECT       12
#define NGX_HTTP_FOUNDRY_M_ANSWER           13
#define NGX_HTTP_FOUNDRY_METRICS            14


/* the caller's identity as metric labels (foundry_metrics_zone labels=) */
#define NGX_HTTP_FOUNDRY_LABEL_AGENT        1
#define NGX_HTTP_FOUNDRY_LABEL_PROJECT      2


struct ngx_http_foundry_metrics_zone_s {
    ngx_shm_zone_t                 *shm_zone;
    void                           *sh;
    ngx_slab_pool_t                *shpool;
    ngx_uint_t                      labels;
    ngx_uint_t                      label_values;
};


#define NGX_HTTP_FOUNDRY_USAGE_JSON         1
#define NGX_HTTP_FOUNDRY_USAGE_SSE          2


/* ngx_http_foundry_caller.c */

#define NGX_HTTP_FOUNDRY_CALLER_AGENT       0
#define NGX_HTTP_FOUNDRY_CALLER_PROJECT     1
#define NGX_HTTP_FOUNDRY_CALLER_OPENAI      2
#define NGX_HTTP_FOUNDRY_CALLER_MODEL       3
#define NGX_HTTP_FOUNDRY_CALLER_TRACE       4

ngx_int_t ngx_http_foundry_caller_id(ngx_http_request_t *r,
    ngx_uint_t which, ngx_str_t *value);
ngx_int_t ngx_http_foundry_caller_project(ngx_http_request_t *r,
    ngx_str_t *value);
ngx_int_t ngx_http_foundry_traceparent(ngx_http_request_t *r,
    ngx_str_t *value);


/* ngx_http_foundry_filter.c */

ngx_int_t ngx_http_foundry_filter_init(ngx_conf_t *cf);


/* ngx_http_foundry_limit.c */

char *ngx_http_foundry_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_foundry_limit_check_zone(ngx_conf_t *cf,
    ngx_array_t *limits);
ngx_int_t ngx_http_foundry_limit_request(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_limit_commit(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_limit_headers(ngx_http_request_t *r,
    ngx_http_foundry_limit_state_t *st);
ngx_uint_t ngx_http_foundry_limit_zones(ngx_cycle_t *cycle);


/* ngx_http_foundry_metrics.c */

char *ngx_http_foundry_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_foundry_metrics_record(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
void ngx_http_foundry_metrics_event(ngx_http_foundry_main_conf_t *fmcf,
    ngx_uint_t metric, const char *name, ngx_str_t *value,
    const char *outcome);
void ngx_http_foundry_metrics_expiry(ngx_http_foundry_main_conf_t *fmcf,
    ngx_uint_t metric, const char *name, ngx_str_t *value, time_t expires);
void ngx_http_foundry_metrics_commit(ngx_http_foundry_main_conf_t *fmcf);
void ngx_http_foundry_metrics_count(ngx_uint_t metric, const char *name,
    ngx_str_t *value, const char *outcome);


/* ngx_http_foundry_stream_usage.c */

ngx_uint_t ngx_http_foundry_stream_usage_op(ngx_str_t *op);
ngx_int_t ngx_http_foundry_strip_init(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_strip(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out);
void ngx_http_foundry_strip_done(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_chain_t **out);


/* ngx_http_foundry_usage.c */

u_char *ngx_http_foundry_json_member(u_char *p, u_char *last, u_char *name,
    size_t len);
ngx_uint_t ngx_http_foundry_usage_line(u_char *p, u_char *last, u_char **bs,
    u_char *end);
u_char *ngx_http_foundry_usage_next(u_char **pp, u_char *end, u_char *last,
    u_char **bs, int64_t *events, u_char **nl);
ngx_int_t ngx_http_foundry_usage_init(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, ngx_str_t *type);
void ngx_http_foundry_usage_feed(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, ngx_chain_t *in);
void ngx_http_foundry_usage_done(ngx_http_foundry_usage_t *u);
int64_t ngx_http_foundry_usage_estimate(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u);
ngx_flag_t ngx_http_foundry_usage_variables(ngx_conf_t *cf);
ngx_uint_t ngx_http_foundry_usage_wanted(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);


#endif /* _NGX_HTTP_FOUNDRY_ACCOUNTING_H_INCLUDED_ */
