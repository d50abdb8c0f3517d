// Making sure file descriptors 0, 1 and 2 are open before the program runs (Go 1.22+ checkfds).
//
// Model: a program started with stdin, stdout or stderr closed would hand out that number to
// the next open() or socket(), and a later printf or error message would then write into a
// file or a connection. So, as Go does for every Unix program since 1.22, each of fds 0-2 is
// probed with fcntl(F_GETFD) and a closed one (EBADF) is re-opened on /dev/null with O_RDWR.
// If that fails, the runtime prints Go's message and exits with status 2.
//
// Must run while the process has a single thread: otherwise another thread's open() could take
// the free descriptor between the probe and the re-open.
#pragma once

namespace goro::rt::os {

// Checks fds 0, 1 and 2 and re-opens each closed one on `null_device` (a parameter so that
// tests can exercise the failure path). On failure writes
//   runtime: standard file descriptor N closed, unable to open /dev/null, errno=E
//   fatal error: cannot open standard fds
// to fd 2 and calls _exit(2). An fcntl error other than EBADF is reported the same way with
// "runtime: unexpected error while checking standard file descriptor N, errno=E".
void checkfds(const char* null_device = "/dev/null");

}  // namespace goro::rt::os
