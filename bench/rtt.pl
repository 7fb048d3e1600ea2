#!/usr/bin/env perl
# The latency client of tools/bench: POSTs a request to several servers in
# turn, one request at a time, over one keepalive connection each, and
# times each from the request's write to the end of its answer.
#
#   perl bench/rtt.pl N TARGET...
#
#   TARGET: name=NAME,port=PORT,path=PATH,body=FILE[,header=Name: value]...
#           [,cpu=N]
#
# N requests per target after 50 unmeasured ones; the targets take turns
# request by request, in an order shuffled anew every turn (the same
# sequence at every run: a fixed seed), so drift and ordering favour
# none: every target follows every other, and itself, as often.  (In
# reverse every other turn, A B C then C B A, the targets at the ends
# would follow themselves, a server whose caches its previous request
# just warmed, and the others never.)  A server that closes the
# connection after an answer gets a new one before the next request,
# outside the time measured.  Every answer must be a 200.  cpu=N sends
# that target's requests from CPU N (the client moves there before each
# one, and back to the CPUs it was started on for the targets without
# cpu=; after a move one unmeasured request warms the client up): a round
# trip timed from the CPU where a server of the others runs is that
# server's view of it.  Prints one line per target:
#
#   RTT name=... n=... p50_us=... p90_us=... p99_us=... mean_us=...

use strict;
use warnings;

use IO::Socket::INET;
use List::Util qw(shuffle);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

require 'syscall.ph';

my ($n, @specs) = @ARGV;

die "usage: $0 N name=NAME,port=PORT,path=PATH,body=FILE[,header=H]...\n"
    unless defined $n && $n =~ /^\d+$/ && @specs;

my @targets;

for my $spec (@specs) {
    my %t = (headers => [], times => []);
    for my $kv (split /,/, $spec) {
        my ($k, $v) = split /=/, $kv, 2;
        die "$0: bad target: $spec\n" unless defined $v;
        if ($k eq 'header') {
            push @{ $t{headers} }, $v;
        } elsif ($k eq 'cpu') {
            die "$0: bad cpu= in target: $spec\n" unless $v =~ /^\d+$/ && $v < 64;
            $t{cpu} = pack('Q', 1 << $v);
        } elsif ($k =~ /^(name|port|path|body)$/) {
            $t{$k} = $v;
        } else {
            die "$0: unknown \"$k\" in target: $spec\n";
        }
    }
    for my $k (qw(name port path body)) {
        die "$0: no $k= in target: $spec\n" unless defined $t{$k};
    }

    open my $fh, '<:raw', $t{body} or die "$t{body}: $!\n";
    my $body = do { local $/; <$fh> };
    close $fh;

    $t{req} = "POST $t{path} HTTP/1.1\r\n"
            . "Host: 127.0.0.1:$t{port}\r\n"
            . "Content-Type: application/json\r\n"
            . join('', map { "$_\r\n" } @{ $t{headers} })
            . "Content-Length: " . length($body) . "\r\n"
            . "\r\n" . $body;

    push @targets, \%t;
}

# the CPUs the client was started on, and where it runs now
my $home = "\0" x 8;
syscall(&SYS_sched_getaffinity, 0, length $home, $home) >= 0
    or die "$0: sched_getaffinity: $!\n";
my $where = $home;

# 1 if the client moved
sub move_to {
    my ($mask) = @_;
    return 0 if $mask eq $where;
    syscall(&SYS_sched_setaffinity, 0, length $mask, $mask) == 0
        or die "$0: sched_setaffinity: $!\n";
    $where = $mask;
    return 1;
}

sub connect_to {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->{port}, Proto => 'tcp')
        or die "$0: 127.0.0.1:$t->{port}: $@\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    $t->{sock} = $s;
}

# one request, from the target's CPU: its time in microseconds; after a
# move, an unmeasured request first, so that the client's caches on that
# CPU are as warm as they are for the targets that do not move it
sub one {
    my ($t) = @_;
    request($t) if move_to($t->{cpu} // $home);
    return request($t);
}

sub request {
    my ($t) = @_;
    my $s = $t->{sock};
    my ($buf, $h, $chunked, $len, $pos, $close) = ('', -1);

    my $t0 = clock_gettime(CLOCK_MONOTONIC);
    syswrite($s, $t->{req}) == length $t->{req}
        or die "$0: $t->{name}: write failed: $!\n";

    while (1) {
        my $r = sysread($s, $buf, 65536, length $buf);
        die "$0: $t->{name}: the connection closed\n" unless $r;

        if ($h < 0 && ($h = index($buf, "\r\n\r\n")) >= 0) {
            my $head = substr($buf, 0, $h);
            $head =~ m{^HTTP/1\.1 200 }
                or die "$0: $t->{name}: not a 200:\n$head\n";
            $chunked = $head =~ /^transfer-encoding:\s*chunked/im;
            $len = $head =~ /^content-length:\s*(\d+)/im ? $1 : undef;
            $close = $head =~ /^connection:\s*close/im;
            die "$0: $t->{name}: neither chunked nor Content-Length\n"
                unless $chunked || defined $len;
            $pos = $h + 4;
        }

        next if $h < 0;

        if (!$chunked) {
            last if length($buf) - ($h + 4) >= $len;
            next;
        }

        # chunks: size line, data, CRLF; the last one is "0" CRLF CRLF
        my $done = 0;
        while (1) {
            my $eol = index($buf, "\r\n", $pos);
            last if $eol < 0;
            my $size = hex substr($buf, $pos, $eol - $pos);
            if ($size == 0) {
                $done = 1 if length $buf >= $eol + 4;
                last;
            }
            last if length $buf < $eol + 2 + $size + 2;
            $pos = $eol + 2 + $size + 2;
        }
        last if $done;
    }

    my $t1 = clock_gettime(CLOCK_MONOTONIC);

    if ($close) {
        close $s;
        connect_to($t);
    }

    return ($t1 - $t0) * 1e6;
}

sub pct {
    my ($v, $p) = @_;
    my @s = sort { $a <=> $b } @$v;
    my $i = int($p / 100 * @s + 0.5) - 1;
    $i = 0 if $i < 0;
    $i = $#s if $i > $#s;
    return $s[$i];
}

connect_to($_) for @targets;

srand(1);

for my $i (1 .. 50 + $n) {
    for my $t (shuffle @targets) {
        my $us = one($t);
        push @{ $t->{times} }, $us if $i > 50;
    }
}

for my $t (@targets) {
    my $sum = 0;
    $sum += $_ for @{ $t->{times} };
    printf "RTT name=%s n=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f mean_us=%.0f\n",
           $t->{name}, scalar @{ $t->{times} }, pct($t->{times}, 50),
           pct($t->{times}, 90), pct($t->{times}, 99),
           $sum / @{ $t->{times} };
}
