#!/usr/bin/env bash
# Draws the benchmark figures from repokit_bench's JSON lines: operations per second of repokit
# and of each baseline, per workload and thread count, one panel per backend (log scale).
#   plot-benchmarks.sh [RESULTS.jsonl] [OUT.png]
# Defaults: docs/benchmarks/results.jsonl and docs/benchmarks/ops_per_s.png. Needs gnuplot
# (Debian: gnuplot-nox; scripts/bench.sh installs it when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
results="${1:-$ROOT/docs/benchmarks/results.jsonl}"
out="${2:-$ROOT/docs/benchmarks/ops_per_s.png}"

command -v gnuplot >/dev/null || {
    echo "plot-benchmarks: gnuplot not found (apt-get install gnuplot-nox)" >&2
    exit 1
}
[[ -s "$results" ]] || {
    echo "plot-benchmarks: no results in $results" >&2
    exit 1
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One table per backend: a row per workload and thread count, a column per implementation
# (repokit, plain SOCI, the raw C API), "-" where nothing was measured. The lines are flat JSON
# objects written by repokit_bench, so a field is found by its key (plain POSIX awk).
for backend in sqlite postgresql; do
    awk -v backend="$backend" '
        function field(key,    rest) {
            if (!match($0, "\"" key "\": *")) return ""
            rest = substr($0, RSTART + RLENGTH)
            if (substr(rest, 1, 1) == "\"") {
                rest = substr(rest, 2)
                return substr(rest, 1, index(rest, "\"") - 1)
            }
            match(rest, /^[-0-9.eE+]+/)
            return substr(rest, 1, RLENGTH)
        }
        {
            if (field("backend") != backend) next
            w = field("workload")
            rank = w == "scoped-read" ? 1 : w == "hot-read" ? 2 : w == "scoped-write" ? 3 : w == "create-job" ? 4 : 0
            if (rank == 0) next
            impl = field("impl")
            column = impl == "repokit" ? 1 : impl == "plain-soci" ? 2 : 3
            label = w "/" field("threads")
            if (!(label in seen)) { seen[label] = 1; order[++rows] = label; key[label] = rank " " field("threads") }
            value[label, column] = field("ops_per_s")
        }
        END {
            for (r = 1; r <= rows; r++) {
                line = key[order[r]] " \"" order[r] "\""
                for (c = 1; c <= 3; c++) line = line " " (((order[r], c) in value) ? value[order[r], c] : "-")
                print line
            }
        }' "$results" | sort -k1,1n -k2,2n | cut -d' ' -f3- >"$work/$backend.dat"
done

panel() {
    local file="$1" title="$2" raw="$3"
    if [[ ! -s "$file" ]]; then
        printf 'set title "%s: not measured"\nunset border; unset tics\nplot 2 notitle lc rgb "white"\nset border; set tics\n' "$title"
        return
    fi
    cat <<EOF
set title "$title"
plot "$file" using 2:xtic(1) title "repokit" lc rgb "#1f77b4", \\
     "" using 3 title "plain SOCI" lc rgb "#ff7f0e", \\
     "" using 4 title "$raw" lc rgb "#2ca02c"
EOF
}

terminal="pngcairo size 1400,1000 font ',11'"
gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 || terminal="png size 1400,1000"

gnuplot <<EOF
set terminal $terminal
set output "$out"
set datafile missing "-"
set multiplot layout 2,1 title "repokit against plain SOCI and the raw C APIs (operations per second, log scale)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%.0s%c"
set grid ytics
set ylabel "ops/s"
set xlabel "workload / threads"
set key top right
set yrange [100:*]
$(panel "$work/sqlite.dat" "SQLite (WAL file, synchronous=NORMAL)" "raw sqlite3")
$(panel "$work/postgresql.dat" "PostgreSQL (local server)" "raw libpq")
unset multiplot
EOF
echo "plot-benchmarks: wrote $out" >&2
