# Request bodies: what reaches the upstream, byte for byte.
#
# Bodies spooled to a temporary file (several megabytes through an 8k
# client_body_buffer_size), chunked request bodies, Unicode, escapes,
# numbers, unknown fields, nested "model" keys, escaped names, tokens
# across read boundaries, and the rewritten Content-Length.
#
# Same set-up as t/010-routing.t: the mock echoes what it received and
# main::echo (t/lib/FoundryRouting.pm) prints it; bodies over 2 KiB are
# printed as "[N bytes, md5 HEX]", and main::request_text builds the same
# text from the body we expect.  Default upstreams:
#
#     aoai    azure-openai      http://mock/aoai  api_version=2025-01-01-preview
#     v1      azure-openai-v1   http://mock/res   api_key=v1-key
#     oai     openai            http://mock       bearer=sk-oai

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryRouting;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Upstreams = FoundryConf::mock_http(
    {port => $ENV{TEST_NGINX_MOCK_PORT}}, 'aoai', 'v1', 'oai');

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Upstreams);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::echo);
    }
});


# About 5 MB of chat messages, each one different, with Unicode, escapes,
# numbers and "model" keys of their own.

our $Messages = join ',', map {
    qq({"role":"user","content":"message $_: Gr\xc3\xbc\xc3\x9fe \xf0\x9f\x91\x8b )
    . qq(\\"quoted\\" back\\\\slash \\u00e9 \\n )
    . ('lorem ipsum dolor sit amet ' x 60)
    . qq(","model":"nested-$_","n":${_}e-3})
} 1 .. 3000;

# a body, and the header lines the upstream gets with it

sub upstream_text {
    my ($path, $headers, $body) = @_;

    return main::request_text('POST', $path, '',
                              { %$headers, host => 'mock',
                                'content-length' => length $body },
                              $body);
}

# a body in chunked transfer coding, in chunks of the sizes given, cycled

sub chunked {
    my ($body, @sizes) = @_;

    my ($out, $i) = ('', 0);

    while (length $body) {
        my $chunk = substr $body, 0, $sizes[$i++ % @sizes], '';
        $out .= sprintf("%x", length $chunk) . "\r\n$chunk\r\n";
    }

    return $out . "0\r\n\r\n";
}

repeat_each(2);

plan tests => repeat_each() * main::count_tests(blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: 5 MB spooled to a file, "model" first: rewritten, the rest byte for byte
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        client_max_body_size 20m;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. qq({"model":"fast","messages":[$::Messages],"max_tokens":5E2})
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    qq({"model":"gpt-4o-mini"       ,"messages":[$::Messages],"max_tokens":5E2}))
--- timeout: 30
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 2: 5 MB spooled to a file, "model" last: rewritten at the end of the file
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        client_max_body_size 20m;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. qq({"messages":[$::Messages],"stream":false,"model":"fast"})
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    qq({"messages":[$::Messages],"stream":false,"model":"gpt-4o-mini"       }))
--- timeout: 30
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 3: spooled, the "model" value straddles the parser's 64 KiB file reads
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
# the value "fast" occupies bytes 65533..65538
"POST /gw/chat/completions\n"
. '{"pad":"' . ('x' x 65515) . '","model":"fast","n":1}'
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    '{"pad":"' . ('x' x 65515) . '","model":"gpt-4o-mini"       ,"n":1}')
--- no_error_log
[error]



=== TEST 4: spooled, the "model" key straddles the parser's 64 KiB file reads
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
# the key "model" occupies bytes 65533..65539
"POST /gw/chat/completions\n"
. '{"pad":"' . ('x' x 65523) . '","model":"fast","n":1}'
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    '{"pad":"' . ('x' x 65523) . '","model":"gpt-4o-mini"       ,"n":1}')
--- no_error_log
[error]



=== TEST 5: deployment in the path, 5 MB spooled without "model": it is inserted first
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        client_body_buffer_size 8k;
        client_max_body_size 20m;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/deployments/gpt-4o/chat/completions\n"
. qq({"messages":[$::Messages]})
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/res/openai/v1/chat/completions',
    { 'api-key' => 'v1-key' },
    qq({"model":"gpt-4o","messages":[$::Messages]}))
--- timeout: 30
--- no_error_log
[error]



=== TEST 6: azure-openai, deployment in the body, 5 MB spooled: forwarded unchanged
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        client_max_body_size 20m;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. qq({"messages":[$::Messages],"model":"GPT-4o"})
--- more_headers
x-mock-echo: 1
--- response_body eval
main::request_text('POST',
    '/aoai/openai/deployments/gpt-4o/chat/completions',
    'api-version=2025-01-01-preview',
    { 'api-key' => 'aoai-key', host => 'mock',
      'content-length' => length(qq({"messages":[$::Messages],"model":"GPT-4o"})) },
    qq({"messages":[$::Messages],"model":"GPT-4o"}))
--- timeout: 30
--- no_error_log
[error]



=== TEST 7: azure-openai, deployment in the path, 5 MB: forwarded unchanged
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        client_body_buffer_size 8k;
        client_max_body_size 20m;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/deployments/gpt-4o/chat/completions\n"
. qq({"messages":[$::Messages]})
--- more_headers
x-mock-echo: 1
--- response_body eval
main::request_text('POST',
    '/aoai/openai/deployments/gpt-4o/chat/completions',
    'api-version=2025-01-01-preview',
    { 'api-key' => 'aoai-key', host => 'mock',
      'content-length' => length(qq({"messages":[$::Messages]})) },
    qq({"messages":[$::Messages]}))
--- timeout: 30
--- no_error_log
[error]



=== TEST 8: a chunked request body: rewritten, sent upstream with a Content-Length
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. main::chunked('{"messages":[],"model":"fast","n":2}', 4, 1, 7)
--- more_headers
x-mock-echo: 1
Transfer-Encoding: chunked
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 43
host: mock

{"messages":[],"model":"gpt-4o-mini","n":2}
--- no_error_log
[error]



=== TEST 9: a chunked request body with chunk extensions and a trailer (raw request)
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- raw_request eval
"POST /gw/chat/completions HTTP/1.1\r
Host: localhost\r
Connection: close\r
x-mock-echo: 1\r
Transfer-Encoding: chunked\r
\r
5;ext=1\r
{\"mod\r
10\r
el\":\"fast\",\"x\":[\r
2\r
]}\r
0\r
X-Trailer: t\r
\r
"
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 30
host: mock

{"model":"gpt-4o-mini","x":[]}
--- no_error_log
[error]



=== TEST 10: a 5 MB chunked request body in odd-sized chunks, spooled: "model" last
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        client_max_body_size 20m;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. main::chunked(qq({"messages":[$::Messages],"model":"fast"}),
                1000, 4093, 7, 65536, 1)
--- more_headers
x-mock-echo: 1
Transfer-Encoding: chunked
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    qq({"messages":[$::Messages],"model":"gpt-4o-mini"       }))
--- timeout: 30
--- no_error_log
[error]



=== TEST 11: a chunked body to azure-openai in path mode goes up unchanged with a length
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/deployments/gpt-4o/chat/completions\n"
. main::chunked('{"messages":[{"role":"user","content":"Hi"}]}', 3)
--- more_headers
x-mock-echo: 1
Transfer-Encoding: chunked
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 45
host: mock

{"messages":[{"role":"user","content":"Hi"}]}
--- no_error_log
[error]



=== TEST 12: Unicode, escapes, exponents, unknown fields, nested "model" keys: only the top-level one changes
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"messages":[{"role":"system","content":"Grüße, 世界 👋 \u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","model":"inner"},{"role":"user","content":[{"type":"text","text":"x","model":{"model":"deep"}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"model":{"type":"string","enum":["model"]}}}}}],"model":"fast","temperature":1e-7,"top_p":-0.0,"seed":12345678901234567890123,"logit_bias":{"50256":-1E+2},"x_vendor":{"a":[true,false,null,{}],"model":null}}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 511
host: mock

{"messages":[{"role":"system","content":"Grüße, 世界 👋 \u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","model":"inner"},{"role":"user","content":[{"type":"text","text":"x","model":{"model":"deep"}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"model":{"type":"string","enum":["model"]}}}}}],"model":"gpt-4o-mini","temperature":1e-7,"top_p":-0.0,"seed":12345678901234567890123,"logit_bias":{"50256":-1E+2},"x_vendor":{"a":[true,false,null,{}],"model":null}}
--- no_error_log
[error]



=== TEST 13: an escaped deployment name, "gpt\u002d4o", is gpt-4o and gets rewritten
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o model=gpt-4o-2024-11-20 upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt\u002d4o","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 43
host: mock

{"model":"gpt-4o-2024-11-20","messages":[]}
--- no_error_log
[error]



=== TEST 14: an escaped deployment name to azure-openai: routed, the body keeps the escape
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"\u0067pt\u002D4O","messages":[]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 42
host: mock

{"model":"\u0067pt\u002D4O","messages":[]}
--- no_error_log
[error]



=== TEST 15: an escaped name that decodes to the upstream name leaves the body untouched
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt\u002d4o"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /res/openai/v1/chat/completions
api-key: v1-key
content-length: 23
host: mock

{"model":"gpt\u002d4o"}
--- no_error_log
[error]



=== TEST 16: an escaped key, "mod\u0065l", is the top-level model
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"n":1,"mod\u0065l":"fast"}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 34
host: mock

{"n":1,"mod\u0065l":"gpt-4o-mini"}
--- no_error_log
[error]



=== TEST 17: an upstream model name that needs JSON escaping, and one in UTF-8
--- config
    location /a/ {
        foundry_gateway on;
        foundry_model gpt-4o "upstream_model=ns/\"q\"\\m" upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }

    location /b/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream_model=modèle-ü upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /a/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /b/chat/completions\n{\"model\":\"gpt-4o\"}"]
--- more_headers eval
["x-mock-echo: 1", "x-mock-echo: 1"]
--- response_body eval
["POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 23
host: mock

{\"model\":\"ns/\\\"q\\\"\\\\m\"}
",
"POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 22
host: mock

{\"model\":\"mod\xc3\xa8le-\xc3\xbc\"}
"]
--- no_error_log
[error]



=== TEST 18: nesting 512 deep (the top-level object included) is accepted
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. '{"model":"fast","x":' . ('[' x 510) . '{}' . (']' x 510) . '}'
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    '{"model":"gpt-4o-mini","x":' . ('[' x 510) . '{}' . (']' x 510) . '}')
--- no_error_log
[error]



=== TEST 19: blanks, CR LF and tabs around and inside the object are kept
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/deployments/gpt-4o/chat/completions\n"
. "\r\n \t{\r\n\t\"a\" : 1\r\n}\r\n \n"
--- more_headers
x-mock-echo: 1
Content-Length: 22
--- response_body eval
"POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 39
host: mock

\r\n \t{\"model\":\"gpt-4o\",\r\n\t\"a\" : 1\r\n}\r\n \n
"
--- no_error_log
[error]



=== TEST 20: client_body_in_file_only: a small body read back from the file
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_in_file_only clean;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"fast","messages":[{"role":"user","content":"Hi"}]}
--- more_headers
x-mock-echo: 1
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 67
host: mock

{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}
--- no_error_log
[error]



=== TEST 21: a body over 2 KiB in memory, read in pieces: "model" in the middle
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 1m;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
[["POST /gw/chat/completions\n"
  . '{"a":"' . ('a' x 3000) . '","mo',
  { value => 'del":"fa', delay_before => 0.05 },
  { value => 'st","b":"' . ('b' x 3000) . '"}', delay_before => 0.05 }]]
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    '{"a":"' . ('a' x 3000) . '","model":"gpt-4o-mini","b":"'
    . ('b' x 3000) . '"}')
--- no_error_log
[error]



=== TEST 22: the Content-Type and other client headers go through
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"fast"}
--- more_headers
x-mock-echo: 1
Content-Type: application/json; charset=utf-8
User-Agent: AzureAI-Agents/1.0
x-ms-client-request-id: 1f0c
traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
--- response_body
POST /v1/chat/completions
authorization: Bearer sk-oai
content-length: 23
content-type: application/json; charset=utf-8
host: mock
traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
user-agent: AzureAI-Agents/1.0
x-ms-client-request-id: 1f0c

{"model":"gpt-4o-mini"}
--- no_error_log
[error]



=== TEST 23: proxy_request_buffering off: the module has read the body already, the rewrite stands
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        proxy_request_buffering off;
        foundry_model fast model=gpt-4o-mini upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n"
. '{"model":"fast","x":"' . ('x' x 100000) . '"}'
--- more_headers
x-mock-echo: 1
--- response_body eval
main::upstream_text('/v1/chat/completions',
    { authorization => 'Bearer sk-oai' },
    '{"model":"gpt-4o-mini"       ,"x":"' . ('x' x 100000) . '"}')
--- no_error_log
[error]
