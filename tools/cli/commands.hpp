// The subcommands of `repokit`; each returns the process's exit status.
#pragma once

#include "command_line.hpp"

namespace repokit::cli {

int run_demo(const command_line& args);
int run_migrate(const command_line& args);
int run_stats(const command_line& args);
int run_bench(const command_line& args);

}  // namespace repokit::cli
