// MariaDB (and MySQL, and a Galera cluster): transactions and scripts through the client
// library, statement limits per session, new connections spread over a cluster's nodes by
// node_selector, and the result's field types to name a column the driver could not convert.
#include <soci/mysql/soci-mysql.h>

#include <cstring>
#include <string>
#include <vector>

#include "../error_translation.hpp"
#include "../node_selector.hpp"
#include "backends.hpp"
#include "soci_session.hpp"

namespace repokit::detail {
namespace {

class mariadb_session final : public soci_session {
 public:
  // `on_lost` hears when this connection is found gone (a cluster node to avoid for a while).
  mariadb_session(std::unique_ptr<soci::session> sql, std::function<void()> on_lost)
      : soci_session(dialect::mariadb, std::move(sql)), on_lost_(std::move(on_lost)) {}

  result<void> begin(begin_mode) override {
    return mysql_exec("START TRANSACTION", "BEGIN", failure_point::statement);
  }
  result<void> commit() override { return mysql_exec("COMMIT", "COMMIT", failure_point::commit); }
  result<void> rollback() override {
    return mysql_exec("ROLLBACK", "ROLLBACK", failure_point::statement);
  }

  // The connection takes one statement per call: scripts are split at their ';' (trusted SQL,
  // with no ';' inside its literals).
  result<void> execute_script(std::string_view sql) override {
    std::size_t from = 0;
    while (from < sql.size()) {
      const std::size_t end = std::min(sql.find(';', from), sql.size());
      const std::string_view one = sql.substr(from, end - from);
      if (one.find_first_not_of(" \t\r\n") != std::string_view::npos) {
        REPOKIT_TRYV(mysql_exec(std::string(one).c_str(), "script", failure_point::statement));
      }
      from = end + 1;
    }
    return success();
  }

  // MariaDB's limit is per session, in seconds.
  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    const std::string sql =
        "SET SESSION max_statement_time = " +
        std::to_string(limit ? static_cast<double>(limit->count()) / 1000 : 0.0);
    return mysql_exec(sql.c_str(), "statement timeout", failure_point::statement);
  }

  bool ping() override { return mysql_ping(handle()) == 0; }

 protected:
  // Tells the node selector when the connection turned out to be gone.
  error watch(error failure) override {
    if (on_lost_ && (failure.kind == errc::connection_lost || failure.kind == errc::in_doubt)) {
      on_lost_();
    }
    return failure;
  }

  std::optional<column_type> result_column_type(prepared& p, std::size_t i) const override {
    auto* backend = static_cast<soci::mysql_statement_backend*>(p.st.get_backend());
    if (backend->result_ == nullptr || i >= mysql_num_fields(backend->result_)) {
      return std::nullopt;
    }
    const MYSQL_FIELD* field = mysql_fetch_field_direct(backend->result_, static_cast<unsigned>(i));
    switch (field->type) {
      case MYSQL_TYPE_TINY:
      case MYSQL_TYPE_SHORT:
      case MYSQL_TYPE_LONG:
      case MYSQL_TYPE_INT24:
      case MYSQL_TYPE_LONGLONG:
      case MYSQL_TYPE_YEAR:
      case MYSQL_TYPE_BIT: return column_type::integer;
      case MYSQL_TYPE_FLOAT:
      case MYSQL_TYPE_DOUBLE:
      case MYSQL_TYPE_DECIMAL:
      case MYSQL_TYPE_NEWDECIMAL: return column_type::real;
      default: return field->charsetnr == 63 ? column_type::blob : column_type::text;  // binary
    }
  }

 private:
  MYSQL* handle() {
    return static_cast<soci::mysql_session_backend*>(connection().get_backend())->conn_;
  }

  result<void> mysql_exec(const char* sql, std::string_view operation, failure_point where) {
    MYSQL* connection = handle();
    if (mysql_real_query(connection, sql, std::strlen(sql)) != 0) {
      return failure(
          watch(mysql_error(mysql_errno(connection), ::mysql_error(connection), operation, where)));
    }
    if (MYSQL_RES* rows = mysql_store_result(connection)) mysql_free_result(rows);
    return success();
  }

  std::function<void()> on_lost_;
};

struct mysql_target {
  std::vector<std::string> connect_strings;  // one per node, in URL order
  std::shared_ptr<node_selector> selector;
};

result<mysql_target> connect_strings(const database_url& url) {
  static constexpr std::string_view passed_on[] = {
      "connect_timeout", "read_timeout", "write_timeout", "sslca", "sslcert", "sslkey"};
  std::string common = " db=" + quote_conninfo(url.database) + " charset='utf8mb4'";
  if (!url.user.empty()) common += " user=" + quote_conninfo(url.user);
  if (!url.password.empty()) common += " password=" + quote_conninfo(url.password);
  node_selection policy = node_selection::round_robin;
  bool connect_timeout_given = false;
  for (const auto& [name, value] : url.parameters) {
    if (name == "node_selection") {
      REPOKIT_TRY(policy, parse_node_selection(value));
      continue;
    }
    bool known = false;
    for (const auto candidate : passed_on) known = known || name == candidate;
    if (!known) {
      return failure(errc::configuration,
                     "unknown MySQL URL parameter '" + name +
                         "'; repokit takes node_selection and passes on connect_timeout, "
                         "read_timeout, write_timeout, sslca, sslcert and sslkey");
    }
    connect_timeout_given = connect_timeout_given || name == "connect_timeout";
    common += ' ' + name + '=' + quote_conninfo(value);
  }
  // A node that does not answer must not hold a connection attempt for minutes.
  if (!connect_timeout_given) common += " connect_timeout=5";
  mysql_target target;
  for (const auto& endpoint : url.hosts) {
    target.connect_strings.push_back("host=" + quote_conninfo(endpoint.host) +
                                     " port=" + std::to_string(endpoint.port) + common);
  }
  target.selector = std::make_shared<node_selector>(url.hosts.size(), policy);
  return target;
}

result<std::unique_ptr<Session>> connect(const database_url& url, const mysql_target& target) {
  std::optional<error> last;
  for (const std::size_t node : target.selector->order()) {
    const std::string where = "connect to " + url.hosts[node].host + ':' +
                              std::to_string(url.hosts[node].port) + " (" + url.masked() + ")";
    try {
      auto sql = std::make_unique<soci::session>(soci::mysql, target.connect_strings[node]);
      target.selector->mark_up(node);
      auto selector = target.selector;
      return std::unique_ptr<Session>(std::make_unique<mariadb_session>(
          std::move(sql), [selector, node] { selector->mark_down(node); }));
    } catch (...) {
      last = translate_current_exception(dialect::mariadb, where, failure_point::connect, nullptr);
    }
    // One server's refusal (wrong password, unknown database) is final; in a cluster it may be a
    // node that has not caught up yet, so the others are tried before giving up.
    if (last->kind == errc::configuration && target.connect_strings.size() == 1) break;
    target.selector->mark_down(node);
  }
  return failure(std::move(*last));
}

}  // namespace

result<session_factory> mariadb_sessions(const database_url& url, const database_options& options) {
  REPOKIT_TRY(auto target, connect_strings(url));
  return session_factory([url, target = std::move(target),
                          read_only = options.read_only]() -> result<std::unique_ptr<Session>> {
    REPOKIT_TRY(auto session, connect(url, target));
    // A read-only Database: every transaction is read-only, so the server itself refuses writes.
    if (read_only) REPOKIT_TRYV(session->execute_script("SET SESSION TRANSACTION READ ONLY"));
    return session;
  });
}

}  // namespace repokit::detail
