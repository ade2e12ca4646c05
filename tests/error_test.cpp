// goro::error (API.md §5): identity, wrapping, is/find_kind, the recorded
// what/where/when/host/id, handle_error's two outputs, and concurrent use.

#include <dlfcn.h>
#include <sys/auxv.h>

#include <goro/error.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "export_test.hpp"
#include "test_util.hpp"

namespace {

const goro::error_kind low_level_err("lowlevel");
const goro::error_kind intermediate_err("intermediate", /*user_facing=*/true);

TEST(Error, NilByDefault) {
  goro::error e;
  EXPECT_FALSE(e);
  EXPECT_TRUE(e == nullptr);
  EXPECT_EQ(e.message(), "");
  EXPECT_EQ(e.own_message(), "");
  EXPECT_FALSE(e.cause());
  EXPECT_EQ(e.kind(), nullptr);
  EXPECT_EQ(e.id(), "");
  EXPECT_EQ(e.stack_trace(), "");
  std::ostringstream os;
  os << e;
  EXPECT_EQ(os.str(), "<nil>");
}

TEST(Error, NewErrorIsADistinctSentinel) {
  goro::error a = goro::new_error("same");
  goro::error b = goro::new_error("same");
  ASSERT_TRUE(a);
  EXPECT_EQ(a.message(), "same");
  EXPECT_FALSE(a == b);  // identity, not message
  goro::error a2 = a;    // copies are the same error
  EXPECT_TRUE(a2 == a);
  EXPECT_TRUE(goro::is(a2, a));
  EXPECT_FALSE(goro::is(a, b));
  EXPECT_NE(a.id(), b.id());
}

TEST(Error, WrapMessageAndCauseChain) {
  goro::error base = goro::new_error("no such file");
  goro::error mid = goro::wrap(base, "open config");
  goro::error top = goro::wrap(mid, "start server");
  EXPECT_EQ(mid.message(), "open config: no such file");
  EXPECT_EQ(top.message(), "start server: open config: no such file");
  EXPECT_EQ(top.own_message(), "start server");
  EXPECT_TRUE(top.cause() == mid);
  EXPECT_TRUE(top.cause().cause() == base);
  EXPECT_FALSE(base.cause());
  EXPECT_TRUE(goro::is(top, base));
  EXPECT_TRUE(goro::is(top, mid));
  EXPECT_TRUE(goro::is(top, top));
  EXPECT_FALSE(goro::is(base, top));
  EXPECT_FALSE(goro::is(top, goro::new_error("no such file")));
  // Each wrap is a new record with its own id.
  std::set<std::string> ids{base.id(), mid.id(), top.id()};
  EXPECT_EQ(ids.size(), 3u);
}

TEST(Error, IsWithNil) {
  goro::error e = goro::new_error("x");
  EXPECT_TRUE(goro::is(goro::error(), goro::error()));
  EXPECT_FALSE(goro::is(e, goro::error()));
  EXPECT_FALSE(goro::is(goro::error(), e));
}

TEST(Error, WrapNilHasNoCause) {
  goro::error e = goro::wrap(goro::error(), "alone");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.message(), "alone");
  EXPECT_FALSE(e.cause());
}

TEST(Error, WrapWithEmptyMessageIsTheCausesMessage) {
  goro::error base = goro::new_error("inner");
  EXPECT_EQ(goro::wrap(base, "").message(), "inner");
}

TEST(Error, Sentinels) {
  EXPECT_EQ(goro::canceled.message(), "context canceled");
  EXPECT_EQ(goro::deadline_exceeded.message(), "context deadline exceeded");
  EXPECT_FALSE(goro::canceled == goro::deadline_exceeded);
  goro::error w = goro::wrap(goro::deadline_exceeded, "fetch");
  EXPECT_TRUE(goro::is(w, goro::deadline_exceeded));
  EXPECT_FALSE(goro::is(w, goro::canceled));
}

TEST(Error, RecordsWhenAndHost) {
  auto before = goro::clock::now();
  auto before_utc = std::chrono::system_clock::now();
  goro::error e = goro::new_error("x");
  auto after = goro::clock::now();
  auto after_utc = std::chrono::system_clock::now();
  EXPECT_GE(e.when(), before);
  EXPECT_LE(e.when(), after);
  EXPECT_GE(e.when_utc(), before_utc);
  EXPECT_LE(e.when_utc(), after_utc);
  EXPECT_FALSE(e.host().empty());
  EXPECT_EQ(e.host(), goro::new_error("y").host());  // one host per process
}

TEST(Error, IdShape) {
  goro::error a = goro::new_error("a");
  goro::error b = goro::new_error("b");
  // "<8 hex>-<hex counter>", same process prefix.
  auto dash = a.id().find('-');
  ASSERT_EQ(dash, 8u);
  EXPECT_EQ(a.id().substr(0, 9), b.id().substr(0, 9));
  EXPECT_EQ(a.id().find_first_not_of("0123456789abcdef-"), std::string::npos);
  EXPECT_EQ(a.id(), a.id());  // stable
}

__attribute__((noinline)) goro::error make_in_named_function() {
  return goro::new_error("here");
}

TEST(Error, StackTraceStartsAtTheCreator) {
  goro::error e = make_in_named_function();
  std::string st = e.stack_trace();
  ASSERT_FALSE(st.empty());
  std::string first = st.substr(0, st.find('\n'));
  EXPECT_NE(first.find("make_in_named_function"), std::string::npos) << st;
  EXPECT_EQ(st.find("make_error"), std::string::npos) << st;  // goro's own frames are skipped
  EXPECT_EQ(e.stack_trace(), st);                             // symbolized once, cached
}

TEST(Error, StackTraceFromAGoroutine) {
  std::string st;
  goro::run([&] { st = make_in_named_function().stack_trace(); });
  EXPECT_NE(st.find("make_in_named_function"), std::string::npos) << st;
}

// The capture loads libunwind.so.8 privately (RTLD_LOCAL): its own _Unwind_*
// must not replace libgcc's, which every throw in the process goes through.
TEST(Error, CaptureLeavesTheExceptionUnwinderAlone) {
  const char* forced = std::getenv("GORO_ERROR_UNWINDER");
  goro::error e = make_in_named_function();  // loads the unwinder, if it is used
  std::string backend = goro::detail::error_unwinder();
  if (forced != nullptr && std::string(forced) == "libgcc") EXPECT_EQ(backend, "libgcc");
  if (::getauxval(AT_BASE) == 0) {
    // A -static program (no dynamic loader): goro never dlopens there, and
    // dlsym cannot see the program's own symbols.
    EXPECT_EQ(backend, "libgcc");
  } else {
    if (void* lib = ::dlopen("libunwind.so.8", RTLD_NOW | RTLD_NOLOAD)) {
      ::dlclose(lib);
      if (forced == nullptr) EXPECT_EQ(backend, "libunwind");
    }
    void* raise = ::dlsym(RTLD_DEFAULT, "_Unwind_RaiseException");
    ASSERT_NE(raise, nullptr);
    Dl_info info{};
    ASSERT_NE(::dladdr(raise, &info), 0);
    // libgcc_s's, or a sanitizer runtime's interceptor; never libunwind's.
    EXPECT_EQ(std::string(info.dli_fname).find("libunwind"), std::string::npos)
        << "_Unwind_RaiseException resolves to " << info.dli_fname;
  }
  // And exceptions still unwind through frames with destructors, in a goroutine.
  int destroyed = 0;
  struct guard {
    int* n;
    ~guard() { ++*n; }
  };
  std::string caught;
  goro::run([&] {
    try {
      guard g{&destroyed};
      [&] {
        guard inner{&destroyed};
        throw std::runtime_error(make_in_named_function().message());
      }();
    } catch (const std::runtime_error& ex) {
      caught = ex.what();
    }
  });
  EXPECT_EQ(caught, "here");
  EXPECT_EQ(destroyed, 2);
  EXPECT_NE(e.stack_trace().find("make_in_named_function"), std::string::npos);
}

TEST(Error, KindsAndFindKind) {
  goro::error raw = goro::new_error("stat /bad/job/binary: no such file or directory");
  goro::error low = goro::wrap(raw, low_level_err, raw.message());
  goro::error inter = goro::wrap(low, intermediate_err, "cannot run job \"1\": requisite binaries not available");
  EXPECT_EQ(raw.kind(), nullptr);
  EXPECT_EQ(low.kind(), &low_level_err);
  EXPECT_EQ(inter.kind(), &intermediate_err);
  EXPECT_TRUE(goro::find_kind(inter, low_level_err) == low);
  EXPECT_TRUE(goro::find_kind(inter, intermediate_err) == inter);
  EXPECT_FALSE(goro::find_kind(raw, low_level_err));
  EXPECT_TRUE(goro::is_user_facing(inter));
  EXPECT_FALSE(goro::is_user_facing(low));
  EXPECT_FALSE(goro::is_user_facing(raw));
  EXPECT_FALSE(goro::is_user_facing(goro::error()));
  // Only the outermost error counts: a user-facing error wrapped by a plain
  // one escaped its module unwrapped — a bug.
  EXPECT_FALSE(goro::is_user_facing(goro::wrap(inter, "oops")));
  EXPECT_TRUE(goro::is_user_facing(goro::user_error("try again later")));
  EXPECT_TRUE(goro::is_user_facing(goro::user_error(raw, "disk is full")));
}

TEST(Error, HandleErrorUserFacing) {
  goro::error raw = goro::new_error("stat /bad/job/binary: no such file or directory");
  goro::error low = goro::wrap(raw, low_level_err, raw.message());
  goro::error inter = goro::wrap(low, intermediate_err, "cannot run job \"1\": requisite binaries not available");
  std::ostringstream log, user;
  goro::handle_error(inter, log, user);
  EXPECT_EQ(user.str(), "cannot run job \"1\": requisite binaries not available [" + inter.id() + "]\n");
  std::string l = log.str();
  // The full record, every line tagged with the id.
  std::istringstream lines(l);
  for (std::string line; std::getline(lines, line);)
    EXPECT_EQ(line.rfind("[logID: " + inter.id() + "]: ", 0), 0u) << line;
  EXPECT_NE(l.find(inter.message()), std::string::npos);
  EXPECT_NE(l.find("caused by " + low.id()), std::string::npos);
  EXPECT_NE(l.find("caused by " + raw.id()), std::string::npos);
  EXPECT_NE(l.find("host:    " + inter.host()), std::string::npos);
  EXPECT_NE(l.find("kind:    intermediate (user-facing)"), std::string::npos);
  EXPECT_NE(l.find("stack:"), std::string::npos);
  EXPECT_NE(l.find("Z\n"), std::string::npos);  // UTC timestamp
}

TEST(Error, HandleErrorBug) {
  goro::error e = goro::wrap(goro::new_error("segfault-ish"), "internal");
  std::ostringstream log, user;
  goro::handle_error(e, log, user);
  EXPECT_EQ(user.str(),
            "There was an unexpected issue; please report this as a bug. [" + e.id() + "]\n");
  EXPECT_NE(log.str().find("internal: segfault-ish"), std::string::npos);
}

TEST(Error, HandleErrorNilDoesNothing) {
  std::ostringstream log, user;
  goro::handle_error(goro::error(), log, user);
  EXPECT_EQ(log.str(), "");
  EXPECT_EQ(user.str(), "");
}

TEST(Error, ErrorRecordOfNil) { EXPECT_EQ(goro::error_record(goro::error()), "<nil>\n"); }

// Records are shared immutably; ids unique across goroutines and threads;
// lazy symbolization is safe when raced.
TEST(Error, ConcurrentCreationCopyAndSymbolize) {
  const int per = goro_test::scaled(2000);
  goro::error shared = goro::new_error("shared");
  std::vector<std::vector<std::string>> ids(8);
  goro::run([&] {
    goro::wait_group wg;
    for (int g = 0; g < 8; ++g) {
      wg.go([&, g] {
        for (int i = 0; i < per; ++i) {
          goro::error e = goro::wrap(shared, "w");
          ids[g].push_back(e.id());
          goro::error copy = e;
          EXPECT_TRUE(goro::is(copy, shared));
          if (i % 500 == 0) EXPECT_FALSE(shared.stack_trace().empty());
        }
      });
    }
    wg.wait();
  });
  std::set<std::string> all;
  for (auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(8 * per));
}

TEST(Error, CreationIsCheap) {
  // Not a benchmark (bench/ has those): a loose guard that creation does not
  // symbolize. Symbolizing takes milliseconds; capture takes microseconds.
  const int n = 2000;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) (void)goro::new_error("x");
  auto per = (std::chrono::steady_clock::now() - t0) / n;
  EXPECT_LT(per, goro_test::sanitizer_build() ? std::chrono::microseconds(500)
                                              : std::chrono::microseconds(100));
}

}  // namespace
