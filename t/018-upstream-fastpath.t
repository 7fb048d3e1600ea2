# "proxy_pass https://foundry_route;" (foundry_proxy_params'): the
# proxy_pass without variables, whose balancer hands each request to the
# peers of its upstream, found once at configuration time (no URL parsed,
# no upstream{} block looked for per request); a host name in url= is
# resolved per request with the location's resolver.  The upstream{} block's own balancing stays: keepalive
# connections, proxy_next_upstream between its servers, TLS to https
# upstreams next to plain ones in one location, $upstream_addr naming the
# real server; the client's $request_uri stays the client's.
#
# The model upstreams are servers of the tested nginx itself, which answer
# what they received (path, Host, their connection's request count) in
# headers; the https one has a certificate of a CA made here, for the name
# "aoai.test".  A DNS server of the test answers for "model.test".

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use lib 't/lib';
use FoundryCerts;
use FoundryNginx;
use Test::Nginx::Socket;

my $ConfD = cwd() . '/conf.d';
my $Dir = tempdir('foundry-route-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Dir;

FoundryCerts::server_cert($Dir, 'aoai.test');

# the shipped settings (their proxy_pass is https://foundry_route),
# trusting the test CA

FoundryCerts::params_trusting("$ConfD/foundry_proxy_location",
                              "$Dir/route_params", "$Dir/ca.crt");

# A DNS server on 127.0.0.1 for the resolver of the host-name blocks:
# "model.test" is 127.0.0.1 (A, TTL 1 s), "slow.test" gets no answer, any
# other name does not exist.

my $dns = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                Proto => 'udp')
    or die "no UDP socket: $!";
$ENV{TEST_NGINX_DNS_PORT} = $dns->sockport;

STDOUT->flush;
STDERR->flush;

my $parent = $$;
my $dns_pid = fork;
die "fork: $!" unless defined $dns_pid;

if ($dns_pid == 0) {
    $SIG{ALRM} = sub { POSIX::_exit(0) if getppid() != $parent; alarm 1 };
    alarm 1;

    while (1) {
        my $q;
        next unless defined $dns->recv($q, 512);
        next if length($q) < 17;

        my ($id) = unpack('n', $q);
        my $i = 12;
        my @labels;

        while ($i < length($q)) {
            my $n = ord(substr($q, $i, 1));
            $i++;
            last if $n == 0;
            push @labels, substr($q, $i, $n);
            $i += $n;
        }

        my $question = substr($q, 12, $i + 4 - 12);
        my $qtype = unpack('n', substr($q, $i, 2));
        my $name = lc join('.', @labels);

        if ($name eq 'slow.test') {
            next;

        } elsif ($name eq 'model.test' && $qtype == 1) {
            $dns->send(pack('nnnnnn', $id, 0x8180, 1, 1, 0, 0) . $question
                       . pack('nnnNn', 0xc00c, 1, 1, 1, 4)
                       . pack('C4', 127, 0, 0, 1));

        } elsif ($name eq 'model.test') {
            $dns->send(pack('nnnnnn', $id, 0x8180, 1, 0, 0, 0) . $question);

        } else {
            $dns->send(pack('nnnnnn', $id, 0x8183, 1, 0, 0, 0) . $question);
        }
    }
}

close $dns;

END { kill 'TERM', $dns_pid if $dns_pid && $$ == $parent }

$ENV{TEST_NGINX_UP_PORT} = FoundryNginx::free_port();
$ENV{TEST_NGINX_UP2_PORT} = FoundryNginx::free_port();
$ENV{TEST_NGINX_TLS_PORT} = FoundryNginx::free_port();
$ENV{TEST_NGINX_BUSY_PORT} = FoundryNginx::free_port();
$ENV{TEST_NGINX_ROUTE_DIR} = $Dir;

add_block_preprocessor(sub {
    my $block = shift;

    my $http = <<'_EOC_';
    # the model upstreams: what they got, in headers
    server {
        listen 127.0.0.1:$TEST_NGINX_UP_PORT;
        listen 127.0.0.1:$TEST_NGINX_UP2_PORT;
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
        server_name aoai.test;

        ssl_certificate     $TEST_NGINX_ROUTE_DIR/server.crt;
        ssl_certificate_key $TEST_NGINX_ROUTE_DIR/server.key;

        location / {
            add_header X-Got-Uri $request_uri;
            add_header X-Got-Host $http_host;
            add_header X-Got-Key $http_api_key;
            add_header X-Got-Requests $connection_requests;
            add_header X-Got-Scheme $scheme;
            add_header X-Got-Port $server_port;
            default_type application/json;
            return 200 '{"object":"chat.completion","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
        }
    }

    # a server whose capacity is used up: 429, come back in 30 s
    server {
        listen 127.0.0.1:$TEST_NGINX_BUSY_PORT;

        location / {
            add_header Retry-After 30 always;
            return 429 '{"error":{"code":"429","message":"busy"}}';
        }
    }

    upstream models {
        server 127.0.0.1:$TEST_NGINX_UP_PORT;
        keepalive 4;
    }

    # the first server refuses connections: proxy_next_upstream goes on
    upstream failover {
        server 127.0.0.1:1;
        server 127.0.0.1:$TEST_NGINX_UP2_PORT;
    }

    # the busy server first, cooled down by its 429 (max_fails=0: nginx's
    # own failure count does not skip it)
    foundry_cooldown_zone cool:1m;

    upstream cooling {
        server 127.0.0.1:$TEST_NGINX_BUSY_PORT max_fails=0;
        server 127.0.0.1:$TEST_NGINX_UP2_PORT max_fails=0;
        foundry_cooldown cool;
    }

    foundry_upstream blk kind=azure-openai url=http://models/base
                     host=res.openai.azure.com api_version=2024-10-21
                     api_key=upstream-secret;
    foundry_upstream addr kind=openai url=http://127.0.0.1:$TEST_NGINX_UP2_PORT
                     api_key=upstream-secret;
    foundry_upstream tls kind=openai url=https://127.0.0.1:$TEST_NGINX_TLS_PORT
                     host=aoai.test api_key=upstream-secret;
    foundry_upstream fo kind=openai url=http://failover
                     host=fo.example.com api_key=upstream-secret;
    foundry_upstream cool kind=openai url=http://cooling
                     host=cool.example.com api_key=upstream-secret;
_EOC_

    if (defined $block->http_config) {
        $block->set_value('http_config', $http . $block->http_config);

    } else {
        $block->set_value('http_config', $http);
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=blk;
        foundry_model addr-model upstream=addr;
        foundry_model tls-model upstream=tls;
        foundry_model fo-model upstream=fo;
        foundry_model cool-model upstream=cool;
        include $TEST_NGINX_ROUTE_DIR/route_params;
        proxy_next_upstream error timeout http_429 non_idempotent;

        add_header X-Upstream-Addr $upstream_addr always;
        add_header X-Request-Uri $request_uri always;
    }
_EOC_
    }
});

repeat_each(1);

plan tests => repeat_each() * (blocks() * 3 + 20);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an upstream{} block: its server, the path and arguments made once, the client's $request_uri kept
--- request
POST /v1/chat/completions?x=1&api-version=2024-10-21
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 200
--- response_headers eval
"X-Got-Uri: /base/openai/deployments/gpt-4o/chat/completions?x=1&api-version=2024-10-21
X-Got-Host: res.openai.azure.com
X-Got-Key: upstream-secret
X-Upstream-Addr: 127.0.0.1:$ENV{TEST_NGINX_UP_PORT}
X-Request-Uri: /v1/chat/completions?x=1&api-version=2024-10-21"
--- log_level: debug
--- error_log
foundry: foundry_route to the upstream{} block "models" of upstream "blk"



=== TEST 2: keepalive of the upstream{} block: the second request reuses the connection
--- pipelined_requests eval
["POST /v1/chat/completions\n" . '{"model":"gpt-4o","messages":[]}',
 "POST /v1/chat/completions\n" . '{"model":"gpt-4o","messages":[]}']
--- error_code eval
[200, 200]
--- response_headers eval
["X-Got-Requests: 1", "X-Got-Requests: 2"]
--- no_error_log
[error]



=== TEST 3: an address in url=: its single peer, named in $upstream_addr
--- request
POST /v1/chat/completions
{"model":"addr-model","messages":[]}
--- error_code: 200
--- response_headers eval
"X-Got-Uri: /v1/chat/completions
X-Got-Host: 127.0.0.1:$ENV{TEST_NGINX_UP2_PORT}
X-Upstream-Addr: 127.0.0.1:$ENV{TEST_NGINX_UP2_PORT}
X-Got-Scheme: http"
--- log_level: debug
--- error_log
foundry: foundry_route to the host "127.0.0.1" of upstream "addr"



=== TEST 4: an https upstream in the same location: TLS, the certificate verified for host=
--- request
POST /v1/chat/completions
{"model":"tls-model","messages":[]}
--- error_code: 200
--- response_headers eval
"X-Got-Scheme: https
X-Got-Host: aoai.test
X-Upstream-Addr: 127.0.0.1:$ENV{TEST_NGINX_TLS_PORT}"
--- no_error_log
[error]



=== TEST 5: proxy_next_upstream between the servers of one upstream{} block
--- request
POST /v1/chat/completions
{"model":"fo-model","messages":[]}
--- error_code: 200
--- response_headers eval
"X-Got-Port: $ENV{TEST_NGINX_UP2_PORT}
X-Got-Host: fo.example.com
X-Upstream-Addr: 127.0.0.1:1, 127.0.0.1:$ENV{TEST_NGINX_UP2_PORT}"
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 6: foundry_cooldown of the upstream{} block: the 429's server is skipped while it cools down
--- pipelined_requests eval
["POST /v1/chat/completions\n" . '{"model":"cool-model","messages":[]}',
 "POST /v1/chat/completions\n" . '{"model":"cool-model","messages":[]}',
 "POST /v1/chat/completions\n" . '{"model":"cool-model","messages":[]}']
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Upstream-Addr: 127.0.0.1:$ENV{TEST_NGINX_BUSY_PORT}, 127.0.0.1:$ENV{TEST_NGINX_UP2_PORT}",
 "X-Upstream-Addr: 127.0.0.1:$ENV{TEST_NGINX_UP2_PORT}",
 "X-Upstream-Addr: 127.0.0.1:$ENV{TEST_NGINX_UP2_PORT}"]
--- no_error_log
[error]



=== TEST 7: a host name that is neither an upstream{} block nor an address: resolved per request with the location's resolver
--- http_config
    foundry_upstream dns kind=openai url=http://model.test:$TEST_NGINX_UP_PORT
                     api_key=upstream-secret;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model dns-model upstream=dns;
        include $TEST_NGINX_ROUTE_DIR/route_params;
        resolver 127.0.0.1:$TEST_NGINX_DNS_PORT ipv6=off valid=1s;

        add_header X-Upstream-Addr $upstream_addr always;
    }
--- request
POST /v1/chat/completions
{"model":"dns-model","messages":[]}
--- error_code: 200
--- response_headers eval
"X-Got-Host: model.test:$ENV{TEST_NGINX_UP_PORT}
X-Got-Uri: /v1/chat/completions
X-Upstream-Addr: 127.0.0.1:$ENV{TEST_NGINX_UP_PORT}"
--- log_level: debug
--- error_log
foundry: foundry_route to the host "model.test" of upstream "dns"



=== TEST 8: a host name that does not resolve: 502 as JSON, the resolver's reason logged
--- http_config
    foundry_upstream dns kind=openai url=http://nowhere.test
                     api_key=upstream-secret;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model dns-model upstream=dns;
        include $TEST_NGINX_ROUTE_DIR/route_params;
        resolver 127.0.0.1:$TEST_NGINX_DNS_PORT ipv6=off;
    }
--- request
POST /v1/chat/completions
{"model":"dns-model","messages":[]}
--- error_code: 502
--- response_body_like: ^\{"error":\{"code":"BadGateway",
--- error_log
nowhere.test could not be resolved (3: Host not found)



=== TEST 9: a host name without a resolver: 502 as JSON, as with the variable
--- http_config
    foundry_upstream dns kind=openai url=https://api.openai.com
                     api_key=upstream-secret;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model dns-model upstream=dns;
        include $TEST_NGINX_ROUTE_DIR/route_params;
    }
--- request
POST /v1/chat/completions
{"model":"dns-model","messages":[]}
--- error_code: 502
--- response_body_like: ^\{"error":\{"code":"BadGateway",
--- error_log
no resolver defined to resolve api.openai.com



=== TEST 10: the client leaves while the name is resolved: the resolver's query is dropped with the request
--- http_config
    foundry_upstream dns kind=openai url=http://slow.test
                     api_key=upstream-secret;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model dns-model upstream=dns;
        include $TEST_NGINX_ROUTE_DIR/route_params;
        resolver 127.0.0.1:$TEST_NGINX_DNS_PORT ipv6=off;
        resolver_timeout 30s;
    }
--- request
POST /v1/chat/completions
{"model":"dns-model","messages":[]}
--- timeout: 1
--- abort
--- ignore_response
--- wait: 0.5
--- error_log
client prematurely closed connection
--- no_error_log
[alert]



=== TEST 11: foundry_route outside a gateway location fails nginx -t
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=blk;
        include $TEST_NGINX_ROUTE_DIR/route_params;
    }
    location /other/ {
        proxy_pass http://foundry_route;
    }
--- request
GET /v1/models
--- must_die
--- error_log
"proxy_pass http[s]://foundry_route" needs "foundry_gateway on"



=== TEST 12: "proxy_pass http://foundry_route" has no TLS context: an https upstream is refused
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=blk;
        foundry_model tls-model upstream=tls;
        proxy_pass http://foundry_route;
        proxy_set_header Host $foundry_upstream_host;
    }
--- request
POST /v1/chat/completions
{"model":"tls-model","messages":[]}
--- error_code: 500
--- response_body_like: ^\{"error":\{"code":"InternalError",
--- error_log
foundry: upstream "tls" is https: the location needs "proxy_pass https://foundry_route", not http://



=== TEST 13: "proxy_pass http://foundry_route": http upstreams
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=blk;
        foundry_model tls-model upstream=tls;
        proxy_pass http://foundry_route;
        proxy_set_header Host $foundry_upstream_host;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[]}
--- error_code: 200
--- response_headers
X-Got-Host: res.openai.azure.com
--- no_error_log
[error]


=== TEST 14: a mirror subrequest sees the client's URI: foundry_route sets the upstream's after the precontent phase's other handlers
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=blk;
        include $TEST_NGINX_ROUTE_DIR/route_params;
        mirror /mirrored;
    }

    location = /mirrored {
        internal;
        proxy_pass http://127.0.0.1:1$request_uri;
    }
--- request
POST /v1/chat/completions?x=2&api-version=2024-10-21
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 200
--- response_headers
X-Got-Uri: /base/openai/deployments/gpt-4o/chat/completions?x=2&api-version=2024-10-21
--- error_log
upstream: "http://127.0.0.1:1/v1/chat/completions?x=2&api-version=2024-10-21"
