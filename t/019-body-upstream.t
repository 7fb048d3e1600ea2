# The request body the upstream receives after the module rewrote it
# (routing/ngx_http_foundry_body.c), byte for byte with its Content-Length:
# read in one buffer or in several (a request whose headers leave part of
# the body to a second read), up to 16 KB and over, with and without an
# edit, and sent again to a second server by proxy_next_upstream.
#
# Upstream "retry": this nginx's own server answers 502 first
# (max_fails=0: every time), then the mock, a backup, gets the request; the
# mock echoes what it received and main::echo (t/lib/FoundryRouting.pm)
# prints it.

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryRouting;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Upstreams = FoundryConf::mock_http(
    {port => $ENV{TEST_NGINX_MOCK_PORT}}, 'oai')
    . <<'_EOC_';
    upstream retry {
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT max_fails=0;
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT backup;
    }

    foundry_upstream again kind=openai url=http://retry bearer=sk-again;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Upstreams);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::echo);
    }

    if (!defined $block->more_headers) {
        $block->set_value('more_headers', "x-mock-echo: 1\n");
    }
});

# the location: a deployment on "again" (retried) or "oai"

sub gateway {
    my ($upstream, $extra) = @_;

    $extra //= '';

    return <<"_EOC_";
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 64k;
        foundry_model fast model=gpt-4o-mini upstream=$upstream;
        foundry_model gpt-4o-mini model=gpt-4o-mini upstream=$upstream;
        proxy_next_upstream http_502 non_idempotent;
$extra        include \$TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }

    location /v1/ {
        return 502;
    }
_EOC_
}

# what the upstream gets: the request line, the headers, the body (the
# Host is the upstream block's name)

sub upstream_text {
    my ($token, $body) = @_;

    return main::request_text('POST', '/v1/chat/completions', '',
                              { authorization => "Bearer $token",
                                host => $token eq 'sk-oai' ? 'mock' : 'retry',
                                'content-length' => length $body },
                              $body);
}

our $Big = '"x":"' . ('x' x 20000) . '"';

repeat_each(2);

plan tests => repeat_each() * (3 * blocks() + 6);

run_tests();

__DATA__

=== TEST 1: a rewritten body in one buffer, sent again after a 502: the same bytes
--- config eval
main::gateway('again')
--- request
POST /gw/chat/completions
{"model":"fast","messages":[{"role":"user","content":"Hi"}]}
--- response_body eval
main::upstream_text('sk-again',
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}')
--- no_error_log
[error]



=== TEST 2: a rewritten body in two reads, sent again after a 502: the same bytes
--- config eval
main::gateway('again')
--- request eval
[["POST /gw/chat/completions\n"
  . '{"model":"fast","a":"' . ('a' x 500),
  { value => ('b' x 500) . '","c":1}', delay_before => 0.05 }]]
--- response_body eval
main::upstream_text('sk-again',
    '{"model":"gpt-4o-mini","a":"' . ('a' x 500) . ('b' x 500) . '","c":1}')
--- no_error_log
[error]



=== TEST 3: a body in two reads that needs no edit goes up whole, sent again after a 502
--- config eval
main::gateway('again')
--- request eval
[["POST /gw/chat/completions\n"
  . '{"model":"gpt-4o-mini","a":"' . ('a' x 500),
  { value => ('b' x 500) . '"}', delay_before => 0.05 }]]
--- response_body eval
main::upstream_text('sk-again',
    '{"model":"gpt-4o-mini","a":"' . ('a' x 500) . ('b' x 500) . '"}')
--- no_error_log
[error]



=== TEST 4: over 16 KB in two reads, "model" inserted at the start, sent again after a 502
--- config eval
main::gateway('again', "        foundry_deployment_in_path on;\n")
--- request eval
[["POST /gw/deployments/fast/chat/completions\n"
  . '{"a":"' . ('a' x 9000),
  { value => ('b' x 9000) . '",' . $main::Big . '}',
    delay_before => 0.05 }]]
--- response_body eval
main::upstream_text('sk-again',
    '{"model":"gpt-4o-mini","a":"' . ('a' x 9000) . ('b' x 9000) . '",'
    . $main::Big . '}')
--- no_error_log
[error]



=== TEST 5: over 16 KB in two reads, "model" in the middle rewritten, sent again after a 502
--- config eval
main::gateway('again')
--- request eval
[["POST /gw/chat/completions\n"
  . '{"a":"' . ('a' x 9000),
  { value => '","model":"fast",' . $main::Big . '}', delay_before => 0.05 }]]
--- response_body eval
main::upstream_text('sk-again',
    '{"a":"' . ('a' x 9000) . '","model":"gpt-4o-mini",' . $main::Big . '}')
--- no_error_log
[error]



=== TEST 6: a body of several reads under 16 KB, "model" last: one buffer with the edit
--- config eval
main::gateway('oai')
--- request eval
[["POST /gw/chat/completions\n"
  . '{"a":"' . ('a' x 3000),
  { value => ('b' x 3000), delay_before => 0.05 },
  { value => '","model":"fast"}', delay_before => 0.05 }]]
--- response_body eval
main::upstream_text('sk-oai',
    '{"a":"' . ('a' x 3000) . ('b' x 3000) . '","model":"gpt-4o-mini"}')
--- no_error_log
[error]



=== TEST 7: pipelined requests, each body rewritten: the next request's bytes are left alone
--- config eval
main::gateway('oai')
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"fast\",\"n\":1}",
 "POST /gw/chat/completions\n{\"model\":\"fast\",\"n\":2}",
 "POST /gw/chat/completions\n{\"model\":\"fast\",\"n\":3}"]
--- more_headers eval
["x-mock-echo: 1", "x-mock-echo: 1", "x-mock-echo: 1"]
--- response_body eval
[main::upstream_text('sk-oai', '{"model":"gpt-4o-mini","n":1}'),
 main::upstream_text('sk-oai', '{"model":"gpt-4o-mini","n":2}'),
 main::upstream_text('sk-oai', '{"model":"gpt-4o-mini","n":3}')]
--- no_error_log
[error]



=== TEST 8: a body in nginx's temporary file, "model" rewritten, sent again after a 502: the same bytes, the old value blanked
--- config
    location /gw/ {
        foundry_gateway on;
        client_body_buffer_size 8k;
        foundry_model fast model=gpt-4o-mini upstream=again;
        proxy_next_upstream http_502 non_idempotent;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }

    location /v1/ {
        return 502;
    }
--- request eval
"POST /gw/chat/completions\n" . '{"model":"fast",' . $main::Big . '}'
--- response_body eval
main::upstream_text('sk-again',
    '{"model":"gpt-4o-mini"       ,' . $main::Big . '}')
--- no_error_log
[error]



=== TEST 9: a streamed body in nginx's temporary file, "model" and "include_usage" rewritten, sent again after a 502
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_stream_usage on;
        client_body_buffer_size 8k;
        foundry_model fast model=gpt-4o-mini upstream=again;
        proxy_next_upstream http_502 non_idempotent;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }

    location /v1/ {
        return 502;
    }
--- request eval
"POST /gw/chat/completions\n" . '{"stream":true,' . $main::Big
. ',"stream_options":{"include_usage":false},"model":"fast"}'
--- response_body eval
main::upstream_text('sk-again',
    '{"stream":true,' . $main::Big
    . ',"stream_options":{"include_usage":true     },"model":"gpt-4o-mini"       }')
--- no_error_log
[error]
