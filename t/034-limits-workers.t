# Limits under concurrency: two workers share the limit zone, and 40
# requests sent at once must be admitted exactly as the limit allows.  The
# mock answers after 300 ms, so every decision is taken while all the
# requests are in flight, before any usage is committed.
#
# Each request reserves 12 + 88 = 100 tokens (a 48-byte body with
# "max_tokens": 88).  Buckets refill continuously (tpm/60 a second), so the
# few tens of ms the burst takes add no whole request.

use strict;
use warnings;

use Cwd qw(cwd);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

my $mock = FoundryMock::start();
my $params = cwd() . '/conf.d/foundry_proxy_params';

our $Ngx;

# nginx is stopped here: at the very end its temporary prefix (and pid
# file) may be gone before FoundryNginx's DESTROY can find the pid

END {
    local $?;
    $Ngx->stop if $Ngx;
}

my $ngx = $Ngx = FoundryNginx->new(workers => 2, http => <<"CONF");
    upstream mock {
        server 127.0.0.1:$mock;
        keepalive 16;
    }

    foundry_upstream oai kind=openai url=http://mock;
    foundry_limit_zone limits:1m;

    server {
        listen 127.0.0.1:\$PORT reuseport;

        location /v1/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=oai;
            foundry_limit zone=limits key=\$http_x_tenant tpm=\$http_x_tpm
                          rpm=\$http_x_rpm tokens_per_day=\$http_x_quota;
            include $params;
            add_header X-Worker \$pid always;
        }
    }
CONF

my $Body = '{"model":"gpt-4o","max_tokens":88,"messages":[]}';

die "the body changed" unless length $Body == 48;

# sends all the requests at once (each its own connection), then reads all
# the answers: [status, {headers}] in the order given; the body is $Body,
# or $Send when set

our $Send;

sub burst {
    my (@headers) = @_;
    my $body = $Send // $Body;

    my (@socks, %index, @answers);

    for my $i (0 .. $#headers) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ngx->{port}",
                                      Timeout => 5)
            or die "connect: $!";

        my $h = join '', map { "$_\r\n" } @{ $headers[$i] };

        $s->blocking(0);
        $socks[$i] = { sock => $s, out => "POST /v1/chat/completions HTTP/1.1\r\n"
                       . "Host: localhost\r\nConnection: close\r\n$h"
                       . "Content-Length: " . length($body) . "\r\n\r\n$body",
                       in => '' };
        $index{fileno $s} = $i;
    }

    # all written first, nearly at once

    for my $c (@socks) {
        while (length $c->{out}) {
            my $n = syswrite $c->{sock}, $c->{out};
            substr($c->{out}, 0, $n, '') if $n;
        }
    }

    my $sel = IO::Select->new(map { $_->{sock} } @socks);
    my $deadline = time + 20;

    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $c = $socks[$index{fileno $s}];
            my $n = sysread $s, $c->{in}, 65536, length $c->{in};
            next if !defined $n && $!{EAGAIN};
            if (!$n) {
                $sel->remove($s);
                close $s;
            }
        }
    }

    for my $c (@socks) {
        my ($head) = split /\r\n\r\n/, $c->{in}, 2;
        my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
        my %h;

        for (split /\r\n/, $head // '') {
            $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
        }

        push @answers, [$status // 0, \%h];
    }

    return @answers;
}

sub count {
    my ($status, @answers) = @_;
    return scalar grep { $_->[0] == $status } @answers;
}

sub workers_seen {
    my %w = map { $_->[1]{'x-worker'} // '' => 1 } @_;
    return scalar grep { length } keys %w;
}

plan tests => 32;

# tpm: 1000 tokens, 100 a request: exactly 10 of 40

my $t0 = time;
my @a = burst(map { ['x-tenant: t', 'x-tpm: 1000', 'x-mock-delay-ms: 300',
                     'x-mock-usage: 30,20'] } 1 .. 40);

is(count(200, @a), 10, 'tpm 1000: 10 requests of 100 admitted out of 40');
is(count(429, @a), 30, 'tpm 1000: the 30 others are 429s');
is(workers_seen(@a), 2, 'tpm 1000: both workers answered');

my $burst = time - $t0;
my @remaining = sort { $a <=> $b }
                map { $_->[1]{'x-ratelimit-remaining-tokens'} }
                grep { $_->[0] == 200 } @a;

# each reservation saw its own bucket: 900, 800, ... 0, plus what refilled
# since the key was made (1000/60 a second, the burst's time at most)
my $refill = int(1000 / 60 * $burst);

is(join(',', map { my $k = $_; my $r = $remaining[$k] // -1;
                   $r >= $k * 100 && $r <= $k * 100 + $refill
                   ? $k * 100 : $r } 0 .. 9),
   '0,100,200,300,400,500,600,700,800,900',
   "tpm 1000: the admitted saw 900, 800 ... 0 left, and at most $refill "
   . "refilled: no two the same");

is(scalar(grep { !defined $_->[1]{'retry-after'}
                 || $_->[1]{'retry-after'} !~ /^[1-9][0-9]*$/ }
          grep { $_->[0] == 429 } @a),
   0, 'tpm 1000: every 429 has a Retry-After');

# the usage (50 each) is committed once the answers are in: 1000 - 500,
# plus what refilled since the burst (1000/60 a second); one more
# request reserves 100

my ($status, $h) = $ngx->request('POST', '/v1/chat/completions',
                                 ['x-tenant' => 't', 'x-tpm' => 1000],
                                 $Body);
my $elapsed = time - $t0;
my $r = $h->{'x-ratelimit-remaining-tokens'} // -1;

ok($status == 200 && $r >= 400 && $r <= 400 + int(1000 / 60 * $elapsed) + 1,
   sprintf('tpm 1000: after the commits, %s left (400 and %.1f s of refill)',
           $r, $elapsed));

# rpm: 15 of 40, and the remaining counts are 14 ... 0, each once

@a = burst(map { ['x-tenant: r', 'x-rpm: 15', 'x-mock-delay-ms: 300'] } 1 .. 40);

is(count(200, @a), 15, 'rpm 15: 15 admitted out of 40');
is(count(429, @a), 25, 'rpm 15: the 25 others are 429s');
is(workers_seen(@a), 2, 'rpm 15: both workers answered');
is(join(',', sort { $a <=> $b }
             map { $_->[1]{'x-ratelimit-remaining-requests'} }
             grep { $_->[0] == 200 } @a),
   join(',', 0 .. 14), 'rpm 15: the admitted saw 14 ... 0 left, each once');

# a daily quota of 1000: 10 reservations of 100

@a = burst(map { ['x-tenant: q', 'x-quota: 1000', 'x-mock-delay-ms: 300',
                  'x-mock-usage: 60,40'] } 1 .. 40);

is(count(200, @a), 10, 'quota 1000: 10 admitted out of 40');
is(count(403, @a), 30, 'quota 1000: the 30 others are 403s');
is(workers_seen(@a), 2, 'quota 1000: both workers answered');

# after the commits (100 each, as reserved) the quota is spent

($status) = $ngx->request('POST', '/v1/chat/completions',
                          ['x-tenant' => 'q', 'x-quota' => 1000], $Body);
is($status, 403, 'quota 1000: spent after the burst');

# four tenants at once, 10 requests each, rpm=5: 5 each

@a = burst(map { my $t = $_ % 4; ["x-tenant: m$t", 'x-rpm: 5',
                                   'x-mock-delay-ms: 300'] } 0 .. 39);

my %per;
for my $i (0 .. 39) {
    $per{'m' . ($i % 4)}{$a[$i][0]}++;
}

is(join(' ', map { "$_:" . ($per{$_}{200} // 0) . '/' . ($per{$_}{429} // 0) }
             sort keys %per),
   'm0:5/5 m1:5/5 m2:5/5 m3:5/5', 'rpm 5, four tenants: 5 admitted each');

# tokens and requests together: the tighter one decides (rpm 4, tpm 1000)

$t0 = time;
@a = burst(map { ['x-tenant: both', 'x-rpm: 4', 'x-tpm: 1000',
                  'x-mock-delay-ms: 300'] } 1 .. 20);
$refill = int(1000 / 60 * (time - $t0));

# the refusals come before the usage is committed: 1000 - 4 * 100 left,
# and what refilled during the burst

is(count(200, @a), 4, 'rpm 4 and tpm 1000: 4 admitted');
is(scalar(grep { my $r = $_->[1]{'x-ratelimit-remaining-tokens'} // -1;
                 $r >= 600 && $r <= 600 + $refill }
          grep { $_->[0] == 429 } @a),
   16, "rpm 4 and tpm 1000: the 16 refused see the 600 tokens left (and at "
       . "most $refill refilled)");

# many requests on a large bucket: nothing refused, no commit lost

$t0 = time;
@a = burst(map { ['x-tenant: big', 'x-tpm: 10000', 'x-mock-delay-ms: 100',
                  'x-mock-usage: 1,1'] } 1 .. 40);

is(count(200, @a), 40, 'tpm 10000: all 40 admitted');

# a worker commits in the log phase, which may run after its client has
# read the answer: on a loaded machine, give the last commits a second

select(undef, undef, undef, 1);

($status, $h) = $ngx->request('POST', '/v1/chat/completions',
                              ['x-tenant' => 'big', 'x-tpm' => 10000],
                              $Body);
$elapsed = time - $t0;
$r = $h->{'x-ratelimit-remaining-tokens'} // -1;

# 40 reservations of 100, 40 commits of 2: 10000 - 80, then 100 reserved;
# plus the refill (10000/60 a second), up to the full bucket
my $max = 10000 - 80 - 100 + int(10000 / 60 * $elapsed) + 2;
$max = 10000 - 100 if $max > 10000 - 100;

ok($r >= 10000 - 180 && $r <= $max,
   sprintf('tpm 10000: every commit was counted (%s left, %d to %d)',
           $r, 10000 - 180, $max));

# refills are not lost to rounding: after the bucket of rpm=50 is empty,
# requests every few ms for 3 s must find the 2.5 requests refilled

my $s0 = time;
my @spend = burst(map { ['x-tenant: refill', 'x-rpm: 50'] } 1 .. 50);
my $s1 = time;

is(count(200, @spend), 50, 'rpm 50: the bucket is spent');

my $admitted = 0;
my $end = $s1 + 3;
my $last;

while (time < $end) {
    $last = time;
    my ($st) = $ngx->request('POST', '/v1/chat/completions',
                             ['x-tenant' => 'refill', 'x-rpm' => 50],
                             $Body);
    $admitted++ if $st == 200;
}

# the whole requests refilled (50/60 a second): at least those refilled
# between the burst's end and the last retry (each taken at once), at most
# those refilled between the burst's start and the last answer; both are
# 2 (2.5 refilled) unless the machine is slow
my $lo = int(50 / 60 * ($last - $s1));
my $hi = int(50 / 60 * (time - $s0));

ok($admitted >= $lo && $admitted <= $hi,
   "rpm 50: $admitted requests admitted in 3 s of retries ($lo to $hi "
   . "refilled)");

# usage larger than the reservations, under concurrency: the reservations
# in flight are counted (10 of 12 admitted, as with any usage), then each
# of the 10 is charged 250: 1000 - 2500, a debt of 1500 (and the refill,
# 1000/60 a second since the key was made).  The next request (100) is
# refused until the refill has repaid the debt: Retry-After (1600 - the
# refill) * 60 / 1000 s, rounded up; x-ratelimit-reset-tokens, the time to
# a full bucket, (2500 - the refill) * 60 / 1000 s: beyond a minute.

$t0 = time;
@a = burst(map { ['x-tenant: debt', 'x-tpm: 1000', 'x-mock-delay-ms: 300',
                  'x-mock-usage: 200,50'] } 1 .. 12);

is(count(200, @a), 10, 'debt: 10 of 12 admitted, the reservations in '
                       . 'flight counted');
is(count(429, @a), 2, 'debt: the 2 others are 429s');

# the charges are made in the log phase, which may run after the client
# has read its answer: on a loaded machine, give the last ones a second

select(undef, undef, undef, 1);

($status, $h) = $ngx->request('POST', '/v1/chat/completions',
                              ['x-tenant' => 'debt', 'x-tpm' => 1000],
                              $Body);
$refill = 1000 / 60 * (time - $t0);

my ($ra, $reset) = ($h->{'retry-after'} // -1,
                    ($h->{'x-ratelimit-reset-tokens'} // '-1s') =~ /^(-?\d+)s$/);
my @ra = (POSIX::ceil((1600 - $refill) * 60 / 1000), 96);
my @reset = (int((2500 - $refill) * 60 / 1000), 150);

is($status, 429, 'debt: the next request is refused');
ok($ra >= $ra[0] && $ra <= $ra[1],
   "debt: Retry-After $ra, the time to repay 1500 and refill 100 "
   . "($ra[0] to $ra[1])");
ok(defined $reset && $reset >= $reset[0] && $reset <= $reset[1],
   'debt: x-ratelimit-reset-tokens ' . ($reset // 'none') . "s, the time "
   . "to repay 1500 and refill 1000 ($reset[0] to $reset[1])");
is($h->{'x-ratelimit-remaining-tokens'}, '0',
   'debt: x-ratelimit-remaining-tokens 0');

# a debt repaid: tpm=60000 (1000 a second), 8 requests of 10000 tokens at
# once (50 bytes: 12 + 9988), 10250 used each: 6 admitted, then 60000 -
# 61500, a debt of 1500.  Requests of 12 tokens (47 bytes: 11 + 1), every
# 50 ms, are refused until 1512 tokens have refilled since the key was
# made, 1.512 s; the first admitted leaves at most what refilled since
# the last refused one.

my $Big = '{"model":"gpt-4o","max_tokens":9988,"messages":[]}';
my $Small = '{"model":"gpt-4o","max_tokens":1,"messages":[]}';

die "the bodies changed" unless length $Big == 50 && length $Small == 47;

$t0 = time;
{
    local $Send = $Big;
    @a = burst(map { ['x-tenant: repay', 'x-tpm: 60000',
                      'x-mock-delay-ms: 300', 'x-mock-usage: 10000,250'] }
               1 .. 8);
}

is(count(200, @a), 6, 'repay: 6 of 8 admitted');

my ($refused, $from, $got, $left, $at) = (0, time, 0, -1, 0);

while (time < $t0 + 10) {
    my $start = time;
    ($status, $h) = $ngx->request('POST', '/v1/chat/completions',
                                  ['x-tenant' => 'repay',
                                   'x-tpm' => 60000], $Small);

    if ($status == 200) {
        ($got, $left, $at) = (1, $h->{'x-ratelimit-remaining-tokens'},
                              time - $t0);
        $refill = int(1000 * (time - $from)) + 1;
        last;
    }

    $refused++ if $status == 429;
    $from = $start;
    sleep 0.05;
}

ok($refused >= 1 && $got, "repay: $refused requests refused, then one "
                          . 'admitted');
ok($at >= 1.512, sprintf('repay: admitted %.3f s after the burst began, '
                         . 'the debt repaid (1.512 s)', $at));
ok(defined $left && $left >= 0 && $left <= $refill,
   "repay: the first admitted left $left tokens (0 to $refill, refilled "
   . 'since the last refusal)');

unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alerts');
