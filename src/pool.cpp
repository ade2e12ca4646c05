// goro::pool's engine (Go's src/sync/pool.go and poolqueue.go), type-erased
// over void*.
//
// Layout: a pool has three generations, used round-robin: gen[primary] is
// the primary, gen[(primary + 2) % 3] the victim, and gen[(primary + 1) % 3]
// the dead one, emptied by the last cleanup and the
// next primary. Each generation has, per P, a private slot and a lock-free
// chain of ring buffers (Go's poolChain), plus one locked list for plain
// threads.
//   put: own P's private slot if empty, else the head of own P's chain; a plain
//        thread appends to the locked list.
//   get: own private slot, own chain's head; then the tails of every P's chain
//        (stealing) and the plain threads' list; then the same in the victim.
//   cleanup (pool_cleanup, or every cleanup_period on a background thread):
//        advance primary (the old primary becomes the victim, the old victim dead,
//        the empty dead generation the primary), wait until no get/put that
//        read the old primary is still running, then drain and destroy the dead
//        generation.
//
// Why this is safe without stopping the world (Go's cleanup runs during GC's
// stop-the-world): every access is one of
//   - a private slot: plain loads and stores, only by code running on the
//     owning P (inside a runtime section, so sysmon cannot hand the P to
//     another M meanwhile). A goroutine is never preempted between runtime
//     calls and get/put never block, so at most one runs per P at a time;
//   - a chain's head side (push_head / pop_head): likewise only on the owning
//     P;
//   - a chain's tail side (pop_tail): anyone, lock-free;
//   - the plain threads' list: under thread_lock.
// Cleanup touches the dead generation's private slots with plain operations,
// which is safe because of the handshake: each get/put on a P stores an odd
// pool_local::seq, then (light_fence) reads primary, and stores the next even
// seq when done; cleanup stores primary, then (heavy_fence) reads each seq and
// waits while it is odd and unchanged. Either the operation read the new
// primary (and stays off the dead generation), or cleanup sees its odd seq and
// waits it out. Only one cleanup runs at a time (registry mutex), so an
// operation that read a primary older than the last flip was waited out then
// (which is also why an index mod 3, that repeats, is as good as a count).
// Chains are drained with pop_tail, so a late push onto a dead chain is safe
// too: it lands in the next primary, which a cache may do. Nothing is lost:
// whatever is left is destroyed with the pool.
//
// Memory is never freed while a concurrent operation could still read it:
// chain elements and per-P directories are retired, not freed, until the pool
// dies. A chain adds an element only when its newest ring is full, and each
// element doubles the previous one, so what a chain keeps is bounded by about
// four times the most objects its P ever held at once.
#include <goro/runtime.hpp>
#include <goro/sync.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "export_test.hpp"
#include "lock.hpp"
#include "runtime.hpp"

namespace goro::detail {

namespace {

constexpr std::chrono::seconds cleanup_period{2};

constexpr std::uint32_t chain_first_size = 8;      // Go's: 8, doubling
constexpr std::uint32_t chain_max_size = 1u << 30;  // ring indices are 32 bits

// Go's poolDequeue: a fixed-size ring, single producer at the head (the
// owning P), any number of consumers at the tail; the owner may also pop at
// the head.
class pool_dequeue {
 public:
  explicit pool_dequeue(std::uint32_t size)
      : mask_(size - 1), slots_(new std::atomic<void*>[size]) {
    for (std::uint32_t i = 0; i < size; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
  }

  std::uint32_t size() const { return mask_ + 1; }

  // Owner only. False if full.
  bool push_head(void* x) {
    auto [head, tail] = unpack(head_tail_.load(std::memory_order_acquire));
    if (tail + size() == head) return false;
    std::atomic<void*>& slot = slots_[head & mask_];
    // A consumer that claimed this slot may not have emptied it yet: then the
    // ring is still full for our purposes.
    if (slot.load(std::memory_order_acquire) != nullptr) return false;
    slot.store(x, std::memory_order_relaxed);
    head_tail_.fetch_add(std::uint64_t{1} << 32, std::memory_order_release);  // publishes x
    return true;
  }

  // Owner only.
  void* pop_head() {
    std::uint64_t ht = head_tail_.load(std::memory_order_acquire);
    for (;;) {
      auto [head, tail] = unpack(ht);
      if (head == tail) return nullptr;
      // Claim the slot before reading it; a consumer may race for it.
      if (head_tail_.compare_exchange_weak(ht, pack(head - 1, tail), std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
        std::atomic<void*>& slot = slots_[(head - 1) & mask_];
        void* x = slot.load(std::memory_order_relaxed);
        slot.store(nullptr, std::memory_order_relaxed);
        return x;
      }
    }
  }

  // Anyone.
  void* pop_tail() {
    std::uint64_t ht = head_tail_.load(std::memory_order_acquire);
    for (;;) {
      auto [head, tail] = unpack(ht);
      if (head == tail) return nullptr;
      if (head_tail_.compare_exchange_weak(ht, pack(head, tail + 1), std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
        std::atomic<void*>& slot = slots_[tail & mask_];
        void* x = slot.load(std::memory_order_relaxed);
        // Hand the slot back to push_head, after our read of it.
        slot.store(nullptr, std::memory_order_release);
        return x;
      }
    }
  }

 private:
  static std::pair<std::uint32_t, std::uint32_t> unpack(std::uint64_t ht) {
    return {static_cast<std::uint32_t>(ht >> 32), static_cast<std::uint32_t>(ht)};
  }
  static std::uint64_t pack(std::uint32_t head, std::uint32_t tail) {
    return (std::uint64_t{head} << 32) | tail;
  }

  // High 32 bits: head, the next slot to fill. Low 32 bits: tail, the oldest
  // filled slot. Both count up modulo 2^32; [tail, head) are filled, and
  // head - tail <= size().
  std::atomic<std::uint64_t> head_tail_{0};
  const std::uint32_t mask_;  // size - 1; size is a power of two
  // nullptr marks a free slot. A slot in [tail, head) is non-null; one just
  // claimed by pop_tail stays non-null until that pop has read it.
  std::unique_ptr<std::atomic<void*>[]> slots_;
};

struct chain_elt {
  explicit chain_elt(std::uint32_t size) : ring(size) {}
  pool_dequeue ring;
  // next: set once by the owner when it adds a newer element (after which
  // nothing is pushed here). prev: the older element, cleared by the consumer
  // that drops that one from the chain.
  std::atomic<chain_elt*> next{nullptr};
  std::atomic<chain_elt*> prev{nullptr};
  chain_elt* all_next = nullptr;  // owner: every element ever, freed with the chain
};

// Go's poolChain: a list of pool_dequeues, newest (head, the owner's) to
// oldest (tail, where consumers take from).
class pool_chain {
 public:
  pool_chain() = default;
  pool_chain(const pool_chain&) = delete;
  ~pool_chain() {
    while (all_ != nullptr) delete std::exchange(all_, all_->all_next);
  }

  // Owner only. Throws std::bad_alloc (x is then not stored).
  void push_head(void* x) {
    chain_elt* d = head_;
    if (d == nullptr) {
      d = new_elt(chain_first_size);
      head_ = d;
      tail_.store(d, std::memory_order_release);
    }
    if (d->ring.push_head(x)) return;
    chain_elt* d2 = new_elt(std::min(d->ring.size() * 2, chain_max_size));
    d2->prev.store(d, std::memory_order_relaxed);
    d2->ring.push_head(x);  // empty: cannot fail
    head_ = d2;
    d->next.store(d2, std::memory_order_release);
  }

  // Owner only.
  void* pop_head() {
    for (chain_elt* d = head_; d != nullptr; d = d->prev.load(std::memory_order_acquire))
      if (void* x = d->ring.pop_head()) return x;
    return nullptr;
  }

  // Anyone.
  void* pop_tail() {
    chain_elt* d = tail_.load(std::memory_order_acquire);
    if (d == nullptr) return nullptr;
    for (;;) {
      // Read next before popping: if d is empty *and* had a successor before
      // the pop, d is empty for good (the owner pushes only to its newest
      // element) and may be dropped from the chain.
      chain_elt* d2 = d->next.load(std::memory_order_acquire);
      if (void* x = d->ring.pop_tail()) return x;
      if (d2 == nullptr) return nullptr;
      chain_elt* expected = d;
      if (tail_.compare_exchange_strong(expected, d2, std::memory_order_acq_rel))
        d2->prev.store(nullptr, std::memory_order_release);  // the owner's pop_head skips d
      d = d2;
    }
  }

 private:
  chain_elt* new_elt(std::uint32_t size) {
    auto* e = new chain_elt(size);
    e->all_next = all_;
    all_ = e;
    return e;
  }

  chain_elt* head_ = nullptr;              // owner only
  std::atomic<chain_elt*> tail_{nullptr};  // consumers advance it past drained elements
  chain_elt* all_ = nullptr;               // owner only (and the destructor)
};

constexpr std::uint32_t ngens = 3;

// One generation of one P's cache.
struct pool_gen_local {
  // The owning P's only (and cleanup's, for the dead generation, after the
  // handshake): relaxed atomics so that the handshake's accesses are no race.
  std::atomic<void*> priv{nullptr};
  pool_chain shared;

  // Empties the private slot (plain load and store: see priv). Null if empty.
  void* take_priv() {
    void* x = priv.load(std::memory_order_relaxed);
    if (x != nullptr) priv.store(nullptr, std::memory_order_relaxed);
    return x;
  }
};

// One P's caches. Padded so that Ps do not share cache lines.
struct alignas(128) pool_local {
  // Odd while a get/put on the owning P runs; written by that P only,
  // read by cleanup's handshake (see the top of this file).
  std::atomic<std::uint64_t> seq{0};
  pool_gen_local gen[ngens];
};

// Brackets a get/put on the owning P: the odd seq is stored before primary is
// read, with light_fence between (cleanup's heavy_fence pairs with it).
class op_window {
 public:
  explicit op_window(pool_local* l) : l_(l), s_(l->seq.load(std::memory_order_relaxed)) {
#if defined(GORO_TSAN)
    l_->seq.store(s_ + 1, std::memory_order_seq_cst);  // TSan models no fences
#else
    l_->seq.store(s_ + 1, std::memory_order_relaxed);
    light_fence();
#endif
  }
  ~op_window() { l_->seq.store(s_ + 2, std::memory_order_release); }
  op_window(const op_window&) = delete;
  op_window& operator=(const op_window&) = delete;

 private:
  pool_local* l_;
  std::uint64_t s_;
};

// The per-P directory: locals[i] for P id i < n. Replaced by a larger copy
// when a P with a larger id first puts; the pool_locals are shared by old and
// new copies and never move.
struct local_dir {
  std::size_t n = 0;
  std::unique_ptr<pool_local*[]> locals;
  local_dir* older = nullptr;  // retired directories, freed with the pool
};

using dead_list = std::vector<std::pair<void (*)(void*), void*>>;

}  // namespace

struct pool_base::impl {
  void (*destroy)(void*);
  // Which generation is primary: gen[primary], 0..2; the victim is
  // gen[(primary + 2) % 3], the dead one gen[(primary + 1) % 3]. Advanced
  // (mod 3) only by cleanup. It is the index itself, not a count taken mod 3,
  // so that the fast paths spend no division on it.
  std::atomic<std::uint32_t> primary{0};
  // Set by a get() that found the victim empty, so that later ones skip it;
  // cleared when cleanup makes a new victim. (Racy by design, as in Go: a late
  // set only hides objects that the next cleanup then destroys.)
  std::atomic<bool> victim_empty{true};
  std::atomic<local_dir*> dir{nullptr};
  lock_t grow_lock;  // serializes replacing dir
  // Objects put by plain threads (no P), per generation.
  lock_t thread_lock;
  std::vector<void*> thread_items[ngens];  // thread_lock
  // Registry links; guarded by the registry's mutex.
  impl* reg_prev = nullptr;
  impl* reg_next = nullptr;

  void* get_any() noexcept;  // get() past its inline try of the private slot
  void put_any(void* x) noexcept;

  pool_local* find_local(int pid) {
    local_dir* d = dir.load(std::memory_order_acquire);
    return (d != nullptr && static_cast<std::size_t>(pid) < d->n) ? d->locals[pid] : nullptr;
  }

  // Throws std::bad_alloc.
  pool_local* local_for(int pid) {
    if (pool_local* l = find_local(pid)) return l;
    std::lock_guard lk(grow_lock);
    local_dir* d = dir.load(std::memory_order_relaxed);
    if (d != nullptr && static_cast<std::size_t>(pid) < d->n) return d->locals[pid];
    std::size_t n = std::max<std::size_t>(static_cast<std::size_t>(pid) + 1,
                                          static_cast<std::size_t>(goro::max_procs()));
    auto nd = std::make_unique<local_dir>();
    nd->n = n;
    nd->locals = std::make_unique<pool_local*[]>(n);
    std::size_t old_n = d != nullptr ? d->n : 0;
    std::vector<std::unique_ptr<pool_local>> fresh;
    for (std::size_t i = old_n; i < n; ++i) fresh.push_back(std::make_unique<pool_local>());
    for (std::size_t i = 0; i < n; ++i)
      nd->locals[i] = i < old_n ? d->locals[i] : fresh[i - old_n].release();
    nd->older = d;
    dir.store(nd.get(), std::memory_order_release);
    return nd.release()->locals[pid];
  }

  // get() past the own P's primary cache: the other Ps' chains and the plain
  // threads' list, then the victim generation. l: the own P's local (inside
  // its op_window) or null.
  void* get_slow(std::uint32_t cur, pool_local* l, int pid) {
    if (pid >= 0) {
      if (void* x = steal(cur, pid)) return x;
      if (void* x = pop_thread(cur)) return x;
    } else {
      if (void* x = pop_thread(cur)) return x;
      if (void* x = steal(cur, pid)) return x;
    }
    // The victim cache, last, so that its objects age out if they can.
    if (victim_empty.load(std::memory_order_acquire)) return nullptr;
    const std::uint32_t v = (cur + ngens - 1) % ngens;
    if (l != nullptr)
      if (void* x = l->gen[v].take_priv()) return x;
    if (void* x = steal(v, pid)) return x;
    if (void* x = pop_thread(v)) return x;
    victim_empty.store(true, std::memory_order_release);
    return nullptr;
  }

  void* pop_thread(std::uint32_t g) {
    std::lock_guard lk(thread_lock);
    if (thread_items[g].empty()) return nullptr;
    void* x = thread_items[g].back();
    thread_items[g].pop_back();
    return x;
  }

  // Takes from every P's chain tail in generation g, starting after pid.
  // Private slots are their P's alone (as in Go): an object left in the slot
  // of a P that goes idle waits there until cleanup ages it out.
  void* steal(std::uint32_t g, int pid) {
    local_dir* d = dir.load(std::memory_order_acquire);
    if (d == nullptr) return nullptr;
    std::size_t start = pid >= 0 ? static_cast<std::size_t>(pid) + 1 : fastrandn(d->n);
    for (std::size_t i = 0; i < d->n; ++i)
      if (void* x = d->locals[(start + i) % d->n]->gen[g].shared.pop_tail()) return x;
    return nullptr;
  }

  // Waits until no get/put on a P that may have read a primary older than the
  // current one is still running (the handshake at the top of this file).
  // The caller has stored the new primary and issued heavy_fence.
  void wait_out_operations() {
    local_dir* d = dir.load(std::memory_order_acquire);
    if (d == nullptr) return;
    for (std::size_t i = 0; i < d->n; ++i) {
      std::atomic<std::uint64_t>& seq = d->locals[i]->seq;
      std::uint64_t s = seq.load(std::memory_order_acquire);
      if ((s & 1) == 0) continue;
      // A get/put runs without blocking: it ends within microseconds unless
      // its thread was preempted.
      while (seq.load(std::memory_order_acquire) == s) std::this_thread::yield();
    }
  }

  // Moves every object of generation g into out. Private slots: only after
  // wait_out_operations for the flip that made g dead. Chains and the plain
  // threads' list: safe against concurrent get/put at any time.
  void drain(std::uint32_t g, dead_list& out) {
    if (local_dir* d = dir.load(std::memory_order_acquire)) {
      for (std::size_t i = 0; i < d->n; ++i) {
        pool_gen_local& l = d->locals[i]->gen[g];
        if (void* x = l.take_priv()) out.emplace_back(destroy, x);
        while (void* x = l.shared.pop_tail()) out.emplace_back(destroy, x);
      }
    }
    std::lock_guard lk(thread_lock);
    for (void* x : thread_items[g]) out.emplace_back(destroy, x);
    thread_items[g].clear();
  }
};

namespace {

// Every live pool, for cleanup (Go's allPools).
struct registry_t {
  goro::mutex mu;  // held for a whole cleanup; pools (un)register under it
  pool_base::impl* head = nullptr;  // mu
  bool paused = false;  // mu: the background cleanup skips its runs (tests)
  std::once_flag started;
};

registry_t& registry() {
  static registry_t* r = new registry_t;  // never destroyed: the thread may outlive main
  return *r;
}

void run_cleanup(bool background) {
  registry_t& r = registry();
  dead_list dead;
  {
    std::lock_guard lk(r.mu);
    if (background && r.paused) return;
    // Flip every pool, then one handshake for all of them.
    for (pool_base::impl* p = r.head; p != nullptr; p = p->reg_next) {
      // The primary becomes the victim, the dead generation the primary.
      p->primary.store((p->primary.load(std::memory_order_relaxed) + 1) % ngens,
                       std::memory_order_seq_cst);
      p->victim_empty.store(false, std::memory_order_release);
    }
    heavy_fence();
    for (pool_base::impl* p = r.head; p != nullptr; p = p->reg_next) {
      p->wait_out_operations();
      p->drain((p->primary.load(std::memory_order_relaxed) + 1) % ngens, dead);
    }
  }
  // Destroy outside the lock: a destructor may itself use pools.
  for (auto [destroy, x] : dead) destroy(x);
}

void start_background_cleanup() {
  std::call_once(registry().started, [] {
    // A detached plain thread, not a goroutine on a goro ticker: a program
    // whose goroutines are all blocked must still be seen as deadlocked.
    std::thread([] {
      note_runtime_thread();
      for (;;) {
        std::this_thread::sleep_for(cleanup_period);
        run_cleanup(/*background=*/true);
      }
    }).detach();
  });
}

}  // namespace

pool_base::pool_base(void (*destroy)(void*)) : impl_(new impl) {
  // The runtime decides how heavy_fence works (membarrier or not) when it
  // starts: before any cleanup, so that both sides of the handshake agree.
  (void)goro::max_procs();  // starts the runtime
  impl_->destroy = destroy;
  registry_t& r = registry();
  {
    std::lock_guard lk(r.mu);
    impl_->reg_next = r.head;
    if (r.head != nullptr) r.head->reg_prev = impl_;
    r.head = impl_;
  }
  start_background_cleanup();
}

pool_base::~pool_base() {
  registry_t& r = registry();
  {
    std::lock_guard lk(r.mu);  // waits out a cleanup in progress
    if (impl_->reg_prev != nullptr) impl_->reg_prev->reg_next = impl_->reg_next;
    else r.head = impl_->reg_next;
    if (impl_->reg_next != nullptr) impl_->reg_next->reg_prev = impl_->reg_prev;
  }
  dead_list dead;
  for (std::uint32_t g = 0; g < ngens; ++g) impl_->drain(g, dead);
  for (auto [destroy, x] : dead) destroy(x);
  if (local_dir* d = impl_->dir.load(std::memory_order_relaxed)) {
    for (std::size_t i = 0; i < d->n; ++i) delete d->locals[i];
    while (d != nullptr) delete std::exchange(d, d->older);
  }
  delete impl_;
}

namespace {

// Runs f(the own P's primary private slot) inside a runtime section (sysmon
// cannot take the P meanwhile; nothing in here parks) and the P's op_window.
// False, without running f, on a plain thread or before this P's first put.
// Inlined into get and put, so that their common case is a short straight line
// (no spilled registers, no division, no call); everything else is
// get_any/put_any, out of line, which start over: a miss costs one more
// runtime section, not a wrong answer.
template <class F>
[[gnu::always_inline]] inline bool with_own_private_slot(pool_base::impl& p, F f) {
  rt_section sec;
  if (sec.p == nullptr) [[unlikely]] return false;
  pool_local* l = p.find_local(sec.p->id);
  if (l == nullptr) [[unlikely]] return false;
  op_window w(l);
  return f(l->gen[p.primary.load(std::memory_order_acquire)].priv);
}

}  // namespace

void* pool_base::get() noexcept {
  void* x = nullptr;
  if (with_own_private_slot(*impl_, [&x](std::atomic<void*>& priv) {
        x = priv.load(std::memory_order_relaxed);
        if (x == nullptr) return false;
        priv.store(nullptr, std::memory_order_relaxed);
        return true;
      })) [[likely]]
    return x;
  return impl_->get_any();
}

void pool_base::put(void* x) noexcept {
  if (with_own_private_slot(*impl_, [x](std::atomic<void*>& priv) {
        if (priv.load(std::memory_order_relaxed) != nullptr) return false;
        priv.store(x, std::memory_order_relaxed);
        return true;
      })) [[likely]]
    return;
  impl_->put_any(x);
}

[[gnu::noinline]] void* pool_base::impl::get_any() noexcept {
  // A runtime section: sysmon cannot take the P (pid) until we return, and
  // nothing in here parks.
  rt_section sec;
  const int pid = sec.p ? sec.p->id : -1;
  pool_local* l = pid >= 0 ? find_local(pid) : nullptr;
  if (l == nullptr) return get_slow(primary.load(std::memory_order_acquire), nullptr, pid);
  op_window w(l);
  const std::uint32_t cur = primary.load(std::memory_order_acquire);
  if (void* x = l->gen[cur].take_priv()) return x;
  if (void* x = l->gen[cur].shared.pop_head()) return x;
  return get_slow(cur, l, pid);
}

[[gnu::noinline]] void pool_base::impl::put_any(void* x) noexcept {
  try {
    rt_section sec;  // as in get_any
    if (sec.p != nullptr) {
      pool_local* l = local_for(sec.p->id);  // published before op_window
      op_window w(l);
      const std::uint32_t cur = primary.load(std::memory_order_acquire);
      std::atomic<void*>& priv = l->gen[cur].priv;
      if (priv.load(std::memory_order_relaxed) == nullptr) {
        priv.store(x, std::memory_order_relaxed);
        return;
      }
      l->gen[cur].shared.push_head(x);
      return;
    }
    const std::uint32_t cur = primary.load(std::memory_order_acquire);
    std::lock_guard lk(thread_lock);
    thread_items[cur].push_back(x);
  } catch (const std::bad_alloc&) {
    destroy(x);  // a cache may drop anything
  }
}

void pool_pause_background_cleanup(bool paused) {
  registry_t& r = registry();
  std::lock_guard lk(r.mu);  // also waits out a background run in progress
  r.paused = paused;
}

}  // namespace goro::detail

namespace goro {

void pool_cleanup() { detail::run_cleanup(/*background=*/false); }

}  // namespace goro
