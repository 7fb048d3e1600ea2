# Token usage is read from an answer only when something reads it: a
# foundry_limit of the location, foundry_stream_usage, a metrics zone
# (foundry_metrics_zone), or one of the $foundry_*_tokens variables named
# in the configuration (a log_format here).  Without any, the answer
# passes unread (docs/variables.md); either way it reaches the client
# unchanged.
#
# The reading is seen in the debug log (Test::Nginx logs at "debug"):
# "foundry usage: read from the JSON answer" (or "SSE") when the reader
# starts, "foundry usage: not read, nothing reads it" when it does not.

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

our $Mock = FoundryConf::mock_http(oai => {bearer => undef});

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Mock);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', [\&main::mask_ids]);
    }
});

# each block: the status, the body, its error_log and no_error_log lines
plan tests => 4 * blocks() + 1;

run_tests();

__DATA__

=== TEST 1: nothing reads the usage: a JSON answer passes unread
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body eval
main::chat_json('gpt-4o', main::chat_usage(10, 7))
--- error_log
foundry usage: not read, nothing reads it
--- no_error_log
foundry usage: read from



=== TEST 2: nothing reads the usage: a stream passes unread
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 21,13,5,3
x-mock-chunks: 3
--- response_body eval
main::chat_sse('gpt-4o', 3, main::chat_usage(21, 13, 5, 3))
--- error_log
foundry usage: not read, nothing reads it
--- no_error_log
foundry usage: read from



=== TEST 3: a limit zone that no location of the request uses reads nothing
--- http_config eval
$::Mock . <<'_EOC_';
    foundry_limit_zone limits:1m;
_EOC_
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location /limited/v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$foundry_deployment tpm=100000;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- response_body eval
main::chat_json('gpt-4o', main::chat_usage(10, 7))
--- error_log
foundry usage: not read, nothing reads it
--- no_error_log
foundry usage: read from



=== TEST 4: a token variable in a log_format: read, and logged
--- http_config eval
$::Mock . <<'_EOC_';
    log_format tokens 'tokens|$foundry_prompt_tokens|$foundry_total_tokens|';
_EOC_
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
        access_log logs/access.log tokens;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- response_body eval
main::chat_json('gpt-4o', main::chat_usage(10, 7))
--- access_log
tokens|10|17|
--- error_log
foundry usage: read from the JSON answer
--- no_error_log
foundry usage: not read



=== TEST 5: the location's foundry_limit reads it
--- http_config eval
$::Mock . <<'_EOC_';
    foundry_limit_zone limits:1m;
_EOC_
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$foundry_deployment tpm=100000;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- response_body eval
main::chat_json('gpt-4o', main::chat_usage(10, 7))
--- error_log
foundry usage: read from the JSON answer
--- no_error_log
foundry usage: not read



=== TEST 6: a metrics zone reads it (the tokens' counters)
--- http_config eval
$::Mock . <<'_EOC_';
    foundry_metrics_zone metrics:1m;
_EOC_
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}
--- more_headers
x-mock-usage: 21,13
x-mock-chunks: 2
--- response_body eval
main::chat_sse('gpt-4o', 2, main::chat_usage(21, 13))
--- error_log
foundry usage: read from the SSE answer
--- no_error_log
foundry usage: not read



=== TEST 7: foundry_stream_usage reads it (the usage chunk it asked for is taken out)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_stream_usage on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","stream":true}
--- more_headers
x-mock-usage: 21,13
x-mock-chunks: 2
--- response_body eval
main::without_usage(main::chat_sse('gpt-4o', 2, main::chat_usage(21, 13)))
--- error_log
foundry usage: read from the SSE answer
--- no_error_log
foundry usage: not read
