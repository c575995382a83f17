// A helper program the tests start (a job worker, an SQLite writer), with its stdin and stdout
// connected to the test. Waited for when destroyed (after its stdin is closed, which ends every
// mode of the helpers), so a failed assertion never leaves it behind or removes its database
// under it.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <vector>

extern char** environ;

namespace repokit::testing {

class child_process {
 public:
  child_process(std::string program, std::vector<std::string> args) {
    std::signal(SIGPIPE, SIG_IGN);  // a child that died early must fail the test, not kill it
    int to_child[2];
    int from_child[2];
    REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from_child, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    std::vector<char*> argv{program.data()};
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int spawned =
        ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_ = to_child[1];
    stdout_ = from_child[0];
    if (spawned != 0) pid_ = -1;
    INFO("posix_spawn " << program << ": error " << spawned);
    REQUIRE(spawned == 0);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    close_stdin();
    wait();
    if (stdout_ >= 0) ::close(stdout_);
  }

  // One line of the child's stdout, without its newline; empty at end of file.
  std::string read_line() {
    std::string line;
    char c = 0;
    for (;;) {
      const ssize_t got = ::read(stdout_, &c, 1);
      if (got < 0 && errno == EINTR) continue;
      if (got != 1 || c == '\n') break;
      line += c;
    }
    return line;
  }

  // Every line the child writes until it closes its stdout.
  std::vector<std::string> read_lines() {
    std::vector<std::string> lines;
    for (std::string line = read_line(); !line.empty(); line = read_line()) {
      lines.push_back(line);
    }
    return lines;
  }

  // Lets a child waiting for a line on stdin go on; its stdin is closed after it.
  void go() {
    const char line[] = "go\n";
    (void)!::write(stdin_, line, sizeof line - 1);
    close_stdin();
  }

  void kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

  // The exit status (as waitpid reports it), or -1 when the process could not be waited for.
  int wait() {
    if (pid_ > 0) {
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      status_ = status;
      pid_ = -1;
    }
    return status_;
  }

 private:
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int status_ = -1;
};

inline bool exited_cleanly(int status) {
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace repokit::testing
