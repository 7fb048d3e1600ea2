
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


/*
 * libFuzzer target: the text of a request body for the content check, as
 * the module reads it: by the body's own parse (ngx_http_foundry_body.c),
 * the text's reader the second of a tee (ngx_http_foundry_jtee.c).  Read
 * twice: by yajl over buffers cut where the input's prefix says (see
 * ngx_fuzz_split()), as a body in a temporary file is, and by the scanner
 * in one piece, as a body in memory is, which descends only where the
 * text or the body need it.  Both must find the same texts (or stop on the
 * same limit, the text past it not kept), the scanner's in place in the
 * body (or decoded, when escaped), yajl's copied, and give the same
 * cache key; the tee must not change what the body's parse finds
 * (the same verdict and members as a parse without it, by yajl and by the
 * scanner); the user's and the tool results' texts are never longer than
 * the whole; the cuts at 10,000 characters cover the text, and each is the
 * longest that fits.  The
 * same input is also read as a checker's answer of each kind, by the
 * scanner as the module reads it and by yajl with the same callbacks:
 * both must take or refuse it, and find the same.  Its JSON escape (the
 * checker's request body) must be nginx's ngx_escape_json() byte for byte,
 * and the escapes counted as the texts are joined as many as it adds.
 * The same input is read as a model's answer too (answers=on): by the
 * scanner in place, as the module reads the answer held, and by yajl with
 * the same callbacks: the same verdict, the same texts, the same key.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_fuzz.h"
#include "ngx_http_foundry_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ngx_fuzz_same(ngx_http_foundry_ct_buf_t *a,
    ngx_http_foundry_ct_buf_t *b);
static void ngx_fuzz_texts(ngx_http_foundry_ct_text_t *t, u_char *text,
    size_t len);
static void ngx_fuzz_cuts(ngx_http_foundry_ct_buf_t *b);
static size_t ngx_fuzz_units(ngx_http_foundry_ct_buf_t *b);
static size_t ngx_fuzz_units_of(u_char *p, size_t len);
static void ngx_fuzz_escape(ngx_pool_t *pool, u_char *p, size_t len);
static size_t ngx_fuzz_lines(u_char *p, size_t len);
static ngx_int_t ngx_fuzz_answer_yajl(ngx_pool_t *pool, ngx_uint_t kind,
    u_char *data, size_t len, ngx_http_foundry_ct_result_t *res);
static void ngx_fuzz_reply(ngx_pool_t *pool, size_t max, u_char *text,
    u_char *data, size_t len);
static ngx_uint_t ngx_fuzz_depth(u_char *p, size_t len);


static ngx_log_t  *ngx_fuzz_log;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_log = ngx_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                        *text;
    u_char                         id[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    u_char                         key[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    u_char                         key1[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    size_t                         max;
    ngx_int_t                      rc, rc1, rc2;
    ngx_uint_t                     i, kind;
    ngx_pool_t                    *pool;
    ngx_chain_t                   *in;
    ngx_fuzz_split_t               split;
    ngx_http_request_t            *r;
    ngx_http_foundry_body_t        a, b, c, d;
    ngx_http_foundry_jtee_t        ta, tb;
    ngx_http_foundry_ct_text_t     t, t1;
    ngx_http_foundry_ct_result_t   res, res1;

    pool = ngx_create_pool(4096, ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    ngx_fuzz_split(data, size, &split);

    ngx_memset(id, 'i', sizeof(id));

    /* the largest text: 20,000 characters, or for every other input a
     * few dozen, so that the limit often stops the reading mid-body */

    max = (size & 1) ? 20000 : 8 + size % 64;

    r = ngx_fuzz_request(pool);
    if (r == NULL) {
        abort();
    }

    r->request_body = ngx_pcalloc(pool, sizeof(ngx_http_request_body_t));
    if (r->request_body == NULL) {
        abort();
    }

    /* yajl over the cut buffers, the text read with the body */

    in = ngx_fuzz_chain(pool, &split, split.data, split.len, 0);
    if (in == NULL) {
        abort();
    }

    r->request_body->bufs = in;

    ngx_memzero(&a, sizeof(ngx_http_foundry_body_t));
    ngx_memzero(&ta, sizeof(ngx_http_foundry_jtee_t));
    ngx_http_foundry_content_text_reader(pool, max, &t, &ta);
    a.tee = &ta;

    rc = ngx_http_foundry_body_stream(r, &a);

    /* the same body without the text: the tee changes nothing of it */

    ngx_memzero(&c, sizeof(ngx_http_foundry_body_t));
    rc2 = ngx_http_foundry_body_stream(r, &c);

    if (rc != rc2 || a.error != c.error
        || (rc == NGX_OK
            && (a.size != c.size || a.obj_start != c.obj_start
                || a.has_model != c.has_model || a.key_end != c.key_end
                || a.value_end != c.value_end || a.stream != c.stream
                || a.max_tokens != c.max_tokens || a.so_start != c.so_start
                || a.include_usage != c.include_usage
                || a.iu_end != c.iu_end)))
    {
        abort();
    }

    /* the scanner, in one piece (a copy: ASan sees any read past it) */

    text = ngx_pnalloc(pool, split.len ? split.len : 1);
    if (text == NULL) {
        abort();
    }

    ngx_memcpy(text, split.data, split.len);

    ngx_memzero(&b, sizeof(ngx_http_foundry_body_t));
    ngx_memzero(&tb, sizeof(ngx_http_foundry_jtee_t));
    ngx_http_foundry_content_text_reader(pool, max, &t1, &tb);
    b.tee = &tb;

    rc1 = ngx_http_foundry_body_scan(r, &b, text, split.len);

    /* the scan without the text: the tee, asleep for the body in the
     * containers only the text reads, changes nothing of it either */

    ngx_memzero(&d, sizeof(ngx_http_foundry_body_t));
    rc2 = ngx_http_foundry_body_scan(r, &d, text, split.len);

    if (rc1 != rc2 || b.error != d.error
        || (rc1 == NGX_OK
            && (b.size != d.size || b.obj_start != d.obj_start
                || b.keys != d.keys || b.has_model != d.has_model
                || b.key_end != d.key_end || b.value_end != d.value_end
                || b.stream != d.stream || b.max_tokens != d.max_tokens
                || b.has_so != d.has_so || b.so_start != d.so_start
                || b.so_keys != d.so_keys
                || b.include_usage != d.include_usage
                || b.iu_end != d.iu_end || b.depth != d.depth
                || b.model.len != d.model.len
                || (b.model.len
                    && ngx_memcmp(b.model.data, d.model.data, b.model.len)
                       != 0))))
    {
        abort();
    }

    if (rc1 == NGX_OK && tb.asleep) {
        abort();
    }

    if (rc == NGX_OK && rc1 == NGX_OK) {

        /* a text's reader stops on its limit only */

        if (t.error != t1.error || ta.stopped != tb.stopped
            || ta.stopped != (t.error != 0)
            || (t.error && t.error != NGX_HTTP_FOUNDRY_CT_TOO_LARGE))
        {
            abort();
        }

        /* the scanner's texts are in place, yajl's copied: the same */

        if (ta.kept || !tb.kept) {
            abort();
        }

        ngx_fuzz_texts(&t, NULL, 0);
        ngx_fuzz_texts(&t1, text, split.len);

        if (ngx_http_foundry_content_join(&t) != NGX_OK
            || ngx_http_foundry_content_join(&t1) != NGX_OK)
        {
            abort();
        }

        ngx_fuzz_same(&t.all, &t1.all);
        ngx_fuzz_same(&t.user, &t1.user);
        ngx_fuzz_same(&t.docs, &t1.docs);

        /* the cache's key: the same from both */

        if (t.n != t1.n || t.bytes != t1.bytes || t.bytes != t.all.len) {
            abort();
        }

        if (t.n) {
            if (ngx_http_foundry_content_key(id, &t, NGX_HTTP_FOUNDRY_CT_PROMPT,
                                             key)
                != NGX_OK
                || ngx_http_foundry_content_key(id, &t1,
                                                NGX_HTTP_FOUNDRY_CT_PROMPT,
                                                key1)
                   != NGX_OK
                || ngx_memcmp(key, key1, sizeof(key)) != 0)
            {
                abort();
            }
        }

        /* the characters as the service counts them: the texts kept
         * within the limit; when it stopped the reading, the next text
         * past it (counted, not kept) */

        if (ngx_fuzz_units(&t.all) > max || t.chars != t1.chars
            || (t.error && t.chars <= max)
            || (t.error == 0 && t.bytes > max
                && t.chars != ngx_fuzz_units(&t.all)))
        {
            abort();
        }

        /* the escapes of the checker's request */

        if (t.escapes != t1.escapes || t.lines != t1.lines
            || t.escapes != ngx_escape_json(NULL, t.all.data, t.all.len)
            || t.lines > t.escapes)
        {
            abort();
        }

        /* when the line breaks between the texts are all there is to
         * escape, they are the text's only line breaks */

        if (t.escapes == t.lines
            && ngx_fuzz_lines(t.all.data, t.all.len) != t.lines)
        {
            abort();
        }

        if (t.user.len > t.all.len || t.docs.len > t.all.len) {
            abort();
        }

        ngx_fuzz_cuts(&t.all);
        ngx_fuzz_cuts(&t.user);
        ngx_fuzz_cuts(&t.docs);
    }

    /* as an answer of each kind */

    for (kind = NGX_HTTP_FOUNDRY_CT_ANALYZE; kind <= NGX_HTTP_FOUNDRY_CT_ASK;
         kind++)
    {
        ngx_memzero(&res, sizeof(ngx_http_foundry_ct_result_t));
        ngx_memset(res.severity, 0xff, sizeof(res.severity));
        res1 = res;

        rc = ngx_http_foundry_content_answer(pool, kind, text, split.len,
                                             &res);
        rc1 = ngx_fuzz_answer_yajl(pool, kind, split.data, split.len, &res1);

        if (rc != rc1
            || (rc == NGX_OK
                && ngx_memcmp(&res, &res1, sizeof(res)) != 0))
        {
            abort();
        }

        for (i = 0; i < NGX_HTTP_FOUNDRY_CT_CATEGORIES; i++) {
            if (res.severity[i] < -1 || res.severity[i] > 7) {
                abort();
            }
        }

        if (res.blocklist_len > NGX_HTTP_FOUNDRY_CT_NAME_MAX
            || res.reason_len > NGX_HTTP_FOUNDRY_CT_REASON_MAX)
        {
            abort();
        }
    }

    ngx_fuzz_reply(pool, max, text, split.data, split.len);

    ngx_fuzz_escape(pool, split.data, split.len);

    ngx_destroy_pool(pool);

    return 0;
}


/* the checker's request body: escaped as ngx_escape_json() does */

static void
ngx_fuzz_escape(ngx_pool_t *pool, u_char *p, size_t len)
{
    u_char  *a, *b, *end;
    size_t   n;

    n = ngx_escape_json(NULL, p, len);

    if (ngx_http_foundry_content_escape(NULL, p, len) != n) {
        abort();
    }

    a = ngx_pnalloc(pool, len + n + 1);
    b = ngx_pnalloc(pool, len + n + 1);
    if (a == NULL || b == NULL) {
        abort();
    }

    end = (u_char *) ngx_escape_json(a, p, len);

    if ((u_char *) ngx_http_foundry_content_escape(b, p, len) != end - a + b
        || (size_t) (end - a) != len + n
        || ngx_memcmp(a, b, len + n) != 0)
    {
        abort();
    }
}


static size_t
ngx_fuzz_lines(u_char *p, size_t len)
{
    size_t  n;

    for (n = 0; len; len--) {
        n += (*p++ == '\n');
    }

    return n;
}


/* an answer read by yajl with the module's callbacks, as it used to be */

static ngx_int_t
ngx_fuzz_answer_yajl(ngx_pool_t *pool, ngx_uint_t kind, u_char *data,
    size_t len, ngx_http_foundry_ct_result_t *res)
{
    ngx_int_t                     rc;
    ngx_http_foundry_ct_answer_t  a;

    ngx_http_foundry_content_answer_init(&a, kind, res);

    rc = ngx_http_foundry_json_parse(pool,
                                     &ngx_http_foundry_content_answer_callbacks,
                                     &a, data, len);

    if (rc == NGX_ERROR) {
        abort();
    }

    return (rc == NGX_OK && a.seen) ? NGX_OK : NGX_ERROR;
}


/*
 * A model's answer: its texts read by the scanner in place ("text", a
 * copy of "data") and by yajl (copied), alike
 */

static void
ngx_fuzz_reply(ngx_pool_t *pool, size_t max, u_char *text, u_char *data,
    size_t len)
{
    u_char                      key[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    u_char                      key1[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    u_char                      id[NGX_HTTP_FOUNDRY_DIGEST_LEN];
    ngx_int_t                   rc, rc1;
    ngx_http_foundry_jtee_t     ta, tb;
    ngx_http_foundry_ct_text_t  t, t1;

    rc = ngx_http_foundry_content_reply_text(pool, max, text, len, &t, &ta);

    ngx_http_foundry_content_reply_reader(pool, max, &t1, &tb);

    rc1 = ngx_http_foundry_json_parse(pool,
                                      &ngx_http_foundry_content_reply_callbacks,
                                      &t1, data, len);

    if (rc1 == NGX_ERROR || t.error == NGX_HTTP_FOUNDRY_CT_NOMEM
        || t1.error == NGX_HTTP_FOUNDRY_CT_NOMEM)
    {
        abort();
    }

    /* the scanner refuses containers deeper than yajl does */

    if (rc == NGX_DECLINED && rc1 == NGX_OK
        && ngx_fuzz_depth(data, len) >= NGX_HTTP_FOUNDRY_JSCAN_DEPTH)
    {
        return;
    }

    /* both stop on the same text past max, or take the same answers */

    if (t.error != t1.error
        || (t.error == 0 && (rc == NGX_OK) != (rc1 == NGX_OK)))
    {
        abort();
    }

    if (rc != NGX_OK || rc1 != NGX_OK || t.error) {
        return;
    }

    if (!ta.kept || tb.kept || t.roles || t1.roles) {
        abort();
    }

    ngx_fuzz_texts(&t, text, len);
    ngx_fuzz_texts(&t1, NULL, 0);

    if (ngx_http_foundry_content_join(&t) != NGX_OK
        || ngx_http_foundry_content_join(&t1) != NGX_OK)
    {
        abort();
    }

    ngx_fuzz_same(&t.all, &t1.all);

    if (t.n != t1.n || t.bytes != t1.bytes || t.bytes != t.all.len
        || t.user.len || t.docs.len || t.depth != 0 || t1.depth != 0
        || ngx_fuzz_units(&t.all) > max)
    {
        abort();
    }

    if (t.n == 0) {
        return;
    }

    /* the same key from both; never a prompt's of the same texts */

    ngx_memset(id, 'i', sizeof(id));

    if (ngx_http_foundry_content_key(id, &t, NGX_HTTP_FOUNDRY_CT_REPLY, key)
        != NGX_OK
        || ngx_http_foundry_content_key(id, &t1, NGX_HTTP_FOUNDRY_CT_REPLY,
                                        key1)
           != NGX_OK
        || ngx_memcmp(key, key1, sizeof(key)) != 0
        || ngx_http_foundry_content_key(id, &t1, NGX_HTTP_FOUNDRY_CT_PROMPT,
                                        key1)
           != NGX_OK
        || ngx_memcmp(key, key1, sizeof(key)) == 0)
    {
        abort();
    }
}


/* the deepest nesting of containers, strings skipped */

static ngx_uint_t
ngx_fuzz_depth(u_char *p, size_t len)
{
    size_t      i;
    ngx_uint_t  depth, max, in;

    depth = 0;
    max = 0;
    in = 0;

    for (i = 0; i < len; i++) {
        if (in) {
            if (p[i] == '\\') {
                i++;

            } else if (p[i] == '"') {
                in = 0;
            }

            continue;
        }

        switch (p[i]) {

        case '"':
            in = 1;
            break;

        case '{':
        case '[':
            if (++depth > max) {
                max = depth;
            }

            break;

        case '}':
        case ']':
            if (depth) {
                depth--;
            }

            break;
        }
    }

    return max;
}


/*
 * The texts as kept: each head its text's length and a kind, the kinds
 * only with the roles; with "text", a body scanned in memory, each text is
 * in it (in place) or decoded in the pool (it had an escape, and is then
 * not the body's bytes at that place)
 */

static void
ngx_fuzz_texts(ngx_http_foundry_ct_text_t *t, u_char *text, size_t len)
{
    u_char      *p;
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (t->n > t->nalloc) {
        abort();
    }

    for (i = 0; i < t->n; i++) {
        s = &t->spans[2 + i];

        if ((t->heads[1 + i] >> 2) != s->len || s->len == 0
            || (t->heads[1 + i] & 3) > NGX_HTTP_FOUNDRY_CT_R_TOOL
            || (!t->roles && (t->heads[1 + i] & 3)))
        {
            abort();
        }

        if (text == NULL) {
            continue;
        }

        p = s->data;

        /* in place: between quotes; a decoded text is elsewhere */

        if (p >= text && p < text + len
            && (p + s->len >= text + len || p == text || p[-1] != '"'
                || p[s->len] != '"'))
        {
            abort();
        }
    }
}


static void
ngx_fuzz_same(ngx_http_foundry_ct_buf_t *a, ngx_http_foundry_ct_buf_t *b)
{
    if (a->len != b->len
        || (a->len && ngx_memcmp(a->data, b->data, a->len) != 0))
    {
        abort();
    }
}


/* the calls' parts: each at most 10,000 characters, together the text */

static void
ngx_fuzz_cuts(ngx_http_foundry_ct_buf_t *b)
{
    u_char  *p;
    size_t   left, n, m, k, total;

    p = b->data;
    left = b->len;
    total = 0;

    while (left) {
        n = ngx_http_foundry_content_cut(p, left, 10000);

        if (n == 0 || n > left) {
            abort();
        }

        /* a part never ends inside a character */

        if (n < left && (p[n] & 0xc0) == 0x80) {
            abort();
        }

        /* the longest part that fits: one character more would not */

        m = ngx_fuzz_units_of(p, n);

        if (m > 10000) {
            abort();
        }

        if (n < left) {
            k = n + 1;

            while (k < left && (p[k] & 0xc0) == 0x80) {
                k++;
            }

            if (ngx_fuzz_units_of(p, k) <= 10000) {
                abort();
            }
        }

        total += n;
        p += n;
        left -= n;
    }

    if (total != b->len) {
        abort();
    }
}


/* UTF-16 units of a text, a byte at a time */

static size_t
ngx_fuzz_units(ngx_http_foundry_ct_buf_t *b)
{
    return ngx_fuzz_units_of(b->data, b->len);
}


static size_t
ngx_fuzz_units_of(u_char *p, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            n += (p[i] >= 0xf0) ? 2 : 1;
        }
    }

    return n;
}
