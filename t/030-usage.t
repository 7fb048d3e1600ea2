# Token usage: the $foundry_*_tokens variables, read from the upstream's
# answer as it passes (a JSON body, or the last "usage" of a Server-Sent
# Events stream), and the answer reaching the client unchanged.
#
# The variables are checked in the access log: the gateway locations log
# with the "usage" format below, one line a request,
#
#   usage|METHOD URI|STATUS|prompt|completion|total|cached|reasoning|
#
# ("-" for a variable that is not set), and "--- access_log" looks for the
# exact line.  Every block starts a fresh nginx, so its access log holds
# only its own requests.
#
# Answers of the mock (t/mock/README.md) are compared byte for byte, ids
# masked ("chatcmpl-mock-17" becomes "chatcmpl-mock-N").  Answers the mock
# cannot give (nested "usage" keys, CRLF streams, numbers that are not
# integers ...) come from a "fixture" upstream: a location of the same
# nginx that answers with "return 200".

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryUsage;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

repeat_each(1);

no_shuffle();

our $T;

our $Gateway = <<'_EOC_';
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_model text-embedding-3-small upstream=oai;
        foundry_model fx upstream=fixture;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        access_log logs/access.log usage;
    }

    location /openai/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        access_log logs/access.log usage;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', FoundryConf::mock_http(
            oai => {bearer => undef},
            aoai => {url => 'http://mock', api_version => '2024-10-21'})
            . <<'_EOC_');
    foundry_upstream fixture kind=openai-compatible
                     url=http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fixture;

    log_format usage 'usage|$request_method $request_uri|$status|$foundry_prompt_tokens|$foundry_completion_tokens|$foundry_total_tokens|$foundry_cached_tokens|$foundry_reasoning_tokens|';
_EOC_
    }

    # the gateway locations, after the block's own (fixtures)

    my $config = $block->config // '';

    if ($config !~ /foundry_gateway/) {
        $block->set_value('config', $config . $Gateway);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', [\&main::mask_ids]);
    }
});

# 3 tests a block (status, body, the access log line); 2 blocks check a
# header; the pipelined block checks 4 answers and 4 lines after each
plan tests => 3 * blocks() + 2 + 21;

run_tests();

__DATA__

=== TEST 1: chat completion, JSON: the mock's default usage
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body eval
main::chat_json('gpt-4o', main::chat_usage(10, 7))
--- access_log
usage|POST /v1/chat/completions|200|10|7|17|0|0|



=== TEST 2: chat completion, JSON: cached and reasoning tokens
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- more_headers
x-mock-usage: 1234, 567, 200, 100
--- response_body eval
main::chat_json('gpt-4o', main::chat_usage(1234, 567, 200, 100))
--- access_log
usage|POST /v1/chat/completions|200|1234|567|1801|200|100|



=== TEST 3: chat completion, JSON: zeros are counts, not "unknown"
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-usage: 0,0
--- response_body eval
main::chat_json('gpt-4o', main::chat_usage(0, 0))
--- access_log
usage|POST /v1/chat/completions|200|0|0|0|0|0|



=== TEST 4: counts beyond 32 bits; beyond 2^40, even beyond 64 bits, they count as 2^40
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-body: {"usage":{"prompt_tokens":4294967296,"completion_tokens":9223372036854775807,"total_tokens":18446744073709551616,"prompt_tokens_details":{"cached_tokens":2147483648},"completion_tokens_details":{"reasoning_tokens":4294967295}}}
--- response_body chomp
{"usage":{"prompt_tokens":4294967296,"completion_tokens":9223372036854775807,"total_tokens":18446744073709551616,"prompt_tokens_details":{"cached_tokens":2147483648},"completion_tokens_details":{"reasoning_tokens":4294967295}}}
--- access_log
usage|POST /v1/chat/completions|200|4294967296|1099511627776|1099511627776|2147483648|4294967295|



=== TEST 5: completions, JSON
--- request
POST /v1/completions
{"model":"gpt-4o","prompt":"hi"}
--- more_headers
x-mock-usage: 3,5,1,2
--- response_body eval
'{"choices":[{"finish_reason":"stop","index":0,"logprobs":null,"text":"'
. $main::T . '"}],"created":1700000000,"id":"cmpl-mock-N","model":"gpt-4o",'
. '"object":"text_completion","usage":' . main::chat_usage(3, 5, 1, 2) . '}'
--- access_log
usage|POST /v1/completions|200|3|5|8|1|2|



=== TEST 6: embeddings: prompt and total only
--- request
POST /v1/embeddings
{"model":"text-embedding-3-small","input":"hi"}
--- more_headers
x-mock-usage: 42,0
--- response_body chomp
{"data":[{"embedding":[0.0023,-0.0091,0.0154,-0.0042,0.0087,-0.0131,0.0065,-0.0019],"index":0,"object":"embedding"}],"model":"text-embedding-3-small","object":"list","usage":{"prompt_tokens":42,"total_tokens":42}}
--- access_log
usage|POST /v1/embeddings|200|42|-|42|-|-|



=== TEST 7: responses, JSON: input and output tokens and their details
--- request
POST /v1/responses
{"model":"gpt-4o","input":"hi"}
--- more_headers
x-mock-usage: 40,20,8,4
--- response_body eval
main::responses_object('gpt-4o', main::responses_usage(40, 20, 8, 4))
--- access_log
usage|POST /v1/responses|200|40|20|60|8|4|



=== TEST 8: chat completion stream with include_usage: the last chunk
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 21,13,5,3
x-mock-chunks: 5
--- response_headers
Content-Type: text/event-stream
--- response_body eval
main::chat_sse('gpt-4o', 5, main::chat_usage(21, 13, 5, 3))
--- access_log
usage|POST /v1/chat/completions|200|21|13|34|5|3|



=== TEST 9: chat completion stream, events 50 ms apart
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 8,9
x-mock-chunks: 2
x-mock-chunk-delay-ms: 50
--- response_body eval
main::chat_sse('gpt-4o', 2, main::chat_usage(8, 9))
--- access_log
usage|POST /v1/chat/completions|200|8|9|17|0|0|



=== TEST 10: a stream without include_usage: the variables stay empty
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true}
--- more_headers
x-mock-usage: 8,9
--- response_body eval
main::chat_sse('gpt-4o', 3, undef)
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 11: completions stream with include_usage
--- request
POST /v1/completions
{"model":"gpt-4o","prompt":"hi","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 11,22,0,6
x-mock-chunks: 4
--- response_body eval
main::completions_sse('gpt-4o', 4, main::chat_usage(11, 22, 0, 6))
--- access_log
usage|POST /v1/completions|200|11|22|33|0|6|



=== TEST 12: Responses API stream: the usage of response.completed
--- request
POST /v1/responses
{"model":"gpt-4o","input":"hi","stream":true}
--- more_headers
x-mock-usage: 100,50,30,20
x-mock-chunks: 3
--- response_body eval
main::responses_sse('gpt-4o', 3, main::responses_usage(100, 50, 30, 20))
--- access_log
usage|POST /v1/responses|200|100|50|150|30|20|



=== TEST 13: a stream of 1000 content events
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 12345,67890
x-mock-chunks: 1000
--- response_body eval
main::chat_sse('gpt-4o', 1000, main::chat_usage(12345, 67890))
--- access_log
usage|POST /v1/chat/completions|200|12345|67890|80235|0|0|



=== TEST 14: Azure OpenAI classic, the deployment in the path (the body is not read)
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 7,6,5,4
x-mock-chunks: 1
--- response_body eval
main::chat_sse('gpt-4o', 1, main::chat_usage(7, 6, 5, 4))
--- access_log
usage|POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21|200|7|6|13|5|4|



=== TEST 15: an error answer of the upstream has no usage
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 500
--- error_code: 500
--- response_body chomp
{"error":{"code":"MockError","message":"mock status 500"}}
--- access_log
usage|POST /v1/chat/completions|500|-|-|-|-|-|



=== TEST 16: an error answer carrying a usage object: not counted
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 400
x-mock-body: {"error":{"code":"content_filter"},"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}
--- error_code: 400
--- response_body chomp
{"error":{"code":"content_filter"},"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}
--- access_log
usage|POST /v1/chat/completions|400|-|-|-|-|-|



=== TEST 17: a 200 answer that is not JSON: passed on, no usage
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-garbage: 1
--- response_body chomp
this is not json
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 18: a 200 answer of another type is not read
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-content-type: text/plain
x-mock-body: {"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}
--- response_headers
Content-Type: text/plain
--- response_body chomp
{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 19: application/json with parameters, fields in any order, nested "usage" keys ignored
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-content-type: application/json; charset=utf-8
x-mock-body: {"choices":[{"usage":{"total_tokens":999}}],"meta":{"usage":{"prompt_tokens":999}},"usage":{"total_tokens":30,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":9},"completion_tokens":20,"prompt_tokens":10,"completion_tokens_details":{"reasoning_tokens":6,"audio_tokens":9}},"x":{"usage":{"total_tokens":999}}}
--- response_body chomp
{"choices":[{"usage":{"total_tokens":999}}],"meta":{"usage":{"prompt_tokens":999}},"usage":{"total_tokens":30,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":9},"completion_tokens":20,"prompt_tokens":10,"completion_tokens_details":{"reasoning_tokens":6,"audio_tokens":9}},"x":{"usage":{"total_tokens":999}}}
--- access_log
usage|POST /v1/chat/completions|200|10|20|30|4|6|



=== TEST 20: counts that are not integers are ignored, the others kept
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-body: {"usage":{"prompt_tokens":"10","completion_tokens":2.5,"total_tokens":-3,"prompt_tokens_details":{"cached_tokens":null},"completion_tokens_details":{"reasoning_tokens":7}}}
--- response_body chomp
{"usage":{"prompt_tokens":"10","completion_tokens":2.5,"total_tokens":-3,"prompt_tokens_details":{"cached_tokens":null},"completion_tokens_details":{"reasoning_tokens":7}}}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|7|



=== TEST 21: details at the wrong level do not count
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-body: {"cached_tokens":1,"usage":{"cached_tokens":2,"reasoning_tokens":3,"prompt_tokens":4,"completion_tokens_details":{"cached_tokens":5},"prompt_tokens_details":{"reasoning_tokens":6}}}
--- response_body chomp
{"cached_tokens":1,"usage":{"cached_tokens":2,"reasoning_tokens":3,"prompt_tokens":4,"completion_tokens_details":{"cached_tokens":5},"prompt_tokens_details":{"reasoning_tokens":6}}}
--- access_log
usage|POST /v1/chat/completions|200|4|-|-|-|-|



=== TEST 22: a JSON answer cut after its usage object: the usage seen is kept
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-body: {"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9},"choices":[
--- response_body chomp
{"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9},"choices":[
--- access_log
usage|POST /v1/chat/completions|200|4|5|9|-|-|



=== TEST 23: a JSON answer cut inside its usage object: the counts complete so far
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-body: {"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tok
--- response_body chomp
{"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tok
--- access_log
usage|POST /v1/chat/completions|200|4|5|-|-|-|



=== TEST 24: a top-level array is not an answer with usage
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- more_headers
x-mock-status: 200
x-mock-body: [{"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9}}]
--- response_body chomp
[{"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9}}]
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 25: an SSE stream with CRLF lines, "data:" without a space, comments, ids, and a usage in every event: the last wins
--- config
    location = /fixture/chat/completions {
        default_type text/event-stream;
        return 200 ": keep-alive\r\nid: 1\r\ndata:{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":1}}}\r\n\r\nretry: 10\r\ndata: {\"usage\":null}\r\n\r\ndata: {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\r\n\r\ndata: [DONE]\r\n\r\n";
    }
--- request
POST /v1/chat/completions
{"model":"fx","stream":true}
--- response_body eval
": keep-alive\r\nid: 1\r\n"
. qq~data:{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}\r\n\r\n~
. qq~retry: 10\r\ndata: {"usage":null}\r\n\r\n~
. qq~data: {"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\r\n\r\n~
. "data: [DONE]\r\n\r\n"
--- access_log
usage|POST /v1/chat/completions|200|3|4|7|-|-|



=== TEST 26: SSE: a "data:" value with more than one leading space is still JSON
# BUG: the SSE reader (ngx_http_foundry_usage_sse, state
# NGX_HTTP_FOUNDRY_SSE_FIRST) removes one space after "data:", as the SSE
# specification says, but then wants "{" at once: a value " {...}" is
# valid JSON (clients parse it) and its usage is missed: the access log
# shows "usage|POST /v1/chat/completions|200|-|-|-|-|-|".
--- config
    location = /fixture/chat/completions {
        default_type text/event-stream;
        return 200 "data:  {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\ndata:\t{\"x\":1}\n\n";
    }
--- request
POST /v1/chat/completions
{"model":"fx","stream":true}
--- response_body eval
qq~data:  {"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\ndata:\t{"x":1}\n\n~
--- access_log
usage|POST /v1/chat/completions|200|3|4|7|-|-|



=== TEST 27: SSE: "usage" of other lines and of nested objects is ignored
--- config
    location = /fixture/chat/completions {
        default_type text/event-stream;
        return 200 "event: usage\ndata: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,\"total_tokens\":11}}\n\nevent: other\ndata: {\"choices\":[{\"usage\":{\"total_tokens\":99}}],\"item\":{\"usage\":{\"prompt_tokens\":99}}}\n\n: data: {\"usage\":{\"total_tokens\":98}}\nid: {\"usage\":{\"total_tokens\":97}}\n\n";
    }
--- request
POST /v1/chat/completions
{"model":"fx","stream":true}
--- response_body eval
qq~event: usage\ndata: {"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}\n\n~
. qq~event: other\ndata: {"choices":[{"usage":{"total_tokens":99}}],"item":{"usage":{"prompt_tokens":99}}}\n\n~
. qq~: data: {"usage":{"total_tokens":98}}\nid: {"usage":{"total_tokens":97}}\n\n~
--- access_log
usage|POST /v1/chat/completions|200|5|6|11|-|-|



=== TEST 28: Responses API events: only response.usage counts
--- config
    location = /fixture/responses {
        default_type text/event-stream;
        return 200 "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null,\"output\":[{\"usage\":{\"input_tokens\":99}}]}}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"output\":[{\"content\":[{\"usage\":{\"input_tokens\":98}}]}],\"usage\":{\"input_tokens\":12,\"output_tokens\":34,\"total_tokens\":46,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens_details\":{\"reasoning_tokens\":30}}}}\n\n";
    }
--- request
POST /v1/responses
{"model":"fx","stream":true}
--- response_body eval
qq~event: response.created\ndata: {"type":"response.created","response":{"usage":null,"output":[{"usage":{"input_tokens":99}}]}}\n\n~
. qq~event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","output":[{"content":[{"usage":{"input_tokens":98}}]}],"usage":{"input_tokens":12,"output_tokens":34,"total_tokens":46,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":30}}}}\n\n~
--- access_log
usage|POST /v1/responses|200|12|34|46|2|30|



=== TEST 29: a pretty-printed JSON answer
--- config
    location = /fixture/chat/completions {
        default_type application/json;
        return 200 "{\n  \"id\": \"x\",\n  \"usage\" : {\n    \"prompt_tokens\" : 17 ,\n    \"completion_tokens\":\t3,\n    \"total_tokens\": 20\n  }\n}\n";
    }
--- request
POST /v1/chat/completions
{"model":"fx"}
--- response_body eval
qq~{\n  "id": "x",\n  "usage" : {\n    "prompt_tokens" : 17 ,\n    "completion_tokens":\t3,\n    "total_tokens": 20\n  }\n}\n~
--- access_log
usage|POST /v1/chat/completions|200|17|3|20|-|-|



=== TEST 30: proxy_buffering on: usage read from the buffered answer too
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        proxy_pass $foundry_upstream_url;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering on;
        access_log logs/access.log usage;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 31,32,33,34
x-mock-chunks: 200
--- response_body eval
main::chat_sse('gpt-4o', 200, main::chat_usage(31, 32, 33, 34))
--- access_log
usage|POST /v1/chat/completions|200|31|32|63|33|34|



=== TEST 31: several requests on one connection, each with its own usage
--- pipelined_requests eval
["POST /v1/chat/completions\n" . '{"model":"gpt-4o","messages":[]}',
 "POST /v1/chat/completions\n" . '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}',
 "POST /v1/chat/completions\n" . '{"model":"gpt-4o","stream":true}',
 "POST /v1/embeddings\n" . '{"model":"text-embedding-3-small","input":"x"}']
--- more_headers eval
["x-mock-usage: 1,2", "x-mock-usage: 3,4,1,1\nx-mock-chunks: 1",
 "x-mock-usage: 5,6", "x-mock-usage: 7,0"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[main::chat_json('gpt-4o', main::chat_usage(1, 2)),
 main::chat_sse('gpt-4o', 1, main::chat_usage(3, 4, 1, 1)),
 main::chat_sse('gpt-4o', 3, undef),
 '{"data":[{"embedding":[0.0023,-0.0091,0.0154,-0.0042,0.0087,-0.0131,0.0065,-0.0019],"index":0,"object":"embedding"}],"model":"text-embedding-3-small","object":"list","usage":{"prompt_tokens":7,"total_tokens":7}}']
--- access_log eval
[qr/^usage\|POST \/v1\/chat\/completions\|200\|1\|2\|3\|0\|0\|\n\z/,
 qr/^usage\|POST \/v1\/chat\/completions\|200\|3\|4\|7\|1\|1\|\n\z/,
 qr/^usage\|POST \/v1\/chat\/completions\|200\|-\|-\|-\|-\|-\|\n\z/,
 qr/^usage\|POST \/v1\/embeddings\|200\|7\|-\|7\|-\|-\|\n\z/]
