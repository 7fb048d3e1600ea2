
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/*
 * A GET to an internal location whose answer the module reads (discovery
 * sources, key sets): the answer is collected here, up to "max" bytes,
 * rather than by nginx's in-memory subrequests, whose overflow ends the
 * client's request.  Returns NGX_OK or NGX_ERROR.
 */

ngx_int_t
ngx_http_foundry_subrequest(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_http_post_subrequest_t *ps, size_t max,
    ngx_http_foundry_collect_t **collect)
{
    ngx_http_request_t          *sr;
    ngx_http_foundry_collect_t  *c;

    c = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_collect_t));
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->max = max;

    if (ngx_http_subrequest(r, uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(sr, c, ngx_http_foundry_module);

    /* a plain GET: not the client's method, body or body headers */

    sr->method = NGX_HTTP_GET;
    ngx_str_set(&sr->method_name, "GET");

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.chunked = 0;

    sr->filter_need_in_memory = 1;

    *collect = c;

    return NGX_OK;
}


/* appends one buffer's bytes (memory or file) to the collected answer */

ngx_int_t
ngx_http_foundry_collect(ngx_http_request_t *r, ngx_http_foundry_collect_t *c,
    ngx_chain_t *in)
{
    off_t                      size, len;
    ssize_t                    n;
    ngx_buf_t                 *b, *nb;
    ngx_http_core_loc_conf_t  *clcf;

    /* the limit is the source location's subrequest_output_buffer_size */

    if (!c->limited) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        c->max = ngx_min(c->max, clcf->subrequest_output_buffer_size);
        c->limited = 1;
    }

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (b->last_buf || b->last_in_chain) {
            c->done = 1;
        }

        size = ngx_buf_size(b);

        if (size <= 0 || c->too_large) {
            goto consumed;
        }

        if (c->buf == NULL) {
            /* as long as the answer says it is, if it fits */

            len = r->headers_out.content_length_n;

            if (len < size || len > (off_t) ngx_min(c->max, 65536)) {
                len = ngx_min(c->max, 65536);
            }

            c->buf = ngx_create_temp_buf(r->pool, (size_t) len);
            if (c->buf == NULL) {
                return NGX_ERROR;
            }
        }

        if (c->buf->end - c->buf->last < size) {
            if ((c->buf->last - c->buf->pos) + size > (off_t) c->max) {
                c->too_large = 1;
                goto consumed;
            }

            nb = ngx_create_temp_buf(r->pool,
                                     ngx_min(c->max,
                                             (size_t) (2 * (c->buf->last
                                                            - c->buf->pos
                                                            + size))));
            if (nb == NULL) {
                return NGX_ERROR;
            }

            nb->last = ngx_cpymem(nb->last, c->buf->pos,
                                  c->buf->last - c->buf->pos);
            c->buf = nb;
        }

        if (ngx_buf_in_memory(b)) {
            c->buf->last = ngx_cpymem(c->buf->last, b->pos, size);

        } else {
            n = ngx_read_file(b->file, c->buf->last, size, b->file_pos);

            if (n != size) {
                c->too_large = 1;
                goto consumed;
            }

            c->buf->last += n;
        }

    consumed:

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    return NGX_OK;
}
