// File helpers: whole-file reads and atomic writes (temporary file, then rename).
#pragma once
#include <string>
#include <string_view>

namespace softslm {

std::string read_file(const std::string& path);  // throws Error naming the path
// Writes to "<path>.tmp.<pid>" then renames over path; on failure nothing is left behind.
void write_file_atomic(const std::string& path, std::string_view bytes);
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);

}  // namespace softslm
