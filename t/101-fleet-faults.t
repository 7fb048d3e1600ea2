# A fleet's Redis that fails: a server that answers garbage, one that
# answers only errors, a Redis stopped, restarted (empty: the deltas kept
# meanwhile arrive), stalled (SIGSTOP: the sync times out); a reload while
# syncing.  Requests are served from the node's own state all along, with
# the fallback of each zone: fail=share (rpm / nodes=), fail=closed (503);
# one log line per change of state; the metrics show it.

use strict;
use warnings;

use Cwd qw(cwd);
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;
use FoundryRedis;

my $mock = FoundryMock::start();
my $redis = FoundryRedis->new;
my $params = cwd() . '/conf.d/foundry_proxy_params';
my $rport = $redis->{port};
my ($garbage) = FoundryRedis::liar("HTTP/1.1 400 Bad Request\r\n\r\n");
my ($errors) = FoundryRedis::liar("-ERR not today\r\n");
# an array that declares 888,888,883 elements: refused at its header
my ($huge) = FoundryRedis::liar("*888888883\r\n");

our $Ngx;

END {
    local $?;
    $Ngx->stop if $Ngx;
    FoundryRedis::stop_liars();
}

my $sync = 'interval=200ms timeout=300ms';

my $ngx = $Ngx = FoundryNginx->new(workers => 2, http => <<"CONF");
    foundry_upstream oai kind=openai url=http://127.0.0.1:$mock;
    foundry_metrics_zone metrics:1m;

    foundry_limit_zone share:1m;
    foundry_limit_sync zone=share redis=127.0.0.1:$rport $sync nodes=2
                       fail=share;
    foundry_limit_zone closed:1m;
    foundry_limit_sync zone=closed redis=127.0.0.1:$rport $sync
                       fail=closed;
    foundry_limit_zone garbage:1m;
    foundry_limit_sync zone=garbage redis=127.0.0.1:$garbage $sync;
    foundry_limit_zone errors:1m;
    foundry_limit_sync zone=errors redis=127.0.0.1:$errors $sync;
    foundry_limit_zone huge:1m;
    foundry_limit_sync zone=huge redis=127.0.0.1:$huge $sync;

    server {
        listen 127.0.0.1:\$PORT;

        foundry_gateway on;
        foundry_model gpt-4o upstream=oai;

        location /v1/ {
            foundry_limit zone=share key=\$http_x_share rpm=\$http_x_rpm
                          tokens_per_day=100000;
            foundry_limit zone=closed key=\$http_x_closed rpm=1000;
            foundry_limit zone=garbage key=\$http_x_garbage rpm=1000;
            foundry_limit zone=errors key=\$http_x_errors rpm=1000;
            foundry_limit zone=huge key=\$http_x_huge rpm=1000;
            include $params;
        }

        location = /metrics {
            foundry_gateway off;
            foundry_metrics;
        }
    }
CONF

my $Body = '{"model":"gpt-4o","max_tokens":88,"messages":[]}';

sub call {
    my ($zone, @h) = @_;
    my %h = ('x-tenant' => 't', @h);
    my $tenant = delete $h{'x-tenant'};
    my ($status, $headers, $body) = $ngx->request('POST',
        '/v1/chat/completions',
        ["x-$zone" => $tenant, 'x-mock-usage' => '60,40', %h], $Body);
    return wantarray ? ($status, $body) : $status;
}

sub calls {
    my ($zone, $n, @h) = @_;
    my %s;
    $s{ call($zone, @h) }++ for 1 .. $n;
    return \%s;
}

sub metrics {
    return ($ngx->request('GET', '/metrics'))[2];
}

sub wait_metrics {
    my ($re) = @_;
    my $deadline = time + 20;
    while (time < $deadline) {
        return 1 if metrics() =~ $re;
        sleep 0.1;
    }
    return 0;
}

sub up {
    my ($zone, $v) = @_;
    return qr/^foundry_limit_sync_up\{zone="$zone"\} $v$/m;
}

sub lines {
    my ($re) = @_;
    return scalar grep { /$re/ } split /\n/, $ngx->error_log;
}

plan tests => 25;

ok(wait_metrics(up('share', 1)), 'share: the sync is up');
ok(wait_metrics(up('closed', 1)), 'closed: the sync is up');

# a server that answers garbage, one that answers errors: served locally

is_deeply(calls('garbage', 3), { 200 => 3 }, 'garbage: requests served');
is_deeply(calls('errors', 3), { 200 => 3 }, 'errors: requests served');

ok(wait_metrics(qr/^foundry_limit_sync_failures_total\{zone="garbage"\} [2-9]/m),
   'garbage: failed syncs counted');
like(metrics(), up('garbage', 0), 'garbage: the sync is down');
like(metrics(), up('errors', 0), 'errors: the sync is down');

is(lines(qr/foundry_limit_zone "garbage": sync with redis 127\.0\.0\.1:$garbage failed \((invalid|unexpected) reply\)/),
   1, 'garbage: one log line for the change of state, naming the server');
is(lines(qr/foundry_limit_zone "errors": sync with redis .* failed \(unexpected reply\)/),
   1, 'errors: one log line');

is_deeply(calls('huge', 3), { 200 => 3 }, 'huge array: requests served');
ok(wait_metrics(up('huge', 0)), 'huge array: the sync is down');
is(lines(qr/foundry_limit_zone "huge": sync with redis 127\.0\.0\.1:$huge failed \(reply too large\)/),
   1, 'huge array: refused at its header, not awaited until the timeout');

# Redis stopped: served from local state, fail=share halves rpm, fail=closed
# refuses; usage kept meanwhile

$redis->stop;

ok(wait_metrics(up('share', 0)) && wait_metrics(up('closed', 0)),
   'redis stopped: the syncs are down');

my $t0 = time;
is_deeply(calls('share', 12, 'x-tenant' => 'down', 'x-rpm' => 10),
          { 200 => 5, 429 => 7 },
          'redis stopped, fail=share nodes=2: rpm 10 becomes 5 here');
ok(time - $t0 < 10, 'and no request waited for Redis');

my ($st, $body) = call('closed');
is($st, 503, 'redis stopped, fail=closed: 503');
like($body, qr/"code":"LimitUnavailable"/, 'with an OpenAI-style error');

is(lines(qr/foundry_limit_zone "share": sync with redis .* failed/), 1,
   'share: one log line');

# Redis back (empty): the usage kept while it was down arrives

$redis->start;

ok(wait_metrics(up('share', 1)), 'redis restarted: the sync is up again');
ok(lines(qr/foundry_limit_zone "share": syncing with redis/) >= 2,
   'share: a log line when it is back');

my $d = $redis->values_of('foundry:{share}:d:*:down');
is((values %$d)[0], 500, 'the 5 requests made while Redis was down '
   . 'arrived: 500 tokens');

# Redis stalled: syncs time out, requests do not wait

$redis->stall;

ok(wait_metrics(up('share', 0)), 'redis stalled: the sync is down');

$t0 = time;
is_deeply(calls('share', 3, 'x-tenant' => 'stall'), { 200 => 3 },
          'redis stalled: requests served');
ok(time - $t0 < 5, 'without waiting for Redis');

$redis->resume;

# a reload while syncing; the zone and its sync carry on

$ngx->reload;
call('share', 'x-tenant' => 'reload') for 1 .. 3;
$ngx->reload;

ok(wait_metrics(up('share', 1)), 'reloaded twice: the sync is up');
