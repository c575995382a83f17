#!/usr/bin/env bash
# Draws the benchmark figures from repokit_bench's JSON lines: operations per second of repokit
# and of each baseline, per workload and thread count, one panel per backend (log scale); and,
# when the results hold a jobs burn-down, the jobs drained per second by repokit's runtime and by
# the raw loop, per worker count and backend. The last line of each measurement is drawn.
#   plot-benchmarks.sh [RESULTS.jsonl] [OUT.png] [BURN_DOWN.png]
# Defaults: docs/benchmarks/results.jsonl, docs/benchmarks/ops_per_s.png and
# docs/benchmarks/burn_down.png. Needs gnuplot (Debian: gnuplot-nox; scripts/bench.sh installs
# it when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd -P)"
results="${1:-$ROOT/docs/benchmarks/results.jsonl}"
out="${2:-$ROOT/docs/benchmarks/ops_per_s.png}"
burn_out="${3:-$ROOT/docs/benchmarks/burn_down.png}"

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
# A field of the line by its key.
field_function='
    function field(key,    rest) {
        if (!match($0, "\"" key "\": *")) return ""
        rest = substr($0, RSTART + RLENGTH)
        if (substr(rest, 1, 1) == "\"") {
            rest = substr(rest, 2)
            return substr(rest, 1, index(rest, "\"") - 1)
        }
        match(rest, /^[-0-9.eE+]+/)
        return substr(rest, 1, RLENGTH)
    }'
for backend in sqlite postgresql; do
    awk -v backend="$backend" "$field_function"'
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

# One panel of clustered bars: `panel FILE TITLE SERIES...`, a series per column of FILE after
# the label, each as "title|colour".
panel() {
    local file="$1" title="$2"
    shift 2
    if [[ ! -s "$file" ]]; then
        printf 'set title "%s: not measured"\nunset border; unset tics\nplot 2 notitle lc rgb "white"\nset border; set tics\n' "$title"
        return
    fi
    local column=2 series plot="plot \"$file\""
    for series in "$@"; do
        ((column > 2)) && plot+=', ""'
        plot+=" using $column$( ((column == 2)) && echo ':xtic(1)') title \"${series%|*}\" lc rgb \"${series#*|}\""
        column=$((column + 1))
    done
    printf 'set title "%s"\n%s\n' "$title" "$plot"
}

terminal="pngcairo size 1400,1000 font ',11'"
gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 || terminal="png size 1400,1000"
# Clustered bars, as both figures draw them.
bars='set datafile missing "-"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics'

gnuplot <<EOF
set terminal $terminal
set output "$out"
$bars
set multiplot layout 2,1 title "repokit against plain SOCI and the raw C APIs (operations per second, log scale)"
set logscale y
set format y "%.0s%c"
set ylabel "ops/s"
set xlabel "workload / threads"
set key top right
set yrange [100:*]
$(panel "$work/sqlite.dat" "SQLite (WAL file, synchronous=NORMAL)" \
    "repokit|#1f77b4" "plain SOCI|#ff7f0e" "raw sqlite3|#2ca02c")
$(panel "$work/postgresql.dat" "PostgreSQL (local server)" \
    "repokit|#1f77b4" "plain SOCI|#ff7f0e" "raw libpq|#2ca02c")
unset multiplot
EOF
echo "plot-benchmarks: wrote $out" >&2

# The burn-down: a row per worker count, repokit's then the raw loop's drained jobs per second.
for backend in sqlite postgresql; do
    awk -v backend="$backend" "$field_function"'
        {
            if (field("backend") != backend || field("workload") != "burn-down") next
            w = field("threads")
            if (!(w in seen)) { seen[w] = 1; order[++rows] = w }
            value[w, field("impl") == "repokit" ? 1 : 2] = field("drained_per_s")
        }
        END {
            for (r = 1; r <= rows; r++) {
                w = order[r]
                print w, "\"W=" w "\"", ((w, 1) in value ? value[w, 1] : "-"), ((w, 2) in value ? value[w, 2] : "-")
            }
        }' "$results" | sort -k1,1n | cut -d' ' -f2- >"$work/burn-$backend.dat"
done
[[ -s "$work/burn-sqlite.dat" || -s "$work/burn-postgresql.dat" ]] || exit 0

gnuplot <<EOF
set terminal ${terminal/1400,1000/1200,500}
set output "$burn_out"
$bars
set multiplot layout 1,2 title "Jobs burn-down: jobs drained per second by W workers, an empty handler"
set ylabel "jobs/s"
set xlabel "workers"
set key top left
set yrange [0:*]
$(panel "$work/burn-sqlite.dat" "SQLite (WAL file, synchronous=NORMAL)" \
    "repokit worker runtime|#1f77b4" "raw sqlite3 loop|#2ca02c")
$(panel "$work/burn-postgresql.dat" "PostgreSQL (local server)" \
    "repokit worker runtime|#1f77b4" "raw libpq loop (SKIP LOCKED)|#2ca02c")
unset multiplot
EOF
echo "plot-benchmarks: wrote $burn_out" >&2
