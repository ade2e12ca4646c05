// Channels (API.md §2; Go's `chan T`, `chan<- T`, `<-chan T`).
//
// A channel handle is a cheap, copyable, shared reference: copies refer to the
// same channel, which lives as long as any handle does. A default-constructed
// handle is the nil channel: send and recv on it block forever, close throws.
//
// Semantics are Go's:
//  * an unbuffered send completes only when a receiver has taken the value;
//  * a value sent to a waiting receiver is handed over directly, even on a
//    buffered channel (no trip through the buffer);
//  * waiters are served first come, first served;
//  * close wakes every waiting receiver (they get std::nullopt) and every
//    waiting sender (they get panic_error); values already buffered are still
//    received after close, then recv returns std::nullopt.
//
// Memory ordering: a send happens-before the corresponding receive completes;
// closing happens-before a receive that returns because the channel is
// closed; for an unbuffered channel the receive happens-before the send
// completes (Go's memory model).
//
// T may be any move-constructible type, move-only and non-default-
// constructible types included. If T's move constructor throws, the channel is
// left unchanged and the exception reaches the caller whose value it was.
//
// Operations work from goroutines (which park) and from plain threads (which
// block), in any mix.
#pragma once

#include <cstddef>
#include <functional>
#include <iterator>
#include <optional>
#include <utility>

#include <goro/detail/chan_core.hpp>
#include <goro/panic.hpp>

namespace goro {

template <class T>
class chan;
template <class T>
class send_chan;
template <class T>
class recv_chan;
template <class T>
chan<T> make_chan(std::size_t capacity = 0);

namespace detail {

template <class T>
struct raw_storage {
  alignas(T) unsigned char bytes[sizeof(T)];
  T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(bytes)); }
};

// The shared handle all three channel kinds are made of.
template <class T>
class chan_base {
 public:
  chan_base() noexcept = default;
  chan_base(std::nullptr_t) noexcept {}
  chan_base(retain_raw_t, hchan* c) noexcept : c_(c) { chan_retain(c_); }
  chan_base(const chan_base& o) noexcept : c_(o.c_) { chan_retain(c_); }
  chan_base(chan_base&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  chan_base& operator=(const chan_base& o) noexcept {
    chan_retain(o.c_);
    chan_release(c_);
    c_ = o.c_;
    return *this;
  }
  chan_base& operator=(chan_base&& o) noexcept {
    if (this != &o) {
      chan_release(c_);
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  ~chan_base() { chan_release(c_); }

  template <class>
  friend class chan_iterator;

  std::size_t len() const noexcept { return chan_len(c_); }  // buffered items
  std::size_t cap() const noexcept { return chan_cap(c_); }
  explicit operator bool() const noexcept { return c_ != nullptr; }  // false for nil
  hchan* raw() const noexcept { return c_; }

  // Identity, as in Go: handles of any kind to one channel compare equal.
  friend bool operator==(const chan_base& a, const chan_base& b) noexcept { return a.c_ == b.c_; }

 protected:
  explicit chan_base(hchan* c) noexcept : c_(c) {}
  hchan* c_ = nullptr;

  void do_send(T&& v) { chan_send(c_, std::addressof(v)); }
  bool do_try_send(T&& v) { return chan_try_send(c_, std::addressof(v)); }
  std::optional<T> do_recv() {
    raw_storage<T> s;
    if (!chan_recv(c_, s.ptr())) return std::nullopt;
    return take(s);
  }
  // nullopt if it would block or the channel is closed and drained; `closed`
  // (if given) tells which.
  std::optional<T> do_try_recv(bool* closed) {
    raw_storage<T> s;
    int r = chan_try_recv(c_, s.ptr());
    if (closed) *closed = r == 0;
    if (r != 1) return std::nullopt;
    return take(s);
  }
  static std::optional<T> take(raw_storage<T>& s) {
    struct destroy {
      T* p;
      ~destroy() { p->~T(); }
    } d{s.ptr()};
    return std::optional<T>(std::move(*s.ptr()));
  }
};

template <>
class chan_base<void> {
 public:
  chan_base() noexcept = default;
  chan_base(std::nullptr_t) noexcept {}
  chan_base(retain_raw_t, hchan* c) noexcept : c_(c) { chan_retain(c_); }
  chan_base(const chan_base& o) noexcept : c_(o.c_) { chan_retain(c_); }
  chan_base(chan_base&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  chan_base& operator=(const chan_base& o) noexcept {
    chan_retain(o.c_);
    chan_release(c_);
    c_ = o.c_;
    return *this;
  }
  chan_base& operator=(chan_base&& o) noexcept {
    if (this != &o) {
      chan_release(c_);
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  ~chan_base() { chan_release(c_); }
  std::size_t len() const noexcept { return chan_len(c_); }
  std::size_t cap() const noexcept { return chan_cap(c_); }
  explicit operator bool() const noexcept { return c_ != nullptr; }
  hchan* raw() const noexcept { return c_; }
  friend bool operator==(const chan_base& a, const chan_base& b) noexcept { return a.c_ == b.c_; }

 protected:
  explicit chan_base(hchan* c) noexcept : c_(c) {}
  hchan* c_ = nullptr;
};

template <class T>
class chan_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using pointer = T*;
  using reference = T&;

  chan_iterator() = default;
  explicit chan_iterator(chan_base<T>* ch) : ch_(ch) { next(); }
  T& operator*() { return *cur_; }
  T* operator->() { return &*cur_; }
  chan_iterator& operator++() {
    next();
    return *this;
  }
  void operator++(int) { next(); }
  friend bool operator==(const chan_iterator& a, std::default_sentinel_t) { return !a.cur_; }

 private:
  void next() { cur_ = ch_->do_recv(); }
  chan_base<T>* ch_ = nullptr;
  std::optional<T> cur_;
};

}  // namespace detail

// A bidirectional channel of T.
template <class T>
class chan : public detail::chan_base<T> {
  using base = detail::chan_base<T>;

 public:
  using value_type = T;
  using base::base;
  chan() noexcept = default;

  // Blocks until the value is delivered or buffered. panic_error if the
  // channel is closed (or gets closed while this waits).
  void send(T value) { this->do_send(std::move(value)); }
  // Never blocks: false if the send would have to wait.
  [[nodiscard]] bool try_send(T value) { return this->do_try_send(std::move(value)); }
  // Blocks until a value arrives (it), or the channel is closed and drained (nullopt).
  std::optional<T> recv() { return this->do_recv(); }
  // Never blocks: nullopt if nothing is there; *closed (optional) tells
  // whether that is because the channel is closed and drained.
  std::optional<T> try_recv(bool* closed = nullptr) { return this->do_try_recv(closed); }
  // panic_error if nil or already closed.
  void close() { detail::chan_close(this->c_); }

  // `for (T v : ch)` receives until the channel is closed and drained.
  detail::chan_iterator<T> begin() { return detail::chan_iterator<T>(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  template <class U>
  friend chan<U> make_chan(std::size_t);
  explicit chan(detail::hchan* c) noexcept : base(c) {}
};

// The signal channel (Go's chan struct{}).
template <>
class chan<void> : public detail::chan_base<void> {
  using base = detail::chan_base<void>;

 public:
  using value_type = void;
  using base::base;
  chan() noexcept = default;

  void send() { detail::chan_send(c_, nullptr); }
  [[nodiscard]] bool try_send() { return detail::chan_try_send(c_, nullptr); }
  // true: a signal arrived; false: the channel is closed and drained.
  bool recv() { return detail::chan_recv(c_, nullptr); }
  // 1 received, 0 closed and drained, -1 nothing there.
  int try_recv() { return detail::chan_try_recv(c_, nullptr); }
  void close() { detail::chan_close(c_); }

 private:
  template <class U>
  friend chan<U> make_chan(std::size_t);
  explicit chan(detail::hchan* c) noexcept : base(c) {}
};

// Go's chan<- T: send, close, len, cap.
template <class T>
class send_chan : public detail::chan_base<T> {
  using base = detail::chan_base<T>;

 public:
  using value_type = T;
  send_chan() noexcept = default;
  send_chan(std::nullptr_t) noexcept {}
  send_chan(const chan<T>& c) noexcept : base(c) {}  // NOLINT: implicit, as in Go
  send_chan(chan<T>&& c) noexcept : base(std::move(c)) {}
  send_chan(detail::retain_raw_t t, detail::hchan* c) noexcept : base(t, c) {}

  template <class U = T, class = std::enable_if_t<!std::is_void_v<U>>>
  void send(U value) {
    this->do_send(std::move(value));
  }
  template <class U = T, class = std::enable_if_t<std::is_void_v<U>>>
  void send() {
    detail::chan_send(this->c_, nullptr);
  }
  template <class U = T, class = std::enable_if_t<!std::is_void_v<U>>>
  [[nodiscard]] bool try_send(U value) {
    return this->do_try_send(std::move(value));
  }
  void close() { detail::chan_close(this->c_); }
};

// Go's <-chan T: recv, range-for, len, cap.
template <class T>
class recv_chan : public detail::chan_base<T> {
  using base = detail::chan_base<T>;

 public:
  using value_type = T;
  recv_chan() noexcept = default;
  recv_chan(std::nullptr_t) noexcept {}
  recv_chan(const chan<T>& c) noexcept : base(c) {}  // NOLINT: implicit, as in Go
  recv_chan(chan<T>&& c) noexcept : base(std::move(c)) {}
  recv_chan(detail::retain_raw_t t, detail::hchan* c) noexcept : base(t, c) {}

  std::optional<T> recv() { return this->do_recv(); }
  std::optional<T> try_recv(bool* closed = nullptr) { return this->do_try_recv(closed); }
  detail::chan_iterator<T> begin() { return detail::chan_iterator<T>(this); }
  std::default_sentinel_t end() { return {}; }
};

template <>
class recv_chan<void> : public detail::chan_base<void> {
  using base = detail::chan_base<void>;

 public:
  using value_type = void;
  recv_chan() noexcept = default;
  recv_chan(std::nullptr_t) noexcept {}
  recv_chan(const chan<void>& c) noexcept : base(c) {}  // NOLINT: implicit, as in Go
  recv_chan(chan<void>&& c) noexcept : base(std::move(c)) {}
  recv_chan(detail::retain_raw_t t, detail::hchan* c) noexcept : base(t, c) {}

  bool recv() { return detail::chan_recv(c_, nullptr); }
  int try_recv() { return detail::chan_try_recv(c_, nullptr); }
};

// Go's make(chan T, capacity). capacity 0: unbuffered.
template <class T>
chan<T> make_chan(std::size_t capacity) {
  return chan<T>(detail::chan_make(&detail::ops_of<T>::value, capacity));
}

}  // namespace goro

// Hashing by identity: handles of any kind to one channel hash alike.
template <class T>
struct std::hash<goro::chan<T>> {
  std::size_t operator()(const goro::detail::chan_base<T>& c) const noexcept {
    return std::hash<const void*>()(c.raw());
  }
};
template <class T>
struct std::hash<goro::send_chan<T>> : std::hash<goro::chan<T>> {};
template <class T>
struct std::hash<goro::recv_chan<T>> : std::hash<goro::chan<T>> {};
