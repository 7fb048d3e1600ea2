
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


static ngx_str_t  ngx_http_foundry_json_type =
    ngx_string("application/json");


static const char *
ngx_http_foundry_error_type(ngx_uint_t status)
{
    switch (status) {

    case NGX_HTTP_UNAUTHORIZED:
        return "authentication_error";

    case NGX_HTTP_FORBIDDEN:
        return "permission_error";

    case NGX_HTTP_NOT_FOUND:
        return "not_found_error";

    case 429:
        return "rate_limit_error";

    default:
        return status >= NGX_HTTP_INTERNAL_SERVER_ERROR
               ? "server_error" : "invalid_request_error";
    }
}


/*
 * Answers {"error":{"code":...,"message":...,"type":...}} and finalizes the
 * request; returns NGX_DONE.  The message is printed with nginx's formatter
 * and escaped for JSON; callers only put validated or configured strings in
 * it.
 */

ngx_int_t
ngx_http_foundry_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    u_char   *last, msg[NGX_MAX_ERROR_STR];
    va_list   args;

    va_start(args, fmt);
    last = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    return ngx_http_foundry_finish(r,
               ngx_http_foundry_send_error(r, status, code, msg, last - msg));
}


/* the same, for content handlers: sends, returns what to finalize with */

ngx_int_t
ngx_http_foundry_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, u_char *msg, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_http_foundry_error_body(r, status, code, msg, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_foundry_send_json(r, status, &out, b->last - b->pos);
}


ngx_buf_t *
ngx_http_foundry_error_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, u_char *msg, size_t len)
{
    u_char      *p;
    size_t       size;
    ngx_buf_t   *b;
    const char  *type;

    type = ngx_http_foundry_error_type(status);

    size = sizeof("{\"error\":{\"code\":\"\",\"message\":\"\",\"type\":\"\"}}")
           - 1 + ngx_strlen(code) + ngx_strlen(type)
           + len + ngx_escape_json(NULL, msg, len);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->last, "{\"error\":{\"code\":\"",
                   sizeof("{\"error\":{\"code\":\"") - 1);
    p = ngx_cpymem(p, code, ngx_strlen(code));
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, msg, len);
    p = ngx_cpymem(p, "\",\"type\":\"", sizeof("\",\"type\":\"") - 1);
    p = ngx_cpymem(p, type, ngx_strlen(type));
    p = ngx_cpymem(p, "\"}}", sizeof("\"}}") - 1);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return b;
}


ngx_int_t
ngx_http_foundry_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, off_t len)
{
    ngx_int_t  rc;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_foundry_json_type;
    r->headers_out.content_type_len = ngx_http_foundry_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* ends a request answered from a phase handler */

ngx_int_t
ngx_http_foundry_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}
