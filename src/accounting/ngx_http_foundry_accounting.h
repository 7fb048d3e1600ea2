
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_ACCOUNTING_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_ACCOUNTING_H_INCLUDED_


#include "ngx_http_foundry_common.h"


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
ngx_int_t ngx_http_foundry_usage_init(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, ngx_str_t *type);
void ngx_http_foundry_usage_feed(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u, ngx_chain_t *in);
void ngx_http_foundry_usage_done(ngx_http_foundry_usage_t *u);
int64_t ngx_http_foundry_usage_estimate(ngx_http_request_t *r,
    ngx_http_foundry_usage_t *u);


#endif /* _NGX_HTTP_FOUNDRY_ACCOUNTING_H_INCLUDED_ */
