# What the content checker receives (foundry_content_check, issue 21):
# none of the client's headers, whatever the checker location does with
# them, even when the client's request already read them into variables
# ($http_*, $cookie_*) before the check; the module's own headers only
# (Content-Type, and the upstream's token with identity=upstream); the
# text exactly as the client sent it, once escaped for the checker's JSON
# (quotes, backslashes, control characters, non-ASCII, runs longer than
# eight bytes around them).  The checker location keeps its connections to
# the checker (upstream{} keepalive): one connection for many checks.  An
# answer over 4 KB is read whole up to the location's
# subrequest_output_buffer_size, and past it the checker has failed.

use strict;
use warnings;
use utf8;

use Test::More;
use JSON::PP ();
use IO::Socket::INET ();
use lib 't/lib';
use FoundryMock;
use FoundryNginx;

plan tests => 35;

my $mock = FoundryMock::start();

sub mock_call { FoundryMock::control($mock, @_) }

# the checker's calls since the last reset
sub calls { FoundryMock::content_calls($mock) }

my $ngx = FoundryNginx->new(http => <<"CONF");
    upstream checker {
        server 127.0.0.1:$mock;
        keepalive 4;
    }

    foundry_upstream u kind=openai url=http://127.0.0.1:$mock;

    client_body_buffer_size 1m;

    server {
        listen 127.0.0.1:\$PORT;

        # the checker location passes on what a careless configuration
        # would: request headers, and client headers by name
        location /_cs/ {
            internal;
            proxy_pass http://checker/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Ocp-Apim-Subscription-Key mock-cs-key;
            proxy_set_header X-Seen-Authorization \$http_authorization;
            proxy_set_header X-Seen-Api-Key \$http_api_key;
            proxy_set_header X-Seen-Cookie \$http_cookie;
            proxy_set_header X-Seen-Session \$cookie_session;
            proxy_set_header X-Seen-Secret \$http_x_client_secret;
        }

        # the client's secrets read into variables before the check
        location /v1/ {
            set \$a \$http_authorization;
            set \$k \$http_api_key;
            set \$c \$http_cookie;
            set \$s \$cookie_session;
            set \$x \$http_x_client_secret;

            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
        }

        # a checker whose answer is over 4 KB (12 KB of padding before
        # the categories), read whole when the checker location allows
        # it (subrequest_output_buffer_size), refused as too much if not
        location /_answer/ {
            set \$pad "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
            default_type application/json;
            return 200 '{"pad":"\$pad\$pad\$pad\$pad","categoriesAnalysis":[{"category":"Violence","severity":6}]}';
        }

        location /_big/ {
            internal;
            subrequest_output_buffer_size 64k;
            proxy_pass http://127.0.0.1:\$PORT/_answer/;
        }

        location /_small/ {
            internal;
            proxy_pass http://127.0.0.1:\$PORT/_answer/;
        }

        location /big/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_big/;
            proxy_pass \$foundry_upstream_url;
        }

        location /small/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_small/;
            proxy_pass \$foundry_upstream_url;
        }

        # the same, the variables not read before
        location /cold/ {
            foundry_gateway on;
            foundry_model gpt-4o upstream=u;
            foundry_content_check /_cs/;
            proxy_pass \$foundry_upstream_url;
            add_header X-Verdict \$foundry_content_verdict always;
        }
    }
CONF

my @secrets = (
    'Authorization' => 'Bearer CLIENT-SECRET-TOKEN',
    'api-key' => 'CLIENT-SECRET-KEY',
    'Cookie' => 'session=CLIENT-SECRET-COOKIE',
    'X-Client-Secret' => 'CLIENT-SECRET-HEADER',
    'X-Forwarded-For' => '192.0.2.7',
    'User-Agent' => 'client-agent/1.0',
);

sub chat {
    my ($prefix, $text) = @_;
    my $body = JSON::PP->new->utf8->canonical->encode(
        { model => 'gpt-4o',
          messages => [ { role => 'user', content => $text } ] });
    return $ngx->request('POST', "$prefix/chat/completions",
                         [ 'Content-Type' => 'application/json', @secrets ],
                         $body);
}

calls();

# the module's headers, the checker location's and the proxy's own
my %allowed = map { $_ => 1 }
    qw(host connection content-length content-type
       ocp-apim-subscription-key);

for my $prefix ('/v1', '/cold') {
    my ($st, $h) = chat($prefix, 'hello there');
    is($st, 200, "$prefix: allowed");
    is($h->{'x-verdict'}, 'allowed', "$prefix: checked");

    my $c = calls();
    is(scalar @$c, 1, "$prefix: one call to the checker");
    my $got = $c->[0]{headers} || {};

    my @extra = grep { !$allowed{$_} } sort keys %$got;
    is_deeply(\@extra, [], "$prefix: no other header reaches the checker");
    unlike(join("\n", map { "$_: $got->{$_}" } sort keys %$got),
           qr/CLIENT-SECRET|192\.0\.2\.7|client-agent/,
           "$prefix: no client secret in the checker's headers");
    is($got->{'content-type'}, 'application/json',
       "$prefix: the module's Content-Type");
    is($got->{'ocp-apim-subscription-key'}, 'mock-cs-key',
       "$prefix: the checker location's key");
}

# the text, escaped for the checker's JSON: quotes, backslashes, line
# breaks, tabs, a control character, non-ASCII, at places that fall
# inside and across eight-byte words, and a marker after all of them

{
    my $text = qq{plain words first "quoted" and a back\\slash\n}
             . qq{tab\there\x01control é and 😀 emoji "" \\\\ }
             . qq{a long run of letters without anything to escape at all}
             . qq{\r\n\x1f end};

    my ($st, $h) = chat('/cold', $text);
    is($st, 200, 'escapes: the checker read the JSON');
    my $c = calls();
    is($c->[0]{chars} // -1, length($text),
       'escapes: the whole text arrived, no character more or less');

    ($st) = chat('/cold', $text . ' "DEMO-UNSAFE"');
    is($st, 400, 'escapes: a marker after the escapes is seen');
    calls();

    my $long = ('0123456789abcdef' x 700) . qq{"\\\n} . ('x' x 5000);
    ($st) = chat('/cold', $long);
    is($st, 200, 'escapes: a text over 10,000 bytes, escapes at a word edge');
    $c = calls();
    is(scalar @$c, 2, 'escapes: cut into two calls');
    my $sum = 0;
    $sum += $_->{chars} for @$c;
    is($sum, length $long, 'escapes: together the whole text');
}

# the texts of several messages, one a line: the line breaks between
# them the only escapes (the texts copied between them as they are), or
# with others in a text (a line break of its own, a quote)

{
    my @texts = ('You are a travel assistant of Contoso, be concise.',
                 'Hi, my flight to Lisbon was moved, booking CX7Q2L.',
                 'Let me look it up.', 'Thanks.');

    my @variants = (
        [ 'line breaks only', @texts ],
        [ 'a line break in a text', $texts[0], "two\nlines", $texts[3] ],
        [ 'a quote in a text', $texts[1], 'say "hi"', $texts[2] ],
        [ 'a line break at the ends', "\nfirst", "last\n" ],
    );

    for my $v (@variants) {
        my ($name, @t) = @$v;
        my $body = JSON::PP->new->utf8->canonical->encode(
            { model => 'gpt-4o',
              messages => [ map { { role => 'user', content => $_ } } @t ] });
        my ($st) = $ngx->request('POST', '/cold/chat/completions',
                                 [ 'Content-Type' => 'application/json',
                                   @secrets ], $body);
        is($st, 200, "texts, $name: allowed");
        my $c = calls();
        is($c->[0]{text} // '', join("\n", @t),
           "texts, $name: the checker got them, one a line");
    }
}

# one connection to the checker for many checks

{
    chat('/cold', "turn $_") for 1 .. 5;
    my $c = calls();
    is(scalar @$c, 5, 'keepalive: five checks');
    my %peers = map { ($_->{peer} // '?') => 1 } @$c;
    is(scalar keys %peers, 1,
       'keepalive: all on one connection to the checker');
}

# answers over 4 KB

{
    my ($st, $h, $b) = chat('/big', 'hello');
    is($st, 400, 'a 12 KB answer: read whole, its verdict applies');
    like($b, qr/"code":"content_filter"/, 'a 12 KB answer: the content filter');

    ($st, $h, $b) = chat('/small', 'hello');
    is($st, 503, 'over subrequest_output_buffer_size: the checker failed');
    like($ngx->error_log, qr/content checker "\/_small\/" answered too much/,
         'over subrequest_output_buffer_size: logged as too much');
}

unlike($ngx->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert');
