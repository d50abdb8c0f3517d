// Error texts in Go's spelling, shared by goro::net and goro::os.
#pragma once

#include <cctype>
#include <string>
#include <system_error>

namespace goro::rt {

// Returns the message of `ec`. An OS error's strerror text starts lower-case, as in Go's
// table ("connection refused" where glibc writes "Connection refused"). A leading acronym
// keeps its case.
inline std::string go_error_text(std::error_code ec) {
  std::string text = ec.message();
  bool os_error =
      ec.category() == std::system_category() || ec.category() == std::generic_category();
  if (os_error && text.size() > 1 && std::isupper(static_cast<unsigned char>(text[0])) &&
      std::islower(static_cast<unsigned char>(text[1]))) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

}  // namespace goro::rt
