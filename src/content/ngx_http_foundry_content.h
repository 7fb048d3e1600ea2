
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#ifndef _NGX_HTTP_FOUNDRY_CONTENT_H_INCLUDED_
#define _NGX_HTTP_FOUNDRY_CONTENT_H_INCLUDED_


#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"


/* foundry_content_check: the prompt screened before the upstream */

#define NGX_HTTP_FOUNDRY_CT_AZURE           1
#define NGX_HTTP_FOUNDRY_CT_GENERIC         2

#define NGX_HTTP_FOUNDRY_CT_CATEGORIES      4

/* Azure AI Content Safety: characters per text:analyze call, per
 * shieldPrompt user prompt, per shieldPrompt documents (all of them) */
#define NGX_HTTP_FOUNDRY_CT_CHUNK           10000

/* the largest text checked, by default and at most (characters) */
#define NGX_HTTP_FOUNDRY_CT_MAX_TEXT        100000
#define NGX_HTTP_FOUNDRY_CT_MAX_TEXT_LIMIT  200000

/* the model's answer held for its check (answers=on): answer_max's
 * default, least and largest; the first buffer of one of unknown length */
#define NGX_HTTP_FOUNDRY_CT_HOLD_MAX        (1024 * 1024)
#define NGX_HTTP_FOUNDRY_CT_HOLD_MIN        1024
#define NGX_HTTP_FOUNDRY_CT_HOLD_LIMIT      (16 * 1024 * 1024)
#define NGX_HTTP_FOUNDRY_CT_HOLD_FIRST      16384

/*
 * the bit of r->buffered while the answer is held: the image filter's
 * (NGX_HTTP_IMAGE_BUFFERED, private to it), which only takes images,
 * never the JSON answers held here (r->buffered has four bits, all of
 * them nginx's filters')
 */
#define NGX_HTTP_FOUNDRY_CT_BUFFERED        0x08

/* what is checked: the prompt, the model's answer (a byte of the key) */
#define NGX_HTTP_FOUNDRY_CT_PROMPT          0
#define NGX_HTTP_FOUNDRY_CT_REPLY           1

/* the largest checker answer read */
#define NGX_HTTP_FOUNDRY_CT_ANSWER_MAX      65536

#define NGX_HTTP_FOUNDRY_CT_NAME_MAX        64
#define NGX_HTTP_FOUNDRY_CT_REASON_MAX      128

/* eight bytes in a word: each one's low bit, each one's high bit */
#define NGX_HTTP_FOUNDRY_CT_ONES            0x0101010101010101ULL
#define NGX_HTTP_FOUNDRY_CT_HIGHS           0x8080808080808080ULL

/* what a call asks */
#define NGX_HTTP_FOUNDRY_CT_ANALYZE         1
#define NGX_HTTP_FOUNDRY_CT_SHIELD          2
#define NGX_HTTP_FOUNDRY_CT_ASK             3

/* a text's kind, in its head: the user's, a tool result */
#define NGX_HTTP_FOUNDRY_CT_R_OTHER         0
#define NGX_HTTP_FOUNDRY_CT_R_USER          1
#define NGX_HTTP_FOUNDRY_CT_R_TOOL          2

/* extraction errors */
#define NGX_HTTP_FOUNDRY_CT_NOMEM           1
#define NGX_HTTP_FOUNDRY_CT_TOO_LARGE       4


typedef struct ngx_http_foundry_content_conf_s {
    ngx_str_t                       name;
    ngx_uint_t                      shape;
    ngx_uint_t                      fail_open;
    ngx_msec_t                      timeout;

    /* the severity from which a category is refused; -1: not asked */
    ngx_int_t                       thresholds[NGX_HTTP_FOUNDRY_CT_CATEGORIES];

    ngx_uint_t                      shield;
    ngx_uint_t                      identity;
    size_t                          max_text;

    /* answers=on: the model's answers too, held up to answer_max bytes */
    ngx_uint_t                      answers;
    size_t                          answer_max;

    /* streams=refuse: a streamed request (whose answer is never held) is
     * refused before it goes upstream */
    ngx_uint_t                      refuse_streams;

    ngx_shm_zone_t                 *cache;
    ngx_msec_t                      ttl;

    /* precomputed: the calls' URIs and arguments, the analyze body's end */
    ngx_str_t                       analyze_uri;
    ngx_str_t                       shield_uri;
    ngx_str_t                       args;
    ngx_str_t                       analyze_tail;

    /* the cache's key starts with a digest of all of the above */
    u_char                          id[NGX_HTTP_FOUNDRY_DIGEST_LEN];
} ngx_http_foundry_content_conf_t;


/* the text of a request body, as the model would read it */

typedef struct {
    u_char                         *data;
    size_t                          len;
    size_t                          size;
} ngx_http_foundry_ct_buf_t;


typedef struct {
    ngx_pool_t                     *pool;
    ngx_http_foundry_jtee_t        *tee;

    /*
     * The texts, in order, where the parse found them: in place in the
     * body (a body scanned in memory, tee->kept), or copies (one read by
     * yajl).  spans[2 + i] is text i; heads[1 + i] its length and kind
     * (its length << 2, and NGX_HTTP_FOUNDRY_CT_R_USER or _TOOL for
     * shieldPrompt); heads[0] their number.  spans[0] and spans[1] are
     * left for the cache's key: the check's settings and the heads.
     */
    ngx_str_t                      *spans;
    uint64_t                       *heads;
    ngx_uint_t                      n;
    ngx_uint_t                      nalloc;

    /* the texts' bytes with a line break between two; their characters
     * are counted only past "max" bytes (a character is at least a byte):
     * "chars" of the first "counted" texts */
    size_t                          bytes;
    size_t                          chars;
    ngx_uint_t                      counted;
    size_t                          max;

    /*
     * Made from the texts when the checker is called
     * (ngx_http_foundry_content_join()): every text, one per line; the
     * user's (shieldPrompt's prompt); tool results; the bytes the JSON
     * escape of "all" adds (its checker request), of which "lines" for
     * the line breaks between its texts
     */
    ngx_http_foundry_ct_buf_t       all;
    ngx_http_foundry_ct_buf_t       user;
    ngx_http_foundry_ct_buf_t       docs;
    size_t                          escapes;
    size_t                          lines;

    /* 1: the texts' kinds are read too (shieldPrompt needs them) */
    ngx_uint_t                      roles;

    ngx_uint_t                      depth;
    ngx_uint_t                      top;
    ngx_uint_t                      key;
    ngx_uint_t                      parts;

    /* the message or item being read: its first text, its kind */
    ngx_uint_t                      item_first;
    ngx_uint_t                      item_role;

    /*
     * the model's answer (ngx_http_foundry_content_reply.c): the output
     * item being read, what the texts were before it (dropped with its
     * texts unless it is a message or a function call)
     */
    ngx_uint_t                      item_kept;
    size_t                          item_bytes;
    size_t                          item_chars;
    ngx_uint_t                      item_counted;

    ngx_uint_t                      error;
} ngx_http_foundry_ct_text_t;


/* a verdict: what the checker said, and what is kept in the cache */

typedef struct {
    int8_t                          severity[NGX_HTTP_FOUNDRY_CT_CATEGORIES];
    u_char                          user_attack;
    u_char                          doc_attack;
    u_char                          blocked;
    u_char                          denied;
    u_char                          blocklist_len;
    u_char                          reason_len;
    u_char                          blocklist[NGX_HTTP_FOUNDRY_CT_NAME_MAX];
    u_char                          reason[NGX_HTTP_FOUNDRY_CT_REASON_MAX];
} ngx_http_foundry_ct_result_t;


/* one request's check */

typedef struct ngx_http_foundry_ct_check_s      ngx_http_foundry_ct_check_t;

struct ngx_http_foundry_ct_check_s {
    ngx_http_foundry_content_conf_t *conf;
    ngx_http_request_t             *request;
    ngx_http_foundry_ct_result_t    result;
    ngx_event_t                     timer;

    /* the text, read by the body's parse through "tee" */
    ngx_http_foundry_ct_text_t      text;
    ngx_http_foundry_jtee_t         tee;

    ngx_uint_t                      pending;
    ngx_uint_t                      calls;
    void                           *list;
    const char                     *failure;
    ngx_uint_t                      failure_status;

    u_char                          key[NGX_HTTP_FOUNDRY_DIGEST_LEN];

    /* $foundry_content_verdict, $foundry_content_reason */
    const char                     *verdict;
    ngx_str_t                       reason;

    /* NGX_HTTP_FOUNDRY_CT_PROMPT or _REPLY */
    ngx_uint_t                      stage;

    /* the prompt's check: the answer's check, once the answer came */
    ngx_http_foundry_ct_check_t    *answer;

    /* the answer's check: the answer held, the error that replaces it */
    ngx_buf_t                      *held;
    ngx_buf_t                      *error;
    ngx_uint_t                      status;

    unsigned                        started:1;
    unsigned                        done:1;
    unsigned                        timed_out:1;
    unsigned                        cached:1;
    unsigned                        text_read:1;

    /* the answer's check: held, passed on as it is, replaced by "error" */
    unsigned                        holding:1;
    unsigned                        complete:1;
    unsigned                        passing:1;
    unsigned                        replaced:1;
    unsigned                        header_sent:1;
    unsigned                        error_sent:1;
};


/* the answer of one call, read as a stream */

typedef struct {
    ngx_uint_t                      kind;
    ngx_uint_t                      depth;
    ngx_uint_t                      top;
    ngx_uint_t                      key;
    ngx_int_t                       category;
    ngx_int_t                       severity;
    ngx_uint_t                      seen;
    ngx_http_foundry_ct_result_t   *result;
} ngx_http_foundry_ct_answer_t;


/* ngx_http_foundry_content_conf.c */

char *ngx_http_foundry_content_check_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* ngx_http_foundry_content.c */

ngx_int_t ngx_http_foundry_content_check(ngx_http_request_t *r,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ctx_t *ctx);
ngx_int_t ngx_http_foundry_content_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_foundry_content_reply_check(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk);
ngx_int_t ngx_http_foundry_content_reply_large(ngx_http_request_t *r,
    ngx_http_foundry_ct_check_t *chk);


/* ngx_http_foundry_content_reply.c */

/* not static for fuzz/fuzz_content.c */
extern yajl_callbacks  ngx_http_foundry_content_reply_callbacks;

void ngx_http_foundry_content_reply_reader(ngx_pool_t *pool, size_t max,
    ngx_http_foundry_ct_text_t *t, ngx_http_foundry_jtee_t *tee);
ngx_uint_t ngx_http_foundry_content_reply_descend(void *ctx);
ngx_int_t ngx_http_foundry_content_reply_text(ngx_pool_t *pool, size_t max,
    u_char *data, size_t len, ngx_http_foundry_ct_text_t *t,
    ngx_http_foundry_jtee_t *tee);


/* ngx_http_foundry_content_hold.c */

ngx_int_t ngx_http_foundry_content_filter_init(ngx_conf_t *cf);


/* ngx_http_foundry_content_text.c */

ngx_http_foundry_jtee_t *ngx_http_foundry_content_tee(ngx_http_request_t *r,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ctx_t *ctx);
ngx_http_foundry_ct_check_t *ngx_http_foundry_content_state(
    ngx_http_request_t *r, ngx_http_foundry_content_conf_t *ccf,
    ngx_http_foundry_ctx_t *ctx);
/* not static for fuzz/fuzz_content.c */
void ngx_http_foundry_content_text_reader(ngx_pool_t *pool, size_t max,
    ngx_http_foundry_ct_text_t *t, ngx_http_foundry_jtee_t *tee);
ngx_int_t ngx_http_foundry_content_key(u_char *id,
    ngx_http_foundry_ct_text_t *t, ngx_uint_t stage, u_char *key);
int ngx_http_foundry_content_text_add(ngx_http_foundry_ct_text_t *t,
    u_char *s, size_t len, ngx_uint_t user);
ngx_int_t ngx_http_foundry_content_join(ngx_http_foundry_ct_text_t *t);
size_t ngx_http_foundry_content_cut(u_char *p, size_t len, size_t chars);
uintptr_t ngx_http_foundry_content_escape(u_char *dst, u_char *src,
    size_t size);


/* ngx_http_foundry_content_answer.c */

/* the deepest an answer's containers nest, plus one */
#define NGX_HTTP_FOUNDRY_CA_DEPTH           16

/* not static for fuzz/fuzz_content.c, which reads answers with yajl too */
extern yajl_callbacks  ngx_http_foundry_content_answer_callbacks;

void ngx_http_foundry_content_answer_init(ngx_http_foundry_ct_answer_t *a,
    ngx_uint_t kind, ngx_http_foundry_ct_result_t *result);
ngx_int_t ngx_http_foundry_content_answer(ngx_pool_t *pool, ngx_uint_t kind,
    u_char *data, size_t len, ngx_http_foundry_ct_result_t *result);
ngx_uint_t ngx_http_foundry_content_flagged(
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ct_result_t *res);
ngx_buf_t *ngx_http_foundry_content_error(ngx_http_request_t *r,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ct_result_t *res,
    ngx_uint_t stage);
ngx_int_t ngx_http_foundry_content_reason(ngx_pool_t *pool,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ct_result_t *res,
    ngx_str_t *reason);


/* ngx_http_foundry_content_cache.c */

char *ngx_http_foundry_content_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_foundry_content_cache_init(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_foundry_content_cache_get(ngx_shm_zone_t *zone,
    u_char *key, ngx_http_foundry_ct_result_t *res);
void ngx_http_foundry_content_cache_put(ngx_shm_zone_t *zone, u_char *key,
    ngx_msec_t ttl, ngx_http_foundry_ct_result_t *res);


#endif /* _NGX_HTTP_FOUNDRY_CONTENT_H_INCLUDED_ */
