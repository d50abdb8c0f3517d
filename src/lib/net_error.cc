// goro::net's error category and op_error, whose what() follows Go's *net.OpError.Error().
#include <string>

#include "goro/net.hpp"
#include "lib/error_text.h"

namespace goro::net {

namespace {

class net_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "goro.net"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::closed:
        return "use of closed network connection";
      case errc::timeout:
        return "i/o timeout";
      case errc::no_such_host:
        return "no such host";
      case errc::invalid_address:
        return "invalid address";
      case errc::unknown_network:
        return "unknown network";
      case errc::unknown_port:
        return "unknown port";
      case errc::temporary_lookup_failure:
        return "temporary failure in name resolution";
    }
    return "unknown goro.net error " + std::to_string(value);
  }

  // Lets callers test `ec == std::errc::timed_out` without knowing goro's category.
  std::error_condition default_error_condition(int value) const noexcept override {
    if (static_cast<errc>(value) == errc::timeout) return std::errc::timed_out;
    return {value, *this};
  }
};

}  // namespace

const std::error_category& net_category() noexcept {
  static const net_error_category category;
  return category;
}

op_error::op_error(std::error_code cause, std::string op, std::string network,
                   net::addr source, net::addr destination, std::string detail,
                   std::string reason)
    : std::system_error(cause),
      op_(std::move(op)),
      net_(std::move(network)),
      source_(std::move(source)),
      addr_(std::move(destination)),
      detail_(std::move(detail)) {
  // "op net source->addr: detail: reason", leaving out the parts that are empty.
  std::string head = op_;
  auto append_word = [&head](const std::string& word) {
    if (word.empty()) return;
    if (!head.empty()) head += ' ';
    head += word;
  };
  append_word(net_);
  std::string from = source_.to_string();
  std::string to = addr_.to_string();
  if (!from.empty() && !to.empty()) {
    append_word(from + "->" + to);
  } else {
    append_word(from.empty() ? to : from);
  }

  message_ = head;
  if (!message_.empty()) message_ += ": ";
  if (!detail_.empty()) message_ += detail_ + ": ";
  message_ += reason.empty() ? rt::go_error_text(cause) : reason;
}

op_error::~op_error() = default;

}  // namespace goro::net
