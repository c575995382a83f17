// Must not compile: SQL that writes, declared as a query (a read).
#include "repokit/query.hpp"

constexpr repokit::query<std::int64_t(std::int64_t)> sneaky{
    "sneaky", "DELETE FROM items WHERE id = :id RETURNING id"};

int main() { return static_cast<int>(sneaky.name().size()); }
