# The content check's cache key (foundry_content_check cache=, issue 21):
# the SHA-256 of the check's settings and of the texts as the body's scan
# finds them, in place in the body (their number, lengths and kinds
# first, then the texts).  The same texts hit whatever the JSON spelling
# (escapes decoded: the key is of the texts, not of the bytes), whichever
# way the body was read (one buffer in memory, several, a temporary
# file); two lists of texts never share an entry, even when joined they
# read alike (one text "a\nb" or two texts "a" and "b"); for shield=on
# the texts' kinds (the user's, tool results) are in the key too.  The
# largest text is counted in characters (UTF-16 units, a line break
# between two texts), its bytes may be more.

use strict;
use warnings;
use utf8;

use Test::More;
use JSON::PP ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep);
use File::Temp ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

plan tests => 44;

my $mock = FoundryMock::start();

# the workers (user nobody when run as root) write the bodies' files here
my $bodies = File::Temp::tempdir('foundry-bodies-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);
chmod 0777, $bodies;

# the checker's calls since the last reset
sub calls { FoundryMock::content_calls($mock) }

my $ngx = FoundryNginx->new(http => <<"CONF");
    foundry_content_cache_zone verdicts:1m;
    client_max_body_size 4m;

    foundry_upstream u kind=openai url=http://127.0.0.1:$mock;

    server {
        listen 127.0.0.1:\$PORT;

        location /_cs/ {
            internal;
            proxy_pass http://127.0.0.1:$mock/;
            proxy_set_header Ocp-Apim-Subscription-Key mock-cs-key;
        }

        location /mem/ {
            client_body_buffer_size 1m;
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ cache=verdicts ttl=1h;
            proxy_pass \$foundry_upstream_url;
            add_header X-Cache \$foundry_content_cache always;
        }

        # the same check: bodies over 1 KB go to a temporary file
        location /file/ {
            client_body_buffer_size 1k;
            client_body_temp_path $bodies;
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ cache=verdicts ttl=1h;
            proxy_pass \$foundry_upstream_url;
            add_header X-Cache \$foundry_content_cache always;
        }

        location /shield/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ shield=on cache=verdicts ttl=1h;
            proxy_pass \$foundry_upstream_url;
            add_header X-Cache \$foundry_content_cache always;
        }

        location /limit/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/ max_text=20;
            proxy_pass \$foundry_upstream_url;
        }
    }
CONF

# a body as written, escapes and all
sub raw {
    my ($prefix, $body) = @_;
    return $ngx->request('POST', "$prefix/chat/completions",
                         ['Content-Type' => 'application/json'], $body);
}

sub chat {
    my ($prefix, @messages) = @_;
    my $body = JSON::PP->new->utf8->canonical->encode(
        { model => 'gpt-4o', messages => \@messages });
    return raw($prefix, $body);
}

sub user { return map { { role => 'user', content => $_ } } @_ }

# the cache's answer to a request, and the checker's calls it made
sub cached {
    my ($st, $h) = @_;
    return ($st, $h->{'x-cache'} // '-', scalar @{ calls() });
}

calls();


# 1. escapes: the key is of the decoded texts, not of their spelling

{
    my @r = cached(raw('/mem',
        '{"model":"gpt-4o","messages":[{"role":"user",'
        . '"content":"caf\u00e9 \"q\" line\nbreak \ud83d\ude00"}]}'));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'escapes: a text with escapes, a miss');

    @r = cached(raw('/mem',
        '{"model":"gpt-4o","messages":[{"role":"user",'
        . '"content":"caf\u00E9 \u0022q\u0022 line\u000abreak \ud83d\ude00"}]}'));
    is_deeply(\@r, [ 200, 'hit', 0 ],
              'escapes: spelt otherwise, the same text hits');

    my $utf8 = "caf\x{e9} \\\"q\\\" line\\nbreak \x{1f600}";
    utf8::encode($utf8);
    @r = cached(raw('/mem',
        '{"model":"gpt-4o","messages":[{"role":"user","content":"'
        . $utf8 . '"}]}'));
    is_deeply(\@r, [ 200, 'hit', 0 ],
              'escapes: in UTF-8 as it is, the same text hits');

    @r = cached(raw('/mem',
        '{"model":"gpt-4o","messages":[{"role":"user",'
        . '"content":"caf\u00e9 \"q\" line\tbreak \ud83d\ude00"}]}'));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'escapes: another escape, a miss');

    # texts in place and decoded in one body

    @r = cached(raw('/mem',
        '{"model":"gpt-4o","messages":[{"role":"system","content":"plain"},'
        . '{"role":"user","content":"esc\u0041ped"},'
        . '{"role":"user","content":"plain too"}]}'));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'escapes: mixed texts, a miss');

    @r = cached(chat('/mem', { role => 'system', content => 'plain' },
                     user('escAped', 'plain too')));
    is_deeply(\@r, [ 200, 'hit', 0 ], 'escapes: mixed texts hit unescaped');

    @r = cached(chat('/mem', { role => 'system', content => 'plain' },
                     user('escAped', 'plain to')));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'escapes: the last text shorter');
}


# 2. how the texts are split: never two lists alike

{
    my @r = cached(chat('/mem', user('abcd')));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'split: "abcd", a miss');

    @r = cached(chat('/mem', user('ab', 'cd')));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'split: "ab" and "cd" are not "abcd"');

    @r = cached(chat('/mem', user('abc', 'd')));
    is_deeply(\@r, [ 200, 'miss', 1 ],
              'split: "abc" and "d" are not "ab" and "cd"');

    @r = cached(chat('/mem', user("x1\ny1")));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'split: "x1\\ny1", a miss');

    @r = cached(chat('/mem', user('x1', 'y1')));
    is_deeply(\@r, [ 200, 'miss', 1 ],
              'split: "x1" and "y1" are not one text "x1\\ny1"');

    @r = cached(chat('/mem', user('x1', 'y1')));
    is_deeply(\@r, [ 200, 'hit', 0 ], 'split: "x1" and "y1" again, a hit');

    # a message's parts are texts as messages are

    @r = cached(chat('/mem', { role => 'user', content => [
                         { type => 'text', text => 'x1' },
                         { type => 'text', text => 'y1' } ] }));
    is_deeply(\@r, [ 200, 'hit', 0 ],
              'split: the same texts as content parts, a hit');

    # empty texts are none

    @r = cached(chat('/mem', user('x1', '', 'y1')));
    is_deeply(\@r, [ 200, 'hit', 0 ], 'split: an empty text is no text');
}


# 3. shield=on: whose text it is is in the key

{
    my @m = ({ role => 'user', content => 'shield-u' },
             { role => 'tool', tool_call_id => 'c1', content => 'shield-t' });

    my @r = cached(chat('/shield', @m));
    is_deeply(\@r, [ 200, 'miss', 2 ], 'kinds: a miss (analyze, shield)');

    @r = cached(chat('/shield', @m));
    is_deeply(\@r, [ 200, 'hit', 0 ], 'kinds: the same, a hit');

    @r = cached(chat('/shield', { role => 'user', content => 'shield-u' },
                     { role => 'assistant', content => 'shield-t' }));
    is_deeply(\@r, [ 200, 'miss', 2 ],
              'kinds: the tool result now the assistant\'s, a miss');

    @r = cached(chat('/shield', user('shield-u', 'shield-t')));
    is_deeply(\@r, [ 200, 'miss', 2 ], 'kinds: both the user\'s, a miss');

    # the role given after the content

    @r = cached(raw('/shield',
        '{"model":"gpt-4o","messages":[{"content":"shield-u","role":"user"},'
        . '{"content":"shield-t","tool_call_id":"c1","role":"tool"}]}'));
    is_deeply(\@r, [ 200, 'hit', 0 ], 'kinds: roles after the contents, a hit');

    # the same texts and kinds from the Responses API: the same verdict

    my $resp = JSON::PP->new->utf8->canonical->encode({
        model => 'gpt-4o',
        input => [ { role => 'user', content => 'shield-u' },
                   { type => 'function_call_output', call_id => 'c1',
                     output => 'shield-t' } ] });

    @r = cached($ngx->request('POST', '/shield/responses',
                              ['Content-Type' => 'application/json'],
                              $resp));
    is_deeply(\@r, [ 200, 'hit', 0 ],
              'kinds: a Responses API input of the same texts, a hit');

    $resp = JSON::PP->new->utf8->canonical->encode({
        model => 'gpt-4o', instructions => 'shield-s', input => 'shield-i' });

    @r = cached($ngx->request('POST', '/shield/responses',
                              ['Content-Type' => 'application/json'],
                              $resp));
    is_deeply(\@r, [ 200, 'miss', 2 ],
              'kinds: instructions and an input string, a miss');

    # in the body's order: "input" before "instructions" (canonical JSON)

    @r = cached(chat('/shield', user('shield-i'),
                     { role => 'system', content => 'shield-s' }));
    is_deeply(\@r, [ 200, 'hit', 0 ],
              'kinds: the same as a user and a system message, a hit');

    # without shield=on the kinds are not read: the /mem check is another

    @r = cached(chat('/mem', @m));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'kinds: another check, a miss');

    @r = cached(chat('/mem', user('shield-u', 'shield-t')));
    is_deeply(\@r, [ 200, 'hit', 0 ],
              'kinds: without shield=on, the roles do not count');
}


# 4. however the body was read: a temporary file, buffers in memory

{
    my @texts = map { "a text in a file, number $_ of them" } 1 .. 60;

    my @r = cached(chat('/file', user(@texts)));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'body in a file: a miss');
    like($ngx->error_log,
         qr/a client request body is buffered to a temporary file/,
         'body in a file: it was');

    @r = cached(chat('/mem', user(@texts)));
    is_deeply(\@r, [ 200, 'hit', 0 ],
              'body in memory: the texts read from the file hit');

    @r = cached(chat('/file', user(@texts)));
    is_deeply(\@r, [ 200, 'hit', 0 ], 'body in a file: a hit');

    $texts[59] .= '!';

    @r = cached(chat('/mem', user(@texts)));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'body in memory: one byte more');

    @r = cached(chat('/file', user(@texts)));
    is_deeply(\@r, [ 200, 'hit', 0 ], 'body in a file: that one hits');

    # the body in two pieces, the second a while after the first: in
    # memory in more than one buffer

    $texts[59] .= '?';

    my $body = JSON::PP->new->utf8->canonical->encode(
        { model => 'gpt-4o', messages => [ user(@texts) ] });

    @r = cached(raw('/mem', $body));
    is_deeply(\@r, [ 200, 'miss', 1 ], 'pieces: a miss in one piece');

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $ngx->{port},
                                  Timeout => 5)
        or die "connect: $!";
    $s->autoflush(1);

    print $s "POST /mem/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\nContent-Type: application/json\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n"
             . substr($body, 0, 700);
    sleep 0.3;
    print $s substr($body, 700);

    local $/;
    my $resp = <$s> // '';
    close $s;

    like($resp, qr{\AHTTP/1.1 200}, 'pieces: allowed');
    like($resp, qr/\r\nX-Cache: hit\r\n/i, 'pieces: a hit');
    is(scalar @{ calls() }, 0, 'pieces: the checker not called');
}


# 5. the largest text: characters, not bytes

{
    my ($st) = chat('/limit', user("\x{e9}" x 20));
    is($st, 200, 'max_text: 20 characters in 40 bytes pass');
    is(scalar @{ calls() }, 1, 'max_text: and are checked');

    ($st) = chat('/limit', user("\x{e9}" x 21));
    is($st, 413, 'max_text: 21 characters are refused');

    ($st) = chat('/limit', user("\x{1f600}" x 10));
    is($st, 200, 'max_text: 10 emoji are 20 characters');

    ($st) = chat('/limit', user("\x{1f600}" x 10 . 'x'));
    is($st, 413, 'max_text: and one more is too many');

    ($st) = chat('/limit', user('a' x 10, 'b' x 9));
    is($st, 200, 'max_text: two texts and the line between, 20');

    ($st) = chat('/limit', user('a' x 10, 'b' x 10));
    is($st, 413, 'max_text: 21 with the line between');

    ($st) = chat('/limit', user('a' x 15, "\x{e9}" x 4));
    is($st, 200, 'max_text: past 20 bytes, 20 characters');

    calls();
}


# 6. nothing went wrong

{
    my $err = $ngx->error_log;
    unlike($err, qr/\[(?:alert|crit|emerg)\]/, 'logs: no alert');
}
