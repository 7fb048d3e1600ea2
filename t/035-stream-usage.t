# foundry_stream_usage: a chat completion streamed without
# "stream_options": {"include_usage": true} gets it in the body sent
# upstream, so that the gateway knows the usage; the event the upstream
# adds for it (empty "choices", a "usage" object) is taken out of what the
# client receives.  Only toward upstreams that take "stream_options"
# (azure-openai from api-version 2024-09-01, the others unless
# stream_options=off), only for chat/completions and completions, and
# never when the client asked for usage itself.
#
# The body the upstream got is seen with the mock's echo (x-mock-echo);
# the streams are the mock's (t/mock/README.md, t/lib/FoundryUsage.pm).

use Cwd qw(cwd);
use JSON::PP ();
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryUsage;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

repeat_each(1);

no_shuffle();

our $Gateway = <<'_EOC_';
    location /v1/ {
        foundry_gateway on;
        foundry_stream_usage on;
        foundry_model gpt-4o upstream=oai;
        foundry_model old upstream=aoai-old;
        foundry_model compat upstream=compat;
        foundry_model forced upstream=aoai-forced;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        access_log logs/access.log usage;
    }

    location /openai/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_stream_usage on;
        foundry_model gpt-4o upstream=aoai;
        foundry_model oai-in-path upstream=oai upstream_model=gpt-4o;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        access_log logs/access.log usage;
    }

    location /off/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
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
    foundry_upstream aoai-old kind=azure-openai url=http://mock
                     api_version=2024-06-01 api_key=aoai-key;
    foundry_upstream aoai-forced kind=azure-openai url=http://mock
                     api_version=2024-06-01 api_key=aoai-key
                     stream_options=on;
    foundry_upstream compat kind=openai-compatible url=http://mock
                     stream_options=off;

    log_format usage 'usage|$request_method $request_uri|$status|$foundry_prompt_tokens|$foundry_completion_tokens|$foundry_total_tokens|$foundry_cached_tokens|$foundry_reasoning_tokens|';
_EOC_
    }

    $block->set_value('config', ($block->config // '') . $Gateway);

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', [\&main::mask_ids]);
    }

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log', "[error]\n[alert]\n");
    }
});

# the echo's "body": the body the upstream got

sub main::echoed {
    my ($body) = @_;
    $body =~ /"body":("(?:[^"\\]|\\.)*")/ or return "no body in $body";
    return JSON::PP->new->allow_nonref->decode($1);
}

# status, body, the access log line, no [error], no [alert]; TEST 11 has
# two requests
plan tests => 5 * blocks() + 5;

run_tests();

__DATA__

=== TEST 1: a stream without include_usage: counted, the usage event not passed on
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- more_headers
x-mock-usage: 21,13,5,3
x-mock-chunks: 5
--- response_body eval
main::without_usage(main::chat_sse('gpt-4o', 5, main::chat_usage(21, 13, 5, 3)))
--- access_log
usage|POST /v1/chat/completions|200|21|13|34|5|3|



=== TEST 2: the body the upstream gets: "stream_options" added first
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 3: "stream_options" without include_usage: it is added to it
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_obfuscation":false}}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 4: an empty "stream_options", with blanks
--- request
POST /v1/chat/completions
{ "model" : "gpt-4o" , "stream" : true , "stream_options" : { } }
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{ "model" : "gpt-4o" , "stream" : true , "stream_options" : {"include_usage":true } }
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 5: include_usage false becomes true
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 6: include_usage false: the client gets no usage event, the gateway counts
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}}
--- more_headers
x-mock-usage: 8,9
--- response_body eval
main::without_usage(main::chat_sse('gpt-4o', 3, main::chat_usage(8, 9)))
--- access_log
usage|POST /v1/chat/completions|200|8|9|17|0|0|



=== TEST 7: the client asked for usage: the body is not changed, the event passes
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 8,9
--- response_body eval
main::chat_sse('gpt-4o', 3, main::chat_usage(8, 9))
--- access_log
usage|POST /v1/chat/completions|200|8|9|17|0|0|



=== TEST 8: not streamed: the body is not changed
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":false}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"model":"gpt-4o","stream":false}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 9: completions streamed: added, and its usage event taken out
--- request
POST /v1/completions
{"model":"gpt-4o","stream":true,"prompt":"hi"}
--- more_headers
x-mock-usage: 4,6
x-mock-chunks: 2
--- response_body eval
main::without_usage(main::completions_sse('gpt-4o', 2, main::chat_usage(4, 6)))
--- access_log
usage|POST /v1/completions|200|4|6|10|0|0|



=== TEST 10: the Responses API has no "stream_options": not changed
--- request
POST /v1/responses
{"model":"gpt-4o","stream":true,"input":"hi"}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"model":"gpt-4o","stream":true,"input":"hi"}
--- access_log
usage|POST /v1/responses|200|-|-|-|-|-|



=== TEST 11: "stream_options" that is not an object, include_usage that is not a boolean: left to the upstream
--- request eval
["POST /v1/chat/completions\n" . '{"model":"gpt-4o","stream":true,"stream_options":null}',
 "POST /v1/chat/completions\n" . '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":"yes"}}']
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body eval
['{"model":"gpt-4o","stream":true,"stream_options":null}',
 '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":"yes"}}']
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 12: Azure OpenAI classic 2024-10-21, the deployment in the path: the body is read and changed
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"stream":true,"messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"stream_options":{"include_usage":true},"stream":true,"messages":[]}
--- access_log
usage|POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21|200|-|-|-|-|-|



=== TEST 13: Azure OpenAI classic 2024-10-21 streamed: counted, the event taken out
--- request
POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21
{"stream":true,"messages":[]}
--- more_headers
x-mock-usage: 30,40
--- response_body eval
main::without_usage(main::chat_sse('gpt-4o', 3, main::chat_usage(30, 40)))
--- access_log
usage|POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21|200|30|40|70|0|0|



=== TEST 14: "model" inserted (path mode toward OpenAI) and "stream_options" added at the same place
--- request
POST /openai/deployments/oai-in-path/chat/completions?api-version=2024-10-21
{"stream":true}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true}
--- access_log
usage|POST /openai/deployments/oai-in-path/chat/completions?api-version=2024-10-21|200|-|-|-|-|-|



=== TEST 15: ... and with nothing else in the body but "stream"
--- request
POST /openai/deployments/oai-in-path/chat/completions?api-version=2024-10-21
{"stream":true,"n":1}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"stream_options":{"include_usage":true},"model":"gpt-4o","stream":true,"n":1}
--- access_log
usage|POST /openai/deployments/oai-in-path/chat/completions?api-version=2024-10-21|200|-|-|-|-|-|



=== TEST 16: Azure OpenAI before 2024-09-01: not changed
--- request
POST /v1/chat/completions
{"model":"old","stream":true}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"model":"old","stream":true}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 17: stream_options=on for an older api-version
--- request
POST /v1/chat/completions
{"model":"forced","stream":true}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"stream_options":{"include_usage":true},"model":"forced","stream":true}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 18: stream_options=off: not changed
--- request
POST /v1/chat/completions
{"model":"compat","stream":true}
--- more_headers
x-mock-echo: 1
--- response_body_filters eval
[\&main::echoed]
--- response_body chomp
{"model":"compat","stream":true}
--- access_log
usage|POST /v1/chat/completions|200|-|-|-|-|-|



=== TEST 19: foundry_stream_usage off (the default): not changed, no usage
--- request
POST /off/chat/completions
{"model":"gpt-4o","stream":true}
--- more_headers
x-mock-usage: 8,9
--- response_body eval
main::chat_sse('gpt-4o', 3, undef)
--- access_log
usage|POST /off/chat/completions|200|-|-|-|-|-|



=== TEST 20: a long stream, events 20 ms apart: every event passes, in time
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true}
--- more_headers
x-mock-usage: 1000,2000
x-mock-chunks: 50
x-mock-chunk-delay-ms: 20
--- response_body eval
main::without_usage(main::chat_sse('gpt-4o', 50, main::chat_usage(1000, 2000)))
--- access_log
usage|POST /v1/chat/completions|200|1000|2000|3000|0|0|



=== TEST 21: an upstream error answer is passed on unchanged
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true}
--- more_headers
x-mock-status: 429
x-mock-retry-after: 3
--- error_code: 429
--- response_body chomp
{"error":{"code":"MockError","message":"mock status 429"}}
--- access_log
usage|POST /v1/chat/completions|429|-|-|-|-|-|
