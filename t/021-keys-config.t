# Subscription keys: configuration errors name the file, the key entry and
# the mistake; nothing of a key file reaches the log.

use lib 't/lib';
use FoundryKeys;
use Test::Nginx::Socket;

repeat_each(1);

plan tests => repeat_each() * (2 * blocks() + 1);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a zone and a location using it
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/many.json
                      interval=10s;
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys keys;
        foundry_key_source config bearer header=Ocp-Apim-Subscription-Key
                           arg=subscription-key;
        foundry_model gpt-4o;
        foundry_model_discovery list=/models "get=/models/{deploymentName}";
    }
--- request
GET /v1/models
--- error_code: 401
--- error_log
foundry_keys_zone "keys": 2000 keys loaded from
--- no_error_log
[error]



=== TEST 2: the zone name needs a size
--- http_config
    foundry_keys_zone keys file=$TEST_NGINX_KEYS_DIR/keys.json;
--- config
--- request
GET /
--- must_die
--- error_log
invalid zone "keys" in "foundry_keys_zone" directive, expected name:size



=== TEST 3: a zone too small for nginx
--- http_config
    foundry_keys_zone keys:1k file=$TEST_NGINX_KEYS_DIR/keys.json;
--- config
--- request
GET /
--- must_die
--- error_log
zone "keys:1k" is too small



=== TEST 4: a zone too small for its keys
--- http_config
    foundry_keys_zone keys:32k file=$TEST_NGINX_KEYS_DIR/many.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/foundry_keys_zone "keys" is too small for the 2000 keys of "\S+many.json": they need \d+ bytes/



=== TEST 5: no file
--- http_config
    foundry_keys_zone keys:1m;
--- config
--- request
GET /
--- must_die
--- error_log
"foundry_keys_zone" directive needs "file="



=== TEST 6: a file that does not exist
--- http_config
    foundry_keys_zone keys:1m file=/nonexistent/keys.json;
--- config
--- request
GET /
--- must_die
--- error_log
cannot read keys file "/nonexistent/keys.json"



=== TEST 7: a bad interval
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json
                      interval=soon;
--- config
--- request
GET /
--- must_die
--- error_log
invalid value "interval=soon" in "foundry_keys_zone" directive



=== TEST 8: an unknown parameter
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json
                      reload=yes;
--- config
--- request
GET /
--- must_die
--- error_log
invalid parameter "reload=yes" in "foundry_keys_zone" directive, expected "file=" or "interval="



=== TEST 9: two zones of one name
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/keys.json;
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/many.json;
--- config
--- request
GET /
--- must_die
--- error_log
duplicate zone "keys"



=== TEST 10: foundry_keys names a zone that does not exist
--- config
    location /v1/ {
        foundry_gateway on;
        proxy_pass $foundry_upstream_url;
        foundry_keys nokeys;
    }
--- request
GET /
--- must_die
--- error_log
unknown foundry_keys_zone "nokeys"



=== TEST 11: invalid JSON
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-json.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/invalid keys file "\S+bad-json.json": parse error: premature EOF/



=== TEST 12: no keys array
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-shape.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/invalid keys file "\S+bad-shape.json": expected an array of keys, or an object with a "keys" array/



=== TEST 13: a key without its sha256
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/no-sha.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/invalid keys file "\S+": key #1 \("a"\): "sha256" is missing/



=== TEST 14: a sha256 that is not one
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-sha.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key #1 \("a"\): "sha256" must be the SHA-256 of the key, in hex or base64/



=== TEST 15: a bad name
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-name.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key #1: "name" must be a string of letters, digits/



=== TEST 16: a bad time
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-time.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key #1 \("a"\): times must be Unix times or RFC 3339 times/



=== TEST 17: a bad regular expression in an allow-list
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-regex.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key #1 \("a"\): a "deployments" pattern is not a valid regular expression/



=== TEST 18: an unknown field
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-field.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key #1 \("a"\): unknown field/



=== TEST 19: metadata that is not a scalar
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/bad-meta.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key #1 \("a"\): "metadata" values must be strings, numbers or booleans/



=== TEST 20: the same key twice
--- http_config
    foundry_keys_zone keys:1m file=$TEST_NGINX_KEYS_DIR/same-sha.json;
--- config
--- request
GET /
--- must_die
--- error_log eval
qr/key #2 \("b"\) has the same sha256 as key #1/



=== TEST 21: a bad key source
--- config
    location /v1/ {
        foundry_key_source cookie=key;
    }
--- request
GET /
--- must_die
--- error_log
invalid parameter "cookie=key" in "foundry_key_source" directive, expected "header=", "arg=", "bearer" or "config"
