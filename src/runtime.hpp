// The runtime's internal structures: G (goroutine), M (OS thread), P (processor),
// and the park/ready interface every blocking primitive is built on.
//
// See docs/scheduler.md for the design essay; invariants live next to fields.
// Lock ranks (take in this order, never the reverse):
//   select's channel locks (address order) / other primitive locks
//     < sched.lock < stack pool lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iosfwd>
#include <vector>

#include <boost/context/detail/fcontext.hpp>
#include <goro/runtime.hpp>

#include "stack.hpp"
#include "wsdeque.hpp"

namespace goro::detail {

using boost::context::detail::fcontext_t;

// Why a goroutine is parked; printed by dumps and deadlock reports.
enum class wait_reason : std::uint8_t {
  none,
  chan_receive,
  chan_send,
  chan_receive_nil,
  chan_send_nil,
  select,
  select_no_cases,
  sleep,
  sync_mutex,
  sync_rw_mutex_r,
  sync_rw_mutex_w,
  sync_cond,
  sync_wait_group,
  sync_once,
  semacquire,
  run_main,
};
const char* wait_reason_string(wait_reason r);

// Per-thread C/C++ runtime state that belongs to whoever runs on the thread
// (PITFALLS.md): the C++ exception globals (__cxa_get_globals) and errno.
// Saved when a context switches out, restored when it switches in.
struct thread_state {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
  int err = 0;
};

enum gstatus : std::uint32_t {
  g_idle,      // allocated, never run
  g_runnable,  // on a run queue
  g_running,   // owns an M
  g_waiting,   // parked; exactly one ready() will make it runnable
  g_dead,      // exited; on a free list
  g_dumping,   // parked, and a dump is walking its stack: ready() waits
};

struct hchan;

// A goroutine (or plain thread) waiting on one channel (chan.hpp, select.cpp).
// A blocking send or receive uses the one embedded in its G (G::sg); a
// select uses an array on its stack. In G, close's walk over 10k waiters
// touches densely allocated Gs instead of one page of each waiter's stack:
// on a VM a TLB miss per waiter made close_broadcast 2x slower than Go's.
// Valid until its owner starts another wait. Fields marked "c->lock" are
// guarded by the lock of the channel whose queue holds the sudog.
struct G;
struct sudog {
  G* g = nullptr;
  sudog* next = nullptr;  // c->lock
  sudog* prev = nullptr;  // c->lock
  hchan* c = nullptr;
  // send: the value to move from; recv: storage to move into (null: discard,
  // unused for chan<void>).
  void* elem = nullptr;
  bool is_select = false;
  bool is_send = false;
  // Set by the waker before ready(g): true if a value was exchanged, false if
  // the channel was closed.
  bool success = false;
  int case_index = 0;  // select: which case this is
  // Set by a receiver whose move from this sender's value threw: the send
  // fails with that exception.
  std::exception_ptr exc;
};

// A goroutine, a plain thread's stand-in (is_thread), or an M's scheduler
// context (is_g0). Fields without a note are owned by the G's current runner.
// Cache-line aligned, with what a switch reads and writes (ctx, sp_floor, ts,
// status) in the first line: a yield swap touches one line of each G.
struct alignas(64) G {
  fcontext_t ctx = nullptr;  // saved context while not running
  // A context saved below this has overflowed: stk's lo for a stack without
  // a guard page (whose overflow no fault reports), else (and while stk is
  // null) null. Set with stk; every switch away checks it with one load.
  const char* sp_floor = nullptr;
  thread_state ts;
  std::atomic<std::uint32_t> status{g_idle};
  // Why (and, below, since when: coarse monotonic ns) it is parked; read
  // racily by dumps. It and the flags fill the word after status.
  std::atomic<wait_reason> reason{wait_reason::none};
  bool is_thread = false;  // plain OS thread: park blocks the thread
  bool is_g0 = false;      // an M's scheduler context (runs on the thread stack)
  bool closure_on_heap = false;
  stack* stk = nullptr;      // null until first run (stacks are taken lazily)
  G* schedlink = nullptr;    // run-queue / free-list link; owned by that queue
  std::uint64_t id = 0;
  std::atomic<std::int64_t> wait_since{0};
  // Where it was created (a return address in the spawning code) and by whom.
  void* created_pc = nullptr;
  std::uint64_t parent_id = 0;
  // Entry point; set by the spawner, cleared at exit. Atomic (relaxed): dumps
  // and the deadlock check read it while a spawner may be writing it.
  std::atomic<void (*)(void*)> invoke{nullptr};
  void* closure = nullptr;
  std::size_t closure_align = 16;  // of a heap closure (aligned new/delete must match)
  // Wake-up word of a parked plain thread (is_thread): 0 parked and spinning,
  // 2 parked and asleep in the kernel (the waker must FUTEX_WAKE), 1 readied.
  std::atomic<std::uint32_t> wakeup{0};
  // select: set by the waker that won the race to complete this G's select
  // (Go's selectDone); param carries the winning waiter record.
  std::atomic<std::uint32_t> select_done{0};
  void* param = nullptr;
  // The waiter record of this G's blocking send/receive (chan.cpp).
  sudog sg;
  // Sanitizer fiber state (only in sanitizer builds: 32 bytes per G, 32 MB
  // for a million parked goroutines, in plain ones).
#if defined(GORO_ASAN)
  void* asan_fake_stack = nullptr;
  const void* asan_bottom = nullptr;
  std::size_t asan_size = 0;
#endif
#if defined(GORO_TSAN)
  void* tsan_fiber = nullptr;
#endif
  alignas(16) unsigned char closure_buf[inline_closure_size];
};
// Four lines: a million parked goroutines hold a million of these.
#if !defined(GORO_ASAN) && !defined(GORO_TSAN)
static_assert(sizeof(G) == 256);
#endif

struct P;

// A one-shot sleep/wake word for an OS thread (Go's note), futex based.
struct note {
  std::atomic<std::uint32_t> key{0};
  void wakeup();
  void sleep();                     // returns once woken; clears the note
  bool sleep_for(std::int64_t ns);  // false on timeout; clears the note
};

// An OS thread. Owned by itself; sched.lock guards schedlink while idle.
// Its first cache line holds what every switch uses (curg, p, in_rt and the
// thread-state addresses).
struct M {
  G* curg = nullptr;       // what runs on this M now (&g0 in the scheduler)
  P* p = nullptr;          // P held, or null
  // Depth of runtime sections this M is in (rt_enter/rt_exit); 0 while it runs
  // user code. Written only by the M; read by sysmon (asymmetric fence).
  std::atomic<std::uint32_t> in_rt{0};
  int id = 0;
  // This thread's C++ exception globals (__cxa_get_globals()) and errno, found
  // once by mstart on the M's own thread: every switch saves and restores
  // them (switch.cpp), and an M never changes thread.
  void* eh_globals = nullptr;
  int* errno_loc = nullptr;
  std::atomic<P*> nextp{nullptr};  // P handed over by startm; read after park wakes
  bool in_idle = false;    // on sched.midle; guarded by sched.lock
  bool spinning = false;   // counted in sched.nmspinning
  M* schedlink = nullptr;  // idle-M list; guarded by sched.lock
  note park;               // stopm sleeps here
  std::uint64_t rand = 0;  // fastrand state
  G g0;                    // the scheduler loop's context (the thread's own stack)
  // Each P's schedtick when this M started spinning: a victim's runnext is
  // stolen only if its owner has not scheduled since (see runqgrab).
  std::uint32_t seen_tick[1024] = {};
};

inline constexpr std::uint32_t local_runq_size = 256;

// P states. The owner M holds a P in p_running; in p_syscall while its
// goroutine is inside goro::blocking. sysmon takes a P from an M stuck in user
// code (p_running, schedtick unchanged for 10 ms, M outside the runtime) or
// in a blocking call (p_syscall for over 20 µs with work waiting) and hands it
// to another M; p_retaking marks the moment in between (see rt_enter).
enum pstatus : std::uint32_t { p_idle, p_running, p_dead, p_syscall, p_retaking };

// A processor: the right to run Go code, with its local run queue and caches.
// Only the M holding it (p->m) touches fields marked "owner".
struct P {
  // The first cache line holds everything a yield that swaps with the yield
  // slot reads and writes on its P (see goro::yield), so that swap touches
  // one line of the P.
  int id = 0;
  std::atomic<std::uint32_t> status{p_idle};
  std::atomic<M*> m{nullptr};  // owner; null while idle. Set by acquirep, cleared when handed off.
  // Bumped by the owner per scheduling (every 61st looks at the global queue);
  // read by thieves deciding whether the owner is about to run runnext.
  std::atomic<std::uint32_t> schedtick{0};
  // owner: how many Gs in a row came from runnext. Two goroutines handing
  // off to each other (a channel ping-pong) keep runnext full forever; past
  // runnext_streak_max the rest of the local work goes first (Go bounds the
  // same thing with a time slice that runnext inherits).
  std::uint32_t runnext_streak = 0;
  // The G to run next (a freshly readied or spawned one), ahead of runq.
  // Owner stores; thieves may CAS it away only as a last resort.
  std::atomic<G*> runnext{nullptr};
  // The yield slot: a G that yielded while no M was spinning, run when this
  // P has no other local work (after runq). Owner only, inside a runtime
  // section; thieves never take it, others read it only as a hint of queued
  // work (runqempty). A yield that finds it full and nothing else queued
  // swaps itself in and switches straight to its G: no atomic read-modify-
  // write (issue 2's yield target). When Ms are spinning, post_yield moves it
  // to runq where they can steal it (a yield loop reaches post_yield at
  // least every 61st tick); if this P's G then runs long without
  // scheduling, sysmon hands the P (slot included) to another M after 10 ms.
  std::atomic<G*> yslot{nullptr};
  // Local run queue: a bounded single-producer (owner) multi-consumer ring.
  // runq[head..tail) are runnable; head is advanced by CAS (owner and thieves),
  // tail is stored only by the owner (release). Slots are atomics so thieves'
  // racy reads of slots about to be overwritten are not data races. tail
  // shares this first line (thieves read it with schedtick); head, which
  // thieves write, and the slots have lines of their own.
  std::atomic<std::uint32_t> runqtail{0};
  // Written by the owner only (read by a yield that may have lost the P,
  // hence atomic):
  // - runq_empty_at: a tail at which the owner last saw the ring empty. head
  //   only grows towards tail, so while runqtail still equals it the ring is
  //   empty: the yield swap's check, without the line thieves CAS head on.
  //   (Only 2^32 pushes, every one stolen, could wrap tail back to it
  //   unseen, and then a yield loop would pass over the ring until its next
  //   61st tick.)
  // - contq_bound: an upper bound on contq's size: continuations pushed minus
  //   those the owner popped, reset when a pop finds contq empty (thieves'
  //   steals leave it high until then). 0: contq is empty.
  std::atomic<std::uint32_t> runq_empty_at{0};
  std::atomic<std::uint32_t> contq_bound{0};
  alignas(64) std::atomic<std::uint32_t> runqhead{0};
  alignas(64) std::atomic<G*> runq[local_runq_size];
  P* link = nullptr;  // idle-P list; guarded by sched.lock
  // owner: caches that keep the spawn path free of locks.
  stack_cache stacks;
  G* gfree = nullptr;
  int gfree_n = 0;
  std::uint64_t goid_next = 0, goid_end = 0;
  // Goroutines started minus goroutines exited on this P (owner; may go
  // negative); num_goroutine() sums all Ps, so spawn/exit touch no shared line.
  std::atomic<std::int64_t> ngoroutines{0};
  // sysmon only: the schedtick it last saw, and since when (monotonic ns).
  std::uint32_t sysmon_tick = 0;
  std::int64_t sysmon_when = 0;
  std::atomic<std::int64_t> syscall_when{0};  // owner: when goro::blocking began
  // owner: statistics for tests and dumps (read racily).
  std::atomic<std::uint64_t> nspill{0};  // runq overflows to the global queue
  std::atomic<std::uint64_t> nsteal{0};  // Gs this P stole from others
  // fork-join (src/fork_join.cpp): parked parents of task_group children,
  // owner pushes/pops at the bottom, thieves (steal_work) take the top.
  // Non-empty only while the P runs: counts as queued work (runqempty).
  wsdeque<G*, 1024> contq;
  std::atomic<std::uint64_t> ncontsteal{0};  // continuations this P stole
};
// What goro::yield's swap uses of a P shares one cache line.
static_assert(offsetof(P, contq_bound) + sizeof(std::uint32_t) <= 64);

// ---- asymmetric fences ------------------------------------------------------------
// A Dekker handshake between a hot path and a rare one (sysmon retaking a P;
// pool cleanup) puts light_fence between the hot side's store and load, and
// heavy_fence between the rare side's. With membarrier(PRIVATE_EXPEDITED)
// registered, light_fence is only a compiler barrier and heavy_fence makes
// every running thread of the process execute a full barrier; without it (or
// under TSan, which models neither) both are seq_cst fences.
extern std::atomic<bool> asym_fence;  // membarrier registered (set once at start)
// Ms ever started (their ids are 1..threads_started()); only grows. Read
// seq_cst; an M is counted before it runs anything.
int threads_started();
// GOMAXPROCS > 1, for rw_mutex's inline read paths (<goro/sync/rw_mutex.hpp>).
extern std::atomic<bool> reader_slots_on;
inline void light_fence() {
  if (asym_fence.load(std::memory_order_relaxed)) std::atomic_signal_fence(std::memory_order_seq_cst);
  else std::atomic_thread_fence(std::memory_order_seq_cst);
}
void heavy_fence();

// A spin-wait hint (x86 PAUSE).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// ---- the current M ----------------------------------------------------------------
// The current M (null on a plain thread). Every call reads the thread's TLS
// afresh: the goroutine may be on another thread than at its last call, and
// no compiler may reuse an earlier result (PITFALLS.md: GCC reused
// pthread_self() across a park even through a noinline wrapper). On x86-64
// it is one %fs-relative load in an asm volatile with a memory clobber, which
// the compiler can neither merge with another nor move across a call;
// elsewhere a call into switch.cpp that it cannot see through.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GORO_INLINE_CURRENT_M 1
inline M* current_m() {
  M* m;
  asm volatile(
      "movq goro_detail_tls_m@gottpoff(%%rip), %0\n\t"
      "movq %%fs:(%0), %0"
      : "=r"(m)
      :
      : "memory");
  return m;
}
#else
#define GORO_INLINE_CURRENT_M 0
M* current_m();
#endif

// ---- runtime sections -----------------------------------------------------------
// Code that uses the current M's P brackets itself in a runtime section: sysmon
// never takes a P from an M inside one. Outside sections (user code) the P may
// be taken at any time; rt_enter notices and returns the P the section may use
// (possibly another idle one), or null: then the section must do without (a
// global queue instead of the local one, and so on).
// Inline: get/put of a pool and every ready() enter one, so a call here costs
// as much as the check itself.
P* rt_enter_lost(M* m, P* p);  // the P was (being) retaken: proc.cpp

// d: m's section depth before this entry (in_rt, which only m's thread writes).
// rt_enter_at is two halves: rt_enter_fast stores the depth and fences, and
// returns m->p unchecked; rt_enter_check then checks the P's status and owner
// (yield does the two apart: its swap checks ownership with its other
// conditions and calls rt_enter_check only on its slow path).
inline P* rt_enter_fast(M* m, std::uint32_t d) {
#if defined(GORO_TSAN)
  m->in_rt.store(d + 1, std::memory_order_seq_cst);
#else
  m->in_rt.store(d + 1, std::memory_order_relaxed);
  light_fence();  // pairs with sysmon's heavy_fence (proc.cpp, retake)
#endif
  return m->p;
}
inline P* rt_enter_check(M* m, std::uint32_t d, P* p) {
  if (d != 0 || p == nullptr) return p;  // nested: already checked
  if (p->status.load(std::memory_order_seq_cst) == p_running &&
      p->m.load(std::memory_order_relaxed) == m) [[likely]]
    return p;
  return rt_enter_lost(m, p);
}
inline P* rt_enter_at(M* m, std::uint32_t d) { return rt_enter_check(m, d, rt_enter_fast(m, d)); }
inline P* rt_enter(M* m) { return rt_enter_at(m, m->in_rt.load(std::memory_order_relaxed)); }
inline void rt_exit(M* m) {
  m->in_rt.store(m->in_rt.load(std::memory_order_relaxed) - 1, std::memory_order_release);
}
// A section that begins and ends on one M (nothing in it parks), so its exit
// restores the depth it saw instead of reading in_rt again.
struct rt_section {
  M* m;
  P* p = nullptr;
  std::uint32_t depth = 0;
  rt_section() : m(current_m()) {
    if (m) {
      depth = m->in_rt.load(std::memory_order_relaxed);
      p = rt_enter_at(m, depth);
    }
  }
  ~rt_section() {
    if (m) m->in_rt.store(depth, std::memory_order_release);
  }
  rt_section(const rt_section&) = delete;
  rt_section& operator=(const rt_section&) = delete;
};

// goro::blocking: Go's entersyscall/exitsyscall.
void enter_blocking();
void exit_blocking();

// ---- the park/ready interface (Go's gopark/goready) -------------------------

// The current goroutine, or the calling plain thread's stand-in G. Never null.
G* getg();

// Parks the caller. unlockf(gp, arg) runs once the caller is off its stack
// (for a plain thread: before it blocks), so a primitive can publish gp in its
// wait queue under its lock and release the lock in unlockf: whoever finds gp
// there may ready it at once. If unlockf returns false the caller resumes
// immediately instead of parking. Returns after ready(gp).
void park(bool (*unlockf)(G* gp, void* arg), void* arg, wait_reason reason);

// Makes a parked G runnable (or wakes a parked plain thread). Must be called
// exactly once per park, after that park's unlockf ran.
void ready(G* gp);

// ready() for many Gs at once (one trip to the global run queue).
void ready_many(G* const* gs, std::size_t n);

// fork-join (task_group::go): makes gp runnable like start_goroutine, but
// child-first when the caller is a goroutine on a P: switches to gp at once
// and leaves the caller's continuation on its P's contq. Returns when the
// caller is resumed, perhaps on another M.
void fork_goroutine(G* gp, void (*invoke)(void*)) noexcept;

// Monotonic nanoseconds.
std::int64_t nanotime();
// Monotonic nanoseconds at a few ms resolution, much cheaper (wait times).
std::int64_t coarse_nanotime();

// Every G ever allocated (G structs are reused, never freed), for dumps,
// deadlock detection and leak checks.
void allgs_snapshot(std::vector<G*>& out);

// Goroutine dumps (dump.cpp): every live goroutine, the caller's first if
// include_self; and the SIGQUIT handler.
void dump_one(std::ostream& out, G* gp, bool is_self);
void dump_all(std::ostream& out, bool include_self);
void install_sigquit();

// Runtime-owned helper threads (not Ms), so deadlock detection can tell
// whether any user thread could still wake a goroutine.
void note_runtime_thread();
// A cheap per-M (or per-thread) pseudo-random number.
std::uint32_t fastrand();
std::uint32_t fastrandn(std::uint32_t n);

// ---- for the sync package (src/sync.cpp, src/pool.cpp) ----------------------
// Go's sync_runtime_canSpin: whether a contended goro::mutex locker, on its
// iter'th try, should spin rather than park. Only max_iter times (Go: 4), on
// a multicore machine, while some other P is running (the holder may release
// soon) and the caller's P has nothing else to run. A plain thread holds no P:
// it may spin whenever the machine is multicore.
bool sync_can_spin(int iter, int max_iter);
// The id of the caller's P, or -1 on a plain thread. Valid only until the
// caller next blocks: a goroutine may resume on another P after any park.
int current_p_id();

// Aborts with "goroutine N: stack overflow".
[[noreturn]] void report_stack_overflow(const G* gp);

}  // namespace goro::detail
