
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_oauth2.h"


/*
 * A token request read: the form's fields, the client's credentials in
 * the form or by HTTP Basic, form-urlencoding, and scope parameters.  Only
 * pools; nothing here logs.
 */


static ngx_int_t ngx_http_foundry_oauth2_fields(ngx_pool_t *pool,
    ngx_str_t *body, ngx_http_foundry_oauth2_req_t *req, ngx_uint_t *have_id,
    ngx_uint_t *have_secret, const char **description);
static ngx_int_t ngx_http_foundry_oauth2_basic(ngx_pool_t *pool,
    ngx_str_t *authorization, ngx_http_foundry_oauth2_req_t *req,
    ngx_uint_t have_id, ngx_uint_t have_secret, const char **err,
    const char **description);
static ngx_int_t ngx_http_foundry_oauth2_decode(ngx_pool_t *pool,
    u_char *p, u_char *last, ngx_str_t *out);


/*
 * The form (RFC 6749 2.3.1, 4.4.2, appendix B) and HTTP Basic client
 * credentials: NGX_OK, NGX_DECLINED with an error code and a description
 * safe to send, or NGX_ERROR.  A parameter twice, two ways of client
 * authentication, or a bad encoding is "invalid_request".
 */

ngx_int_t
ngx_http_foundry_oauth2_parse(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *authorization, ngx_http_foundry_oauth2_req_t *req,
    const char **err, const char **description)
{
    ngx_int_t   rc;
    ngx_uint_t  have_id, have_secret;

    ngx_memzero(req, sizeof(ngx_http_foundry_oauth2_req_t));

    *err = "invalid_request";
    have_id = 0;
    have_secret = 0;

    rc = ngx_http_foundry_oauth2_fields(pool, body, req, &have_id,
                                        &have_secret, description);
    if (rc != NGX_OK) {
        return rc;
    }

    if (req->grant_type.len == 0) {
        *description = "\"grant_type\" is missing";
        return NGX_DECLINED;
    }

    if (authorization->len) {
        rc = ngx_http_foundry_oauth2_basic(pool, authorization, req, have_id,
                                           have_secret, err, description);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (req->client_id.len == 0 || req->client_secret.len == 0) {
        *err = "invalid_client";
        *description = "no client credentials";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the form's fields */

static ngx_int_t
ngx_http_foundry_oauth2_fields(ngx_pool_t *pool, ngx_str_t *body,
    ngx_http_foundry_oauth2_req_t *req, ngx_uint_t *have_id,
    ngx_uint_t *have_secret, const char **description)
{
    u_char     *p, *last, *start, *eq;
    ngx_int_t   rc;
    ngx_str_t   name, value, *field;

    p = body->data;
    last = body->data + body->len;

    while (p < last) {
        start = p;

        while (p < last && *p != '&') {
            p++;
        }

        if (p == start) {
            p++;
            continue;
        }

        eq = ngx_strlchr(start, p, '=');

        rc = ngx_http_foundry_oauth2_decode(pool, start, eq ? eq : p, &name);
        if (rc != NGX_OK) {
            goto bad_encoding;
        }

        if (eq) {
            rc = ngx_http_foundry_oauth2_decode(pool, eq + 1, p, &value);
            if (rc != NGX_OK) {
                goto bad_encoding;
            }

        } else {
            ngx_str_null(&value);
        }

        if (p < last) {
            p++;
        }

        field = NULL;

        if (name.len == 10 && ngx_strncmp(name.data, "grant_type", 10) == 0) {
            field = &req->grant_type;

        } else if (name.len == 9
                   && ngx_strncmp(name.data, "client_id", 9) == 0)
        {
            field = &req->client_id;
            (*have_id)++;

        } else if (name.len == 13
                   && ngx_strncmp(name.data, "client_secret", 13) == 0)
        {
            field = &req->client_secret;
            (*have_secret)++;

        } else if (name.len == 5 && ngx_strncmp(name.data, "scope", 5) == 0) {
            field = &req->scope;
            req->has_scope++;
        }

        if (field == NULL) {
            continue;           /* RFC 6749 3.2: unknown ones are ignored */
        }

        if (field->data) {
            *description = "a parameter is repeated";
            return NGX_DECLINED;
        }

        *field = value;

        if (field->data == NULL) {
            field->data = (u_char *) "";
        }
    }

    return NGX_OK;

bad_encoding:

    *description = "the form is badly encoded";
    return NGX_DECLINED;
}


/* HTTP Basic: base64 of the form-encoded id, ":", the secret */

static ngx_int_t
ngx_http_foundry_oauth2_basic(ngx_pool_t *pool, ngx_str_t *authorization,
    ngx_http_foundry_oauth2_req_t *req, ngx_uint_t have_id,
    ngx_uint_t have_secret, const char **err, const char **description)
{
    u_char     *colon;
    ngx_str_t   name, value, raw, dec;

    if (authorization->len <= sizeof("Basic ") - 1
        || ngx_strncasecmp(authorization->data, (u_char *) "Basic ",
                           sizeof("Basic ") - 1)
           != 0)
    {
        *err = "invalid_client";
        *description = "the Authorization header is not Basic";
        return NGX_DECLINED;
    }

    if (have_secret) {
        *description = "the client authenticates two ways";
        return NGX_DECLINED;
    }

    raw.data = authorization->data + sizeof("Basic ") - 1;
    raw.len = authorization->len - (sizeof("Basic ") - 1);

    while (raw.len && raw.data[0] == ' ') {
        raw.data++;
        raw.len--;
    }

    dec.data = ngx_pnalloc(pool, ngx_base64_decoded_length(raw.len) + 1);
    if (dec.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64(&dec, &raw) != NGX_OK) {
        *err = "invalid_client";
        *description = "the Basic credentials are not base64";
        return NGX_DECLINED;
    }

    colon = ngx_strlchr(dec.data, dec.data + dec.len, ':');

    if (colon == NULL) {
        *err = "invalid_client";
        *description = "the Basic credentials have no \":\"";
        return NGX_DECLINED;
    }

    if (ngx_http_foundry_oauth2_decode(pool, dec.data, colon, &name)
        != NGX_OK
        || ngx_http_foundry_oauth2_decode(pool, colon + 1,
                                          dec.data + dec.len, &value)
           != NGX_OK)
    {
        ngx_explicit_memzero(dec.data, dec.len);
        *err = "invalid_client";
        *description = "the Basic credentials are badly encoded";
        return NGX_DECLINED;
    }

    ngx_explicit_memzero(dec.data, dec.len);

    if (have_id
        && (req->client_id.len != name.len
            || ngx_strncmp(req->client_id.data, name.data, name.len)
               != 0))
    {
        *description = "two different client ids";
        return NGX_DECLINED;
    }

    req->client_id = name;
    req->client_secret = value;
    req->basic = 1;

    return NGX_OK;
}


/* application/x-www-form-urlencoded: "+" is a space, %XX a byte */

static ngx_int_t
ngx_http_foundry_oauth2_decode(ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_str_t *out)
{
    u_char  *d, c, h;

    out->data = ngx_pnalloc(pool, (last - p) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    d = out->data;

    while (p < last) {
        c = *p++;

        if (c == '+') {
            *d++ = ' ';
            continue;
        }

        if (c != '%') {
            *d++ = c;
            continue;
        }

        if (last - p < 2) {
            return NGX_DECLINED;
        }

        c = 0;

        for (h = 0; h < 2; h++) {
            c <<= 4;

            if (*p >= '0' && *p <= '9') {
                c |= *p - '0';

            } else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') {
                c |= (*p | 0x20) - 'a' + 10;

            } else {
                return NGX_DECLINED;
            }

            p++;
        }

        *d++ = c;
    }

    out->len = d - out->data;

    /* control bytes have no place in ids, secrets and scopes */

    for (p = out->data; p < d; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * A scope parameter (RFC 6749 3.3): scopes of %x21 / %x23-5B / %x5D-7E
 * separated by single spaces; duplicates are dropped.
 */

ngx_int_t
ngx_http_foundry_oauth2_scopes(ngx_str_t *text, ngx_str_t *out,
    ngx_uint_t max, ngx_uint_t *n)
{
    u_char      *p, *last, *start;
    ngx_uint_t   i;

    *n = 0;
    p = text->data;
    last = text->data + text->len;

    while (p < last) {
        start = p;

        while (p < last && *p != ' ') {
            if (*p < 0x21 || *p == '"' || *p == '\\' || *p > 0x7e) {
                return NGX_DECLINED;
            }

            p++;
        }

        if (p == start) {
            return NGX_DECLINED;
        }

        for (i = 0; i < *n; i++) {
            if (out[i].len == (size_t) (p - start)
                && ngx_strncmp(out[i].data, start, p - start) == 0)
            {
                break;
            }
        }

        if (i == *n) {
            if (*n == max) {
                return NGX_DECLINED;
            }

            out[*n].data = start;
            out[*n].len = p - start;
            (*n)++;
        }

        if (p < last) {
            p++;

            if (p == last) {
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}
