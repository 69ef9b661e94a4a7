#include "base/progress.h"

#include <unistd.h>

#include <cmath>

namespace softslm {

ProgressLine::ProgressLine(FILE* f, int tty, bool quiet)
    : f_(f), tty_(tty < 0 ? isatty(fileno(f)) != 0 : tty != 0), quiet_(quiet) {}

ProgressLine::~ProgressLine() { finish(); }

void ProgressLine::draw(const std::string& text) {
  std::string line = "\r" + text;
  if (text.size() < last_len_) line += std::string(last_len_ - text.size(), ' ');
  std::fputs(line.c_str(), f_);
  std::fflush(f_);
  last_len_ = text.size();
  showing_ = true;
  last_draw_ = std::chrono::steady_clock::now();
}

void ProgressLine::update(const std::string& text, bool important) {
  if (quiet_) return;
  last_text_ = text;
  if (!tty_) {
    if (important) {
      std::fprintf(f_, "%s\n", text.c_str());
      std::fflush(f_);
    }
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (important || !showing_ || now - last_draw_ >= std::chrono::milliseconds(100)) draw(text);
}

void ProgressLine::message(const std::string& text) {
  if (quiet_) return;
  if (tty_ && showing_) {
    std::fprintf(f_, "\r%s%s\n", text.c_str(),
                 text.size() < last_len_ ? std::string(last_len_ - text.size(), ' ').c_str() : "");
    last_len_ = 0;
    draw(last_text_);
  } else {
    std::fprintf(f_, "%s\n", text.c_str());
    std::fflush(f_);
  }
}

void ProgressLine::finish() {
  if (quiet_) return;
  if (tty_ && showing_) {
    std::fputc('\n', f_);
    std::fflush(f_);
  }
  showing_ = false;
  last_len_ = 0;
}

std::string format_duration(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 10) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    long t = std::lround(s);
    if (t < 60)
      std::snprintf(buf, sizeof buf, "%lds", t);
    else
      std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  } else {
    long m = std::lround(s / 60);
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", m / 60, m % 60);
  }
  return buf;
}

}  // namespace softslm
