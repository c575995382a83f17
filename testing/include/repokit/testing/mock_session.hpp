// The session seam mocked with trompeloeil, for unit tests of repositories: no database, every
// statement an expectation. Include your test framework's trompeloeil adapter first (for Catch2:
// <catch2/trompeloeil.hpp>), then this header; link repokit::testing.
//
//   repokit::testing::MockSession session;
//   repokit::testing::mocked_database database(session);   // a Database over the mock
//   ALLOW_CALL(session, kind()).RETURN(repokit::dialect::sqlite);
//   REQUIRE_CALL(session, query(_, _)).WITH(_1.name == "find_order").RETURN(...);
//
// Tests own the MockSession and hand the pool forwarding sessions that call it, so
// expectations outlive the pool's connections.
#pragma once

#include <trompeloeil.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "repokit/database.hpp"
#include "repokit/session.hpp"

namespace repokit::testing {

class MockSession : public Session {
 public:
  MAKE_CONST_MOCK0(kind, dialect(), noexcept override);
  MAKE_MOCK1(begin, result<void>(begin_mode), override);
  MAKE_MOCK0(commit, result<void>(), override);
  MAKE_MOCK0(rollback, result<void>(), override);
  MAKE_CONST_MOCK0(lost_transaction, std::optional<std::int64_t>(), override);
  MAKE_MOCK1(transaction_outcome, result<commit_outcome>(std::int64_t), override);
  MAKE_MOCK2(query, result<std::vector<row>>(const statement&, std::span<const param>), override);
  MAKE_MOCK2(execute, result<std::uint64_t>(const statement&, std::span<const param>), override);
  MAKE_MOCK1(execute_script, result<void>(std::string_view), override);
  MAKE_MOCK1(limit_statements, result<void>(std::optional<std::chrono::milliseconds>), override);
  MAKE_MOCK0(ping, bool(), override);
};

// A connection of the pool that passes every call to `target`; `alive` counts those not yet
// destroyed.
class forwarding_session final : public Session {
 public:
  forwarding_session(Session& target, std::atomic<int>& alive) : target_(target), alive_(alive) {
    ++alive_;
  }
  ~forwarding_session() override { --alive_; }
  dialect kind() const noexcept override { return target_.kind(); }
  result<void> begin(begin_mode mode) override { return target_.begin(mode); }
  result<void> commit() override { return target_.commit(); }
  result<void> rollback() override { return target_.rollback(); }
  std::optional<std::int64_t> lost_transaction() const override {
    return target_.lost_transaction();
  }
  result<commit_outcome> transaction_outcome(std::int64_t id) override {
    return target_.transaction_outcome(id);
  }
  result<std::vector<row>> query(const statement& sql, std::span<const param> params) override {
    return target_.query(sql, params);
  }
  result<std::uint64_t> execute(const statement& sql, std::span<const param> params) override {
    return target_.execute(sql, params);
  }
  result<void> execute_script(std::string_view sql) override { return target_.execute_script(sql); }
  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    return target_.limit_statements(limit);
  }
  bool ping() override { return target_.ping(); }

 private:
  Session& target_;
  std::atomic<int>& alive_;
};

// A Database whose every connection forwards to `mock`; `opened` counts connections made and
// `alive` those not yet destroyed.
struct mocked_database {
  explicit mocked_database(MockSession& mock, database_options options = {},
                           dialect kind = dialect::sqlite)
      : db(Database::with_sessions(
               kind,
               [this, &mock]() -> result<std::unique_ptr<Session>> {
                 ++opened;
                 return std::unique_ptr<Session>(std::make_unique<forwarding_session>(mock, alive));
               },
               std::move(options))
               .value()) {}

  std::atomic<int> opened{0};
  std::atomic<int> alive{0};
  Database db;
};

// A mocked database whose transactions always begin, commit and roll back: for tests about the
// statements a repository sends, which set their own query/execute expectations.
struct statement_mock {
  statement_mock() : database(session) {
    kind_allowed = NAMED_ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
    begin_allowed =
        NAMED_ALLOW_CALL(session, begin(trompeloeil::_)).RETURN(result<void>(success()));
    commit_allowed = NAMED_ALLOW_CALL(session, commit()).RETURN(result<void>(success()));
    rollback_allowed = NAMED_ALLOW_CALL(session, rollback()).RETURN(result<void>(success()));
  }
  const Database& db() const { return database.db; }

  MockSession session;
  mocked_database database;
  std::unique_ptr<trompeloeil::expectation> kind_allowed, begin_allowed, commit_allowed,
      rollback_allowed;
};

// Matches a parameter span's element as text.
inline bool param_is(std::span<const param> params, std::size_t index, std::string_view text) {
  return index < params.size() && std::holds_alternative<std::string_view>(params[index]) &&
         std::get<std::string_view>(params[index]) == text;
}
inline bool param_is(std::span<const param> params, std::size_t index, std::int64_t number) {
  return index < params.size() && std::holds_alternative<std::int64_t>(params[index]) &&
         std::get<std::int64_t>(params[index]) == number;
}

}  // namespace repokit::testing
