// A temporary directory for tests that need files or Unix socket paths.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace goro_test {

// Creates a fresh directory under the system's temporary directory (mkdtemp) and removes it
// with its content at the end of the scope. `prefix` starts the directory's name.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "goro-test") {
    std::filesystem::path base = std::filesystem::temp_directory_path();
    std::string pattern = (base / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() { std::filesystem::remove_all(path_); }

  const std::string& path() const { return path_; }
  // The path of `name` inside the directory.
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace goro_test
