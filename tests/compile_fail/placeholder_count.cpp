// Must not compile: the SQL names two placeholders, the statement declares one parameter.
#include "repokit/query.hpp"

constexpr repokit::query<std::int64_t(std::int64_t)> miscounted{
    "miscounted", "SELECT id FROM items WHERE id = :id OR parent = :parent"};

int main() { return static_cast<int>(miscounted.name().size()); }
