#include "agent/detect/ip.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::detect {
namespace {

using ::testing::HasSubstr;

IpAddr Ip(const std::string& text) {
  absl::StatusOr<IpAddr> ip = ParseIp(text);
  EXPECT_TRUE(ip.ok()) << text << ": " << ip.status();
  return ip.value_or(IpAddr{});
}

Cidr Net(const std::string& text) {
  absl::StatusOr<Cidr> cidr = ParseCidr(text);
  EXPECT_TRUE(cidr.ok()) << text << ": " << cidr.status();
  return cidr.value_or(Cidr{});
}

TEST(IpAddrTest, ParsesV4AsMapped) {
  const IpAddr ip = Ip("203.0.113.9");
  EXPECT_TRUE(ip.IsV4Mapped());
  const std::array<uint8_t, 16> want = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9};
  EXPECT_EQ(ip.bytes, want);
  EXPECT_EQ(ip, IpAddr::V4(203, 0, 113, 9));
  EXPECT_EQ(ip.ToString(), "203.0.113.9");
}

TEST(IpAddrTest, MappedV6TextIsTheSameAddressAsV4) {
  EXPECT_EQ(Ip("::ffff:203.0.113.9"), Ip("203.0.113.9"));
  EXPECT_EQ(Ip("::ffff:cb00:7109"), Ip("203.0.113.9"));
  EXPECT_EQ(Ip("::ffff:203.0.113.9").ToString(), "203.0.113.9");
}

TEST(IpAddrTest, ParsesV6AndPrintsRfc5952) {
  const IpAddr ip = Ip("2001:0DB8:0000:0000:0000:0000:0000:0001");
  EXPECT_FALSE(ip.IsV4Mapped());
  EXPECT_EQ(ip.bytes[0], 0x20);
  EXPECT_EQ(ip.bytes[1], 0x01);
  EXPECT_EQ(ip.bytes[15], 0x01);
  EXPECT_EQ(ip.ToString(), "2001:db8::1");
  EXPECT_EQ(Ip("2001:db8:0:1:1:1:1:1").ToString(), "2001:db8:0:1:1:1:1:1");
  EXPECT_EQ(Ip("2001:db8:0:0:1:0:0:1").ToString(), "2001:db8::1:0:0:1");
  EXPECT_EQ(Ip("::").ToString(), "::");
  EXPECT_EQ(Ip("::1").ToString(), "::1");
}

TEST(IpAddrTest, RejectsGarbage) {
  for (const std::string& text :
       std::vector<std::string>{"", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.256", "01.2.3.4",
                                "1.2.3.4/32", "fe80::1%eth0", "2001:db8:::1", "host.example",
                                "::ffff:1.2.3.4.5", std::string("1.2.3.4\0x", 9)}) {
    absl::StatusOr<IpAddr> ip = ParseIp(text);
    EXPECT_FALSE(ip.ok()) << "accepted \"" << text << "\"";
  }
  EXPECT_THAT(std::string(ParseIp("nope").status().message()), HasSubstr("\"nope\""));
}

TEST(IpAddrTest, MaskPrefix) {
  EXPECT_EQ(MaskPrefix(Ip("10.1.2.3"), 96 + 8), Ip("10.0.0.0"));
  EXPECT_EQ(MaskPrefix(Ip("10.255.2.3"), 96 + 9), Ip("10.128.0.0"));
  EXPECT_EQ(MaskPrefix(Ip("10.1.2.3"), 128), Ip("10.1.2.3"));
  EXPECT_EQ(MaskPrefix(Ip("2001:db8:ffff::1"), 36), Ip("2001:db8:f000::"));
  EXPECT_EQ(MaskPrefix(Ip("2001:db8::1"), 0), Ip("::"));
}

TEST(CidrTest, ParsesV4) {
  const Cidr c = Net("10.0.0.0/8");
  EXPECT_TRUE(c.v4);
  EXPECT_EQ(c.prefix_len, 104);
  EXPECT_EQ(c.base, Ip("10.0.0.0"));
  EXPECT_EQ(c.ToString(), "10.0.0.0/8");
  EXPECT_EQ(Net("0.0.0.0/0").prefix_len, 96);
  EXPECT_EQ(Net("0.0.0.0/0").ToString(), "0.0.0.0/0");
}

TEST(CidrTest, BareAddressIsAHostPrefix) {
  const Cidr v4 = Net("192.0.2.7");
  EXPECT_TRUE(v4.v4);
  EXPECT_EQ(v4.prefix_len, 128);
  EXPECT_EQ(v4.ToString(), "192.0.2.7/32");
  const Cidr v6 = Net("2001:db8::7");
  EXPECT_FALSE(v6.v4);
  EXPECT_EQ(v6.prefix_len, 128);
  EXPECT_EQ(v6.ToString(), "2001:db8::7/128");
}

TEST(CidrTest, ParsesV6) {
  const Cidr c = Net("2001:db8::/32");
  EXPECT_FALSE(c.v4);
  EXPECT_EQ(c.prefix_len, 32);
  EXPECT_EQ(c.ToString(), "2001:db8::/32");
  EXPECT_EQ(Net("::/0").ToString(), "::/0");
  EXPECT_EQ(Net("::ffff:0:0/96").ToString(), "::ffff:0.0.0.0/96");
  EXPECT_EQ(Net("::ffff:10.0.0.0/104").ToString(), "::ffff:10.0.0.0/104");
}

TEST(CidrTest, RejectsHostBitsWithASuggestion) {
  absl::StatusOr<Cidr> c = ParseCidr("10.0.0.1/8");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "host bits set in 10.0.0.1/8 (did you mean 10.0.0.0/8?)");
  c = ParseCidr("2001:db8::1/32");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "host bits set in 2001:db8::1/32 (did you mean 2001:db8::/32?)");
}

TEST(CidrTest, RejectsBadPrefixAndGarbage) {
  for (const std::string& text : std::vector<std::string>{
           "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/", "10.0.0.0/ 8", "10.0.0.0/8x",
           "10.0.0.0/0008", "2001:db8::/129", "::/1000", "/8", "10.0.0.0/8/8", "garbage",
           "10.0.0/8", std::string("10.0.0.0/8\0", 11)}) {
    EXPECT_FALSE(ParseCidr(text).ok()) << "accepted \"" << text << "\"";
  }
  EXPECT_EQ(ParseCidr("10.0.0.0/33").status().message(),
            "invalid CIDR \"10.0.0.0/33\": prefix length must be a number 0..32");
  EXPECT_EQ(ParseCidr("garbage").status().message(),
            "invalid CIDR \"garbage\": \"garbage\" is not an IPv4 address");
}

TEST(CidrTest, V4ContainsMappedAddressesOnly) {
  const Cidr c = Net("10.20.0.0/16");
  EXPECT_TRUE(c.Contains(Ip("10.20.0.0")));
  EXPECT_TRUE(c.Contains(Ip("10.20.255.255")));
  EXPECT_TRUE(c.Contains(Ip("::ffff:10.20.1.1")));
  EXPECT_FALSE(c.Contains(Ip("10.19.255.255")));
  EXPECT_FALSE(c.Contains(Ip("10.21.0.0")));
  // The same low 32 bits in a non-mapped v6 address are a different host.
  EXPECT_FALSE(c.Contains(Ip("::a14:101")));
  EXPECT_FALSE(Net("0.0.0.0/0").Contains(Ip("2001:db8::1")));
  EXPECT_TRUE(Net("0.0.0.0/0").Contains(Ip("198.51.100.1")));
}

TEST(CidrTest, V6MappedRangeContainsAllV4) {
  const Cidr mapped = Net("::ffff:0:0/96");
  EXPECT_TRUE(mapped.Contains(Ip("0.0.0.0")));
  EXPECT_TRUE(mapped.Contains(Ip("255.255.255.255")));
  EXPECT_FALSE(mapped.Contains(Ip("2001:db8::1")));
  EXPECT_TRUE(Net("::/0").Contains(Ip("192.0.2.1")));
  EXPECT_TRUE(Net("::/0").Contains(Ip("2001:db8::1")));
}

TEST(CidrTest, ContainsHonoursPrefixEdges) {
  const Cidr c = Net("2001:db8:1::/48");
  EXPECT_TRUE(c.Contains(Ip("2001:db8:1::")));
  EXPECT_TRUE(c.Contains(Ip("2001:db8:1:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(c.Contains(Ip("2001:db8:0:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(c.Contains(Ip("2001:db8:2::")));
  const Cidr host = Net("2001:db8::5/128");
  EXPECT_TRUE(host.Contains(Ip("2001:db8::5")));
  EXPECT_FALSE(host.Contains(Ip("2001:db8::4")));
  EXPECT_FALSE(host.Contains(Ip("2001:db8::6")));
}

TEST(IsLoopbackTest, V4RangeAndV6One) {
  EXPECT_TRUE(IsLoopback(Ip("127.0.0.1")));
  EXPECT_TRUE(IsLoopback(Ip("127.255.255.254")));
  EXPECT_TRUE(IsLoopback(Ip("::ffff:127.0.0.53")));
  EXPECT_TRUE(IsLoopback(Ip("::1")));
  EXPECT_FALSE(IsLoopback(Ip("128.0.0.1")));
  EXPECT_FALSE(IsLoopback(Ip("126.255.255.255")));
  EXPECT_FALSE(IsLoopback(Ip("::2")));
  EXPECT_FALSE(IsLoopback(Ip("::")));
  EXPECT_FALSE(IsLoopback(Ip("::7f00:1")));  // not v4-mapped: not the v4 loopback
}

}  // namespace
}  // namespace sluice::detect
