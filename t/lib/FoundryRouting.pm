package FoundryRouting;

# Helpers shared by t/010-routing.t .. t/014-operations.t, t/080-bad-input.t
# and t/081-faults.t ("use FoundryRouting;"); the functions are in main::
# for the blocks' "eval" sections.
#
#   main::echo($body)       a --- response_body_filters filter: turns the
#                           mock's x-mock-echo JSON into readable text
#   main::request_text(...) the same text, built from what we expect
#   main::count_tests(...)  the number of TAP tests a list of blocks makes

use strict;
use warnings;

use Digest::MD5 ();
use JSON::PP ();
use MIME::Base64 ();

# bodies longer than this are shown as their length and MD5
our $ECHO_BODY_MAX = 2048;


# The echo of the mock (see t/mock/README.md) as
#
#     POST /path?query
#     header: value            (sorted by name, x-mock-echo left out)
#     ...
#     <empty line>
#     <the body as bytes>      (or "[N bytes, md5 HEX]")
#
# so that blocks compare what the gateway forwarded with an exact
# --- response_body.  Anything that is not an echo is left alone.

sub main::echo {
    my ($text) = @_;

    # the body string is cut out and unescaped by hand: JSON::PP takes
    # seconds to decode megabytes

    return $text unless $text =~ /\A\{"body":"/;

    # the string ends at the first quote not escaped by a backslash

    my ($end, $from) = (undef, 9);

    while ((my $q = index $text, '"', $from) >= 0) {
        my $bs = 0;
        $bs++ while substr($text, $q - 1 - $bs, 1) eq '\\';

        if ($bs % 2 == 0) {
            $end = $q;
            last;
        }

        $from = $q + 1;
    }

    return $text unless defined $end;

    my $body = json_unescape(substr $text, 9, $end - 9);
    my $e = eval {
        JSON::PP->new->utf8->decode('{' . substr($text, $end + 2))
    };

    if (ref $e ne 'HASH' || !exists $e->{body_length}
        || ref $e->{headers} ne 'HASH')
    {
        return $text;
    }

    if (($e->{body_encoding} // '') eq 'base64') {
        $body = MIME::Base64::decode_base64($body);
    }

    if (length($body) != $e->{body_length}) {
        return "body_length $e->{body_length} does not match the body\n";
    }

    my %headers = %{ $e->{headers} };
    delete $headers{'x-mock-echo'};

    return main::request_text($e->{method}, $e->{path}, $e->{query},
                              \%headers, $body);
}


# the bytes of a JSON string's contents, escapes resolved, as UTF-8 bytes

my %esc = ('"' => '"', '\\' => '\\', '/' => '/', b => "\b", f => "\f",
           n => "\n", r => "\r", t => "\t");

sub json_unescape {
    my ($s) = @_;

    $s =~ s{\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})
                  |u([0-9a-fA-F]{4})
                  |(.))}
           {
               my $c = defined $1
                   ? chr(0x10000 + ((hex($1) - 0xd800) << 10)
                         + (hex($2) - 0xdc00))
                   : defined $3 ? chr(hex $3) : $esc{$4};
               utf8::encode($c) if defined $1 || defined $3;
               $c
           }gsex;

    return $s;
}


sub main::request_text {
    my ($method, $path, $query, $headers, $body) = @_;

    my $out = "$method $path" . (length $query ? "?$query" : '') . "\n";

    for my $name (sort keys %$headers) {
        my $v = $headers->{$name};
        $out .= "$name: " . (ref $v ? join(', ', @$v) : $v) . "\n";
    }

    $out .= "\n";

    if (length($body) > $ECHO_BODY_MAX) {
        $out .= '[' . length($body) . ' bytes, md5 '
                . Digest::MD5::md5_hex($body) . "]\n";

    } else {
        $out .= "$body\n";
    }

    return $out;
}


# What a block is expected to produce with Test::Nginx::Socket: one test
# for the status, one for the body, one per response header line, one per
# error_log/no_error_log line; all of them once per request of a pipeline.

sub main::count_tests {
    my (@blocks) = @_;

    my $n = 0;

    for my $b (@blocks) {
        my $reqs = $b->pipelined_requests ? scalar @{ $b->pipelined_requests }
                                          : 1;
        my $per = 0;

        if ($b->must_die) {
            $per = 1;

        } else {
            $per++;
            $per++ if defined $b->response_body
                      || defined $b->response_body_like;

            if (defined(my $h = $b->response_headers)) {
                $h = $h->[0] if ref $h;
                $per += grep { /\S/ } split /\n/, $h;
            }
        }

        my $logs = 0;

        for my $sec (qw(error_log no_error_log)) {
            my $v = $b->$sec;
            next unless defined $v;
            $logs += ref $v eq "ARRAY" ? @$v
                   : ref $v ? 1
                   : grep { /\S/ } split /\n/, $v;
        }

        $n += ($per + $logs) * $reqs;
    }

    return $n;
}


1;
