
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_credentials.h"


/*
 * The verdict on a credential refused, for keys and tokens alike: 401,
 * the reason (foundry_auth_failures_total), the error that the error
 * filter answers (JSON), and the WWW-Authenticate challenge when
 * there is one.  Access modules' 401 lets "satisfy any" work.
 */

ngx_int_t
ngx_http_foundry_auth_deny(ngx_http_request_t *r, ngx_http_foundry_ctx_t *ctx,
    const char *failure, const char *message, const char *challenge)
{
    ngx_table_elt_t  *h;

    ctx->auth_failure = failure;
    ctx->error_code = "Unauthorized";
    ctx->error_message = message;

    if (challenge && r->headers_out.www_authenticate == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        h->value.data = (u_char *) challenge;
        h->value.len = ngx_strlen(challenge);

        r->headers_out.www_authenticate = h;
    }

    return NGX_HTTP_UNAUTHORIZED;
}


/*
 * The verdict on a credential accepted that may not use a deployment or
 * an operation ("what"): 403
 */

ngx_int_t
ngx_http_foundry_auth_forbid(ngx_http_request_t *r,
    ngx_http_foundry_ctx_t *ctx, const char *what, ngx_str_t *name)
{
    ctx->auth_failure = what;

    return ngx_http_foundry_error(r, NGX_HTTP_FORBIDDEN, "Forbidden",
                                  "%s may not use the %s \"%V\"",
                                  ctx->key ? "the key" : "the token", what,
                                  name);
}
