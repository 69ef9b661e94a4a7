// A single-line progress display on a stream (stderr): redrawn in place with '\r' on a
// terminal, printed as plain periodic lines otherwise (logs, pipes, CI).
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

namespace softslm {

class ProgressLine {
 public:
  // tty: -1 = detect with isatty(fileno(f)); 0/1 = force. quiet: print nothing.
  explicit ProgressLine(FILE* f = stderr, int tty = -1, bool quiet = false);
  ~ProgressLine();

  // Shows `text` as the current status. On a terminal it is redrawn at most every 100 ms
  // unless `important`; otherwise only `important` updates are printed, one line each.
  void update(const std::string& text, bool important = false);
  // Prints a message line (above the status line on a terminal).
  void message(const std::string& text);
  // Ends the status line (a newline on a terminal when one is showing).
  void finish();
  bool is_tty() const { return tty_; }

 private:
  FILE* f_;
  bool tty_, quiet_;
  bool showing_ = false;
  size_t last_len_ = 0;
  std::string last_text_;
  std::chrono::steady_clock::time_point last_draw_{};
  void draw(const std::string& text);
};

// "1h02m", "3m07s", "12s", "0.4s".
std::string format_duration(double seconds);

}  // namespace softslm
