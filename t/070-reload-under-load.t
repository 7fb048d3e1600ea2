# Reloads under load: while clients keep sending requests (keys checked,
# deployments discovered, limits counted), nginx is reloaded twenty
# times.  No request may fail, and what the shared zones hold (keys,
# discovered deployments, limit counters, metrics) must survive.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryKeys;
use FoundryMock;
use FoundryNginx;

plan tests => 8;

my $mock = FoundryMock::start();
my $dir = $FoundryKeys::DIR;

FoundryKeys::write_file('load.json', [
    FoundryKeys::entry('loader', 'loader-key'),
]);

my $conf = <<"CONF";
    upstream mock {
        server 127.0.0.1:$mock;
        keepalive 8;
    }

    foundry_keys_zone keys:1m file=$dir/load.json;
    foundry_discovery_zone discovery:1m;
    foundry_limit_zone limits:1m;
    foundry_metrics_zone metrics:1m;

    foundry_upstream aoai kind=azure-openai url=http://mock
                     api_version=2024-10-21 api_key=k;

    server {
        listen 127.0.0.1:\$PORT;

        location = /_discovery {
            internal;
            proxy_pass http://mock/openai/deployments?api-version=2024-10-21;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            subrequest_output_buffer_size 64k;
        }

        location /openai/ {
            foundry_gateway on;
            foundry_category ApiManagement;
            foundry_deployment_in_path on;
            foundry_keys keys;
            foundry_model gpt-4o upstream=aoai;
            foundry_discovery_source /_discovery zone=discovery
                                     upstream=aoai ttl=1h;
            foundry_limit zone=limits key=\$foundry_key_name rpm=1000000;

            proxy_pass \$foundry_upstream_url;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header api-key \$foundry_upstream_api_key;
        }

        location /limited/ {
            foundry_gateway on;
            foundry_deployment_in_path on;
            foundry_model gpt-4o upstream=aoai;
            foundry_limit zone=limits key=survivor rpm=2;

            proxy_pass \$foundry_upstream_url;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location = /metrics {
            foundry_metrics;
        }
    }
CONF

my $ngx = FoundryNginx->new(workers => 2, http => $conf);

# warm: the discovered list is in the zone

my ($st) = $ngx->request('GET', '/openai/deployments',
                         ['api-key' => 'loader-key']);
is($st, 200, 'the gateway answers');

my $fetches = mock_count();

# a limit whose bucket refills one request in 30 s: one spent now

my (undef, $h0) = $ngx->request('POST',
    '/limited/deployments/gpt-4o/chat/completions', [], '{}');
my $before = $h0->{'x-ratelimit-remaining-requests'} // -1;

# clients, each in a process of its own, for as long as the reloads last

my $clients = 4;
my @pids;

pipe my $rd, my $wr or die "pipe: $!";

for my $c (1 .. $clients) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        close $rd;
        my ($ok, $bad, %why) = (0, 0);
        my $end = time + 12;

        while (time < $end && !-e "$dir/stop-load") {
            my @r = $c % 2
                ? $ngx->request('POST',
                      '/openai/deployments/text-embedding-3-small/embeddings'
                      . '?api-version=2024-10-21',
                      ['api-key' => 'loader-key'], '{"input":"x"}')
                : $ngx->request('GET', '/openai/deployments/gpt-4o',
                                ['api-key' => 'loader-key']);

            if ($r[0] == 200) {
                $ok++;
            } else {
                $bad++;
                $why{$r[0]}++;
            }
        }

        print $wr "$ok $bad " . join(',', map { "$_:$why{$_}" } keys %why)
                  . "\n";
        close $wr;
        POSIX::_exit(0);
    }

    push @pids, $pid;
}

close $wr;

# twenty reloads, while they run

for (1 .. 20) {
    sleep 0.2;
    $ngx->reload;
}

FoundryKeys::write_file('stop-load', 'x');

my ($ok, $bad, @why) = (0, 0);

while (my $line = <$rd>) {
    my ($o, $b, $w) = split ' ', $line;
    $ok += $o;
    $bad += $b;
    push @why, $w if $w;
}

waitpid $_, 0 for @pids;

ok($ok > 100, "requests during the reloads: $ok");
is($bad, 0, 'none failed' . (@why ? ' (' . join(' ', @why) . ')' : ''));

# the zones kept their contents

is(mock_count(), $fetches,
   'the discovered list survived the reloads: no new fetch');

($st) = $ngx->request('GET', '/openai/deployments/gpt-4o',
                      ['api-key' => 'loader-key']);
is($st, 200, 'the keys survived the reloads');

my (undef, undef, $metrics) = $ngx->request('GET', '/metrics');

my $count = 0;

$count += $1 while $metrics =~ /^foundry_requests_total\{target="\/openai"[^}]*status="200"\} (\d+)$/mg;

ok($count >= $ok, "the metrics survived the reloads: $count counted, "
                  . "$ok answered");

my (undef, $h) = $ngx->request('POST',
    '/limited/deployments/gpt-4o/chat/completions', [], '{}');

is($h->{'x-ratelimit-remaining-requests'}, $before - 1,
   "the limit counters survived the reloads ($before, then one less)");

unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert');

$ngx->stop;

sub mock_count {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$mock") or die;
    print $s "GET /__mock/stats HTTP/1.0\r\n\r\n";
    local $/;
    my $r = <$s>;
    my ($n) = $r =~ m{"/openai/deployments":(\d+)};
    return $n // 0;
}
