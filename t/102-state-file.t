# A single node without Redis keeps its quotas in a state file
# (foundry_limit_sync ... state=): written atomically at an interval and
# on exit, read when the zone is created; a restart (not a reload) keeps
# what was used, after a clean stop and after a crash (at most one
# interval lost).  Invalid lines are ignored with a warning.

use strict;
use warnings;

use Cwd qw(cwd);
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

my $mock = FoundryMock::start();
my $params = cwd() . '/conf.d/foundry_proxy_params';
my $dir = tempdir('foundry-state-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $dir;  # the workers (user nobody when run as root) write it
my $state = "$dir/quotas.state";

our $Ngx;

END {
    local $?;
    $Ngx->stop if $Ngx;
}

my $conf = <<"CONF";
    foundry_upstream oai kind=openai url=http://127.0.0.1:$mock;
    foundry_limit_zone quotas:1m;
    foundry_limit_sync zone=quotas state=$state interval=200ms;

    server {
        listen 127.0.0.1:\$PORT;

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            foundry_limit zone=quotas key=\$http_x_tenant
                          tokens_per_day=1000 tokens_per_month=100000;
            include $params;
        }
    }
CONF

my $Body = '{"model":"gpt-4o","max_tokens":88,"messages":[]}';

sub calls {
    my ($ngx, $n, $tenant) = @_;
    my %s;
    for (1 .. $n) {
        my ($st) = $ngx->request('POST', '/v1/chat/completions',
                                 ['x-tenant' => $tenant,
                                  'x-mock-usage' => '60,40'], $Body);
        $s{$st}++;
    }
    return \%s;
}

sub slurp {
    open my $fh, '<', $state or return '';
    local $/;
    return <$fh>;
}

plan tests => 9;

my $ngx = $Ngx = FoundryNginx->new(workers => 2, http => $conf);

is_deeply(calls($ngx, 6, 'a'), { 200 => 6 }, '600 of the day quota used');

sleep 1;

like(slurp(), qr/^(\d+ \d+ )?\d+ 600 \d+ 600 61\n/m,
     'the state file has the key, written at the interval');

# a clean stop, a start: the quota is kept

$ngx->stop;
$ngx = $Ngx = FoundryNginx->new(workers => 2, http => $conf);

is_deeply(calls($ngx, 5, 'a'), { 200 => 4, 403 => 1 },
          'restarted: 4 more, then the day quota is spent');

like($ngx->error_log, qr/foundry_limit_zone "quotas": 1 keys read from/,
     'the start says what it read');

# a crash (SIGKILL, no exit): at most one interval lost

is_deeply(calls($ngx, 3, 'b'), { 200 => 3 }, 'b: 300 used');
sleep 1;

my @pids = ($ngx->pid, $ngx->workers);
kill 'KILL', @pids;
sleep 0.5;
unlink "$ngx->{prefix}/logs/nginx.pid";

$ngx = $Ngx = FoundryNginx->new(workers => 2, http => $conf);

is_deeply(calls($ngx, 8, 'b'), { 200 => 7, 403 => 1 },
          'after a crash: b has its 300 still counted');

# a reload keeps the zone (and does not read the file again)

$ngx->reload;
is_deeply(calls($ngx, 1, 'b'), { 403 => 1 }, 'reloaded: b still spent');

# invalid lines: ignored, with a warning

$ngx->stop;

open my $fh, '>>', $state or die;
print $fh "garbage\n1 2 3\n";
close $fh;

$ngx = $Ngx = FoundryNginx->new(workers => 2, http => $conf);

like($ngx->error_log, qr/foundry_limit_zone "quotas": 2 invalid lines in/,
     'invalid lines ignored, with a warning');
is_deeply(calls($ngx, 1, 'a'), { 403 => 1 }, 'the valid lines still count');
