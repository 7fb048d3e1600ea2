# Token and request limits (foundry_limit_zone, foundry_limit): the
# x-ratelimit-* headers, 429 with Retry-After, 403 when a quota is spent,
# limits from a key's metadata, reserve then commit, configuration errors,
# and counters that survive a reload.
#
# The arithmetic, from docs/directives.md and src/accounting/ngx_http_foundry_limit.c:
#
#   estimate  = Content-Length / 4 + (max_tokens or reserve=)
#               (capped at tpm, so a large request still goes when full)
#   remaining = the bucket after the reservation, in whole tokens
#   reset     = (limit - remaining) * 60 / limit seconds ("29s")
#   Retry-After = missing * 60 / limit seconds, rounded down, + 1
#
# Buckets refill continuously (tpm/60 tokens a second): every value is
# chosen so that the refill between the requests of a block cannot change
# it; the comments say how much time each value tolerates.  Retry-After
# counts down in real time, so it tolerates less than a second.  Under
# valgrind a request takes hundreds of ms: the blocks whose values
# tolerate less than 2 s say so ("skip_eval ... TEST_NGINX_USE_VALGRIND").
#
# Part 1 (plain Perl, before run_tests): an nginx of our own
# (FoundryNginx), for reloads and the zone's eviction of old keys.
# Part 2: Test::Nginx blocks, each a fresh nginx with empty zones.

use Cwd qw(cwd);
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryKeys;
use FoundryNginx;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

# keys with limits in their metadata

FoundryKeys::write_file('usage-limits.json', [
    FoundryKeys::entry('team-a', 'team-a-key',
                       metadata => { tpm => 200, rpm => 3, team => 'a' }),
    FoundryKeys::entry('team-b', 'team-b-key',
                       metadata => { tpm => 300, quota => 'none' }),
    FoundryKeys::entry('free', 'free-key'),
]);

# request bodies and their estimates (Content-Length / 4)

our $B = '{"model":"gpt-4o","messages":[]}';                      # 32: 8
our $B100 = '{"model":"gpt-4o","max_tokens":100,"messages":[]}';  # 49: 12
our $B1000 = '{"model":"gpt-4o","max_tokens":1000,"messages":[]}'; # 50: 12

die "bodies changed" unless length($B) == 32 && length($B100) == 49
                            && length($B1000) == 50;

sub main::post {
    my ($body, $path) = @_;
    return 'POST ' . ($path // '/v1/chat/completions') . "\n" . $body;
}

sub main::chat {
    my ($usage) = @_;
    my ($p, $c) = split /,/, $usage // '10,7';
    return '{"choices":[{"finish_reason":"stop","index":0,"message":'
        . '{"content":"Hello from the mock upstream.","role":"assistant"}}],'
        . '"created":1700000000,"id":"chatcmpl-mock-N","model":"gpt-4o",'
        . '"object":"chat.completion","usage":{"completion_tokens":' . $c
        . ',"completion_tokens_details":{"reasoning_tokens":0},'
        . '"prompt_tokens":' . $p . ',"prompt_tokens_details":'
        . '{"cached_tokens":0},"total_tokens":' . ($p + $c) . '}}';
}

sub main::mask_ids {
    my ($s) = @_;
    $s =~ s/\b(chatcmpl-mock-)\d+/${1}N/g;
    return $s;
}

sub main::rl {
    my (%v) = @_;
    return join '', map { "x-ratelimit-$_: $v{$_}\n" } sort keys %v;
}

sub main::no_rl {
    return join '', map { "!x-ratelimit-$_\n" }
        qw(limit-requests remaining-requests reset-requests limit-tokens
           remaining-tokens reset-tokens);
}


#--------------------------------------------------------------------------
# 1. an nginx of our own: reloads, eviction
#--------------------------------------------------------------------------

our $OwnTests = 13;

sub own_conf {
    my ($zone_size) = @_;
    return <<"_EOC_";
    upstream mock {
        server 127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT};
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_limit_zone limits:$zone_size;

    server {
        listen 127.0.0.1:\$PORT;

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            foundry_limit zone=limits key=\$http_x_tenant tpm=600 reserve=100;
            include $ENV{TEST_NGINX_CONF_D}/foundry_proxy_params;
        }
    }
_EOC_
}

sub own_tests {
    my $ngx = FoundryNginx->new(workers => 2, http => own_conf('1m'));

    # tpm=600 refills 10 tokens a second: a value after a reload is
    # compared with a margin of 30 tokens (3 s); a new key's bucket is
    # exact: 600 - (8 + 100) = 492

    my $remaining = sub {
        my ($tenant, @h) = @_;
        my ($status, $h) = $ngx->request('POST', '/v1/chat/completions',
                                         ['x-tenant' => $tenant, @h], $B);
        return ($status, $h->{'x-ratelimit-remaining-tokens'} // 'none');
    };

    my $near = sub {
        my ($got, $want, $margin) = @_;
        return $got =~ /^\d+$/ && $got >= $want && $got < $want + $margin;
    };

    my ($s, $r) = $remaining->('reload', 'x-mock-usage' => '200,100');
    Test::More::is("$s $r", '200 492', 'own: the first request reserves 108');

    # streams the upstream breaks (72-byte body: 18 + 100 reserved): cut
    # before the usage, the reservation stays; cut after it, the usage
    # counts

    my $stream = '{"model":"gpt-4o","stream":true,"stream_options":'
                 . '{"include_usage":true}}';
    my $cut = sub {
        my ($after) = @_;
        my ($status, $h) = $ngx->request('POST', '/v1/chat/completions',
            ['x-tenant' => 'cut', 'x-mock-usage' => '50,50',
             'x-mock-reset-after' => $after], $stream);
        return ($status, $h->{'x-ratelimit-remaining-tokens'} // 'none');
    };

    ($s, $r) = $cut->(2);
    Test::More::is("$s $r", '200 482', 'own: a stream cut early reserves 118');

    ($s, $r) = $remaining->('cut');
    Test::More::ok($s == 200 && $near->($r, 482 - 108, 30),
                   "own: cut before its usage, the stream keeps its "
                   . "reservation ($r left, 374 and the refill)");

    # 374 + (108 - 17) = 465; the stream cut after its usage event (the
    # 6th): 465 - 118, then 100 used: 365; 365 - 108 = 257

    $cut->(6);

    # the usage is committed in the log phase, which may run after the
    # client has read the cut stream: give it half a second (5 refilled)

    select(undef, undef, undef, 0.5);

    ($s, $r) = $remaining->('cut');
    Test::More::ok($s == 200 && $near->($r, 257, 30),
                   "own: cut after its usage, the stream's usage counts "
                   . "($r left, 257 and the refill)");

    # the usage of 300 is committed: 300 left; a reload with the same zone
    # keeps them: 300 - 108 = 192 (had the counters gone: 492)

    $ngx->reload;

    ($s, $r) = $remaining->('reload');
    Test::More::ok($s == 200 && $near->($r, 192, 30),
                   "own: HUP keeps the counters ($r left, 192 and the refill)");

    Test::More::unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/,
                       'own: the reload went well');

    # a reload with another zone size: a new zone, full buckets

    $ngx->write_conf(own_conf('2m'));
    $ngx->reload;

    ($s, $r) = $remaining->('reload');
    Test::More::is("$s $r", '200 492', 'own: a resized zone starts afresh');

    # a zone of 32k holds few keys: old ones are forgotten, never refused

    $ngx->write_conf(own_conf('32k'));
    $ngx->reload;

    ($s, $r) = $remaining->('first');
    Test::More::is("$s $r", '200 492', 'own: small zone, the first key');

    my %statuses;

    for my $i (1 .. 400) {
        my ($st) = $remaining->("tenant-$i-" . ('x' x 40));
        $statuses{$st}++;
    }

    Test::More::is(join(',', map { "$_:$statuses{$_}" } sort keys %statuses),
                   '200:400', 'own: 400 more keys in a 32k zone, all served');

    ($s, $r) = $remaining->('first');
    Test::More::is("$s $r", '200 492',
                   'own: the first key was forgotten: a full bucket again');

    # the last key: 600 - 17 committed, - 108
    ($s, $r) = $remaining->("tenant-400-" . ('x' x 40));
    Test::More::ok($s == 200 && $near->($r, 475, 10),
                   "own: the last key is remembered ($r left)");

    Test::More::unlike($ngx->error_log, qr/foundry_limit_zone "limits" is full|\[alert\]/,
                       'own: the zone was never full');

    Test::More::is(scalar(() = $ngx->error_log =~ /\[emerg\]/g), 0,
                   'own: no emergencies');

    $ngx->stop;
}


#--------------------------------------------------------------------------
# 2. Test::Nginx blocks
#--------------------------------------------------------------------------

repeat_each(1);

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', FoundryConf::mock_http(
            oai => {bearer => undef},
            aoai => {url => 'http://mock', api_version => '2024-10-21'})
            . <<'_EOC_');

    foundry_limit_zone limits:1m;
    foundry_limit_zone other:1m;
_EOC_
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', [\&main::mask_ids]);
    }
});

# the blocks: 3 tests for a single request (status, headers or body),
# more for pipelined requests and header lists; counted once, by hand
Test::Nginx::Socket::plan(tests => $OwnTests + 457);

own_tests();

run_tests();

__DATA__

=== TEST 1: tpm and rpm: the headers of a granted request
estimate 8 + 50 = 58 of 120; one request of 2
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=120 rpm=2 reserve=50;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request eval
main::post($main::B)
--- more_headers
x-tenant: a
--- response_headers eval
main::rl('limit-requests' => 2, 'remaining-requests' => 1,
         'reset-requests' => '30s', 'limit-tokens' => 120,
         'remaining-tokens' => 62, 'reset-tokens' => '29s')
. "!Retry-After\n"
--- response_body eval
main::chat()



=== TEST 2: rpm: the third request of 2 a minute is a 429
tokens: 120 - 58 = 62; usage 17 commits: 103; 103 - 58 = 45; 86.
120 tpm is 2 tokens a second: the values hold for 500 ms.  Retry-After:
a whole request of 2 a minute is 30 s, + 1; a thousandth of a request
refills in 30 ms and makes it 30: the block must take less.
--- skip_eval: 26: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=120 rpm=2 reserve=50;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B)]
--- more_headers
x-tenant: a
--- error_code eval
[200, 200, 429]
--- response_headers eval
[main::rl('limit-requests' => 2, 'remaining-requests' => 1,
          'reset-requests' => '30s', 'limit-tokens' => 120,
          'remaining-tokens' => 62, 'reset-tokens' => '29s'),
 main::rl('limit-requests' => 2, 'remaining-requests' => 0,
          'reset-requests' => '60s', 'limit-tokens' => 120,
          'remaining-tokens' => 45, 'reset-tokens' => '37s'),
 main::rl('limit-requests' => 2, 'remaining-requests' => 0,
          'reset-requests' => '60s', 'limit-tokens' => 120,
          'remaining-tokens' => 86, 'reset-tokens' => '17s')
 . "Retry-After: 30\nContent-Type: application/json\n"]
--- response_body eval
[main::chat(), main::chat(),
 '{"error":{"code":"RateLimitExceeded","message":"the requests per minute limit is reached, retry after 30 seconds","type":"rate_limit_error"}}']



=== TEST 3: tpm: a request larger than the minute goes when the bucket is full, the unused reservation comes back
tpm=100: estimate 12 + 1000 capped at 100; usage 31 leaves 69; the next
request (100 again) is 31 short: Retry-After 31 * 0.6 s = 18.6 s, + 1.
One token refills in 600 ms.
--- skip_eval: 12: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=100;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B1000), main::post($main::B1000)]
--- more_headers
x-tenant: a
x-mock-usage: 21,10
--- error_code eval
[200, 429]
--- response_headers eval
[main::rl('limit-tokens' => 100, 'remaining-tokens' => 0,
          'reset-tokens' => '60s') . "!x-ratelimit-limit-requests\n",
 main::rl('limit-tokens' => 100, 'remaining-tokens' => 69,
          'reset-tokens' => '18s') . "Retry-After: 19\n"]
--- response_body eval
[main::chat('21,10'),
 '{"error":{"code":"RateLimitExceeded","message":"the tokens per minute limit is reached, retry after 19 seconds","type":"rate_limit_error"}}']



=== TEST 4: reserve then commit: max_tokens=1000 reserved, 30 used, the rest comes back
tpm=1200: 1200 - (12 + 1000) = 188; usage 30: 1170; 1170 - 1012 = 158.
Without the correction the second request would be a 429.  One token
refills in 50 ms.
--- skip_eval: 10: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=1200;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B1000), main::post($main::B1000)]
--- more_headers
x-tenant: a
x-mock-usage: 20,10
--- error_code eval
[200, 200]
--- response_headers eval
[main::rl('limit-tokens' => 1200, 'remaining-tokens' => 188,
          'reset-tokens' => '50s'),
 main::rl('limit-tokens' => 1200, 'remaining-tokens' => 158,
          'reset-tokens' => '52s')]
--- response_body eval
[main::chat('20,10'), main::chat('20,10')]



=== TEST 5: reserve then commit on a quota: exact, quotas do not refill
tokens_per_month=1100: 1012 reserved, 30 used: 30; 30 + 1012 fits: 60;
90; 90 + 1012 > 1100.  Without the correction the second is a 403.
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tokens_per_month=1100;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B1000), main::post($main::B1000), main::post($main::B1000),
 main::post($main::B1000)]
--- more_headers
x-tenant: a
x-mock-usage: 20,10
--- error_code eval
[200, 200, 200, 403]
--- response_body_like eval
['"total_tokens":30', '"total_tokens":30', '"total_tokens":30',
 '^\{"error":\{"code":"QuotaExceeded","message":"the tokens_per_month quota is spent, it resets in [1-9][0-9]* seconds","type":"permission_error"\}\}\z']



=== TEST 6: reserve then commit: usage larger than the reservation is charged too
tpm=500, reserve=10: 500 - 18 = 482; usage 400: 100; 100 - 18 = 82.
One token refills in 120 ms.
--- skip_eval: 10: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=500 reserve=10;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B)]
--- more_headers
x-tenant: a
x-mock-usage: 300,100
--- error_code eval
[200, 200]
--- response_headers eval
[main::rl('limit-tokens' => 500, 'remaining-tokens' => 482,
          'reset-tokens' => '2s'),
 main::rl('limit-tokens' => 500, 'remaining-tokens' => 82,
          'reset-tokens' => '50s')]
--- response_body eval
[main::chat('300,100'), main::chat('300,100')]



=== TEST 7: an answer without total_tokens: prompt + completion are committed
tpm=300, reserve=100: 300 - 108 = 192; 40 + 2 used: 258; 258 - 108 = 150.
One token refills in 200 ms.
--- skip_eval: 10: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=300 reserve=100;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B)]
--- more_headers eval
["x-tenant: a\nx-mock-status: 200\nx-mock-body: {\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":2}}",
 "x-tenant: a"]
--- error_code eval
[200, 200]
--- response_headers eval
[main::rl('limit-tokens' => 300, 'remaining-tokens' => 192,
          'reset-tokens' => '21s'),
 main::rl('limit-tokens' => 300, 'remaining-tokens' => 150,
          'reset-tokens' => '30s')]
--- response_body eval
['{"usage":{"prompt_tokens":40,"completion_tokens":2}}', main::chat()]



=== TEST 8: an error answer of the upstream costs no tokens
tpm=25, reserve=5: 25 - 13 = 12 every time.  One token refills in 2.4 s.
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=25 reserve=5;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B)]
--- more_headers eval
["x-tenant: a\nx-mock-status: 500", "x-tenant: a\nx-mock-status: 429",
 "x-tenant: a\nx-mock-usage: 1,1"]
--- error_code eval
[500, 429, 200]
--- response_headers eval
[main::rl('limit-tokens' => 25, 'remaining-tokens' => 12,
          'reset-tokens' => '31s'),
 main::rl('limit-tokens' => 25, 'remaining-tokens' => 12,
          'reset-tokens' => '31s'),
 main::rl('limit-tokens' => 25, 'remaining-tokens' => 12,
          'reset-tokens' => '31s')]
--- response_body eval
['{"error":{"code":"MockError","message":"mock status 500"}}',
 '{"error":{"code":"MockError","message":"mock status 429"}}',
 main::chat('1,1')]



=== TEST 9: a stream with include_usage commits its usage; one without keeps its reservation
tpm=300, reserve=100.  The stream with usage (a body of 72 bytes):
300 - (18 + 100) = 182, usage 11 + 9 commits: 280; the stream without
(61 bytes): 280 - (15 + 100) = 165, kept; then 165 - (8 + 100) = 57.
One token refills in 200 ms.
--- skip_eval: 15: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=300 reserve=100;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post('{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}'),
 main::post('{"model":"gpt-4o","stream":true,"messages":[{"role":"user"}]}'),
 main::post($main::B)]
--- more_headers
x-tenant: a
x-mock-usage: 11,9
--- error_code eval
[200, 200, 200]
--- response_headers eval
[main::rl('limit-tokens' => 300, 'remaining-tokens' => 182,
          'reset-tokens' => '23s'),
 main::rl('limit-tokens' => 300, 'remaining-tokens' => 165,
          'reset-tokens' => '27s'),
 main::rl('limit-tokens' => 300, 'remaining-tokens' => 57,
          'reset-tokens' => '48s')]
--- response_body_like eval
['^data: .*"usage":\{"completion_tokens":9,.*"total_tokens":20\}\}\n\ndata: \[DONE\]\n\n\z',
 '^data: (?:(?!"total_tokens").)*data: \[DONE\]\n\n\z',
 '"total_tokens":20']



=== TEST 10: max_completion_tokens and max_output_tokens are reserved too, the largest counts
tpm=6000: 6000 - (15 + 500) = 5485 (62 bytes); the Responses API body
(56 bytes): 6000 - (14 + 300) = 5686 (another tenant: a new bucket)
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=6000;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post('{"model":"gpt-4o","max_tokens":20,"max_completion_tokens":500}'),
 main::post('{"model":"gpt-4o","max_output_tokens":300,"input":"hi!"}', '/v1/responses')]
--- more_headers eval
["x-tenant: a", "x-tenant: b"]
--- error_code eval
[200, 200]
--- response_headers eval
[main::rl('limit-tokens' => 6000, 'remaining-tokens' => 5485,
          'reset-tokens' => '5s'),
 main::rl('limit-tokens' => 6000, 'remaining-tokens' => 5686,
          'reset-tokens' => '3s')]
--- response_body_like eval
['"total_tokens":17', '"total_tokens":17']



=== TEST 11: each key has its own counters
--- skip_eval: 21: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant rpm=1;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B),
 main::post($main::B)]
--- more_headers eval
["x-tenant: a", "x-tenant: b", "x-tenant: a", "x-tenant: A"]
--- error_code eval
[200, 200, 429, 200]
--- response_headers eval
[main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s'),
 main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s'),
 main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s') . "Retry-After: 60\n",
 main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s')]
--- response_body eval
[main::chat(), main::chat(),
 '{"error":{"code":"RateLimitExceeded","message":"the requests per minute limit is reached, retry after 60 seconds","type":"rate_limit_error"}}',
 main::chat()]



=== TEST 12: an empty key is no limit, and no headers
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant rpm=1 tpm=10;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B1000), main::post($main::B1000), main::post($main::B1000)]
--- error_code eval
[200, 200, 200]
--- response_headers eval
[main::no_rl(), main::no_rl(), main::no_rl()]
--- response_body eval
[main::chat(), main::chat(), main::chat()]



=== TEST 13: limits from the key's metadata; a key without them has none
team-a: tpm 200, rpm 3: 200 - 58 = 142, then 183 - 58 = 125; team-b:
tpm 300 only, 300 - 58 = 242, its "quota" is not a number: no quota;
free: nothing.  One token refills in 300 ms.
--- skip_eval: 30: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/usage-limits.json;
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$foundry_key_name
                      tpm=$foundry_key_meta_tpm rpm=$foundry_key_meta_rpm
                      tokens_per_day=$foundry_key_meta_quota reserve=50;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B),
 main::post($main::B)]
--- more_headers eval
["api-key: team-a-key", "api-key: team-b-key", "api-key: free-key",
 "api-key: team-a-key"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
[main::rl('limit-requests' => 3, 'remaining-requests' => 2,
          'reset-requests' => '20s', 'limit-tokens' => 200,
          'remaining-tokens' => 142, 'reset-tokens' => '17s'),
 main::rl('limit-tokens' => 300, 'remaining-tokens' => 242,
          'reset-tokens' => '11s') . "!x-ratelimit-limit-requests\n",
 main::no_rl(),
 main::rl('limit-requests' => 3, 'remaining-requests' => 1,
          'reset-requests' => '40s', 'limit-tokens' => 200,
          'remaining-tokens' => 125, 'reset-tokens' => '22s')]
--- response_body eval
[main::chat(), main::chat(), main::chat(), main::chat()]



=== TEST 14: a limit value that is not a number is no limit of that kind
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=$http_x_tpm rpm=2;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B)]
--- more_headers eval
["x-tenant: a\nx-tpm: lots", "x-tenant: a\nx-tpm: -5"]
--- error_code eval
[200, 200]
--- response_headers eval
[main::rl('limit-requests' => 2, 'remaining-requests' => 1,
          'reset-requests' => '30s') . "!x-ratelimit-limit-tokens\n",
 main::rl('limit-requests' => 2, 'remaining-requests' => 0,
          'reset-requests' => '60s') . "!x-ratelimit-limit-tokens\n"]
--- response_body eval
[main::chat(), main::chat()]



=== TEST 15: a monthly quota: spent after five requests
reserve=10: estimate 18; usage 17 each: 17, 34, 51, 68, 85; 85 + 18 > 100
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tokens_per_month=100
                      reserve=10;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B),
 main::post($main::B), main::post($main::B), main::post($main::B)]
--- more_headers
x-tenant: a
--- error_code eval
[200, 200, 200, 200, 200, 403]
--- response_headers eval
[main::no_rl(), main::no_rl(), main::no_rl(), main::no_rl(), main::no_rl(),
 main::no_rl() . "!Retry-After\nContent-Type: application/json\n"]
--- response_body_like eval
['"total_tokens":17', '"total_tokens":17', '"total_tokens":17',
 '"total_tokens":17', '"total_tokens":17',
 '^\{"error":\{"code":"QuotaExceeded","message":"the tokens_per_month quota is spent, it resets in [1-9][0-9]* seconds","type":"permission_error"\}\}\z']



=== TEST 16: hourly and daily quotas: the message names the window and its end
reserve=10, usage 30 (x-mock-usage 20,10): 30 + 18 > 40; 30 + 18 > 45
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tokens_per_hour=40
                      reserve=10;
        foundry_limit zone=other key=$http_x_tenant tokens_per_day=45
                      reserve=10;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B)]
--- more_headers
x-tenant: a
x-mock-usage: 20,10
--- error_code eval
[200, 403]
--- response_body_like eval
['"total_tokens":30',
 '^\{"error":\{"code":"QuotaExceeded","message":"the tokens_per_hour quota is spent, it resets in ([1-9]|[1-9][0-9]|[1-9][0-9][0-9]|[1-2][0-9][0-9][0-9]|3[0-5][0-9][0-9]|3600) seconds","type":"permission_error"\}\}\z']



=== TEST 17: the daily quota, when the hourly one is not the first to be spent
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tokens_per_hour=1000
                      reserve=10;
        foundry_limit zone=other key=$http_x_tenant tokens_per_day=45
                      reserve=10;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B)]
--- more_headers
x-tenant: a
x-mock-usage: 20,10
--- error_code eval
[200, 403]
--- response_body_like eval
['"total_tokens":30',
 '^\{"error":\{"code":"QuotaExceeded","message":"the tokens_per_day quota is spent, it resets in [1-9][0-9]* seconds","type":"permission_error"\}\}\z']



=== TEST 18: a quota smaller than one request's reservation, nothing spent yet
BUG: the estimate (12 + 1000) is compared with the quota as it is; a
quota of which nothing is used refuses the request with "the
tokens_per_day quota is spent" (403).  For tpm, a request larger than the
minute still goes when the bucket is full; a quota should do the same
(or refuse only when it is spent).  ngx_http_foundry_limit_request(),
the quota loop: "n->used[q] + st->estimate > v.quota[q]" with the
uncapped estimate.
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tokens_per_day=500;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request eval
main::post($main::B1000)
--- more_headers
x-tenant: a
--- error_code: 200
--- response_body eval
main::chat()



=== TEST 19: two limits: the headers are the first rate limit's; the first to refuse answers
limits: a monthly quota per tenant (no headers); other: per deployment,
rpm=2, tpm=100: 100 - 58 = 42, 83 - 58 = 25, 66 (600 ms a token)
--- skip_eval: 25: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tokens_per_month=100000
                      reserve=50;
        foundry_limit zone=other key=$foundry_deployment rpm=2 tpm=100
                      reserve=50;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B)]
--- more_headers eval
["x-tenant: a", "x-tenant: b", "x-tenant: c"]
--- error_code eval
[200, 200, 429]
--- response_headers eval
[main::rl('limit-requests' => 2, 'remaining-requests' => 1,
          'reset-requests' => '30s', 'limit-tokens' => 100,
          'remaining-tokens' => 42, 'reset-tokens' => '34s'),
 main::rl('limit-requests' => 2, 'remaining-requests' => 0,
          'reset-requests' => '60s', 'limit-tokens' => 100,
          'remaining-tokens' => 25, 'reset-tokens' => '45s'),
 main::rl('limit-requests' => 2, 'remaining-requests' => 0,
          'reset-requests' => '60s', 'limit-tokens' => 100,
          'remaining-tokens' => 66, 'reset-tokens' => '20s')
 . "Retry-After: 30\n"]
--- response_body eval
[main::chat(), main::chat(),
 '{"error":{"code":"RateLimitExceeded","message":"the requests per minute limit is reached, retry after 30 seconds","type":"rate_limit_error"}}']



=== TEST 20: a request refused by a second limit does not use up the first one's requests
BUG: the first limit (rpm=3) reserves a request before the second
(rpm=1) refuses it; the commit gives the tokens back (an error status)
but not the request: two refused requests that never reached the
upstream leave the first limit with 0 of 3 (observed: the fourth request
shows x-ratelimit-remaining-requests: 0, and a fifth would be a 429).
ngx_http_foundry_limit_commit() restores n->tokens and n->used[], never
n->requests; ngx_http_foundry_limit_request() does not release the
reservations of the earlier limits when a later one refuses.
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant rpm=3;
        foundry_limit zone=other key=$http_x_team rpm=1;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B),
 main::post($main::B)]
--- more_headers eval
["x-tenant: a\nx-team: t", "x-tenant: a\nx-team: t", "x-tenant: a\nx-team: t",
 "x-tenant: a"]
--- error_code eval
[200, 429, 429, 200]
--- response_headers eval
[main::rl('limit-requests' => 3, 'remaining-requests' => 2,
          'reset-requests' => '20s'),
 main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s'),
 main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s'),
 main::rl('limit-requests' => 3, 'remaining-requests' => 1,
          'reset-requests' => '40s')]
--- response_body_like eval
['"total_tokens":17', 'RateLimitExceeded', 'RateLimitExceeded',
 '"total_tokens":17']



=== TEST 21: limits in the server block apply to its gateway locations; discovery is not limited
--- config
    foundry_limit zone=limits key=$http_x_tenant rpm=1;

    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
["GET /v1/models", "GET /v1/models", main::post($main::B),
 main::post($main::B), "GET /v1/models/gpt-4o"]
--- more_headers
x-tenant: a
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers eval
[main::no_rl(), main::no_rl(),
 main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s'),
 main::rl('limit-requests' => 1, 'remaining-requests' => 0,
          'reset-requests' => '60s'),
 main::no_rl()]
--- response_body_like eval
['"object":"list"', '"object":"list"', '"total_tokens":17',
 'RateLimitExceeded', '"id":"gpt-4o"']



=== TEST 22: Azure OpenAI classic, the deployment in the path: the body is read for max_tokens
tpm=600: 600 - (12 + 100) = 488
--- config
    location /openai/ {
        foundry_gateway on;
        foundry_deployment_in_path on;
        foundry_model gpt-4o upstream=aoai;
        foundry_limit zone=limits key=$foundry_deployment tpm=600;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request eval
main::post($main::B100,
           '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21')
--- response_headers eval
main::rl('limit-tokens' => 600, 'remaining-tokens' => 488,
         'reset-tokens' => '11s')
--- response_body eval
main::chat()



=== TEST 23: a limit of 0 tokens refuses every request
BUG: with tpm=0 the estimate is capped at the limit, 0, and a bucket of 0
holds 0: the first request goes (observed: 200 with
x-ratelimit-remaining-tokens: 0); its usage then makes the bucket
negative and the next ones get a 429 with "Retry-After: 1021" (the
missing tokens divided by 1 instead of 0 a minute).  rpm=0 refuses at
once.  ngx_http_foundry_limit_request(): "if (v.tpm >= 0 && st->estimate >
v.tpm) st->estimate = v.tpm;" then "n->tokens < st->estimate * 1000" is
0 < 0.
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=0;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request eval
main::post($main::B)
--- more_headers
x-tenant: a
--- error_code: 429
--- response_headers eval
main::rl('limit-tokens' => 0, 'remaining-tokens' => 0,
         'reset-tokens' => '0s') . "Retry-After: 60\n"
--- response_body chomp
{"error":{"code":"RateLimitExceeded","message":"the tokens per minute limit is reached, retry after 60 seconds","type":"rate_limit_error"}}



=== TEST 24: the refusal is logged at info, naming the key
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant rpm=1;
        foundry_limit zone=other key=$http_x_tenant tokens_per_hour=0
                      reserve=1;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request eval
main::post($main::B)
--- more_headers
x-tenant: tenant-42
--- error_code: 403
--- response_headers
x-ratelimit-limit-requests: 1
--- response_body_like: ^\{"error":\{"code":"QuotaExceeded"
--- error_log
foundry: tokens_per_hour quota of "tenant-42" spent
--- no_error_log
[error]



=== TEST 25: a zone declared after its use
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_limit zone=later key=$http_x_tenant rpm=5;
    foundry_limit_zone later:64k;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- request eval
main::post($main::B)
--- more_headers
x-tenant: a
--- response_headers eval
main::rl('limit-requests' => 5, 'remaining-requests' => 4,
         'reset-requests' => '12s')
--- response_body eval
main::chat()



=== TEST 26: config: an unknown zone
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_limit zone=nope key=$http_x_tenant tpm=10;
    }
--- request
GET /
--- must_die
--- error_log
unknown foundry_limit_zone "nope"



=== TEST 27: config: a zone of another kind
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_limit zone=keys key=$http_x_tenant tpm=10;
    }
--- request
GET /
--- must_die
--- error_log
unknown foundry_limit_zone "keys"



=== TEST 28: config: no key=
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_limit zone=limits tpm=10;
    }
--- request
GET /
--- must_die
--- error_log
"foundry_limit" directive needs "zone=" and "key="



=== TEST 29: config: no zone=
--- config
    location /v1/ {
        foundry_limit key=$http_x_tenant tpm=10;
    }
--- request
GET /
--- must_die
--- error_log
"foundry_limit" directive needs "zone=" and "key="



=== TEST 30: config: no limit
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_limit zone=limits key=$http_x_tenant reserve=10;
    }
--- request
GET /
--- must_die
--- error_log
"foundry_limit" directive needs a limit: "tpm=", "rpm=", "tokens_per_hour=", "tokens_per_day=" or "tokens_per_month="



=== TEST 31: config: a limit that is not a number
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_limit zone=limits key=$http_x_tenant tpm=10k;
    }
--- request
GET /
--- must_die
--- error_log
invalid value "tpm=10k" in "foundry_limit" directive



=== TEST 32: config: a negative limit
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_limit zone=limits key=$http_x_tenant tokens_per_month=-1;
    }
--- request
GET /
--- must_die
--- error_log
invalid value "tokens_per_month=-1" in "foundry_limit" directive



=== TEST 33: config: an empty limit
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_limit zone=limits key=$http_x_tenant rpm=;
    }
--- request
GET /
--- must_die
--- error_log
invalid value "rpm=" in "foundry_limit" directive



=== TEST 34: config: a reserve that is not a number
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_limit zone=limits key=$http_x_tenant tpm=10 reserve=$x;
    }
--- request
GET /
--- must_die
--- error_log
invalid value "reserve=$x" in "foundry_limit" directive



=== TEST 35: config: an unknown parameter
--- http_config
    foundry_limit_zone limits:1m;
--- config
    location /v1/ {
        foundry_limit zone=limits key=$http_x_tenant tpd=10;
    }
--- request
GET /
--- must_die
--- error_log
invalid parameter "tpd=10" in "foundry_limit" directive



=== TEST 36: config: a zone without a size
--- http_config
    foundry_limit_zone limits;
--- config
--- request
GET /
--- must_die
--- error_log
invalid zone "limits" in "foundry_limit_zone" directive, expected name:size



=== TEST 37: config: a zone with a bad size
--- http_config
    foundry_limit_zone limits:lots;
--- config
--- request
GET /
--- must_die
--- error_log
invalid zone "limits:lots" in "foundry_limit_zone" directive, expected name:size



=== TEST 38: config: a zone too small
--- http_config
    foundry_limit_zone limits:16k;
--- config
--- request
GET /
--- must_die
--- error_log
zone "limits:16k" is too small



=== TEST 39: config: the same zone twice
--- http_config
    foundry_limit_zone limits:1m;
    foundry_limit_zone limits:1m;
--- config
--- request
GET /
--- must_die
--- error_log
duplicate zone "limits"



=== TEST 40: config: a zone is an http-level directive
--- config
    foundry_limit_zone limits:1m;
--- request
GET /
--- must_die
--- error_log
"foundry_limit_zone" directive is not allowed here



=== TEST 41: an upstream's usage of 2^63 - 1 tokens counts as 2^40: a debt, not a full bucket
tpm=1000, reserve=100: 1000 - 108 = 892; the usage counts as 2^40
(1099511627776) tokens at most: 1000 - 2^40 left.  The next request (108)
is 2^40 - 892 tokens short: Retry-After 65970697613.04 s, + 1 (a token
refills in 60 ms); to full, 2^40 tokens: 65970697666 s.  Before the clamp,
108 - (2^63 - 1) times a million overflowed and the bucket was full again.
The metrics count 2^40 a kind, not 2^63 - 1.
--- skip_eval: 13: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_limit_zone limits:1m;
    foundry_metrics_zone metrics:1m;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=1000 reserve=100;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), "GET /metrics"]
--- more_headers eval
["x-tenant: a\nx-mock-status: 200\nx-mock-body: {\"usage\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":9223372036854775807,\"total_tokens\":9223372036854775807}}",
 "x-tenant: a", ""]
--- error_code eval
[200, 429, 200]
--- response_headers eval
[main::rl('limit-tokens' => 1000, 'remaining-tokens' => 892,
          'reset-tokens' => '6s'),
 main::rl('limit-tokens' => 1000, 'remaining-tokens' => 0,
          'reset-tokens' => '65970697666s')
 . "Retry-After: 65970697614\n",
 ""]
--- response_body_like eval
['"total_tokens":9223372036854775807',
 '^\{"error":\{"code":"RateLimitExceeded","message":"the tokens per minute limit is reached, retry after 65970697614 seconds","type":"rate_limit_error"\}\}\z',
 'foundry_tokens_total\{[^}]*kind="prompt"\} 1099511627776\nfoundry_tokens_total\{[^}]*kind="completion"\} 1099511627776\n']



=== TEST 42: prompt + completion of 2^63 - 1 each, and a count longer than 64 bits, count as 2^40; negative and fractional counts are none
tpm=1000, reserve=100: each key's first request reserves 108.  a: prompt
and completion 2^63 - 1, no total: their sum overflowed into a negative
usage before, and the bucket was full again; now 2^40 + 2^40, counted as
2^40: the next request is refused.  b: 20 digits were no count before
(the reservation stayed); now 2^40.  c: -5, 2.5 and -1000000 are no
counts: the reservation stays, 1000 - 108 - 108 = 784.
--- skip_eval: 32: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=1000 reserve=100;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post($main::B), main::post($main::B), main::post($main::B),
 main::post($main::B), main::post($main::B), main::post($main::B)]
--- more_headers eval
["x-tenant: a\nx-mock-status: 200\nx-mock-body: {\"usage\":{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":9223372036854775807}}",
 "x-tenant: a",
 "x-tenant: b\nx-mock-status: 200\nx-mock-body: {\"usage\":{\"prompt_tokens\":99999999999999999999,\"completion_tokens\":1}}",
 "x-tenant: b",
 "x-tenant: c\nx-mock-status: 200\nx-mock-body: {\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":2.5,\"total_tokens\":-1000000}}",
 "x-tenant: c"]
--- error_code eval
[200, 429, 200, 429, 200, 200]
--- response_headers eval
[main::rl('limit-tokens' => 1000, 'remaining-tokens' => 892,
          'reset-tokens' => '6s'),
 main::rl('limit-tokens' => 1000, 'remaining-tokens' => 0,
          'reset-tokens' => '65970697666s')
 . "Retry-After: 65970697614\n",
 main::rl('limit-tokens' => 1000, 'remaining-tokens' => 892,
          'reset-tokens' => '6s'),
 main::rl('limit-tokens' => 1000, 'remaining-tokens' => 0,
          'reset-tokens' => '65970697666s')
 . "Retry-After: 65970697614\n",
 main::rl('limit-tokens' => 1000, 'remaining-tokens' => 892,
          'reset-tokens' => '6s'),
 main::rl('limit-tokens' => 1000, 'remaining-tokens' => 784,
          'reset-tokens' => '12s')]
--- response_body_like eval
['"prompt_tokens":9223372036854775807', '"code":"RateLimitExceeded"',
 '"prompt_tokens":99999999999999999999', '"code":"RateLimitExceeded"',
 '"total_tokens":-1000000', '"total_tokens":17']



=== TEST 43: a client's max_tokens of 2^63 - 1: the request takes the whole bucket, not a negative reservation
tpm=1000: the estimate (66 bytes: 16, + 2^63 - 1) overflowed into a
negative number before, and the bucket grew; now 16 + 2^40, capped at the
minute: 0 left.  Its usage (17) is committed: 983; the next request: 875.
One token refills in 60 ms.
--- skip_eval: 10: $ENV{TEST_NGINX_USE_VALGRIND}
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=1000 reserve=100;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }
--- pipelined_requests eval
[main::post('{"model":"gpt-4o","max_tokens":9223372036854775807,"messages":[]}'),
 main::post($main::B)]
--- more_headers
x-tenant: a
--- error_code eval
[200, 200]
--- response_headers eval
[main::rl('limit-tokens' => 1000, 'remaining-tokens' => 0,
          'reset-tokens' => '60s'),
 main::rl('limit-tokens' => 1000, 'remaining-tokens' => 875,
          'reset-tokens' => '7s')]
--- response_body_like eval
['"total_tokens":17', '"total_tokens":17']
