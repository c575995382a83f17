// Must not compile: one argument given where the statement takes two.
#include "repokit/unit_of_work.hpp"

constexpr repokit::command<void(std::int64_t, std::int64_t)> move_item{
    "move_item", "UPDATE items SET parent = :parent WHERE id = :id"};

repokit::result<std::uint64_t> wrong(repokit::UnitOfWork& unit) { return unit.run(move_item, 7); }

int main() { return 0; }
