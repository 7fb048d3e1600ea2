
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_accounting.h"
#include "ngx_http_foundry_content.h"
#include "ngx_http_foundry_identity.h"


#define NGX_HTTP_FOUNDRY_CT_VAR_VERDICT    0
#define NGX_HTTP_FOUNDRY_CT_VAR_REASON     1
#define NGX_HTTP_FOUNDRY_CT_VAR_CACHE      2
#define NGX_HTTP_FOUNDRY_CT_VAR_A_VERDICT  3
#define NGX_HTTP_FOUNDRY_CT_VAR_A_REASON   4

/* why the model's answer could not be checked: the checker failed, the
 * answer is not JSON, it is over answer_max, its text over max_text */
#define NGX_HTTP_FOUNDRY_CT_F_CHECKER      0
#define NGX_HTTP_FOUNDRY_CT_F_JSON         1
#define NGX_HTTP_FOUNDRY_CT_F_SIZE         2
#define NGX_HTTP_FOUNDRY_CT_F_TEXT         3


/* one call to the checker */

typedef struct ngx_http_foundry_ct_call_s  ngx_http_foundry_ct_call_t;


struct ngx_http_foundry_ct_call_s {
    ngx_http_foundry_ct_check_t    *check;
    ngx_http_request_t             *sr;
    ngx_http_foundry_ct_call_t     *next;
    ngx_uint_t                      kind;
    ngx_uint_t                      done;

    /* the subrequest's parts, allocated with the call */
    ngx_http_foundry_collect_t      collect;
    ngx_http_post_subrequest_t      ps;
    ngx_http_request_body_t         body;
    ngx_buf_t                       buf;
    ngx_chain_t                     cl;
};


static ngx_int_t ngx_http_foundry_ct_start(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_ct_ask(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_http_foundry_ctx_t *ctx);
static ngx_int_t ngx_http_foundry_ct_reply_start(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk);
static ngx_int_t ngx_http_foundry_ct_reply_verdict(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk);
static ngx_int_t ngx_http_foundry_ct_calls(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_http_foundry_ct_text_t *t,
    ngx_str_t *bearer);
static ngx_int_t ngx_http_foundry_ct_call(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_uint_t kind, ngx_str_t *body,
    ngx_str_t *bearer);
static ngx_table_elt_t *ngx_http_foundry_ct_header(ngx_http_request_t *sr,
    ngx_table_elt_t *header);
static size_t ngx_http_foundry_ct_chunk(ngx_str_t *s);
static ngx_int_t ngx_http_foundry_ct_json(ngx_pool_t *pool, ngx_str_t *out,
    const char *a, ngx_str_t *s1, ngx_http_foundry_ct_text_t *t,
    const char *b, ngx_str_t *s2, const char *c);
static u_char *ngx_http_foundry_ct_quote(u_char *p, ngx_str_t *s, size_t e,
    size_t lines);
static ngx_int_t ngx_http_foundry_ct_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
static void ngx_http_foundry_ct_resume(ngx_http_foundry_ct_check_t *chk);
static void ngx_http_foundry_ct_timeout(ngx_event_t *ev);
static void ngx_http_foundry_ct_cleanup(void *data);
static ngx_int_t ngx_http_foundry_ct_verdict(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk);
static ngx_int_t ngx_http_foundry_ct_judge(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk);
static ngx_int_t ngx_http_foundry_ct_failed(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk);
static ngx_int_t ngx_http_foundry_ct_reply_failed(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_uint_t why);
static ngx_int_t ngx_http_foundry_ct_replace(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, const char *fmt, ...);
static void ngx_http_foundry_ct_count(ngx_http_foundry_ct_check_t *chk,
    const char *outcome);
static ngx_int_t ngx_http_foundry_ct_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_foundry_ct_vars[] = {

    { ngx_string("foundry_content_verdict"), NULL,
      ngx_http_foundry_ct_variable, NGX_HTTP_FOUNDRY_CT_VAR_VERDICT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_content_reason"), NULL,
      ngx_http_foundry_ct_variable, NGX_HTTP_FOUNDRY_CT_VAR_REASON,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_content_cache"), NULL,
      ngx_http_foundry_ct_variable, NGX_HTTP_FOUNDRY_CT_VAR_CACHE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_content_answer_verdict"), NULL,
      ngx_http_foundry_ct_variable, NGX_HTTP_FOUNDRY_CT_VAR_A_VERDICT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("foundry_content_answer_reason"), NULL,
      ngx_http_foundry_ct_variable, NGX_HTTP_FOUNDRY_CT_VAR_A_REASON,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * The headers of a call, made once: Content-Type, and Authorization (its
 * value the bearer's) with an identity; their hashes at configuration
 */

static ngx_table_elt_t  ngx_http_foundry_ct_headers[] = {
    { 0, ngx_string("Content-Type"), ngx_string("application/json"),
      (u_char *) "content-type" },
    { 0, ngx_string("Authorization"), ngx_null_string,
      (u_char *) "authorization" }
};


/*
 * The check of an inference request, in the precontent phase once its
 * body is read and before anything goes upstream.  NGX_OK: the request
 * goes on; NGX_AGAIN: the checker's answers are awaited (the phases run
 * again when they are in, or at the timeout); else it was answered.
 */

ngx_int_t
ngx_http_foundry_content_check(ngx_http_request_t *r,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ctx_t *ctx)
{
    ngx_http_foundry_ct_check_t  *chk;

    chk = ngx_http_foundry_content_state(r, ccf, ctx);
    if (chk == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (chk->done) {
        return NGX_OK;
    }

    /* streams=refuse: an answer that cannot be held is not asked for */

    if (ccf->refuse_streams && ctx->body.stream) {
        chk->done = 1;
        chk->verdict = "stream_refused";
        ngx_str_set(&chk->reason, "streams=refuse");
        ngx_http_foundry_ct_count(chk, "stream_refused");

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "foundry: the content check \"%V\" refused a "
                      "streamed request: its answer could not be checked "
                      "(streams=refuse)", &ccf->name);

        return ngx_http_foundry_error(r, NGX_HTTP_BAD_REQUEST,
                                      "StreamNotAllowed",
                                      "this location checks the model's "
                                      "answers, which a streamed answer "
                                      "cannot be: send the request without "
                                      "\"stream\": true");
    }

    if (chk->pending && !chk->timed_out) {
        return NGX_AGAIN;
    }

    if (!chk->started) {
        chk->started = 1;
        return ngx_http_foundry_ct_start(r, chk, ctx);
    }

    return ngx_http_foundry_ct_verdict(r, chk);
}


static ngx_int_t
ngx_http_foundry_ct_start(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_http_foundry_ct_text_t       *t;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;
    t = &chk->text;

    /* read by the body's parse (ngx_http_foundry_content_tee()) */

    if (!chk->text_read) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "foundry: the content check's text was not read "
                      "with the request body");
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (t->error) {
        if (t->error == NGX_HTTP_FOUNDRY_CT_TOO_LARGE) {
            chk->done = 1;
            chk->verdict = "too_large";
            ngx_http_foundry_ct_count(chk, "too_large");

            return ngx_http_foundry_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "PromptTooLarge",
                                          "the text of the prompt is longer "
                                          "than the gateway's content check "
                                          "takes (%uz characters)",
                                          ccf->max_text);
        }

        /* no memory */
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (t->n == 0) {
        chk->done = 1;
        chk->verdict = "allowed";
        ngx_str_set(&chk->reason, "no text");
        return NGX_OK;
    }

    rc = ngx_http_foundry_ct_ask(r, chk, ctx);

    if (rc == NGX_ERROR) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    return ngx_http_foundry_ct_verdict(r, chk);
}


/*
 * The texts asked about, the prompt's or the answer's: NGX_OK when the
 * verdict is known now (found in the cache, or chk->failure set),
 * NGX_AGAIN once the calls are under way, NGX_ERROR.
 */

static ngx_int_t
ngx_http_foundry_ct_ask(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_http_foundry_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_str_t                        *bearer;
    ngx_pool_cleanup_t               *cln;
    ngx_http_foundry_ct_text_t       *t;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;
    t = &chk->text;

    /* a verdict kept for the same text under the same settings */

    if (ccf->cache) {
        if (ngx_http_foundry_content_key(ccf->id, t, chk->stage, chk->key)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_foundry_content_cache_get(ccf->cache, chk->key,
                                               &chk->result)
            == NGX_OK)
        {
            chk->cached = 1;
            return NGX_OK;
        }
    }

    bearer = NULL;

    if (ccf->identity) {
        if (ctx->identity == NULL || ctx->identity->bearer.len == 0) {
            chk->failure = "has no token: the upstream has no credential=";
            return NGX_OK;
        }

        bearer = &ctx->identity->bearer;
    }

    /* the checker's requests are made of the texts joined */

    if (ngx_http_foundry_content_join(t) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_foundry_ct_cleanup;
    cln->data = chk;

    rc = ngx_http_foundry_ct_calls(r, chk, t, bearer);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    chk->timer.handler = ngx_http_foundry_ct_timeout;
    chk->timer.data = chk;
    chk->timer.log = r->connection->log;

    ngx_add_timer(&chk->timer, ccf->timeout);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "foundry: content check \"%V\" of %s, %ui calls",
                   &ccf->name,
                   chk->stage ? "the model's answer" : "the prompt",
                   chk->calls);

    return NGX_AGAIN;
}


/*
 * The calls, all started at once (they run in parallel): text:analyze
 * for every 10,000 characters of the text; with shield=on, as many
 * text:shieldPrompt as the longer of the user's text and the tool results
 * needs, 10,000 characters of each a call; or, for shape=generic, one call
 * with the whole text.
 */

static ngx_int_t
ngx_http_foundry_ct_calls(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_http_foundry_ct_text_t *t,
    ngx_str_t *bearer)
{
    size_t                            n, m;
    ngx_str_t                         body, left, user, docs, su, sd;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;

    left.data = t->all.data;
    left.len = t->all.len;

    if (ccf->shape == NGX_HTTP_FOUNDRY_CT_GENERIC) {
        if (ngx_http_foundry_ct_json(r->pool, &body, "{\"text\":", &left, t,
                                     "}", NULL, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_foundry_ct_call(r, chk, NGX_HTTP_FOUNDRY_CT_ASK,
                                        &body, bearer);
    }

    while (left.len) {
        n = ngx_http_foundry_ct_chunk(&left);
        su.data = left.data;
        su.len = n;

        /* the precomputed end: categories, blocklists, output type */

        if (ngx_http_foundry_ct_json(r->pool, &body, "{\"text\":", &su,
                                     (n == t->all.len) ? t : NULL, NULL, NULL,
                                     (char *) ccf->analyze_tail.data)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_foundry_ct_call(r, chk, NGX_HTTP_FOUNDRY_CT_ANALYZE,
                                     &body, bearer)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        left.data += n;
        left.len -= n;
    }

    /* prompt attacks are the inputs', not asked about an answer */

    if (!ccf->shield || chk->stage == NGX_HTTP_FOUNDRY_CT_REPLY) {
        return NGX_OK;
    }

    user.data = t->user.data;
    user.len = t->user.len;
    docs.data = t->docs.data;
    docs.len = t->docs.len;

    do {
        n = ngx_http_foundry_ct_chunk(&user);
        m = ngx_http_foundry_ct_chunk(&docs);
        su.data = user.data;
        su.len = n;
        sd.data = docs.data;
        sd.len = m;

        if (ngx_http_foundry_ct_json(r->pool, &body, "{\"userPrompt\":", &su,
                                     NULL, m ? ",\"documents\":[" : NULL,
                                     m ? &sd : NULL,
                                     m ? "]}" : ",\"documents\":[]}")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_foundry_ct_call(r, chk, NGX_HTTP_FOUNDRY_CT_SHIELD,
                                     &body, bearer)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        user.data += n;
        user.len -= n;
        docs.data += m;
        docs.len -= m;

    } while (user.len || docs.len);

    return NGX_OK;
}


/*
 * The bytes of the next call's part of a text: at most 10,000 characters,
 * cut after a space or a line break of its last 1,000 bytes if there is
 * one, so that a word is not split between two calls.
 */

static size_t
ngx_http_foundry_ct_chunk(ngx_str_t *s)
{
    size_t  n, i;

    /* a character is at least as many bytes as UTF-16 units */

    if (s->len <= NGX_HTTP_FOUNDRY_CT_CHUNK) {
        return s->len;
    }

    n = ngx_http_foundry_content_cut(s->data, s->len,
                                     NGX_HTTP_FOUNDRY_CT_CHUNK);

    if (n == s->len) {
        return n;
    }

    for (i = n; i > 0 && n - i < 1000; i--) {
        if (s->data[i - 1] == ' ' || s->data[i - 1] == '\n') {
            return i;
        }
    }

    return n;
}


/*
 * a + JSON string s1 + b + JSON string s2 + c, in one allocation.  With t,
 * s1 is t's whole text, whose escapes were counted as it was read: it is
 * escaped in one pass, or copied where nothing but its line breaks needs
 * an escape.
 */

static ngx_int_t
ngx_http_foundry_ct_json(ngx_pool_t *pool, ngx_str_t *out, const char *a,
    ngx_str_t *s1, ngx_http_foundry_ct_text_t *t, const char *b,
    ngx_str_t *s2, const char *c)
{
    u_char  *p;
    size_t   size, la, lb, lc, e1, e2, lines;

    la = ngx_strlen(a);
    lb = b ? ngx_strlen(b) : 0;
    lc = c ? ngx_strlen(c) : 0;

    if (t) {
        e1 = t->escapes;
        lines = t->lines;

    } else {
        e1 = ngx_http_foundry_content_escape(NULL, s1->data, s1->len);
        lines = 0;
    }

    size = la + 2 + s1->len + e1 + lb + lc;

    e2 = 0;

    if (s2) {
        e2 = ngx_http_foundry_content_escape(NULL, s2->data, s2->len);
        size += 2 + s2->len + e2;
    }

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_cpymem(p, a, la);
    p = ngx_http_foundry_ct_quote(p, s1, e1, lines);

    if (b) {
        p = ngx_cpymem(p, b, lb);
    }

    if (s2) {
        p = ngx_http_foundry_ct_quote(p, s2, e2, 0);
    }

    if (c) {
        p = ngx_cpymem(p, c, lc);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * A JSON string: s in quotes, escaped.  e: the bytes its escape adds;
 * "lines" of them the escapes of line breaks, the texts' separators.
 * When they are all there is to escape, every line break is one of them,
 * and the texts between are copied as they are.
 */

static u_char *
ngx_http_foundry_ct_quote(u_char *p, ngx_str_t *s, size_t e, size_t lines)
{
    u_char  *src, *end, *lf;

    *p++ = '"';

    if (s->len == 0) {
        /* an empty text: no data to copy (may be NULL) */

    } else if (e == 0) {
        p = ngx_cpymem(p, s->data, s->len);

    } else if (e == lines) {
        src = s->data;
        end = s->data + s->len;

        /* libc's memchr(): many bytes at a time */

        while ((lf = memchr(src, '\n', end - src)) != NULL) {
            p = ngx_cpymem(p, src, lf - src);
            *p++ = '\\';
            *p++ = 'n';
            src = lf + 1;
        }

        p = ngx_cpymem(p, src, end - src);

    } else {
        p = (u_char *) ngx_http_foundry_content_escape(p, s->data, s->len);
    }

    *p++ = '"';

    return p;
}


/*
 * A POST to the checker location, in the background (the calls run side
 * by side, and one that outlives the timeout does not hold the answer
 * back).  Its headers are the module's only, and its variables its own (a
 * subrequest shares its parent's, where $http_authorization or
 * $cookie_... may already hold the client's values): none of the client's
 * headers reach the checker, whatever its location sends.
 */

static ngx_int_t
ngx_http_foundry_ct_call(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_uint_t kind, ngx_str_t *body,
    ngx_str_t *bearer)
{
    ngx_buf_t                        *b;
    ngx_str_t                        *uri;
    ngx_table_elt_t                  *h;
    ngx_http_request_t               *sr;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_foundry_ct_call_t       *call;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;

    call = ngx_pcalloc(r->pool, sizeof(ngx_http_foundry_ct_call_t));
    if (call == NULL) {
        return NGX_ERROR;
    }

    call->check = chk;
    call->kind = kind;
    call->collect.max = NGX_HTTP_FOUNDRY_CT_ANSWER_MAX;

    call->ps.handler = ngx_http_foundry_ct_done;
    call->ps.data = call;

    uri = (kind == NGX_HTTP_FOUNDRY_CT_SHIELD) ? &ccf->shield_uri
                                               : &ccf->analyze_uri;

    if (ngx_http_subrequest(r, uri, ccf->args.len ? &ccf->args : NULL, &sr,
                            &call->ps, NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(sr, &call->collect, ngx_http_foundry_module);

    call->sr = sr;
    call->next = chk->list;
    chk->list = call;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    sr->variables = ngx_pcalloc(r->pool, cmcf->variables.nelts
                                         * sizeof(ngx_http_variable_value_t));
    if (sr->variables == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.keep_alive_n = -1;

    h = ngx_http_foundry_ct_header(sr, &ngx_http_foundry_ct_headers[0]);
    if (h == NULL) {
        return NGX_ERROR;
    }

    sr->headers_in.content_type = h;

    if (bearer) {
        h = ngx_http_foundry_ct_header(sr, &ngx_http_foundry_ct_headers[1]);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->value = *bearer;
    }

    b = &call->buf;

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = 1;

    call->cl.buf = b;
    call->body.bufs = &call->cl;

    sr->request_body = &call->body;
    sr->headers_in.content_length_n = body->len;

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    sr->filter_need_in_memory = 1;

    chk->pending++;
    chk->calls++;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_foundry_ct_header(ngx_http_request_t *sr, ngx_table_elt_t *header)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NULL;
    }

    *h = *header;

    return h;
}


/* a call's end: its answer read into the check's result */

static ngx_int_t
ngx_http_foundry_ct_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_foundry_ct_call_t *call = data;

    ngx_buf_t                    *b;
    ngx_http_foundry_ct_check_t  *chk;

    chk = call->check;

    if (call->done) {
        return rc;
    }

    call->done = 1;

    if (chk->done || chk->timed_out) {
        /* too late: the request went on without it */
        return rc;
    }

    chk->pending--;

    b = call->collect.buf;

    if (rc != NGX_OK || r->headers_out.status != NGX_HTTP_OK) {
        chk->failure = "answered";
        chk->failure_status = r->headers_out.status ? r->headers_out.status
                                                    : (ngx_uint_t) rc;

    } else if (call->collect.too_large) {
        chk->failure = "answered too much";

    } else if (b == NULL
               || ngx_http_foundry_content_answer(chk->request->pool,
                                                  call->kind, b->pos,
                                                  b->last - b->pos,
                                                  &chk->result)
                  != NGX_OK)
    {
        chk->failure = "answered what is not its answer";
    }

    if (chk->pending == 0) {
        ngx_http_foundry_ct_resume(chk);
    }

    return rc;
}


static void
ngx_http_foundry_ct_resume(ngx_http_foundry_ct_check_t *chk)
{
    ngx_http_request_t  *r;

    r = chk->request;

    if (chk->timer.timer_set) {
        ngx_del_timer(&chk->timer);
    }

    /*
     * the prompt's: the phases run again; the answer's: the request's
     * write handler (nginx's writer, the answer held) calls the output
     * filters, where the held answer's filter finds the verdict
     */

    if (chk->stage == NGX_HTTP_FOUNDRY_CT_PROMPT) {
        r->write_event_handler = ngx_http_core_run_phases;
    }

    (void) ngx_http_post_request(r, NULL);
}


static void
ngx_http_foundry_ct_timeout(ngx_event_t *ev)
{
    ngx_http_foundry_ct_check_t *chk = ev->data;

    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_upstream_t         *u;
    ngx_http_foundry_ct_call_t  *call;

    r = chk->request;
    c = r->connection;

    chk->timed_out = 1;
    chk->failure = "timed out";

    /*
     * the calls still under way are given up, as nginx ends a request's
     * upstreams when the client leaves: the connection to the client is
     * not held until the checker answers
     */

    for (call = chk->list; call; call = call->next) {
        u = call->sr->upstream;

        if (call->done || u == NULL || u->cleanup == NULL) {
            continue;
        }

        call->done = 1;
        (*u->cleanup)(call->sr);
    }

    ngx_http_foundry_ct_resume(chk);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_foundry_ct_cleanup(void *data)
{
    ngx_http_foundry_ct_check_t *chk = data;

    if (chk->timer.timer_set) {
        ngx_del_timer(&chk->timer);
    }
}


/* every answer is in (or the time is up): refused, or on to the upstream */

static ngx_int_t
ngx_http_foundry_ct_verdict(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_foundry_ct_judge(r, chk);

    switch (rc) {

    case NGX_OK:
        return NGX_OK;

    case NGX_DONE:
        return ngx_http_foundry_ct_failed(r, chk);

    case NGX_DECLINED:
        break;

    default:
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    b = ngx_http_foundry_content_error(r, chk->conf, &chk->result,
                                       NGX_HTTP_FOUNDRY_CT_PROMPT);
    if (b == NULL) {
        return ngx_http_foundry_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_foundry_send_json(r, NGX_HTTP_BAD_REQUEST, &out,
                                    b->last - b->pos);

    return ngx_http_foundry_finish(r, rc);
}


/*
 * The verdict of a check, the prompt's or the answer's, once its calls
 * are in: NGX_OK allowed, NGX_DECLINED flagged (its reason set, logged),
 * NGX_DONE the checker failed (chk->failure), NGX_ERROR; counted, and
 * kept in the cache unless it failed
 */

static ngx_int_t
ngx_http_foundry_ct_judge(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk)
{
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;
    chk->done = 1;

    /* a flag is a verdict even when another call failed */

    if (!ngx_http_foundry_content_flagged(ccf, &chk->result)) {

        /* nothing flagged: no reason */
        ngx_str_set(&chk->reason, "");

        if (chk->failure) {
            return NGX_DONE;
        }

        if (ccf->cache && !chk->cached) {
            ngx_http_foundry_content_cache_put(ccf->cache, chk->key,
                                               ccf->ttl, &chk->result);
        }

        chk->verdict = "allowed";
        ngx_http_foundry_ct_count(chk, chk->cached ? "allowed_cached"
                                                   : "allowed");
        return NGX_OK;
    }

    if (ccf->cache && !chk->cached && !chk->failure) {
        ngx_http_foundry_content_cache_put(ccf->cache, chk->key, ccf->ttl,
                                           &chk->result);
    }

    if (ngx_http_foundry_content_reason(r->pool, ccf, &chk->result,
                                        &chk->reason)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    chk->verdict = "flagged";
    ngx_http_foundry_ct_count(chk, chk->cached ? "flagged_cached"
                                               : "flagged");

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "foundry: the content check \"%V\" refused %s: %V",
                  &ccf->name,
                  chk->stage ? "the model's answer" : "the prompt",
                  &chk->reason);

    return NGX_DECLINED;
}


/* the checker failed: fail=open goes on unchecked, fail=closed refuses */

static ngx_int_t
ngx_http_foundry_ct_failed(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk)
{
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;

    chk->reason.data = (u_char *) chk->failure;
    chk->reason.len = ngx_strlen(chk->failure);

    if (chk->failure_status) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the content checker \"%V\" %s %ui, "
                      "the request %s (fail=%s)", &ccf->name, chk->failure,
                      chk->failure_status,
                      ccf->fail_open ? "goes on unchecked" : "is refused",
                      ccf->fail_open ? "open" : "closed");

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the content checker \"%V\" %s%s, "
                      "the request %s (fail=%s)", &ccf->name, chk->failure,
                      chk->timed_out ? " (timeout=)" : "",
                      ccf->fail_open ? "goes on unchecked" : "is refused",
                      ccf->fail_open ? "open" : "closed");
    }

    if (ccf->fail_open) {
        chk->verdict = "unchecked";
        ngx_http_foundry_ct_count(chk, "unchecked");
        return NGX_OK;
    }

    chk->verdict = "refused";
    ngx_http_foundry_ct_count(chk, "refused");

    return ngx_http_foundry_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "ContentCheckUnavailable",
                                  "the gateway's content check is "
                                  "unavailable, the prompt was not sent to "
                                  "the model");
}


/*
 * The model's answer, held whole by the answer's filter
 * (ngx_http_foundry_content_hold.c), checked as the prompt is: NGX_OK once
 * the verdict is made (the filter then sends the answer, or chk->error in
 * its place when chk->replaced), NGX_AGAIN while the checker's answers
 * are awaited (the filter is called again when they are in, or at the
 * timeout), NGX_ERROR.
 */

ngx_int_t
ngx_http_foundry_content_reply_check(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk)
{
    if (chk->done) {
        return NGX_OK;
    }

    if (chk->pending && !chk->timed_out) {
        return NGX_AGAIN;
    }

    if (!chk->started) {
        chk->started = 1;
        return ngx_http_foundry_ct_reply_start(r, chk);
    }

    return ngx_http_foundry_ct_reply_verdict(r, chk);
}


static ngx_int_t
ngx_http_foundry_ct_reply_start(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk)
{
    u_char                           *p;
    size_t                            len;
    ngx_int_t                         rc;
    ngx_http_foundry_ctx_t           *ctx;
    ngx_http_foundry_ct_text_t       *t;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;
    t = &chk->text;

    p = chk->held ? chk->held->pos : (u_char *) "";
    len = chk->held ? (size_t) (chk->held->last - chk->held->pos) : 0;

    rc = ngx_http_foundry_content_reply_text(r->pool, ccf->max_text, p, len,
                                             t, &chk->tee);

    if (rc == NGX_DECLINED) {
        return ngx_http_foundry_ct_reply_failed(r, chk,
                                                NGX_HTTP_FOUNDRY_CT_F_JSON);
    }

    if (t->error == NGX_HTTP_FOUNDRY_CT_TOO_LARGE) {
        return ngx_http_foundry_ct_reply_failed(r, chk,
                                                NGX_HTTP_FOUNDRY_CT_F_TEXT);
    }

    if (t->error) {
        return NGX_ERROR;
    }

    if (t->n == 0) {
        chk->done = 1;
        chk->verdict = "allowed";
        ngx_str_set(&chk->reason, "no text");
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_foundry_module);

    rc = ngx_http_foundry_ct_ask(r, chk, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_foundry_ct_reply_verdict(r, chk);
}


/* every answer is in (or the time is up): the model's answer goes or not */

static ngx_int_t
ngx_http_foundry_ct_reply_verdict(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk)
{
    ngx_int_t  rc;

    rc = ngx_http_foundry_ct_judge(r, chk);

    switch (rc) {

    case NGX_OK:
        return NGX_OK;

    case NGX_DONE:
        return ngx_http_foundry_ct_reply_failed(r, chk,
                                                NGX_HTTP_FOUNDRY_CT_F_CHECKER);

    case NGX_DECLINED:
        break;

    default:
        return NGX_ERROR;
    }

    chk->error = ngx_http_foundry_content_error(r, chk->conf, &chk->result,
                                                NGX_HTTP_FOUNDRY_CT_REPLY);
    if (chk->error == NULL) {
        return NGX_ERROR;
    }

    chk->status = NGX_HTTP_BAD_REQUEST;
    chk->replaced = 1;

    return NGX_OK;
}


/* the answer is larger than answer_max: for the answer's filter */

ngx_int_t
ngx_http_foundry_content_reply_large(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk)
{
    chk->started = 1;
    chk->done = 1;

    return ngx_http_foundry_ct_reply_failed(r, chk,
                                            NGX_HTTP_FOUNDRY_CT_F_SIZE);
}


/*
 * The answer could not be checked: the checker failed, the answer is
 * larger than answer_max or its text than max_text, or it is not JSON.
 * fail=open passes it on unchecked; fail=closed drops it for a 503.
 */

static ngx_int_t
ngx_http_foundry_ct_reply_failed(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, ngx_uint_t why)
{
    const char                       *outcome, *fate, *fail;
    ngx_http_foundry_content_conf_t  *ccf;

    ccf = chk->conf;
    chk->done = 1;

    fate = ccf->fail_open ? "goes to the client unchecked" : "is dropped";
    fail = ccf->fail_open ? "open" : "closed";

    switch (why) {

    case NGX_HTTP_FOUNDRY_CT_F_CHECKER:
        if (chk->failure_status) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "foundry: the content checker \"%V\" %s %ui "
                          "on the model's answer, the answer %s (fail=%s)",
                          &ccf->name, chk->failure, chk->failure_status,
                          fate, fail);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "foundry: the content checker \"%V\" %s%s "
                          "on the model's answer, the answer %s (fail=%s)",
                          &ccf->name, chk->failure,
                          chk->timed_out ? " (timeout=)" : "", fate, fail);
        }

        outcome = ccf->fail_open ? "unchecked" : "refused";
        break;

    case NGX_HTTP_FOUNDRY_CT_F_JSON:
        chk->failure = "the model's answer is not JSON";

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the content check \"%V\": the model's "
                      "answer is not JSON, the answer %s (fail=%s)",
                      &ccf->name, fate, fail);

        outcome = ccf->fail_open ? "unchecked" : "refused";
        break;

    case NGX_HTTP_FOUNDRY_CT_F_SIZE:
        chk->failure = "the model's answer is larger than answer_max";

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the content check \"%V\": the model's "
                      "answer is larger than answer_max=%uz bytes, the "
                      "answer %s (fail=%s)", &ccf->name, ccf->answer_max,
                      fate, fail);

        outcome = "too_large";
        break;

    default: /* NGX_HTTP_FOUNDRY_CT_F_TEXT */
        chk->failure = "the model's answer's text is longer than max_text";

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "foundry: the content check \"%V\": the text of the "
                      "model's answer is longer than max_text=%uz "
                      "characters, the answer %s (fail=%s)", &ccf->name,
                      ccf->max_text, fate, fail);

        outcome = "too_large";
        break;
    }

    chk->reason.data = (u_char *) chk->failure;
    chk->reason.len = ngx_strlen(chk->failure);

    chk->verdict = outcome;

    ngx_http_foundry_ct_count(chk, outcome);

    if (ccf->fail_open) {
        chk->passing = 1;
        return NGX_OK;
    }

    switch (why) {

    case NGX_HTTP_FOUNDRY_CT_F_SIZE:
        return ngx_http_foundry_ct_replace(r, chk,
                                           "the model's answer is larger "
                                           "than the gateway's content check "
                                           "takes (answer_max=%uz bytes), it "
                                           "was not sent", ccf->answer_max);

    case NGX_HTTP_FOUNDRY_CT_F_TEXT:
        return ngx_http_foundry_ct_replace(r, chk,
                                           "the text of the model's answer "
                                           "is longer than the gateway's "
                                           "content check takes (max_text=%uz "
                                           "characters), it was not sent",
                                           ccf->max_text);

    default:
        return ngx_http_foundry_ct_replace(r, chk,
                                           "the gateway's content check is "
                                           "unavailable, the model's answer "
                                           "was not sent");
    }
}


/* the 503 that replaces the answer dropped */

static ngx_int_t
ngx_http_foundry_ct_replace(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk, const char *fmt, ...)
{
    u_char   *last, msg[NGX_MAX_ERROR_STR];
    va_list   args;

    va_start(args, fmt);
    last = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    chk->error = ngx_http_foundry_error_body(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "ContentCheckUnavailable", msg,
                                             last - msg);
    if (chk->error == NULL) {
        return NGX_ERROR;
    }

    chk->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    chk->replaced = 1;

    return NGX_OK;
}


static void
ngx_http_foundry_ct_count(ngx_http_foundry_ct_check_t *chk,
    const char *outcome)
{
    ngx_http_foundry_metrics_count(chk->stage ? NGX_HTTP_FOUNDRY_M_ANSWER
                                              : NGX_HTTP_FOUNDRY_M_CONTENT,
                                   "checker", &chk->conf->name, outcome);
}


ngx_int_t
ngx_http_foundry_content_variables(ngx_conf_t *cf)
{
    ngx_uint_t            i;
    ngx_table_elt_t      *h;
    ngx_http_variable_t  *var, *v;

    for (i = 0; i < sizeof(ngx_http_foundry_ct_headers)
                    / sizeof(ngx_table_elt_t); i++)
    {
        h = &ngx_http_foundry_ct_headers[i];
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
    }

    for (v = ngx_http_foundry_ct_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_foundry_ct_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                     s;
    ngx_http_foundry_ctx_t       *ctx;
    ngx_http_foundry_ct_check_t  *chk;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_foundry_module);

    chk = ctx ? ctx->content : NULL;

    /* the model's answer's check, when the answer was held */

    if (chk && (data == NGX_HTTP_FOUNDRY_CT_VAR_A_VERDICT
                || data == NGX_HTTP_FOUNDRY_CT_VAR_A_REASON))
    {
        chk = chk->answer;
    }

    if (chk == NULL || chk->verdict == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_FOUNDRY_CT_VAR_VERDICT:
    case NGX_HTTP_FOUNDRY_CT_VAR_A_VERDICT:
        s.data = (u_char *) chk->verdict;
        s.len = ngx_strlen(chk->verdict);
        break;

    case NGX_HTTP_FOUNDRY_CT_VAR_REASON:
    case NGX_HTTP_FOUNDRY_CT_VAR_A_REASON:
        s = chk->reason;
        break;

    default:
        if (chk->conf->cache == NULL || chk->calls + chk->cached == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        if (chk->cached) {
            ngx_str_set(&s, "hit");

        } else {
            ngx_str_set(&s, "miss");
        }

        break;
    }

    v->data = s.data;
    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
