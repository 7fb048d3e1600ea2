
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_CORE_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_CORE_H_INCLUDED_


#include "ngx_http_foundry_common.h"


/* foundry_category */
#define NGX_HTTP_FOUNDRY_MODEL_GATEWAY      1
#define NGX_HTTP_FOUNDRY_API_MANAGEMENT     2

/* a discovery endpoint pair's output format */
#define NGX_HTTP_FOUNDRY_FORMAT_AZURE       1
#define NGX_HTTP_FOUNDRY_FORMAT_OPENAI      2

#define NGX_HTTP_FOUNDRY_MAX_NAME_LEN       256
#define NGX_HTTP_FOUNDRY_MAX_MODEL_LEN      1024

/* a byte of a deployment name or of an operation's segment */
#define ngx_http_foundry_deployment_char(c)                                   \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9')                                            \
     || (c) == '-' || (c) == '_' || (c) == '.' || (c) == ':')

/* every operation: a key or a token without an operations allow-list */
#define NGX_HTTP_FOUNDRY_OPS_ALL            0xffffffff

/* a request's kind (ctx->kind) */
#define NGX_HTTP_FOUNDRY_REQ_NONE           0
#define NGX_HTTP_FOUNDRY_REQ_LIST           1
#define NGX_HTTP_FOUNDRY_REQ_GET            2
#define NGX_HTTP_FOUNDRY_REQ_INFERENCE      3


typedef struct ngx_http_foundry_collect_s       ngx_http_foundry_collect_t;


typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       value;
    ngx_uint_t                      required;
} ngx_http_foundry_custom_header_t;


/* one reader of a JSON parse: its callbacks, their context, its descend */

typedef struct {
    yajl_callbacks                 *cb;
    void                           *ctx;
    ngx_uint_t                    (*descend)(void *ctx);
} ngx_http_foundry_jreader_t;


/* two readers of one parse (core/ngx_http_foundry_jtee.c) */

typedef struct ngx_http_foundry_jtee_s {
    ngx_http_foundry_jreader_t      first;
    ngx_http_foundry_jreader_t      second;
    ngx_uint_t                      stopped;

    /* 1: the strings given stay where they are as long as the pool (the
     * scanner's: in the text scanned, or decoded in the pool) */
    ngx_uint_t                      kept;

    /* the scanner in a container only the second reads; how deep in it */
    ngx_uint_t                      asleep;
    ngx_uint_t                      depth;
} ngx_http_foundry_jtee_t;


/* the answer of a fetch subrequest, collected by the body filter */

struct ngx_http_foundry_collect_s {
    ngx_buf_t                      *buf;
    size_t                          max;
    unsigned                        limited:1;
    unsigned                        too_large:1;
    unsigned                        done:1;

    /* a discovery source's: the credential's "Bearer <token>", if any */
    ngx_str_t                       authorization;
};


typedef struct {
    ngx_http_foundry_loc_conf_t    *conf;
} ngx_http_foundry_target_t;

/* the module's version and those of what it runs with */

typedef struct {
    ngx_str_t                       module;
    ngx_str_t                       nginx;
    ngx_str_t                       yajl;
    ngx_str_t                       openssl;
} ngx_http_foundry_versions_t;


/* ngx_http_foundry_conf.c */

char *ngx_http_foundry_model_discovery(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_auth_config(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_custom_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_gateway(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_valid_api_version(ngx_str_t *v);
char *ngx_http_foundry_api_versions(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_target(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_conf_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_parse_discovery(ngx_conf_t *cf,
    ngx_http_foundry_discovery_t *d, ngx_str_t *list, ngx_str_t *get,
    ngx_uint_t format);
ngx_int_t ngx_http_foundry_valid_path(ngx_str_t *path);
ngx_int_t ngx_http_foundry_valid_token(ngx_str_t *s);
ngx_int_t ngx_http_foundry_versions_text(ngx_pool_t *pool, ngx_array_t *a,
    ngx_str_t *text);
/* not static for fuzz/fuzz_discovery.c */
char *ngx_http_foundry_models_json(ngx_conf_t *cf,
    ngx_http_foundry_models_t *models, ngx_str_t *file, yajl_val root);
ngx_int_t ngx_http_foundry_valid_name(ngx_str_t *name);
ngx_shm_zone_t *ngx_http_foundry_zone_add(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_shm_zone_init_pt init, void *data);


/* ngx_http_foundry_conf_args.c */

ngx_int_t ngx_http_foundry_conf_args(ngx_conf_t *cf, ngx_uint_t first,
    ngx_int_t (*parse)(ngx_conf_t *cf, void *data, ngx_str_t *arg),
    void *data);
ngx_int_t ngx_http_foundry_conf_msec(ngx_conf_t *cf, ngx_str_t *arg,
    size_t skip, ngx_msec_t *msec);


/* ngx_http_foundry_error.c */

ngx_int_t ngx_http_foundry_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *fmt, ...);
ngx_int_t ngx_http_foundry_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, u_char *msg, size_t len);
ngx_buf_t *ngx_http_foundry_error_body(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, u_char *msg, size_t len);
ngx_int_t ngx_http_foundry_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chain_t *out, off_t len);
ngx_int_t ngx_http_foundry_finish(ngx_http_request_t *r, ngx_int_t rc);


/* ngx_http_foundry_fetch.c */

ngx_int_t ngx_http_foundry_subrequest(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_http_post_subrequest_t *ps, size_t max,
    ngx_http_foundry_collect_t **collect);
ngx_int_t ngx_http_foundry_collect(ngx_http_request_t *r,
    ngx_http_foundry_collect_t *c, ngx_chain_t *in);


/* ngx_http_foundry_json.c */

void ngx_http_foundry_json_alloc_funcs(ngx_pool_t *pool,
    yajl_alloc_funcs *funcs);
yajl_gen ngx_http_foundry_json_gen(ngx_pool_t *pool,
    yajl_alloc_funcs *funcs);
ngx_int_t ngx_http_foundry_json_parse(ngx_pool_t *pool,
    const yajl_callbacks *callbacks, void *ctx, u_char *data, size_t len);
ngx_int_t ngx_http_foundry_json_string(yajl_gen g, ngx_str_t *s);
ngx_int_t ngx_http_foundry_json_end_list(yajl_gen g);
ngx_int_t ngx_http_foundry_json_key(yajl_gen g, const char *key);
ngx_int_t ngx_http_foundry_json_raw(yajl_gen g, ngx_str_t *json);
ngx_int_t ngx_http_foundry_json_result(yajl_gen g, ngx_pool_t *pool,
    ngx_str_t *out);
void ngx_http_foundry_json_error_line(char *errbuf);
ngx_int_t ngx_http_foundry_json_quote(ngx_pool_t *pool, ngx_str_t *s,
    ngx_str_t *out);
ngx_int_t ngx_http_foundry_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text);


/* ngx_http_foundry_jscan.c */

#define NGX_HTTP_FOUNDRY_JSCAN_DEPTH    512

#define NGX_HTTP_FOUNDRY_JSCAN_OK       0
#define NGX_HTTP_FOUNDRY_JSCAN_SYNTAX   1
#define NGX_HTTP_FOUNDRY_JSCAN_STOPPED  2
#define NGX_HTTP_FOUNDRY_JSCAN_DEEP     3
#define NGX_HTTP_FOUNDRY_JSCAN_NOMEM    4

typedef ngx_uint_t (*ngx_http_foundry_jscan_descend_pt)(void *ctx);

ngx_int_t ngx_http_foundry_jscan_decode(ngx_pool_t *pool, u_char *p,
    u_char *last, ngx_str_t *out);
ngx_int_t ngx_http_foundry_jscan_parse(ngx_pool_t *pool, u_char *start,
    u_char *last, yajl_callbacks *cb, void *ctx,
    ngx_http_foundry_jscan_descend_pt descend, ngx_uint_t max,
    off_t *offset);


/* ngx_http_foundry_jtee.c */

extern yajl_callbacks  ngx_http_foundry_jtee_callbacks;

ngx_uint_t ngx_http_foundry_jtee_descend(void *ctx);


/* ngx_http_foundry_util.c */

time_t ngx_http_foundry_timegm(ngx_tm_t *tm);
ngx_int_t ngx_http_foundry_sha256(ngx_str_t *parts, ngx_uint_t n,
    u_char *digest);
u_char *ngx_http_foundry_memmem(u_char *p, u_char *last, u_char *s,
    size_t n);
ngx_uint_t ngx_http_foundry_secret_eq(u_char *a, u_char *b, size_t len);
ngx_uint_t ngx_http_foundry_arg_is(u_char *p, u_char *last, ngx_str_t *name);
u_char *ngx_http_foundry_arg_next(u_char *p, u_char *last, u_char **eq);
ngx_int_t ngx_http_foundry_arg(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, ngx_uint_t *conflict);
uint64_t ngx_http_foundry_now(void);
ngx_int_t ngx_http_foundry_shm_init(ngx_shm_zone_t *shm_zone, void *data,
    size_t size, const char *directive, void **sh, ngx_slab_pool_t **shpool);
ngx_http_foundry_ctx_t *ngx_http_foundry_ctx(ngx_http_request_t *r);
ngx_uint_t ngx_http_foundry_lc_equal(u_char *s, u_char *lc, size_t n);
ngx_table_elt_t *ngx_http_foundry_find_header(ngx_http_request_t *r,
    ngx_str_t *name);


/* ngx_http_foundry_version.c */

void ngx_http_foundry_versions(ngx_http_foundry_versions_t *v);
void ngx_http_foundry_version_notice(ngx_log_t *log);


#endif /* _NGX_HTTP_FOUNDRY_CORE_H_INCLUDED_ */
