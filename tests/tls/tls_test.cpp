// TLS on the wire, against the servers tests/tls/run.sh starts with certificates of its own test
// CA: a verified connection works; a server certificate from another CA is a configuration error,
// refused at once instead of retried; an account that requires a client certificate is refused
// without one and accepted with it. Fails, never skips, without run.sh's environment.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "repokit/repokit.hpp"

using namespace repokit;

namespace {

std::string from_environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    FAIL(name << " is not set: run this program through tests/tls/run.sh");
  }
  return value;
}

std::string cert(const std::string& file) {
  return from_environment("REPOKIT_TLS_CERTS") + "/" + file;
}

std::string with(const std::string& url, const std::string& parameters) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + parameters;
}

struct answer {
  result<std::string> text;
  std::uint64_t retries = 0;
};

// One unit on a new Database at `url`, reading one text value; with its retries counted.
answer read_text(const std::string& url, const std::string& sql) {
  auto db = Database::open(url);
  REQUIRE(db);  // connections are opened by the first unit, not here
  const auto reading = query<std::string()>::from_runtime_sql("tls probe", {.sql = sql}).value();
  answer out{run_unit(db.value(),
                      [&](UnitOfWork& unit) -> result<std::string> {
                        REPOKIT_TRY(auto found, unit.one(reading));
                        return found.value_or("(no row)");
                      }),
             0};
  out.retries = db.value().metrics().retries_total();
  return out;
}

void check_refused_as_configuration(const answer& refused, const std::string& fragment) {
  REQUIRE_FALSE(refused.text);
  const error& failure = refused.text.error();
  CAPTURE(failure.describe());
  CHECK(failure.kind == errc::configuration);
  CHECK(failure.retry == retry_class::permanent);
  CHECK(refused.retries == 0);
  CHECK_THAT(failure.describe(), Catch::Contains(fragment));
}

}  // namespace

TEST_CASE("PostgreSQL: verify-full against the test CA connects over TLS", "[tls][postgresql]") {
  const std::string url = with(from_environment("REPOKIT_TEST_POSTGRES_URL"),
                               "sslmode=verify-full&sslrootcert=" + cert("ca.crt"));
  const answer got =
      read_text(url,
                "SELECT CASE WHEN ssl THEN version ELSE 'plain' END FROM pg_stat_ssl "
                "WHERE pid = pg_backend_pid()");
  REQUIRE(got.text);
  CHECK_THAT(got.text.value(), Catch::StartsWith("TLSv1."));
}

TEST_CASE("PostgreSQL: a server certificate from another CA is refused, not retried",
          "[tls][postgresql]") {
  const std::string base = from_environment("REPOKIT_TEST_POSTGRES_URL");
  const answer refused = read_text(
      with(base, "sslmode=verify-full&sslrootcert=" + cert("other-ca.crt")), "SELECT 'x'");
  check_refused_as_configuration(refused, "certificate verify failed");
  const std::string password = database_url::parse(base).value().password;
  CHECK_THAT(refused.text.error().describe(), !Catch::Contains(password));
}

TEST_CASE("PostgreSQL: an account that requires a client certificate gets in only with one",
          "[tls][postgresql]") {
  const std::string url = with(from_environment("REPOKIT_TLS_POSTGRES_CERT_URL"),
                               "sslmode=verify-full&sslrootcert=" + cert("ca.crt"));
  check_refused_as_configuration(read_text(url, "SELECT current_user"), "certificate");

  const answer got =
      read_text(with(url, "sslcert=" + cert("client.crt") + "&sslkey=" + cert("client.key")),
                "SELECT current_user");
  REQUIRE(got.text);
  CHECK(got.text.value() == "repokit_cert");
}

TEST_CASE("MariaDB: a connection verified against the test CA works over TLS", "[tls][mysql]") {
  const std::string url =
      with(from_environment("REPOKIT_TEST_MYSQL_URL"), "sslca=" + cert("ca.crt"));
  const answer got = read_text(url,
                               "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                               "WHERE VARIABLE_NAME = 'SSL_VERSION'");
  REQUIRE(got.text);
  CHECK_THAT(got.text.value(), Catch::StartsWith("TLSv1."));
}

TEST_CASE("MariaDB: a server certificate from another CA is refused, not retried", "[tls][mysql]") {
  const std::string base = from_environment("REPOKIT_TEST_MYSQL_URL");
  const answer refused = read_text(with(base, "sslca=" + cert("other-ca.crt")), "SELECT 'x'");
  check_refused_as_configuration(refused, "certificate");
  const std::string password = database_url::parse(base).value().password;
  CHECK_THAT(refused.text.error().describe(), !Catch::Contains(password));
}

TEST_CASE("MariaDB: an account that requires a client certificate gets in only with one",
          "[tls][mysql]") {
  const std::string url =
      with(from_environment("REPOKIT_TLS_MYSQL_CERT_URL"), "sslca=" + cert("ca.crt"));
  check_refused_as_configuration(read_text(url, "SELECT CURRENT_USER()"), "Access denied");

  const answer got =
      read_text(with(url, "sslcert=" + cert("client.crt") + "&sslkey=" + cert("client.key")),
                "SELECT CURRENT_USER()");
  REQUIRE(got.text);
  CHECK_THAT(got.text.value(), Catch::StartsWith("repokit_cert@"));
}
