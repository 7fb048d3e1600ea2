package FoundryCerts;

# A test CA and a server certificate it signs, made with openssl(1) in a
# test's directory: ca.crt, ca.key, server.crt, server.key.
#
#   FoundryCerts::server_cert($dir, 'aoai.test');
#
# And a copy of shipped proxy settings that trusts that CA:
#
#   FoundryCerts::params_trusting("conf.d/foundry_proxy_params",
#                                 "$dir/params", "$dir/ca.crt");

use strict;
use warnings;

sub run_openssl {
    my $rc = system("openssl @_ >/dev/null 2>&1");
    die "openssl @_: failed" if $rc != 0;
}

sub server_cert {
    my ($dir, $name) = @_;

    run_openssl("req -x509 -newkey rsa:2048 -nodes -days 2"
                . " -subj /CN=foundry-test-ca"
                . " -keyout $dir/ca.key -out $dir/ca.crt"
                . " -addext basicConstraints=critical,CA:TRUE"
                . " -addext keyUsage=critical,keyCertSign,cRLSign");
    run_openssl("req -newkey rsa:2048 -nodes -subj /CN=$name"
                . " -keyout $dir/server.key -out $dir/server.csr");

    open my $fh, '>', "$dir/ext.cnf" or die "$dir/ext.cnf: $!";
    print $fh "subjectAltName=DNS:$name\n";
    close $fh;

    run_openssl("x509 -req -in $dir/server.csr -CA $dir/ca.crt"
                . " -CAkey $dir/ca.key -CAcreateserial -days 2"
                . " -extfile $dir/ext.cnf -out $dir/server.crt");
    chmod 0644, glob("$dir/*");
}

# $src copied to $dst with its proxy_ssl_trusted_certificate set to $ca
# (the line replaced: 1; added at the end when $src had none: 0)

sub params_trusting {
    my ($src, $dst, $ca) = @_;

    open my $in, '<', $src or die "$src: $!";
    my $params = do { local $/; <$in> };
    close $in;

    my $n = ($params =~ s{^(proxy_ssl_trusted_certificate\s+)\S+;}{$1$ca;}m);
    $params .= "proxy_ssl_trusted_certificate $ca;\n" unless $n;

    open my $out, '>', $dst or die "$dst: $!";
    print $out $params;
    close $out;

    return $n ? 1 : 0;
}

1;
