
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_token.h"
#include "ngx_http_foundry_jwt.h"
#include "ngx_http_foundry_introspect.h"


/*
 * foundry_token_introspection: the introspection location, the gateway's
 * client credentials, the accepted issuer and audiences, the cache times,
 * read at configuration time (ngx_http_foundry_introspect.c checks the
 * tokens).
 */


/* the arguments of foundry_token_introspection, while they are read */

typedef struct {
    ngx_http_foundry_introspect_t  *ic;
    ngx_str_t                       file;
} ngx_http_foundry_introspect_args_t;


static ngx_int_t ngx_http_foundry_introspect_arg(ngx_conf_t *cf, void *data,
    ngx_str_t *arg);
static ngx_int_t ngx_http_foundry_introspect_basic(ngx_conf_t *cf,
    ngx_http_foundry_introspect_t *ic, ngx_str_t *secret);
static ngx_int_t ngx_http_foundry_introspect_secret(ngx_conf_t *cf,
    ngx_str_t *file, ngx_str_t *secret);


/* the parameters, by their index in ngx_http_foundry_introspect_arg() */

static ngx_str_t  ngx_http_foundry_introspect_params[] = {
    ngx_string("client_id="),
    ngx_string("secret_file="),
    ngx_string("issuer="),
    ngx_string("audience="),
    ngx_string("cache="),
    ngx_string("inactive_cache="),
    ngx_null_string
};



/*
 * foundry_token_introspection /location client_id=id secret_file=path
 *     [issuer=iss] [audience=aud ...] [cache=time] [inactive_cache=time];
 * foundry_token_introspection off;
 */

char *
ngx_http_foundry_introspection(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_foundry_loc_conf_t *flcf = conf;

    ngx_str_t                           *value, secret, parts[7];
    ngx_http_foundry_introspect_t       *ic;
    ngx_http_foundry_introspect_args_t   ia;

    if (flcf->access->introspect != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        flcf->access->introspect = NULL;
        return NGX_CONF_OK;
    }

    ic = ngx_pcalloc(cf->pool, sizeof(ngx_http_foundry_introspect_t));
    if (ic == NULL) {
        return NGX_CONF_ERROR;
    }

    ic->location = value[1];
    ic->cache = 300;
    ic->inactive_cache = 10;

    if (ic->location.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid location \"%V\" in \"%V\" directive, "
                           "it must start with \"/\"", &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    ia.ic = ic;
    ngx_str_null(&ia.file);

    if (ngx_http_foundry_conf_args(cf, 2, ngx_http_foundry_introspect_arg,
                                   &ia)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ic->client_id.len == 0 || ia.file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive needs \"client_id=\" and "
                           "\"secret_file=\", the gateway's own client "
                           "credentials at the issuer", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_foundry_introspect_secret(cf, &ia.file, &secret) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* RFC 6749 2.3.1: both form-encoded, then base64 */

    if (ngx_http_foundry_introspect_basic(cf, ic, &secret) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* answers are kept per configuration: its endpoint, client and checks */

    ngx_str_set(&parts[0], "introspection");
    parts[1] = ic->location;
    ngx_str_set(&parts[2], "\0");
    parts[3] = ic->client_id;
    ngx_str_set(&parts[4], "\0");
    parts[5] = ic->issuer;
    ngx_str_set(&parts[6], "\0");

    if (ngx_http_foundry_sha256(parts, 7, ic->id) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    flcf->access->introspect = ic;

    return NGX_CONF_OK;
}


/* one argument of foundry_token_introspection, for conf_args() */

static ngx_int_t
ngx_http_foundry_introspect_arg(ngx_conf_t *cf, void *data, ngx_str_t *arg)
{
    ngx_http_foundry_introspect_args_t *ia = data;

    time_t                         *t;
    ngx_str_t                       v, *aud, *params;
    ngx_uint_t                      k;
    ngx_http_foundry_introspect_t  *ic;

    ic = ia->ic;
    params = ngx_http_foundry_introspect_params;

    for (k = 0; params[k].len; k++) {
        if (ngx_strncmp(arg->data, params[k].data, params[k].len) == 0) {
            break;
        }
    }

    if (params[k].len == 0) {
        return NGX_ABORT;
    }

    v.data = arg->data + params[k].len;
    v.len = arg->len - params[k].len;

    switch (k) {

    case 0:
        ic->client_id = v;
        break;

    case 1:
        ia->file = v;
        break;

    case 2:
        ic->issuer = v;
        break;

    case 3:
        if (ic->audiences == NULL) {
            ic->audiences = ngx_array_create(cf->pool, 2,
                                             sizeof(ngx_str_t));
            if (ic->audiences == NULL) {
                return NGX_ERROR;
            }
        }

        aud = ngx_array_push(ic->audiences);
        if (aud == NULL) {
            return NGX_ERROR;
        }

        *aud = v;
        break;

    default: /* cache=, inactive_cache= */
        t = (k == 4) ? &ic->cache : &ic->inactive_cache;
        *t = ngx_parse_time(&v, 1);

        if (*t == (time_t) NGX_ERROR || (*t == 0 && k == 4)) {
            v.len = 0;
        }
    }

    if (v.len == 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the gateway's client credentials as an Authorization header's value */

static ngx_int_t
ngx_http_foundry_introspect_basic(ngx_conf_t *cf,
    ngx_http_foundry_introspect_t *ic, ngx_str_t *secret)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   v, plain;

    len = 3 * (ic->client_id.len + secret->len) + 1;

    plain.data = ngx_pnalloc(cf->temp_pool, len);
    if (plain.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_foundry_form_escape(plain.data, &ic->client_id);
    *p++ = ':';
    p = ngx_http_foundry_form_escape(p, secret);
    plain.len = p - plain.data;

    ic->basic.len = sizeof("Basic ") - 1 + ngx_base64_encoded_length(plain.len);
    ic->basic.data = ngx_pnalloc(cf->pool, ic->basic.len);
    if (ic->basic.data == NULL) {
        return NGX_ERROR;
    }

    v.data = ngx_cpymem(ic->basic.data, "Basic ", sizeof("Basic ") - 1);
    ngx_encode_base64(&v, &plain);

    ngx_explicit_memzero(plain.data, len);
    ngx_explicit_memzero(secret->data, secret->len);

    return NGX_OK;
}


/* the gateway's client secret: the file's first line, never logged */

static ngx_int_t
ngx_http_foundry_introspect_secret(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *secret)
{
    u_char     *end;
    ngx_str_t   name, text;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_foundry_read_file(cf, &name, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    end = ngx_strlchr(text.data, text.data + text.len, '\n');

    if (end == NULL) {
        end = text.data + text.len;
    }

    while (end > text.data && (end[-1] == '\r' || end[-1] == ' ')) {
        end--;
    }

    secret->data = text.data;
    secret->len = end - text.data;

    if (secret->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the client secret file \"%V\" is empty", &name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * At merge: the answers are kept in foundry_jwt_zone; and an opaque
 * bearer token must not be taken for a key in the same location.
 */

ngx_int_t
ngx_http_foundry_introspect_check_conf(ngx_conf_t *cf,
    ngx_http_foundry_loc_conf_t *conf)
{
    ngx_uint_t                      i;
    ngx_http_foundry_main_conf_t   *fmcf;
    ngx_http_foundry_key_source_t  *src;

    if (conf->access->introspect == NULL || !conf->enable) {
        return NGX_OK;
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    if (fmcf->jwt == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"foundry_token_introspection\" keeps its answers "
                           "in \"foundry_jwt_zone\": the zone is needed");
        return NGX_ERROR;
    }

    if (!(conf->access->auth & NGX_HTTP_FOUNDRY_AUTH_KEY)) {
        return NGX_OK;
    }

    src = conf->access->key_sources->elts;

    for (i = 0; i < conf->access->key_sources->nelts; i++) {
        if (src[i].type == NGX_HTTP_FOUNDRY_SRC_BEARER
            || (src[i].type == NGX_HTTP_FOUNDRY_SRC_CONFIG
                && conf->auth_header.len == sizeof("Authorization") - 1
                && ngx_strncasecmp(conf->auth_header.data,
                                   (u_char *) "Authorization",
                                   conf->auth_header.len)
                   == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"foundry_token_introspection\" cannot be "
                               "used where keys come in the Authorization "
                               "header: an opaque bearer token would be "
                               "taken for a key");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
