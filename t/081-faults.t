# Faults of the servers behind the gateway: a model upstream that refuses
# connections, resets or stalls in the middle of a stream, answers with
# bytes that are not HTTP, or answers 429 and 500; a JWKS location and a
# discovery source whose server is down.  The gateway answers each request
# as documented (a JSON error of its own, or the upstream's answer passed
# on, or a stream cut short) and recovers by itself once the server is
# back: no reload, no [alert], [crit] or [emerg].
#
# The broken servers are t/lib/FoundryFault.pm, started here on 127.0.0.1:
# $TEST_NGINX_FAULT_PORT breaks as its path says; $TEST_NGINX_SWITCH_PORT
# serves a few files and is switched off (connection refused) and on again
# by the blocks themselves, through /ctl/down and /ctl/up of the gateway's
# server (proxied to the fault server), which also has /ctl/sleep/MS.
#
# Streams cut short are read with HTTP/1.0 requests: the answer then has
# no chunked framing that a test client would refuse as incomplete, and
# what arrived before the cut is compared exactly.

use strict;
use warnings;

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryFault;
use FoundryRouting;
use FoundryTokens;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Completion = '{"id":"chatcmpl-switch","object":"chat.completion","model":"gpt-4o","choices":[]}';

@ENV{qw(TEST_NGINX_FAULT_PORT TEST_NGINX_SWITCH_PORT)} = FoundryFault::start(
    files => {
        '/jwks.json' => main::jwks('rsa'),
        '/v1/models' => '{"object":"list","data":[{"id":"disc-1","object":"model","created":0,"owned_by":"system"}]}',
        '/v1/chat/completions' => $Completion,
    });

our $Upstreams = FoundryConf::mock_http('oai') . <<'_EOC_';
    foundry_upstream sw kind=openai url=http://127.0.0.1:$TEST_NGINX_SWITCH_PORT;
    foundry_upstream garbage kind=openai-compatible
                     url=http://127.0.0.1:$TEST_NGINX_FAULT_PORT/garbage;
    foundry_upstream reset kind=openai-compatible
                     url=http://127.0.0.1:$TEST_NGINX_FAULT_PORT/reset/2;
    foundry_upstream stall kind=openai-compatible
                     url=http://127.0.0.1:$TEST_NGINX_FAULT_PORT/stall/2;
_EOC_

our $Ctl = <<'_EOC_';

    location /ctl/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAULT_PORT/;
        proxy_read_timeout 120s;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    # a block without config is served by the nginx of the block before

    if (defined $block->config) {
        $block->set_value('config', $block->config . $Ctl);

        if (!defined $block->http_config) {
            $block->set_value('http_config', $Upstreams);
        }
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::echo);
    }
});

# the events of the fault server's streams

sub event {
    my ($i) = @_;

    return qq(data: {"id":"chatcmpl-fault","object":"chat.completion.chunk",)
           . qq("choices":[{"index":0,"delta":{"content":"part $i"}}]}\n\n);
}

our $Down = '{"switch":"down"}';
our $Up = '{"switch":"up"}';

our $TokA = main::jwt(iss => 'https://switch.test/', sub => 'a');
our $TokB = main::jwt(iss => 'https://switch.test/', sub => 'b');
our $TokC = main::jwt(iss => 'https://switch.test/', sub => 'c');

# main::count_tests, times the requests of a "--- request eval" array

sub count {
    my $n = 0;

    for my $b (@_) {
        my $reqs = ref $b->request eq 'ARRAY' ? @{ $b->request } : 1;
        $n += $reqs * main::count_tests($b);
    }

    return $n;
}

repeat_each(1);

plan tests => repeat_each() * main::count(blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the upstream refuses connections: 502 as JSON; switched on again, the next request is routed
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=sw;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /ctl/down",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "GET /ctl/up",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}"]
--- error_code eval
[200, 502, 502, 200, 200]
--- response_headers eval
[("Content-Type: application/json") x 5]
--- response_body eval
[$::Down,
 ('{"error":{"code":"BadGateway","message":"the model upstream could not be reached or sent an invalid answer","type":"server_error"}}') x 2,
 $::Up, $::Completion]
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 2: the upstream answers bytes that are not HTTP: 502 as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=garbage;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"BadGateway","message":"the model upstream could not be reached or sent an invalid answer","type":"server_error"}}
--- error_log
upstream sent no valid HTTP/1.0 header
--- no_error_log
[alert]
[crit]



=== TEST 3: the upstream resets the connection in the middle of a stream: the events so far, then the cut; the next request is served
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=reset;
        foundry_model gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions HTTP/1.0
{"model":"gpt-4o","stream":true}
--- response_headers
Content-Type: text/event-stream
--- response_body eval
main::event(1) . main::event(2)
--- error_log
Connection reset by peer
--- no_error_log
[alert]
[crit]



=== TEST 3b: ... and the same nginx serves the next request
--- request
POST /gw/chat/completions
{"model":"gpt-4o-mini"}
--- more_headers
x-mock-echo: 1
--- response_headers
Content-Type: application/json
--- response_body eval
main::request_text('POST', '/v1/chat/completions', '',
                   { authorization => 'Bearer sk-oai', host => 'mock',
                     'content-length' => 23 },
                   '{"model":"gpt-4o-mini"}')
--- no_error_log
[alert]
[crit]



=== TEST 4: the upstream stalls in the middle of a stream (proxy_read_timeout): the events so far, then the cut; the next request is served
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=stall;
        foundry_model gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
        proxy_read_timeout 1s;
    }
--- request
POST /gw/chat/completions HTTP/1.0
{"model":"gpt-4o","stream":true}
--- response_headers
Content-Type: text/event-stream
--- response_body eval
main::event(1) . main::event(2)
--- timeout: 20
--- error_log
upstream timed out
--- no_error_log
[alert]
[crit]



=== TEST 4b: ... and the same nginx serves the next request
--- request
POST /gw/chat/completions
{"model":"gpt-4o-mini"}
--- more_headers
x-mock-echo: 1
--- response_headers
Content-Type: application/json
--- response_body eval
main::request_text('POST', '/v1/chat/completions', '',
                   { authorization => 'Bearer sk-oai', host => 'mock',
                     'content-length' => 23 },
                   '{"model":"gpt-4o-mini"}')
--- no_error_log
[alert]
[crit]



=== TEST 5: the upstream answers 429, then 500, then 200: each passed on, nothing held
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}"]
--- more_headers eval
["x-mock-status: 429\nx-mock-retry-after: 1",
 "x-mock-status: 500\nx-mock-body: <html>oops</html>\nx-mock-content-type: text/html",
 "x-mock-echo: 1"]
--- error_code eval
[429, 500, 200]
--- response_headers eval
["Retry-After: 1", "Content-Type: text/html", "Content-Type: application/json"]
--- response_body eval
['{"error":{"code":"MockError","message":"mock status 429"}}',
 '<html>oops</html>',
 main::request_text('POST', '/v1/chat/completions', '',
                    { authorization => 'Bearer sk-oai', host => 'mock',
                      'content-length' => 18 },
                    '{"model":"gpt-4o"}')]
--- no_error_log
[alert]
[crit]



=== TEST 6: the upstream answers a JSON body cut short after its headers (Content-Length not met): what came, then the cut; the next request is served
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions HTTP/1.0
{"model":"gpt-4o"}
--- more_headers
x-mock-reset-after: 12
--- response_body_like: \A\{"choices":\[\z
--- error_log
upstream prematurely closed connection
--- no_error_log
[alert]
[crit]



=== TEST 6b: ... and the same nginx serves the next request
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers
x-mock-echo: 1
--- response_headers
Content-Type: application/json
--- response_body eval
main::request_text('POST', '/v1/chat/completions', '',
                   { authorization => 'Bearer sk-oai', host => 'mock',
                     'content-length' => 18 },
                   '{"model":"gpt-4o"}')
--- no_error_log
[alert]
[crit]



=== TEST 7: the JWKS server is down before any key set was fetched: 401 as JSON; back, tokens are accepted after the 30 s hold, without a reload
--- http_config eval
$::Upstreams . q{
    foundry_jwt_zone tokens:1m;
}
--- config
    location = /_jwks/switch {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SWITCH_PORT/jwks.json;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_connect_timeout 2s;
    }

    location /gw/ {
        foundry_gateway on;
        foundry_jwt_issuer https://switch.test/
                           audience=api://foundry-gateway
                           jwks=/_jwks/switch;
        foundry_model gpt-4o created=1 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /ctl/down",
 "GET /gw/models",
 "GET /gw/models",
 "GET /ctl/up",
 "GET /ctl/sleep/31500",
 "GET /gw/models",
 "GET /gw/models"]
--- more_headers eval
["", "Authorization: Bearer $::TokA", "Authorization: Bearer $::TokB", "", "",
 "Authorization: Bearer $::TokA", "Authorization: Bearer $::TokB"]
--- error_code eval
[200, 401, 401, 200, 200, 200, 200]
--- response_body eval
[$::Down,
 ('{"error":{"code":"Unauthorized","message":"access denied: the token is not valid","type":"authentication_error"}}') x 2,
 $::Up, '{"slept":31500}',
 ('{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"system"}]}') x 2]
--- timeout: 90
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 8: the JWKS server goes down after a good fetch: past the key set's ttl, new tokens are still verified with the last good set
--- http_config eval
$::Upstreams . q{
    foundry_jwt_zone tokens:1m;
}
--- config
    location = /_jwks/switch {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SWITCH_PORT/jwks.json;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_connect_timeout 2s;
    }

    location /gw/ {
        foundry_gateway on;
        foundry_jwt_issuer https://switch.test/
                           audience=api://foundry-gateway
                           jwks=/_jwks/switch ttl=1s;
        foundry_model gpt-4o created=1 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /ctl/up",
 "GET /gw/models",
 "GET /ctl/down",
 "GET /ctl/sleep/1500",
 "GET /gw/models",
 "GET /gw/models",
 "GET /ctl/up"]
--- more_headers eval
["", "Authorization: Bearer $::TokA", "", "",
 "Authorization: Bearer $::TokB", "Authorization: Bearer $::TokC", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200]
--- response_body eval
[$::Up,
 '{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"system"}]}',
 $::Down, '{"slept":1500}',
 ('{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"system"}]}') x 2,
 $::Up]
--- timeout: 30
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 9: ... the failed fetch was logged, the last good set kept (the same nginx)
--- request
GET /gw/models
--- more_headers eval
"Authorization: Bearer $::TokA"
--- response_body chomp
{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1,"owned_by":"system"}]}
--- error_log
foundry: the key set of "https://switch.test/" from "/_jwks/switch" failed: the key set location did not answer 200, the last good set is kept
--- no_error_log
[alert]
[crit]



=== TEST 10: a discovery source down before its first fetch: static deployments only, discovered names a 404; back, listed and routed without a reload
--- http_config eval
$::Upstreams . q{
    foundry_discovery_zone disc:1m;
}
--- config
    location = /_src/switch {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SWITCH_PORT/v1/models;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_connect_timeout 2s;
        subrequest_output_buffer_size 64k;
    }

    location /gw/ {
        foundry_gateway on;
        foundry_model static-one created=1 upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/switch zone=disc upstream=sw ttl=1s;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /ctl/down",
 "GET /gw/models",
 "POST /gw/chat/completions\n{\"model\":\"disc-1\"}",
 "GET /ctl/up",
 "GET /ctl/sleep/1500",
 "GET /gw/models",
 "POST /gw/chat/completions\n{\"model\":\"disc-1\"}"]
--- error_code eval
[200, 200, 404, 200, 200, 200, 200]
--- response_body eval
[$::Down,
 '{"object":"list","data":[{"id":"static-one","object":"model","created":1,"owned_by":"system"}]}',
 '{"error":{"code":"DeploymentNotFound","message":"the deployment \"disc-1\" does not exist on this gateway (it reads the deployment in the body\'s \"model\")","type":"not_found_error"}}',
 $::Up, '{"slept":1500}',
 '{"object":"list","data":[{"id":"static-one","object":"model","created":1,"owned_by":"system"},{"id":"disc-1","object":"model","created":0,"owned_by":"system"}]}',
 $::Completion]
--- timeout: 30
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 11: a discovery source that goes down after a good fetch: past the ttl, the last good list is answered and routed
--- http_config eval
$::Upstreams . q{
    foundry_discovery_zone disc:1m;
}
--- config
    location = /_src/switch {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SWITCH_PORT/v1/models;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_connect_timeout 2s;
        subrequest_output_buffer_size 64k;
    }

    location /gw/ {
        foundry_gateway on;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_discovery_source /_src/switch zone=disc upstream=oai ttl=1s;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["GET /ctl/up",
 "GET /gw/models",
 "GET /ctl/down",
 "GET /ctl/sleep/1500",
 "GET /gw/models",
 "POST /gw/chat/completions\n{\"model\":\"disc-1\"}",
 "GET /ctl/up"]
--- more_headers eval
["", "", "", "", "", "x-mock-echo: 1", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200]
--- response_body eval
[$::Up,
 '{"object":"list","data":[{"id":"disc-1","object":"model","created":0,"owned_by":"system"}]}',
 $::Down, '{"slept":1500}',
 '{"object":"list","data":[{"id":"disc-1","object":"model","created":0,"owned_by":"system"}]}',
 main::request_text('POST', '/v1/chat/completions', '',
                    { authorization => 'Bearer sk-oai', host => 'mock',
                      'content-length' => 18 },
                    '{"model":"disc-1"}'),
 $::Up]
--- timeout: 30
--- no_error_log
[alert]
[crit]
[emerg]
