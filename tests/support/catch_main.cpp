// The main of every Catch2 program of the suite: Catch2's own, except that a run in which no test
// case matched the filters fails (exit 2), as `--warn NoTests` would make it. Catch2 2.13 takes
// one --warn option only, and the ctest entries pass --warn NoAssertions: a renamed tag must not
// turn a suite green with nothing run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int status = session.applyCommandLine(argc, argv); status != 0) return status;
  Catch::ConfigData& config = session.configData();
  config.warnings =
      static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoTests);
  return session.run();
}
