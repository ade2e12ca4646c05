// The scheduler: G/M/P, run queues, work stealing, spinning and parking Ms,
// park/ready. The design essay is docs/scheduler.md; the short version:
//
//   G  a goroutine: a closure, a stack (taken at first run), a saved context.
//   M  an OS thread. It runs Gs only while it holds a P.
//   P  a processor: the right to run Gs, a local run queue, caches.
//      There are exactly GOMAXPROCS Ps.
//
// Protocol for spinning Ms (Go's proc.go, "Worker thread parking/unparking"):
// an M with a P and no work "spins" looking for work to steal. At most one M
// is woken to spin when work appears (wakep: only if a P is idle and nobody
// spins); a spinning M that finds work stops spinning and, if it was the last
// spinner, wakes another, so bursts of work fan out one M at a time. Before
// an M parks it publishes "not spinning" and its P as idle (seq_cst), then
// re-checks every run queue; a readier publishes the G (release) and then
// checks for idle Ps and spinners (seq_cst fence). One of the two sees the
// other: no lost wake-ups.
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <new>
#include <sstream>
#include <thread>
#include <type_traits>

#include "crash.hpp"
#include "export_test.hpp"
#include "runtime.hpp"
#include "sanitizer.hpp"
#include "switch.hpp"
#include "timer.hpp"

namespace goro::detail {

namespace ctx = boost::context::detail;

namespace {

constexpr int max_procs_limit = 1024;
static_assert(sizeof(M::seen_tick) / sizeof(M::seen_tick[0]) == max_procs_limit);

// A small test-and-test-and-set lock for sched.lock: critical sections are a
// handful of pointer moves, and std::mutex would sleep in the kernel.
class spinlock {
 public:
  void lock() noexcept {
    for (;;) {
      if (!flag_.exchange(true, std::memory_order_acquire)) return;
      int spins = 0;
      while (flag_.load(std::memory_order_relaxed)) {
        if (++spins < 64) cpu_relax();
        else sched_yield();
      }
    }
  }
  void unlock() noexcept { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

// Global scheduler state. Never destroyed: goroutines may outlive main.
struct sched_t {
  spinlock lock;
  // Global run queue: FIFO through G::schedlink. Guarded by lock; runqsize
  // is also read without it as a hint.
  G* runqhead = nullptr;
  G* runqtail = nullptr;
  std::atomic<std::int32_t> runqsize{0};
  // Idle Ms and Ps. Guarded by lock (npidle also read as a hint).
  M* midle = nullptr;
  int nmidle = 0;
  // Ms ever started (ids 1..mcount); only grows. Written under lock, seq_cst
  // and before the new M runs anything; read without the lock by
  // threads_started().
  std::atomic<int> mcount{0};
  P* pidle = nullptr;
  std::atomic<std::int32_t> npidle{0};
  std::atomic<std::int32_t> nmspinning{0};
  std::atomic<std::int32_t> gomaxprocs{0};
  int nallp = 0;               // Ps ever created; allp[0..nallp) valid. Guarded by lock.
  std::atomic<P*> allp[max_procs_limit] = {};
  // Free Gs not cached by a P. Guarded by lock (gfree_n_hint: a racy peek).
  G* gfree = nullptr;
  std::atomic<int> gfree_n{0};
  int gfree_n_hint() const { return gfree_n.load(std::memory_order_relaxed); }
  // The rest of the slab new Gs are carved from (g_slab_carve_locked). Guarded by lock.
  char* gslab = nullptr;
  int gslab_left = 0;
  // The idle M sleeping until the earliest timer (see stopm), and until when.
  M* timer_sleeper = nullptr;  // guarded by lock
  std::atomic<std::int64_t> timer_sleep_until{LLONG_MAX};
  std::atomic<std::uint64_t> goid_gen{0};
  std::atomic<std::int64_t> ngoroutines{0};
  std::atomic<bool> exiting{false};
  std::atomic<int> run_active{0};  // goro::run calls blocked waiting for their main
  std::atomic<bool> started{false};
  std::once_flag init_once;
  // Ps sysmon took from an M running user code (statistics, for tests).
  std::atomic<std::uint64_t> nhandoff_running{0};
};

// Constant-initialized, so sched() is a plain address with no guard, and
// trivially destructible, so nothing tears it down while goroutines run on
// after main returns.
static_assert(std::is_trivially_destructible_v<sched_t>);
constinit sched_t sched_obj;
inline sched_t& sched() { return sched_obj; }

// GOMAXPROCS changes here only (sched.lock held), with what is derived from it.
void set_gomaxprocs_locked(int n) {
  sched().gomaxprocs.store(n, std::memory_order_relaxed);
  reader_slots_on.store(n > 1, std::memory_order_relaxed);
}

std::atomic<int> runtime_threads{0};  // see note_runtime_thread
}  // namespace
void count_goroutine(P* p, int delta);
namespace {

int default_procs() {
  if (const char* env = std::getenv("GOMAXPROCS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, max_procs_limit);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

[[gnu::tls_model("initial-exec")]] thread_local std::uint64_t thread_rand = 0;

// ---- futex ------------------------------------------------------------------

long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op | FUTEX_PRIVATE_FLAG, val,
                 ts, nullptr, 0);
}

// ---- global run queue (sched.lock held) --------------------------------------

void globrunqput_locked(G* gp) {
  gp->schedlink = nullptr;
  if (sched().runqtail) sched().runqtail->schedlink = gp;
  else sched().runqhead = gp;
  sched().runqtail = gp;
  sched().runqsize.fetch_add(1, std::memory_order_relaxed);
}

void globrunqputbatch_locked(G* head, G* tail, int n) {
  tail->schedlink = nullptr;
  if (sched().runqtail) sched().runqtail->schedlink = head;
  else sched().runqhead = head;
  sched().runqtail = tail;
  sched().runqsize.fetch_add(n, std::memory_order_relaxed);
}

// At the head: goroutines being woken, ahead of a backlog (see ready_many).
void globrunqputbatch_head_locked(G* head, G* tail, int n) {
  tail->schedlink = sched().runqhead;
  if (!sched().runqtail) sched().runqtail = tail;
  sched().runqhead = head;
  sched().runqsize.fetch_add(n, std::memory_order_relaxed);
}

G* globrunqpop_locked() {
  G* gp = sched().runqhead;
  if (!gp) return nullptr;
  sched().runqhead = gp->schedlink;
  if (!sched().runqhead) sched().runqtail = nullptr;
  sched().runqsize.fetch_sub(1, std::memory_order_relaxed);
  return gp;
}

// ---- local run queue ----------------------------------------------------------

bool runqempty(P* p) {
  if (!p->contq.empty()) return false;  // fork-join continuations are queued work too
  if (p->yslot.load(std::memory_order_relaxed) != nullptr) return false;
  // A G moving from runnext into runq is never invisible to this check: Go's
  // trick of re-reading tail confirms a consistent snapshot.
  for (;;) {
    std::uint32_t head = p->runqhead.load(std::memory_order_acquire);
    std::uint32_t tail = p->runqtail.load(std::memory_order_acquire);
    G* next = p->runnext.load(std::memory_order_acquire);
    if (tail == p->runqtail.load(std::memory_order_acquire)) return head == tail && next == nullptr;
  }
}

// Moves half of p's queue plus gp to the global queue. Owner only.
bool runqputslow(P* p, G* gp, std::uint32_t head, std::uint32_t tail) {
  constexpr std::uint32_t n = local_runq_size / 2;
  G* batch[n + 1];
  if (tail - head != local_runq_size) return false;
  for (std::uint32_t i = 0; i < n; ++i)
    batch[i] = p->runq[(head + i) % local_runq_size].load(std::memory_order_relaxed);
  if (!p->runqhead.compare_exchange_strong(head, head + n, std::memory_order_release,
                                           std::memory_order_relaxed))
    return false;
  batch[n] = gp;
  for (std::uint32_t i = 0; i < n; ++i) batch[i]->schedlink = batch[i + 1];
  p->nspill.store(p->nspill.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::lock_guard lk(sched().lock);
  globrunqputbatch_locked(batch[0], batch[n], static_cast<int>(n + 1));
  return true;
}

// Puts gp on p's queue (in runnext if next, kicking the old runnext to the
// tail). Owner only.
// Returns true if gp was published by a seq_cst exchange (runnext): then the
// caller needs no further fence before wakep's checks.
bool runqput(P* p, G* gp, bool next) {
  if (next) {
    G* old = p->runnext.exchange(gp, std::memory_order_seq_cst);
    if (old == nullptr) return true;
    gp = old;
  }
  for (;;) {
    std::uint32_t head = p->runqhead.load(std::memory_order_acquire);
    std::uint32_t tail = p->runqtail.load(std::memory_order_relaxed);
    if (tail - head < local_runq_size) {
      p->runq[tail % local_runq_size].store(gp, std::memory_order_relaxed);
      p->runqtail.store(tail + 1, std::memory_order_release);
      return false;
    }
    if (runqputslow(p, gp, head, tail)) return false;
  }
}

// Starts loading what the goroutine behind the one just popped will touch
// first: the top of its saved stack (the context the switch restores and the
// frames it returns through), the 256 bytes below it (where the switch's
// on-top hook and the exit path run) and its stack's header (written when it
// exits). After a wake-up burst (10k goroutines readied by one close) every
// one of them is cold, each on a page of its own, and the switch stalled on
// that miss for ~40% of the burst (perf); loading it while the current
// goroutine runs takes 20-30% off ctx_cancel_10k. The goroutine after that
// gets its G loaded, so its ctx is at hand next time.
//
// The read of nx's fields races with a thief that takes and runs nx meanwhile:
// a stale address only wastes a prefetch, and G structs are never freed, so the
// read is an atomic one, and TSan builds skip it (the plain writers would be
// reported).
inline void prefetch_after_pop(P* p, std::uint32_t next, std::uint32_t tail) {
  if constexpr (san::tsan) return;
  if (next == tail) return;
  G* nx = p->runq[next % local_runq_size].load(std::memory_order_relaxed);
  if (next + 1 != tail)
    __builtin_prefetch(p->runq[(next + 1) % local_runq_size].load(std::memory_order_relaxed));
  if (auto* c = static_cast<const char*>(__atomic_load_n(&nx->ctx, __ATOMIC_RELAXED)))
    for (int k = -4; k < 8; ++k) __builtin_prefetch(c + 64 * k);
  if (stack* s = __atomic_load_n(&nx->stk, __ATOMIC_RELAXED)) __builtin_prefetch(s, 1);
}

// Owner only: the ring's oldest G.
G* runq_pop(P* p) {
  for (;;) {
    std::uint32_t head = p->runqhead.load(std::memory_order_acquire);
    std::uint32_t tail = p->runqtail.load(std::memory_order_relaxed);
    if (tail == head) {
      p->runq_empty_at.store(tail, std::memory_order_relaxed);
      return nullptr;
    }
    G* gp = p->runq[head % local_runq_size].load(std::memory_order_relaxed);
    if (p->runqhead.compare_exchange_weak(head, head + 1, std::memory_order_release,
                                          std::memory_order_relaxed)) {
      if (head + 1 == tail) p->runq_empty_at.store(tail, std::memory_order_relaxed);
      prefetch_after_pop(p, head + 1, tail);
      return gp;
    }
  }
}

constexpr std::uint32_t runnext_streak_max = 64;

// Owner only. The P's local work, in order: runnext (unless it has supplied
// runnext_streak_max Gs in a row), this P's newest fork-join continuation
// (LIFO), the run queue, the yield slot; runnext last if it was passed over.
G* runqget(P* p) {
  auto take_runnext = [p]() -> G* {
    G* next = p->runnext.load(std::memory_order_relaxed);
    if (next == nullptr ||
        !p->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acquire))
      return nullptr;
    ++p->runnext_streak;
    return next;
  };
  if (p->runnext_streak < runnext_streak_max)
    if (G* gp = take_runnext()) return gp;
  p->runnext_streak = 0;
  if (std::uint32_t n = p->contq_bound.load(std::memory_order_relaxed)) {
    if (G* gp = p->contq.pop()) {
      p->contq_bound.store(n - 1, std::memory_order_relaxed);
      return gp;
    }
    p->contq_bound.store(0, std::memory_order_relaxed);
  }
  if (G* gp = runq_pop(p)) return gp;
  if (G* gp = p->yslot.load(std::memory_order_relaxed)) {
    p->yslot.store(nullptr, std::memory_order_relaxed);
    return gp;
  }
  return take_runnext();
}

// How long a thief waits before it takes a running P's runnext (Go: ~3 µs,
// a usleep(3) that the VMs here stretch to ~60 µs).
constexpr std::int64_t runnext_grace_ns = 20'000;

// Grabs half of p's queue into batch[batch_head...]; returns how many.
std::uint32_t runqgrab(P* p, std::atomic<G*>* batch, std::uint32_t batch_head,
                       bool steal_runnext, std::uint32_t seen_tick) {
  for (;;) {
    std::uint32_t head = p->runqhead.load(std::memory_order_acquire);
    std::uint32_t tail = p->runqtail.load(std::memory_order_acquire);
    std::uint32_t n = tail - head;
    n = n - n / 2;
    if (n == 0) {
      if (steal_runnext) {
        G* next = p->runnext.load(std::memory_order_acquire);
        if (next != nullptr) {
          // The owner readied `next` and will most likely run it at its next
          // scheduling (a channel partner: ping-pong, producer/consumer).
          // Moving it to another thread would turn cheap local switches into
          // cross-core wake-ups, so steal it only if the owner has not
          // scheduled at all since the thief started looking, at least
          // runnext_grace_ns ago (Go waits ~3 µs).
          if (p->status.load(std::memory_order_relaxed) == p_running &&
              p->schedtick.load(std::memory_order_relaxed) != seen_tick)
            return 0;
          if (p->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
            batch[batch_head % local_runq_size].store(next, std::memory_order_relaxed);
            return 1;
          }
        }
      }
      return 0;
    }
    if (n > local_runq_size / 2) continue;  // inconsistent snapshot
    for (std::uint32_t i = 0; i < n; ++i) {
      G* g = p->runq[(head + i) % local_runq_size].load(std::memory_order_relaxed);
      batch[(batch_head + i) % local_runq_size].store(g, std::memory_order_relaxed);
    }
    if (p->runqhead.compare_exchange_strong(head, head + n, std::memory_order_acq_rel,
                                            std::memory_order_relaxed))
      return n;
  }
}

// Steals half of victim's queue into p's; returns one G to run.
G* runqsteal(P* p, P* victim, bool steal_runnext, std::uint32_t seen_tick = 0) {
  std::uint32_t tail = p->runqtail.load(std::memory_order_relaxed);
  std::uint32_t n = runqgrab(victim, p->runq, tail, steal_runnext, seen_tick);
  if (n == 0) return nullptr;
  p->nsteal.store(p->nsteal.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  --n;
  G* gp = p->runq[(tail + n) % local_runq_size].load(std::memory_order_relaxed);
  if (n == 0) return gp;
  p->runqtail.store(tail + n, std::memory_order_release);
  return gp;
}

// Takes up to a fair share of the global queue into p; returns one. sched.lock held.
G* globrunqget_locked(P* p, int max) {
  int size = sched().runqsize.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  int gmp = sched().gomaxprocs.load(std::memory_order_relaxed);
  int n = std::min(size, size / gmp + 1);
  if (max > 0 && n > max) n = max;
  n = std::min(n, static_cast<int>(local_runq_size / 2));
  G* gp = globrunqpop_locked();
  for (int i = 1; i < n; ++i) runqput(p, globrunqpop_locked(), false);
  return gp;
}

// ---- Ps -------------------------------------------------------------------------

// sched.lock held.
void pidleput_locked(P* p) {
  p->status.store(p_idle, std::memory_order_relaxed);
  p->m.store(nullptr, std::memory_order_relaxed);
  p->link = sched().pidle;
  sched().pidle = p;
  sched().npidle.fetch_add(1, std::memory_order_seq_cst);
}

// sched.lock held. Never returns a P beyond gomaxprocs.
P* pidleget_locked() {
  P* p = sched().pidle;
  if (p) {
    sched().pidle = p->link;
    sched().npidle.fetch_sub(1, std::memory_order_seq_cst);
  }
  return p;
}

void wake_sysmon();

void acquirep(M* m, P* p) {
  m->p = p;
  p->m.store(m, std::memory_order_relaxed);
  p->status.store(p_running, std::memory_order_release);
  // sysmon sleeps while every P is idle and only startm woke it: a P taken
  // back without startm (findrunnable's re-check, p_lost, exit_blocking) ran
  // unwatched, and a goroutine stuck in a loop there was never handed off.
  wake_sysmon();
}

// Moves everything queued on p to the global queue (p is being retired).
void drain_to_global(P* p) {
  G* gp;
  while ((gp = runqget(p)) != nullptr) {
    std::lock_guard lk(sched().lock);
    globrunqput_locked(gp);
  }
}

void wakep();
void wake_sysmon();
void setup_asym_fence();
[[noreturn]] void sysmon();

// ---- Ms -------------------------------------------------------------------------

void mstart(M* m);

// Starts an M for p (idle P if null), spinning or not. If no P is free, undoes
// the caller's nmspinning increment.
void startm(P* p, bool spinning) {
  auto& s = sched();
  s.lock.lock();
  if (p == nullptr) {
    p = pidleget_locked();
    if (p == nullptr) {
      s.lock.unlock();
      if (spinning) s.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
  }
  M* nm = s.midle;
  if (nm) {
    s.midle = nm->schedlink;
    --s.nmidle;
    nm->in_idle = false;
  }
  int id = nm ? 0 : s.mcount.fetch_add(1, std::memory_order_seq_cst) + 1;
  s.lock.unlock();
  if (nm == nullptr) {
    nm = new M;  // Ms live forever (an idle pool), as in Go
    nm->id = id;
    nm->spinning = spinning;
    nm->nextp.store(p, std::memory_order_release);
    std::thread([nm] { mstart(nm); }).detach();
    wake_sysmon();
    return;
  }
  nm->spinning = spinning;
  nm->nextp.store(p, std::memory_order_release);
  nm->park.wakeup();
  wake_sysmon();
}

// Go's wakep: wake (or start) one M to spin, if a P is idle and none spins.
void wakep() {
  auto& s = sched();
  if (s.npidle.load(std::memory_order_seq_cst) == 0) return;
  std::int32_t zero = 0;
  if (s.nmspinning.load(std::memory_order_seq_cst) != 0 ||
      !s.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst))
    return;
  startm(nullptr, true);
}

// Blocks this M for good: the process is exiting (main returned).
[[noreturn]] void park_forever() {
  for (;;) pause();
}

int process_threads() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int n = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "Threads: %d", &n) == 1) break;
  std::fclose(f);
  return n;
}

// Threads a sanitizer runtime adds: TSan starts one background thread when
// the first thread is created (our first M at the latest).
#if defined(GORO_TSAN)
constexpr int sanitizer_threads = 1;
#else
constexpr int sanitizer_threads = 0;
#endif

// True if no goroutine can ever run again (Go's checkdead): inside goro::run,
// every P idle, nothing queued, no timer armed, every goroutine parked, and no
// thread in the process but the Ms, the runtime's helpers and the one thread
// blocked in goro::run, so nothing outside the runtime can wake anyone.
bool looks_dead() {
  auto& s = sched();
  if (s.run_active.load(std::memory_order_acquire) == 0) return false;
  if (s.npidle.load() != s.gomaxprocs.load() || s.nmspinning.load() != 0) return false;
  if (s.runqsize.load() != 0 || timers_pending()) return false;
  int mcount = s.mcount.load();
  if (process_threads() != 1 + mcount + runtime_threads.load() + sanitizer_threads) return false;
  std::vector<G*> gs;
  allgs_snapshot(gs);
  int waiting = 0;
  for (G* g : gs) {
    std::uint32_t st = g->status.load(std::memory_order_acquire);
    if (st == g_running || st == g_runnable) return false;
    if (st == g_idle && g->invoke.load(std::memory_order_relaxed) != nullptr) return false;
    if (st == g_waiting || st == g_dumping) ++waiting;
  }
  return waiting > 0;
}

void checkdead() {
  if (!looks_dead()) return;
  // Confirm the state is stable, not a moment between two hand-offs.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!looks_dead()) return;
  std::ostringstream out;
  out << "fatal error: all goroutines are asleep - deadlock!\n\n";
  dump_all(out, false);
  std::string text = out.str();
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
  std::abort();
}

// Parks m in the idle pool until startm hands it a P (m->nextp), which this
// returns. While timers are armed, one idle M is the timer sleeper: it sleeps
// only until the earliest timer, runs the due ones (without a P: readied Gs go
// to the global queue) and goes back to sleep.
P* stopm(M* m) {
  auto& s = sched();
  for (;;) {
    std::int64_t scavenge_at = stack_scavenge();
    s.lock.lock();
    m->schedlink = s.midle;
    s.midle = m;
    ++s.nmidle;
    m->in_idle = true;
    std::int64_t until = LLONG_MAX;
    // Read the hint once: a second read could see run_due_timers' transient
    // LLONG_MAX and make this M a timer sleeper that never wakes.
    std::int64_t wake_at = std::min(timers_earliest(), scavenge_at);
    // Take the role over from a sleeper that would wake later than we
    // would: it may have registered while a runner's scan had the hint
    // half-recomputed (an arm racing the scan had lowered it to a later
    // timer), and the runner, back here, must not defer to it. The old
    // sleeper wakes at its own deadline and finds it is no longer the one.
    if (wake_at != LLONG_MAX &&
        (s.timer_sleeper == nullptr ||
         wake_at < s.timer_sleep_until.load(std::memory_order_relaxed))) {
      s.timer_sleeper = m;
      until = wake_at;
      s.timer_sleep_until.store(until, std::memory_order_relaxed);
    }
    // Exact, under the lock: every M is now idle (Go's checkdead runs here).
    const bool last_idle = s.nmidle == s.mcount.load(std::memory_order_relaxed);
    s.lock.unlock();
    if (until == LLONG_MAX && last_idle) {
      // The last M to go idle looks for a deadlock, and looks again a few
      // times over ~2.5 s if nothing wakes it: its first look can come a
      // moment before the state settles (seen once in ~40 ASan runs: both
      // Ms' single looks failed, and nobody looked again).
      bool woken = false;
      for (std::int64_t wait = 10'000'000; !woken && wait <= 1'280'000'000; wait *= 2) {
        checkdead();
        woken = m->park.sleep_for(wait);
      }
      if (!woken) m->park.sleep();
    } else if (until == LLONG_MAX) {
      m->park.sleep();  // another M is still running: it will look
    } else {
      m->park.sleep_for(until - nanotime());
    }
    s.lock.lock();
    if (s.timer_sleeper == m) {
      s.timer_sleeper = nullptr;
      s.timer_sleep_until.store(LLONG_MAX, std::memory_order_relaxed);
    }
    if (!m->in_idle) {
      // startm took us: it sets nextp, then wakes the note.
      s.lock.unlock();
      while (m->nextp.load(std::memory_order_acquire) == nullptr) m->park.sleep();
      return m->nextp.exchange(nullptr, std::memory_order_acq_rel);
    }
    // Woken for timers (or timed out): leave the idle list, run what is due.
    M** link = &s.midle;
    while (*link != m) link = &(*link)->schedlink;
    *link = m->schedlink;
    --s.nmidle;
    m->in_idle = false;
    s.lock.unlock();
    if (s.exiting.load(std::memory_order_relaxed)) park_forever();
    run_due_timers(nanotime(), /*notify=*/false);  // the loop re-evaluates
  }
}

void resetspinning(M* m) {
  m->spinning = false;
  if (sched().nmspinning.fetch_sub(1, std::memory_order_seq_cst) == 1) wakep();
}

// ---- finding work ---------------------------------------------------------------

G* steal_work(M* m, P* p, bool steal_runnext) {
  auto& s = sched();
  int n = s.gomaxprocs.load(std::memory_order_relaxed);
  if (n <= 1) return nullptr;
  std::uint32_t start = static_cast<std::uint32_t>(splitmix(m->rand));
  for (int i = 0; i < n; ++i) {
    P* victim = s.allp[(start + i) % n].load(std::memory_order_acquire);
    if (victim == nullptr || victim == p) continue;
    if (G* gp = victim->contq.steal()) {  // fork-join: its oldest continuation first
      p->ncontsteal.store(p->ncontsteal.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
      return gp;
    }
    std::uint32_t idx = (start + i) % n;
    if (G* gp = runqsteal(p, victim, steal_runnext, m->seen_tick[idx])) return gp;
  }
  return nullptr;
}

// Time a spinning M keeps looking before it gives up its P and parks. Waking
// a parked thread costs ~10-20 µs on the VMs goro is tuned on, so a short spin
// is much cheaper than a futex round trip when work arrives in bursts. (5 µs,
// with a 3 µs runnext grace, measured no different on the side-by-side
// workloads in session 5.) Longer than the runnext grace, so that one spin
// can end in taking runnext.
constexpr std::int64_t spin_window_ns = 50'000;
static_assert(runnext_grace_ns < spin_window_ns);

// Finds a runnable G for m (which holds a P), blocking if there is none.
// Returns with m->p set (it may be a different P than on entry).
G* findrunnable(M* m) {
  auto& s = sched();
top:
  if (s.exiting.load(std::memory_order_relaxed)) park_forever();
  if (timers_earliest() <= nanotime()) run_due_timers(nanotime());
  if (m->p == nullptr) {
    // Our P was handed off while a goroutine blocked (sysmon): get one back.
    s.lock.lock();
    P* np = pidleget_locked();
    s.lock.unlock();
    acquirep(m, np ? np : stopm(m));
  }
  P* p = m->p;
  if (p->id >= s.gomaxprocs.load(std::memory_order_relaxed)) {
    // This P was retired by set_max_procs: hand its work over, find another.
    drain_to_global(p);
    s.lock.lock();
    if (p->id < s.gomaxprocs.load(std::memory_order_relaxed)) {  // raised again meanwhile
      s.lock.unlock();
      goto top;
    }
    p->status.store(p_dead, std::memory_order_relaxed);
    p->m.store(nullptr, std::memory_order_relaxed);
    m->p = nullptr;
    P* np = pidleget_locked();
    s.lock.unlock();
    if (m->spinning) {
      m->spinning = false;
      s.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
    }
    if (np == nullptr) np = stopm(m);
    acquirep(m, np);
    goto top;
  }
  if (G* gp = runqget(p)) return gp;  // runnext, continuations, runq, yield slot
  if (s.runqsize.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lk(s.lock);
    if (G* gp = globrunqget_locked(p, 0)) return gp;
  }
  // Spin: steal from others. Go's limit: no more spinners than busy Ps / 2.
  {
    int procs = s.gomaxprocs.load(std::memory_order_relaxed);
    if (!m->spinning && 2 * s.nmspinning.load(std::memory_order_relaxed) <
                            procs - s.npidle.load(std::memory_order_relaxed)) {
      m->spinning = true;
      s.nmspinning.fetch_add(1, std::memory_order_seq_cst);
    }
    if (m->spinning) {
      std::int64_t start = nanotime();
      std::int64_t deadline = start + spin_window_ns;
      for (int i = 0; i < procs; ++i)
        if (P* q = s.allp[i].load(std::memory_order_acquire))
          m->seen_tick[i] = q->schedtick.load(std::memory_order_relaxed);
      bool grace_over = false;
      for (int round = 0;; ++round) {
        if (G* gp = steal_work(m, p, grace_over)) return gp;
        if (!grace_over && nanotime() - start >= runnext_grace_ns) grace_over = true;
        if (s.runqsize.load(std::memory_order_relaxed) > 0) {
          std::lock_guard lk(s.lock);
          if (G* gp = globrunqget_locked(p, 0)) return gp;
        }
        if (!runqempty(p)) goto top;  // something readied work onto our P
        if (s.exiting.load(std::memory_order_relaxed)) park_forever();
        if (round >= 3 && nanotime() > deadline) break;
        for (int i = 0; i < 32; ++i) cpu_relax();
      }
    }
  }
  // Give up the P and park. Re-check the global queue under the lock first.
  s.lock.lock();
  if (s.runqsize.load(std::memory_order_relaxed) > 0) {
    G* gp = globrunqget_locked(p, 0);
    s.lock.unlock();
    if (gp) return gp;
    goto top;
  }
  if (!runqempty(p)) {
    s.lock.unlock();
    goto top;
  }
  m->p = nullptr;
  pidleput_locked(p);
  s.lock.unlock();
  bool was_spinning = m->spinning;
  if (m->spinning) {
    m->spinning = false;
    s.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // A readier may have queued work after our last look and seen us spinning,
  // so not woken anyone: look once more at every queue (Go's "delicate dance").
  if (was_spinning || s.runqsize.load(std::memory_order_relaxed) > 0) {
    int n = s.gomaxprocs.load(std::memory_order_relaxed);
    bool work = s.runqsize.load(std::memory_order_relaxed) > 0;
    for (int i = 0; i < n && !work; ++i) {
      P* q = s.allp[i].load(std::memory_order_acquire);
      if (q && !runqempty(q)) work = true;
    }
    if (work) {
      s.lock.lock();
      P* np = pidleget_locked();
      s.lock.unlock();
      if (np) {
        acquirep(m, np);
        if (was_spinning) {
          m->spinning = true;
          s.nmspinning.fetch_add(1, std::memory_order_seq_cst);
        }
        goto top;
      }
    }
  }
  acquirep(m, stopm(m));
  goto top;
}

// ---- running Gs -------------------------------------------------------------------

// All Gs ever allocated. Guarded by allg_lock (a leaf lock).
std::mutex& allg_lock() {
  static std::mutex* m = new std::mutex;
  return *m;
}
std::vector<G*>& allgs() {
  static std::vector<G*>* v = new std::vector<G*>;
  return *v;
}
void register_g(G* gp) {
  std::lock_guard lk(allg_lock());
  allgs().push_back(gp);
}

// Gs are never freed (exited ones wait on free lists), so they are carved from
// slabs: each G is cache-line aligned, and an aligned new per G would leave
// malloc's alignment slack around each one. Returns raw memory for one G.
void* g_slab_carve_locked() {
  constexpr int per_slab = 64;
  auto& s = sched();
  if (s.gslab_left == 0) {
    s.gslab = static_cast<char*>(::operator new(per_slab * sizeof(G), std::align_val_t{alignof(G)}));
    s.gslab_left = per_slab;
  }
  void* g = s.gslab;
  s.gslab += sizeof(G);
  --s.gslab_left;
  return g;
}

G* alloc_g_locked_global() {
  auto& s = sched();
  G* gp = s.gfree;
  if (gp) {
    s.gfree = gp->schedlink;
    --s.gfree_n;
  }
  return gp;
}

std::uint64_t new_goid(P* p) {
  if (p == nullptr) return sched().goid_gen.fetch_add(1, std::memory_order_relaxed) + 1;
  if (p->goid_next == p->goid_end) {
    constexpr std::uint64_t batch = 64;
    p->goid_next = sched().goid_gen.fetch_add(batch, std::memory_order_relaxed) + 1;
    p->goid_end = p->goid_next + batch;
  }
  return p->goid_next++;
}

// Gives gp its stack on first run. m holds a P.
void prepare_to_run(M* m, G* gp) {
  if (gp->stk == nullptr) {
    stack* stk = stack_alloc(m->p->stacks);
    make_context(gp, stk);
  }
  gp->status.store(g_running, std::memory_order_relaxed);
  m->curg = gp;
  m->p->schedtick.store(m->p->schedtick.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
}

// The next G to run on m's P without blocking, or null: runnext, local queue,
// and the global queue every 61st tick so it cannot starve.
G* next_local(M* m) {
  P* p = m->p;
  if (p == nullptr) return nullptr;  // lost to sysmon: g0 finds a P first
  auto& s = sched();
  if (s.exiting.load(std::memory_order_relaxed) ||
      p->id >= s.gomaxprocs.load(std::memory_order_relaxed))
    return nullptr;
  if (p->schedtick.load(std::memory_order_relaxed) % 61 == 0) {
    // Due timers: go through g0 (findrunnable runs them). Not here: the
    // parking G's unlockf has not run yet, so we may hold the very channel
    // lock a timer callback needs.
    if (timers_earliest() <= nanotime()) return nullptr;
    if (s.runqsize.load(std::memory_order_relaxed) > 0) {
      std::lock_guard lk(s.lock);
      if (G* gp = globrunqget_locked(p, 1)) return gp;
    }
  }
  return runqget(p);
}

// Leaves the current G `from` (already given its post action) for the next
// runnable one, directly if the local queue has one, else via the scheduler
// loop on g0. Runs on from's stack; returns when from is resumed.
// Returns the M that resumed `from` (see switch_to).
M* schedule_from(M* m, G* from, post_fn post, void* arg, bool exits = false) {
  G* next = next_local(m);
  if (next != nullptr) {
    prepare_to_run(m, next);
  } else {
    next = &m->g0;
    m->curg = next;
  }
  return switch_to(m, from, next, post, arg, exits);
}

// The scheduler loop, on an M's own stack.
[[noreturn]] void schedule_loop(M* m) {
  for (;;) {
    G* gp = findrunnable(m);
    if (m->spinning) resetspinning(m);
    prepare_to_run(m, gp);
    // g0 runs in a runtime section (in_rt == 1); gp leaves it when it resumes.
    m = switch_to(m, &m->g0, gp, nullptr, nullptr);  // the same M: g0 never migrates
  }
}

void mstart(M* m) {
  set_current_m(m);
  char name[16];
  std::snprintf(name, sizeof name, "goro-M%d", m->id);
  pthread_setname_np(pthread_self(), name);
  m->rand = reinterpret_cast<std::uintptr_t>(m) * 0x9e3779b97f4a7c15ULL + m->id;
  m->g0.is_g0 = true;
  m->curg = &m->g0;
  m->in_rt.store(1, std::memory_order_relaxed);  // g0 runs inside a runtime section
#if defined(GORO_TSAN)
  m->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
  crash_install_thread();
  acquirep(m, m->nextp.exchange(nullptr));
  schedule_loop(m);
}

// post actions -------------------------------------------------------------------

struct park_args {
  bool (*unlockf)(G*, void*);
  void* arg;
};

// waiting -> runnable. A dump may be borrowing gp's stack (g_dumping): wait
// for it to finish (it takes microseconds).
void make_runnable(G* gp) {
  std::uint32_t s = g_waiting;
  while (!gp->status.compare_exchange_weak(s, g_runnable, std::memory_order_acq_rel)) {
    s = g_waiting;
    cpu_relax();
  }
}

// Queues gp on this M's P, or globally if the M has none. In a section.
bool put_runnable(G* gp, bool next, M* m = current_m()) {
  if (m && m->p) return runqput(m->p, gp, next);
  std::lock_guard lk(sched().lock);
  globrunqput_locked(gp);
  return false;
}

void post_park(G* gp, void* a) {
  auto* pa = static_cast<park_args*>(a);
  gp->status.store(g_waiting, std::memory_order_relaxed);
  if (pa->unlockf != nullptr && !pa->unlockf(gp, pa->arg)) {
    // Do not park after all: run gp next.
    make_runnable(gp);
    put_runnable(gp, true);
  }
}

// The yielder goes to the yield slot while no M looks for work; otherwise to
// runq, after the slot's G (it yielded earlier), where spinning Ms can steal
// both.
void post_yield(G* gp, void*) {
  gp->status.store(g_runnable, std::memory_order_relaxed);
  M* m = current_m();
  P* p = m->p;
  if (p == nullptr) {
    put_runnable(gp, false, m);
    return;
  }
  G* y = p->yslot.load(std::memory_order_relaxed);
  if (y == nullptr && sched().nmspinning.load(std::memory_order_relaxed) == 0) {
    p->yslot.store(gp, std::memory_order_relaxed);
    return;
  }
  if (y != nullptr) {
    p->yslot.store(nullptr, std::memory_order_relaxed);
    runqput(p, y, false);
  }
  runqput(p, gp, false);
}

// Free Gs move between a P's cache and the global list 32 at a time (Go's
// gfput/gfget): a P that only spawns and one where they exit would otherwise
// take sched.lock once per goroutine.
constexpr int gfree_batch = 32;

void free_g(P* p, G* gp) {
  gp->status.store(g_dead, std::memory_order_relaxed);
  if (p == nullptr) {
    std::lock_guard lk(sched().lock);
    gp->schedlink = sched().gfree;
    sched().gfree = gp;
    ++sched().gfree_n;
    return;
  }
  gp->schedlink = p->gfree;
  p->gfree = gp;
  if (++p->gfree_n < 2 * gfree_batch) return;
  G* first = p->gfree;
  G* last = first;
  for (int i = 1; i < gfree_batch; ++i) last = last->schedlink;
  p->gfree = last->schedlink;
  p->gfree_n -= gfree_batch;
  std::lock_guard lk(sched().lock);
  last->schedlink = sched().gfree;
  sched().gfree = first;
  sched().gfree_n += gfree_batch;
}

// Refills p's free-G cache from the global list. p owned.
void gfget_batch(P* p) {
  std::lock_guard lk(sched().lock);
  auto& s = sched();
  for (int i = 0; i < gfree_batch && s.gfree; ++i) {
    G* gp = s.gfree;
    s.gfree = gp->schedlink;
    --s.gfree_n;
    gp->schedlink = p->gfree;
    p->gfree = gp;
    ++p->gfree_n;
  }
}

void post_exit(G* gp, void*) {
  P* p = current_m()->p;
  stack_free(gp->stk, p ? &p->stacks : nullptr);
  gp->stk = nullptr;
  gp->sp_floor = nullptr;
  gp->ctx = nullptr;
#if defined(GORO_TSAN)
  tsan_fiber_put(gp->tsan_fiber);  // reused: creating one costs milliseconds
  gp->tsan_fiber = nullptr;
#endif
  free_g(p, gp);
}

// At process exit (main returned, static destructors about to run) goroutines
// stop being scheduled, as in Go, where returning from main ends the program.
void on_exit_handler() { sched().exiting.store(true, std::memory_order_relaxed); }

void init_runtime() {
  auto& s = sched();
  int n = default_procs();
  s.lock.lock();
  for (int i = 0; i < n; ++i) {
    P* p = new P;
    p->id = i;
    s.allp[i].store(p, std::memory_order_release);
    pidleput_locked(p);
  }
  s.nallp = n;
  set_gomaxprocs_locked(n);
  s.lock.unlock();
  crash_install();
  install_sigquit();
  setup_asym_fence();
  std::thread(sysmon).detach();
  std::atexit(on_exit_handler);
  s.started.store(true, std::memory_order_release);
}

void ensure_started() {
  auto& s = sched();
  if (!s.started.load(std::memory_order_acquire)) std::call_once(s.init_once, init_runtime);
}

struct thread_g_holder {
  G g;
  thread_g_holder() { g.is_thread = true; }
};

G* thread_g() {
  thread_local thread_g_holder h;
  return &h.g;
}

// ---- sysmon: taking Ps from stuck Ms (Go's sysmon/retake/handoffp) ------------
//
// An M running user code can be stuck: in a blocking call (annotated with
// goro::blocking: P in p_syscall) or a loop that reaches no scheduling point
// (P in p_running with an unchanged schedtick). sysmon then hands the P to
// another M. Taking a P from an M that is running user code uses an
// asymmetric Dekker protocol: the M, entering a runtime section, stores in_rt
// and then loads the P's status with only a compiler barrier between; sysmon
// CASes the status to p_retaking, issues membarrier() (which makes every
// running thread execute a full barrier) and then loads in_rt. Either sysmon
// sees the M inside the runtime and backs off, or the M sees p_retaking and
// waits for the verdict. Without membarrier both sides use seq_cst fences.
// (light_fence/heavy_fence: runtime.hpp.)

void setup_asym_fence() {
#if !defined(GORO_TSAN)
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
    asym_fence.store(true, std::memory_order_relaxed);
#endif
}

// m lost (or may have lost) p while in user code: wait for sysmon's verdict,
// then keep p, or take an idle P, or go without.
P* p_lost(M* m, P* p) {
  std::uint32_t st;
  while ((st = p->status.load(std::memory_order_acquire)) == p_retaking) cpu_relax();
  if (st == p_running && p->m.load(std::memory_order_relaxed) == m) return p;
  m->p = nullptr;
  auto& s = sched();
  s.lock.lock();
  P* np = pidleget_locked();
  s.lock.unlock();
  if (np) acquirep(m, np);
  return np;
}

// Hands a P taken from a stuck M to another M, or parks it idle.
void handoffp(P* p) {
  auto& s = sched();
  if (!runqempty(p) || s.runqsize.load(std::memory_order_relaxed) > 0 ||
      timers_earliest() <= nanotime()) {
    p->m.store(nullptr, std::memory_order_relaxed);
    startm(p, false);
    return;
  }
  s.lock.lock();
  pidleput_locked(p);
  s.lock.unlock();
}

constexpr std::int64_t force_handoff_ns = 10'000'000;  // Go's forcePreemptNS
constexpr std::int64_t syscall_handoff_ns = 20'000;

// One sysmon pass over the Ps; true if it took any.
bool retake(std::int64_t now) {
  auto& s = sched();
  bool work_waiting = s.runqsize.load(std::memory_order_relaxed) > 0;
  int n = s.gomaxprocs.load(std::memory_order_relaxed);
  bool took = false;
  for (int i = 0; i < n; ++i) {
    P* p = s.allp[i].load(std::memory_order_acquire);
    if (p == nullptr) continue;
    std::uint32_t st = p->status.load(std::memory_order_acquire);
    std::uint32_t tick = p->schedtick.load(std::memory_order_relaxed);
    if (tick != p->sysmon_tick || st == p_idle) {
      p->sysmon_tick = tick;
      p->sysmon_when = now;
      continue;
    }
    bool others = work_waiting || !runqempty(p);
    if (st == p_syscall) {
      if (now - p->syscall_when.load(std::memory_order_relaxed) < syscall_handoff_ns) continue;
      if (!others && s.npidle.load() + s.nmspinning.load() > 0 &&
          now - p->syscall_when.load(std::memory_order_relaxed) < force_handoff_ns)
        continue;  // nothing waits for it; idle Ps exist anyway
      std::uint32_t expect = p_syscall;
      if (p->status.compare_exchange_strong(expect, p_idle, std::memory_order_acq_rel)) {
        handoffp(p);
        took = true;
      }
    } else if (st == p_running) {
      if (now - p->sysmon_when < force_handoff_ns || !others) continue;
      M* m = p->m.load(std::memory_order_relaxed);
      if (m == nullptr) continue;
      std::uint32_t expect = p_running;
      if (!p->status.compare_exchange_strong(expect, p_retaking, std::memory_order_acq_rel)) continue;
      heavy_fence();
      if (m->in_rt.load(std::memory_order_seq_cst) != 0 || p->m.load() != m) {
        p->status.store(p_running, std::memory_order_release);  // busy in the runtime: not stuck
        continue;
      }
      p->status.store(p_idle, std::memory_order_release);
      handoffp(p);
      s.nhandoff_running.fetch_add(1, std::memory_order_relaxed);
      took = true;
    }
  }
  return took;
}

note sysmon_note;
std::atomic<bool> sysmon_sleeping{false};

void wake_sysmon() {
  if (sysmon_sleeping.load(std::memory_order_relaxed) &&
      sysmon_sleeping.exchange(false, std::memory_order_acq_rel))
    sysmon_note.wakeup();
}

[[noreturn]] void sysmon() {
  note_runtime_thread();
  pthread_setname_np(pthread_self(), "goro-sysmon");
  auto& s = sched();
  std::int64_t delay = 20'000;
  int idle = 0;
  for (;;) {
    if (s.exiting.load(std::memory_order_relaxed)) park_forever();
    if (idle > 50) delay = std::min<std::int64_t>(delay * 2, 10'000'000);
    timespec ts{0, static_cast<long>(delay)};
    nanosleep(&ts, nullptr);
    if (s.npidle.load(std::memory_order_acquire) == s.gomaxprocs.load(std::memory_order_relaxed)) {
      // Nothing runs: sleep until an M starts (startm wakes us). ~0 CPU idle.
      sysmon_sleeping.store(true, std::memory_order_seq_cst);
      if (s.npidle.load(std::memory_order_seq_cst) == s.gomaxprocs.load(std::memory_order_relaxed))
        sysmon_note.sleep();
      sysmon_sleeping.store(false, std::memory_order_relaxed);
      delay = 20'000;
      idle = 0;
      continue;
    }
    std::int64_t now = nanotime();
    // Timers no idle M is around to run (every M busy, or stuck).
    if (timers_earliest() <= now) run_due_timers(now);
    if (retake(nanotime())) {
      idle = 0;
      delay = 20'000;
    } else {
      ++idle;
    }
  }
}

}  // namespace

std::atomic<bool> asym_fence{false};
std::atomic<bool> reader_slots_on{false};

int threads_started() { return sched().mcount.load(std::memory_order_seq_cst); }

void heavy_fence() {
  if (!asym_fence.load(std::memory_order_relaxed) ||
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

// rt_enter, rt_exit and rt_section are inline in runtime.hpp.
P* rt_enter_lost(M* m, P* p) { return p_lost(m, p); }

void enter_blocking() {
  M* m = current_m();
  if (m == nullptr || m->curg->is_g0) return;
  P* p = rt_enter(m);
  if (p) {
    p->syscall_when.store(nanotime(), std::memory_order_relaxed);
    p->status.store(p_syscall, std::memory_order_release);
  }
  rt_exit(m);
}

void exit_blocking() {
  M* m = current_m();
  if (m == nullptr || m->curg->is_g0) return;
  P* p = m->p;
  std::uint32_t expect = p_syscall;
  if (p && p->status.compare_exchange_strong(expect, p_running, std::memory_order_acq_rel)) return;
  // sysmon gave our P away: take an idle one, or queue this goroutine and
  // let the M wait in the idle pool (findrunnable with no P).
  m->p = nullptr;
  auto& s = sched();
  s.lock.lock();
  P* np = pidleget_locked();
  s.lock.unlock();
  if (np) {
    acquirep(m, np);
    return;
  }
  rt_enter(m);
  rt_exit(schedule_from(m, m->curg, &post_yield, nullptr));
}

void timers_changed(std::int64_t when) {
  auto& s = sched();
  if (when >= s.timer_sleep_until.load(std::memory_order_relaxed)) return;  // it wakes in time
  s.lock.lock();
  if (M* sleeper = s.timer_sleeper) {
    if (when < s.timer_sleep_until.load(std::memory_order_relaxed)) sleeper->park.wakeup();
    s.lock.unlock();
    return;
  }
  M* idle = s.midle;  // sleeping indefinitely: make it the timer sleeper
  s.lock.unlock();
  if (idle) idle->park.wakeup();
  else wakep();  // Ms with a P check timers whenever they look for work
}

// ---- entry of every goroutine ----------------------------------------------------

void goroutine_main(ctx::transfer_t) {
  // Not the transfer's data: entered from make_fcontext's trampoline after
  // on_top returned, the argument registers hold nothing meaningful.
  M* m = current_m();
  G* gp = m->curg;
  rt_exit(m);  // entered by whoever switched to us
  // No frame below this one catches: an exception escaping invoke finds no
  // handler, so std::terminate runs on top of the throwing frame, unwound
  // nothing, and crash.cpp prints the panic with the stack of the throw.
  gp->invoke.load(std::memory_order_relaxed)(gp->closure);
  if (gp->closure_on_heap) ::operator delete(gp->closure, std::align_val_t{gp->closure_align});
  gp->closure = nullptr;
  gp->invoke.store(nullptr, std::memory_order_relaxed);
  m = current_m();
  count_goroutine(rt_enter(m), -1);  // the section is left by whatever runs next
  schedule_from(m, gp, &post_exit, nullptr, /*exits=*/true);
  std::abort();  // unreachable: a dead G is never resumed
}

// ---- public and internal entry points --------------------------------------------

G* new_goroutine(std::size_t size, std::size_t align, void** storage) {
  ensure_started();
  rt_section sec;
  M* m = sec.m;
  P* p = sec.p;
  G* gp = nullptr;
  if (p && !p->gfree && sched().gfree_n_hint() > 0) gfget_batch(p);
  if (p && p->gfree) {
    gp = p->gfree;
    p->gfree = gp->schedlink;
    --p->gfree_n;
  } else {
    void* raw = nullptr;
    {
      std::lock_guard lk(sched().lock);
      gp = alloc_g_locked_global();
      if (!gp) raw = g_slab_carve_locked();
    }
    if (!gp) {
      gp = new (raw) G;  // outside the lock: constructing it touches fresh pages
      register_g(gp);
    }
  }
  gp->schedlink = nullptr;
  gp->id = new_goid(p);
  gp->created_pc = __builtin_return_address(0);
  gp->parent_id = (m && !m->curg->is_g0) ? m->curg->id : 0;
  gp->reason.store(wait_reason::none, std::memory_order_relaxed);
  gp->ts = thread_state{};
  gp->select_done.store(0, std::memory_order_relaxed);
  gp->param = nullptr;
  gp->status.store(g_idle, std::memory_order_relaxed);
  if (size <= inline_closure_size && align <= 16) {
    gp->closure = gp->closure_buf;
    gp->closure_on_heap = false;
  } else {
    gp->closure_align = std::max<std::size_t>(align, 16);
    gp->closure = ::operator new(size, std::align_val_t{gp->closure_align});
    gp->closure_on_heap = true;
  }
  *storage = gp->closure;
  return gp;
}

void start_goroutine(G* gp, void (*invoke)(void*)) noexcept {
  gp->invoke.store(invoke, std::memory_order_relaxed);
  gp->status.store(g_runnable, std::memory_order_relaxed);
  rt_section sec;
  count_goroutine(sec.p, +1);
  if (sec.p) {
    runqput(sec.p, gp, true);
  } else {
    std::lock_guard lk(sched().lock);
    globrunqput_locked(gp);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  wakep();
}

// Peak live goroutines for tests and bench/fork_join (export_test.hpp): off
// by default, since an exact peak needs one shared counter that spawn and exit
// would otherwise not touch (goroutine counts are per P).
namespace {
std::atomic<bool> peak_on{false};
std::atomic<std::int64_t> peak_live{0}, peak_max{0};

void track_goroutine_peak(int delta) {
  std::int64_t n = peak_live.fetch_add(delta, std::memory_order_relaxed) + delta;
  std::int64_t m = peak_max.load(std::memory_order_relaxed);
  while (n > m && !peak_max.compare_exchange_weak(m, n, std::memory_order_relaxed)) {
  }
}
}  // namespace

void goroutine_peak_begin() {
  peak_live.store(0, std::memory_order_relaxed);
  peak_max.store(0, std::memory_order_relaxed);
  peak_on.store(true, std::memory_order_seq_cst);
}

std::size_t goroutine_peak_end() {
  peak_on.store(false, std::memory_order_seq_cst);
  return static_cast<std::size_t>(std::max<std::int64_t>(0, peak_max.load()));
}

// Counts a goroutine start (+1) or exit (-1) on p, or globally without one.
void count_goroutine(P* p, int delta) {
  if (peak_on.load(std::memory_order_relaxed)) track_goroutine_peak(delta);  // tests only
  if (p) {
    p->ngoroutines.store(p->ngoroutines.load(std::memory_order_relaxed) + delta,
                         std::memory_order_relaxed);
  } else {
    sched().ngoroutines.fetch_add(delta, std::memory_order_relaxed);
  }
}

void allgs_snapshot(std::vector<G*>& out) {
  std::lock_guard lk(allg_lock());
  out = allgs();
}

void note_runtime_thread() { runtime_threads.fetch_add(1, std::memory_order_relaxed); }

// ---- fork-join (task_group, src/fork_join.cpp): child-first spawn ------------------

namespace {
// Runs on the child's stack once the parent's context is saved: only from
// now on may a thief see (and resume) the parent. A full deque degrades to
// the run queue. Then, as any spawn, let an idle P come and steal.
void post_fork(G* parent, void*) {
  parent->status.store(g_runnable, std::memory_order_relaxed);
  P* p = current_m()->p;
  if (p->contq.push(parent))
    p->contq_bound.store(p->contq_bound.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  else
    runqput(p, parent, false);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  wakep();
}
}  // namespace

void fork_goroutine(G* gp, void (*invoke)(void*)) noexcept {
  M* m = current_m();
  if (m == nullptr || m->curg->is_g0 || sched().exiting.load(std::memory_order_relaxed)) {
    start_goroutine(gp, invoke);  // plain thread: Go's order, via the queues
    return;
  }
  P* p = rt_enter(m);
  if (p == nullptr) {  // sysmon took our P and none is idle
    rt_exit(m);
    start_goroutine(gp, invoke);
    return;
  }
  gp->invoke.store(invoke, std::memory_order_relaxed);
  count_goroutine(p, +1);
  G* parent = m->curg;
  prepare_to_run(m, gp);
  // The child's goroutine_main leaves the section; we leave the one entered
  // by whoever resumes us, perhaps on another M.
  rt_exit(switch_to(m, parent, gp, &post_fork, nullptr));
}

int runtime_depth() {
  M* m = current_m();
  return m ? static_cast<int>(m->in_rt.load(std::memory_order_relaxed)) : -1;
}

sched_counters sched_statistics() {
  sched_counters c{};
  auto& s = sched();
  std::lock_guard lk(s.lock);
  for (int i = 0; i < s.nallp; ++i) {
    P* p = s.allp[i].load(std::memory_order_acquire);
    c.spills += p->nspill.load(std::memory_order_relaxed);
    c.steals += p->nsteal.load(std::memory_order_relaxed);
    c.cont_steals += p->ncontsteal.load(std::memory_order_relaxed);
  }
  c.threads = s.mcount.load();
  c.idle_threads = s.nmidle;
  c.idle_procs = s.npidle.load(std::memory_order_relaxed);
  c.spinning = s.nmspinning.load(std::memory_order_relaxed);
  c.global_runq = s.runqsize.load(std::memory_order_relaxed);
  c.running_handoffs = s.nhandoff_running.load(std::memory_order_relaxed);
  return c;
}

G* getg() {
  M* m = current_m();
  return m ? m->curg : thread_g();
}

void park(bool (*unlockf)(G*, void*), void* arg, wait_reason reason) {
  M* m = current_m();
  if (m == nullptr) {
    // A plain thread: unlockf now, then block the thread until ready().
    G* gp = thread_g();
    gp->reason.store(reason, std::memory_order_relaxed);
    gp->wait_since.store(coarse_nanotime(), std::memory_order_relaxed);
    if (unlockf && !unlockf(gp, arg)) return;
    // wakeup: 0 waiting (spinning), 2 sleeping in the kernel, 1 readied.
    for (int i = 0; i < 2000; ++i) {  // ~10-20 µs: cheaper than a futex sleep
      if (gp->wakeup.load(std::memory_order_acquire) == 1) break;
      cpu_relax();
    }
    std::uint32_t w = 0;
    if (gp->wakeup.compare_exchange_strong(w, 2, std::memory_order_acq_rel)) {
      while (gp->wakeup.load(std::memory_order_acquire) != 1)
        futex(&gp->wakeup, FUTEX_WAIT, 2, nullptr);
    }
    gp->wakeup.store(0, std::memory_order_relaxed);
    gp->reason.store(wait_reason::none, std::memory_order_relaxed);
    return;
  }
  G* gp = m->curg;
  gp->reason.store(reason, std::memory_order_relaxed);
  gp->wait_since.store(coarse_nanotime(), std::memory_order_relaxed);
  park_args pa{unlockf, arg};
  rt_enter(m);
  rt_exit(schedule_from(m, gp, &post_park, &pa));  // perhaps another M
  gp->reason.store(wait_reason::none, std::memory_order_relaxed);
}

void ready(G* gp) {
  if (gp->is_thread) {
    // 2: the thread sleeps in the kernel; otherwise it is still spinning.
    if (gp->wakeup.exchange(1, std::memory_order_acq_rel) == 2)
      futex(&gp->wakeup, FUTEX_WAKE, 1, nullptr);
    return;
  }
  make_runnable(gp);
  M* m = current_m();
  bool fenced = false;
  if (m == nullptr) {
    std::lock_guard lk(sched().lock);
    globrunqput_locked(gp);
  } else {
    rt_enter(m);
    fenced = put_runnable(gp, true, m);
    rt_exit(m);
  }
  if (!fenced) std::atomic_thread_fence(std::memory_order_seq_cst);
  wakep();
}

void ready_many(G* const* gs, std::size_t n) {
  if (n <= 4) {
    for (std::size_t i = 0; i < n; ++i) ready(gs[i]);
    return;
  }
  // Many at once (close of a channel with 10k waiters, a burst of timers):
  // into the free slots of this M's local queue first, then the rest in one
  // trip to the *head* of the global queue; spinners fan out from both. Woken
  // goroutines go ahead of whatever waits in the global queue, as Go's go
  // into runnext and the local queue, which are served before it. That
  // matters when the global queue holds a backlog of goroutines that never
  // ran (100k spawned at once): behind it, woken ones could not finish and
  // give their stacks back, so all 100k would hold a stack at once.
  G* head = nullptr;
  G* tail = nullptr;
  int count = 0;
  M* m = current_m();
  P* p = m != nullptr ? rt_enter(m) : nullptr;
  std::uint32_t free_slots = 0;
  if (p != nullptr)
    free_slots = local_runq_size - (p->runqtail.load(std::memory_order_relaxed) -
                                    p->runqhead.load(std::memory_order_acquire));
  for (std::size_t i = 0; i < n; ++i) {
    G* gp = gs[i];
    if (gp->is_thread) {
      ready(gp);
      continue;
    }
    make_runnable(gp);
    if (free_slots > 0) {  // thieves only make room: runqput cannot spill
      --free_slots;
      runqput(p, gp, false);
      continue;
    }
    gp->schedlink = nullptr;
    if (tail) tail->schedlink = gp;
    else head = gp;
    tail = gp;
    ++count;
  }
  if (m != nullptr) rt_exit(m);
  if (count > 0) {
    std::lock_guard lk(sched().lock);
    globrunqputbatch_head_locked(head, tail, count);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  wakep();
}

std::int64_t coarse_nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint32_t fastrand() {
  M* m = current_m();
  if (m) return static_cast<std::uint32_t>(splitmix(m->rand));
  if (thread_rand == 0) thread_rand = reinterpret_cast<std::uintptr_t>(&thread_rand) | 1;
  return static_cast<std::uint32_t>(splitmix(thread_rand));
}

std::uint32_t fastrandn(std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(fastrand()) * n) >> 32);
}

// ---- for the sync package (declared in runtime.hpp) -------------------------

bool sync_can_spin(int iter, int max_iter) {
  static const int ncpu = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    return static_cast<int>(std::thread::hardware_concurrency());
  }();
  if (iter >= max_iter || ncpu <= 1) return false;
  M* m = current_m();
  if (m == nullptr || m->p == nullptr) return true;  // a plain thread costs no P
  auto& s = sched();
  if (s.gomaxprocs.load(std::memory_order_relaxed) <=
      s.npidle.load(std::memory_order_relaxed) + s.nmspinning.load(std::memory_order_relaxed) + 1)
    return false;
  return runqempty(m->p);
}

int current_p_id() {
  M* m = current_m();
  P* p = m ? m->p : nullptr;
  return p ? p->id : -1;
}

void note::wakeup() {
  key.store(1, std::memory_order_release);
  futex(&key, FUTEX_WAKE, 1, nullptr);
}

// The wake-up is consumed with an RMW: a plain load-then-store(0) could erase
// a second wakeup() that landed in between, and (x86 lets the store pass the
// caller's next loads) the caller could then miss the state that wakeup
// published and sleep again with nothing left to wake it.
void note::sleep() {
  while (key.exchange(0, std::memory_order_acquire) == 0) futex(&key, FUTEX_WAIT, 0, nullptr);
}

bool note::sleep_for(std::int64_t ns) {
  std::int64_t deadline = nanotime() + ns;
  while (key.exchange(0, std::memory_order_acquire) == 0) {
    std::int64_t left = deadline - nanotime();
    if (left <= 0) return false;
    timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
    futex(&key, FUTEX_WAIT, 0, &ts);
  }
  return true;
}

void run_main(std::function<int()> main_fn, int* result) {
  if (in_goroutine()) {
    *result = main_fn();
    return;
  }
  note done;
  sched().run_active.fetch_add(1, std::memory_order_acq_rel);
  go([&] {
    *result = main_fn();
    sched().run_active.fetch_sub(1, std::memory_order_acq_rel);
    done.wakeup();
  });
  done.sleep();
}

// yield's slow path: m has stored depth d + 1 and fenced (rt_enter_fast);
// finish rt_enter's ownership check and go through schedule.
void yield_slow(M* m, std::uint32_t d) {
  rt_enter_check(m, d, m->p);
  rt_exit(schedule_from(m, m->curg, &post_yield, nullptr));
}

}  // namespace goro::detail

namespace goro {

using namespace detail;

void yield() {
  M* m = current_m();
  if (m == nullptr) [[unlikely]] {
    std::this_thread::yield();
    return;
  }
  // The fast path swaps with the yield slot: from user code (depth 0), on a
  // P this M still owns (rt_enter's check), with a G in the slot and no other
  // local work (runnext, runq, continuations), and not on a 61st tick. What
  // others change (spinning Ms, GOMAXPROCS, exit) is left to the 61st tick,
  // which goes through schedule: a yield loop sees it at most 60 switches
  // late, and a check here would cost every yield (issue 2's target is 2x a
  // bare switch). The P's fields may be read before the ownership check (Ps
  // are never freed; the fields read are atomics, as another M may own the
  // P by now), so the conditions combine without short-circuits into one
  // branch. The P fields all lie on its first cache line.
  std::uint32_t d = m->in_rt.load(std::memory_order_relaxed);
  P* p = rt_enter_fast(m, d);
  if (p != nullptr) [[likely]] {
    G* next = p->yslot.load(std::memory_order_relaxed);
    std::uint32_t tick = p->schedtick.load(std::memory_order_relaxed);
    auto u = [](bool b) { return static_cast<unsigned>(b); };  // & without short-circuits
    unsigned swap = u(d == 0) & u(p->status.load(std::memory_order_seq_cst) == p_running) &
                    u(p->m.load(std::memory_order_relaxed) == m) & u(next != nullptr) &
                    u(p->runnext.load(std::memory_order_relaxed) == nullptr) &
                    u(p->runqtail.load(std::memory_order_relaxed) ==
                      p->runq_empty_at.load(std::memory_order_relaxed)) &
                    u(p->contq_bound.load(std::memory_order_relaxed) == 0) & u(tick % 61 != 0);
    if (swap != 0) [[likely]] {
      G* self = m->curg;
      // The P may have come from an M that left a yield swap's section and
      // stalled before saving the slot's G: wait for its context.
      fcontext_t next_ctx = saved_context(next);
      p->yslot.store(self, std::memory_order_relaxed);
      p->runnext_streak = 0;
      self->status.store(g_runnable, std::memory_order_relaxed);
      next->status.store(g_running, std::memory_order_relaxed);  // it ran before: it has a stack
      m->curg = next;
      p->schedtick.store(tick + 1, std::memory_order_relaxed);
      switch_direct(m, self, next, next_ctx);
      return;
    }
  }
  yield_slow(m, d);
}

int max_procs() {
  ensure_started();
  return sched().gomaxprocs.load(std::memory_order_relaxed);
}

int set_max_procs(int n) {
  ensure_started();
  if (n < 1) return max_procs();  // Go: n < 1 only queries
  n = std::min(n, max_procs_limit);
  auto& s = sched();
  s.lock.lock();
  int old = s.gomaxprocs.load(std::memory_order_relaxed);
  for (int i = 0; i < std::max(n, s.nallp); ++i) {
    P* p = s.allp[i].load(std::memory_order_relaxed);
    if (i < n && p == nullptr) {
      p = new P;
      p->id = i;
      s.allp[i].store(p, std::memory_order_release);
      pidleput_locked(p);
    } else if (i < n && p->status.load(std::memory_order_relaxed) == p_dead) {
      pidleput_locked(p);
    }
  }
  s.nallp = std::max(n, s.nallp);
  set_gomaxprocs_locked(n);
  // Idle Ps beyond n leave the idle list now; running ones retire themselves
  // at their next trip through the scheduler (findrunnable).
  P** link = &s.pidle;
  while (*link) {
    P* p = *link;
    if (p->id >= n) {
      *link = p->link;
      p->status.store(p_dead, std::memory_order_relaxed);
      s.npidle.fetch_sub(1, std::memory_order_seq_cst);
    } else {
      link = &p->link;
    }
  }
  s.lock.unlock();
  // New Ps may have work to take: let a spinner look.
  for (int i = old; i < n; ++i) wakep();
  return old;
}

std::size_t num_goroutine() {
  auto& s = sched();
  std::int64_t n = s.ngoroutines.load(std::memory_order_relaxed);
  for (int i = 0; i < max_procs_limit; ++i) {
    P* p = s.allp[i].load(std::memory_order_acquire);
    if (p == nullptr) break;
    n += p->ngoroutines.load(std::memory_order_relaxed);
  }
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

std::uint64_t goroutine_id() {
  M* m = current_m();
  return (m && !m->curg->is_g0) ? m->curg->id : 0;
}

bool in_goroutine() {
  M* m = current_m();
  return m != nullptr && !m->curg->is_g0;
}

std::size_t stack_size() { return stack_default_size(); }
void set_stack_size(std::size_t bytes) { stack_set_default_size(bytes); }

}  // namespace goro
