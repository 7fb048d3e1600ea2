# The error-log writer that masks key arguments (t/023) is taken off the
# logs before the module is unloaded: nginx logs on at debug level while it
# frees a cycle (reload, exit), and a writer left in the unloaded module's
# code would crash every worker and the master as they exit.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use FoundryNginx;

plan tests => 8;

$ENV{FOUNDRY_NGINX_LOG_LEVEL} = 'debug';

my $ngx = FoundryNginx->new(workers => 2, http => <<'CONF');
    server {
        listen 127.0.0.1:$PORT;

        location /v1/ {
            foundry_gateway on;
            proxy_pass $foundry_upstream_url;
            foundry_key_source arg=subscription-key;
            foundry_model gpt-4o;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
        }
    }
CONF

my $key = 'exit-test-key-0123456789';

my ($status) = $ngx->request('GET', "/v1/models?subscription-key=$key");
is($status, 200, 'a request with a key argument');

my @old = $ngx->workers;
my $master = $ngx->pid;

$ngx->reload;

($status) = $ngx->request('GET', "/v1/models?subscription-key=$key");
is($status, 200, 'a request after a reload');

$ngx->stop;

my $log = $ngx->error_log;

like($log, qr/\[debug\]/, 'the error log is at debug level');
like($log, qr/worker process $old[0] exited with code 0/,
     'an old worker exited cleanly after the reload');
unlike($log, qr/exited on signal/, 'no process of nginx crashed');
like($log, qr/\[notice\] $master#$master: exit\n/, 'the master exited');
like($log, qr/\[debug\] $master#$master: free: \S+, unused: \d+\n\z/,
     'the master freed its cycle to the end, logging (the last line)');
unlike($log, qr/\Q$key\E/, 'the key is in no line of the debug log');
