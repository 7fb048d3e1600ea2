# A fleet: two gateway nodes (nginx instances of their own) share a limit
# zone through a real redis-server (foundry_limit_sync).  A day quota is
# held across the nodes; rpm across nodes stays within the documented
# bound (limit + about nodes x rate x interval); the window keys carry the
# zone's hash tag and an expiry; the metrics show the sync; a node
# restarted learns the fleet's quota usage back from Redis.
#
# Each request reserves 12 + 88 = 100 tokens (a 48-byte body with
# "max_tokens": 88) and the mock reports 60 + 40 = 100.

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

our @Nodes;

END {
    local $?;
    $_->stop for grep { $_ } @Nodes;
}

my $conf = <<"CONF";
    foundry_upstream oai kind=openai url=http://127.0.0.1:$mock;
    foundry_limit_zone fleet:1m;
    foundry_limit_sync zone=fleet redis=127.0.0.1:$rport interval=200ms
                       timeout=500ms nodes=2 fail=share;
    foundry_metrics_zone metrics:1m;

    server {
        listen 127.0.0.1:\$PORT;

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            foundry_limit zone=fleet key=\$http_x_tenant rpm=\$http_x_rpm
                          tokens_per_day=\$http_x_quota;
            include $params;
        }

        location = /metrics {
            foundry_metrics;
        }
    }
CONF

my @nodes = map { FoundryNginx->new(workers => 2, http => $conf) } 1 .. 2;
@Nodes = @nodes;

my $Body = '{"model":"gpt-4o","max_tokens":88,"messages":[]}';

sub call {
    my ($node, @h) = @_;
    my ($status) = $node->request('POST', '/v1/chat/completions',
                                  ['x-mock-usage' => '60,40', @h], $Body);
    return $status;
}

sub calls {
    my ($node, $n, @h) = @_;
    my %s;
    $s{ call($node, @h) }++ for 1 .. $n;
    return \%s;
}

# waits until the node's /metrics match (the syncs are every 200 ms)

sub settle { sleep 1.5 }

plan tests => 18;

ok(FoundryRedis::wait_metrics($_, qr/^foundry_limit_sync_up\{zone="fleet"\} 1$/m),
   "node $_->{port}: the sync is up") for @nodes;

# a day quota of 1000: 600 on the first node, then the second has 400

my $q = ['x-tenant' => 'quota', 'x-quota' => 1000];

is_deeply(calls($nodes[0], 6, @$q), { 200 => 6 },
          'node 1: 6 requests of 100 tokens within the day quota');

settle();

is_deeply(calls($nodes[1], 5, @$q), { 200 => 4, 403 => 1 },
          'node 2: 4 more, then the quota shared with node 1 is spent');

settle();

is(call($nodes[0], @$q), 403, 'node 1: the usage of node 2 counts too');

my $keys = $redis->values_of('foundry:{fleet}:d:*');
my ($dkey) = keys %$keys;

is(scalar keys %$keys, 1, 'one day key in Redis, with the zone hash tag');
like($dkey // '', qr/^foundry:\{fleet\}:d:\d+:quota$/, 'the key names the '
     . 'window and the limit key');
is($keys->{$dkey // ''}, 1000, 'Redis holds the fleet total: 1000 tokens');

my $ttl = $redis->cmd('TTL', $dkey // 'none');
ok($ttl > 0 && $ttl <= 86400 + 3600, "the day key expires (ttl $ttl)");

# rpm 20 across the nodes: a burst on each, one after the other; without
# the fleet each node would admit 20 (40 in all).  Within one sync a node
# admits its share (20 / nodes=2), then 429 with Retry-After 1 until the
# sync; the next node's bucket has what the first left (about 10), half of
# it at each sync: 20 in all at most, plus what refills (20 a minute)

my $r = ['x-tenant' => 'rpm', 'x-rpm' => 20];

my $first = calls($nodes[0], 15, @$r);
ok(($first->{200} // 0) >= 10 && ($first->{200} // 0) <= 20,
   'node 1: its share of rpm 20 within a sync, half of the rest at each '
   . 'sync that came between (' . ($first->{200} // 0) . ')');

settle();

my $second = calls($nodes[1], 25, @$r);
my $both = ($first->{200} // 0) + ($second->{200} // 0);

ok($both >= 14 && $both <= 24,
   "rpm 20 held across the nodes ($both admitted of 40)");
ok(($second->{429} // 0) >= 10, 'node 2: the rest are 429s');

settle();

my $rkeys = $redis->values_of('foundry:{fleet}:r:*:rpm');
my $rsum = 0;
$rsum += $_ for values %$rkeys;
is($rsum, $both, 'Redis counts every admitted request of both nodes');

# the overshoot bound: a burst on both nodes at once, on a key neither
# knows: between two syncs each node admits its share (1 / nodes) of what
# the bucket held at its last sync, so the fleet admits the limit (20),
# plus what refills meanwhile (20 a minute), plus what the other node
# admitted since the sync that this node has not heard of: a request or
# two per node here (nodes x rate x interval in a steady flow)

my $b = ['x-tenant' => 'burst', 'x-rpm' => 20];
my ($admitted, $start) = (0, time);

for (1 .. 20) {
    $admitted++ if call($nodes[0], @$b) == 200;
    $admitted++ if call($nodes[1], @$b) == 200;
}

my $bound = 20 + int(20 * (time - $start) / 60) + 2 * 3;

ok($admitted >= 10 && $admitted <= $bound,
   "a burst on both nodes at once: $admitted admitted of 40, the bound "
   . "$bound (without the fleet: 40)");

like(join('', map { ($_->request('GET', '/metrics'))[2] } $nodes[0]),
     qr/^foundry_limit_syncs_total\{zone="fleet"\} [1-9]\d*$/m,
     'metrics: syncs counted');

# node 1 restarted (a new zone): the keys the fleet used and their quota
# usage come back from Redis at the first syncs, before any request

$nodes[0]->stop;
$nodes[0] = FoundryNginx->new(workers => 2, http => $conf);
@Nodes = @nodes;

ok(FoundryRedis::wait_metrics($nodes[0], qr/^foundry_limit_sync_up\{zone="fleet"\} 1$/m),
   'node 1 restarted: the sync is up');

settle();

is(call($nodes[0], @$q), 403, 'node 1 restarted: the spent quota is known '
   . 'at its first request');

unlike(join('', map { $_->error_log } @nodes), qr/\[(alert|crit|emerg)\]/,
       'no alert in the error logs');
