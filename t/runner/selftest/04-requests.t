# Requests: more_headers, POST bodies (echoed through a proxy_pass to
# ourselves on $TEST_NGINX_SERVER_PORT), pipelined requests, several
# requests from "request eval", HEAD, chunked responses, raw_request.
use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * (blocks() * 2 + 11);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: more_headers are sent
--- config
    location = /t {
        return 200 "foo=$http_foo bar=$http_bar host=$host\n";
    }
--- request
GET /t
--- more_headers
Foo: hello
# a comment line is ignored
Bar: world
--- response_body
foo=hello bar=world host=localhost



=== TEST 2: POST body, Content-Length added (body is trimmed)
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $content_length;
    }
    location = /echo {
        return 200 "$request_method [$http_x_body] $http_x_len\n";
    }
--- request
POST /t
hello world
--- response_body
POST [hello world] 11



=== TEST 3: pipelined requests: one status/body test per request
--- config
    location = /a {
        return 200 "a\n";
    }
    location = /b {
        return 201 "bb\n";
    }
--- pipelined_requests eval
["GET /a", "GET /b", "GET /a"]
--- error_code eval
[200, 201, 200]
--- response_body eval
["a\n", "bb\n", "a\n"]
--- no_error_log
[error]



=== TEST 4: several requests, one connection each
--- config
    location = /t {
        return 200 "$arg_n\n";
    }
--- request eval
["GET /t?n=1", "GET /t?n=2"]
--- response_body eval
["1\n", "2\n"]



=== TEST 5: HEAD request, no body expected
--- config
    location = /t {
        return 200 "some body\n";
    }
--- request
HEAD /t
--- response_body
--- response_headers
Content-Length: 10



=== TEST 6: chunked response is decoded (sub_filter drops Content-Length)
--- config
    location = /t {
        sub_filter_types *;
        sub_filter 'body' 'BODY';
        return 200 "chunked body\n";
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
--- response_body
chunked BODY



=== TEST 7: raw_request is sent as is, HTTP/1.0
--- config
    location = /t {
        return 200 "$server_protocol\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body
HTTP/1.0
