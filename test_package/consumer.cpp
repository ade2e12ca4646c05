#include <goro/goro.hpp>

#include <cstdio>

int main() {
  return goro::run([] {
    auto results = goro::make_chan<int>();
    for (int i = 1; i <= 10; ++i) goro::go([results, i]() mutable { results.send(i * i); });
    int sum = 0;
    for (int i = 0; i < 10; ++i) sum += *results.recv();
    std::printf("consumer: sum of squares 1..10 = %d\n", sum);
    return sum == 385 ? 0 : 1;
  });
}
