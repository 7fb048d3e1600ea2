# Subscription keys change without a restart: "nginx -s reload" picks up
# a changed file, and with "interval=" the workers notice it by
# themselves; a broken file never replaces good keys.  The keys zone is
# shared by the workers: what one worker loads, all use.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib';
use FoundryKeys;
use FoundryNginx;

plan tests => 17;

my $dir = $FoundryKeys::DIR;

FoundryKeys::write_file('reload.json', [
    FoundryKeys::entry('first', 'first-key'),
]);

my $ngx = FoundryNginx->new(workers => 2, http => <<"CONF");
    foundry_keys_zone keys:1m file=$dir/reload.json interval=200ms;

    server {
        listen 127.0.0.1:\$PORT;

        location /v1/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_keys keys;
            foundry_model gpt-4o;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
            add_header X-Key \$foundry_key_name always;
        }
    }
CONF

sub key_status {
    my ($key, $n) = @_;
    my %seen;

    # several connections, so both workers answer
    for (1 .. ($n || 6)) {
        my ($status) = $ngx->request('GET', '/v1/models', ['api-key' => $key]);
        $seen{$status}++;
    }

    return join ',', sort keys %seen;
}

sub wait_for {
    my ($key, $want) = @_;

    for (1 .. 50) {
        return $want if key_status($key) eq $want;
        sleep 0.1;
    }

    return key_status($key);
}

is(key_status('first-key'), '200', 'the key of the file works');
is(key_status('second-key'), '401', 'a key not in it does not');

# the file changes: the workers load it by themselves

FoundryKeys::write_file('reload.json', [
    FoundryKeys::entry('second', 'second-key'),
]);

is(wait_for('second-key', '200'), '200', 'interval: a new key works');
is(key_status('first-key'), '401', 'interval: a removed key does not');
like($ngx->error_log, qr/foundry_keys_zone "keys": 1 keys loaded/,
     'the load is logged');

# a broken file: the keys stay, the error is logged once

FoundryKeys::write_file('reload.json', '[{"name": "x", "sha256": ');
sleep 1;

is(key_status('second-key', 10), '200', 'broken file: the keys stay');

my @errors = $ngx->error_log =~ /changed but is not valid, the previous keys stay: ([^,\n]*)/g;
is(scalar @errors, 1, 'broken file: logged once, by one worker');
like($errors[0] // '', qr/parse error/, 'broken file: the reason is named');
unlike($ngx->error_log, qr/second-key|first-key/, 'no key in the log');

# fixed again: loaded

FoundryKeys::write_file('reload.json', [
    FoundryKeys::entry('third', 'third-key'),
    FoundryKeys::entry('second', 'second-key', disabled => JSON::PP::true),
]);

is(wait_for('third-key', '200'), '200', 'fixed file: loaded');
is(key_status('second-key'), '401', 'fixed file: a disabled key');

# a reload by signal reads the file too, even with the zone unchanged

$ngx->write_conf(<<"CONF");
    foundry_keys_zone keys:1m file=$dir/reload.json;

    server {
        listen 127.0.0.1:$ngx->{port};

        location /v1/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_keys keys;
            foundry_model gpt-4o;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
        }
    }
CONF

FoundryKeys::write_file('reload.json', [
    FoundryKeys::entry('fourth', 'fourth-key'),
]);

$ngx->reload;

is(key_status('fourth-key'), '200', 'HUP: the new file is used');
is(key_status('third-key'), '401', 'HUP: the old keys are gone');

# a reload with a broken file is refused as a whole: the keys stay

FoundryKeys::write_file('reload.json', '{"keys": 1}');

$ngx->reload;

is(key_status('fourth-key'), '200', 'HUP with a broken file: keys stay');
like($ngx->error_log, qr/invalid keys file "[^"]+reload.json": expected an array of keys/,
     'HUP with a broken file: the reason is logged');

# many keys: 100,000 load fast enough for a reload.  Under ASan
# (make test-asan sets FOUNDRY_TEST_ASAN), 10,000: its allocator never
# grows a block in place, so yajl's tree, which reallocates an array for
# each member, costs the square of the count there (minutes for 100,000)

my $many = $ENV{FOUNDRY_TEST_ASAN} ? 10000 : 100000;
my $many_text = $many == 100000 ? '100,000' : '10,000';

FoundryKeys::write_file('reload.json', [
    map { FoundryKeys::entry("k$_", "key-$_") } 1 .. $many
]);

$ngx->write_conf(<<"CONF");
    foundry_keys_zone keys:64m file=$dir/reload.json;

    server {
        listen 127.0.0.1:$ngx->{port};

        location /v1/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_keys keys;
            foundry_model gpt-4o;
            foundry_model_discovery list=/models
                                    "get=/models/{deploymentName}";
        }
    }
CONF

$ngx->reload;

is(key_status('key-' . $many), '200', "$many_text keys: the last one works");
is(key_status('key-' . ($many + 1)), '401', "$many_text keys: others do not");

$ngx->stop;
