# Usage detail (issue 18, item 5): cached and reasoning tokens from the
# Responses API's input_tokens_details/output_tokens_details, in the usage
# that response.incomplete and response.failed events carry, not only
# response.completed.  Chat's prompt_tokens_details/completion_tokens_details
# and response.completed are in t/030-usage.t (blocks 2, 12, 28), the
# metric kinds "cached" and "reasoning" in t/032-metrics.t.

use Test::Nginx::Socket;

repeat_each(1);

plan tests => 3 * blocks();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a Responses stream that ends with response.incomplete: its usage counts, details included
--- http_config
    foundry_upstream fixture kind=openai-compatible
                     url=http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fixture;
    log_format usage 'usage|$foundry_prompt_tokens|$foundry_completion_tokens|$foundry_total_tokens|$foundry_cached_tokens|$foundry_reasoning_tokens|';
--- config
    location = /fixture/responses {
        default_type text/event-stream;
        return 200 "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\nevent: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"id\":\"r\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"usage\":{\"input_tokens\":120,\"output_tokens\":64,\"total_tokens\":184,\"input_tokens_details\":{\"cached_tokens\":100},\"output_tokens_details\":{\"reasoning_tokens\":60}}}}\n\n";
    }

    location /v1/ {
        foundry_gateway on;
        foundry_model fx upstream=fixture;
        proxy_pass $foundry_upstream_url;
        access_log logs/access.log usage;
    }
--- request
POST /v1/responses
{"model":"fx","stream":true}
--- response_body_like: response\.incomplete
--- access_log
usage|120|64|184|100|60|



=== TEST 2: a Responses stream that ends with response.failed: its usage counts, details included
--- http_config
    foundry_upstream fixture kind=openai-compatible
                     url=http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fixture;
    log_format usage 'usage|$foundry_prompt_tokens|$foundry_completion_tokens|$foundry_total_tokens|$foundry_cached_tokens|$foundry_reasoning_tokens|';
--- config
    location = /fixture/responses {
        default_type text/event-stream;
        return 200 "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"response\":{\"usage\":null}}\n\nevent: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"x\"},\"usage\":{\"input_tokens\":30,\"output_tokens\":5,\"total_tokens\":35,\"input_tokens_details\":{\"cached_tokens\":8},\"output_tokens_details\":{\"reasoning_tokens\":4}}}}\n\n";
    }

    location /v1/ {
        foundry_gateway on;
        foundry_model fx upstream=fixture;
        proxy_pass $foundry_upstream_url;
        access_log logs/access.log usage;
    }
--- request
POST /v1/responses
{"model":"fx","stream":true}
--- response_body_like: response\.failed
--- access_log
usage|30|5|35|8|4|
