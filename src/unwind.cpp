// Stack capture for goro::error (src/unwind.hpp).
//
// libgcc's _Unwind_Backtrace re-derives every frame's unwind rule from the
// DWARF call-frame information on every call: find the FDE, parse its CIE,
// interpret the CFA program up to the return address. That is ~0.3 us per
// frame, most of an error's creation cost. The rule of a given return address
// never changes, so the fast path decodes it once, caches it, and afterwards
// a frame costs a table probe and two loads.
//
// What a rule says (x86-64, registers by DWARF number: 6 rbp, 7 rsp, 16 the
// return address): CFA = rsp or rbp of the frame + offset; the return address
// is saved at CFA + ra_off; rbp is either unchanged in the caller or saved at
// CFA + rbp_off. Those are the only registers the walk needs, as long as every
// CFA is defined by rsp or rbp. Anything else — a CFA expression (realigned
// stacks), a signal frame, 64-bit DWARF, an unusual encoding — is marked
// `unsupported` and the capture falls back to _Unwind_Backtrace, which handles
// everything: the fast path never guesses.
//
// Safety of the walk: a rule is only ever what the CFI says for that address,
// so the loads are of slots the callee itself saved. Independently of that,
// every load is bounds-checked against the stack the capture runs on (the
// goroutine's, or the thread's from pthread_getattr_np, once per thread): the
// CFA must strictly increase and every slot read must lie between the
// current stack pointer and the stack's top, else the capture falls back to
// the slow path. So even a wrong rule cannot fault; it could only give wrong
// frames. (One way to get a wrong rule: a library unloaded with dlclose and
// another loaded at the same addresses keeps the first one's cached rules.
// Stack traces of such programs may then be wrong; nothing worse.)
//
// The cache: a fixed, process-wide, direct-mapped table (4096 entries) keyed
// by address, each entry a seqlock of atomics, so any thread or goroutine may
// read and fill it concurrently without locks (a torn read is a miss).
#include "unwind.hpp"

#include <unwind.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__linux__)
#include <dlfcn.h>  // _dl_find_object: glibc 2.35
#include <pthread.h>
#endif
#if defined(__x86_64__) && defined(__linux__) && defined(DLFO_STRUCT_HAS_EH_DBASE)
#include <goro/runtime.hpp>

#include "runtime.hpp"
#define GORO_FAST_UNWIND 1
#else
#define GORO_FAST_UNWIND 0
#endif

namespace goro::detail {

namespace {

std::atomic<std::uint64_t> fallbacks{0};

struct slow_state {
  void** out;
  std::size_t n, max, skip;
};

_Unwind_Reason_Code slow_frame(_Unwind_Context* ctx, void* arg) {
  auto* st = static_cast<slow_state*>(arg);
  if (st->skip > 0) {
    --st->skip;
    return _URC_NO_REASON;
  }
  if (st->n == st->max) return _URC_END_OF_STACK;
  std::uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  st->out[st->n++] = reinterpret_cast<void*>(ip);
  return _URC_NO_REASON;
}

}  // namespace

__attribute__((noinline)) std::size_t capture_stack_slow(void** out, std::size_t max,
                                                         std::size_t skip) noexcept {
  // The first frame _Unwind_Backtrace reports is this function's own.
  slow_state st{out, 0, max, skip + 1};
  _Unwind_Backtrace(&slow_frame, &st);
  std::size_t n = st.n;
  asm volatile("" : "+r"(n));  // no tail call: callers count on this frame
  return n;
}

#if GORO_FAST_UNWIND

namespace {

// ---- rules ------------------------------------------------------------------

enum rule_kind : std::uint64_t {
  rule_empty = 0,        // cache slot never filled
  rule_ok = 1,
  rule_end = 2,          // the stack ends here: no FDE, or the RA is undefined
  rule_unsupported = 3,  // needs the slow path
};

// Packed in 64 bits, so a cache entry holds it in one atomic:
//   bits 0-1 kind, bit 2 CFA register is rbp (else rsp), bit 3 rbp saved
//   (else unchanged), bits 4-31 CFA offset (signed 28), bits 32-47 RA offset
//   (signed 16), bits 48-63 rbp offset (signed 16).
struct rule {
  rule_kind kind = rule_empty;
  bool cfa_rbp = false;
  bool rbp_saved = false;
  std::int64_t cfa_off = 0;
  std::int64_t ra_off = 0;
  std::int64_t rbp_off = 0;
};

bool fits(std::int64_t v, int bits) {
  return v >= -(std::int64_t{1} << (bits - 1)) && v < (std::int64_t{1} << (bits - 1));
}

std::uint64_t pack(const rule& r) {
  if (r.kind == rule_ok &&
      (!fits(r.cfa_off, 28) || !fits(r.ra_off, 16) || !fits(r.rbp_off, 16)))
    return rule_unsupported;
  std::uint64_t v = r.kind;
  v |= std::uint64_t{r.cfa_rbp} << 2;
  v |= std::uint64_t{r.rbp_saved} << 3;
  v |= (static_cast<std::uint64_t>(r.cfa_off) & 0xFFFFFFF) << 4;
  v |= (static_cast<std::uint64_t>(r.ra_off) & 0xFFFF) << 32;
  v |= (static_cast<std::uint64_t>(r.rbp_off) & 0xFFFF) << 48;
  return v;
}

std::int64_t sign_extend(std::uint64_t v, int bits) {
  std::uint64_t m = std::uint64_t{1} << (bits - 1);
  v &= (std::uint64_t{1} << bits) - 1;
  return static_cast<std::int64_t>((v ^ m) - m);
}

rule unpack(std::uint64_t v) {
  rule r;
  r.kind = static_cast<rule_kind>(v & 3);
  r.cfa_rbp = (v >> 2) & 1;
  r.rbp_saved = (v >> 3) & 1;
  r.cfa_off = sign_extend(v >> 4, 28);
  r.ra_off = sign_extend(v >> 32, 16);
  r.rbp_off = sign_extend(v >> 48, 16);
  return r;
}

// ---- the cache --------------------------------------------------------------

struct cache_entry {
  std::atomic<std::uint32_t> seq{0};  // odd while being written
  std::atomic<std::uintptr_t> key{0};
  std::atomic<std::uint64_t> val{0};
};

constexpr std::size_t cache_bits = 12;
cache_entry cache[std::size_t{1} << cache_bits];

cache_entry& slot(std::uintptr_t pc) {
  return cache[(pc * 0x9E3779B97F4A7C15ull) >> (64 - cache_bits)];
}

bool cache_get(std::uintptr_t pc, std::uint64_t* val) {
  cache_entry& e = slot(pc);
  std::uint32_t s1 = e.seq.load(std::memory_order_acquire);
  if (s1 & 1) return false;
  std::uintptr_t k = e.key.load(std::memory_order_relaxed);
  std::uint64_t v = e.val.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (e.seq.load(std::memory_order_relaxed) != s1 || k != pc) return false;
  *val = v;
  return (v & 3) != rule_empty;
}

void cache_put(std::uintptr_t pc, std::uint64_t val) {
  cache_entry& e = slot(pc);
  std::uint32_t s = e.seq.load(std::memory_order_relaxed);
  if ((s & 1) || !e.seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire))
    return;  // somebody else is writing it: leave it to them
  std::atomic_thread_fence(std::memory_order_release);
  e.key.store(pc, std::memory_order_relaxed);
  e.val.store(val, std::memory_order_relaxed);
  e.seq.store(s + 2, std::memory_order_release);
}

// ---- reading DWARF ----------------------------------------------------------

// DW_EH_PE pointer encodings.
enum : std::uint8_t {
  pe_absptr = 0x00, pe_uleb128 = 0x01, pe_udata2 = 0x02, pe_udata4 = 0x03, pe_udata8 = 0x04,
  pe_sleb128 = 0x09, pe_sdata2 = 0x0a, pe_sdata4 = 0x0b, pe_sdata8 = 0x0c,
  pe_pcrel = 0x10, pe_datarel = 0x30, pe_indirect = 0x80, pe_omit = 0xff,
};

struct reader {
  const std::uint8_t* p;
  const std::uint8_t* end;
  bool ok = true;

  bool need(std::size_t n) {
    if (!ok || static_cast<std::size_t>(end - p) < n) ok = false;
    return ok;
  }
  template <class T>
  T fixed() {
    T v{};
    if (!need(sizeof v)) return v;
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
  }
  std::uint64_t uleb() {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (!need(1) || shift > 63) return ok = false, 0;
      std::uint8_t b = *p++;
      v |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return v;
    }
  }
  std::int64_t sleb() {
    std::int64_t v = 0;
    int shift = 0;
    std::uint8_t b;
    do {
      if (!need(1) || shift > 63) return ok = false, 0;
      b = *p++;
      v |= static_cast<std::int64_t>(std::uint64_t{b & 0x7fu} << shift);
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= -(std::int64_t{1} << shift);
    return v;
  }
  // An encoded pointer. datarel is relative to `data_base`. Indirect
  // pointers are only skipped (their value is not needed here).
  std::uintptr_t encoded(std::uint8_t enc, std::uintptr_t data_base = 0) {
    if (enc == pe_omit) return 0;
    std::uintptr_t here = reinterpret_cast<std::uintptr_t>(p);
    std::uintptr_t v;
    switch (enc & 0x0f) {
      case pe_absptr: v = fixed<std::uint64_t>(); break;
      case pe_uleb128: v = uleb(); break;
      case pe_udata2: v = fixed<std::uint16_t>(); break;
      case pe_udata4: v = fixed<std::uint32_t>(); break;
      case pe_udata8: v = fixed<std::uint64_t>(); break;
      case pe_sleb128: v = static_cast<std::uintptr_t>(sleb()); break;
      case pe_sdata2: v = static_cast<std::uintptr_t>(std::int64_t{fixed<std::int16_t>()}); break;
      case pe_sdata4: v = static_cast<std::uintptr_t>(std::int64_t{fixed<std::int32_t>()}); break;
      case pe_sdata8: v = static_cast<std::uintptr_t>(fixed<std::int64_t>()); break;
      default: ok = false; return 0;
    }
    switch (enc & 0x70) {
      case 0: break;
      case pe_pcrel: v += here; break;
      case pe_datarel: v += data_base; break;
      default: ok = false; return 0;
    }
    return v;
  }
};

// A register's rule while interpreting: where the caller's value is.
enum reg_how : std::uint8_t { reg_same, reg_undefined, reg_offset, reg_other };
struct reg_rule {
  reg_how how = reg_same;
  std::int64_t off = 0;
};
struct row {
  std::uint64_t cfa_reg = 7;
  std::int64_t cfa_off = 8;
  bool cfa_expr = false;
  reg_rule rbp, ra;
};

constexpr std::uint64_t dw_rbp = 6, dw_rsp = 7;

struct cie_info {
  std::uint64_t code_align = 1;
  std::int64_t data_align = -8;
  std::uint64_t ra_reg = 16;
  std::uint8_t fde_enc = pe_absptr;
  bool has_z = false;
  bool signal = false;
  const std::uint8_t* insns = nullptr;
  const std::uint8_t* end = nullptr;
};

bool parse_cie(const std::uint8_t* cie, cie_info* ci) {
  reader r{cie, cie + 16};
  std::uint32_t len = r.fixed<std::uint32_t>();
  if (!r.ok || len == 0 || len == 0xffffffffu) return false;
  r.end = cie + 4 + len;
  if (r.fixed<std::uint32_t>() != 0) return false;  // CIE id
  std::uint8_t version = r.fixed<std::uint8_t>();
  if (version != 1 && version != 3) return false;
  const char* aug = reinterpret_cast<const char*>(r.p);
  std::size_t aug_len = strnlen(aug, static_cast<std::size_t>(r.end - r.p));
  if (!r.need(aug_len + 1)) return false;
  r.p += aug_len + 1;
  if (aug[0] != '\0' && aug[0] != 'z') return false;  // "eh" and other old forms
  ci->code_align = r.uleb();
  ci->data_align = r.sleb();
  ci->ra_reg = version == 1 ? r.fixed<std::uint8_t>() : r.uleb();
  if (aug[0] == 'z') {
    ci->has_z = true;
    std::uint64_t alen = r.uleb();
    if (!r.need(alen)) return false;
    reader a{r.p, r.p + alen};
    for (const char* c = aug + 1; *c; ++c) {
      switch (*c) {
        case 'R': ci->fde_enc = a.fixed<std::uint8_t>(); break;
        case 'L': a.fixed<std::uint8_t>(); break;
        case 'P': {
          std::uint8_t enc = a.fixed<std::uint8_t>();
          a.encoded(static_cast<std::uint8_t>(enc & ~pe_indirect));
          break;
        }
        case 'S': ci->signal = true; break;
        default: return false;  // unknown augmentation
      }
    }
    if (!a.ok) return false;
    r.p += alen;
  }
  ci->insns = r.p;
  ci->end = r.end;
  return r.ok;
}

// Runs a CFA program, applying rows up to and including address `target`.
// loc: the address the program starts at. Returns false on anything it
// cannot represent.
bool run_cfa(const std::uint8_t* p, const std::uint8_t* end, const cie_info& ci,
             std::uintptr_t loc, std::uintptr_t target, const row& initial, row* cur) {
  reader r{p, end};
  row stack[8];
  int depth = 0;
  auto set = [&](std::uint64_t reg, reg_rule rr) {
    if (reg == dw_rbp) cur->rbp = rr;
    else if (reg == ci.ra_reg) cur->ra = rr;
  };
  auto restore = [&](std::uint64_t reg) {
    if (reg == dw_rbp) cur->rbp = initial.rbp;
    else if (reg == ci.ra_reg) cur->ra = initial.ra;
  };
  auto advance = [&](std::uint64_t delta) {
    loc += delta * ci.code_align;
    return loc <= target;
  };
  while (r.ok && r.p < r.end) {
    std::uint8_t op = *r.p++;
    std::uint8_t hi = op & 0xc0, lo = op & 0x3f;
    if (hi == 0x40) {  // advance_loc
      if (!advance(lo)) return true;
      continue;
    }
    if (hi == 0x80) {  // offset
      set(lo, {reg_offset, static_cast<std::int64_t>(r.uleb()) * ci.data_align});
      continue;
    }
    if (hi == 0xc0) {  // restore
      restore(lo);
      continue;
    }
    switch (op) {
      case 0x00: break;  // nop
      case 0x01: {       // set_loc
        loc = r.encoded(ci.fde_enc);
        if (loc > target) return r.ok;
        break;
      }
      case 0x02: if (!advance(r.fixed<std::uint8_t>())) return r.ok; break;
      case 0x03: if (!advance(r.fixed<std::uint16_t>())) return r.ok; break;
      case 0x04: if (!advance(r.fixed<std::uint32_t>())) return r.ok; break;
      case 0x05: {  // offset_extended
        std::uint64_t reg = r.uleb();
        set(reg, {reg_offset, static_cast<std::int64_t>(r.uleb()) * ci.data_align});
        break;
      }
      case 0x06: restore(r.uleb()); break;                   // restore_extended
      case 0x07: set(r.uleb(), {reg_undefined, 0}); break;   // undefined
      case 0x08: set(r.uleb(), {reg_same, 0}); break;        // same_value
      case 0x09: {                                           // register
        std::uint64_t reg = r.uleb();
        r.uleb();
        set(reg, {reg_other, 0});
        break;
      }
      case 0x0a:  // remember_state
        if (depth == 8) return false;
        stack[depth++] = *cur;
        break;
      case 0x0b:  // restore_state: the CFA rule too, as libgcc and GCC's
                  // epilogues (remember; def_cfa_offset 8; ret; restore) expect
        if (depth == 0) return false;
        *cur = stack[--depth];
        break;
      case 0x0c:  // def_cfa
        cur->cfa_reg = r.uleb();
        cur->cfa_off = static_cast<std::int64_t>(r.uleb());
        cur->cfa_expr = false;
        break;
      case 0x0d: cur->cfa_reg = r.uleb(); cur->cfa_expr = false; break;  // def_cfa_register
      case 0x0e: cur->cfa_off = static_cast<std::int64_t>(r.uleb()); break;  // def_cfa_offset
      case 0x0f: {  // def_cfa_expression
        std::uint64_t n = r.uleb();
        if (!r.need(n)) return false;
        r.p += n;
        cur->cfa_expr = true;
        break;
      }
      case 0x10:    // expression
      case 0x16: {  // val_expression
        std::uint64_t reg = r.uleb();
        std::uint64_t n = r.uleb();
        if (!r.need(n)) return false;
        r.p += n;
        set(reg, {reg_other, 0});
        break;
      }
      case 0x11: {  // offset_extended_sf
        std::uint64_t reg = r.uleb();
        set(reg, {reg_offset, r.sleb() * ci.data_align});
        break;
      }
      case 0x12:  // def_cfa_sf
        cur->cfa_reg = r.uleb();
        cur->cfa_off = r.sleb() * ci.data_align;
        cur->cfa_expr = false;
        break;
      case 0x13: cur->cfa_off = r.sleb() * ci.data_align; break;  // def_cfa_offset_sf
      case 0x14:    // val_offset
      case 0x15: {  // val_offset_sf
        std::uint64_t reg = r.uleb();
        if (op == 0x14) r.uleb();
        else r.sleb();
        set(reg, {reg_other, 0});
        break;
      }
      case 0x2e: r.uleb(); break;  // GNU_args_size
      case 0x2f: {                 // GNU_negative_offset_extended
        std::uint64_t reg = r.uleb();
        set(reg, {reg_offset, -static_cast<std::int64_t>(r.uleb()) * ci.data_align});
        break;
      }
      default: return false;
    }
  }
  return r.ok;
}

// Finds the FDE covering pc through the object's .eh_frame_hdr search table.
// Returns null if there is none (the stack ends), sets *unsupported if the
// table is not in the usual form.
const std::uint8_t* find_fde(std::uintptr_t pc, bool* unsupported) {
  dl_find_object obj;
  if (_dl_find_object(reinterpret_cast<void*>(pc), &obj) != 0 || obj.dlfo_eh_frame == nullptr)
    return nullptr;
  const auto* hdr = static_cast<const std::uint8_t*>(obj.dlfo_eh_frame);
  reader r{hdr, hdr + 64};
  std::uint8_t version = r.fixed<std::uint8_t>();
  std::uint8_t eh_frame_ptr_enc = r.fixed<std::uint8_t>();
  std::uint8_t fde_count_enc = r.fixed<std::uint8_t>();
  std::uint8_t table_enc = r.fixed<std::uint8_t>();
  if (version != 1 || table_enc != (pe_datarel | pe_sdata4) || fde_count_enc == pe_omit) {
    *unsupported = true;
    return nullptr;
  }
  r.encoded(eh_frame_ptr_enc);
  std::uintptr_t count = r.encoded(fde_count_enc);
  if (!r.ok || count == 0) {
    *unsupported = !r.ok;
    return nullptr;
  }
  struct entry {
    std::int32_t initial_loc, fde;
  };
  const auto* table = reinterpret_cast<const entry*>(r.p);
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(hdr);
  // The last entry whose initial location is <= pc.
  std::size_t lo = 0, hi = count;
  while (hi - lo > 1) {
    std::size_t mid = lo + (hi - lo) / 2;
    if (base + static_cast<std::intptr_t>(table[mid].initial_loc) <= pc) lo = mid;
    else hi = mid;
  }
  if (base + static_cast<std::intptr_t>(table[lo].initial_loc) > pc) return nullptr;
  return hdr + table[lo].fde;
}

// Decodes the rule for code address `pc` (a return address minus one, or the
// capture's own position).
rule decode(std::uintptr_t pc) {
  rule out;
  bool unsupported = false;
  const std::uint8_t* fde = find_fde(pc, &unsupported);
  if (fde == nullptr) {
    out.kind = unsupported ? rule_unsupported : rule_end;
    return out;
  }
  out.kind = rule_unsupported;  // until proven otherwise
  reader r{fde, fde + 8};
  std::uint32_t len = r.fixed<std::uint32_t>();
  if (len == 0 || len == 0xffffffffu) return out;
  r.end = fde + 4 + len;
  const std::uint8_t* cie_ptr_pos = r.p;
  std::uint32_t cie_off = r.fixed<std::uint32_t>();
  if (cie_off == 0) return out;  // a CIE, not an FDE
  cie_info ci;
  if (!parse_cie(cie_ptr_pos - cie_off, &ci) || ci.signal) return out;
  std::uintptr_t pc_begin = r.encoded(ci.fde_enc);
  std::uintptr_t pc_range = r.encoded(static_cast<std::uint8_t>(ci.fde_enc & 0x0f));
  if (!r.ok) return out;
  if (pc < pc_begin || pc >= pc_begin + pc_range) {
    out.kind = rule_end;  // in a gap between FDEs: no unwind info
    return out;
  }
  if (ci.has_z) {
    std::uint64_t alen = r.uleb();
    if (!r.need(alen)) return out;
    r.p += alen;
  }
  row initial;
  initial.ra = {reg_undefined, 0};
  if (!run_cfa(ci.insns, ci.end, ci, pc_begin, ~std::uintptr_t{0}, row{}, &initial))
    return out;
  row cur = initial;
  if (!run_cfa(r.p, r.end, ci, pc_begin, pc, initial, &cur)) return out;
  if (cur.cfa_expr || (cur.cfa_reg != dw_rsp && cur.cfa_reg != dw_rbp)) return out;
  if (cur.ra.how == reg_undefined) {
    out.kind = rule_end;  // the outermost frame (_start, a thread's start)
    return out;
  }
  if (cur.ra.how != reg_offset) return out;
  if (cur.rbp.how != reg_same && cur.rbp.how != reg_offset && cur.rbp.how != reg_undefined)
    return out;
  out.kind = rule_ok;
  out.cfa_rbp = cur.cfa_reg == dw_rbp;
  out.cfa_off = cur.cfa_off;
  out.ra_off = cur.ra.off;
  out.rbp_saved = cur.rbp.how == reg_offset;
  out.rbp_off = cur.rbp.off;
  return out;
}

// The top (one past the highest readable byte) of the stack that sp is on:
// the current goroutine's, or the calling thread's. 0 if unknown.
std::uintptr_t stack_top(std::uintptr_t sp) {
  if (goro::in_goroutine()) {
    const G* g = getg();
    if (g->stk == nullptr) return 0;
    auto lo = reinterpret_cast<std::uintptr_t>(g->stk->lo);
    auto hi = reinterpret_cast<std::uintptr_t>(g->stk->hi);
    return sp >= lo && sp < hi ? hi : 0;
  }
  // A plain thread, or an M's own stack: used only by that thread itself.
  thread_local std::uintptr_t lo = 0, hi = 0;
  if (hi == 0) {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
    void* addr = nullptr;
    std::size_t size = 0;
    int rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0) return 0;
    lo = reinterpret_cast<std::uintptr_t>(addr);
    hi = lo + size;
  }
  return sp >= lo && sp < hi ? hi : 0;  // not on it (a signal stack): unknown
}

rule rule_for(std::uintptr_t pc) {
  std::uint64_t v;
  if (cache_get(pc, &v)) return unpack(v);
  std::uint64_t packed = pack(decode(pc));
  cache_put(pc, packed);
  return unpack(packed);
}

}  // namespace

// Not instrumented: it reads the saved-register slots of its callers' frames,
// which ASan knows nothing about (they are never poisoned, but the unwinder
// in libgcc is not instrumented either).
__attribute__((noinline, no_sanitize_address)) std::size_t capture_stack(
    void** out, std::size_t max, std::size_t skip) noexcept {
  const std::size_t skip0 = skip;
  std::uintptr_t pc, sp, bp;
  asm volatile(
      "lea 0(%%rip), %0\n\t"
      "mov %%rsp, %1\n\t"
      "mov %%rbp, %2"
      : "=r"(pc), "=r"(sp), "=r"(bp));
  const std::uintptr_t top = stack_top(sp);
  // An 8-byte slot at a may be read if it lies in [sp, top).
  auto readable = [&](std::uintptr_t a) { return a >= sp && a <= top - 8 && (a & 7) == 0; };
  bool fast = top != 0;
  std::size_t n = 0;
  std::uintptr_t target = pc;  // the code address whose rule applies
  for (std::size_t frames = 0; fast && n < max && frames < 4096; ++frames) {
    rule ru = rule_for(target);
    if (ru.kind == rule_end) break;
    std::uintptr_t cfa = (ru.cfa_rbp ? bp : sp) + static_cast<std::uintptr_t>(ru.cfa_off);
    std::uintptr_t ra_at = cfa + static_cast<std::uintptr_t>(ru.ra_off);
    std::uintptr_t bp_at = cfa + static_cast<std::uintptr_t>(ru.rbp_off);
    if (ru.kind != rule_ok || cfa <= sp || cfa > top || !readable(ra_at) ||
        (ru.rbp_saved && !readable(bp_at))) {
      fast = false;
      break;
    }
    std::uintptr_t ra = *reinterpret_cast<const std::uintptr_t*>(ra_at);
    if (ru.rbp_saved) bp = *reinterpret_cast<const std::uintptr_t*>(bp_at);
    sp = cfa;
    if (ra == 0) break;
    if (skip > 0) --skip;
    else out[n++] = reinterpret_cast<void*>(ra);
    target = ra - 1;  // inside the call instruction: the caller's row
  }
  if (!fast) {
    fallbacks.fetch_add(1, std::memory_order_relaxed);
    n = capture_stack_slow(out, max, skip0 + 1);  // + this frame
  }
  asm volatile("" : "+r"(n));  // no tail call
  return n;
}

#else  // !GORO_FAST_UNWIND

__attribute__((noinline)) std::size_t capture_stack(void** out, std::size_t max,
                                                    std::size_t skip) noexcept {
  fallbacks.fetch_add(1, std::memory_order_relaxed);
  std::size_t m = capture_stack_slow(out, max, skip + 1);
  asm volatile("" : "+r"(m));
  return m;
}

#endif

std::uint64_t capture_stack_fallbacks() noexcept {
  return fallbacks.load(std::memory_order_relaxed);
}

}  // namespace goro::detail
