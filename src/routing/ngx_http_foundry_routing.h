
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_ROUTING_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_ROUTING_H_INCLUDED_


#include "ngx_http_foundry_common.h"


#define NGX_HTTP_FOUNDRY_BODY_NOMEM         1
#define NGX_HTTP_FOUNDRY_BODY_READ          2
#define NGX_HTTP_FOUNDRY_BODY_EMPTY         3
#define NGX_HTTP_FOUNDRY_BODY_SYNTAX        4
#define NGX_HTTP_FOUNDRY_BODY_NOT_OBJECT    5
#define NGX_HTTP_FOUNDRY_BODY_DEEP          6
#define NGX_HTTP_FOUNDRY_BODY_MODEL_TYPE    7
#define NGX_HTTP_FOUNDRY_BODY_MODEL_TWICE   8
#define NGX_HTTP_FOUNDRY_BODY_MODEL_LONG    9

#define NGX_HTTP_FOUNDRY_KEY_OTHER          0
#define NGX_HTTP_FOUNDRY_KEY_MODEL          1
#define NGX_HTTP_FOUNDRY_KEY_STREAM         2
#define NGX_HTTP_FOUNDRY_KEY_MAX_TOKENS     3
#define NGX_HTTP_FOUNDRY_KEY_STREAM_OPTIONS 4
#define NGX_HTTP_FOUNDRY_KEY_INCLUDE_USAGE  5

/* "stream_options.include_usage" of the request body */
#define NGX_HTTP_FOUNDRY_IU_ABSENT          0
#define NGX_HTTP_FOUNDRY_IU_TRUE            1
#define NGX_HTTP_FOUNDRY_IU_FALSE           2
#define NGX_HTTP_FOUNDRY_IU_OTHER           3


/* ngx_http_foundry_body.c */

ngx_int_t ngx_http_foundry_body_parse(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b);
/* not static for fuzz/fuzz_jscan.c */
ngx_int_t ngx_http_foundry_body_scan(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b, u_char *text, size_t len);
ngx_int_t ngx_http_foundry_body_stream(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b);
const char *ngx_http_foundry_body_error(ngx_http_foundry_body_t *b);
ngx_int_t ngx_http_foundry_body_include_usage(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b);
ngx_int_t ngx_http_foundry_body_apply(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b);
ngx_int_t ngx_http_foundry_body_set_model(ngx_http_request_t *r,
    ngx_http_foundry_body_t *b, ngx_str_t *value);


/* ngx_http_foundry_handler.c */

ngx_int_t ngx_http_foundry_precontent_handler(ngx_http_request_t *r);
/* not static for fuzz/fuzz_path.c */
ngx_int_t ngx_http_foundry_classify(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *rest);


/* ngx_http_foundry_route.c */

ngx_int_t ngx_http_foundry_inference(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *rest);
ngx_int_t ngx_http_foundry_inference_resume(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_split_path(ngx_str_t *rest, ngx_flag_t in_path,
    ngx_str_t *connection, ngx_str_t *name, ngx_str_t *op, const char **err);
/* not static for fuzz/fuzz_path.c */
ngx_int_t ngx_http_foundry_valid_op(ngx_str_t *op);
ngx_int_t ngx_http_foundry_operation_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    uint32_t bit);
ngx_int_t ngx_http_foundry_required_headers(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf);


#endif /* _NGX_HTTP_FOUNDRY_ROUTING_H_INCLUDED_ */
