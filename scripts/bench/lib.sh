# Shared by the bench scripts: CPU time of a process tree, medians, wrk's latencies in µs.

cpu_ticks() {  # PID -> user + system clock ticks so far, its child processes' (nginx workers) included
  local pid total=0
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}

# cpu_per_request TICKS REQUESTS -> µs of CPU per request
cpu_per_request() {
  awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'
}

in_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n *= 1000; else if (v !~ /us$/) n *= 1000000; printf "%.0f", n }'; }

# median FILE TARGET COLUMN
median() {
  awk -v t="$2" -v c="$3" '$1 == t { print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { printf "%s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
