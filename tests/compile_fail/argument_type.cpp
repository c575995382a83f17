// Must not compile: a string passed where the statement takes an integer.
#include <string>

#include "repokit/unit_of_work.hpp"

constexpr repokit::query<std::int64_t(std::int64_t)> find_item{
    "find_item", "SELECT id FROM items WHERE id = :id"};

repokit::result<std::optional<std::int64_t>> wrong(repokit::UnitOfWork& unit) {
  return unit.one(find_item, std::string("42"));
}

int main() { return 0; }
