// file_sink: profile and trace files written with open(2) and write(2); see output_sink.h.
#include "runtime/trace/output_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace goro::rt {

std::unique_ptr<file_sink> file_sink::create(const std::string& path, int& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    error = errno;
    return nullptr;
  }
  return std::unique_ptr<file_sink>(new file_sink(fd));
}

file_sink::~file_sink() {
  if (fd_ >= 0) ::close(fd_);
}

bool file_sink::write(const char* data, std::size_t size) {
  while (size > 0 && !failed_) {
    ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = true;
      break;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return !failed_;
}

bool file_sink::finish() {
  if (fd_ >= 0) {
    // close(2) can report a delayed write error (NFS, a full disk with delayed allocation).
    if (::close(fd_) != 0) failed_ = true;
    fd_ = -1;
  }
  return !failed_;
}

}  // namespace goro::rt
