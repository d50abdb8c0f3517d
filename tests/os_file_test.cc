// Tests for goro::os files in a temporary directory: whole-file helpers, the file class,
// stat, and errors worded like Go's *os.PathError, from goroutines (plain and migrating at
// every park) and from a thread that is not a goroutine.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "goro/os.hpp"
#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro_fixture.h"
#include "temp_dir.h"

namespace {

using goro::os::path_error;
using goro_test::scoped_env;
using goro_test::temp_dir;

class OsFile : public ::testing::TestWithParam<const char*> {
 protected:
  template <class F>
  void run(F&& main) {
    scoped_env godebug("GODEBUG", GetParam());
    scoped_env procs("GOMAXPROCS", "2");
    EXPECT_EQ(goro::run(0, nullptr, std::forward<F>(main)), 0);
  }
  temp_dir dir_;
};

INSTANTIATE_TEST_SUITE_P(Godebug, OsFile, goro_test::kGodebugValues,
                         goro_test::godebug_param_name());

TEST_P(OsFile, WriteThenReadWholeFile) {
  run([&] {
    std::string path = dir_.file("hello.txt");
    goro::os::write_file(path, "hello, file\n");
    EXPECT_EQ(goro::os::read_file(path), "hello, file\n");
    // Larger than read_file's first guess and than one read.
    std::string big(300'000, 'b');
    for (std::size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
    goro::os::write_file(path, big);
    EXPECT_TRUE(goro::os::read_file(path) == big);
    goro::os::write_file(path, "");
    EXPECT_EQ(goro::os::read_file(path), "");
  });
}

TEST_P(OsFile, ReadFileOfProcFile) {
  // /proc files report size 0 but have content.
  run([] { EXPECT_NE(goro::os::read_file("/proc/self/status").find("Name:"), std::string::npos); });
}

TEST_P(OsFile, FileReadWriteStat) {
  run([&] {
    std::string path = dir_.file("data.bin");
    goro::os::file f = goro::os::create(path);
    EXPECT_TRUE(f.is_open());
    EXPECT_EQ(f.name(), path);
    f.write("0123456789", 10);
    goro::os::file_info info = f.stat();
    EXPECT_EQ(info.name, "data.bin");
    EXPECT_EQ(info.size, 10);
    EXPECT_TRUE(info.is_regular());
    EXPECT_FALSE(info.is_directory());
    auto age = std::chrono::system_clock::now() - info.modification_time;
    EXPECT_LT(age, std::chrono::minutes(5));
    f.close();
    EXPECT_FALSE(f.is_open());

    goro::os::file r = goro::os::open(path);
    char buf[4];
    EXPECT_EQ(r.read(buf, sizeof buf), 4u);
    EXPECT_EQ(std::string(buf, 4), "0123");
    std::string rest;
    while (std::size_t n = r.read(buf, sizeof buf)) rest.append(buf, n);
    EXPECT_EQ(rest, "456789");
    EXPECT_EQ(r.read(buf, sizeof buf), 0u);

    goro::os::file again = goro::os::file::open(path);
    EXPECT_EQ(again.read(buf, sizeof buf), 4u);

    goro::os::file moved = std::move(r);
    EXPECT_FALSE(r.is_open());
    EXPECT_TRUE(moved.is_open());
  });
}

TEST_P(OsFile, OpenFileWithFlags) {
  run([&] {
    std::string path = dir_.file("append.log");
    goro::os::write_file(path, "one\n", 0600);
    EXPECT_EQ(goro::os::stat(path).mode & 0777, 0600u);
    goro::os::file f = goro::os::open_file(path, O_WRONLY | O_APPEND);
    f.write("two\n", 4);
    f.close();
    EXPECT_EQ(goro::os::read_file(path), "one\ntwo\n");
    try {
      goro::os::open_file(path, O_WRONLY | O_CREAT | O_EXCL);
      ADD_FAILURE() << "O_EXCL opened an existing file";
    } catch (const path_error& e) {
      EXPECT_EQ(e.code(), std::errc::file_exists);
      EXPECT_EQ(e.what(), "open " + path + ": file exists");
    }
  });
}

TEST_P(OsFile, ErrorsReadLikeGo) {
  run([&] {
    std::string missing = dir_.file("missing");
    try {
      goro::os::read_file(missing);
      ADD_FAILURE() << "read_file of a missing file succeeded";
    } catch (const path_error& e) {
      EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
      EXPECT_EQ(e.what(), "open " + missing + ": no such file or directory");
      EXPECT_EQ(e.op(), "open");
      EXPECT_EQ(e.path(), missing);
    }
    try {
      goro::os::stat(missing);
      ADD_FAILURE() << "stat of a missing file succeeded";
    } catch (const path_error& e) {
      EXPECT_EQ(e.what(), "stat " + missing + ": no such file or directory");
    }
    try {
      goro::os::read_file(dir_.path());
      ADD_FAILURE() << "read_file of a directory succeeded";
    } catch (const path_error& e) {
      EXPECT_EQ(e.code(), std::errc::is_a_directory);
      EXPECT_EQ(e.what(), "read " + dir_.path() + ": is a directory");
    }
    EXPECT_TRUE(goro::os::stat(dir_.path()).is_directory());

    goro::os::file f = goro::os::create(dir_.file("closed"));
    f.close();
    try {
      f.close();
      ADD_FAILURE() << "a second close succeeded";
    } catch (const path_error& e) {
      EXPECT_EQ(e.what(), "close " + dir_.file("closed") + ": file already closed");
    }
    char c;
    EXPECT_THROW(f.read(&c, 1), path_error);
    EXPECT_THROW(f.write(&c, 1), path_error);
    EXPECT_THROW(f.stat(), path_error);
  });
}

TEST_P(OsFile, ManyGoroutinesReadAtOnce) {
  run([&] {
    std::string path = dir_.file("shared.txt");
    goro::os::write_file(path, "shared content");
    constexpr int kReaders = 64;
    goro::wait_group done;
    std::atomic<int> matches{0};
    done.add(kReaders);
    for (int i = 0; i < kReaders; ++i) {
      goro::go([&] {
        if (goro::os::read_file(path) == "shared content") matches.fetch_add(1);
        done.done();
      });
    }
    done.wait();
    EXPECT_EQ(matches.load(), kReaders);
  });
}

TEST(OsFilePlainThread, WorksOutsideGoroutines) {
  temp_dir dir;
  std::string path = dir.file("plain.txt");
  goro::os::write_file(path, "plain");
  EXPECT_EQ(goro::os::read_file(path), "plain");
  EXPECT_EQ(goro::os::stat(path).size, 5);
}

}  // namespace
