# The HTTP/1.1 parser and response writer of examples/httpd: plain code over byte buffers,
# built into the httpd program and into tests/httpd_parser_test.
set(GORO_HTTPD_PROTOCOL_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/request_parser.cc
  ${CMAKE_CURRENT_LIST_DIR}/response_writer.cc
  ${CMAKE_CURRENT_LIST_DIR}/static_path.cc)
set(GORO_HTTPD_PROTOCOL_DIR ${CMAKE_CURRENT_LIST_DIR})
