// goro-tour: each section is a short program in the style of the seed's
// examples. Sections register themselves; main runs them in order.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>

namespace tour {

struct section {
  std::string title;
  std::function<void()> body;
};

inline std::map<int, section>& sections() {
  static std::map<int, section> s;
  return s;
}

struct registrar {
  registrar(int order, std::string title, std::function<void()> body) {
    sections().emplace(order, section{std::move(title), std::move(body)});
  }
};

}  // namespace tour

#define GORO_TOUR_CAT2(a, b) a##b
#define GORO_TOUR_CAT(a, b) GORO_TOUR_CAT2(a, b)
// GORO_TOUR_SECTION(20, "Channels") { ...body... }
#define GORO_TOUR_SECTION(order, title)                                                   \
  static void GORO_TOUR_CAT(tour_section_, order)();                                      \
  static ::tour::registrar GORO_TOUR_CAT(tour_registrar_, order)(                         \
      order, title, &GORO_TOUR_CAT(tour_section_, order));                                \
  static void GORO_TOUR_CAT(tour_section_, order)()
