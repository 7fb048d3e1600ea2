# Limits and the workers' clocks: each worker caches its own clock, so a
# key stamped by one worker may look stamped in the future to another.
# The refill must then count no time (as limit_req does), not a negative
# time that takes from the bucket.
#
# The skew is made certain: with "timer_resolution 100ms" a worker's clock
# moves only on its own timer, every 100 ms.  Workers started together
# tick within a ms or two of each other; a worker started again (SIGTERM
# to it, the master starts another) ticks at another phase, so that for
# most of each 100 ms one worker's clock is ahead of the other's by up to
# 100 ms.  The phases are read from $msec (the worker's cached clock) and
# a worker is started again until they are at least 20 ms apart.
#
# Then each of many new keys gets two requests in a row, with rpm=2 (and,
# for tokens, tpm=200 with requests of exactly 100 tokens each): both
# must be admitted.  Whenever the first went to the worker whose clock was
# ahead and the second to the other one, the old refill took the skew
# from the bucket and refused the second request (about a key in four).

use strict;
use warnings;

use Cwd qw(cwd);
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

my $mock = FoundryMock::start();
my $params = cwd() . '/conf.d/foundry_proxy_params';

our $Ngx;

END {
    local $?;
    $Ngx->stop if $Ngx;
}

my $ngx = $Ngx = FoundryNginx->new(workers => 2,
                                   main => 'timer_resolution 100ms;',
                                   http => <<"CONF");
    upstream mock {
        server 127.0.0.1:$mock;
        keepalive 16;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_limit_zone limits:1m;

    server {
        listen 127.0.0.1:\$PORT reuseport;

        location /clock {
            return 200 "\$pid \$msec";
        }

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            foundry_limit zone=limits key=\$http_x_tenant tpm=\$http_x_tpm
                          rpm=\$http_x_rpm;
            include $params;
            add_header X-Worker \$pid always;
        }
    }
CONF

# 48 bytes and "max_tokens": 88: 12 + 88 = 100 tokens reserved
my $Body = '{"model":"gpt-4o","max_tokens":88,"messages":[]}';

die "the body changed" unless length $Body == 48;

# the phase of each worker's timer (ms in 100), from the cached clocks of
# requests sent every few ms: the most frequent value of each worker

sub phases {
    my %seen;

    for (1 .. 80) {
        my (undef, undef, $body) = $ngx->request('GET', '/clock');
        my ($pid, $msec) = split ' ', $body;
        next unless defined $msec;
        $seen{$pid}{ int($msec * 1000 + 0.5) % 100 }++;
        sleep 0.007;
    }

    my %phase;

    for my $pid (keys %seen) {
        my $s = $seen{$pid};
        ($phase{$pid}) = sort { $s->{$b} <=> $s->{$a} || $a <=> $b } keys %$s;
    }

    return %phase;
}

# how far apart two phases are, around the 100 ms

sub apart {
    my ($a, $b) = @_;
    my $d = abs($a - $b) % 100;
    return $d > 50 ? 100 - $d : $d;
}

# a worker started again: SIGTERM to one of the test's own nginx workers,
# by its pid; the master starts another

sub restart_worker {
    my @old = sort { $a <=> $b } $ngx->workers;
    kill 'TERM', $old[0];

    my $deadline = time + 10;

    while (time < $deadline) {
        my %now = map { $_ => 1 } $ngx->workers;
        return if !$now{$old[0]} && keys %now == 2;
        sleep 0.02;
    }

    die "no worker started again";
}

plan tests => 7;

my ($apart, $tries) = (0, 0);

while ($tries++ < 12) {
    my %phase = phases();
    my @p = values %phase;

    $apart = apart(@p) if @p == 2;
    last if @p == 2 && $apart >= 20;

    restart_worker();
}

ok($apart >= 20, "the workers' clocks tick $apart ms apart "
                 . "(after $tries tries)");

# each key: two requests in a row; [status, worker, remaining] each

sub pairs {
    my ($name, $keys, @headers) = @_;
    my @out;

    for my $k (1 .. $keys) {
        my @pair;

        for (1 .. 2) {
            my ($status, $h) = $ngx->request('POST', '/v1/chat/completions',
                                             ['x-tenant' => "$name-$k",
                                              @headers],
                                             $Body);
            push @pair, [$status, $h->{'x-worker'} // '',
                         $h->{'x-ratelimit-remaining-requests'}
                         // $h->{'x-ratelimit-remaining-tokens'} // ''];
        }

        push @out, \@pair;
    }

    return @out;
}

sub summary {
    my (@pairs) = @_;

    my $both = grep { $_->[0][1] ne $_->[1][1] } @pairs;
    my @refused = map { $_->[0][0] . '/' . $_->[1][0] }
                  grep { $_->[0][0] != 200 || $_->[1][0] != 200 } @pairs;

    return ($both, scalar(@refused), join(' ', @refused[0 .. ($#refused > 4
                                                             ? 4
                                                             : $#refused)]));
}

# rpm=2: 1 then 0 left

my @pairs = pairs('rpm', 60, 'x-rpm' => 2);
my ($both, $refused, $which) = summary(@pairs);

is($refused, 0, "rpm 2: both requests of all 60 keys admitted ($both keys "
                . "answered by both workers; refused: $which)");
is(join(',', sort { $a cmp $b } keys %{{ map { $_->[0][2] . '/' . $_->[1][2]
                                                => 1 } @pairs }}),
   '1/0', 'rpm 2: the first saw 1 left, the second 0');
ok($both >= 10, "rpm 2: $both of 60 keys were answered by both workers");

# tpm=200, 100 a request, 100 used: 100 then 0 left

@pairs = pairs('tpm', 60, 'x-tpm' => 200, 'x-mock-usage' => '60,40');
($both, $refused, $which) = summary(@pairs);

is($refused, 0, "tpm 200: both requests of all 60 keys admitted ($both "
                . "keys answered by both workers; refused: $which)");
is(join(',', sort { $a cmp $b } keys %{{ map { $_->[0][2] . '/' . $_->[1][2]
                                                => 1 } @pairs }}),
   '100/0', 'tpm 200: the first saw 100 left, the second 0');

unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alerts');
