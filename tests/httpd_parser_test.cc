// The HTTP/1.1 request parser, response writer and path mapping of examples/httpd, over
// byte buffers with no sockets.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "request_parser.h"
#include "response_writer.h"
#include "static_path.h"

namespace {

using httpd::parse_request;
using httpd::parse_result;
using httpd::parse_status;
using httpd::request;
using httpd::request_limits;

// What a test keeps of each complete request.
struct parsed {
  std::string method;
  std::string target;
  std::string body;
  bool keep_alive;
};

// Parses every complete request at the start of `buffer` and removes it, as a connection
// does after each read. Returns the error result if one occurs, else the last result.
parse_result drain(std::string& buffer, const request_limits& limits, std::vector<parsed>& out) {
  request req;
  for (;;) {
    parse_result result = parse_request(buffer, limits, req);
    if (result.status != parse_status::complete) return result;
    out.push_back({std::string(req.method), std::string(req.target), std::string(req.body),
                   req.keep_alive});
    buffer.erase(0, result.consumed);
  }
}

parse_result parse_once(std::string_view input, request& req,
                        const request_limits& limits = request_limits{}) {
  return parse_request(input, limits, req);
}

// Three pipelined requests: a GET, a POST with Content-Length, and a chunked POST with a
// chunk extension and a trailer field, the last one closing the connection.
const std::string kPipeline =
    "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
    "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    "3;name=value\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Checksum: 1\r\n\r\n";

void expect_pipeline(const std::vector<parsed>& got) {
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].method, "GET");
  EXPECT_EQ(got[0].target, "/plaintext");
  EXPECT_EQ(got[0].body, "");
  EXPECT_TRUE(got[0].keep_alive);
  EXPECT_EQ(got[1].method, "POST");
  EXPECT_EQ(got[1].body, "hello");
  EXPECT_EQ(got[2].target, "/upload");
  EXPECT_EQ(got[2].body, "abc0123456789abcdef");
  EXPECT_FALSE(got[2].keep_alive);
}

TEST(HttpParser, ParsesSimpleGet) {
  request req;
  std::string input = "GET /a/b?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nAccept:  */* \r\n\r\n";
  parse_result result = parse_once(input, req);
  ASSERT_EQ(result.status, parse_status::complete);
  EXPECT_EQ(result.consumed, input.size());
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/a/b?q=1");
  EXPECT_EQ(req.version_minor, 1);
  ASSERT_EQ(req.headers.size(), 3u);
  EXPECT_EQ(req.find_header("HOST"), "example.com");
  EXPECT_EQ(req.find_header("x-empty"), "");
  EXPECT_EQ(req.find_header("accept"), "*/*");
  EXPECT_TRUE(req.keep_alive);
  EXPECT_TRUE(req.body.empty());
}

TEST(HttpParser, PipelineWhole) {
  std::string buffer = kPipeline;
  std::vector<parsed> got;
  parse_result last = drain(buffer, request_limits{}, got);
  EXPECT_EQ(last.status, parse_status::incomplete);
  EXPECT_TRUE(buffer.empty());
  expect_pipeline(got);
}

TEST(HttpParser, PipelineSplitAtEveryBoundary) {
  for (std::size_t split = 0; split <= kPipeline.size(); ++split) {
    SCOPED_TRACE("split at byte " + std::to_string(split));
    std::string buffer = kPipeline.substr(0, split);
    std::vector<parsed> got;
    parse_result first = drain(buffer, request_limits{}, got);
    ASSERT_EQ(first.status, parse_status::incomplete);
    buffer += kPipeline.substr(split);
    parse_result second = drain(buffer, request_limits{}, got);
    ASSERT_EQ(second.status, parse_status::incomplete);
    EXPECT_TRUE(buffer.empty());
    expect_pipeline(got);
  }
}

TEST(HttpParser, PipelineOneByteAtATime) {
  std::string buffer;
  std::vector<parsed> got;
  for (char c : kPipeline) {
    buffer += c;
    parse_result result = drain(buffer, request_limits{}, got);
    ASSERT_EQ(result.status, parse_status::incomplete) << "after " << got.size() << " requests";
  }
  EXPECT_TRUE(buffer.empty());
  expect_pipeline(got);
}

TEST(HttpParser, SkipsLeadingEmptyLines) {
  request req;
  std::string input = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  parse_result result = parse_once(input, req);
  ASSERT_EQ(result.status, parse_status::complete);
  EXPECT_EQ(result.consumed, input.size());
  EXPECT_EQ(req.target, "/");
}

TEST(HttpParser, ConnectionReuseRules) {
  struct reuse_case {
    std::string_view input;
    bool keep_alive;
  };
  const reuse_case cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
      // A higher minor version is served as HTTP/1.1.
      {"GET / HTTP/1.9\r\nHost: a\r\n\r\n", true},
  };
  for (const reuse_case& c : cases) {
    SCOPED_TRACE(std::string(c.input));
    request req;
    ASSERT_EQ(parse_once(c.input, req).status, parse_status::complete);
    EXPECT_EQ(req.keep_alive, c.keep_alive);
  }
}

TEST(HttpParser, Http10WithoutHost) {
  request req;
  ASSERT_EQ(parse_once("HEAD /x HTTP/1.0\r\n\r\n", req).status, parse_status::complete);
  EXPECT_EQ(req.version_minor, 0);
  EXPECT_EQ(req.method, "HEAD");
}

TEST(HttpParser, RejectsMalformedRequests) {
  struct malformed_case {
    std::string_view input;
    int status;
  };
  const malformed_case cases[] = {
      {"GET /\r\n\r\n", 400},                                   // HTTP/0.9 form
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},              // empty target
      {"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400},             // trailing text
      {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},               // method not a token
      {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},          // control byte in target
      {"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400},                // not HTTP
      {"GET / HTTP/11\r\nHost: a\r\n\r\n", 400},                // no dot
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},               // other major version
      {"GET / HTTP/1.1\nHost: a\n\n", 400},                     // bare LF
      {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400},         // bare CR
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},              // space before colon
      {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},    // obsolete line folding
      {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},    // no colon
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01 b\r\n\r\n", 400}, // control byte in value
      {"GET / HTTP/1.1\r\n\r\n", 400},                          // missing Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},    // two Hosts
  };
  for (const malformed_case& c : cases) {
    SCOPED_TRACE(std::string(c.input));
    request req;
    parse_result result = parse_once(c.input, req);
    ASSERT_EQ(result.status, parse_status::error);
    EXPECT_EQ(result.error_status, c.status);
    EXPECT_FALSE(result.error_detail.empty());
  }
}

TEST(HttpParser, RejectsBareLfBeforeHeadersEnd) {
  // The LF can never become part of a CRLF, so the parser rejects it without waiting.
  request req;
  parse_result result = parse_once("GET / HTTP/1.1\nHost", req);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 400);
}

TEST(HttpParser, WaitsForCrlfSplitInside) {
  request req;
  EXPECT_EQ(parse_once("GET / HTTP/1.1\r", req).status, parse_status::incomplete);
  EXPECT_EQ(parse_once("GET / HTTP/1.1\r\nHost: a\r\n\r", req).status, parse_status::incomplete);
}

TEST(HttpParser, HeaderSectionAtLimit) {
  request_limits limits;
  limits.max_header_bytes = 100;
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  std::string end = "\r\n\r\n";
  std::string exact = head + std::string(100 - head.size() - end.size(), 'v') + end;
  ASSERT_EQ(exact.size(), 100u);
  request req;
  EXPECT_EQ(parse_once(exact, req, limits).status, parse_status::complete);

  std::string over = head + std::string(101 - head.size() - end.size(), 'v') + end;
  parse_result result = parse_once(over, req, limits);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 431);
}

TEST(HttpParser, UnfinishedHeaderSectionOverLimit) {
  request_limits limits;
  std::string input = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ";
  input += std::string(limits.max_header_bytes, 'v');
  request req;
  parse_result result = parse_once(input, req, limits);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 431);

  std::string shorter = input.substr(0, limits.max_header_bytes - 1);
  EXPECT_EQ(parse_once(shorter, req, limits).status, parse_status::incomplete);
}

TEST(HttpParser, TooManyHeaderFields) {
  request_limits limits;
  limits.max_header_count = 3;
  request req;
  EXPECT_EQ(parse_once("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", req, limits).status,
            parse_status::complete);
  parse_result result =
      parse_once("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", req, limits);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 431);
}

TEST(HttpParser, ContentLengthBody) {
  request req;
  std::string input = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbodyGET";
  parse_result result = parse_once(input, req);
  ASSERT_EQ(result.status, parse_status::complete);
  EXPECT_EQ(req.body, "body");
  EXPECT_EQ(result.consumed, input.size() - 3);

  // Repeated or listed identical values are one length.
  input = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\nContent-Length: 4\r\n\r\nbody";
  ASSERT_EQ(parse_once(input, req).status, parse_status::complete);
  EXPECT_EQ(req.body, "body");
}

TEST(HttpParser, ContentLengthWaitsForBody) {
  request req;
  parse_result result = parse_once("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbo", req);
  EXPECT_EQ(result.status, parse_status::incomplete);
  EXPECT_TRUE(result.headers_complete);

  result = parse_once("POST / HTTP/1.1\r\nHost: a\r\nContent-Len", req);
  EXPECT_EQ(result.status, parse_status::incomplete);
  EXPECT_FALSE(result.headers_complete);
}

TEST(HttpParser, ExpectContinue) {
  request req;
  parse_result result = parse_once(
      "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", req);
  EXPECT_EQ(result.status, parse_status::incomplete);
  EXPECT_TRUE(result.headers_complete);
  EXPECT_TRUE(req.expect_continue);
}

TEST(HttpParser, RejectsBadFraming) {
  struct framing_case {
    std::string_view input;
    int status;
  };
  const framing_case cases[] = {
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 413},
  };
  for (const framing_case& c : cases) {
    SCOPED_TRACE(std::string(c.input));
    request req;
    parse_result result = parse_once(c.input, req);
    ASSERT_EQ(result.status, parse_status::error);
    EXPECT_EQ(result.error_status, c.status);
  }
}

TEST(HttpParser, BodyLimit) {
  request_limits limits;
  limits.max_body_bytes = 8;
  request req;
  EXPECT_EQ(parse_once("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n12345678", req, limits).status,
            parse_status::complete);

  // Rejected as soon as the header section is complete, before any body byte arrives.
  parse_result result = parse_once("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n", req, limits);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 413);

  result = parse_once("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n4\r\n", req,
                      limits);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 413);
}

TEST(HttpParser, ChunkedFramingLimit) {
  // Many empty chunk extensions carry no body bytes but still count against the limit.
  request_limits limits;
  limits.max_body_bytes = 16;
  limits.max_header_bytes = 64;
  std::string input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) input += "1;pad\r\nx\r\n";
  request req;
  parse_result result = parse_once(input, req, limits);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 413);
}

// A request that fills max_request_bytes and is still incomplete is rejected, not left
// waiting: the server's buffer has that size and could not take another byte. Here the header
// section uses its whole allowance, and an unfinished chunk-size line the rest.
TEST(HttpParser, FullBufferWithUnfinishedChunkIsRejected) {
  request_limits limits;
  std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX: ";
  head += std::string(limits.max_header_bytes - head.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(head.size(), limits.max_header_bytes);
  const std::string input =
      head + "1;" + std::string(max_request_bytes(limits) - head.size() - 2, 'e');
  request req;
  parse_result result = parse_once(input, req, limits);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 413);
}

TEST(HttpParser, RejectsBadChunks) {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string_view bodies[] = {
      "x\r\n",                  // not hex
      "3 junk\r\nabc\r\n0\r\n\r\n",  // text after the size that is not an extension
      "3\r\nabcd\r\n0\r\n\r\n",  // data longer than the size
      "0\r\nBad Trailer\r\n\r\n",    // malformed trailer field
  };
  for (std::string_view body : bodies) {
    SCOPED_TRACE(std::string(body));
    request req;
    parse_result result = parse_once(head + std::string(body), req);
    ASSERT_EQ(result.status, parse_status::error);
    EXPECT_EQ(result.error_status, 400);
  }

  request req;
  parse_result result = parse_once(head + "10000000000000000\r\n", req);
  ASSERT_EQ(result.status, parse_status::error);
  EXPECT_EQ(result.error_status, 413);
}

TEST(HttpParser, ChunkedWithLeadingZerosAndUppercaseHex) {
  request req;
  std::string input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                      "00000000000000000000A\r\n0123456789\r\n000\r\n\r\n";
  parse_result result = parse_once(input, req);
  ASSERT_EQ(result.status, parse_status::complete);
  EXPECT_EQ(result.consumed, input.size());
  EXPECT_EQ(req.body, "0123456789");
}

TEST(HttpResponse, PlaintextHead) {
  std::string out;
  httpd::response_head head;
  head.content_type = "text/plain";
  head.content_length = 13;
  httpd::append_response_head(out, head, "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nServer: goro\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Length: 13\r\nContent-Type: text/plain\r\n\r\n");
}

TEST(HttpResponse, ConnectionFields) {
  std::string out;
  httpd::response_head head;
  head.keep_alive = false;
  httpd::append_response_head(out, head, "D");
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos);

  out.clear();
  head.keep_alive = true;
  head.version_minor = 0;
  head.extra_fields = "Allow: GET, HEAD\r\n";
  httpd::append_response_head(out, head, "D");
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\nAllow: GET, HEAD\r\n\r\n"), std::string::npos);
}

TEST(HttpResponse, TextResponse) {
  std::string out;
  httpd::response_head head;
  head.status = 404;
  httpd::append_text_response(out, head, "no such file", "D", false);
  EXPECT_EQ(out,
            "HTTP/1.1 404 Not Found\r\nServer: goro\r\nDate: D\r\nContent-Length: 28\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n404 Not Found: no such file\n");

  std::string head_only;
  httpd::append_text_response(head_only, head, "no such file", "D", true);
  EXPECT_EQ(head_only, out.substr(0, out.size() - 28));
}

TEST(HttpResponse, HttpDate) {
  EXPECT_EQ(httpd::format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(httpd::format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(HttpStaticPath, ResolvesTargets) {
  struct path_case {
    std::string_view target;
    std::string_view relative;
    bool names_directory;
  };
  const path_case cases[] = {
      {"/", "", true},
      {"/index.html", "index.html", false},
      {"/a//b/./c.txt?x=../..", "a/b/c.txt", false},
      {"/dir/", "dir", true},
      {"/sp%20ace%2Fx", "sp ace/x", false},
      {"/a..b/..c", "a..b/..c", false},
      {"http://example.com/x/y", "x/y", false},
      {"http://example.com", "", true},
  };
  for (const path_case& c : cases) {
    SCOPED_TRACE(std::string(c.target));
    httpd::target_path path = httpd::resolve_target_path(c.target);
    ASSERT_EQ(path.error_status, 0) << path.error_detail;
    EXPECT_EQ(path.relative, c.relative);
    EXPECT_EQ(path.names_directory, c.names_directory);
  }
}

TEST(HttpStaticPath, RejectsTraversalAndBadEscapes) {
  struct reject_case {
    std::string_view target;
    int status;
  };
  const reject_case cases[] = {
      {"/../etc/passwd", 403},
      {"/a/../../b", 403},
      {"/a/..", 403},
      {"/%2e%2e/x", 403},
      {"/..%2fetc", 403},
      {"/a%zz", 400},
      {"/a%2", 400},
      {"/a%00b", 400},
      {"*", 400},
      {"relative/path", 400},
  };
  for (const reject_case& c : cases) {
    SCOPED_TRACE(std::string(c.target));
    httpd::target_path path = httpd::resolve_target_path(c.target);
    EXPECT_EQ(path.error_status, c.status);
  }
}

TEST(HttpStaticPath, ContentTypes) {
  EXPECT_EQ(httpd::content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(httpd::content_type_for("a/B.PNG"), "image/png");
  EXPECT_EQ(httpd::content_type_for("notes.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(httpd::content_type_for("archive.tar.gz"), "application/octet-stream");
  EXPECT_EQ(httpd::content_type_for("Makefile"), "application/octet-stream");
  EXPECT_EQ(httpd::content_type_for("dir.d/file"), "application/octet-stream");
  EXPECT_EQ(httpd::content_type_for("trailing."), "application/octet-stream");
}

}  // namespace
