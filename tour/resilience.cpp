// Tour: the seed's chapter 5 patterns for long-lived systems, line for line
// in goro: heartbeats (on an interval, and per unit of work), replicated
// requests, and healing unhealthy goroutines (steward and ward). Durations
// are the seed's divided by ~20 so the tour stays short.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <vector>

#include "tour.hpp"

using namespace std::chrono_literals;

namespace {

using signal = goro::recv_chan<void>;

long long ms_since(goro::clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(goro::clock::now() - t0).count();
}

}  // namespace

GORO_TOUR_SECTION(74, "heartbeats: a pulse on an interval") {
  goro::run([] {
    auto t0 = goro::clock::now();
    auto do_work = [t0](signal done, goro::clock::duration pulse_interval) {
      auto heartbeat = goro::make_chan<void>();
      auto results = goro::make_chan<long long>();
      goro::go([=]() mutable {
        auto pulse = goro::tick(pulse_interval);
        auto work_gen = goro::tick(2 * pulse_interval);
        auto send_pulse = [&] { goro::select(goro::send(heartbeat), goro::default_case()); };
        auto send_result = [&](long long r) {
          for (;;) {
            bool sent = false, stop = false;
            goro::select(goro::recv(done, [&] { stop = true; }), goro::recv(pulse, [&] { send_pulse(); }),
                         goro::send(results, r, [&] { sent = true; }));
            if (sent || stop) return;
          }
        };
        for (bool stop = false; !stop;) {
          goro::select(goro::recv(done, [&] { stop = true; }), goro::recv(pulse, [&] { send_pulse(); }),
                       goro::recv(work_gen, [&] { send_result(ms_since(t0)); }));
        }
        heartbeat.close();
        results.close();
      });
      return std::pair{goro::recv_chan<void>(heartbeat), goro::recv_chan<long long>(results)};
    };
    auto done = goro::make_chan<void>();
    auto stop_timer = goro::after_func(500ms, [done]() mutable { done.close(); });
    const auto timeout = 100ms;
    auto [heartbeat, results] = do_work(done, timeout / 2);
    int pulses = 0, got = 0;
    for (bool stop = false; !stop;) {
      goro::select(goro::recv(heartbeat, [&](bool ok) { ok ? (void)++pulses : (void)(stop = true); }),
                   goro::recv(results,
                              [&](std::optional<long long> r) {
                                if (!r) stop = true;
                                else if (++got <= 3) std::printf("results at ~%lld ms\n", (*r + 50) / 100 * 100);
                              }),
                   goro::recv(goro::after(timeout), [&] {
                     std::printf("worker goroutine is not healthy!\n");
                     stop = true;
                   }));
    }
    std::printf("%d results and %d pulses before done closed\n", got, pulses);
  });
}

GORO_TOUR_SECTION(75, "heartbeats: a pulse per unit of work, for deterministic tests") {
  goro::run([] {
    auto do_work = [](signal done, std::vector<int> nums) {
      auto heartbeat = goro::make_chan<void>(1);  // at least one pulse always goes out
      auto int_stream = goro::make_chan<int>();
      goro::go([=]() mutable {
        for (int n : nums) {
          goro::select(goro::send(heartbeat), goro::default_case());
          bool stop = false;
          goro::select(goro::recv(done, [&] { stop = true; }), goro::send(int_stream, n));
          if (stop) break;
        }
        heartbeat.close();
        int_stream.close();
      });
      return std::pair{goro::recv_chan<void>(heartbeat), goro::recv_chan<int>(int_stream)};
    };
    auto done = goro::make_chan<void>();
    std::vector<int> int_slice{0, 1, 2, 3, 5};
    auto [heartbeat, results] = do_work(done, int_slice);
    heartbeat.recv();  // the goroutine has started its work: no timeout needed below
    std::size_t i = 0;
    for (int r : results) {
      std::printf("index %zu: expected %d, received %d%s\n", i, int_slice[i], r,
                  r == int_slice[i] ? "" : "  MISMATCH");
      ++i;
    }
    done.close();
  });
}

GORO_TOUR_SECTION(76, "replicated requests: the first answer wins, the rest are cancelled") {
  goro::run([] {
    auto do_work = [](signal done, int id, goro::wait_group& wg, goro::send_chan<int> result,
                      goro::clock::duration simulated_load_time) {
      auto started = goro::clock::now();
      goro::select(goro::recv(done), goro::recv(goro::after(simulated_load_time)));
      goro::select(goro::recv(done), goro::send(result, id));
      auto took = goro::clock::now() - started;
      if (took < simulated_load_time) took = simulated_load_time;  // what it would have taken
      std::printf("%d took %lld ms\n", id,
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
      wg.done();
    };
    auto done = goro::make_chan<void>();
    auto result = goro::make_chan<int>();
    goro::wait_group wg;
    wg.add(10);
    std::mt19937 rng(7);
    for (int i = 0; i < 10; ++i) {
      auto load = std::chrono::milliseconds(50 * (1 + static_cast<int>(rng() % 5)));
      goro::go([&, i, load] { do_work(done, i, wg, result, load); });
    }
    int first_returned = *result.recv();
    done.close();
    wg.wait();
    std::printf("Received an answer from #%d\n", first_returned);
  });
}

GORO_TOUR_SECTION(77, "healing: a steward restarts an unhealthy ward") {
  goro::run([] {
    using start_goroutine_fn = std::function<signal(signal done, goro::clock::duration pulse_interval)>;
    auto t0 = goro::clock::now();
    auto new_steward = [t0](goro::clock::duration timeout, start_goroutine_fn start_goroutine) {
      return [=](signal done, goro::clock::duration pulse_interval) -> signal {
        auto heartbeat = goro::make_chan<void>();
        goro::go([=]() mutable {
          goro::chan<void> ward_done;
          signal ward_heartbeat;
          auto start_ward = [&] {
            ward_done = goro::make_chan<void>();
            ward_heartbeat = start_goroutine(goro::or_channel({ward_done, done}), timeout / 2);
          };
          start_ward();
          auto pulse = goro::tick(pulse_interval);
          for (bool stop = false; !stop;) {  // monitorLoop
            auto timeout_signal = goro::after(timeout);
            for (bool restart_monitor = false; !restart_monitor && !stop;) {
              goro::select(
                  goro::recv(pulse, [&] { goro::select(goro::send(heartbeat), goro::default_case()); }),
                  goro::recv(ward_heartbeat, [&] { restart_monitor = true; }),
                  goro::recv(timeout_signal,
                             [&] {
                               std::printf("[%4lld ms] steward: ward unhealthy; restarting\n", ms_since(t0));
                               ward_done.close();
                               start_ward();
                               restart_monitor = true;
                             }),
                  goro::recv(done, [&] { stop = true; }));
            }
          }
          heartbeat.close();
        });
        return heartbeat;
      };
    };
    // The seed's irresponsible ward: it never pulses.
    auto do_work = [t0](signal done, goro::clock::duration) -> signal {
      std::printf("[%4lld ms] ward: Hello, I'm irresponsible!\n", ms_since(t0));
      goro::go([done, t0]() mutable {
        done.recv();
        std::printf("[%4lld ms] ward: I am halting.\n", ms_since(t0));
      });
      return {};
    };
    auto do_work_with_steward = new_steward(200ms, do_work);
    auto done = goro::make_chan<void>();
    auto halt = goro::after_func(450ms, [done, t0]() mutable {
      std::printf("[%4lld ms] main: halting steward and ward.\n", ms_since(t0));
      done.close();
    });
    for (auto beat = do_work_with_steward(done, 200ms); beat.recv();) {
    }  // listen until the steward's heartbeat stops
    goro::sleep(20ms);  // let the last ward print its goodbye
    std::printf("Done\n");
  });
}
