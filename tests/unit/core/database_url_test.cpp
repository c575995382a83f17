#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "repokit/database_url.hpp"
#include "repokit/dialect.hpp"
#include "repokit/error.hpp"

namespace {

using repokit::database_url;
using repokit::dialect;
using parameter_list = std::vector<std::pair<std::string, std::string>>;

database_url parse_ok(std::string_view url) {
  auto parsed = database_url::parse(url);
  INFO("URL: " << url);
  if (!parsed) FAIL("refused: " << parsed.error().describe());
  return std::move(parsed).value();
}

// The message of the configuration error the URL must be refused with. Called outside any
// assertion macro: its FAIL would otherwise surface as an unexpected exception.
std::string parse_error(std::string_view url) {
  auto parsed = database_url::parse(url);
  INFO("URL: '" << url << "'");
  if (parsed) FAIL("accepted: " << parsed.value().masked());
  CHECK(parsed.error().kind == repokit::errc::configuration);
  return parsed.error().message;
}

}  // namespace

TEST_CASE("An SQLite URL with three slashes names a relative path", "[url]") {
  const database_url url = parse_ok("sqlite:///relative.db");
  CHECK(url.kind == dialect::sqlite);
  CHECK(url.path == "relative.db");
  CHECK_FALSE(url.in_memory());
  CHECK(url.hosts.empty());
  CHECK(url.masked() == "sqlite:///relative.db");

  CHECK(parse_ok("sqlite:///data/app.db").path == "data/app.db");
}

TEST_CASE("An SQLite URL with four slashes names an absolute path", "[url]") {
  const database_url url = parse_ok("sqlite:////abs/x.db");
  CHECK(url.path == "/abs/x.db");
  CHECK(url.masked() == "sqlite:////abs/x.db");
}

TEST_CASE("Both spellings of an SQLite memory URL give an in-memory database", "[url]") {
  const std::string text = GENERATE(as<std::string>{}, "sqlite::memory:", "sqlite:///:memory:");
  const database_url url = parse_ok(text);
  CHECK(url.kind == dialect::sqlite);
  CHECK(url.in_memory());
  CHECK(url.path == ":memory:");
  CHECK(url.masked() == "sqlite::memory:");
}

TEST_CASE("An SQLite path is percent-decoded", "[url]") {
  CHECK(parse_ok("sqlite:///my%20data/caf%C3%A9.db").path == "my data/café.db");
  CHECK(parse_ok("sqlite:///a%2fb.db").path == "a/b.db");  // lower-case hex digits too
}

TEST_CASE("A PostgreSQL URL yields its user, password, host, port, database and parameters",
          "[url]") {
  // %40 is an escaped '@'; the unescaped one in the password is kept because the last '@'
  // ends the credentials.
  const database_url url = parse_ok(
      "postgresql://app%20user:p%40ss@word@db.example.com:6543/video%20db"
      "?sslmode=require&application_name=my%20app%26co");
  CHECK(url.kind == dialect::postgresql);
  CHECK(url.user == "app user");
  CHECK(url.password == "p@ss@word");
  REQUIRE(url.hosts.size() == 1);
  CHECK(url.hosts[0].host == "db.example.com");
  CHECK(url.hosts[0].port == 6543);
  CHECK(url.database == "video db");
  CHECK(url.parameters ==
        parameter_list{{"sslmode", "require"}, {"application_name", "my app&co"}});
  CHECK(url.path.empty());
  CHECK_FALSE(url.in_memory());
}

TEST_CASE("postgres:// is PostgreSQL too and defaults to port 5432", "[url]") {
  const database_url url = parse_ok("postgres://localhost/app");
  CHECK(url.kind == dialect::postgresql);
  CHECK(url.user.empty());
  CHECK(url.password.empty());
  REQUIRE(url.hosts.size() == 1);
  CHECK(url.hosts[0].host == "localhost");
  CHECK(url.hosts[0].port == 5432);
  CHECK(url.database == "app");
  CHECK(url.parameters.empty());
}

TEST_CASE("A password may contain a colon: only the first one ends the user name", "[url]") {
  const database_url url = parse_ok("postgresql://bob:a:b:c@h/db");
  CHECK(url.user == "bob");
  CHECK(url.password == "a:b:c");
}

TEST_CASE("A user without a password is kept", "[url]") {
  const database_url url = parse_ok("postgresql://bob@h:5433/db");
  CHECK(url.user == "bob");
  CHECK(url.password.empty());
  CHECK(url.masked() == "postgresql://bob@h:5433/db");
}

TEST_CASE("mysql:// and mariadb:// are MySQL and default to port 3306", "[url]") {
  const std::string scheme = GENERATE(as<std::string>{}, "mysql", "mariadb");
  const database_url url = parse_ok(scheme + "://u:p@db.local/shop");
  CHECK(url.kind == dialect::mariadb);
  REQUIRE(url.hosts.size() == 1);
  CHECK(url.hosts[0].host == "db.local");
  CHECK(url.hosts[0].port == 3306);
  CHECK(url.database == "shop");
}

TEST_CASE("A cluster URL lists several hosts, each with its own or the default port", "[url]") {
  const database_url url = parse_ok("mysql://u:p@h1:1,h2:2,h3/db");
  REQUIRE(url.hosts.size() == 3);
  CHECK(url.hosts[0].host == "h1");
  CHECK(url.hosts[0].port == 1);
  CHECK(url.hosts[1].host == "h2");
  CHECK(url.hosts[1].port == 2);
  CHECK(url.hosts[2].host == "h3");
  CHECK(url.hosts[2].port == 3306);
  CHECK(url.masked() == "mysql://u:***@h1:1,h2:2,h3:3306/db");
}

TEST_CASE("An IPv6 host is written in brackets, with or without a port", "[url]") {
  const database_url with_port = parse_ok("postgresql://u@[::1]:5432/db");
  REQUIRE(with_port.hosts.size() == 1);
  CHECK(with_port.hosts[0].host == "::1");
  CHECK(with_port.hosts[0].port == 5432);

  const database_url without_port = parse_ok("postgresql://[fe80::1]/db");
  REQUIRE(without_port.hosts.size() == 1);
  CHECK(without_port.hosts[0].host == "fe80::1");
  CHECK(without_port.hosts[0].port == 5432);
}

TEST_CASE("The masked form of an IPv6 URL keeps the host in brackets", "[url]") {
  // Without them "::1:5432" reads as host "::1:5432" or port 5432 of "::1" alike.
  CHECK(parse_ok("postgresql://u:pw@[::1]:5432/db").masked() == "postgresql://u:***@[::1]:5432/db");
}

TEST_CASE("Malformed URLs are refused with a configuration error that says what is wrong",
          "[url]") {
  const auto [url, reason] = GENERATE(table<std::string, std::string>({
      {"", "empty database URL"},
      {"http://x", "unknown scheme"},
      {"postgresql:/h/db", "unknown scheme"},
      {"sqlite:relative.db", "expected sqlite:///"},
      {"sqlite:/relative.db", "expected sqlite:///"},
      {"sqlite:///", "names no database file"},
      {"sqlite:///data/", "names no database file"},
      {"sqlite:///app.db?mode=ro", "take no parameters"},
      {"sqlite:///a%zz.db", "bad %-escape in the path"},
      {"sqlite:///a\"b.db", "contains '\"'"},
      {"sqlite:///a%22b.db", "contains '\"'"},
      {"postgresql://u:p@host", "database name is missing"},
      {"postgresql://u:p@host/", "database name is missing"},
      {"postgresql://u:p@host/?sslmode=require", "database name is missing"},
      {"postgresql://u:p@/db", "host is missing"},
      {"postgresql:///db", "host is missing"},
      {"postgresql://:5432/db", "host is missing"},
      {"mysql://u:p@h1:1,/db", "a host is missing after ','"},
      {"postgresql://[::1/db", "unclosed '['"},
      {"postgresql://[::1]5432/db", "unexpected text after ']'"},
      {"postgresql://h:0/db", "port must be a number from 1 to 65535"},
      {"postgresql://h:70000/db", "port must be a number from 1 to 65535"},
      {"postgresql://h:abc/db", "port must be a number from 1 to 65535"},
      {"postgresql://h:54x/db", "port must be a number from 1 to 65535"},
      {"postgresql://h:-1/db", "port must be a number from 1 to 65535"},
      {"postgresql://u:p%zz@h/db", "bad %-escape in the password"},
      {"postgresql://u%g1:p@h/db", "bad %-escape in the user name"},
      {"postgresql://h/db%4", "truncated %-escape in the database name"},
      {"postgresql://h/db%", "truncated %-escape in the database name"},
      {"postgresql://h/db?sslmode=%4", "truncated %-escape in the parameter value"},
      {"postgresql://h/db?sslmode", "name=value"},
      {"postgresql://h/db?=require", "name=value"},
      {"postgresql://h/db?sslmode=bogus", "sslmode must be one of disable, allow, prefer"},
      {"postgresql://h/db?target_session_attrs=any2", "target_session_attrs must be one of"},
      {"postgresql://h/db?connect_timeout=1s", "connect_timeout must be a whole number"},
      {"mysql://h/db?read_timeout=", "read_timeout must be a whole number"},
  }));
  const std::string message = parse_error(url);
  CHECK_THAT(message, Catch::Contains(reason));
}

TEST_CASE("A %-escape must be two hex digits, not a signed number", "[url]") {
  // std::from_chars accepts a leading '-': "%-1" must not decode to the byte 0xFF.
  const std::string url =
      GENERATE(as<std::string>{}, "postgresql://u:p%-1@h/db", "sqlite:///a%-1.db");
  const std::string message = parse_error(url);
  CHECK_THAT(message, Catch::Contains("bad %-escape"));
}

TEST_CASE("A NUL byte anywhere in the URL is refused", "[url]") {
  using namespace std::string_literals;
  const std::string url = GENERATE("sqlite:///a\0b.db"s, "postgresql://u:p@h/d\0b"s,
                                   "postgresql://u:p\0w@h/db"s, "\0"s);
  const std::string message = parse_error(url);
  CHECK_THAT(message, Catch::Contains("NUL"));
}

TEST_CASE("A percent-encoded NUL byte is refused in every decoded part", "[url]") {
  // PostgreSQL and the C connection strings end at a NUL: the part after it would vanish.
  const std::string url = GENERATE(as<std::string>{}, "sqlite:///a%00b.db",
                                   "postgresql://u:p%00w@h/db", "postgresql://u%00x:p@h/db",
                                   "postgresql://h/d%00b", "postgresql://h/db?sslmode=re%00quire");
  const std::string message = parse_error(url);
  CHECK_THAT(message, Catch::Contains("NUL"));
}

TEST_CASE("masked() replaces the password and keeps the rest of the URL", "[url]") {
  const database_url url =
      parse_ok("postgresql://alice:s3cr%3At@db.example.com:6543/app?sslmode=require");
  const std::string masked = url.masked();
  CHECK(masked == "postgresql://alice:***@db.example.com:6543/app?sslmode=require");
  CHECK(masked.find("s3cr") == std::string::npos);

  // A password with an unescaped '@' is masked whole.
  const std::string at_sign = parse_ok("mysql://root:p@ss@h/db").masked();
  CHECK(at_sign == "mysql://root:***@h:3306/db");
  CHECK(at_sign.find("p@ss") == std::string::npos);
}

TEST_CASE("masked() hides the value of a parameter that carries a password", "[url]") {
  // Database::open refuses such a parameter, but code holding a parsed URL may print it.
  const database_url url =
      parse_ok("postgresql://h/db?sslmode=require&password=hunter2&sslpassword=k3y");
  CHECK(url.masked() == "postgresql://h:5432/db?sslmode=require&password=***&sslpassword=***");
}

TEST_CASE("mask_password hides the password of every URL quoted in a text", "[url]") {
  CHECK(repokit::mask_password("could not connect to postgresql://u:secret@h/db (refused)") ==
        "could not connect to postgresql://u:***@h/db (refused)");

  const std::string two = repokit::mask_password(
      "primary 'postgresql://a:first@h1/db', replica 'mysql://b:second@h2:3306/db'");
  CHECK(two.find("first") == std::string::npos);
  CHECK(two.find("second") == std::string::npos);
  CHECK_THAT(two, Catch::Contains("postgresql://a:***@h1/db") &&
                      Catch::Contains("mysql://b:***@h2:3306/db"));

  const std::string at_sign = repokit::mask_password("postgresql://u:p@ss@h/db");
  CHECK(at_sign == "postgresql://u:***@h/db");
}

TEST_CASE("mask_password hides a password with a '/' that the parser accepts", "[url]") {
  // Generated (base64) passwords hold '/'; parse() reads up to the last '@', so must the mask.
  const std::string url = "postgresql://app:Zm9v/YmFy@db.example.com/app";
  CHECK(parse_ok(url).password == "Zm9v/YmFy");
  const std::string masked = repokit::mask_password("could not connect to " + url + " (refused)");
  CHECK(masked == "could not connect to postgresql://app:***@db.example.com/app (refused)");
  CHECK(masked.find("YmFy") == std::string::npos);
}

TEST_CASE("mask_password leaves text without a password unchanged", "[url]") {
  for (const std::string_view text :
       {"", "no URL here", "postgresql://u@h/db", "postgresql://h:5432/db", "sqlite:///app.db",
        "mail me at bob@example.com about postgresql://h/db"}) {
    CHECK(repokit::mask_password(text) == text);
  }
}

TEST_CASE("An error about a bad URL never quotes its password", "[url]") {
  // Typical slips in real URLs: a bad port, a missing part, a mistyped scheme, a generated
  // (base64) password with an unescaped '/' or '+', a space.
  const std::string url = GENERATE(
      as<std::string>{}, "postgresql://admin:hunter2@db.example.com:abc/app",
      "postgresql://admin:hunter2@/app", "postgresql://admin:hunter2@db.example.com",
      "postgresql://admin:hunter2@h/app?sslmode", "postgresql://admin:hunter2%zz@h/app",
      "mysql://admin:hunter2@h1,/app", "postgresq://admin:hunter2@h/app",
      "postgresql:/admin:hunter2@h/app", "postgresql://admin:hunter2/x+y@db.example.com:abc/app",
      "postgresql://admin:hunter2 x@h:port/app");
  INFO("URL: " << url);
  const auto parsed = database_url::parse(url);
  REQUIRE_FALSE(parsed);
  CHECK_THAT(parsed.error().message, !Catch::Contains("hunter2"));
  CHECK_THAT(parsed.error().describe(), !Catch::Contains("hunter2"));
}

TEST_CASE("mask_password hides the password of the keyword form, quoted or not", "[url]") {
  const auto [text, secret] = GENERATE(table<std::string, std::string>({
      {"user=u password=s3cret host=h", "s3cret"},
      {"host=h password='two words' dbname=d", "two words"},
      {"host=h password = 'it\\'s' dbname=d", "it\\'s"},
      {"db=d PASSWORD=Upper user=u", "Upper"},
      {"user=u pass=p4ss host=h", "p4ss"},
      {"connect to postgresql://h/db?password=inquery&sslmode=require", "inquery"},
  }));
  const std::string masked = repokit::mask_password(text);
  CHECK(masked.find(secret) == std::string::npos);
  CHECK_THAT(masked, Catch::Contains("***"));
}

TEST_CASE("mask_password leaves keys that only end in 'password' alone", "[url]") {
  CHECK(repokit::mask_password("old_password_hint=x user=u") == "old_password_hint=x user=u");
  CHECK(repokit::mask_password("no password was supplied") == "no password was supplied");
}

TEST_CASE("A connection string in keyword form is refused without quoting its password", "[url]") {
  const std::string message = parse_error("host=h user=u password=s3cret dbname=d");
  CHECK_THAT(message, Catch::Contains("invalid database URL"));
  CHECK(message.find("s3cret") == std::string::npos);
}
