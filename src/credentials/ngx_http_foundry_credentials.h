
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_CREDENTIALS_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_CREDENTIALS_H_INCLUDED_


#include "ngx_http_foundry_common.h"


/* ngx_http_foundry_access.c */

ngx_uint_t ngx_http_foundry_allows(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *deployment);
char *ngx_http_foundry_key_source(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_access_handler(ngx_http_request_t *r);


/* ngx_http_foundry_args.c */

ngx_int_t ngx_http_foundry_key_arg(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t n, ngx_str_t *value);
ngx_int_t ngx_http_foundry_args_add_key(ngx_conf_t *cf, ngx_str_t *name);
ngx_int_t ngx_http_foundry_args_merge(ngx_conf_t *cf);
ngx_int_t ngx_http_foundry_args_init(ngx_conf_t *cf);
ngx_int_t ngx_http_foundry_args_init_module(ngx_cycle_t *cycle);

/* ngx_http_foundry_logmask.c */
ngx_int_t ngx_http_foundry_logmask_add_header(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_int_t ngx_http_foundry_logmask_init(ngx_conf_t *cf);
void ngx_http_foundry_logmask_secret(ngx_str_t *value);
void ngx_http_foundry_logmask_text(u_char *p, u_char *last,
    ngx_array_t *headers);


/* ngx_http_foundry_introspect.c */

char *ngx_http_foundry_introspection(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_introspect_check_conf(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf);
ngx_int_t ngx_http_foundry_introspect_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
/* not static for fuzz/fuzz_introspect.c */
ngx_int_t ngx_http_foundry_introspect_parse(ngx_pool_t *pool,
    ngx_str_t *text, struct ngx_http_foundry_jwt_s *jwt, ngx_uint_t *active,
    const char **err);


/* ngx_http_foundry_issuer.c */

char *ngx_http_foundry_jwt_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_foundry_jwt_issuer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_entra(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_foundry_jwt_claim_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_foundry_jwt_deployments(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_jwt_operations(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_token_check_conf(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf);
ngx_http_foundry_issuer_t *ngx_http_foundry_issuer_add(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *flcf, ngx_str_t *name);


/* ngx_http_foundry_keys.c */

char *ngx_http_foundry_keys_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_foundry_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_foundry_keys_check_zone(ngx_conf_t *cf,
    ngx_shm_zone_t *shm_zone);
ngx_int_t ngx_http_foundry_keys_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_foundry_key_lookup(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_http_foundry_key_info_t *info);
ngx_int_t ngx_http_foundry_key_allows(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_http_foundry_key_info_t *info,
    ngx_str_t *deployment);
void ngx_http_foundry_regex_cache_init(ngx_http_foundry_regex_cache_t *cache,
    ngx_pool_t *pool);
ngx_regex_t *ngx_http_foundry_regex_get(
    ngx_http_foundry_regex_cache_t *cache, ngx_str_t *pattern);
/* not static for fuzz/fuzz_keys.c */
ngx_http_foundry_keyset_t *ngx_http_foundry_keyset_build(ngx_pool_t *pool,
    u_char *text, u_char *err, size_t errlen);


/* ngx_http_foundry_local.c */

uint32_t ngx_http_foundry_local_hash(ngx_str_t *secret);
ngx_http_foundry_local_slot_t *ngx_http_foundry_local_find(
    ngx_http_foundry_local_t *t, ngx_str_t *secret, uint32_t hash);
ngx_int_t ngx_http_foundry_local_hold(ngx_http_request_t *r,
    ngx_http_foundry_local_slot_t *slot);
ngx_http_foundry_local_slot_t *ngx_http_foundry_local_add(
    ngx_http_foundry_local_t *t, ngx_str_t *secret, uint32_t hash,
    size_t size);
void ngx_http_foundry_local_drop(ngx_http_foundry_local_slot_t *slot);


/* ngx_http_foundry_oidc.c */

ngx_int_t ngx_http_foundry_oidc_parse(ngx_pool_t *pool, u_char *text,
    size_t len, ngx_str_t *issuer, ngx_str_t *jwks_uri, const char **err);
ngx_int_t ngx_http_foundry_oidc_check(ngx_str_t *iss, ngx_str_t *issuer,
    ngx_str_t *jwks_uri, const char **err);


/* ngx_http_foundry_token.c */

ngx_int_t ngx_http_foundry_token_check(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx);
ngx_uint_t ngx_http_foundry_token_allows(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    ngx_str_t *deployment);
ngx_uint_t ngx_http_foundry_token_allows_op(ngx_http_request_t *r,
    ngx_http_foundry_loc_conf_t *flcf, ngx_http_foundry_ctx_t *ctx,
    uint32_t operation);
ngx_uint_t ngx_http_foundry_claim_eq(ngx_str_t *a, ngx_str_t *b,
    ngx_uint_t nocase);


#endif /* _NGX_HTTP_FOUNDRY_CREDENTIALS_H_INCLUDED_ */
