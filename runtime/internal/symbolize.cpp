#include "runtime/internal/symbolize.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

extern char** environ;

namespace gort::internal {

namespace {

// The object holding a pc and the pc's address in that object's file (its
// link-time address: the pc less the load bias, what addr2line expects).
struct Place {
  std::string object;
  uintptr_t offset = 0;
};

std::string executable_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && out ? out : name;
  std::free(out);
  return s;
}

bool place_of(uintptr_t pc, Place* where, Symbol* exported) {
  Dl_info info;
  link_map* lm = nullptr;
  if (!dladdr1(reinterpret_cast<void*>(pc), &info, reinterpret_cast<void**>(&lm), RTLD_DL_LINKMAP) || !lm) return false;
  // The program itself has no name in the link map.
  where->object = lm->l_name && lm->l_name[0] ? lm->l_name : executable_path();
  where->offset = pc - lm->l_addr;
  if (info.dli_sname) exported->function = demangle(info.dli_sname);
  return true;
}

// Runs `addr2line -a -i -C -f -e object addr...` and returns its output:
// per address, the address, then two lines, function and file:line ("??"
// and "??:0" when unknown), for each function inlined there and the one
// containing them.
bool run_addr2line(const std::string& object, const std::vector<uintptr_t>& offsets, std::string* out) {
  std::vector<std::string> args = {"addr2line", "-a", "-i", "-C", "-f", "-e", object};
  for (uintptr_t off : offsets) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(off));
    args.emplace_back(hex);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  const int rc = posix_spawnp(&pid, "addr2line", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return false;
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, size_t(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool known_function(const std::string& s) { return !s.empty() && s.compare(0, 2, "??") != 0; }

// "file.cpp:42"; without line tables addr2line may still name the file from
// the symbol table ("file.cpp:?"), which says less than object +offset.
bool known_line(const std::string& s) {
  return known_function(s) && s.back() != '?' && s.compare(s.size() - 2, 2, ":0") != 0;
}

}  // namespace

std::vector<std::vector<Symbol>> symbolize(const std::vector<uintptr_t>& pcs) {
  // What dladdr tells, for when addr2line cannot do better.
  std::vector<Symbol> fallback(pcs.size());
  std::vector<Place> places(pcs.size());
  std::map<std::string, std::vector<size_t>> by_object;
  for (size_t i = 0; i < pcs.size(); ++i) {
    if (!place_of(pcs[i], &places[i], &fallback[i])) {
      char hex[24];
      std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(pcs[i]));
      fallback[i].location = hex;
      continue;
    }
    char off[24];
    std::snprintf(off, sizeof off, " +0x%lx", static_cast<unsigned long>(places[i].offset));
    fallback[i].location = places[i].object;
    fallback[i].location.append(off);
    by_object[places[i].object].push_back(i);
  }
  std::vector<std::vector<Symbol>> symbols(pcs.size());
  // One addr2line per object, a bounded number of addresses at a time.
  constexpr size_t kBatch = 512;
  for (const auto& [object, all] : by_object) {
    for (size_t from = 0; from < all.size(); from += kBatch) {
      const std::vector<size_t> batch(all.begin() + long(from),
                                      all.begin() + long(std::min(all.size(), from + kBatch)));
      std::vector<uintptr_t> offsets;
      for (size_t i : batch) offsets.push_back(places[i].offset);
      std::string text;
      if (!run_addr2line(object, offsets, &text)) continue;
      // Per address: its own line ("0x..."), then a function and a location
      // for each function inlined there, innermost first, then the one
      // containing them.
      std::istringstream in(text);
      std::string line, location;
      size_t next = 0;
      size_t pc = pcs.size();  // the one being read; none before the first address line
      while (std::getline(in, line)) {
        if (line.compare(0, 2, "0x") == 0) {
          pc = next < batch.size() ? batch[next++] : pcs.size();
          continue;
        }
        if (pc == pcs.size() || !std::getline(in, location)) break;
        Symbol s = fallback[pc];
        if (known_function(line)) s.function = line;
        if (known_line(location)) s.location = location;
        symbols[pc].push_back(std::move(s));
      }
    }
  }
  for (size_t i = 0; i < pcs.size(); ++i)
    if (symbols[i].empty()) symbols[i].push_back(fallback[i]);
  return symbols;
}

}  // namespace gort::internal
