
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_deployments.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_oauth2.h"


/*
 * The token endpoint (RFC 6749 4.4, the client credentials grant) and
 * the key set location.  The body is read without blocking; the client
 * is authenticated by its secret's SHA-256 in the clients' keys zone
 * (compared in constant time); failed attempts are counted per client id
 * and per address (ngx_http_foundry_oauth2_lockout.c).  No secret and no
 * token is written to any log.
 */


static ngx_int_t ngx_http_foundry_oauth2_handler(ngx_http_request_t *r);
static void ngx_http_foundry_oauth2_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_foundry_oauth2_grant(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc);
static ngx_int_t ngx_http_foundry_oauth2_form(ngx_http_request_t *r,
    ngx_str_t *body, const char **desc);
static ngx_int_t ngx_http_foundry_oauth2_client(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_http_foundry_oauth2_req_t *req,
    ngx_http_foundry_key_info_t *info, const char **err, const char **desc);
static ngx_int_t ngx_http_foundry_oauth2_granted(
    ngx_http_foundry_oauth2_service_t *svc, ngx_http_foundry_oauth2_req_t *req,
    ngx_http_foundry_key_info_t *info, ngx_str_t *scopes, ngx_uint_t *nscopes,
    const char **desc);
static ngx_int_t ngx_http_foundry_oauth2_issue(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_http_foundry_key_info_t *info,
    ngx_str_t *scopes, ngx_uint_t nscopes);
static ngx_int_t ngx_http_foundry_oauth2_answer(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_http_foundry_key_info_t *info,
    ngx_str_t *payload, ngx_str_t *s, ngx_str_t *jti);
static ngx_int_t ngx_http_foundry_oauth2_audiences(yajl_gen g,
    ngx_http_foundry_oauth2_service_t *svc, ngx_str_t *scopes,
    ngx_uint_t nscopes);
static ngx_int_t ngx_http_foundry_oauth2_entry(ngx_http_request_t *r,
    yajl_gen g, ngx_http_foundry_key_info_t *info);
static ngx_int_t ngx_http_foundry_oauth2_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *description);
static ngx_int_t ngx_http_foundry_oauth2_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *json, ngx_uint_t nostore);
static ngx_int_t ngx_http_foundry_oauth2_jwks_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_foundry_oauth2_allowed(
    ngx_http_foundry_key_info_t *info, ngx_str_t *scope);


/* foundry_token_endpoint name; foundry_token_jwks name; */

char *
ngx_http_foundry_token_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                          *value;
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_foundry_oauth2_service_t  *svc;

    if (flcf->oauth2) {
        return "is duplicate";
    }

    value = cf->args->elts;

    svc = ngx_http_foundry_oauth2_named(cf, &value[1]);
    if (svc == NULL) {
        return NGX_CONF_ERROR;
    }

    flcf->oauth2 = svc;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = (value[0].data[sizeof("foundry_token_") - 1] == 'e')
                    ? ngx_http_foundry_oauth2_handler
                    : ngx_http_foundry_oauth2_jwks_handler;

    if (svc->token_url.len == 0
        && clcf->handler == ngx_http_foundry_oauth2_handler)
    {
        /* the path, for foundry_export when no token_url= is given */
        svc->token_url = clcf->name;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_foundry_token_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_foundry_token_endpoint(cf, cmd, conf);
}


static ngx_int_t
ngx_http_foundry_oauth2_jwks_handler(ngx_http_request_t *r)
{
    ngx_http_foundry_loc_conf_t        *flcf;
    ngx_http_foundry_oauth2_service_t  *svc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);
    svc = flcf->oauth2;

    return ngx_http_foundry_oauth2_send(r, NGX_HTTP_OK, &svc->jwks, 0);
}


static ngx_int_t
ngx_http_foundry_oauth2_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_foundry_oauth2_error(r, NGX_HTTP_NOT_ALLOWED,
                                             "invalid_request",
                                             "the token endpoint takes POST");
    }

    if (r->headers_in.content_length_n > NGX_HTTP_FOUNDRY_OAUTH2_MAX_BODY) {
        return ngx_http_foundry_oauth2_error(r,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           "invalid_request",
                                           "the request body is too large");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_foundry_oauth2_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_foundry_oauth2_body(ngx_http_request_t *r)
{
    ngx_http_foundry_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_foundry_module);

    ngx_http_finalize_request(r, ngx_http_foundry_oauth2_grant(r,
                                                               flcf->oauth2));
}


static ngx_int_t
ngx_http_foundry_oauth2_grant(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc)
{
    ngx_int_t                       rc;
    ngx_str_t                       body, auth;
    ngx_str_t                       scopes[NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES];
    ngx_uint_t                      n;
    const char                     *err, *desc;
    ngx_http_foundry_key_info_t     info;
    ngx_http_foundry_oauth2_req_t   req;

    err = "invalid_request";

    rc = ngx_http_foundry_oauth2_form(r, &body, &desc);
    if (rc != NGX_OK) {
        goto refused;
    }

    ngx_str_null(&auth);

    if (r->headers_in.authorization) {
        auth = r->headers_in.authorization->value;
    }

    rc = ngx_http_foundry_oauth2_parse(r->pool, &body, &auth, &req, &err,
                                       &desc);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_foundry_oauth2_error(r,
                    ngx_strcmp(err, "invalid_client") == 0
                    ? NGX_HTTP_UNAUTHORIZED : NGX_HTTP_BAD_REQUEST,
                    err, desc);
    }

    rc = ngx_http_foundry_oauth2_client(r, svc, &req, &info, &err, &desc);
    if (rc != NGX_OK) {
        goto refused;
    }

    if (req.grant_type.len != sizeof("client_credentials") - 1
        || ngx_strncmp(req.grant_type.data, "client_credentials",
                       req.grant_type.len)
           != 0)
    {
        return ngx_http_foundry_oauth2_error(r, NGX_HTTP_BAD_REQUEST,
                                  "unsupported_grant_type",
                                  "only \"client_credentials\" is "
                                  "supported");
    }

    err = "invalid_scope";

    rc = ngx_http_foundry_oauth2_granted(svc, &req, &info, scopes, &n,
                                         &desc);
    if (rc != NGX_OK) {
        goto refused;
    }

    return ngx_http_foundry_oauth2_issue(r, svc, &info, scopes, n);

refused:

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_foundry_oauth2_error(r, rc, err, desc);
}


/*
 * the form, in one buffer in memory: NGX_OK, or the status of the error
 * (invalid_request) and its description
 */

static ngx_int_t
ngx_http_foundry_oauth2_form(ngx_http_request_t *r, ngx_str_t *body,
    const char **desc)
{
    ngx_str_t    *ct;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body && r->request_body->bufs) {
        cl = r->request_body->bufs;

        if (cl->next || cl->buf->in_file || !ngx_buf_in_memory(cl->buf)) {
            *desc = "the request body is too large";
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
    }

    if (body->len > NGX_HTTP_FOUNDRY_OAUTH2_MAX_BODY) {
        *desc = "the request body is too large";
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ct == NULL
        || ct->len < sizeof("application/x-www-form-urlencoded") - 1
        || ngx_strncasecmp(ct->data,
                           (u_char *) "application/x-www-form-urlencoded",
                           sizeof("application/x-www-form-urlencoded") - 1)
           != 0
        || (ct->len > sizeof("application/x-www-form-urlencoded") - 1
            && ct->data[sizeof("application/x-www-form-urlencoded") - 1]
               != ';'))
    {
        *desc = "the body must be application/x-www-form-urlencoded";
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/*
 * the client, its secret, its lockout: NGX_OK, NGX_ERROR, or the status
 * of the error and the error
 */

static ngx_int_t
ngx_http_foundry_oauth2_client(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_http_foundry_oauth2_req_t *req,
    ngx_http_foundry_key_info_t *info, const char **err, const char **desc)
{
    time_t      now;
    ngx_int_t   rc;
    ngx_uint_t  found;

    /* too many failures of this client or from this address */

    if (ngx_http_foundry_oauth2_locked(r, svc, &req->client_id, 0)) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "foundry: token request of client \"%V\" refused: "
                      "too many failed attempts", &req->client_id);

        *err = "temporarily_unavailable";
        *desc = "too many failed attempts, retry later";
        return NGX_HTTP_TOO_MANY_REQUESTS;
    }

    ngx_memzero(info, sizeof(ngx_http_foundry_key_info_t));

    rc = ngx_http_foundry_key_lookup(r, svc->clients, &req->client_secret,
                                     info);

    ngx_explicit_memzero(req->client_secret.data, req->client_secret.len);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    now = ngx_time();

    found = (rc == NGX_OK
             && info->name.len == req->client_id.len
             && ngx_http_foundry_secret_eq(info->name.data,
                                           req->client_id.data,
                                           info->name.len));

    if (!found || info->disabled
        || (info->not_before && now < info->not_before)
        || (info->expires && now >= info->expires))
    {
        (void) ngx_http_foundry_oauth2_locked(r, svc, &req->client_id, 1);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: token request of client \"%V\" refused: %s",
                      &req->client_id,
                      !found ? "unknown client or wrong secret"
                      : info->disabled ? "disabled" : "expired or not valid "
                                                      "yet");

        *err = "invalid_client";
        *desc = "client authentication failed";
        return NGX_HTTP_UNAUTHORIZED;
    }

    return NGX_OK;
}


/*
 * the scopes asked for, else all the client may have: NGX_OK, or
 * the status of an invalid_scope error
 */

static ngx_int_t
ngx_http_foundry_oauth2_granted(ngx_http_foundry_oauth2_service_t *svc,
    ngx_http_foundry_oauth2_req_t *req, ngx_http_foundry_key_info_t *info,
    ngx_str_t *scopes, ngx_uint_t *nscopes, const char **desc)
{
    ngx_uint_t                        i, j, n;
    ngx_http_foundry_oauth2_scope_t  *sc;

    sc = svc->scopes.elts;
    n = 0;

    if (req->has_scope) {
        if (ngx_http_foundry_oauth2_scopes(&req->scope, scopes,
                                           NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES,
                                           &n)
            != NGX_OK
            || n == 0)
        {
            *desc = "the scope is not valid";
            return NGX_HTTP_BAD_REQUEST;
        }

        for (i = 0; i < n; i++) {
            for (j = 0; j < svc->scopes.nelts; j++) {
                if (sc[j].scope.len == scopes[i].len
                    && ngx_strncmp(sc[j].scope.data, scopes[i].data,
                                   scopes[i].len)
                       == 0)
                {
                    break;
                }
            }

            if (j == svc->scopes.nelts
                || !ngx_http_foundry_oauth2_allowed(info, &scopes[i]))
            {
                *desc = "a scope asked for is unknown or not granted to "
                        "the client";
                return NGX_HTTP_BAD_REQUEST;
            }
        }

    } else {
        for (j = 0; j < svc->scopes.nelts; j++) {
            if (ngx_http_foundry_oauth2_allowed(info, &sc[j].scope)) {
                scopes[n++] = sc[j].scope;
            }
        }

        if (n == 0) {
            *desc = "the client has no scope";
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    *nscopes = n;

    return NGX_OK;
}


/*
 * Whether a client may have a scope: its entry's metadata "scope", the
 * scopes separated by spaces, or any of the service's without it.
 */

static ngx_uint_t
ngx_http_foundry_oauth2_allowed(ngx_http_foundry_key_info_t *info,
    ngx_str_t *scope)
{
    ngx_str_t      list[NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES];
    ngx_uint_t     i, n;
    ngx_keyval_t  *kv;

    if (info->meta == NULL) {
        return 1;
    }

    kv = info->meta->elts;

    for (i = 0; i < info->meta->nelts; i++) {
        if (kv[i].key.len == sizeof("scope") - 1
            && ngx_strncmp(kv[i].key.data, "scope", kv[i].key.len) == 0)
        {
            break;
        }
    }

    if (i == info->meta->nelts) {
        return 1;
    }

    if (ngx_http_foundry_oauth2_scopes(&kv[i].value, list,
                                       NGX_HTTP_FOUNDRY_OAUTH2_MAX_SCOPES, &n)
        != NGX_OK)
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (list[i].len == scope->len
            && ngx_strncmp(list[i].data, scope->data, scope->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the JWT and the answer */

static ngx_int_t
ngx_http_foundry_oauth2_issue(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_http_foundry_key_info_t *info,
    ngx_str_t *scopes, ngx_uint_t nscopes)
{
    u_char            rnd[16], buf[64], *p;
    time_t            now;
    yajl_gen          g;
    ngx_str_t         payload, s, jti;
    ngx_uint_t        i;
    yajl_alloc_funcs  funcs;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s.data = rnd;
    s.len = sizeof(rnd);
    jti.data = buf;
    ngx_encode_base64url(&jti, &s);

    now = ngx_time();

    /* the scopes, joined by spaces */

    s.len = 0;

    for (i = 0; i < nscopes; i++) {
        s.len += scopes[i].len + 1;
    }

    s.data = ngx_pnalloc(r->pool, s.len);
    if (s.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = s.data;

    for (i = 0; i < nscopes; i++) {
        if (i) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, scopes[i].data, scopes[i].len);
    }

    s.len = p - s.data;

    g = ngx_http_foundry_json_gen(r->pool, &funcs);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "iss") != NGX_OK
        || ngx_http_foundry_json_string(g, &svc->issuer) != NGX_OK
        || ngx_http_foundry_json_key(g, "sub") != NGX_OK
        || ngx_http_foundry_json_string(g, &info->name) != NGX_OK
        || ngx_http_foundry_json_key(g, "client_id") != NGX_OK
        || ngx_http_foundry_json_string(g, &info->name) != NGX_OK
        || ngx_http_foundry_json_key(g, "aud") != NGX_OK
        || yajl_gen_array_open(g) != yajl_gen_status_ok)
    {
        goto failed;
    }

    if (ngx_http_foundry_oauth2_audiences(g, svc, scopes, nscopes)
        != NGX_OK)
    {
        goto failed;
    }

    if (yajl_gen_array_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "scope") != NGX_OK
        || ngx_http_foundry_json_string(g, &s) != NGX_OK
        || ngx_http_foundry_json_key(g, "iat") != NGX_OK
        || yajl_gen_integer(g, (long long) now) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "nbf") != NGX_OK
        || yajl_gen_integer(g, (long long) now) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "exp") != NGX_OK
        || yajl_gen_integer(g, (long long) (now + svc->lifetime))
           != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "jti") != NGX_OK
        || ngx_http_foundry_json_string(g, &jti) != NGX_OK)
    {
        goto failed;
    }

    /* the entry's allow-lists and metadata, for the bearer path */

    if (ngx_http_foundry_oauth2_entry(r, g, info) != NGX_OK) {
        goto failed;
    }

    if (yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_result(g, r->pool, &payload) != NGX_OK)
    {
        goto failed;
    }

    yajl_gen_free(g);

    return ngx_http_foundry_oauth2_answer(r, svc, info, &payload, &s, &jti);

failed:

    yajl_gen_free(g);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the token signed, and the answer */

static ngx_int_t
ngx_http_foundry_oauth2_answer(ngx_http_request_t *r,
    ngx_http_foundry_oauth2_service_t *svc, ngx_http_foundry_key_info_t *info,
    ngx_str_t *payload, ngx_str_t *s, ngx_str_t *jti)
{
    yajl_gen                        g;
    ngx_str_t                       token, name, json;
    yajl_alloc_funcs                funcs;
    ngx_http_foundry_oauth2_key_t  *key;

    /* the first key signs */

    key = svc->keys.elts;

    if (ngx_http_foundry_oauth2_sign(r->pool, &key[0], payload, &token)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "foundry: token service \"%V\" cannot sign",
                      &svc->name);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = ngx_http_foundry_json_gen(r->pool, &funcs);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&name, "Bearer");

    if (yajl_gen_map_open(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "access_token") != NGX_OK
        || ngx_http_foundry_json_string(g, &token) != NGX_OK
        || ngx_http_foundry_json_key(g, "token_type") != NGX_OK
        || ngx_http_foundry_json_string(g, &name) != NGX_OK
        || ngx_http_foundry_json_key(g, "expires_in") != NGX_OK
        || yajl_gen_integer(g, (long long) svc->lifetime)
           != yajl_gen_status_ok
        || ngx_http_foundry_json_key(g, "scope") != NGX_OK
        || ngx_http_foundry_json_string(g, s) != NGX_OK
        || yajl_gen_map_close(g) != yajl_gen_status_ok
        || ngx_http_foundry_json_result(g, r->pool, &json) != NGX_OK)
    {
        goto failed;
    }

    yajl_gen_free(g);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "foundry: token service \"%V\" issued a token to client "
                  "\"%V\" for \"%V\", jti %V", &svc->name, &info->name, s,
                  jti);

    return ngx_http_foundry_oauth2_send(r, NGX_HTTP_OK, &json, 1);

failed:

    yajl_gen_free(g);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the audiences of the scopes, each once */

static ngx_int_t
ngx_http_foundry_oauth2_audiences(yajl_gen g,
    ngx_http_foundry_oauth2_service_t *svc, ngx_str_t *scopes,
    ngx_uint_t nscopes)
{
    ngx_uint_t                        i, j, naud;
    ngx_http_foundry_oauth2_scope_t  *sc;

    sc = svc->scopes.elts;

    naud = 0;

    for (i = 0; i < nscopes; i++) {
        for (j = 0; j < svc->scopes.nelts; j++) {
            if (sc[j].scope.len == scopes[i].len
                && ngx_strncmp(sc[j].scope.data, scopes[i].data,
                               scopes[i].len) == 0)
            {
                break;
            }
        }

        if (j == svc->scopes.nelts) {
            continue;
        }

        for (naud = 0; naud < i; naud++) {
            if (ngx_strncmp(scopes[naud].data, sc[j].audience.data,
                            sc[j].audience.len) == 0
                && (scopes[naud].len == sc[j].audience.len
                    || (scopes[naud].len == sc[j].audience.len
                                            + sizeof("/.default") - 1)))
            {
                break;
            }
        }

        if (naud < i) {
            continue;
        }

        if (ngx_http_foundry_json_string(g, &sc[j].audience) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the entry's allow-lists and metadata, for the bearer path */

static ngx_int_t
ngx_http_foundry_oauth2_entry(ngx_http_request_t *r, yajl_gen g,
    ngx_http_foundry_key_info_t *info)
{
    ngx_str_t     *d, name;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    if (info->deployments) {
        d = info->deployments->elts;

        if (ngx_http_foundry_json_key(g, "deployments") != NGX_OK
            || yajl_gen_array_open(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }

        for (i = 0; i < info->deployments->nelts; i++) {
            if (ngx_http_foundry_json_string(g, &d[i]) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (yajl_gen_array_close(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }
    }

    if (info->operations != NGX_HTTP_FOUNDRY_OPS_ALL) {
        if (ngx_http_foundry_json_key(g, "operations") != NGX_OK
            || yajl_gen_array_open(g) != yajl_gen_status_ok)
        {
            return NGX_ERROR;
        }

        for (i = 0; i < 32; i++) {
            if (!(info->operations & ((uint32_t) 1 << i))) {
                continue;
            }

            d = ngx_http_foundry_operation_name(i);

            if (d && ngx_http_foundry_json_string(g, d) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (yajl_gen_array_close(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }
    }

    if (info->meta) {
        kv = info->meta->elts;

        for (i = 0; i < info->meta->nelts; i++) {
            name.len = sizeof("meta.") - 1 + kv[i].key.len;
            name.data = ngx_pnalloc(r->pool, name.len);
            if (name.data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(name.data, "meta.%V", &kv[i].key);

            if (ngx_http_foundry_json_string(g, &name) != NGX_OK
                || ngx_http_foundry_json_string(g, &kv[i].value) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* RFC 6749 5.2 */

static ngx_int_t
ngx_http_foundry_oauth2_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *description)
{
    ngx_str_t         json;
    ngx_table_elt_t  *h;

    json.len = sizeof("{\"error\":\"\",\"error_description\":\"\"}") - 1
               + ngx_strlen(error) + ngx_strlen(description);
    json.data = ngx_pnalloc(r->pool, json.len);
    if (json.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(json.data, "{\"error\":\"%s\",\"error_description\":\"%s\"}",
                error, description);

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_NOT_ALLOWED
        || status == NGX_HTTP_TOO_MANY_REQUESTS)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;

        if (status == NGX_HTTP_UNAUTHORIZED) {
            ngx_str_set(&h->key, "WWW-Authenticate");
            ngx_str_set(&h->value, "Basic realm=\"foundry\"");
            r->headers_out.www_authenticate = h;

        } else if (status == NGX_HTTP_NOT_ALLOWED) {
            ngx_str_set(&h->key, "Allow");
            ngx_str_set(&h->value, "POST");

        } else {
            ngx_str_set(&h->key, "Retry-After");
            ngx_str_set(&h->value, "60");
        }
    }

    return ngx_http_foundry_oauth2_send(r, status, &json, 1);
}


static ngx_int_t
ngx_http_foundry_oauth2_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json, ngx_uint_t nostore)
{
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    if (nostore) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Cache-Control");
        ngx_str_set(&h->value, "no-store");

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Pragma");
        ngx_str_set(&h->value, "no-cache");
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = json->data;
    b->last = json->data + json->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_foundry_send_json(r, status, &out, json->len);
}
