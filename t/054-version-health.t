# The module's version and health: $foundry_version, the notice at each
# start and reload ("ngx_http_foundry_module/0.1.0 (yajl ..., OpenSSL
# ...)"), the foundry_build_info series of /metrics, the foundry_health
# endpoint (GET and HEAD answer from the module alone, other methods 405),
# and foundry_keys_reloads_total: the keys files loaded or refused, at a
# start or reload and by the interval check.
#
# Plain Perl with an nginx of our own (t/lib/FoundryNginx.pm): reloads.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib';
use FoundryKeys;
use FoundryNginx;

my $dir = $FoundryKeys::DIR;

open my $vf, '<', 'VERSION' or die "VERSION: $!";
my ($version) = <$vf> =~ /^(\S+)/;
close $vf;

FoundryKeys::write_file('version.json', [
    FoundryKeys::entry('first', 'first-secret-key'),
]);

my $conf = <<"CONF";
    foundry_metrics_zone metrics:1m;
    foundry_keys_zone vkeys:1m file=$dir/version.json interval=200ms;

    server {
        listen 127.0.0.1:\$PORT;

        location = /health {
            foundry_health;
        }

        location = /version {
            default_type text/plain;
            return 200 "v=\$foundry_version";
        }

        location = /metrics {
            foundry_metrics;
        }

        location /v1/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_keys vkeys;
            foundry_model gpt-4o;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
        }
    }
CONF

my $ngx = FoundryNginx->new(workers => 2, http => $conf);

sub metrics {
    my (undef, undef, $page) = $ngx->request('GET', '/metrics');
    return $page;
}

sub reloads {
    my ($outcome) = @_;
    my ($n) = metrics() =~ /^foundry_keys_reloads_total\{zone="vkeys",outcome="$outcome"\} (\d+)$/m;
    return $n // 0;
}

sub wait_reloads {
    my ($outcome, $want) = @_;

    for (1 .. 100) {
        return $want if reloads($outcome) == $want;
        sleep 0.1;
    }

    return reloads($outcome);
}

# $foundry_version

{
    my ($status, undef, $body) = $ngx->request('GET', '/version');
    is($status, 200, 'variable: answered');
    is($body, "v=$version", 'variable: $foundry_version is VERSION');
}

# the start notice, once, in the master

{
    my @n = $ngx->error_log
        =~ /\[notice\] \d+#\d+: (ngx_http_foundry_module\/\S+ \(yajl [^,]+, OpenSSL [^)]+\))/g;
    is(scalar @n, 1, 'notice: logged once at start');
    like($n[0] // '', qr{^ngx_http_foundry_module/\Q$version\E \(yajl \d+\.\d+\.\d+, OpenSSL 3\.\d+\.\d+},
         'notice: the module, yajl and OpenSSL versions');
}

# foundry_build_info

{
    my $page = metrics();
    like($page, qr/^# TYPE foundry_build_info gauge$/m, 'build info: a gauge');
    like($page, qr/^foundry_build_info\{version="\Q$version\E",nginx="\d+\.\d+\.\d+",openssl="3\.\d+\.\d+[^"]*",yajl="\d+\.\d+\.\d+"\} 1$/m,
         'build info: version, nginx, openssl, yajl');
    like($page, qr/^# TYPE foundry_keys_reloads_total counter$/m,
         'keys reloads: a counter');
}

# foundry_health

{
    my ($status, $h, $body) = $ngx->request('GET', '/health');
    is($status, 200, 'health: GET 200');
    like($h->{'content-type'} // '', qr{^application/json}, 'health: JSON');
    is($body, qq({"status":"ok","version":"$version"}), 'health: the body');

    ($status, $h, $body) = $ngx->request('HEAD', '/health');
    is($status, 200, 'health: HEAD 200');
    is($body, '', 'health: HEAD, no body');

    ($status, $h, $body) = $ngx->request('POST', '/health',
        ['Content-Type' => 'application/json'], '{}');
    is($status, 405, 'health: POST 405');
    is($h->{allow} // '', 'GET, HEAD', 'health: POST, Allow');
    like($body, qr/^\{"error":\{"code":"MethodNotAllowed","message":"[^"]+"/,
         'health: POST, an OpenAI-style error');

    ($status) = $ngx->request('DELETE', '/health');
    is($status, 405, 'health: DELETE 405');
}

# foundry_keys_reloads_total: the load at start

is(reloads('ok'), 1, 'keys reloads: the load at start is counted');
is(reloads('failed'), 0, 'keys reloads: no failure yet');

# the interval check: a broken file, then a good one

FoundryKeys::write_file('version.json', '[{"name": "x", "sha256": ');

is(wait_reloads('failed', 1), 1, 'keys reloads: a broken file, failed');

FoundryKeys::write_file('version.json', [
    FoundryKeys::entry('second', 'second-secret-key'),
]);

is(wait_reloads('ok', 2), 2, 'keys reloads: fixed, ok');
is(reloads('failed'), 1, 'keys reloads: the failure stays counted');

# nginx -s reload: a good file

$ngx->reload;

is(reloads('ok'), 3, 'keys reloads: HUP, ok');
like($ngx->error_log,
     qr/(?:ngx_http_foundry_module\/\Q$version\E .*){2}/s,
     'notice: logged again at the reload');

# nginx -s reload with a broken file: refused, the running metrics count it

FoundryKeys::write_file('version.json', '{"keys": 1}');

kill 'HUP', $ngx->pid;

is(wait_reloads('failed', 2), 2, 'keys reloads: HUP with a broken file, failed');
is(reloads('ok'), 3, 'keys reloads: HUP with a broken file, no ok');
like($ngx->error_log, qr/invalid keys file/, 'the refused reload is logged');
unlike($ngx->error_log, qr/secret-key/, 'no key in the log');

$ngx->stop;

done_testing();
