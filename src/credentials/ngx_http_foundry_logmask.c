
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"
#include "ngx_http_foundry_deployments.h"


/*
 * Credentials in nginx's own log lines.  The error-log writer of
 * ngx_http_foundry_args.c passes every line, at every level, through
 * ngx_http_foundry_logmask_text() before it is written:
 *
 *   - "Name: value" of a header that carries a credential is masked where
 *     a line quotes it: nginx's debug lines of the request's headers
 *     ("http header:"), of what the proxy module sends upstream ("http
 *     proxy header:"), and its info lines of a refused header line ("client
 *     sent too long header line:").  The headers: api-key, Authorization,
 *     Proxy-Authorization, Ocp-Apim-Subscription-Key, x-api-key, and every
 *     foundry_auth_config and foundry_key_source header= name of the http
 *     block; an Authorization's scheme ("Bearer") is kept;
 *
 *   - the upstream credentials' values are masked wherever they appear
 *     (the debug line "http script var:" of proxy_set_header, say): the
 *     static ones of foundry_upstream from the configuration, those that
 *     variables give as requests compute them ($foundry_upstream_api_key,
 *     $foundry_upstream_authorization, the tokens of src/identity/), kept
 *     by each worker in a table of its own.
 */


#define NGX_HTTP_FOUNDRY_SECRETS      16
#define NGX_HTTP_FOUNDRY_SECRET_LEN   8192

/* shorter values are not masked: they would mask ordinary words */
#define NGX_HTTP_FOUNDRY_SECRET_MIN   8


typedef struct {
    size_t                          len;
    u_char                          data[NGX_HTTP_FOUNDRY_SECRET_LEN];
} ngx_http_foundry_secret_t;


static void ngx_http_foundry_logmask_headers(u_char *p, u_char *last,
    ngx_array_t *headers);
static void ngx_http_foundry_logmask_values(u_char *p, u_char *last);
static ngx_int_t ngx_http_foundry_logmask_static(ngx_conf_t *cf,
    ngx_http_complex_value_t *cv);


static ngx_str_t  ngx_http_foundry_credential_headers[] = {
    ngx_string("api-key"),
    ngx_string("Authorization"),
    ngx_string("Proxy-Authorization"),
    ngx_string("Ocp-Apim-Subscription-Key"),
    ngx_string("x-api-key"),
    ngx_null_string
};


/* the worker's table of credential values, filled round-robin */
static ngx_http_foundry_secret_t  ngx_http_foundry_secrets[
                                                  NGX_HTTP_FOUNDRY_SECRETS];
static ngx_uint_t                 ngx_http_foundry_secrets_n;
static ngx_uint_t                 ngx_http_foundry_secrets_next;
/* how many values have entered the table (ngx_http_foundry_logmask_keep) */
ngx_uint_t                        ngx_http_foundry_secrets_written;


/* configuration: a header name that carries a credential */

ngx_int_t
ngx_http_foundry_logmask_add_header(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_str_t                     *s;
    ngx_uint_t                     i;
    ngx_http_foundry_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    if (fmcf->logmask->mask_headers == NULL) {
        fmcf->logmask->mask_headers = ngx_array_create(cf->pool, 8,
                                                       sizeof(ngx_str_t));
        if (fmcf->logmask->mask_headers == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; ngx_http_foundry_credential_headers[i].len; i++) {
            s = ngx_array_push(fmcf->logmask->mask_headers);
            if (s == NULL) {
                return NGX_ERROR;
            }

            *s = ngx_http_foundry_credential_headers[i];
        }
    }

    if (name == NULL) {
        return NGX_OK;
    }

    s = fmcf->logmask->mask_headers->elts;

    for (i = 0; i < fmcf->logmask->mask_headers->nelts; i++) {
        if (s[i].len == name->len
            && ngx_strncasecmp(s[i].data, name->data, name->len) == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(fmcf->logmask->mask_headers);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *name;

    return NGX_OK;
}


/*
 * postconfiguration: the default header names, and the upstream
 * credentials that are written in the configuration as they are
 */

ngx_int_t
ngx_http_foundry_logmask_init(ngx_conf_t *cf)
{
    ngx_uint_t                     i;
    ngx_http_foundry_upstream_t   *u;
    ngx_http_foundry_main_conf_t  *fmcf;

    if (ngx_http_foundry_logmask_add_header(cf, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_foundry_module);

    u = fmcf->upstreams.elts;

    for (i = 0; i < fmcf->upstreams.nelts; i++) {
        if (ngx_http_foundry_logmask_static(cf, u[i].api_key) != NGX_OK
            || ngx_http_foundry_logmask_static(cf, u[i].bearer) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_logmask_static(ngx_conf_t *cf, ngx_http_complex_value_t *cv)
{
    if (cv == NULL || cv->lengths != NULL) {
        return NGX_OK;
    }

    if (cv->value.len > NGX_HTTP_FOUNDRY_SECRET_LEN) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "an upstream credential of more than %d bytes "
                           "is not masked in nginx's debug log lines",
                           NGX_HTTP_FOUNDRY_SECRET_LEN);
        return NGX_OK;
    }

    ngx_http_foundry_logmask_secret(&cv->value);

    return NGX_OK;
}


/*
 * A credential value a request computed: kept, unless the table has it,
 * in the slot of the oldest.  Values over the slot's size are not kept.
 */

void
ngx_http_foundry_logmask_secret(ngx_str_t *value)
{
    ngx_uint_t                  i;
    ngx_http_foundry_secret_t  *s;

    if (value->len < NGX_HTTP_FOUNDRY_SECRET_MIN
        || value->len > NGX_HTTP_FOUNDRY_SECRET_LEN)
    {
        return;
    }

    for (i = 0; i < ngx_http_foundry_secrets_n; i++) {
        s = &ngx_http_foundry_secrets[i];

        if (s->len == value->len
            && ngx_memcmp(s->data, value->data, value->len) == 0)
        {
            return;
        }
    }

    s = &ngx_http_foundry_secrets[ngx_http_foundry_secrets_next];

    ngx_explicit_memzero(s->data, s->len);
    ngx_memcpy(s->data, value->data, value->len);
    s->len = value->len;

    ngx_http_foundry_secrets_next = (ngx_http_foundry_secrets_next + 1)
                                    % NGX_HTTP_FOUNDRY_SECRETS;
    ngx_http_foundry_secrets_written++;

    if (ngx_http_foundry_secrets_n < NGX_HTTP_FOUNDRY_SECRETS) {
        ngx_http_foundry_secrets_n++;
    }
}


/* a log line, before it is written */

void
ngx_http_foundry_logmask_text(u_char *p, u_char *last, ngx_array_t *headers)
{
    if (headers) {
        ngx_http_foundry_logmask_headers(p, last, headers);
    }

    if (ngx_http_foundry_secrets_n) {
        ngx_http_foundry_logmask_values(p, last);
    }
}


/*
 * "Name: value" where Name begins the line, a quoted string or a line of
 * a quoted request ('"', '\n', or a blank before it): the value up to a
 * quote or the end of the line is overwritten with '*', after the scheme
 * of an Authorization ("Bearer ") when there is one
 */

static void
ngx_http_foundry_logmask_headers(u_char *p, u_char *last,
    ngx_array_t *headers)
{
    u_char      *start, *colon, *v, *e;
    ngx_str_t   *h;
    ngx_uint_t   i;

    h = headers->elts;

    for (colon = p; colon < last; colon++) {

        if (*colon != ':') {
            continue;
        }

        for (start = colon; start > p; start--) {
            if (start[-1] == '"' || start[-1] == '\n' || start[-1] == ' '
                || start[-1] == '\t')
            {
                break;
            }
        }

        for (i = 0; i < headers->nelts; i++) {
            if ((size_t) (colon - start) == h[i].len
                && ngx_strncasecmp(start, h[i].data, h[i].len) == 0)
            {
                break;
            }
        }

        if (i == headers->nelts) {
            continue;
        }

        for (v = colon + 1; v < last && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }

        /* the scheme of an authorization is no secret */

        for (e = v; e < last && e - v < 16
                    && ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z'));
             e++)
        {
            /* void */
        }

        if (e > v && e < last && *e == ' ') {
            v = e + 1;
        }

        for ( /* void */ ; v < last; v++) {
            if (*v == '"' || *v == '\r' || *v == '\n') {
                break;
            }

            *v = '*';
        }

        colon = v;
    }
}


/* every credential value the worker knows, wherever it appears */

static void
ngx_http_foundry_logmask_values(u_char *p, u_char *last)
{
    u_char                     *m, *from;
    ngx_uint_t                  i;
    ngx_http_foundry_secret_t  *s;

    for (i = 0; i < ngx_http_foundry_secrets_n; i++) {
        s = &ngx_http_foundry_secrets[i];

        from = p;

        while ((size_t) (last - from) >= s->len) {
            m = ngx_http_foundry_memmem(from, last, s->data, s->len);

            if (m == NULL) {
                break;
            }

            ngx_memset(m, '*', s->len);
            from = m + s->len;
        }
    }
}
