#include "agent/session/redaction.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace httptrace::session {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const Redactor& Default() {
  static const Redactor* const redactor = new Redactor({}, {});
  return *redactor;
}

std::string Target(const Redactor& redactor, std::string target) {
  redactor.RedactTarget(&target);
  return target;
}

std::string Body(const Redactor& redactor, absl::string_view content_type, std::string body) {
  redactor.RedactBody(content_type, &body);
  return body;
}

TEST(Redaction, QueryParametersOnTheDefaultListAreHidden) {
  struct Case {
    std::string target;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"/reset?token=abc&email=a%40b", "/reset?token=[REDACTED]&email=a%40b"},
      {"/cb?code=4/0Ad&state=xyz", "/cb?code=[REDACTED]&state=xyz"},
      {"/m?key=AIzaSy", "/m?key=[REDACTED]"},
      {"/x?ACCESS_TOKEN=a&accessToken=b&access-token=c",
       "/x?ACCESS_TOKEN=[REDACTED]&"
       "accessToken=[REDACTED]&"
       "access-token=[REDACTED]"},
      {"/x?api_key=1&apikey=2&api-key=3&apiKey=4",
       "/x?api_key=[REDACTED]&apikey=[REDACTED]&api-key=[REDACTED]&apiKey=[REDACTED]"},
      {"/s3/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ab12&"
       "X-Amz-Security-Token=tok",
       "/s3/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&"
       "X-Amz-Security-Token=[REDACTED]"},
      {"/g?X-Goog-Signature=1&AWSAccessKeyId=2&Signature=3&sig=4",
       "/g?X-Goog-Signature=[REDACTED]&AWSAccessKeyId=[REDACTED]&Signature=[REDACTED]&"
       "sig=[REDACTED]"},
      {"/l?user=bob&password=pw&passwd=p2&pwd=p3&secret=s&client_secret=cs",
       "/l?user=bob&password=[REDACTED]&passwd=[REDACTED]&pwd=[REDACTED]&secret=[REDACTED]&"
       "client_secret=[REDACTED]"},
      {"/s?session=1&sessionid=2&session_id=3&auth=4&refresh_token=5&id_token=6",
       "/s?session=[REDACTED]&sessionid=[REDACTED]&session_id=[REDACTED]&auth=[REDACTED]&"
       "refresh_token=[REDACTED]&id_token=[REDACTED]"},
      // Endings: any *password, *token, *secret.
      {"/p?new_password=a&csrfToken=b&webhook_secret=c",
       "/p?new_password=[REDACTED]&"
       "csrfToken=[REDACTED]&"
       "webhook_secret=[REDACTED]"},
      // %-encoded and +-encoded names are decoded before they are compared.
      {"/e?%74oken=a&access%5Ftoken=b", "/e?%74oken=[REDACTED]&access%5Ftoken=[REDACTED]"},
      // The fragment, empty values, valueless names and other parameters stay.
      {"/f?token=&token&a=b#token=c", "/f?token=&token&a=b#token=c"},
      {"/f?a=1&&token=x&", "/f?a=1&&token=[REDACTED]&"},
      {"/no-query", "/no-query"},
      {"/users?id=1&name=code", "/users?id=1&name=code"},
      // Absolute form (a request to a proxy).
      {"http://h/p?token=t", "http://h/p?token=[REDACTED]"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Target(Default(), c.target), c.want) << c.target;
    EXPECT_EQ(Default().TargetHasSecret(c.target), c.target != c.want) << c.target;
  }
}

TEST(Redaction, AddedParametersAddToTheDefaults) {
  const Redactor redactor({"Ticket", "x.sess"}, {});
  EXPECT_EQ(Target(redactor, "/?ticket=1&x.sess=2&token=3&tickets=4"),
            "/?ticket=[REDACTED]&x.sess=[REDACTED]&token=[REDACTED]&tickets=4");
}

TEST(Redaction, UrlOnlyNamesAreNotBodyFields) {
  // `code`, `key`, `session` are ordinary words in bodies: error codes, map keys.
  const std::string body = R"({"code":404,"key":"color","session":{"n":1},"signature":"s"})";
  EXPECT_EQ(Body(Default(), "application/json", body), body);
  EXPECT_EQ(Body(Default(), "application/x-www-form-urlencoded", "code=1&key=2"), "code=1&key=2");
}

TEST(Redaction, FormBodyFieldsAreHidden) {
  EXPECT_EQ(Body(Default(), "application/x-www-form-urlencoded; charset=utf-8",
                 "username=bob&password=hunter2&remember=on"),
            "username=bob&password=[REDACTED]&remember=on");
  EXPECT_EQ(Body(Default(), "application/x-www-form-urlencoded",
                 "grant_type=refresh_token&refresh_token=r1&client_secret=c1&client_id=app"),
            "grant_type=refresh_token&refresh_token=[REDACTED]&client_secret=[REDACTED]&"
            "client_id=app");
  // Nested names as Rails and PHP forms write them (%-encoded brackets too).
  EXPECT_EQ(Body(Default(), "application/x-www-form-urlencoded",
                 "user[name]=bob&user[password]=p&creds%5B0%5D%5Btoken%5D=t&[token]=x"),
            "user[name]=bob&user[password]=[REDACTED]&creds%5B0%5D%5Btoken%5D=[REDACTED]&"
            "[token]=[REDACTED]");
  // Cut short by the body limit: the value as far as it goes is hidden.
  EXPECT_EQ(Body(Default(), "application/x-www-form-urlencoded", "a=1&password=hun"),
            "a=1&password=[REDACTED]");
  // Other media types are left alone.
  EXPECT_EQ(Body(Default(), "text/plain", "password=x"), "password=x");
  EXPECT_EQ(Body(Default(), "", "password=x"), "password=x");
}

TEST(Redaction, AddedBodyFieldsAddToTheDefaults) {
  const Redactor redactor({}, {"ssn"});
  EXPECT_EQ(Body(redactor, "application/json", R"({"ssn":"078-05-1120","password":"p"})"),
            R"({"ssn":"[REDACTED]","password":"[REDACTED]"})");
  EXPECT_EQ(Body(redactor, "application/x-www-form-urlencoded", "SSN=1&b=2"), "SSN=[REDACTED]&b=2");
  // A body field is not a query parameter.
  EXPECT_EQ(Target(redactor, "/?ssn=1"), "/?ssn=1");
}

TEST(Redaction, JsonMembersAreHiddenAtAnyDepthKeepingTheDocument) {
  struct Case {
    std::string in;
    std::string want;
  };
  const std::vector<Case> cases = {
      {R"({"user":"bob","password":"hunter2"})", R"({"user":"bob","password":"[REDACTED]"})"},
      {R"({"a":{"b":[{"access_token":"t1","expires_in":3600}]}})",
       R"({"a":{"b":[{"access_token":"[REDACTED]","expires_in":3600}]}})"},
      // Scalars of every kind; null hides nothing and stays.
      {R"({"pin_password": 1234, "secret": true, "token": null})",
       R"({"pin_password": "[REDACTED]", "secret": "[REDACTED]", "token": null})"},
      // An object or array value keeps its shape; every scalar in it is hidden.
      {R"({"auth":{"user":"u","pass":"p","n":[1,2,{"x":"y"}]},"ok":1})",
       R"({"auth":{"user":"[REDACTED]","pass":"[REDACTED]","n":["[REDACTED]","[REDACTED]",)"
       R"({"x":"[REDACTED]"}]},"ok":1})"},
      {R"({"token":[]})", R"({"token":[]})"},
      // Names with escapes, camelCase, and values with escaped quotes.
      {R"({"pass\u0077ord":"a\"b","apiKey":"k","refreshToken":"r"})",
       R"({"pass\u0077ord":"[REDACTED]","apiKey":"[REDACTED]","refreshToken":"[REDACTED]"})"},
      // Escaped backslashes and quotes inside strings end where they should.
      {R"({"a":"x\\","password":"p","b":"say \"hi\"","token":"t"})",
       R"({"a":"x\\","password":"[REDACTED]","b":"say \"hi\"","token":"[REDACTED]"})"},
      // A string that looks like a name but is a value, and a top-level array.
      {R"(["password", {"password" : "x" }])", R"(["password", {"password" : "[REDACTED]" }])"},
      // Layout is kept.
      {"{\n  \"secret\" :\n    \"s\",\n  \"b\": 2\n}\n",
       "{\n  \"secret\" :\n    \"[REDACTED]\",\n  \"b\": 2\n}\n"},
      // JSON lines (application/x-ndjson).
      {"{\"token\":\"a\"}\n{\"token\":\"b\"}\n",
       "{\"token\":\"[REDACTED]\"}\n{\"token\":\"[REDACTED]\"}\n"},
  };
  for (const Case& c : cases) {
    const std::string got = Body(Default(), "application/json", c.in);
    EXPECT_EQ(got, c.want) << c.in;
    if (nlohmann::json::accept(c.in)) {
      // Valid JSON in, valid JSON out, same structure (same keys, same nesting).
      ASSERT_TRUE(nlohmann::json::accept(got)) << got;
      EXPECT_EQ(nlohmann::json::parse(got).flatten().size(),
                nlohmann::json::parse(c.in).flatten().size())
          << got;
    }
  }
}

TEST(Redaction, JsonIsFoundByMediaTypeOrByItsFirstByte) {
  const std::string body = R"({"password":"p"})";
  const std::string want = R"({"password":"[REDACTED]"})";
  for (const char* type :
       {"application/json", "application/json; charset=utf-8", "application/problem+json",
        "application/vnd.api+json", "application/x-ndjson", "text/json",
        // What `curl -d '{...}'` declares, and what a client may leave out.
        "application/x-www-form-urlencoded", "text/plain", ""}) {
    EXPECT_EQ(Body(Default(), type, body), want) << type;
  }
  EXPECT_EQ(Body(Default(), "text/html", body), body);
  EXPECT_EQ(Body(Default(), "application/octet-stream", body), body);
}

// A body cut short by the body limit (or never copied whole) at every byte: no fragment of a
// secret value that was kept survives, and the rest of the text is kept.
TEST(Redaction, JsonCutAtEveryByteIsRedactedAsFarAsItGoes) {
  const std::string secret = "s3cr3t-VALUE-9f8e";
  const std::string doc = absl::StrCat(R"({"user":"bob","nested":{"client_secret":")", secret,
                                       R"(","list":[{"token":")", secret, R"("}]},"password":)",
                                       "123456789", R"(,"after":"kept"})");
  for (size_t cut = 0; cut <= doc.size(); ++cut) {
    const std::string prefix = doc.substr(0, cut);
    const std::string got = Body(Default(), "application/json", prefix);
    for (size_t n = 2; n <= secret.size(); ++n) {
      if (prefix.find(secret.substr(0, n)) == std::string::npos) continue;
      EXPECT_THAT(got, Not(HasSubstr(secret.substr(0, n)))) << "cut at " << cut;
    }
    if (prefix.find("1234") != std::string::npos) {
      EXPECT_THAT(got, Not(HasSubstr("1234"))) << "cut at " << cut;
    }
    if (prefix.find("\"user\":\"bob\"") != std::string::npos) {
      EXPECT_THAT(got, HasSubstr("\"user\":\"bob\"")) << "cut at " << cut;
    }
  }
  const std::string whole = Body(Default(), "application/json", doc);
  EXPECT_TRUE(nlohmann::json::accept(whole)) << whole;
  EXPECT_EQ(nlohmann::json::parse(whole)["after"], "kept");
}

// Malformed JSON (comments, NaN, missing quotes) is still scanned, never passed through raw.
TEST(Redaction, MalformedJsonIsStillRedacted) {
  EXPECT_EQ(Body(Default(), "application/json", R"({password: "x", "token": NaN, /* c */ })"),
            R"({password: "[REDACTED]", "token": "[REDACTED]", /* c */ })");
  EXPECT_EQ(Body(Default(), "application/json", R"({"a":}}]]"secret":"s")"),
            R"({"a":}}]]"secret":"[REDACTED]")");
}

TEST(Redaction, HasSecretAgreesWithRedact) {
  for (const std::string& body :
       {std::string(R"({"a":1})"), std::string(R"({"a":{"password":"x"}})"),
        std::string(R"({"token":null})"), std::string(R"({"password":[]})")}) {
    std::string copy = body;
    EXPECT_EQ(Default().BodyHasSecret("application/json", body),
              Default().RedactBody("application/json", &copy))
        << body;
  }
}

TEST(Redaction, NamesNormalize) {
  EXPECT_EQ(NormalizeSecretName("X-Amz-Security_Token"), "xamzsecuritytoken");
  const SecretNames names({"access_token"}, {}, {"My-Field"});
  EXPECT_TRUE(names.Matches("AccessToken"));
  EXPECT_TRUE(names.Matches("my_field"));
  EXPECT_FALSE(names.Matches("access_tokens"));
  EXPECT_FALSE(names.Matches(""));
}

}  // namespace
}  // namespace httptrace::session
