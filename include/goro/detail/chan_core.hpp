// The type-erased channel core shared by chan<T>, select and the runtime.
// Users do not include this directly; see <goro/chan.hpp>.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>

namespace goro::detail {

// How the core moves and destroys elements it does not know the type of.
struct elem_ops {
  std::size_t size;   // 0 for chan<void>
  std::size_t align;
  bool trivial;       // memcpy moves, no destructor
  void (*move_construct)(void* dst, void* src);  // may throw
  void (*destroy)(void* p) noexcept;
};

template <class T>
struct ops_of {
  static void move(void* dst, void* src) { ::new (dst) T(std::move(*static_cast<T*>(src))); }
  static void destroy(void* p) noexcept { static_cast<T*>(p)->~T(); }
  static constexpr elem_ops value{sizeof(T), alignof(T),
                                  std::is_trivially_copyable_v<T> &&
                                      std::is_trivially_destructible_v<T>,
                                  &move, &destroy};
};
template <>
struct ops_of<void> {
  static constexpr elem_ops value{0, 1, true, nullptr, nullptr};
};

// The reference count lives in a public prefix so handle copies stay inline.
struct hchan_ref {
  std::atomic<long> refs{1};
};
struct hchan;

// Tag: build a handle that shares (retains) an existing hchan. Runtime use.
struct retain_raw_t {
  explicit retain_raw_t() = default;
};

hchan* chan_make(const elem_ops* ops, std::size_t capacity);
void chan_destroy(hchan* c) noexcept;  // refs reached zero

inline void chan_retain(hchan* c) noexcept {
  if (c) reinterpret_cast<hchan_ref*>(c)->refs.fetch_add(1, std::memory_order_relaxed);
}
inline void chan_release(hchan* c) noexcept {
  if (c && reinterpret_cast<hchan_ref*>(c)->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    chan_destroy(c);
}

// Blocking send of *elem (moved from). panic_error if c is closed (also if it
// is closed while the sender waits). A nil c blocks forever.
void chan_send(hchan* c, void* elem);
// Non-blocking send: false if it would block.
bool chan_try_send(hchan* c, void* elem);
// Blocking receive into raw storage *out (constructed only on true).
// false: c is closed and drained. A nil c blocks forever.
bool chan_recv(hchan* c, void* out);
// Non-blocking receive: 1 received, 0 closed and drained, -1 would block.
int chan_try_recv(hchan* c, void* out);
void chan_close(hchan* c);
std::size_t chan_len(const hchan* c) noexcept;
std::size_t chan_cap(const hchan* c) noexcept;

// One case of a select, as the core sees it.
struct scase {
  hchan* c;    // null: a nil channel (never ready)
  void* elem;  // send: the value to move from; recv: raw storage to move into
  bool send;
};
// Go's selectgo: runs one ready case, chosen uniformly at random among the
// ready ones; if none is ready, returns -1 when !block, else parks until one
// is. *received tells a recv case whether a value arrived (false: closed).
// A send case on a closed channel throws panic_error.
int selectgo(scase* cases, int n, bool block, bool* received);

}  // namespace goro::detail
