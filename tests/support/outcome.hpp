// Readable outcomes of a result<T> for Catch2, shared by the suites.
#pragma once

#include <string>

#include "repokit/error.hpp"
#include "repokit/result.hpp"

namespace repokit::testing {

// The outcome of a result as an errc; errc{0} (printed "success") when it holds a value, so
// CHECK(kind_of(r) == errc::not_found) reads naturally and prints both sides when it fails.
template <class T>
errc kind_of(const result<T>& outcome) {
  return outcome ? errc{0} : outcome.error().kind;
}

// For INFO(): the whole error, or "success".
template <class T>
std::string describe(const result<T>& outcome) {
  return outcome ? std::string("success") : outcome.error().describe();
}

}  // namespace repokit::testing
