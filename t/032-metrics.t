# Prometheus metrics (foundry_metrics_zone, foundry_metrics): the page
# after a few requests, series by series, exactly.
#
# Every Test::Nginx block starts a fresh nginx, and a fresh zone: its
# requests run pipelined, the last one reads /metrics.  The page is
# compared whole, with three things masked by main::page_filter:
#
#   * histogram sums ("<sum>"), checked against a range when the block
#     gives one;
#   * foundry_zone_used_bytes ("<used>"), checked to be whole pages within
#     the zone's size;
#   * the bodies of the other answers (''), which other files check.
#
# Upstream times: the mock answers at once (every bucket counts it) unless
# x-mock-delay-ms or x-mock-chunk-delay-ms says otherwise.  Under valgrind
# nginx itself is slow: the buckets up to 250 ms and the sums are not
# compared (main::relax).
#
# Part 1 (plain Perl, before run_tests): an nginx of our own with two
# workers, for what blocks cannot show: one zone for all workers, the
# counts kept across a reload, a client that goes away (499), a full zone.

use Cwd qw(cwd);
use IO::Socket::INET ();
use Time::HiRes ();
use lib 't/lib';
use FoundryConf;
use FoundryMock;
use FoundryKeys;
use FoundryNginx;
use Test::Nginx::Socket;

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();
$ENV{TEST_NGINX_CONF_D} = cwd() . '/conf.d';

our @Metrics = (
    [foundry_requests_total => counter =>
     'Gateway requests by target, deployment and status.'],
    [foundry_tokens_total => counter =>
     'Tokens the upstreams reported, by deployment, key and kind.'],
    [foundry_upstream_response_seconds => histogram =>
     "Time to the end of the upstream's answer."],
    [foundry_upstream_first_byte_seconds => histogram =>
     "Time to the upstream's response header (first byte of a stream)."],
    [foundry_auth_failures_total => counter =>
     'Requests refused by the key check, by reason.'],
    [foundry_limit_rejections_total => counter =>
     'Requests refused by a limit, by limit.'],
    [foundry_discovery_refreshes_total => counter =>
     'Discovery refreshes from upstreams, by source and outcome.'],
    [foundry_jwks_refreshes_total => counter =>
     'Key set refreshes, by issuer and outcome.'],
    [foundry_keys_reloads_total => counter =>
     'Loads of keys files, by zone and outcome.'],
    [foundry_content_checks_total => counter =>
     'Prompt content checks, by checker and outcome.'],
    [foundry_upstream_credential_fetches_total => counter =>
     'Token fetches of upstream credentials, by credential and outcome.'],
    [foundry_upstream_credential_expiry_seconds => gauge =>
     "Seconds until the upstream credential's token expires (0: expired)."],
    [foundry_token_introspections_total => counter =>
     'Opaque tokens decided by introspection, by location and outcome.'],
    [foundry_content_answer_checks_total => counter =>
     "Content checks of the model's answers, by checker and outcome."],
);

# the module's version (the foundry_build_info series)

our $Version = do {
    open my $fh, '<', 'VERSION' or die "VERSION: $!";
    my ($v) = <$fh> =~ /^(\S+)/;
    $v;
};

our @Bounds = qw(0.050 0.100 0.250 0.500 1.000 2.500 5.000 10.000 30.000
                 60.000 120.000);

# the lines of a histogram series: counts for the 11 buckets (a number
# alone: every bucket), then +Inf, sum and count

sub main::hist {
    my ($name, $labels, $buckets, $count) = @_;
    my @b = ref $buckets ? @$buckets : ($buckets) x @Bounds;
    $count //= $b[-1];
    my $s = '';
    $s .= "${name}_bucket{$labels,le=\"$Bounds[$_]\"} $b[$_]\n" for 0 .. $#Bounds;
    return $s . "${name}_bucket{$labels,le=\"+Inf\"} $count\n"
        . "${name}_sum{$labels} <sum>\n${name}_count{$labels} $count\n";
}

# the page: the series of each metric (text, in order), dropped, the zones
# (name => size)

sub main::page {
    my (%s) = @_;
    my $p = '';

    # a keys zone loaded its file once, at start
    $s{foundry_keys_reloads_total} //=
        "foundry_keys_reloads_total{zone=\"keys\",outcome=\"ok\"} 1\n"
        if grep { $_ eq 'keys' } @{ $s{zones} // [] };

    for my $m (@Metrics) {
        my ($name, $type, $help) = @$m;
        $p .= "# HELP $name $help\n# TYPE $name $type\n" . ($s{$name} // '');
    }

    $p .= "# HELP foundry_metrics_dropped_total Series not recorded: the "
        . "metrics zone is full.\n# TYPE foundry_metrics_dropped_total "
        . "counter\nfoundry_metrics_dropped_total " . ($s{dropped} // 0) . "\n";

    my @z = @{ $s{zones} // [metrics => 1048576] };
    my %size = @z;
    my @names = @z[grep { $_ % 2 == 0 } 0 .. $#z];

    $p .= "# HELP foundry_zone_size_bytes Size of the module's shared memory "
        . "zones.\n# TYPE foundry_zone_size_bytes gauge\n";

    $p .= "foundry_zone_size_bytes{zone=\"$_\"} $size{$_}\n" for @names;

    $p .= "# HELP foundry_zone_used_bytes Pages in use in the module's shared "
        . "memory zones.\n# TYPE foundry_zone_used_bytes gauge\n";

    $p .= "foundry_zone_used_bytes{zone=\"$_\"} <used>\n" for @names;

    $p .= "# HELP foundry_build_info The module's version, the nginx it was "
        . "built for, the yajl and OpenSSL it runs with.\n# TYPE "
        . "foundry_build_info gauge\nfoundry_build_info{version=\"$Version\","
        . "nginx=\"<v>\",openssl=\"<v>\",yajl=\"<v>\"} 1\n";

    return main::relax($p);
}

# under valgrind, the buckets up to 1 s count whatever they count: nginx
# runs many times slower there, which the delays of the mock do not

sub main::relax {
    my ($text) = @_;
    $text =~ s/(_bucket\{[^\n]*le="(?:0\.050|0\.100|0\.250|0\.500|1\.000)"\}) \d+$/$1 <n>/mg
        if $ENV{TEST_NGINX_USE_VALGRIND};
    return $text;
}

# masks what is not exact (see above); ranges: metric => [low, high] for
# the sums, in seconds

sub main::page_filter {
    my (%range) = @_;

    return sub {
        my ($body) = @_;

        return '' unless $body =~ /\A# HELP /;

        $body =~ s{^(\w+)_sum(\{[^\n]*\}) (\d+\.\d{3})$}{
            my ($m, $l, $v) = ($1, $2, $3);
            my $r = $ENV{TEST_NGINX_USE_VALGRIND} ? undef : $range{$m};
            "${m}_sum$l " . (!$r || ($v >= $r->[0] && $v <= $r->[1])
                             ? '<sum>' : "<sum $v not in $r->[0]..$r->[1]>")
        }gme;

        my %size = $body =~ /^foundry_zone_size_bytes\{zone="([^"]+)"\} (\d+)$/mg;

        $body =~ s{^(foundry_zone_used_bytes\{zone="([^"]+)"\}) (\d+)$}{
            "$1 " . ($3 > 0 && $3 % 4096 == 0 && $3 <= ($size{$2} // 0)
                     ? '<used>' : "<used $3?>")
        }gme;

        # the versions of nginx and the libraries: any, as numbers
        $body =~ s{^(foundry_build_info\{.*)$}{
            $1 =~ s/\b(nginx|openssl|yajl)="\d+\.\d+\.\d+[^"]*"/$1="<v>"/gr
        }me;

        return main::relax($body);
    };
}

# Prometheus' text format: all the lines of a metric in one group, HELP
# and TYPE first; returns "grouped" or what breaks it

sub main::groups {
    my ($body) = @_;
    my (%done, $current, @bad);

    for (split /\n/, $body) {
        my $name;

        if (/^# (?:HELP|TYPE) (\w+)/) {
            $name = $1;
        } elsif (/^(\w+?)(?:_bucket|_sum|_count)?[{ ]/) {
            $name = $1;
        } else {
            next;
        }

        if (defined $current && $name ne $current) {
            $done{$current} = 1;
        }

        push @bad, $_ if $done{$name} && $name ne ($current // '');
        $current = $name;
    }

    return @bad ? "not grouped: @bad" : 'grouped';
}

sub main::post {
    my ($body, $path) = @_;
    return 'POST ' . ($path // '/v1/chat/completions') . "\n" . $body;
}

our $Chat = '{"model":"gpt-4o","messages":[]}';


#--------------------------------------------------------------------------
# 1. an nginx of our own
#--------------------------------------------------------------------------

our $OwnTests = 8;

sub own_conf {
    my ($zone) = @_;
    return <<"_EOC_";
    upstream mock {
        server 127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT};
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_metrics_zone metrics:$zone;

    server {
        listen 127.0.0.1:\$PORT reuseport;

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            include $ENV{TEST_NGINX_CONF_D}/foundry_proxy_params;
            add_header X-Worker \$pid always;
        }

        location = /metrics {
            foundry_metrics;
        }
    }
_EOC_
}

sub own_tests {
    my $ngx = FoundryNginx->new(workers => 2, http => own_conf('1m'));

    # the series matching $re, compared with $want; the log phase that
    # counts a request may come a moment after its client has the answer:
    # the page is asked again until $want shows (2 s at most)

    my $is_series = sub {
        my ($re, $want, $name) = @_;
        my $got;

        for (1 .. 40) {
            my (undef, undef, $page) = $ngx->request('GET', '/metrics');
            $got = join "\n", $page =~ /^($re)$/mg;
            last if $got eq $want;
            Time::HiRes::sleep(0.05);
        }

        Test::More::is($got, $want, $name);
    };

    my %workers;

    for (1 .. 20) {
        my (undef, $h) = $ngx->request('POST', '/v1/chat/completions',
                                       ['x-mock-usage' => '2,1'], $Chat);
        $workers{$h->{'x-worker'}}++;
    }

    $is_series->('foundry_requests_total\{.*', <<'_EOS_' =~ s/\n\z//r,
foundry_requests_total{target="/v1",deployment="gpt-4o",status="200"} 20
_EOS_
        'own: 20 requests counted, by ' . scalar(keys %workers)
        . ' workers, in one zone');

    $is_series->('foundry_tokens_total\{.*', <<'_EOS_' =~ s/\n\z//r,
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="",kind="prompt"} 40
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="",kind="completion"} 20
_EOS_
        'own: the tokens of the 20 requests; no key: key=""');

    # a reload keeps the zone and its counts

    $ngx->reload;
    $ngx->request('POST', '/v1/chat/completions', [], $Chat);

    $is_series->('foundry_requests_total\{.*', <<'_EOS_' =~ s/\n\z//r,
foundry_requests_total{target="/v1",deployment="gpt-4o",status="200"} 21
_EOS_
        'own: the counts survive a reload');

    # a client that leaves before the answer: 499, once

    my $s = IO::Socket::INET->new("127.0.0.1:$ngx->{port}") or die "connect: $!";
    print $s "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
             . "x-mock-delay-ms: 500\r\nContent-Length: " . length($Chat)
             . "\r\n\r\n$Chat";
    Time::HiRes::sleep(0.2);
    close $s;
    Time::HiRes::sleep(0.6);

    $is_series->('foundry_requests_total\{.*status="499".*', <<'_EOS_' =~ s/\n\z//r,
foundry_requests_total{target="/v1",deployment="gpt-4o",status="499"} 1
_EOS_
        'own: a client gone before the answer is a 499');

    # a zone of 32k: series that do not fit are counted as dropped; every
    # request is either in a series or dropped

    $ngx->write_conf(own_conf('32k'));
    $ngx->reload;

    for my $status (400 .. 599) {
        $ngx->request('POST', '/v1/chat/completions',
                      ['x-mock-status' => $status], $Chat);
    }

    # the last request's log phase may run after its answer was read:
    # read the page until every request is counted (at most 2 s)

    my ($page, @series, $dropped);

    for my $try (1 .. 20) {
        (undef, undef, $page) = $ngx->request('GET', '/metrics');
        @series = $page =~ /^foundry_requests_total\{.*status="(\d+)"\} 1$/mg;
        ($dropped) = $page =~ /^foundry_metrics_dropped_total (\d+)$/m;
        last if @series + $dropped >= 200;
        Time::HiRes::sleep(0.1);
    }

    Test::More::ok(@series > 20 && $dropped > 20,
                   'own: 32k zone: ' . scalar(@series) . " series kept, "
                   . "$dropped dropped");
    Test::More::is(@series + $dropped, 200,
                   'own: every one of 200 statuses is a series or dropped');
    Test::More::like($page, qr/^foundry_zone_size_bytes\{zone="metrics"\} 32768$/m,
                     'own: a resized zone is a new zone');
    Test::More::unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/,
                       'own: a full zone logs no alerts');

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
        $block->set_value('http_config',
            FoundryConf::mock_http(oai => {bearer => undef}) . <<'_EOC_');
    foundry_metrics_zone metrics:1m;
_EOC_
    }

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', [main::page_filter()]);
    }
});

Test::Nginx::Socket::plan(tests => $OwnTests + 110);

own_tests();

run_tests();

__DATA__

=== TEST 1: the page of a new zone: every metric named, no series
--- config
    location = /metrics {
        foundry_metrics;
    }
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body eval
main::page()



=== TEST 2: HEAD: the headers alone
--- config
    location = /metrics {
        foundry_metrics;
    }
--- request
HEAD /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_filters
--- response_body chomp



=== TEST 3: POST is a 405
--- config
    location = /metrics {
        foundry_metrics;
    }
--- request
POST /metrics
x=1
--- error_code: 405
--- response_body_filters
--- response_body_like: 405



=== TEST 4: requests by status, tokens by key and kind, auth failures, limit rejections
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
        keepalive 4;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;
    foundry_limit_zone limits:1m;
    foundry_metrics_zone metrics:1m;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_key_source config bearer;
        foundry_model gpt-4o upstream=oai;
        foundry_model gpt-4o-mini upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        foundry_limit zone=limits key=$foundry_key_name rpm=2;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
[main::post($main::Chat), main::post($main::Chat), main::post($main::Chat),
 main::post('{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}'),
 main::post($main::Chat), main::post($main::Chat), main::post($main::Chat),
 main::post($main::Chat), main::post($main::Chat), main::post($main::Chat),
 main::post($main::Chat), main::post($main::Chat),
 main::post('{"model":"nope"}'), "GET /v1/models", "GET /metrics"]
--- more_headers eval
["api-key: demo-key\nx-mock-usage: 10,20,3,4", "api-key: demo-key",
 "api-key: demo-key", "api-key: b64-key\nx-mock-usage: 5,6",
 "", "api-key: nope", "api-key: off-key", "api-key: old-key",
 "api-key: future-key", "api-key: demo-key\nAuthorization: Bearer b64-key",
 "api-key: limited-key", "api-key: b64-key\nx-mock-status: 503",
 "api-key: soon-key", "api-key: soon-key", ""]
--- error_code eval
[200, 200, 429, 200, 401, 401, 401, 401, 401, 401, 403, 503, 404, 200, 200]
--- response_body eval
['', '', '', '', '', '', '', '', '', '', '', '', '', '',
 main::page(
   foundry_requests_total => <<'_EOS_',
foundry_requests_total{target="/v1",deployment="gpt-4o",status="200"} 2
foundry_requests_total{target="/v1",deployment="gpt-4o",status="429"} 1
foundry_requests_total{target="/v1",deployment="gpt-4o-mini",status="200"} 1
foundry_requests_total{target="/v1",deployment="",status="401"} 6
foundry_requests_total{target="/v1",deployment="gpt-4o",status="403"} 1
foundry_requests_total{target="/v1",deployment="gpt-4o",status="503"} 1
foundry_requests_total{target="/v1",deployment="",status="404"} 1
foundry_requests_total{target="/v1",deployment="",status="200"} 1
_EOS_
   foundry_tokens_total => <<'_EOS_',
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="demo",kind="prompt"} 20
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="demo",kind="completion"} 27
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="demo",kind="cached"} 3
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="demo",kind="reasoning"} 4
foundry_tokens_total{target="/v1",deployment="gpt-4o-mini",key="b64",kind="prompt"} 5
foundry_tokens_total{target="/v1",deployment="gpt-4o-mini",key="b64",kind="completion"} 6
_EOS_
   foundry_upstream_response_seconds =>
       main::hist('foundry_upstream_response_seconds',
                  'target="/v1",deployment="gpt-4o"', 3)
     . main::hist('foundry_upstream_response_seconds',
                  'target="/v1",deployment="gpt-4o-mini"', 1),
   foundry_upstream_first_byte_seconds =>
       main::hist('foundry_upstream_first_byte_seconds',
                  'target="/v1",deployment="gpt-4o"', 3)
     . main::hist('foundry_upstream_first_byte_seconds',
                  'target="/v1",deployment="gpt-4o-mini"', 1),
   foundry_auth_failures_total => <<'_EOS_',
foundry_auth_failures_total{target="/v1",reason="missing"} 1
foundry_auth_failures_total{target="/v1",reason="unknown"} 1
foundry_auth_failures_total{target="/v1",reason="disabled"} 1
foundry_auth_failures_total{target="/v1",reason="expired"} 1
foundry_auth_failures_total{target="/v1",reason="not_yet_valid"} 1
foundry_auth_failures_total{target="/v1",reason="conflicting"} 1
foundry_auth_failures_total{target="/v1",reason="deployment"} 1
_EOS_
   foundry_limit_rejections_total => <<'_EOS_',
foundry_limit_rejections_total{target="/v1",limit="requests"} 1
_EOS_
   zones => [keys => 1048576, limits => 1048576, metrics => 1048576])]



=== TEST 5: histograms: each answer in its bucket
no delay (under 50 ms), 150 ms, 600 ms: sums 0.750 s and a little
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
[main::post($main::Chat), main::post($main::Chat), main::post($main::Chat),
 "GET /metrics"]
--- more_headers eval
["", "x-mock-delay-ms: 150", "x-mock-delay-ms: 600", ""]
--- response_body_filters eval
[main::page_filter(foundry_upstream_response_seconds => [0.75, 0.95],
                   foundry_upstream_first_byte_seconds => [0.75, 0.95])]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
['', '', '',
 main::page(
   foundry_requests_total => <<'_EOS_',
foundry_requests_total{target="/v1",deployment="gpt-4o",status="200"} 3
_EOS_
   foundry_tokens_total => <<'_EOS_',
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="",kind="prompt"} 30
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="",kind="completion"} 21
_EOS_
   foundry_upstream_response_seconds =>
       main::hist('foundry_upstream_response_seconds',
                  'target="/v1",deployment="gpt-4o"',
                  [1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3]),
   foundry_upstream_first_byte_seconds =>
       main::hist('foundry_upstream_first_byte_seconds',
                  'target="/v1",deployment="gpt-4o"',
                  [1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3]))]



=== TEST 6: a stream: the first byte at once, the end 600 ms later
6 events (role, 3 pieces, finish, [DONE]), 120 ms apart
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
[main::post('{"model":"gpt-4o","stream":true}'), "GET /metrics"]
--- more_headers eval
["x-mock-chunk-delay-ms: 120", ""]
--- response_body_filters eval
[main::page_filter(foundry_upstream_response_seconds => [0.6, 0.8],
                   foundry_upstream_first_byte_seconds => [0, 0.049])]
--- error_code eval
[200, 200]
--- response_body eval
['',
 main::page(
   foundry_requests_total => <<'_EOS_',
foundry_requests_total{target="/v1",deployment="gpt-4o",status="200"} 1
_EOS_
   foundry_upstream_response_seconds =>
       main::hist('foundry_upstream_response_seconds',
                  'target="/v1",deployment="gpt-4o"',
                  [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]),
   foundry_upstream_first_byte_seconds =>
       main::hist('foundry_upstream_first_byte_seconds',
                  'target="/v1",deployment="gpt-4o"', 1))]



=== TEST 7: tokens of every kind of answer, by deployment and key; zero counts add no series
embeddings: prompt only; responses: input/output; a stream without
usage: none; an error: none
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
        keepalive 4;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;
    foundry_metrics_zone metrics:1m;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_keys keys;
        foundry_model gpt-4o upstream=oai;
        foundry_model text-embedding-3-small upstream=oai;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
[main::post('{"model":"text-embedding-3-small","input":"x"}', '/v1/embeddings'),
 main::post('{"model":"gpt-4o","input":"x","stream":true}', '/v1/responses'),
 main::post('{"model":"gpt-4o","stream":true}'),
 main::post($main::Chat),
 main::post('{"model":"gpt-4o","input":"x"}', '/v1/responses'),
 main::post($main::Chat),
 "GET /metrics"]
--- more_headers eval
["api-key: demo-key\nx-mock-usage: 8,0", "api-key: demo-key\nx-mock-usage: 100,50,0,25",
 "api-key: demo-key\nx-mock-usage: 1000,1000", "api-key: b64-key\nx-mock-status: 500",
 "api-key: b64-key\nx-mock-usage: 7,3,2,0", "api-key: soon-key\nx-mock-usage: 0,0", ""]
--- error_code eval
[200, 200, 200, 500, 200, 200, 200]
--- response_body eval
['', '', '', '', '', '',
 main::page(
   foundry_requests_total => <<'_EOS_',
foundry_requests_total{target="/v1",deployment="text-embedding-3-small",status="200"} 1
foundry_requests_total{target="/v1",deployment="gpt-4o",status="200"} 4
foundry_requests_total{target="/v1",deployment="gpt-4o",status="500"} 1
_EOS_
   foundry_tokens_total => <<'_EOS_',
foundry_tokens_total{target="/v1",deployment="text-embedding-3-small",key="demo",kind="prompt"} 8
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="demo",kind="prompt"} 100
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="demo",kind="completion"} 50
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="demo",kind="reasoning"} 25
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="b64",kind="prompt"} 7
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="b64",kind="completion"} 3
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="b64",kind="cached"} 2
_EOS_
   foundry_upstream_response_seconds =>
       main::hist('foundry_upstream_response_seconds',
                  'target="/v1",deployment="text-embedding-3-small"', 1)
     . main::hist('foundry_upstream_response_seconds',
                  'target="/v1",deployment="gpt-4o"', 5),
   foundry_upstream_first_byte_seconds =>
       main::hist('foundry_upstream_first_byte_seconds',
                  'target="/v1",deployment="text-embedding-3-small"', 1)
     . main::hist('foundry_upstream_first_byte_seconds',
                  'target="/v1",deployment="gpt-4o"', 5),
   zones => [keys => 1048576, metrics => 1048576])]



=== TEST 8: limit rejections by kind: tokens, requests, quota
reserve=10: 18 a request; t: tpm 5 (capped, then 17 used: short);
r: rpm 1; q: a quota of 20 (17 used, 17 + 18 > 20)
--- http_config
    upstream mock {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT;
        keepalive 4;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_limit_zone limits:64k;
    foundry_metrics_zone metrics:1m;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_limit zone=limits key=$http_x_tenant tpm=$http_x_tpm
                      rpm=$http_x_rpm tokens_per_day=$http_x_quota reserve=10;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
[main::post($main::Chat), main::post($main::Chat), main::post($main::Chat),
 main::post($main::Chat), main::post($main::Chat), main::post($main::Chat),
 "GET /metrics"]
--- more_headers eval
["x-tenant: t\nx-tpm: 5", "x-tenant: r\nx-rpm: 1", "x-tenant: r\nx-rpm: 1",
 "x-tenant: q\nx-quota: 20", "x-tenant: q\nx-quota: 20",
 "x-tenant: t\nx-tpm: 5", ""]
--- error_code eval
[200, 200, 429, 200, 403, 429, 200]
--- response_body eval
['', '', '', '', '', '',
 main::page(
   foundry_requests_total => <<'_EOS_',
foundry_requests_total{target="/v1",deployment="gpt-4o",status="200"} 3
foundry_requests_total{target="/v1",deployment="gpt-4o",status="429"} 2
foundry_requests_total{target="/v1",deployment="gpt-4o",status="403"} 1
_EOS_
   foundry_tokens_total => <<'_EOS_',
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="",kind="prompt"} 30
foundry_tokens_total{target="/v1",deployment="gpt-4o",key="",kind="completion"} 21
_EOS_
   foundry_upstream_response_seconds =>
       main::hist('foundry_upstream_response_seconds',
                  'target="/v1",deployment="gpt-4o"', 3),
   foundry_upstream_first_byte_seconds =>
       main::hist('foundry_upstream_first_byte_seconds',
                  'target="/v1",deployment="gpt-4o"', 3),
   foundry_limit_rejections_total => <<'_EOS_',
foundry_limit_rejections_total{target="/v1",limit="requests"} 1
foundry_limit_rejections_total{target="/v1",limit="quota"} 1
foundry_limit_rejections_total{target="/v1",limit="tokens"} 1
_EOS_
   zones => [limits => 65536, metrics => 1048576])]



=== TEST 9: two targets, a label value escaped, the metrics page and other locations not counted
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location /we"ird\x/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_model gpt-4o upstream=oai;
        foundry_model_discovery list=/models "get=/models/{deploymentName}"
                                provider=OpenAI;
    }

    location /static/ {
        return 200 "static\n";
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
["GET /v1/models", "GET /we%22ird%5Cx/models", "GET /we%22ird%5Cx/models/nope",
 "GET /static/x", "GET /metrics", "GET /metrics"]
--- error_code eval
[200, 200, 404, 200, 200, 200]
--- response_body eval
['', '', '', '', main::page(
   foundry_requests_total => <<'_EOS_'),
foundry_requests_total{target="/v1",deployment="",status="200"} 1
foundry_requests_total{target="/we\"ird\\x",deployment="",status="200"} 1
foundry_requests_total{target="/we\"ird\\x",deployment="",status="404"} 1
_EOS_
 main::page(
   foundry_requests_total => <<'_EOS_')]
foundry_requests_total{target="/v1",deployment="",status="200"} 1
foundry_requests_total{target="/we\"ird\\x",deployment="",status="200"} 1
foundry_requests_total{target="/we\"ird\\x",deployment="",status="404"} 1
_EOS_



=== TEST 10: an upstream that cannot be reached: a 502, and no upstream time
BUG (minor): a failed connect is recorded in
foundry_upstream_response_seconds as an answer that took 0 s (observed:
_count 1, _sum 0.000, every bucket 1): there was no answer.
ngx_http_foundry_metrics_record() takes any upstream state with a
status, and nginx gives a failed connect the status 502.
--- http_config
    upstream dead {
        server 127.0.0.1:1;
    }

    foundry_upstream dead kind=openai url=http://dead;
    foundry_metrics_zone metrics:1m;
--- config
    location /v1/ {
        foundry_gateway on;
        foundry_model gpt-4o upstream=dead;
        include $TEST_NGINX_CONF_D/foundry_proxy_params;
    }

    location = /metrics {
        foundry_metrics;
    }
--- pipelined_requests eval
[main::post($main::Chat), "GET /metrics"]
--- error_code eval
[502, 200]
--- response_body eval
['', main::page(
   foundry_requests_total => <<'_EOS_')]
foundry_requests_total{target="/v1",deployment="gpt-4o",status="502"} 1
_EOS_



=== TEST 11: the page follows Prometheus' text format: each metric's lines in one group
BUG (minor): the zone gauges are written as "HELP size, TYPE size, HELP
used, TYPE used", then size and used samples in turns, zone by zone: the
text format wants all the lines of a metric together (observed: "not
grouped: foundry_zone_size_bytes{zone="metrics"} ...").
ngx_http_foundry_metrics_zones() prints both gauges in one loop.
--- http_config
    foundry_limit_zone limits:64k;
    foundry_metrics_zone metrics:1m;
--- config
    location = /metrics {
        foundry_metrics;
    }
--- request
GET /metrics
--- response_body_filters eval
[\&main::groups]
--- response_body chomp
grouped



=== TEST 12: the metrics page without a zone fails nginx -t, naming the place
--- http_config
--- config
    location = /metrics {
        foundry_metrics;
    }
--- request
GET /metrics
--- must_die
--- error_log eval
qr{"foundry_metrics" needs a "foundry_metrics_zone" in the http block, in \S+/nginx\.conf:\d+}



=== TEST 13: config: one metrics zone
--- http_config
    foundry_metrics_zone metrics:1m;
    foundry_metrics_zone more:1m;
--- config
--- request
GET /
--- must_die
--- error_log
"foundry_metrics_zone" directive is duplicate



=== TEST 14: config: a zone too small
--- http_config
    foundry_metrics_zone metrics:8k;
--- config
--- request
GET /
--- must_die
--- error_log
zone "metrics:8k" is too small



=== TEST 15: config: a zone without a size
--- http_config
    foundry_metrics_zone metrics;
--- config
--- request
GET /
--- must_die
--- error_log
invalid zone "metrics" in "foundry_metrics_zone" directive, expected name:size



=== TEST 16: config: a zone name taken by another zone
--- http_config
    foundry_limit_zone shared:1m;
    foundry_metrics_zone shared:1m;
--- config
--- request
GET /
--- must_die
--- error_log
duplicate zone "shared"



=== TEST 17: config: foundry_metrics is a location directive
--- http_config
    foundry_metrics_zone metrics:1m;
--- config
    foundry_metrics;
--- request
GET /
--- must_die
--- error_log
"foundry_metrics" directive is not allowed here



=== TEST 18: config: foundry_metrics takes no argument
--- http_config
    foundry_metrics_zone metrics:1m;
--- config
    location = /metrics {
        foundry_metrics on;
    }
--- request
GET /
--- must_die
--- error_log
invalid number of arguments in "foundry_metrics" directive
