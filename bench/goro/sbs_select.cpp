// goro's side of the select workloads: [select2] [select2_unbuf] [select_default].
// Each mirrors bench/go/chan.go; see docs/performance.md.
#include <atomic>
#include <optional>

#include <goro/goro.hpp>

#include "sbs_main.hpp"

namespace {

// Two buffered channels, each holding one value; the case that fires puts its value
// back, so both cases are ready at every select.
double select2(std::size_t n) {
  auto a = goro::make_chan<int>(1);
  auto b = goro::make_chan<int>(1);
  a.send(1);
  b.send(2);
  std::optional<int> va, vb;
  std::size_t hits[2] = {0, 0};
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t k = goro::select(goro::recv(a, va), goro::recv(b, vb));
    ++hits[k];
    if (k == 0)
      a.send(*va);
    else
      b.send(*vb);
  }
  double ns = sw.ns();
  sbs::check(n < 1000 || (hits[0] >= n / 4 && hits[1] >= n / 4), "select2", "unfair select");
  return ns;
}

// Two unbuffered channels, each fed by its own sender goroutine.
double select2_unbuf(std::size_t n) {
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>();
  std::atomic<bool> stop{false};
  for (auto c : {a, b})
    goro::go([c, &stop]() mutable {
      while (!stop.load()) c.send(1);
      c.close();
    });
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) (void)goro::select(goro::recv(a), goro::recv(b));
  double ns = sw.ns();
  stop = true;
  for (int v : a) (void)v;  // at most one value is in flight per sender
  for (int v : b) (void)v;
  return ns;
}

// Four receive cases and a default; nothing is ever ready.
double select_default(std::size_t n) {
  auto c0 = goro::make_chan<int>();
  auto c1 = goro::make_chan<int>();
  auto c2 = goro::make_chan<int>();
  auto c3 = goro::make_chan<int>();
  std::size_t misses = 0;
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i)
    if (goro::select(goro::recv(c0), goro::recv(c1), goro::recv(c2), goro::recv(c3),
                     goro::default_case()) == 4)
      ++misses;
  double ns = sw.ns();
  sbs::check(misses == n, "select_default", "a case fired");
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  return sbs::goro_main(
      argc, argv,
      {
          {"select2", [] { sbs::per_op("select2", "ns/op", sbs::scaled(2'000'000), select2); }},
          {"select2_unbuf",
           [] { sbs::per_op("select2_unbuf", "ns/op", sbs::scaled(1'000'000), select2_unbuf); }},
          {"select_default",
           [] {
             sbs::per_op("select_default", "ns/op", sbs::scaled(2'000'000), select_default);
           }},
      });
}
