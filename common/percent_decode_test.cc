#include "common/percent_decode.h"

#include "gtest/gtest.h"

namespace httptrace {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndKeepsWhatIsNotOne) {
  EXPECT_EQ(PercentDecode("no%20such%20user%3A%20%E2%9C%93"), "no such user: \xE2\x9C\x93");
  EXPECT_EQ(PercentDecode("bad %zz, %+1 and end %4"), "bad %zz, %+1 and end %4");
  EXPECT_EQ(PercentDecode("%41%4a%4A"), "AJJ");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode(""), "");
}

TEST(FormDecodeTest, PlusIsASpace) {
  EXPECT_EQ(FormDecode("user%5Bpassword%5D=a+b%2Bc"), "user[password]=a b+c");
  EXPECT_EQ(FormDecode("%"), "%");
}

}  // namespace
}  // namespace httptrace
