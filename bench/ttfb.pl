#!/usr/bin/env perl
# The time-to-first-byte client of tools/bench: POSTs a streaming chat
# request to several servers in turn, over one keepalive connection each,
# and times, per request, from the request's write to the arrival of the
# first "data:" line of the answer (TTFB), and to its end.
#
#   perl bench/ttfb.pl N BODY_FILE PATH NAME=PORT ... [-- "Name: value" ...]
#
# N requests per server after 50 unmeasured ones; the servers take turns
# request by request, in reverse order every other turn (A B, B A, ...),
# so drift and ordering favour none.  A server that closes the connection
# after an answer ("Connection: close", keepalive_requests) gets a new one
# before the next request, outside the time measured.  Every answer must be a 200 with a
# complete stream ("data: [DONE]").  Prints one line per server:
#
#   TTFB name=... n=... p50_us=... p90_us=... p99_us=... mean_us=...
#        end_p50_us=...

use strict;
use warnings;

use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my ($n, $body_file, $path, @rest) = @ARGV;
my (@targets, @headers);

while (@rest) {
    my $a = shift @rest;
    if ($a eq '--') {
        @headers = @rest;
        last;
    }
    $a =~ /^([\w.+-]+)=(\d+)$/ or die "$0: NAME=PORT expected: $a\n";
    push @targets, { name => $1, port => $2, ttfb => [], end => [] };
}

die "usage: $0 N BODY_FILE PATH NAME=PORT ... [-- HEADER ...]\n"
    unless defined $path && $n =~ /^\d+$/ && @targets;

open my $fh, '<:raw', $body_file or die "$body_file: $!\n";
my $body = do { local $/; <$fh> };
close $fh;

sub connect_to {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->{port}, Proto => 'tcp')
        or die "$0: 127.0.0.1:$t->{port}: $@\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    $t->{sock} = $s;
    $t->{req} = "POST $path HTTP/1.1\r\n"
              . "Host: 127.0.0.1:$t->{port}\r\n"
              . "Content-Type: application/json\r\n"
              . join('', map { "$_\r\n" } @headers)
              . "Content-Length: " . length($body) . "\r\n"
              . "\r\n" . $body;
}

# one request: (ttfb, end) in microseconds
sub one {
    my ($t) = @_;
    my $s = $t->{sock};
    my ($buf, $first, $h, $chunked, $len, $pos, $close) = ('', undef, -1);

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

        if (!defined $first && index($buf, "data:", $h) >= 0) {
            $first = clock_gettime(CLOCK_MONOTONIC);
        }

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

    # the server ends the connection (keepalive_requests): a new one
    if ($close) {
        close $s;
        connect_to($t);
    }

    index($buf, "data: [DONE]") >= 0
        or die "$0: $t->{name}: the stream is not complete\n";
    defined $first or die "$0: $t->{name}: no data: line\n";

    return (($first - $t0) * 1e6, ($t1 - $t0) * 1e6);
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

for my $i (1 .. 50 + $n) {
    my @order = $i % 2 ? @targets : reverse @targets;
    for my $t (@order) {
        my ($ttfb, $end) = one($t);
        next if $i <= 50;
        push @{ $t->{ttfb} }, $ttfb;
        push @{ $t->{end} }, $end;
    }
}

for my $t (@targets) {
    my $sum = 0;
    $sum += $_ for @{ $t->{ttfb} };
    printf "TTFB name=%s n=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f "
           . "mean_us=%.0f end_p50_us=%.0f\n",
           $t->{name}, scalar @{ $t->{ttfb} }, pct($t->{ttfb}, 50),
           pct($t->{ttfb}, 90), pct($t->{ttfb}, 99),
           $sum / @{ $t->{ttfb} }, pct($t->{end}, 50);
}
