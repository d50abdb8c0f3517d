#include "runtime/os/checkfds.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "runtime/os/raw_syscall.h"
#include "runtime/trace/print.h"

namespace goro::rt::os {
namespace {

constexpr int kStandardFdCount = 3;  // stdin, stdout, stderr

// Writes "<prefix><fd><middle><error>" and Go's fatal line, then exits with status 2.
[[noreturn]] void fail(const char* prefix, int fd, const char* middle, int error) {
  stack_line<160> detail;
  detail.str(prefix).dec(fd).str(middle).dec(error).chr('\n').flush(2);
  write_all("fatal error: cannot open standard fds\n", 2);
  _exit(2);
}

[[noreturn]] void fail_reopen(int fd, int error) {
  fail("runtime: standard file descriptor ", fd, " closed, unable to open /dev/null, errno=",
       error);
}

}  // namespace

void checkfds(const char* null_device) {
  for (int fd = 0; fd < kStandardFdCount; ++fd) {
    long flags = raw_syscall(SYS_fcntl, fd, F_GETFD);
    if (flags >= 0) continue;
    if (flags != -EBADF) {
      fail("runtime: unexpected error while checking standard file descriptor ", fd,
           ", errno=", static_cast<int>(-flags));
    }

    // Not O_CLOEXEC: the standard descriptors are meant to reach child processes.
    int opened;
    do {
      opened = ::open(null_device, O_RDWR);
    } while (opened < 0 && errno == EINTR);
    if (opened < 0) fail_reopen(fd, errno);

    // open() returns the lowest free descriptor, which is `fd` because the lower ones were
    // checked first. Move it there in case another thread broke the single-thread rule.
    if (opened != fd) {
      int moved;
      do {
        moved = ::dup2(opened, fd);
      } while (moved < 0 && errno == EINTR);
      int dup_error = errno;
      ::close(opened);
      if (moved < 0) fail_reopen(fd, dup_error);
    }
  }
}

}  // namespace goro::rt::os
