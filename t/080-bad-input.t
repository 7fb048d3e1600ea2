# Bad input: what a client may send that no Foundry agent would, answered
# with the documented status and, on a gateway location, a JSON error
# {"error":{"code","message","type"}}; never a crash, never an [alert].
# t/013-errors.t has the common cases (truncated JSON, a second value, bad
# UTF-8 in a field, "model" twice, nesting over 512, bodies over
# client_max_body_size); this file has the extreme ones:
#
#   10 MB bodies (read and routed, over the limit, broken at the end, a
#   second "model" at the end); NUL bytes, raw and escaped, in the body and
#   in "model"; invalid UTF-8 in "model"; nesting 100000 deep; encoded
#   slashes and dot segments in the deployment name; header lines, header
#   sets, URIs and api-key values of absurd sizes; HTTP/1.0 with and
#   without a length; pipelined requests, one lying about its length.
#
# Part 1, in plain Perl before run_tests: slow clients (slowloris).  An
# nginx of our own with ONE worker and short client timeouts: a client
# that sends its headers, or its body, slower than the timeouts is cut
# off (nginx answers nothing then: the connection is closed, the access
# log says 408), and a request sent meanwhile on another connection is
# answered at once: the worker is not blocked.
#
# Default upstreams (as in t/013-errors.t):
#
#     aoai    azure-openai      http://mock/aoai  api_version=2025-01-01-preview
#     oai     openai            http://mock       bearer=sk-oai

use strict;
use warnings;

use Cwd qw(cwd);
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryKeys;
use FoundryNginx;
use FoundryRouting;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_DATA_DIR} = cwd() . '/t/data';
$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

our $Upstreams = FoundryConf::mock_http(
    {port => $ENV{TEST_NGINX_MOCK_PORT}}, 'aoai', 'oai');

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $Upstreams);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::echo);
    }
});

# 10 MB of messages (each about 1 KB), valid JSON

our $Messages = join ',', map {
    qq({"role":"user","content":"message $_ )
    . ('lorem ipsum dolor sit amet ' x 37) . qq("})
} 1 .. 10500;

our $Big = qq({"messages":[$Messages],"model":"gpt-4o"});

die "the big body is not 10 MB" if length $Big < 10 * 1024 * 1024;

# what the mock echoes for a body forwarded unchanged to "oai"

sub oai_text {
    my ($body) = @_;

    return main::request_text('POST', '/v1/chat/completions', '',
                              { authorization => 'Bearer sk-oai',
                                host => 'mock',
                                'content-length' => length $body },
                              $body);
}

sub chunked {
    my ($body, $size) = @_;

    my $out = '';

    while (length $body) {
        my $chunk = substr $body, 0, $size, '';
        $out .= sprintf("%x", length $chunk) . "\r\n$chunk\r\n";
    }

    return $out . "0\r\n\r\n";
}

our $NotJson = '{"error":{"code":"InvalidRequestBody","message":"the request body is not valid JSON","type":"invalid_request_error"}}';
our $BadName = '{"error":{"code":"DeploymentNotFound","message":"the deployment name in the body\'s \"model\" is not valid","type":"not_found_error"}}';
our $BadPathName = '{"error":{"code":"DeploymentNotFound","message":"the deployment name in the path is not valid","type":"not_found_error"}}';


#--------------------------------------------------------------------------
# 1. slow clients, against an nginx of our own with one worker
#--------------------------------------------------------------------------

our $SlowTests = 10;

sub slow_part {
    my $ngx = FoundryNginx->new(workers => 1, http => <<"_EOC_");
$Upstreams

    log_format slow '\$request_uri \$status';

    server {
        listen 127.0.0.1:\$PORT;
        access_log logs/slow.log slow;
        client_header_timeout 3s;
        client_body_timeout 3s;

        location /gw/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}"
                                    provider=OpenAI;
            include $ENV{TEST_NGINX_DATA_DIR}/routing-proxy.conf;
        }
    }
_EOC_

    my $port = $ngx->{port};

    my $connect = sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp')
            or die "connect: $!";
    };

    my $started = Time::HiRes::time();

    # A: the headers, slowly (never their end)

    my $a = $connect->();
    syswrite $a, "POST /gw/chat/completions?slow=headers HTTP/1.1\r\n"
                 . "Host: localhost\r\n";

    # B: the headers, then a part of the announced body

    my $b = $connect->();
    syswrite $b, "POST /gw/chat/completions?slow=body HTTP/1.1\r\n"
                 . "Host: localhost\r\nContent-Type: application/json\r\n"
                 . "Content-Length: 100\r\n\r\n{\"model\":\"gpt-4o\",";

    Time::HiRes::sleep(0.5);

    # C, meanwhile: answered by the one worker, long before A and B end

    my ($status, $h, $body) = $ngx->request('POST', '/gw/chat/completions',
                                            [ 'x-mock-echo' => 1 ],
                                            '{"model":"gpt-4o"}');
    my $c_time = Time::HiRes::time() - $started;

    is($status, 200, 'slow: another request is served meanwhile');

    my $sel = IO::Select->new($a, $b);
    my @ready = $sel->can_read(0);

    is(scalar @ready, 0, 'slow: ... while both slow clients still wait')
        or diag(sprintf "C answered after %.2f s", $c_time);

    # A and B are cut off: EOF, no answer

    my %got;
    my $until = Time::HiRes::time() + 30;

    while ($sel->count && Time::HiRes::time() < $until) {
        for my $s ($sel->can_read(1)) {
            my $n = sysread $s, my $buf, 65536;
            my $k = $s == $a ? 'a' : 'b';

            if ($n) {
                $got{$k} .= $buf;
                next;
            }

            $got{"$k-closed"} = 1;
            $sel->remove($s);
        }
    }

    ok($got{'a-closed'}, 'slow: slow headers: the connection is closed');
    is($got{a} // '', '', 'slow: slow headers: nothing is answered');
    like($ngx->error_log, qr/client timed out \(110: Connection timed out\) while reading client request headers/,
         'slow: slow headers: logged at info');
    ok($got{'b-closed'}, 'slow: slow body: the connection is closed');
    is($got{b} // '', '', 'slow: slow body: nothing is answered');

    my $log = $ngx->file('logs/slow.log');

    like($log, qr{^/gw/chat/completions\?slow=body 408$}m,
         'slow: slow body: 408 in the access log');
    like($log, qr{^/gw/chat/completions\?slow=headers 408$}m,
         'slow: slow headers: 408 in the access log');

    my $err = $ngx->error_log;
    unlike($err, qr/\[(?:alert|crit|emerg)\]/,
           'slow: nothing logged at alert, crit or emerg');

    $ngx->stop;
}

repeat_each(1);

# main::count_tests, times the requests of a "--- request eval" array

sub count {
    my $n = 0;

    for my $b (@_) {
        my $reqs = ref $b->request eq 'ARRAY' ? @{ $b->request } : 1;
        $n += $reqs * main::count_tests($b);
    }

    return $n;
}

plan tests => $SlowTests + repeat_each() * main::count(blocks());

slow_part();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a 10 MB body, "model" last, within client_max_body_size: read, routed, forwarded byte for byte
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 16m;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n$::Big"
--- more_headers
x-mock-echo: 1
--- response_body eval
main::oai_text($::Big)
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: a 10 MB body announced over client_max_body_size: 413 as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 8m;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n$::Big"
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"RequestEntityTooLarge","message":"the request body is larger than this gateway accepts","type":"invalid_request_error"}}
--- timeout: 60
--- error_log
client intended to send too large body
--- no_error_log
[alert]
[crit]



=== TEST 3: a 10 MB chunked body over client_max_body_size: 413 as JSON
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 8m;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n" . main::chunked($::Big, 65536)
--- more_headers
Transfer-Encoding: chunked
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"RequestEntityTooLarge","message":"the request body is larger than this gateway accepts","type":"invalid_request_error"}}
--- timeout: 60
--- error_log
client intended to send too large chunked body
--- no_error_log
[alert]
[crit]



=== TEST 4: a 10 MB body cut short at its very end (spooled): 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 16m;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n" . substr($::Big, 0, -2)
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body eval
$::NotJson
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: a 10 MB body, "model" first and again 10 MB later: 400, more than one "model"
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 16m;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/chat/completions\n" . '{"model":"gpt-4o",' . substr($::Big, 1, -1)
. ',"model":"gpt-4o-mini"}'
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"InvalidRequestBody","message":"the request body has more than one \"model\"","type":"invalid_request_error"}}
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: "model" twice in path mode, the deployment named by the path: 400 all the same
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/deployments/gpt-4o/chat/completions
{"model":"gpt-4o","messages":[],"model":"gpt-4o-mini"}
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"InvalidRequestBody","message":"the request body has more than one \"model\"","type":"invalid_request_error"}}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: raw NUL bytes between tokens, inside a string, inside "model": 400 InvalidRequestBody
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\0\"x\":1}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[{\"content\":\"a\0b\"}]}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\0\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\0evil\"}",
 "POST /gw/chat/completions\n\0{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}\0"]
--- error_code eval
[400, 400, 400, 400, 400, 400]
--- response_headers eval
[("Content-Type: application/json") x 6]
--- response_body eval
[($::NotJson) x 6]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 8: an escaped NUL in "model" is no deployment (not cut at the NUL); in a message it goes through
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\\u0000\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\\u0000mini\"}",
 "POST /gw/chat/completions\n{\"model\":\"\\u0000gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[{\"content\":\"a\\u0000b\"}]}"]
--- more_headers eval
[("x-mock-echo: 1") x 4]
--- error_code eval
[404, 404, 404, 200]
--- response_body eval
[($::BadName) x 3,
 main::oai_text('{"model":"gpt-4o","messages":[{"content":"a\\u0000b"}]}')]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 9: invalid UTF-8 in "model": stray bytes, a cut sequence: 400; overlong, an encoded surrogate, a lone escaped one: no deployment, not echoed; an overlong form elsewhere goes upstream as sent
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\xc0\xaf\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\xed\xa0\x80\"}",
 "POST /gw/chat/completions\n{\"model\":\"\xff\xfegpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\xe2\x82\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\\ud800\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\"x\":\"\xc0\xaf\"}"]
--- more_headers eval
[("x-mock-echo: 1") x 6]
--- error_code eval
[404, 404, 400, 400, 404, 200]
--- response_headers eval
[("Content-Type: application/json") x 6]
--- response_body eval
[$::BadName, $::BadName, $::NotJson, $::NotJson, $::BadName,
 main::oai_text("{\"model\":\"gpt-4o\",\"x\":\"\xc0\xaf\"}")]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: nesting 100000 deep, arrays and objects, before and after "model", and at the top: 400, no crash
--- config
    location /gw/ {
        foundry_gateway on;
        client_max_body_size 16m;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"x\":" . ('[' x 100000) . (']' x 100000) . ',"model":"gpt-4o"}',
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\"x\":" . ('{"a":' x 100000) . '1' . ('}' x 100000) . '}',
 "POST /gw/chat/completions\n" . ('[' x 100000)]
--- error_code eval
[400, 400, 400]
--- response_body eval
[('{"error":{"code":"InvalidRequestBody","message":"the request body is nested too deeply","type":"invalid_request_error"}}') x 2,
 '{"error":{"code":"InvalidRequestBody","message":"the request body must be a JSON object","type":"invalid_request_error"}}']
--- no_error_log
[error]
[alert]
[crit]



=== TEST 11: slashes and dot segments in the body's "model", plain or percent-encoded: no deployment, not echoed
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"../gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o/../../admin\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o%2F..%2Fx\"}",
 "POST /gw/chat/completions\n{\"model\":\"%2e%2e\"}",
 "POST /gw/chat/completions\n{\"model\":\"..\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\\/x\"}"]
--- error_code eval
[404, 404, 404, 404, 404, 404]
--- response_body eval
[($::BadName) x 6]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 12: encoded slashes and dot segments in the path's deployment name: decoded and resolved by nginx first, the upstream path is always clean
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/deployments/gpt-4o%2F..%2F..%2Fadmin/chat/completions\n{}",
 "POST /gw/deployments/gpt-4o%252F..%252Fx/chat/completions\n{}",
 "POST /gw/deployments/%2e%2e/chat/completions\n{}",
 "POST /gw/deployments/..%2Fgpt-4o/chat/completions\n{}",
 "POST /gw/deployments/gpt-4o%2Fchat/completions\n{}",
 "POST /gw/deployments/%2E%2E%2fgpt-4o%2fchat%2Fcompletions\n{}"]
--- more_headers eval
[("x-mock-echo: 1") x 6]
--- error_code eval
[404, 404, 404, 404, 200, 404]
--- response_headers eval
[("Content-Type: application/json") x 6]
--- response_body eval
[('{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: this gateway takes the deployment from the path","type":"not_found_error"}}') x 1,
 $::BadPathName,
 ('{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: this gateway takes the deployment from the path","type":"not_found_error"}}') x 2,
 "POST /aoai/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview
api-key: aoai-key
content-length: 2
host: mock

{}
",
 '{"error":{"code":"NotFound","message":"expected POST /gw/deployments/{deployment}/{operation}: this gateway takes the deployment from the path","type":"not_found_error"}}']
--- no_error_log
[error]
[alert]
[crit]



=== TEST 13: dot segments that climb above the root, a NUL in the path: nginx's 400, not routed
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
["POST /gw/deployments/../../../gpt-4o/chat/completions\n{}",
 "POST /gw/deployments/gpt-4o%00/chat/completions\n{}"]
--- more_headers
x-mock-echo: 1
--- error_code eval
[400, 400]
--- response_body_like eval
[("400 Bad Request") x 2]
--- no_error_log
[alert]
[crit]



=== TEST 14: a header line over large_client_header_buffers: nginx's 400, no crash
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers eval
"X-Big: " . ('x' x 20000)
--- error_code: 400
--- response_body_like: Request Header Or Cookie Too Large
--- error_log
client sent too long header line
--- no_error_log
[alert]
[crit]



=== TEST 15: 5000 header lines, 200 KB of headers: nginx's 400, no crash
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers eval
CORE::join "\n", map { "X-H$_: " . ('v' x 30) } 1 .. 5000
--- error_code: 400
--- response_body_like: Request Header Or Cookie Too Large
--- no_error_log
[alert]
[crit]



=== TEST 16: a 20 KB URI: nginx's 414, no crash
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/deployments/" . ('d' x 20000) . "/chat/completions\n{}"
--- error_code: 414
--- response_body_like: 414 Request-URI Too Large
--- no_error_log
[alert]
[crit]



=== TEST 17: a 60 KB api-key within large_client_header_buffers: 401 as JSON, the key not logged
--- http_config eval
$::Upstreams . q{
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;
}
--- config
    large_client_header_buffers 4 64k;

    location /gw/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions
{"model":"gpt-4o"}
--- more_headers eval
"api-key: " . ('k' x 61440)
--- log_level: info
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"Unauthorized","message":"access denied: the key is not valid","type":"authentication_error"}}
--- no_error_log
kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk
[alert]
[crit]



=== TEST 18: a 20 KB deployment name in the path, within the buffers: 404, not echoed
--- config
    large_client_header_buffers 4 64k;

    location /gw/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request eval
"POST /gw/deployments/" . ('d' x 20000) . "/chat/completions\n{}"
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body eval
$::BadPathName
--- no_error_log
[alert]
[crit]



=== TEST 19: HTTP/1.0 with a Content-Length: routed, the connection closed after the answer
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
x-mock-echo: 1
--- response_headers
Connection: close
--- response_body eval
main::oai_text('{"model":"gpt-4o"}')
--- no_error_log
[error]
[alert]
[crit]



=== TEST 20: HTTP/1.0 bad input: the JSON error, then the connection is closed
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- request
POST /gw/chat/completions HTTP/1.0
{"model":"gpt-4o",
--- error_code: 400
--- response_headers
Content-Type: application/json
Connection: close
--- response_body eval
$::NotJson
--- no_error_log
[error]
[alert]
[crit]



=== TEST 21: HTTP/1.0 without a Content-Length: no body
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- raw_request eval
"POST /gw/chat/completions HTTP/1.0\r\nHost: localhost\r\n\r\n{\"model\":\"gpt-4o\"}"
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"code":"InvalidRequestBody","message":"the request body is empty, a JSON object is expected","type":"invalid_request_error"}}
--- no_error_log
[error]
[alert]
[crit]



=== TEST 22: HTTP/1.0 with Transfer-Encoding: chunked: nginx's 400
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- raw_request eval
"POST /gw/chat/completions HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n12\r\n{\"model\":\"gpt-4o\"}\r\n0\r\n\r\n"
--- error_code: 400
--- response_body_like: 400 Bad Request
--- no_error_log
[alert]
[crit]



=== TEST 23: both Content-Length and Transfer-Encoding: nginx's 400, nothing routed
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- raw_request eval
"POST /gw/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nx-mock-echo: 1\r\n\r\n12\r\n{\"model\":\"gpt-4o\"}\r\n0\r\n\r\n"
--- error_code: 400
--- response_body_like: 400 Bad Request
--- no_error_log
[alert]
[crit]



=== TEST 24: pipelined: bad JSON, a NUL, a routed request, a 10 KB name, a routed request, on one connection
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\"",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\0}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"" . ('m' x 10000) . "\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\",\"n\":2}"]
--- more_headers eval
[("x-mock-echo: 1") x 5]
--- error_code eval
[400, 400, 200, 400, 200]
--- response_body eval
[$::NotJson, $::NotJson,
 main::oai_text('{"model":"gpt-4o"}'),
 '{"error":{"code":"InvalidRequestBody","message":"\"model\" in the request body is too long","type":"invalid_request_error"}}',
 main::oai_text('{"model":"gpt-4o","n":2}')]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 25: pipelined, the first request's Content-Length short of its body: the rest is no request (nginx's 400), never routed
--- config
    location /gw/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_DATA_DIR/routing-proxy.conf;
    }
--- pipelined_requests eval
["POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}",
 "POST /gw/chat/completions\n{\"model\":\"gpt-4o\"}"]
--- more_headers eval
["x-mock-echo: 1\nContent-Length: 10", "x-mock-echo: 1"]
--- error_code eval
[400, 400]
--- response_body_like eval
['\A\{"error":\{"code":"InvalidRequestBody","message":"the request body is not valid JSON","type":"invalid_request_error"\}\}\z',
 '400 Bad Request']
--- no_error_log
[alert]
[crit]
