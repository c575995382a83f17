# Writes every ```cpp block of a Markdown file to its own .cpp file under `dir`, prefixed with
# repokit's umbrella header, and prints the files' paths separated by ';' (a CMake list).
BEGIN { n = 0; inside = 0; sep = "" }
/^```cpp[ \t]*$/ {
  n++; inside = 1
  file = sprintf("%s/%s_%02d.cpp", dir, stem, n)
  printf "// Extracted from %s, block %d: every snippet of the docs must compile.\n", source, n > file
  printf "#include \"repokit/repokit.hpp\"\n#line %d \"%s\"\n", NR + 1, source > file
  printf "%s%s", sep, file; sep = ";"
  next
}
/^```[ \t]*$/ { if (inside) { inside = 0; close(file) } next }
{ if (inside) print > file }
