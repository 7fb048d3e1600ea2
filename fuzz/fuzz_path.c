
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the input as the path below a gateway's target, as
 * the precontent handler sees it.  ngx_http_foundry_classify() tells the
 * discovery endpoints (those ApiManagement implies, an OpenAI pair, and a
 * pair with a suffix after the name) from inference calls, whose path
 * ngx_http_foundry_split_path() and ngx_http_foundry_valid_op() take
 * apart, with the deployment in the path (with and without a connection
 * name) and in the body.
 *
 * What comes out must lie within the path, an operation accepted has no
 * empty or dot segments, and a deployment named in the path is followed
 * by its operation.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


#define NGX_FUZZ_MAX_PATH  4096


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_split_path(ngx_str_t *rest, ngx_flag_t in_path,
    ngx_str_t *connection);
static void ngx_fuzz_within(ngx_str_t *s, ngx_str_t *rest);


static ngx_log_t                    *ngx_fuzz_log;
static ngx_pool_t                   *ngx_fuzz_conf_pool;
static ngx_array_t                   ngx_fuzz_discovery;
static ngx_http_foundry_loc_conf_t   ngx_fuzz_flcf;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_str_t                      list, get;
    ngx_conf_t                     cf;
    ngx_uint_t                     i;
    ngx_http_foundry_discovery_t  *d;

    static struct {
        char        *list;
        char        *get;
        ngx_uint_t   format;
    } endpoints[] = {
        { "/deployments", "/deployments/{deploymentName}",
          NGX_HTTP_FOUNDRY_FORMAT_AZURE },
        { "/models", "/models/{deploymentName}",
          NGX_HTTP_FOUNDRY_FORMAT_OPENAI },
        { "/v1/deployments", "/v1/deployments/{deploymentName}/info",
          NGX_HTTP_FOUNDRY_FORMAT_AZURE },
        { NULL, NULL, 0 }
    };

    ngx_fuzz_log = ngx_fuzz_init();

    ngx_fuzz_conf_pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (ngx_fuzz_conf_pool == NULL
        || ngx_array_init(&ngx_fuzz_discovery, ngx_fuzz_conf_pool, 4,
                          sizeof(ngx_http_foundry_discovery_t))
           != NGX_OK)
    {
        abort();
    }

    /* the discovery endpoints, as foundry_model_discovery sets them */

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = ngx_fuzz_conf_pool;
    cf.temp_pool = ngx_fuzz_conf_pool;
    cf.log = ngx_fuzz_log;

    for (i = 0; endpoints[i].list; i++) {
        d = ngx_array_push(&ngx_fuzz_discovery);
        if (d == NULL) {
            abort();
        }

        list.data = (u_char *) endpoints[i].list;
        list.len = ngx_strlen(list.data);
        get.data = (u_char *) endpoints[i].get;
        get.len = ngx_strlen(get.data);

        if (ngx_http_foundry_parse_discovery(&cf, d, &list, &get,
                                             endpoints[i].format)
            != NGX_OK)
        {
            abort();
        }
    }

    ngx_fuzz_flcf.discovery = &ngx_fuzz_discovery;
    ngx_str_set(&ngx_fuzz_flcf.prefix, "/openai");

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                  *copy;
    ngx_str_t                rest, connection, none;
    ngx_pool_t              *pool;
    ngx_http_request_t      *r;
    ngx_http_foundry_ctx_t   ctx;

    if (size > NGX_FUZZ_MAX_PATH) {
        return 0;
    }

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    r = ngx_fuzz_request(pool);

    /* a buffer of its own, so that ASan sees reads past the path */

    copy = ngx_pnalloc(pool, size ? size : 1);
    if (r == NULL || copy == NULL) {
        abort();
    }

    ngx_memcpy(copy, data, size);

    rest.data = copy;
    rest.len = size;

    ngx_memzero(&ctx, sizeof(ngx_http_foundry_ctx_t));

    if (ngx_http_foundry_classify(r, &ngx_fuzz_flcf, &ctx, &rest) == NGX_OK) {

        if (ctx.discovery == NULL) {
            abort();
        }

        if (ctx.kind == NGX_HTTP_FOUNDRY_REQ_GET) {
            ngx_fuzz_within(&ctx.name, &rest);

            if (ctx.name.len == 0
                || ngx_strlchr(ctx.name.data, ctx.name.data + ctx.name.len,
                               '/'))
            {
                abort();
            }

            /* what the handler does with the name next */

            (void) ngx_http_foundry_valid_name(&ctx.name);

        } else if (ctx.kind != NGX_HTTP_FOUNDRY_REQ_LIST
                   || rest.len != ctx.discovery->list.len)
        {
            abort();
        }
    }

    ngx_str_set(&connection, "my-connection");
    ngx_str_null(&none);

    ngx_fuzz_split_path(&rest, 0, &none);
    ngx_fuzz_split_path(&rest, 1, &none);
    ngx_fuzz_split_path(&rest, 1, &connection);

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_split_path(ngx_str_t *rest, ngx_flag_t in_path,
    ngx_str_t *connection)
{
    u_char      *p;
    ngx_int_t    rc;
    ngx_str_t    name, op;
    const char  *err;

    ngx_str_null(&name);
    ngx_str_null(&op);
    err = NULL;

    rc = ngx_http_foundry_split_path(rest, in_path, connection, &name, &op,
                                     &err);

    if (rc != NGX_OK) {
        if (rc != NGX_DECLINED || err == NULL || !in_path) {
            abort();
        }

        return;
    }

    if (rest->len) {
        ngx_fuzz_within(&op, rest);
    }

    if (in_path && name.data == NULL) {

        /* an operation whose deployment is in the body, on a path target */

        if (!((op.len == 9 && ngx_strncmp(op.data, "responses", 9) == 0)
              || (op.len == 11
                  && ngx_strncmp(op.data, "moderations", 11) == 0)))
        {
            abort();
        }

    } else if (in_path) {
        ngx_fuzz_within(&name, rest);

        if (name.data + name.len >= rest->data + rest->len
            || name.data[name.len] != '/'
            || op.data != name.data + name.len + 1
            || ngx_strlchr(name.data, name.data + name.len, '/'))
        {
            abort();
        }

    } else if (name.len != 0) {
        abort();
    }

    if (ngx_http_foundry_valid_op(&op) != NGX_OK) {
        return;
    }

    /* no empty, "." or ".." segment, nothing but safe bytes */

    if (op.len == 0 || op.len > 512 || op.data[0] == '/'
        || op.data[op.len - 1] == '/')
    {
        abort();
    }

    for (p = op.data; p < op.data + op.len; p++) {
        if (*p == '/' && p[1] == '/') {
            abort();
        }

        if (*p == '.' && (p == op.data || p[-1] == '/')
            && (p + 1 == op.data + op.len || p[1] == '/'
                || (p[1] == '.'
                    && (p + 2 == op.data + op.len || p[2] == '/'))))
        {
            abort();
        }

        if (*p == '%' || *p == '?' || *p == '#' || *p == '\\' || *p <= ' '
            || *p >= 0x7f)
        {
            abort();
        }
    }

    (void) ngx_http_foundry_valid_name(&name);
}


static void
ngx_fuzz_within(ngx_str_t *s, ngx_str_t *rest)
{
    if (s->data < rest->data
        || s->data + s->len > rest->data + rest->len)
    {
        abort();
    }
}
