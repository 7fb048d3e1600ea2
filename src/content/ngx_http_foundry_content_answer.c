
/*
 * Copyright (C) The nginx Foundry gateway authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_foundry_common.h"
#include "ngx_http_foundry_core.h"
#include "ngx_http_foundry_content.h"


/* the top-level member of an answer being read */
#define NGX_HTTP_FOUNDRY_CA_T_OTHER       0
#define NGX_HTTP_FOUNDRY_CA_T_CATEGORIES  1
#define NGX_HTTP_FOUNDRY_CA_T_BLOCKLISTS  2
#define NGX_HTTP_FOUNDRY_CA_T_USER        3
#define NGX_HTTP_FOUNDRY_CA_T_DOCUMENTS   4
#define NGX_HTTP_FOUNDRY_CA_T_ALLOWED     5
#define NGX_HTTP_FOUNDRY_CA_T_REASON      6

#define NGX_HTTP_FOUNDRY_CA_K_OTHER       0
#define NGX_HTTP_FOUNDRY_CA_K_CATEGORY    1
#define NGX_HTTP_FOUNDRY_CA_K_SEVERITY    2
#define NGX_HTTP_FOUNDRY_CA_K_NAME        3
#define NGX_HTTP_FOUNDRY_CA_K_ATTACK      4


static int ngx_http_foundry_ca_null(void *ctx);
static int ngx_http_foundry_ca_boolean(void *ctx, int value);
static int ngx_http_foundry_ca_number(void *ctx, const char *s, size_t len);
static int ngx_http_foundry_ca_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_ca_start_map(void *ctx);
static int ngx_http_foundry_ca_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_http_foundry_ca_end_map(void *ctx);
static int ngx_http_foundry_ca_start_array(void *ctx);
static int ngx_http_foundry_ca_end_array(void *ctx);
static ngx_uint_t ngx_http_foundry_ca_descend(void *ctx);


yajl_callbacks  ngx_http_foundry_content_answer_callbacks = {
    ngx_http_foundry_ca_null,
    ngx_http_foundry_ca_boolean,
    NULL,
    NULL,
    ngx_http_foundry_ca_number,
    ngx_http_foundry_ca_string,
    ngx_http_foundry_ca_start_map,
    ngx_http_foundry_ca_map_key,
    ngx_http_foundry_ca_end_map,
    ngx_http_foundry_ca_start_array,
    ngx_http_foundry_ca_end_array
};


/* the service's category names, and Azure OpenAI's in its errors */

static ngx_str_t  ngx_http_foundry_ct_names[] = {
    ngx_string("Hate"),
    ngx_string("SelfHarm"),
    ngx_string("Sexual"),
    ngx_string("Violence")
};

static const char  *ngx_http_foundry_ct_filter_names[] = {
    "hate", "self_harm", "sexual", "violence"
};

static const char  *ngx_http_foundry_ct_levels[] = {
    "safe", "safe", "low", "low", "medium", "medium", "high", "high"
};


/*
 * Reads one checker answer into "result" (which gathers the answers of a
 * request's calls): text:analyze's categoriesAnalysis and blocklistsMatch,
 * text:shieldPrompt's attackDetected, the generic shape's allowed and
 * reason.  NGX_ERROR when it is not such an answer.  The answer is in
 * memory: it is scanned in place (ngx_http_foundry_jscan_parse(), which
 * takes what yajl takes), and only the members read are descended into.
 */

ngx_int_t
ngx_http_foundry_content_answer(ngx_pool_t *pool, ngx_uint_t kind,
    u_char *data, size_t len, ngx_http_foundry_ct_result_t *result)
{
    off_t                         offset;
    ngx_int_t                     rc;
    yajl_callbacks               *cb;
    ngx_http_foundry_ct_answer_t  a;

    ngx_http_foundry_content_answer_init(&a, kind, result);

    cb = &ngx_http_foundry_content_answer_callbacks;

    rc = ngx_http_foundry_jscan_parse(pool, data, data + len, cb, &a,
                                      ngx_http_foundry_ca_descend,
                                      NGX_HTTP_FOUNDRY_CA_DEPTH - 1, &offset);

    if (rc != NGX_HTTP_FOUNDRY_JSCAN_OK || !a.seen) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_foundry_content_answer_init(ngx_http_foundry_ct_answer_t *a,
    ngx_uint_t kind, ngx_http_foundry_ct_result_t *result)
{
    ngx_memzero(a, sizeof(ngx_http_foundry_ct_answer_t));

    a->kind = kind;
    a->category = -1;
    a->severity = -1;
    a->result = result;
}


/*
 * The containers whose members are read: the top-level members' values
 * that are read, and the items of categoriesAnalysis, blocklistsMatch
 * and documentsAnalysis.  The others are only checked, their depth too.
 */

static ngx_uint_t
ngx_http_foundry_ca_descend(void *ctx)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    switch (a->depth) {

    case 2:
        return a->top != NGX_HTTP_FOUNDRY_CA_T_OTHER;

    case 3:
        return a->top == NGX_HTTP_FOUNDRY_CA_T_CATEGORIES
               || a->top == NGX_HTTP_FOUNDRY_CA_T_BLOCKLISTS
               || a->top == NGX_HTTP_FOUNDRY_CA_T_DOCUMENTS;

    default:
        return 0;
    }
}


static int
ngx_http_foundry_ca_null(void *ctx)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

    return a->depth > 0;
}


static int
ngx_http_foundry_ca_boolean(void *ctx, int value)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    ngx_uint_t  key;

    key = a->key;
    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

    if (a->depth == 1 && a->top == NGX_HTTP_FOUNDRY_CA_T_ALLOWED
        && a->kind == NGX_HTTP_FOUNDRY_CT_ASK)
    {
        a->seen = 1;

        if (!value) {
            a->result->denied = 1;
        }

        return 1;
    }

    if (key != NGX_HTTP_FOUNDRY_CA_K_ATTACK
        || a->kind != NGX_HTTP_FOUNDRY_CT_SHIELD)
    {
        return a->depth > 0;
    }

    if (a->depth == 2 && a->top == NGX_HTTP_FOUNDRY_CA_T_USER) {
        a->seen = 1;

        if (value) {
            a->result->user_attack = 1;
        }

    } else if (a->depth == 3 && a->top == NGX_HTTP_FOUNDRY_CA_T_DOCUMENTS) {

        if (value) {
            a->result->doc_attack = 1;
        }
    }

    return 1;
}


static int
ngx_http_foundry_ca_number(void *ctx, const char *s, size_t len)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    ngx_int_t  n;

    if (a->depth == 3 && a->key == NGX_HTTP_FOUNDRY_CA_K_SEVERITY
        && a->top == NGX_HTTP_FOUNDRY_CA_T_CATEGORIES)
    {
        n = ngx_atoi((u_char *) s, len);

        if (n == NGX_ERROR || n > 7) {
            /* not a severity: the answer is garbage */
            return 0;
        }

        a->severity = n;
    }

    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

    return a->depth > 0;
}


static int
ngx_http_foundry_ca_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    ngx_uint_t                     i, key;
    ngx_http_foundry_ct_result_t  *res;

    key = a->key;
    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;
    res = a->result;

    if (a->depth == 1 && a->top == NGX_HTTP_FOUNDRY_CA_T_REASON
        && a->kind == NGX_HTTP_FOUNDRY_CT_ASK)
    {
        if (res->reason_len == 0) {
            len = ngx_min(len, NGX_HTTP_FOUNDRY_CT_REASON_MAX);
            len = ngx_http_foundry_content_cut((u_char *) s, len, len);

            ngx_memcpy(res->reason, s, len);
            res->reason_len = (u_char) len;
        }

        return 1;
    }

    if (a->depth != 3) {
        return a->depth > 0;
    }

    if (key == NGX_HTTP_FOUNDRY_CA_K_CATEGORY
        && a->top == NGX_HTTP_FOUNDRY_CA_T_CATEGORIES)
    {
        for (i = 0; i < NGX_HTTP_FOUNDRY_CT_CATEGORIES; i++) {
            if (len == ngx_http_foundry_ct_names[i].len
                && ngx_memcmp(s, ngx_http_foundry_ct_names[i].data, len)
                   == 0)
            {
                a->category = i;
            }
        }

    } else if (key == NGX_HTTP_FOUNDRY_CA_K_NAME
               && a->top == NGX_HTTP_FOUNDRY_CA_T_BLOCKLISTS
               && res->blocklist_len == 0)
    {
        len = ngx_min(len, NGX_HTTP_FOUNDRY_CT_NAME_MAX);
        len = ngx_http_foundry_content_cut((u_char *) s, len, len);

        ngx_memcpy(res->blocklist, s, len);
        res->blocklist_len = (u_char) len;
    }

    return 1;
}


static int
ngx_http_foundry_ca_start_map(void *ctx)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    if (a->depth == 2) {
        a->category = -1;
        a->severity = -1;

        if (a->top == NGX_HTTP_FOUNDRY_CA_T_BLOCKLISTS
            && a->kind == NGX_HTTP_FOUNDRY_CT_ANALYZE)
        {
            /* a match of a blocklist */
            a->result->blocked = 1;
        }
    }

    a->depth++;
    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

    return a->depth < NGX_HTTP_FOUNDRY_CA_DEPTH;
}


static int
ngx_http_foundry_ca_end_map(void *ctx)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    ngx_http_foundry_ct_result_t  *res;

    a->depth--;
    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

    res = a->result;

    if (a->depth == 2 && a->top == NGX_HTTP_FOUNDRY_CA_T_CATEGORIES
        && a->category >= 0 && a->severity >= 0
        && a->severity > res->severity[a->category])
    {
        res->severity[a->category] = (int8_t) a->severity;
    }

    return 1;
}


static int
ngx_http_foundry_ca_start_array(void *ctx)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    if (a->depth == 0) {
        return 0;
    }

    if (a->depth == 1 && a->top == NGX_HTTP_FOUNDRY_CA_T_CATEGORIES
        && a->kind == NGX_HTTP_FOUNDRY_CT_ANALYZE)
    {
        a->seen = 1;
    }

    a->depth++;
    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

    return a->depth < NGX_HTTP_FOUNDRY_CA_DEPTH;
}


static int
ngx_http_foundry_ca_end_array(void *ctx)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    a->depth--;
    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

    return 1;
}


static int
ngx_http_foundry_ca_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_foundry_ct_answer_t *a = ctx;

    ngx_str_t  k;

    k.data = (u_char *) s;
    k.len = len;

    a->key = NGX_HTTP_FOUNDRY_CA_K_OTHER;

#define ngx_http_foundry_ca_is(name)                                          \
    (k.len == sizeof(name) - 1                                                \
     && ngx_memcmp(k.data, name, sizeof(name) - 1) == 0)

    if (a->depth == 1) {
        a->top = NGX_HTTP_FOUNDRY_CA_T_OTHER;

        if (ngx_http_foundry_ca_is("categoriesAnalysis")) {
            a->top = NGX_HTTP_FOUNDRY_CA_T_CATEGORIES;

        } else if (ngx_http_foundry_ca_is("blocklistsMatch")) {
            a->top = NGX_HTTP_FOUNDRY_CA_T_BLOCKLISTS;

        } else if (ngx_http_foundry_ca_is("userPromptAnalysis")) {
            a->top = NGX_HTTP_FOUNDRY_CA_T_USER;

        } else if (ngx_http_foundry_ca_is("documentsAnalysis")) {
            a->top = NGX_HTTP_FOUNDRY_CA_T_DOCUMENTS;

        } else if (ngx_http_foundry_ca_is("allowed")) {
            a->top = NGX_HTTP_FOUNDRY_CA_T_ALLOWED;

        } else if (ngx_http_foundry_ca_is("reason")) {
            a->top = NGX_HTTP_FOUNDRY_CA_T_REASON;
        }

        return 1;
    }

    if (ngx_http_foundry_ca_is("category")) {
        a->key = NGX_HTTP_FOUNDRY_CA_K_CATEGORY;

    } else if (ngx_http_foundry_ca_is("severity")) {
        a->key = NGX_HTTP_FOUNDRY_CA_K_SEVERITY;

    } else if (ngx_http_foundry_ca_is("blocklistName")) {
        a->key = NGX_HTTP_FOUNDRY_CA_K_NAME;

    } else if (ngx_http_foundry_ca_is("attackDetected")) {
        a->key = NGX_HTTP_FOUNDRY_CA_K_ATTACK;
    }

#undef ngx_http_foundry_ca_is

    return 1;
}


/* whether the location refuses what the checker found */

ngx_uint_t
ngx_http_foundry_content_flagged(ngx_http_foundry_content_conf_t *ccf,
    ngx_http_foundry_ct_result_t *res)
{
    ngx_uint_t  i;

    if (res->user_attack || res->doc_attack || res->blocked || res->denied) {
        return 1;
    }

    for (i = 0; i < NGX_HTTP_FOUNDRY_CT_CATEGORIES; i++) {
        if (ccf->thresholds[i] >= 0 && res->severity[i] >= 0
            && res->severity[i] >= ccf->thresholds[i])
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Why, for $foundry_content_reason and the log: "Violence:6 jailbreak
 * blocklist:<name>" or the generic checker's reason; never the prompt.
 */

ngx_int_t
ngx_http_foundry_content_reason(ngx_pool_t *pool,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ct_result_t *res,
    ngx_str_t *reason)
{
    u_char      *p, *start, *last;
    size_t       size;
    ngx_uint_t   i;

    size = 128 + NGX_HTTP_FOUNDRY_CT_NAME_MAX + NGX_HTTP_FOUNDRY_CT_REASON_MAX;

    start = ngx_pnalloc(pool, size);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;
    last = start + size;

    for (i = 0; i < NGX_HTTP_FOUNDRY_CT_CATEGORIES; i++) {
        if (ccf->thresholds[i] >= 0 && res->severity[i] >= ccf->thresholds[i]
            && res->severity[i] >= 0)
        {
            p = ngx_slprintf(p, last, " %V:%d", &ngx_http_foundry_ct_names[i],
                             (int) res->severity[i]);
        }
    }

    if (res->user_attack) {
        p = ngx_slprintf(p, last, " jailbreak");
    }

    if (res->doc_attack) {
        p = ngx_slprintf(p, last, " indirect_attack");
    }

    if (res->blocked) {
        p = ngx_slprintf(p, last, " blocklist:%*s",
                         (size_t) res->blocklist_len, res->blocklist);
    }

    if (res->denied) {
        p = ngx_slprintf(p, last, " denied:%*s",
                         (size_t) res->reason_len, res->reason);
    }

    reason->data = (p > start) ? start + 1 : start;
    reason->len = (p > start) ? (size_t) (p - start - 1) : 0;

    return NGX_OK;
}


/*
 * The 400 Azure OpenAI answers a filtered prompt with: code content_filter,
 * innererror ResponsibleAIPolicyViolation, the result of every check the
 * location asks for.  Nothing of the prompt.
 */

ngx_buf_t *
ngx_http_foundry_content_error(ngx_http_request_t *r,
    ngx_http_foundry_content_conf_t *ccf, ngx_http_foundry_ct_result_t *res,
    ngx_uint_t stage)
{
    u_char      *p, *last;
    size_t       size;
    ngx_buf_t   *b;
    ngx_int_t    sev;
    ngx_uint_t   i, filtered, first;

    size = 1024 + 6 * (NGX_HTTP_FOUNDRY_CT_NAME_MAX
                       + NGX_HTTP_FOUNDRY_CT_REASON_MAX);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;
    last = b->end;

    if (stage == NGX_HTTP_FOUNDRY_CT_REPLY) {
        p = ngx_slprintf(p, last,
                         "{\"error\":{\"code\":\"content_filter\","
                         "\"message\":\"The model's answer was filtered by "
                         "the gateway's content policy.\","
                         "\"param\":\"completion\",");

    } else {
        p = ngx_slprintf(p, last,
                         "{\"error\":{\"code\":\"content_filter\","
                         "\"message\":\"The prompt was filtered by the "
                         "gateway's content policy. Please modify your "
                         "prompt and retry.\",\"param\":\"prompt\",");
    }

    p = ngx_slprintf(p, last,
                     "\"type\":null,\"status\":400,"
                     "\"innererror\":{\"code\":"
                     "\"ResponsibleAIPolicyViolation\","
                     "\"content_filter_result\":{");

    first = 1;

    for (i = 0; i < NGX_HTTP_FOUNDRY_CT_CATEGORIES; i++) {
        if (ccf->thresholds[i] < 0) {
            continue;
        }

        sev = res->severity[i] < 0 ? 0 : res->severity[i];
        filtered = (sev >= ccf->thresholds[i] && res->severity[i] >= 0);

        p = ngx_slprintf(p, last,
                         "%s\"%s\":{\"filtered\":%s,\"severity\":\"%s\"}",
                         first ? "" : ",", ngx_http_foundry_ct_filter_names[i],
                         filtered ? "true" : "false",
                         ngx_http_foundry_ct_levels[sev & 7]);
        first = 0;
    }

    if (ccf->shield && stage == NGX_HTTP_FOUNDRY_CT_PROMPT) {
        p = ngx_slprintf(p, last,
                         "%s\"jailbreak\":{\"filtered\":%s,\"detected\":%s},"
                         "\"indirect_attack\":{\"filtered\":%s,"
                         "\"detected\":%s}",
                         first ? "" : ",",
                         res->user_attack ? "true" : "false",
                         res->user_attack ? "true" : "false",
                         res->doc_attack ? "true" : "false",
                         res->doc_attack ? "true" : "false");
        first = 0;
    }

    if (res->blocked) {
        p = ngx_slprintf(p, last,
                         "%s\"custom_blocklists\":{\"filtered\":true,"
                         "\"details\":[{\"filtered\":true,\"id\":\"",
                         first ? "" : ",");
        p = (u_char *) ngx_escape_json(p, res->blocklist, res->blocklist_len);
        p = ngx_slprintf(p, last, "\"}]}");
        first = 0;
    }

    if (ccf->shape == NGX_HTTP_FOUNDRY_CT_GENERIC) {
        p = ngx_slprintf(p, last,
                         "%s\"custom_check\":{\"filtered\":%s,\"reason\":\"",
                         first ? "" : ",", res->denied ? "true" : "false");
        p = (u_char *) ngx_escape_json(p, res->reason, res->reason_len);
        p = ngx_slprintf(p, last, "\"}");
    }

    p = ngx_slprintf(p, last, "}}}}");

    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    return b;
}
