
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_TOKEN_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_TOKEN_H_INCLUDED_


/*
 * What the files of bearer tokens share, inside credentials/: the JWT
 * zone's nodes (ngx_http_foundry_keyset.c) and the key-set fetches that
 * the token check (ngx_http_foundry_token.c) and OIDC discovery
 * (ngx_http_foundry_oidc.c) start.
 */


#define NGX_HTTP_FOUNDRY_JWKS_MAX       (256 * 1024)
#define NGX_HTTP_FOUNDRY_KID_COOLDOWN   30000


/* a remembered token, or an issuer's fetched key set */

typedef struct {
    ngx_str_node_t                  sn;
    ngx_queue_t                     queue;
    ngx_uint_t                      type;
    time_t                          expires;

    /* key sets */
    u_char                         *json;
    size_t                          json_len;
    ngx_uint_t                      generation;
    uint64_t                        fetched;
    uint64_t                        refetch;
    uint64_t                        fetching;
    ngx_uint_t                      failed;

    u_char                          key[1];
} ngx_http_foundry_jwt_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
} ngx_http_foundry_jwt_shctx_t;


#define NGX_HTTP_FOUNDRY_JN_TOKEN       1
#define NGX_HTTP_FOUNDRY_JN_JWKS        2
#define NGX_HTTP_FOUNDRY_JN_INTROSPECT  3


ngx_int_t ngx_http_foundry_jwt_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_http_foundry_jwt_node_t *ngx_http_foundry_jwt_node(
    ngx_http_foundry_jwt_zone_t *jz, u_char *key, size_t len,
    ngx_uint_t create);
ngx_int_t ngx_http_foundry_token_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss,
    ngx_str_t *uri, ngx_http_post_subrequest_pt handler, size_t max);
ngx_int_t ngx_http_foundry_token_fetched(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
void ngx_http_foundry_token_store(ngx_http_request_t *r,
    ngx_http_foundry_issuer_t *iss, ngx_str_t *from, ngx_str_t *body,
    const char *err);
ngx_int_t ngx_http_foundry_token_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
ngx_int_t ngx_http_foundry_token_rules(struct ngx_http_foundry_jwt_s *jwt,
    ngx_array_t *claims, const char **err);
ngx_int_t ngx_http_foundry_token_deny(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, const char *description);
ngx_int_t ngx_http_foundry_oidc_fetch(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, ngx_http_foundry_issuer_t *iss);


#endif /* _NGX_HTTP_FOUNDRY_TOKEN_H_INCLUDED_ */
