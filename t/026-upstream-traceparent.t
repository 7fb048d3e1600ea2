# The W3C traceparent the upstream gets: the module sets the client's
# "traceparent" header to $foundry_traceparent before the proxy copies the
# client's headers (routing/ngx_http_foundry_route.c), so a location
# needs no proxy_set_header for it: the caller's first when valid, one
# made with foundry_traceparent on (the same the variable gives, even
# when it was read before the routing), never an invalid one, never two.
# The location proxies as t/data/routing-proxy.conf does (no traceparent
# line); t/017-identity-headers.t tests the same through
# foundry_proxy_params.  The mock echoes the request as JSON; the filter
# below prints its traceparent (an array when sent twice) and x-tp, the
# variable's value sent by a proxy_set_header of the test.

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Chat = "POST /v1/chat/completions\n"
            . '{"model":"gpt-4o","messages":[]}';

our $Valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

# "tp=<traceparent or none> x-tp=<x-tp or none>", a made one as "made",
# and whether they are the same

sub main::tp {
    my ($body) = @_;

    my ($tp) = $body =~ /"traceparent":("[^"]*"|\[[^\]]*\])/;
    my ($xtp) = $body =~ /"x-tp":"([^"]*)"/;

    return "no echo: $body\n" unless $body =~ /"headers":/;

    $tp //= 'none';
    $tp =~ s/^"(.*)"$/$1/;
    $xtp //= 'none';

    my $same = $tp eq $xtp ? ' same' : '';

    for ($tp, $xtp) {
        s/^00-(?!4bf92f35)[0-9a-f]{32}-[0-9a-f]{16}-01$/made/;
    }

    return "tp=$tp x-tp=$xtp$same\n";
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config',
            FoundryConf::mock() . FoundryConf::upstreams('oai'));
    }

    if (!defined $block->request) {
        $block->set_value('request', $main::Chat);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::tp);
    }
});

repeat_each(2);

plan tests => repeat_each() * 3 * blocks();

run_tests();

__DATA__

=== TEST 1: a valid traceparent goes up as it came
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        proxy_set_header x-tp $foundry_traceparent;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers eval
"x-mock-echo: 1\ntraceparent: $main::Valid\n"
--- response_body eval
"tp=$main::Valid x-tp=$main::Valid same\n"
--- no_error_log
[error]



=== TEST 2: an invalid traceparent does not go up
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers
x-mock-echo: 1
traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01
--- response_body
tp=none x-tp=none same
--- no_error_log
[error]



=== TEST 3: two traceparents: the first, valid, goes up alone
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers eval
"x-mock-echo: 1\ntraceparent: $main::Valid\n"
. "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"
--- response_body eval
"tp=$main::Valid x-tp=none\n"
--- no_error_log
[error]



=== TEST 4: foundry_traceparent on, none sent: the one made goes up, the variable's
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_traceparent on;
        foundry_model gpt-4o upstream=oai;
        proxy_set_header x-tp $foundry_traceparent;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers
x-mock-echo: 1
--- response_body
tp=made x-tp=made same
--- no_error_log
[error]



=== TEST 5: foundry_traceparent on, the variable read before the routing: the same one goes up
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_traceparent on;
        set $tp $foundry_traceparent;
        foundry_model gpt-4o upstream=oai;
        proxy_set_header x-tp $tp;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers
x-mock-echo: 1
traceparent: 00-zz
--- response_body
tp=made x-tp=made same
--- no_error_log
[error]



=== TEST 6: an invalid traceparent and an api-key: neither goes up, the upstream's key does
--- http_config eval
FoundryConf::mock() . FoundryConf::upstreams('v1')
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers
x-mock-echo: 1
api-key: client-key
traceparent: 01-bad
--- response_body_filters eval
sub { my $b = shift; return ($b =~ /"api-key":"([^"]*)"/ ? "key=$1 " : "key=none ")
      . main::tp($b) }
--- response_body
key=v1-key tp=none x-tp=none same
--- no_error_log
[error]



=== TEST 7: after 70 other headers: an api-key dropped, the first valid traceparent alone kept
--- http_config eval
FoundryConf::mock() . FoundryConf::upstreams('v1')
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=v1;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers eval
"x-mock-echo: 1\n"
. CORE::join('', map { "x-filler-$_: $_\n" } 1 .. 70)
. "api-key: client-key\ntraceparent: $main::Valid\n"
. "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"
--- response_body_filters eval
sub { my $b = shift; return ($b =~ /"api-key":"([^"]*)"/ ? "key=$1 " : "key=none ")
      . ($b =~ /"x-filler-70":"70"/ ? "fillers " : "no fillers ")
      . main::tp($b) }
--- response_body eval
"key=v1-key fillers tp=$main::Valid x-tp=none\n"
--- no_error_log
[error]



=== TEST 8: an invalid traceparent first, a valid one after 70 headers: none goes up
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_auth off;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- more_headers eval
"x-mock-echo: 1\ntraceparent: 00-bad\n"
. CORE::join('', map { "x-filler-$_: $_\n" } 1 .. 70)
. "traceparent: $main::Valid\n"
--- response_body
tp=none x-tp=none same
--- no_error_log
[error]
