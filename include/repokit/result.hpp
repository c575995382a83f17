// repokit::result<T>: a value or a repokit::error (Boost.Outcome). Test it like a bool, read
// .error(), or call .value() to get the value or a thrown repokit::db_error.
#pragma once

#include <boost/outcome/basic_result.hpp>
#include <boost/outcome/policy/base.hpp>
#include <boost/outcome/success_failure.hpp>
#include <boost/outcome/try.hpp>
#include <utility>

#include "repokit/error.hpp"

namespace repokit {

namespace outcome = boost::outcome_v2;

// value() on a failed result throws db_error carrying the error; error() on a successful
// result throws std::logic_error. Both are bugs to surface, not undefined behaviour.
struct throw_db_error : outcome::policy::base {
  template <class Impl>
  static constexpr void wide_value_check(Impl&& self) {
    if (!base::_has_value(self)) {
      throw db_error(base::_error(std::forward<Impl>(self)));
    }
  }
  template <class Impl>
  static constexpr void wide_error_check(Impl&& self) {
    if (!base::_has_error(self)) {
      throw std::logic_error("repokit::result: error() called on a successful result");
    }
  }
  template <class Impl>
  static constexpr void wide_exception_check(Impl&& self) {
    wide_error_check(std::forward<Impl>(self));
  }
};

template <class T>
using result = outcome::basic_result<T, error, throw_db_error>;

using outcome::success;

inline auto failure(error e) { return outcome::failure(std::move(e)); }
inline auto failure(errc kind, std::string message) {
  return outcome::failure(make_error(kind, std::move(message)));
}

}  // namespace repokit

// REPOKIT_TRY(auto x, expr) declares x, REPOKIT_TRY(x.y, expr) assigns to x.y: the value of
// a successful result, or else the enclosing function returns its error. REPOKIT_TRYV(expr) only
// returns the error, and is one statement. (The same spelling on every Boost release repokit
// supports.)
#define REPOKIT_TRY(target, ...) \
  BOOST_OUTCOME_TRY2_SUCCESS_LIKELY(BOOST_OUTCOME_TRY_UNIQUE_NAME, target, __VA_ARGS__)
#define REPOKIT_TRYV(...)                                                     \
  do {                                                                        \
    auto&& repokit_try_outcome = (__VA_ARGS__);                               \
    if (!boost::outcome_v2::try_operation_has_value(repokit_try_outcome)) {   \
      return boost::outcome_v2::try_operation_return_as(                      \
          static_cast<decltype(repokit_try_outcome)&&>(repokit_try_outcome)); \
    }                                                                         \
  } while (false)
