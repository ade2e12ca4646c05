// Tour: channels (seed chapter 3 "channels").
#include <goro/goro.hpp>
#include <string>

#include "tour.hpp"

GORO_TOUR_SECTION(20, "channels: unbuffered hand-off") {
  goro::run([] {
    auto string_stream = goro::make_chan<std::string>();
    goro::go([string_stream]() mutable { string_stream.send("Hello channels!"); });
    std::printf("%s\n", string_stream.recv()->c_str());
  });
}

GORO_TOUR_SECTION(21, "channels: ownership, range and close") {
  // The owner creates, writes and closes the channel, and exposes only its
  // receiving end (seed: "channels require proper ownership").
  goro::run([] {
    auto chan_owner = [] {
      auto result_stream = goro::make_chan<int>(5);
      goro::go([result_stream]() mutable {
        for (int i = 0; i <= 5; ++i) result_stream.send(i);
        result_stream.close();
      });
      return goro::recv_chan<int>(result_stream);
    };
    auto results = chan_owner();
    for (int result : results) std::printf("Received: %d\n", result);
    std::printf("Done receiving!\n");
  });
}

GORO_TOUR_SECTION(22, "channels: close as a broadcast signal") {
  goro::run([] {
    auto begin = goro::make_chan<void>();
    auto done = goro::make_chan<int>();
    for (int i = 0; i < 5; ++i) {
      goro::go([begin, done, i]() mutable {
        begin.recv();  // wait until told to begin
        done.send(i);
      });
    }
    std::printf("Unblocking goroutines...\n");
    begin.close();
    int sum = 0;
    for (int i = 0; i < 5; ++i) sum += *done.recv();
    std::printf("all 5 began (ids summed to %d)\n", sum);
  });
}

GORO_TOUR_SECTION(23, "channels: nil channels and misuse") {
  goro::run([] {
    goro::chan<int> nil_chan;
    std::size_t chosen = goro::select(goro::recv(nil_chan), goro::default_case());
    std::printf("a nil channel is never ready in select (case %zu ran: default)\n", chosen);
    auto c = goro::make_chan<int>(1);
    c.close();
    try {
      c.send(1);
    } catch (const goro::panic_error& e) {
      std::printf("send on a closed channel: panic_error(\"%s\")\n", e.what());
    }
    std::printf("recv on a closed channel: %s\n", c.recv() ? "a value" : "nullopt");
  });
}
