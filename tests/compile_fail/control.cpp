// Must compile: the well-formed twin of the failing cases, so a broken test setup cannot pass
// them by failing for an unrelated reason.
#include "repokit/unit_of_work.hpp"

constexpr repokit::query<std::int64_t(std::int64_t)> find_item{
    "find_item", "SELECT id FROM items WHERE id = :id OR parent = :id"};
constexpr repokit::command<void(std::int64_t, std::int64_t)> move_item{
    "move_item", "UPDATE items SET parent = :parent WHERE id = :id"};

repokit::result<std::uint64_t> right(repokit::UnitOfWork& unit) {
  REPOKIT_TRYV(unit.one(find_item, 42));
  return unit.run(move_item, 7, std::int32_t{8});
}

int main() { return 0; }
