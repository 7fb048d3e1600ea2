package FoundryKeys;

# Keys files for the tests: written to a temporary directory at load time,
# their paths exported as TEST_NGINX_KEYS_* environment variables so the
# blocks can name them ($TEST_NGINX_KEYS_DIR/keys.json).

use strict;
use warnings;

use Digest::SHA qw(sha256_hex sha256_base64);
use File::Temp qw(tempdir);
use JSON::PP;

our $DIR = tempdir('foundry-keys-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# nginx's workers may run as another user than the tests
chmod 0755, $DIR;

$ENV{TEST_NGINX_KEYS_DIR} = $DIR;

sub entry {
    my ($name, $key, %extra) = @_;

    return { name => $name, sha256 => sha256_hex($key), %extra };
}

sub write_file {
    my ($file, $content) = @_;

    my $path = "$DIR/$file";
    my $tmp = "$path.tmp";

    open my $fh, '>', $tmp or die "$tmp: $!";
    chmod 0644, $tmp;
    print $fh ref $content ? JSON::PP->new->canonical->encode($content)
                           : $content;
    close $fh;

    rename $tmp, $path or die "rename $tmp: $!";

    return $path;
}

# the standard set most blocks use

my $b64 = sha256_base64('b64-key');
$b64 .= '=' while length($b64) % 4;

write_file('keys.json', { keys => [
    entry('demo', 'demo-key', metadata => { team => 'demo', tpm => 5000 }),
    entry('limited', 'limited-key', deployments => ['gpt-4o-mini']),
    entry('pattern', 'pattern-key', deployments => ['~^o[0-9]', 'GPT-4O']),
    entry('off', 'off-key', disabled => JSON::PP::true),
    entry('old', 'old-key', expires => '2020-01-01T00:00:00Z'),
    entry('future', 'future-key', not_before => 4102444800),
    entry('soon', 'soon-key', expires => '2999-01-01T00:00:00+02:00'),
    { name => 'b64', sha256 => $b64 },
] });

# broken files, one mistake each, for the configuration tests

write_file('bad-json.json', '{"keys": [');
write_file('bad-shape.json', '{"entries": []}');
write_file('no-sha.json', [ { name => 'a' } ]);
write_file('bad-sha.json', [ { name => 'a', sha256 => 'abc' } ]);
write_file('bad-name.json', [ { name => 'a b', sha256 => sha256_hex('x') } ]);
write_file('bad-time.json', [ entry('a', 'x', expires => 'tomorrow') ]);
write_file('bad-regex.json', [ entry('a', 'x', deployments => ['~gpt-(']) ]);
write_file('bad-field.json', [ entry('a', 'x', colour => 'blue') ]);
write_file('bad-meta.json', [ entry('a', 'x', metadata => { t => [1] }) ]);
write_file('same-sha.json', [ entry('a', 'x'), entry('b', 'x') ]);
write_file('many.json', [ map { entry("k$_", "key-$_") } 1 .. 2000 ]);

1;
