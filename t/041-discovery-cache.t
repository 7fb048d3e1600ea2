# The cache of discovered deployments (foundry_discovery_zone), with two
# workers: a list is used for its TTL and fetched again after it; a source
# that stops answering keeps its last good list, logged once per failure
# streak; a reload keeps the lists (unless the zone's size changes); the
# first request waits for the list instead of answering without it; and
# under concurrent load every answer is a complete list and the source is
# fetched at most once per TTL across the workers.
#
# A client that closes its connection while its request refreshes a list
# does not count as a failure of the source.
#
# Each scenario has its own nginx (FoundryNginx, 2 workers) and its own
# mock (t/mock/README.md) as the source, an Azure OpenAI data plane list
# (GET /openai/deployments), whose fetches the mock counts in
# /__mock/stats.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

use Cwd qw(cwd);

plan tests => 48;

my $DATA = cwd() . '/t/data';
my $SOURCE_PATH = '/openai/deployments';
my $JSON = JSON::PP->new->canonical;


# --- the mock: its table, its stats ------------------------------------

sub mock_call {
    my ($port, $method, $path, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 5)
        or die "mock on $port: $!";

    $body //= '';
    print $s "$method $path HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n"
             . "Content-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n$body";

    local $/;
    my $resp = <$s> // '';
    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};

    return ($status // 0, $content // '');
}

sub mock_table {
    my ($port, @names) = @_;

    my ($status) = mock_call($port, 'PUT', '/__mock/deployments',
                             $JSON->encode([ map { { name => $_ } } @names ]));
    die "PUT /__mock/deployments: $status" unless $status == 200;
}

sub mock_fetches {
    my ($port) = @_;

    my (undef, $body) = mock_call($port, 'GET', '/__mock/stats');
    return $JSON->decode($body)->{by_path}{$SOURCE_PATH} // 0;
}

sub mock_reset {
    my ($port) = @_;
    mock_call($port, 'POST', '/__mock/reset');
}

sub deployments { [ map { { name => $_ } } @_ ] }

# stops one mock by its pid; the process is left for FoundryMock's END to
# reap, so its pid cannot be reused meanwhile
sub mock_kill {
    my ($pid, $port) = @_;

    kill 'TERM', $pid;

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        return unless $s;
        close $s;
        sleep 0.05;
    }

    die "the mock on $port does not stop";
}


# --- the gateway ---------------------------------------------------------

sub conf {
    my (%a) = @_;

    my $zone = $a{zone} // '1m';
    my $ttl = $a{ttl} // '1s';
    my $extra = $a{source_extra} // '';

    return <<"CONF";
    upstream src_mock {
        server 127.0.0.1:$a{mock};
        keepalive 4;
    }

    foundry_discovery_zone disc:$zone;

    server {
        listen 127.0.0.1:\$PORT reuseport;

        location = /_src/list {
            include $DATA/discovery-proxy.conf;
            proxy_pass http://src_mock/openai/deployments?api-version=2024-10-21;
            proxy_set_header api-key src-key;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 64k;
            $extra
        }

        location /gw/ {
            foundry_gateway on;
            proxy_pass \$foundry_upstream_url;
            foundry_model static-one created=1;
            foundry_model_discovery list=/deployments
                                    "get=/deployments/{deploymentName}";
            foundry_discovery_source /_src/list zone=disc ttl=$ttl;
            add_header X-Worker \$pid always;
        }
    }
CONF
}

# the Azure-format list the gateway answers: static-one, then the mock's
# deployments (data plane: the model is the name, no format, no version)
sub list_of {
    return '{"value":['
           . join(',', map {
                 qq({"name":"$_","properties":{"model":{"format":"OpenAI",)
                 . qq("name":"$_","version":""}}})
             } 'static-one', @_)
           . ']}';
}

sub get_list {
    my ($ngx) = @_;

    my $t = time;
    my ($status, $h, $body) = $ngx->request('GET', '/gw/deployments');

    return { status => $status, body => $body, worker => $h->{'x-worker'},
             time => time - $t, start => $t };
}

sub failures {
    my ($ngx) = @_;

    return scalar(() = $ngx->error_log
        =~ /foundry: discovery source "\/_src\/list" failed: [^\n]*, the last good list is kept/g);
}

# $n clients at once, each running $code->($i); their results (lines)
sub parallel {
    my ($n, $code) = @_;
    my @kids;

    for my $i (1 .. $n) {
        pipe(my $r, my $w) or die "pipe: $!";

        my $pid = fork;
        die "fork: $!" unless defined $pid;

        if ($pid == 0) {
            close $r;
            my @out = eval { $code->($i) };
            push @out, "died: $@" if $@;
            print $w map { "$_\n" } @out;
            close $w;
            POSIX::_exit(0);
        }

        close $w;
        push @kids, [ $pid, $r ];
    }

    my @res;

    for my $k (@kids) {
        my ($pid, $r) = @$k;
        local $/;
        my $data = <$r> // '';
        close $r;
        waitpid $pid, 0;
        push @res, split /\n/, $data;
    }

    return @res;
}


# --- TTL: used for its TTL, fetched again after it -----------------------

{
    my $mock = FoundryMock::start(deployments => deployments(qw(gpt-4o o3)));
    my $ngx = FoundryNginx->new(workers => 2, http => conf(mock => $mock));

    my $r = get_list($ngx);
    is($r->{body}, list_of(qw(gpt-4o o3)), 'ttl: the first request gets the list');
    my $fetched = time;

    mock_table($mock, qw(gpt-4o o3 new-one));

    my (%bodies, %workers);

    while (time < $fetched + 0.5) {
        my $r = get_list($ngx);
        $bodies{$r->{body}}++;
        $workers{$r->{worker}}++;
        sleep 0.02;
    }

    is_deeply([ keys %bodies ], [ list_of(qw(gpt-4o o3)) ],
              'ttl: within the TTL the new deployment is not listed');
    is(scalar keys %workers, 2, 'ttl: both workers answered from the list');
    is(mock_fetches($mock), 1, 'ttl: one fetch so far');

    my $wait = $fetched + 1.2 - time;
    sleep $wait if $wait > 0;

    $r = get_list($ngx);
    is($r->{body}, list_of(qw(gpt-4o o3 new-one)),
       'ttl: the first request after the TTL gets the new list');

    %bodies = ();
    $bodies{ get_list($ngx)->{body} }++ for 1 .. 6;
    is_deeply([ keys %bodies ], [ list_of(qw(gpt-4o o3 new-one)) ],
              'ttl: then every worker answers the new list');
    is(mock_fetches($mock), 2, 'ttl: two fetches in all');

    my ($status, undef, $body) = $ngx->request('GET',
                                               '/gw/deployments/new-one');
    is($status, 200, 'ttl: get of the new deployment');

    unlike($ngx->error_log, qr/\[(error|alert|crit|emerg)\]/,
           'ttl: no errors logged');

    $ngx->stop;
}


# --- stale if error ----------------------------------------------------------

{
    my $mock = FoundryMock::start(deployments => deployments(qw(gpt-4o o3)));
    my $mock_pid = FoundryMock::pid();
    my $ngx = FoundryNginx->new(workers => 2, http => conf(mock => $mock));

    is(get_list($ngx)->{body}, list_of(qw(gpt-4o o3)),
       'stale: the first list');

    mock_kill($mock_pid, $mock);

    # past the TTL, for more than two retry periods (min(ttl, 10s) = 1s)

    sleep 1.1;

    my (%bodies, %status);
    my $until = time + 2.5;

    while (time < $until) {
        my $r = get_list($ngx);
        $bodies{$r->{body}}++;
        $status{$r->{status}}++;
        sleep 0.1;
    }

    is_deeply([ keys %status ], [ 200 ], 'stale: the source is down, 200s');
    is_deeply([ keys %bodies ], [ list_of(qw(gpt-4o o3)) ],
              'stale: the last good list is answered');
    is(failures($ngx), 1, 'stale: the failure is logged once');
    like($ngx->error_log,
         qr/discovery source "\/_src\/list" failed: the source did not answer 200, the last good list is kept/,
         'stale: the reason is logged');

    # the source comes back with another list: used after the retry

    FoundryMock::start(port => $mock, deployments => deployments(qw(o3 back)));
    $mock_pid = FoundryMock::pid();

    my $r;
    my $back = time;

    while (time < $back + 3) {
        $r = get_list($ngx);
        last if $r->{body} eq list_of(qw(o3 back));
        sleep 0.1;
    }

    is($r->{body}, list_of(qw(o3 back)),
       'stale: the source is back, its new list is used');
    ok(time - $back < 2.2, 'stale: within the retry interval (1 s here)')
        or diag(sprintf "%.2f s", time - $back);

    # a second streak is logged again, once

    mock_kill($mock_pid, $mock);
    sleep 1.1;

    %bodies = ();
    $until = time + 2.5;

    while (time < $until) {
        $bodies{ get_list($ngx)->{body} }++;
        sleep 0.1;
    }

    is_deeply([ keys %bodies ], [ list_of(qw(o3 back)) ],
              'stale: second streak, the last good list is answered');
    is(failures($ngx), 2, 'stale: the second streak is logged once');

    $ngx->stop;
}


# --- a reload keeps the lists ------------------------------------------------

{
    my $mock = FoundryMock::start(deployments => deployments(qw(gpt-4o o3)));
    my $ngx = FoundryNginx->new(workers => 2,
                                http => conf(mock => $mock, ttl => '30s'));

    is(get_list($ngx)->{body}, list_of(qw(gpt-4o o3)), 'reload: the list');

    my %old = map { $_ => 1 } $ngx->workers;

    mock_table($mock, qw(gpt-4o o3 after-reload));
    mock_reset($mock);

    $ngx->reload;

    my (%bodies, %workers);

    for (1 .. 8) {
        my $r = get_list($ngx);
        $bodies{$r->{body}}++;
        $workers{$r->{worker}}++;
    }

    ok(!(grep { $old{$_} } keys %workers) && keys %workers,
       'reload: new workers answer');
    is_deeply([ keys %bodies ], [ list_of(qw(gpt-4o o3)) ],
              'reload: the cached list is answered');
    is(mock_fetches($mock), 0, 'reload: no fetch within the TTL');

    # a zone of another size is a new zone: fetched again

    $ngx->write_conf(conf(mock => $mock, ttl => '30s', zone => '2m'));
    $ngx->reload;

    is(get_list($ngx)->{body}, list_of(qw(gpt-4o o3 after-reload)),
       'reload with another zone size: fetched again');
    is(mock_fetches($mock), 1, 'reload with another zone size: one fetch');

    $ngx->stop;
}


# --- the first requests wait for the list ------------------------------------

{
    my $mock = FoundryMock::start(deployments => deployments(qw(gpt-4o o3)));
    my $ngx = FoundryNginx->new(workers => 2, http => conf(
        mock => $mock, ttl => '30s',
        source_extra => 'proxy_set_header x-mock-delay-ms 1000;'));

    my @res = parallel(10, sub {
        my $r = get_list($ngx);
        return join "\t", $r->{status}, $r->{time},
                          $r->{body} eq list_of(qw(gpt-4o o3)) ? 'full'
                                                               : $r->{body};
    });

    is(scalar @res, 10, 'first: 10 answers');
    is_deeply([ sort { $a cmp $b } keys %{{ map { (split /\t/)[0] => 1 } @res }} ],
              [ 200 ], 'first: all 200');
    is_deeply([ keys %{{ map { (split /\t/)[2] => 1 } @res }} ], [ 'full' ],
              'first: every answer is the full list, none empty');
    is(scalar(grep { (split /\t/)[1] >= 0.9 } @res), 10,
       'first: each waited for the slow source')
        or diag(join "\n", @res);

    my $fetches = mock_fetches($mock);
    ok($fetches >= 1 && $fetches <= 10,
       "first: 1 to 10 fetches (each request without a list fetches): $fetches");

    my $r = get_list($ngx);
    is($r->{body}, list_of(qw(gpt-4o o3)), 'first: then the cached list');
    ok($r->{time} < 0.3, 'first: without waiting')
        or diag(sprintf "%.3f s", $r->{time});

    $ngx->stop;
}


# --- a refresh under way: one request waits for it, the others do not ------

{
    my $mock = FoundryMock::start(deployments => deployments(qw(gpt-4o o3)));
    my $ngx = FoundryNginx->new(workers => 2, http => conf(
        mock => $mock, ttl => '1s',
        source_extra => 'proxy_set_header x-mock-delay-ms 800;'));

    my $l1 = list_of(qw(gpt-4o o3));
    my $l2 = list_of(qw(gpt-4o o3 refreshed));

    is(get_list($ngx)->{body}, $l1, 'in flight: the list');

    mock_table($mock, qw(gpt-4o o3 refreshed));
    mock_reset($mock);
    sleep 1.1;

    my @res = parallel(10, sub {
        my $r = get_list($ngx);
        return join "\t", $r->{status}, $r->{time},
                          $r->{body} eq $l1 ? 'l1' : $r->{body} eq $l2 ? 'l2'
                                                   : $r->{body};
    });

    my @slow = grep { (split /\t/)[1] >= 0.7 } @res;
    my @fast = grep { (split /\t/)[1] < 0.4 } @res;

    is(scalar @slow, 1, 'in flight: one request waits for the refresh')
        or diag(join "\n", @res);
    like($slow[0] // '', qr/\tl2$/, 'in flight: it gets the new list');
    is(scalar(grep { /\tl1$/ } @fast), 9,
       'in flight: the others answer the old list without waiting')
        or diag(join "\n", @res);
    is(mock_fetches($mock), 1, 'in flight: one fetch');
    is(get_list($ngx)->{body}, $l2, 'in flight: then the new list');

    $ngx->stop;
}


# --- a client that goes away while its request refreshes the list ----------

{
    my $mock = FoundryMock::start(deployments => deployments(qw(gpt-4o o3)));
    my $ngx = FoundryNginx->new(workers => 2, http => conf(
        mock => $mock, ttl => '1s',
        source_extra => 'proxy_set_header x-mock-delay-ms 800;'));

    is(get_list($ngx)->{body}, list_of(qw(gpt-4o o3)), 'abort: the list');

    sleep 1.1;

    # this request refreshes the expired list; its client leaves meanwhile

    my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ngx->{port}")
        or die "connect: $!";
    print $c "GET /gw/deployments HTTP/1.1\r\nHost: localhost\r\n\r\n";
    sleep 0.2;
    close $c;
    sleep 0.2;

    is(get_list($ngx)->{body}, list_of(qw(gpt-4o o3)),
       'abort: the list is still answered');

    is(failures($ngx), 0, 'abort: not a failure of the source');

    $ngx->stop;
}


# --- concurrent load ---------------------------------------------------------

{
    my $ttl = 1;
    my $mock = FoundryMock::start(deployments => deployments(qw(gpt-4o o3)));
    my $ngx = FoundryNginx->new(workers => 2,
                                http => conf(mock => $mock, ttl => "${ttl}s"));

    my $l1 = list_of(qw(gpt-4o o3));
    my $l2 = list_of(qw(gpt-4o o3 mid-load));

    is(get_list($ngx)->{body}, $l1, 'load: warm');

    mock_reset($mock);

    my $start = time;
    my $duration = 3;

    # the table changes in the middle of the load
    my $changer = fork;
    die "fork: $!" unless defined $changer;

    if ($changer == 0) {
        sleep 1.5;
        eval { mock_table($mock, qw(gpt-4o o3 mid-load)) };
        POSIX::_exit(0);
    }

    my @res = parallel(10, sub {
        my @out;

        for my $n (1 .. 20) {
            last if time > $start + $duration;
            my $r = get_list($ngx);
            push @out, join "\t", $r->{status}, $r->{worker} // '-',
                $r->{body} eq $l1 ? 'l1' : $r->{body} eq $l2 ? 'l2'
                                 : "other: $r->{body}";
            sleep 0.14;
        }

        return @out;
    });

    waitpid $changer, 0;

    my $took = time - $start;
    my $fetches = mock_fetches($mock);

    # at most one fetch per TTL period the load spans, +1 at the boundaries
    my $bound = POSIX::ceil($took / $ttl) + 1;

    my %kind = map { (split /\t/)[2] => 1 } @res;
    my %workers = map { (split /\t/)[1] => 1 } @res;

    ok(@res >= 150, 'load: about 200 requests: ' . scalar @res);
    is(scalar(grep { !/^200\t/ } @res), 0, 'load: all 200');
    is(scalar(grep { !/\tl[12]$/ } @res), 0,
       'load: every answer a complete list, never empty or partial')
        or diag(join "\n", grep { !/\tl[12]$/ } @res);
    ok($kind{l2}, 'load: the changed list appears during the load');
    is(scalar keys %workers, 2, 'load: both workers answered');
    ok($fetches >= 1 && $fetches <= $bound,
       sprintf "load: %d fetches in %.2f s with ttl=%ds (bound %d)",
               $fetches, $took, $ttl, $bound);
    diag(sprintf "load: %d requests, %d fetches in %.2f s, ttl=%ds, bound %d",
                 scalar @res, $fetches, $took, $ttl, $bound);
    unlike($ngx->error_log, qr/\[(error|alert|crit|emerg)\]/,
           'load: no errors logged');

    $ngx->stop;
}
