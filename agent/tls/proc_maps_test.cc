#include "agent/tls/proc_maps.h"

#include <sys/sysmacros.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::tls {
namespace {

TEST(ParseMapsTest, KeepsExecutableFilesOnceEach) {
  const char* maps =
      "55d0c0000000-55d0c0001000 r--p 00000000 08:01 100 /usr/bin/curl\n"
      "55d0c0001000-55d0c0002000 r-xp 00001000 08:01 100 /usr/bin/curl\n"
      "7f0000000000-7f0000100000 r-xp 00000000 fd:02 2345   /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f0000100000-7f0000200000 r-xp 00100000 fd:02 2345   /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 \n"
      "7f0000300000-7f0000400000 r-xp 00000000 08:01 77 /tmp/gone.so (deleted)\n"
      "7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                  [vdso]\n"
      "garbage line\n"
      "7f0000500000-7f0000600000 r-xp 00000000 08:01 88 /opt/my lib/libgnutls.so.30\n";
  std::vector<MappedFile> files = ParseMaps(maps);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].path, "/usr/bin/curl");
  EXPECT_EQ(files[0].id, (FileId{makedev(8, 1), 100}));
  EXPECT_EQ(files[1].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(files[1].id, (FileId{makedev(0xfd, 2), 2345}));
  EXPECT_EQ(files[2].path, "/opt/my lib/libgnutls.so.30");
}

TEST(LibraryKindOfTest, ByFileName) {
  EXPECT_EQ(LibraryKindOf("/usr/lib/x86_64-linux-gnu/libssl.so.3"), LibraryKind::kOpenssl);
  EXPECT_EQ(LibraryKindOf("/lib/libssl.so.1.1"), LibraryKind::kOpenssl);
  // Debian's BoringSSL (android-libboringssl): OpenSSL's API, probed the same way.
  EXPECT_EQ(LibraryKindOf("/usr/lib/x86_64-linux-gnu/android/libssl.so.0"), LibraryKind::kOpenssl);
  EXPECT_EQ(LibraryKindOf("/usr/lib/x86_64-linux-gnu/libgnutls.so.30"), LibraryKind::kGnutls);
  EXPECT_EQ(LibraryKindOf("/usr/lib/x86_64-linux-gnu/libcrypto.so.3"), LibraryKind::kNone);
  EXPECT_EQ(LibraryKindOf("/usr/lib/libssl3.so"), LibraryKind::kNone);  // NSS, not OpenSSL
  EXPECT_EQ(LibraryKindOf("libssl.so"), LibraryKind::kOpenssl);
}

}  // namespace
}  // namespace httptrace::tls
