// Tour: select and the done-channel pattern (seed chapter 3 "The select
// Statement", chapter 4 "Preventing goroutine leaks").
#include <goro/goro.hpp>
#include <string>
#include <vector>

#include "tour.hpp"

GORO_TOUR_SECTION(30, "select: fair choice among ready cases") {
  goro::run([] {
    auto c1 = goro::make_chan<void>();
    auto c2 = goro::make_chan<void>();
    c1.close();
    c2.close();
    int c1_count = 0, c2_count = 0;
    for (int i = 0; i < 1000; ++i) {
      goro::select(goro::recv(c1, [&] { ++c1_count; }), goro::recv(c2, [&] { ++c2_count; }));
    }
    std::printf("c1Count: %d\nc2Count: %d\n", c1_count, c2_count);
  });
}

GORO_TOUR_SECTION(31, "select: a done channel prevents a goroutine leak") {
  goro::run([] {
    auto do_work = [](goro::recv_chan<void> done, goro::recv_chan<std::string> strings) {
      auto terminated = goro::make_chan<void>();
      goro::go([done, strings, terminated]() mutable {
        for (;;) {
          bool stop = false;
          goro::select(goro::recv(strings, [](std::optional<std::string> s) {
                         if (s) std::printf("doWork got %s\n", s->c_str());
                       }),
                       goro::recv(done, [&] { stop = true; }));
          if (stop) break;
        }
        std::printf("doWork exited.\n");
        terminated.close();
      });
      return goro::recv_chan<void>(terminated);
    };
    auto done = goro::make_chan<void>();
    auto strings = goro::make_chan<std::string>();
    auto terminated = do_work(done, strings);
    strings.send("a");
    strings.send("b");
    std::printf("Canceling doWork goroutine...\n");
    done.close();
    terminated.recv();
    std::printf("Done.\n");
  });
}

GORO_TOUR_SECTION(32, "select: fan-in over a run-time list of channels") {
  goro::run([] {
    std::vector<goro::chan<int>> inputs;
    for (int i = 0; i < 8; ++i) {
      auto c = goro::make_chan<int>();
      inputs.push_back(c);
      goro::go([c, i]() mutable {
        for (int k = 0; k < 3; ++k) c.send(i * 10 + k);
        c.close();
      });
    }
    // One goroutine (this one) waits on all of them with the dynamic select.
    std::vector<std::optional<int>> slots(inputs.size());
    int open = static_cast<int>(inputs.size()), total = 0, count = 0;
    std::vector<goro::chan<int>> live = inputs;
    while (open > 0) {
      std::vector<goro::select_case> cases;
      for (std::size_t i = 0; i < live.size(); ++i) cases.push_back(goro::recv(live[i], slots[i]));
      std::size_t i = goro::select(cases);
      if (slots[i]) {
        total += *slots[i];
        ++count;
      } else {
        live[i] = goro::chan<int>();  // closed: a nil channel is never ready again
        --open;
      }
    }
    std::printf("fanned in %d values from %zu channels, sum %d\n", count, inputs.size(), total);
  });
}
