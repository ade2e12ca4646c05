// goro::error — Go's `error`, carrying what the seed's chapter 5 ("Error
// Propagation") says every error must relay (API.md §5).
//
//   goro::error err = goro::new_error("disk full");
//   goro::error up  = goro::wrap(err, "saving report");   // "saving report: disk full"
//   if (goro::is(up, err)) ...                              // walks the cause chain
//
// An error is nil or refers to one immutable record. Every creation
// (new_error, user_error) and every wrap makes a new record, which notes:
//   * what happened: its own message, and the error it wraps (its cause);
//   * where: the call stack at creation, captured as raw return addresses
//     (cheap, no symbol lookup: ~0.4 us for 16 frames with libunwind.so.8,
//     which goro loads privately when present; libgcc's unwinder otherwise,
//     ~0.3 us per frame) and symbolized by Boost.Stacktrace only when
//     stack_trace() asks;
//   * when: goro::clock (monotonic) and std::chrono::system_clock (UTC) times;
//   * on which machine: the host name (read once per process);
//   * an id, unique per record and short, to cross-reference a log entry with
//     the one line a user is shown (handle_error).
//
// Identity: two errors are equal (==) when they refer to the same record;
// copies of an error are equal, two new_error calls with the same text are not
// (each is a distinct sentinel, like Go's errors.New). is() compares records
// along the cause chain; messages are never compared.
//
// Known errors vs bugs (the seed's MyError / LowLevelErr / IntermediateErr):
// a module tags the errors it emits with an error_kind, and a kind can be
// marked user-facing, meaning "well-formed: its message may be shown to a
// user". handle_error() shows a user-facing error's own message and, for
// anything else, "There was an unexpected issue; please report this as a bug"
// with the record's id, and logs the full record either way.
//
// Thread safety: an error is a value; copies may be used from any goroutine or
// thread at once (the record is immutable; its lazily symbolized stack is
// computed under a once-style guard). Copy costs an atomic increment.
#pragma once

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>

#include <goro/clock.hpp>

namespace goro {

namespace detail {
struct error_rec;  // src/error.cpp
}

// error_kind
//
// The type of the errors a module emits (the seed's LowLevelErr,
// IntermediateErr), compared by identity: two kinds with the same name are
// different kinds. Records keep a pointer to their kind, so a kind must
// outlive every error made with it: define kinds at namespace scope.
//
// user_facing: errors of this kind are well-formed for a user; handle_error
// shows their own message instead of the "unexpected issue" line.
class error_kind {
 public:
  explicit error_kind(std::string name, bool user_facing = false)
      : name_(std::move(name)), user_facing_(user_facing) {}
  error_kind(const error_kind&) = delete;
  error_kind& operator=(const error_kind&) = delete;

  const std::string& name() const noexcept { return name_; }
  bool user_facing() const noexcept { return user_facing_; }

 private:
  std::string name_;
  bool user_facing_;
};

// The kind user_error() tags with: user-facing, named "user".
extern const error_kind user_error_kind;

// error
//
// nil (default) or a shared, immutable error record; cheap to copy.
// Accessors on a nil error return empty values: "" / nil / epoch time points.
class error {
 public:
  error() noexcept = default;
  error(std::nullptr_t) noexcept {}  // NOLINT: `return nullptr;` reads as Go's `return nil`

  explicit operator bool() const noexcept { return r_ != nullptr; }  // true if not nil

  // Error(): this record's own message, then ": " and the cause's message()
  // for a wrapped error (as fmt.Errorf("msg: %w", cause)). "" for nil.
  std::string message() const;
  // Only this record's own message, without its causes: the friendly line a
  // user-facing error shows.
  const std::string& own_message() const;
  // Unwrap(): the wrapped error, or nil.
  error cause() const;
  // This record's kind, or nullptr (plain new_error / wrap).
  const error_kind* kind() const noexcept;

  // Where this record was created or wrapped: one symbolized frame per line,
  // innermost first. Symbolization happens on the first call (slow: it reads
  // debug information) and is cached.
  std::string stack_trace() const;
  clock::time_point when() const noexcept;
  std::chrono::system_clock::time_point when_utc() const noexcept;
  std::string host() const;  // gethostname() of the creating process
  // Unique in this process and, with its random per-process prefix, very
  // probably across processes: "<8 hex digits>-<counter in hex>".
  std::string id() const;

  // Identity of the record, as Go compares error values: copies are equal;
  // two errors created separately are not, whatever their messages.
  friend bool operator==(const error& a, const error& b) noexcept { return a.r_ == b.r_; }
  friend bool operator==(const error& a, std::nullptr_t) noexcept { return a.r_ == nullptr; }

 private:
  friend struct detail::error_rec;
  explicit error(std::shared_ptr<const detail::error_rec> r) noexcept : r_(std::move(r)) {}
  std::shared_ptr<const detail::error_rec> r_;
};

// errors.New: a new error, distinct from every other (a sentinel).
error new_error(std::string message);
error new_error(const error_kind& kind, std::string message);
// fmt.Errorf("message: %w", cause): a new record whose message() is
// "message: <cause.message()>" and whose cause() is `cause`. Wrapping nil
// gives an error with no cause (message() is just `message`).
error wrap(error cause, std::string message);
error wrap(error cause, const error_kind& kind, std::string message);
// An error well-formed for users (kind user_error_kind): handle_error shows
// its own message, not "unexpected issue". The two-argument form wraps.
error user_error(std::string message);
error user_error(error cause, std::string message);

// errors.Is: whether err or any error in its cause chain is target (same
// record). is(nil, nil) is true; is(err, nil) is false for a non-nil err.
bool is(const error& err, const error& target);
// errors.As for kinds: the first error along err's cause chain (err itself
// first) whose kind is `kind`, or nil.
error find_kind(const error& err, const error_kind& kind);
// Whether handle_error would show err's own message: err is not nil and its
// (outermost) kind is user-facing. As in the seed, only the outermost error
// counts: a module must wrap what it lets escape.
bool is_user_facing(const error& err);

// The full record for a log: for err and each error in its cause chain, its
// id, kind, own message, UTC time, host and stack trace. "<nil>" for nil.
std::string error_record(const error& err);

// The seed's handleError: writes error_record(err) to `log`, prefixed with
// "[logID: <id>]", and one friendly line to `user`: err's own message if it
// is user-facing, else "There was an unexpected issue; please report this as
// a bug." — either way followed by " [<id>]" so the user can quote it.
// Does nothing for a nil err. Not synchronized: concurrent callers writing to
// the same streams interleave as the streams allow.
void handle_error(const error& err, std::ostream& log, std::ostream& user);
void handle_error(const error& err);  // log = std::clog, user = std::cout

// Prints message(), or "<nil>".
std::ostream& operator<<(std::ostream& os, const error& err);

// context.Canceled: "context canceled".
extern const error canceled;
// context.DeadlineExceeded: "context deadline exceeded".
extern const error deadline_exceeded;

}  // namespace goro
