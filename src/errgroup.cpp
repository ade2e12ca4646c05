// goro::errgroup (include/goro/errgroup.hpp), after x/sync/errgroup.
#include <goro/errgroup.hpp>

#include <mutex>
#include <string>

namespace goro {

void errgroup::state::fail(error e) {
  {
    std::lock_guard lk(mu);
    if (has_err) return;
    has_err = true;
    err = e;
  }
  // Outside mu: cancelling runs the context's children and after_funcs.
  if (cancel) cancel(std::move(e));
}

void errgroup::set_limit(int n) {
  state& s = st();
  if (n < 0) {
    s.sem = chan<void>();
    return;
  }
  if (s.sem && s.sem.len() != 0)
    throw panic_error("errgroup: modify limit while " + std::to_string(s.sem.len()) +
                      " goroutines in the group are still active");
  s.sem = make_chan<void>(static_cast<std::size_t>(n));
}

error errgroup::wait() {
  state& s = st();
  s.wg.wait();
  error e;
  {
    std::lock_guard lk(s.mu);
    e = s.err;
  }
  if (s.cancel) s.cancel(e);  // nil: the context's cause is canceled
  return e;
}

}  // namespace goro
