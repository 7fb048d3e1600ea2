# The Foundry connection of every example of conf.d/ (foundry_export),
# field by field against the contract (/work/shared/CONTRACT.md, kept in
# the project as docs/architecture.md): category, target, authType and
# the metadata keys, with their exact casing; the metadata values that are
# JSON (models, modelDiscovery, authConfig, customHeaders) are JSON
# strings that parse to the right structure; no secret is in the answer.
# Both the connection JSON and the deployment parameters file
# (format=bicep-metadata; t/016-foundry-exports.t tests format=bicep, the
# parameters of the Foundry samples' templates, and format=terraform).
#
# The examples are loaded as t/050-examples.t loads them (see there): the
# file as it is in --- http_config, its listen on Test::Nginx's port,
# conf.d/'s files by absolute path.  Test::Nginx sends "Host: localhost",
# so a target is http://localhost/... unless the example gives
# foundry_export a base_url=.
#
# main::export_view turns an answer into lines, one per field, values in
# JSON (so "false" the string and false the boolean differ), a JSON-string
# value as "string of" its parsed and canonical content, then
# "contract: ok" or the rules the answer breaks, and "secrets: none" or
# what looks like one.

use Cwd qw(cwd);
use B ();
use JSON::PP ();
use lib 't/lib';
use FoundryMock;
use Test::Nginx::Socket;

our $ConfD = cwd() . '/conf.d';

$ENV{TEST_NGINX_MOCK_PORT} = FoundryMock::start();

sub main::example {
    my ($file) = @_;

    open my $fh, '<', "$ConfD/$file" or die "$ConfD/$file: $!";
    my $conf = do { local $/; <$fh> };
    close $fh;

    $conf =~ s/\b127\.0\.0\.1:8080\b/127.0.0.1:\$TEST_NGINX_SERVER_PORT/g;
    $conf =~ s/\b127\.0\.0\.1:808[12]\b/127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT}/g;

    opendir my $dh, $ConfD or die "$ConfD: $!";
    for my $f (grep { !/\.conf$/ && -f "$ConfD/$_" } readdir $dh) {
        $conf =~ s{(?<![\w./-])\Q$f\E(?![\w.-])}{$ConfD/$f}g;
    }
    closedir $dh;

    return $conf;
}

our $Json = JSON::PP->new->canonical->allow_nonref;

# a JSON string, not a number or a boolean

sub is_string {
    my ($v) = @_;

    return 0 if !defined $v || ref $v;

    my $flags = B::svref_2object(\$v)->FLAGS;

    return ($flags & B::SVp_POK) && !($flags & (B::SVp_IOK | B::SVp_NOK));
}

sub keys_line {
    my ($h) = @_;
    return ref $h eq 'HASH' ? join(' ', sort keys %$h) : 'NOT AN OBJECT';
}

# the contract's rules for a connection; the list of what is wrong

sub contract {
    my ($category, $target, $auth, $meta) = @_;
    my @bad;

    push @bad, 'category' unless is_string($category)
        && $category =~ /^(ModelGateway|ApiManagement)$/;

    push @bad, 'target' unless is_string($target)
        && $target =~ m{^https?://[^/\s]+(/\S*)?$} && $target !~ m{/$};

    my %auth = (ModelGateway => qr/^(ApiKey|OAuth2)$/,
                ApiManagement => qr/^(ApiKey|ProjectManagedIdentity|AAD)$/);

    push @bad, 'authType' unless is_string($auth) && $auth{$category}
        && $auth =~ $auth{$category};

    if (ref $meta ne 'HASH') {
        return (@bad, 'metadata');
    }

    my %known = map { $_ => 1 } qw(deploymentInPath inferenceAPIVersion
        deploymentAPIVersion models modelDiscovery authConfig customHeaders);

    for my $k (sort keys %$meta) {
        push @bad, "metadata key $k" unless $known{$k};
        push @bad, "metadata.$k is not a string" unless is_string($meta->{$k});
    }

    push @bad, 'deploymentInPath'
        unless ($meta->{deploymentInPath} // '') =~ /^(true|false)$/;

    for my $k (qw(inferenceAPIVersion deploymentAPIVersion)) {
        push @bad, $k unless defined $meta->{$k}
            && $meta->{$k} =~ /^(|\d{4}-\d{2}-\d{2}(-preview)?)$/;
    }

    push @bad, 'models and modelDiscovery: exactly one'
        unless (exists $meta->{models}) + (exists $meta->{modelDiscovery}) == 1;

    my $parse = sub {
        my ($k) = @_;
        return undef unless exists $meta->{$k};
        my $v = eval { JSON::PP->new->decode($meta->{$k}) };
        push @bad, "$k does not parse" unless defined $v;
        return $v;
    };

    if (my $models = $parse->('models')) {
        if (ref $models ne 'ARRAY') {
            push @bad, 'models is not a list';

        } else {
            for my $m (@$models) {
                my $model = ref $m eq 'HASH' && ref $m->{properties} eq 'HASH'
                            && $m->{properties}{model};
                push @bad, 'a model entry'
                    unless keys_line($m) eq 'name properties'
                        && is_string($m->{name}) && length $m->{name}
                        && keys_line($m->{properties}) eq 'model'
                        && keys_line($model) eq 'format name version'
                        && !grep { !is_string($model->{$_}) }
                                qw(format name version);
            }
        }
    }

    if (my $d = $parse->('modelDiscovery')) {
        push @bad, 'modelDiscovery'
            unless keys_line($d) eq
                   'deploymentProvider getModelEndpoint listModelsEndpoint'
                && ($d->{listModelsEndpoint} // '') =~ m{^/}
                && ($d->{getModelEndpoint} // '') =~
                   m{^/[^{}]*\{deploymentName\}[^{}]*$}
                && ($d->{deploymentProvider} // '') =~ /^(AzureOpenAI|OpenAI)$/;
    }

    if (my $a = $parse->('authConfig')) {
        push @bad, 'authConfig'
            unless keys_line($a) eq 'format name type'
                && $a->{type} eq 'api_key'
                && $a->{name} =~ /^[A-Za-z0-9-]+$/
                && lc $a->{name} ne 'api-key'
                && $a->{format} =~ /^[^{}]*\{api_key\}[^{}]*$/;
    }

    push @bad, 'authConfig without a key'
        if exists $meta->{authConfig} && ($auth // '') ne 'ApiKey';

    if (my $h = $parse->('customHeaders')) {
        push @bad, 'customHeaders'
            unless ref $h eq 'HASH' && !grep { !is_string($_) } values %$h;
    }

    return @bad;
}

sub main::export_view {
    my ($body) = @_;

    my $j = eval { JSON::PP->new->decode($body) };
    return "not JSON: $body" unless ref $j eq 'HASH';

    my @out;
    my ($category, $target, $auth, $meta);

    if (exists $j->{'$schema'}) {

        # a deployment parameters file

        my $p = $j->{parameters};

        push @out, "keys: " . keys_line($j),
                   '$schema: ' . $Json->encode($j->{'$schema'}),
                   'contentVersion: ' . $Json->encode($j->{contentVersion}),
                   'parameters: ' . keys_line($p);

        return join("\n", @out) . "\n" unless ref $p eq 'HASH';

        push @out, 'each a {"value": ...}: '
            . ((grep { keys_line($_) ne 'value' } values %$p) ? 'no' : 'yes');

        push @out, 'connectionName: '
                   . $Json->encode($p->{connectionName}{value});

        ($category, $target, $auth, $meta) =
            map { $p->{$_}{value} } qw(category target authType metadata);

    } else {

        # the connection

        my $p = $j->{properties};

        push @out, "keys: " . keys_line($j),
                   'properties: ' . keys_line($p),
                   'name: ' . $Json->encode($j->{name});

        ($category, $target, $auth, $meta) =
            map { $p->{$_} } qw(category target authType metadata);
    }

    push @out, 'category: ' . $Json->encode($category),
               'target: ' . $Json->encode($target),
               'authType: ' . $Json->encode($auth),
               'metadata: ' . keys_line($meta);

    if (ref $meta eq 'HASH') {
        for my $k (qw(deploymentInPath inferenceAPIVersion
                      deploymentAPIVersion models modelDiscovery authConfig
                      customHeaders))
        {
            next unless exists $meta->{$k};

            my $v = $meta->{$k};

            if ($k =~ /^(models|modelDiscovery|authConfig|customHeaders)$/) {
                my $parsed = is_string($v)
                             && eval { JSON::PP->new->decode($v) };

                push @out, "$k: " . ($parsed
                                     ? 'string of ' . $Json->encode($parsed)
                                     : 'NOT A JSON STRING: '
                                       . $Json->encode($v));
            } else {
                push @out, "$k: " . $Json->encode($v);
            }
        }
    }

    my @bad = contract($category, $target, $auth, $meta);

    push @out, 'contract: ' . (@bad ? join(', ', @bad) : 'ok');

    # no credential of any example, no key, no key's digest, no PEM

    my @secrets = $body =~ /([\w-]*PLACEHOLDER[\w-]*|example-[\w-]*key\b|\b[0-9a-f]{64}\b|-----BEGIN)/g;

    push @out, 'secrets: ' . (@secrets ? "FOUND @secrets" : 'none');

    return join("\n", @out) . "\n";
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->response_body_filters) {
        $block->set_value('response_body_filters', \&main::export_view);
    }
});

plan tests => 2 * blocks() + 2;

no_shuffle();

run_tests();

__DATA__

=== TEST 1: model-gateway-static: the connection
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
GET /foundry/export?target=/v1
--- response_body
keys: name properties
properties: authType category metadata target
name: "static-gateway"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: authConfig deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
modelDiscovery: string of {"deploymentProvider":"OpenAI","getModelEndpoint":"/models/{deploymentName}","listModelsEndpoint":"/models"}
authConfig: string of {"format":"Bearer {api_key}","name":"Authorization","type":"api_key"}
contract: ok
secrets: none



=== TEST 2: model-gateway-static: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('model-gateway-static.conf')
--- config
--- request
GET /foundry/export?target=/v1&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "static-gateway"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: authConfig deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
modelDiscovery: string of {"deploymentProvider":"OpenAI","getModelEndpoint":"/models/{deploymentName}","listModelsEndpoint":"/models"}
authConfig: string of {"format":"Bearer {api_key}","name":"Authorization","type":"api_key"}
contract: ok
secrets: none



=== TEST 3: model-gateway-discovery: the connection
--- http_config eval: main::example('model-gateway-discovery.conf')
--- config
--- request
GET /foundry/export?target=/contoso/gateway
--- response_body
keys: name properties
properties: authType category metadata target
name: "contoso-gateway"
category: "ModelGateway"
target: "http://localhost/contoso/gateway"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "true"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
modelDiscovery: string of {"deploymentProvider":"AzureOpenAI","getModelEndpoint":"/deployments/{deploymentName}","listModelsEndpoint":"/deployments"}
contract: ok
secrets: none



=== TEST 4: model-gateway-discovery: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('model-gateway-discovery.conf')
--- config
--- request
GET /foundry/export?target=/contoso/gateway&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "contoso-gateway"
category: "ModelGateway"
target: "http://localhost/contoso/gateway"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "true"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
modelDiscovery: string of {"deploymentProvider":"AzureOpenAI","getModelEndpoint":"/deployments/{deploymentName}","listModelsEndpoint":"/deployments"}
contract: ok
secrets: none



=== TEST 5: apim-style: the connection
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
GET /foundry/export?target=/openai
--- response_body
keys: name properties
properties: authType category metadata target
name: "apim-style"
category: "ApiManagement"
target: "https://gateway.contoso.com/openai"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "true"
inferenceAPIVersion: "2024-10-21"
deploymentAPIVersion: "2024-10-01"
modelDiscovery: string of {"deploymentProvider":"AzureOpenAI","getModelEndpoint":"/deployments/{deploymentName}","listModelsEndpoint":"/deployments"}
contract: ok
secrets: none



=== TEST 6: apim-style: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
GET /foundry/export?target=/openai&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "apim-style"
category: "ApiManagement"
target: "https://gateway.contoso.com/openai"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "true"
inferenceAPIVersion: "2024-10-21"
deploymentAPIVersion: "2024-10-01"
modelDiscovery: string of {"deploymentProvider":"AzureOpenAI","getModelEndpoint":"/deployments/{deploymentName}","listModelsEndpoint":"/deployments"}
contract: ok
secrets: none



=== TEST 7: oauth2-client-credentials: the connection
--- http_config eval: main::example('oauth2-client-credentials.conf')
--- config
--- request
GET /foundry/export?target=/v1
--- response_body
keys: name properties
properties: authType category metadata target
name: "contoso-oauth2"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "OAuth2"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
contract: ok
secrets: none



=== TEST 8: oauth2-client-credentials: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('oauth2-client-credentials.conf')
--- config
--- request
GET /foundry/export?target=/v1&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "contoso-oauth2"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "OAuth2"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
contract: ok
secrets: none



=== TEST 9: entra-managed-identity: the connection
--- http_config eval: main::example('entra-managed-identity.conf')
--- config
--- request
GET /foundry/export?target=/openai
--- response_body
keys: name properties
properties: authType category metadata target
name: "contoso-entra"
category: "ApiManagement"
target: "http://localhost/openai"
authType: "ProjectManagedIdentity"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "true"
inferenceAPIVersion: "2024-10-21"
deploymentAPIVersion: ""
modelDiscovery: string of {"deploymentProvider":"AzureOpenAI","getModelEndpoint":"/deployments/{deploymentName}","listModelsEndpoint":"/deployments"}
contract: ok
secrets: none



=== TEST 10: entra-managed-identity: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('entra-managed-identity.conf')
--- config
--- request
GET /foundry/export?target=/openai&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "contoso-entra"
category: "ApiManagement"
target: "http://localhost/openai"
authType: "ProjectManagedIdentity"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion modelDiscovery
deploymentInPath: "true"
inferenceAPIVersion: "2024-10-21"
deploymentAPIVersion: ""
modelDiscovery: string of {"deploymentProvider":"AzureOpenAI","getModelEndpoint":"/deployments/{deploymentName}","listModelsEndpoint":"/deployments"}
contract: ok
secrets: none



=== TEST 11: key-or-token: the connection
--- http_config eval: main::example('key-or-token.conf')
--- config
--- request
GET /foundry/export?target=/v1
--- response_body
keys: name properties
properties: authType category metadata target
name: "contoso-key-or-token"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
contract: ok
secrets: none



=== TEST 12: key-or-token: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('key-or-token.conf')
--- config
--- request
GET /foundry/export?target=/v1&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "contoso-key-or-token"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
contract: ok
secrets: none



=== TEST 13: upstreams-side-by-side: the connection
--- http_config eval: main::example('upstreams-side-by-side.conf')
--- config
--- request
GET /foundry/export?target=/v1
--- response_body
keys: name properties
properties: authType category metadata target
name: "contoso-side-by-side"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}},{"name":"gpt-4.1","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":"2025-04-14"}}}]
contract: ok
secrets: none



=== TEST 14: upstreams-side-by-side: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('upstreams-side-by-side.conf')
--- config
--- request
GET /foundry/export?target=/v1&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "contoso-side-by-side"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}},{"name":"gpt-4.1","properties":{"model":{"format":"OpenAI","name":"gpt-4.1","version":"2025-04-14"}}}]
contract: ok
secrets: none



=== TEST 15: ptu-payg-spillover: the connection
--- http_config eval: main::example('ptu-payg-spillover.conf')
--- config
--- request
GET /foundry/export?target=/v1
--- response_body
keys: name properties
properties: authType category metadata target
name: "contoso-spillover"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}}]
contract: ok
secrets: none



=== TEST 16: ptu-payg-spillover: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('ptu-payg-spillover.conf')
--- config
--- request
GET /foundry/export?target=/v1&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "contoso-spillover"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}}]
contract: ok
secrets: none



=== TEST 17: limits-and-metrics: the connection
--- http_config eval: main::example('limits-and-metrics.conf')
--- config
--- request
GET /foundry/export?target=/v1
--- response_body
keys: name properties
properties: authType category metadata target
name: "contoso-limits"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
contract: ok
secrets: none



=== TEST 18: limits-and-metrics: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('limits-and-metrics.conf')
--- config
--- request
GET /foundry/export?target=/v1&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "contoso-limits"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
contract: ok
secrets: none



=== TEST 19: json-access-log: the connection
--- http_config eval: main::example('json-access-log.conf')
--- config
--- request
GET /foundry/export?target=/v1
--- response_body
keys: name properties
properties: authType category metadata target
name: "research-gateway"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: customHeaders deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
customHeaders: string of {"x-foundry-project":"research-agents"}
contract: ok
secrets: none



=== TEST 20: json-access-log: the earlier deployment parameters file (format=bicep-metadata)
--- http_config eval: main::example('json-access-log.conf')
--- config
--- request
GET /foundry/export?target=/v1&format=bicep-metadata
--- response_body
keys: $schema contentVersion parameters
$schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
contentVersion: "1.0.0.0"
parameters: authType category connectionName metadata target
each a {"value": ...}: yes
connectionName: "research-gateway"
category: "ModelGateway"
target: "http://localhost/v1"
authType: "ApiKey"
metadata: customHeaders deploymentAPIVersion deploymentInPath inferenceAPIVersion models
deploymentInPath: "false"
inferenceAPIVersion: ""
deploymentAPIVersion: ""
models: string of [{"name":"gpt-4o","properties":{"model":{"format":"OpenAI","name":"gpt-4o","version":"2024-11-20"}}},{"name":"gpt-4o-mini","properties":{"model":{"format":"OpenAI","name":"gpt-4o-mini","version":"2024-07-18"}}}]
customHeaders: string of {"x-foundry-project":"research-agents"}
contract: ok
secrets: none



=== TEST 21: the targets of an example
--- http_config eval: main::example('model-gateway-discovery.conf')
--- config
--- request
GET /foundry/export
--- response_body_filters
--- response_body
{
    "targets": [
        "/contoso/gateway"
    ]
}



=== TEST 22: a path that is no target
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
GET /foundry/export?target=/openai/
--- error_code: 404
--- response_body_filters
--- response_body chomp
{"error":{"code":"NotFound","message":"no gateway target has this path","type":"not_found_error"}}
--- no_error_log
[alert]



=== TEST 23: a format that is none of the four
--- http_config eval: main::example('apim-style.conf')
--- config
--- request
GET /foundry/export?target=/openai&format=xml
--- error_code: 400
--- response_body_filters
--- response_body chomp
{"error":{"code":"BadRequest","message":"the format is \"json\", \"bicep\", \"terraform\" or \"bicep-metadata\"","type":"invalid_request_error"}}
--- no_error_log
[alert]
